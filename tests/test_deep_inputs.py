"""No input crashes or hangs the build: texts nested deep enough to overflow a native
parser's stack are read by a safe path, and a crash in an isolated extraction is a note."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from buildkit import make_tree, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract.docs.markdown import deep_line, too_deep

N = 50_000
PATHOLOGICAL = {  # each crashed the compiled markdown parser or took quadratic time
    "quotes.md": ("markdown", ">" * N + " x\n"),
    "lists.md": ("markdown", "- " * (N // 2) + "x\n"),
    "quoted_lists.md": ("markdown", "> - " * 15_000 + "x\n"),
    "emphasis.md": ("markdown", "*" * 2 * N + "x" + "*" * 2 * N + "\n"),
    "substitutions.sh": ("shell", "echo " + "$(" * 4 * N + ")" * 4 * N + "\n"),
    # never crashed: kept so that they never do
    "parens.py": ("python", "x = " + "(" * N + "1" + ")" * N + "\n"),
    "parens.c": ("c", "int x = " + "(" * N + "1" + ")" * N + ";\n"),
    "nested.json": ("json", "[" * N + "]" * N),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_is_extracted_in_bounded_time(name: str) -> None:
    """In a child process (a native crash must not take the test run down with it)."""
    language, text = PATHOLOGICAL[name]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipeline.isolate", language],
                          input=text.encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert time.monotonic() - started < 60
    notes = orjson.loads(done.stdout)["notes"]
    assert all(n["kind"] != "internal-error" for n in notes), notes


@pytest.mark.parametrize("text", [
    ">" * 5000, "> " * 5000, "- " * 5000, "* " * 5000, "1. " * 5000, "> - 1) " * 2000,
    "*" * 5000, "_" * 5000, "![a " * 5000,
])
def test_deep_markdown_is_recognised(text: str) -> None:
    assert too_deep("# Page\n\n" + "x\n" * 10_000 + text + "\n")


@pytest.mark.parametrize("text", [
    "# Title\n\n" + "Some *text* with > quotes, - dashes and 1. numbers.\n" * 2000,
    "- item\n  - nested\n    - deeper\n" * 2000,
    "x" * 100_000,  # a long line of nothing nestable
    ">" * 3000 + "\n" + "> " * 1000,  # deep, but not deep enough to matter
])
def test_ordinary_markdown_takes_the_compiled_parser(text: str) -> None:
    assert not too_deep(text)


def test_a_deeply_nested_markdown_file_gets_its_pages(tmp_path: Path) -> None:
    """The build went down with SIGSEGV (exit -11, no page) on this file."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"deep.md": "# Deep\n\n" + ">" * N + " x\n", "ok.md": "# Fine\n"})
    done = run_cli(["build", str(src), "--output", str(out), "--depth", "1"], tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("deep.md", "ok.md"):
        assert (out / f"{name}_docs.md").is_file()
        assert (out / f"{name}_kw.md").is_file()
    assert "# Deep" in (out / "deep.md_docs.md").read_text(encoding="utf-8")


_OLD_RUN = r"(?:(?:>|[-+*][ \t]|\d{{1,9}}[.)][ \t])[ \t]*){{{n}}}|[*_]{{{n}}}"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="> -+*_1.)\tax", max_size=60), st.integers(min_value=1, max_value=6))
def test_deep_line_finds_what_the_repeated_pattern_found(line: str, deep: int) -> None:
    """The linear search agrees with the backtracking pattern it replaced (which took 0.4 s
    on one line of 8,000 characters of ``> > > ...`` and 6.5 s on a 5 MB page)."""
    import re

    assert deep_line(line, deep) == bool(re.search(_OLD_RUN.format(n=deep), line))

