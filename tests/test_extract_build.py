"""Shell, CMake, Make, Dockerfile and Bazel extraction: definitions, images, findings, notes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract import tsnodes
from pipeline.extract.build.extractor import (
    extract_bazel,
    extract_cmake,
    extract_docker,
    extract_make,
    extract_shell,
)
from pipeline.records import Extraction


def defined(found: Extraction) -> list[tuple[str, str, int]]:
    return [(s.kind, s.name, s.line) for s in found.symbols]


def findings(found: Extraction) -> list[tuple[str, int]]:
    return [(f.label, f.line) for f in found.findings]


# --- shell ----------------------------------------------------------------------------------------

SHELL = """\
#!/bin/sh
# Sets things up.
A=1
export B=2 C
local_only() {
  local D=3
  E=4
}
F=5 make build
function g { eval "$x"; }
curl -s https://x.sh | sudo -E bash
sh -c "$(wget -qO- https://y.sh)"
echo "eval; curl x | sh"  # eval
cat <<EOF
eval no
EOF
(G=6)
"""


def test_shell_functions_and_top_level_variables_only() -> None:
    found = extract_shell(SHELL)
    assert defined(found) == [
        ("variable", "A", 3),
        ("variable", "B", 4),
        ("variable", "C", 4),
        ("function", "local_only", 5),
        ("function", "g", 10),
    ]
    assert found.symbols[3].end_line == 8
    assert found.symbols[4].signature == "function g"
    assert found.overview == "Sets things up."


def test_shell_signature_of_a_non_ascii_name_is_whole() -> None:
    """Tree-sitter offsets count bytes: the header is cut before decoding."""
    found = extract_shell("function g_\u00e9_\u00e9() { echo ok; }\n")
    assert [s.signature for s in found.symbols if s.kind == "function"] == [
        "function g_\u00e9_\u00e9()"]


def test_shell_findings_come_from_commands_not_text() -> None:
    assert findings(extract_shell(SHELL)) == [
        ("Code execution", 10),
        ("Remote script piped to shell", 11),
        ("Remote script piped to shell", 12),
    ]
    assert extract_shell("model.eval()\necho curl | tee sh\n").findings == ()


def test_shell_syntax_error_is_a_note_with_its_line() -> None:
    found = extract_shell("A=1\n)\nB=2\n")
    assert [(n.kind, n.line) for n in found.notes] == [("parse-error", 2)]
    assert defined(found) == [("variable", "A", 1), ("variable", "B", 3)]


# --- CMake ----------------------------------------------------------------------------------------

CMAKE = """\
# Demo.
set(SOURCES a.cpp b.cpp)
option(USE_X "Use X" ON)
add_library(demo SHARED ${SOURCES})
if(USE_X)
  add_executable(tool main.cpp)
endif()
Add_Custom_Target(docs ALL)
function(helper name)
  set(INNER 1)
  add_library(${name} x.cpp)
endfunction()
macro(m)
endmacro()
# add_library(commented x.cpp)
message("add_library(quoted)")
"""


def test_cmake_functions_targets_variables() -> None:
    found = extract_cmake(CMAKE)
    assert defined(found) == [
        ("variable", "SOURCES", 2),
        ("variable", "USE_X", 3),
        ("target", "demo", 4),
        ("target", "tool", 6),
        ("target", "docs", 8),
        ("function", "helper", 9),
        ("function", "m", 13),
    ]
    by_name = {s.name: s for s in found.symbols}
    assert by_name["demo"].signature == "add_library(demo SHARED)"
    assert (by_name["USE_X"].value, by_name["USE_X"].summary) == ("ON", "Use X")
    assert (by_name["helper"].end_line, by_name["helper"].signature) == (
        12,
        "function(helper name)",
    )
    assert found.notes == ()


# --- Make -----------------------------------------------------------------------------------------

MAKE = """\
CC ?= cc
FLAGS := -O2 \\
\t-g
.PHONY: all

all: app

app: main.o
\t$(CC) -o $@ $^

%.o: %.c
\t$(CC) -c $<
debug: FLAGS += -DDEBUG
define TEXT
x
endef
"""


def test_make_rules_and_variables() -> None:
    found = extract_make(MAKE)
    assert defined(found) == [
        ("variable", "CC", 1),
        ("variable", "FLAGS", 2),
        ("target", "all", 6),
        ("target", "app", 8),
        ("target", "%.o", 11),
        ("variable", "TEXT", 14),
    ]
    by_name = {s.name: s for s in found.symbols}
    assert (by_name["all"].end_line, by_name["app"].end_line) == (6, 9)
    assert by_name["app"].signature == "app: main.o"
    assert by_name["FLAGS"].value == "-O2 -g"


# --- Dockerfile -----------------------------------------------------------------------------------

DOCKER = """\
# escape=`
# Image.
ARG V=1 W
FROM base:${V} AS build
ENV A=1 `
    # dropped
    B="two words"
ENV OLD value here
RUN <<EOF
FROM fake AS not_a_stage
EOF
FROM build AS test
FROM scratch
FROBNICATE
"""


def test_docker_stages_images_variables_and_notes() -> None:
    found = extract_docker(DOCKER)
    assert defined(found) == [
        ("variable", "V", 3),
        ("variable", "W", 3),
        ("target", "build", 4),
        ("variable", "A", 5),
        ("variable", "B", 5),
        ("variable", "OLD", 8),
        ("target", "test", 12),
    ]
    assert [(i.kind, i.module, i.line) for i in found.imports] == [
        ("import", "base:${V}", 4),
        ("import", "scratch", 13),
    ]
    by_name = {s.name: s for s in found.symbols}
    assert (by_name["build"].end_line, by_name["B"].value, by_name["OLD"].value) == (
        11,
        "two words",
        "value here",
    )
    assert [(n.kind, n.line) for n in found.notes] == [("parse-error", 14)]
    assert found.overview == "Image."


# --- Bazel ----------------------------------------------------------------------------------------

BAZEL = """\
# Package.
load("//a:b.bzl", "x", y = "z")

DEPS = [
    ":a",
]

def mac(name, **kw):
    \"\"\"Doc line.\"\"\"
    native.cc_library(name = name)

cc_library(
    name = "lib",
    deps = DEPS,
)
native.sh_test(name = "t")
package(default_visibility = [])
"""


def test_bazel_loads_targets_macros_and_variables() -> None:
    found = extract_bazel(BAZEL)
    assert [(i.kind, i.module, i.names, i.line) for i in found.imports] == [
        ("from", "//a:b.bzl", ("x", "z as y"), 2)
    ]
    assert defined(found) == [
        ("variable", "DEPS", 4),
        ("function", "mac", 8),
        ("target", "lib", 12),
        ("target", "t", 16),
    ]
    by_name = {s.name: s for s in found.symbols}
    assert by_name["lib"].signature == 'cc_library(name = "lib")'
    assert by_name["lib"].end_line == 15
    assert (by_name["mac"].signature, by_name["mac"].summary) == (
        "def mac(name, **kw)",
        "Doc line.",
    )


def test_bazel_syntax_error_keeps_what_precedes_it() -> None:
    found = extract_bazel('cc_library(name = "ok")\n\ndef broken(:\n')
    assert defined(found) == [("target", "ok", 1)]
    assert [(n.kind, n.line) for n in found.notes] == [("parse-error", 3)]


# --- robustness -----------------------------------------------------------------------------------


def test_missing_grammar_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tsnodes.GRAMMARS, "bash", "no_such_grammar_module")
    tsnodes.parser.cache_clear()
    tsnodes.language.cache_clear()
    try:
        found = extract_shell("# Hello.\nA=1\n")
    finally:
        tsnodes.parser.cache_clear()
        tsnodes.language.cache_clear()
    assert [n.kind for n in found.notes] == ["parser-missing"]
    assert found.overview == "Hello."


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("(){}[]$\"'=:#\\\n\t |&<>ab1_.-%@")), max_size=120))
def test_build_extractors_never_raise(text: str) -> None:
    for extract in (extract_shell, extract_cmake, extract_make, extract_docker, extract_bazel):
        found = extract(text)
        assert all(n.kind == "parse-error" for n in found.notes), found.notes
