"""YAML, JSON, TOML and INI extraction: key paths, exact lines, previews, parse-error notes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from golden import CASES
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract.data.extractor import (
    MAX_DEPTH,
    MAX_KEYS,
    _yaml_events,
    extract_ini,
    extract_json,
    extract_toml,
    extract_yaml,
)
from pipeline.extract.keys import Keys, key_name, preview
from pipeline.records import Extraction

DATA = CASES / "extract" / "data"


def keys(found: Extraction) -> list[tuple[str, int, str]]:
    return [(s.name, s.line, s.value) for s in found.symbols]


def notes(found: Extraction) -> list[tuple[str, int]]:
    return [(n.kind, n.line) for n in found.notes]


def test_key_names_and_previews() -> None:
    assert key_name("", "a") == "a"
    assert key_name("a[]", "b") == "a[].b"
    assert key_name("a", "b.c") == 'a."b.c"'
    assert key_name("a", "") == 'a.""'
    assert preview("x" * 80) == "x" * 80
    assert preview("x" * 81) == "x" * 79 + "…"
    assert preview("first\nsecond") == "first…"


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for level in reversed(range(depth - 1)):
        value = {f"k{level}": value}
    return value


@pytest.mark.parametrize("extract", [extract_json, extract_yaml])
def test_keys_down_to_max_depth_and_a_note_when_cut(extract: Any) -> None:
    whole = extract(json.dumps(_nested(MAX_DEPTH)))
    assert len(whole.symbols) == MAX_DEPTH
    assert whole.symbols[-1].name == ".".join(f"k{i}" for i in range(MAX_DEPTH - 1)) + ".leaf"
    assert whole.notes == ()
    cut = extract(json.dumps(_nested(MAX_DEPTH + 2)))
    assert len(cut.symbols) == MAX_DEPTH
    assert [(n.kind, n.message) for n in cut.notes] == [
        ("keys-cut", f"keys nested deeper than {MAX_DEPTH} levels are not listed")]


def test_toml_deep_tables_and_too_many_keys_get_notes() -> None:
    assert extract_toml("[a.b.c.d.e.f.g]\nh = 1\n").notes == ()
    deep = extract_toml("[a.b.c.d.e.f.g.h.i]\nj = 1\n")
    assert deep.symbols[-1].name == "a.b.c.d.e.f.g.h"
    assert [n.kind for n in deep.notes] == ["keys-cut"]
    many = extract_json(json.dumps({f"k{i}": i for i in range(MAX_KEYS + 5)}))
    assert len(many.symbols) == MAX_KEYS
    assert [(n.kind, n.message) for n in many.notes] == [
        ("keys-cut", f"only the first {MAX_KEYS:,} keys are listed; 5 more are not")]


# --- YAML -----------------------------------------------------------------------------------------

YAML = """\
# Settings.
top: 1
nested:
  a:
    b: deep
    c:
      d: four levels
list:
  - name: x
    items:
      - k: v
  - plain
base: &base {x: 1}
use:
  <<: *base
  ref: *base
---
top: again
"""


def test_yaml_paths_depth_lists_merge_keys_and_documents() -> None:
    found = extract_yaml(YAML)
    assert keys(found) == [
        ("top", 2, "1"),
        ("nested", 3, ""),
        ("nested.a", 4, ""),
        ("nested.a.b", 5, "deep"),
        ("nested.a.c", 6, ""),
        ("nested.a.c.d", 7, "four levels"),
        ("list", 8, ""),
        ("list[].name", 9, "x"),
        ("list[].items", 10, ""),
        ("list[].items[].k", 11, "v"),
        ("base", 13, ""),
        ("base.x", 13, "1"),
        ("use", 14, ""),
        ("use.ref", 16, "*base"),
        ("top", 18, "again"),
    ]
    assert found.overview == "Settings."
    assert found.notes == ()


def test_yaml_error_keeps_keys_before_it() -> None:
    found = extract_yaml("a: 1\nb:\n  c: 2\nd: [x\ne: 3\n")
    assert keys(found) == [("a", 1, "1"), ("b", 2, ""), ("b.c", 3, "2"), ("d", 4, "")]
    assert notes(found) == [("parse-error", 5)]
    assert "flow sequence" in found.notes[0].message


def test_yaml_fast_and_pure_parsers_agree() -> None:
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        pytest.skip("PyYAML without libyaml")
    text = (DATA / "workflow.yaml").read_text(encoding="utf-8")
    fast, pure = Keys(3), Keys(3)
    _yaml_events(text, loader, fast)
    _yaml_events(text, yaml.SafeLoader, pure)
    assert fast.symbols() == pure.symbols()


# --- JSON -----------------------------------------------------------------------------------------


def test_json_exact_lines_escapes_duplicates_and_previews() -> None:
    text = '{\n "a\\"b": {"c": [1, {"d": "x\\u00e9"}]},\n "n": 1.50,\n "a\\"b": 2\n}\n'
    assert keys(extract_json(text)) == [
        ('"a\\"b"', 2, ""),
        ('"a\\"b".c', 2, ""),
        ('"a\\"b".c[].d', 2, "xé"),
        ("n", 3, "1.50"),
    ]


def test_json_error_note_at_the_parser_line_with_keys_before() -> None:
    found = extract_json('{\n  "a": 1,\n  "b": {"c": 2\n  "d": 3\n}\n')
    assert keys(found) == [("a", 2, "1"), ("b", 3, ""), ("b.c", 3, "2")]
    assert notes(found) == [("parse-error", 4)]
    assert found.notes[0].message.startswith("Expecting ',' delimiter")
    assert notes(extract_json("")) == [("parse-error", 1)]
    assert notes(extract_json('{"a": 1} x')) == [("parse-error", 1)]


def test_json_large_array_lists_late_new_keys() -> None:
    items: list[dict[str, object]] = [{"id": i} for i in range(20000)]
    items[15000]["late"] = {"k": True}
    text = json.dumps({"items": items}, indent=1)
    found = keys(extract_json(text))
    lines = text.split("\n")
    assert [name for name, _, _ in found] == [
        "items",
        "items[].id",
        "items[].late",
        "items[].late.k",
    ]
    for name, line, _ in found:
        assert f'"{name.rsplit(".", 1)[-1].removeprefix("items[]")}"' in lines[line - 1]


# --- TOML -----------------------------------------------------------------------------------------

TOML = """\
# Project.
[project]
name = "x"
deps = [
  "a = 1",
]
text = '''
fake = 1
'''
point = { x = 1 }
"dotted.key" = true
site.sub = 2

[[bin]]
name = "one"
[[bin]]
path = "p"
"""


def test_toml_keys_lines_and_values() -> None:
    found = extract_toml(TOML)
    assert keys(found) == [
        ("project", 2, ""),
        ("project.name", 3, "x"),
        ("project.deps", 4, ""),
        ("project.text", 7, "fake = 1"),
        ("project.point", 10, ""),
        ("project.point.x", 10, "1"),
        ('project."dotted.key"', 11, "true"),
        ("project.site", 12, ""),
        ("project.site.sub", 12, "2"),
        ("bin", 14, ""),
        ("bin[].name", 15, "one"),
        ("bin[].path", 17, "p"),
    ]
    assert found.overview == "Project."


def test_toml_error_note_and_keys_before_it() -> None:
    found = extract_toml("a = 1\n[t]\nb = \nc = 2\n")
    assert keys(found) == [("a", 1, ""), ("t", 2, "")]
    assert [(n.message, n.line) for n in found.notes] == [("Invalid value", 3)]
    # "(at end of document)" is the last line that holds anything.
    at_end = extract_toml("a = 1\nb = [\n 2,\n\n\n")
    assert [(n.message, n.line) for n in at_end.notes] == [("Invalid value", 3)]
    assert keys(at_end) == [("a", 1, ""), ("b", 2, "")]


# --- INI ------------------------------------------------------------------------------------------


def test_ini_sections_options_continuations_and_case() -> None:
    found = extract_ini("; About.\n[main]\nKey = a\n  b\nflag\n\n[other]\nx: 1\n")
    assert keys(found) == [
        ("[main]", 2, ""),
        ("main.Key", 3, "a…"),
        ("main.flag", 5, ""),
        ("[other]", 7, ""),
        ("other.x", 8, "1"),
    ]
    assert found.overview == "About."


def test_ini_parse_errors_with_lines() -> None:
    assert notes(extract_ini("key = 1\n[s]\n")) == [("parse-error", 1)]
    found = extract_ini("[s]\na = 1\n[s]\n")
    assert [(n.message, n.line) for n in found.notes] == [("section 's' already exists", 3)]


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]:,"=\\ \n#-ab1.&*!|>')), max_size=120))
def test_data_extractors_never_raise(text: str) -> None:
    for extract in (extract_yaml, extract_json, extract_toml, extract_ini):
        found = extract(text)
        assert all(n.kind == "parse-error" for n in found.notes), found.notes


def test_yaml_flow_nesting_beyond_the_limit_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """50,000 nested ``[`` took 16 s (both YAML parsers are quadratic in the depth): the
    depth is measured first, and past the limit the page says so instead of parsing."""
    from pipeline.extract.data.extractor import MAX_FLOW_DEPTH

    parse = yaml.parse

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the YAML parser was run")

    monkeypatch.setattr(yaml, "parse", refused)
    deep = extract_yaml("[" * 50_000)
    assert [n.kind for n in deep.notes] == ["keys-cut"] and "50,000 levels" in deep.notes[0].message
    monkeypatch.setattr(yaml, "parse", parse)
    nested = "k: " + "[" * MAX_FLOW_DEPTH + "]" * MAX_FLOW_DEPTH + "\nother: 1\n"
    assert [s.name for s in extract_yaml(nested).symbols] == ["k", "other"]
