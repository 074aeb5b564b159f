"""A changed parser version re-extracts exactly the files of the languages it parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from buildkit import build, make_tree

from pipeline import versions
from pipeline.extract.tsnodes import GRAMMARS

TREE = {
    "a.md": "# A\n", "b.md": "# B\n\nText.\n", "docs/c.md": "# C\n",
    "m.py": "def f():\n    return 1\n", "conf.yaml": "key: 1\n", "main.c": "int main(void) {}\n",
}


@pytest.mark.parametrize(("language", "changed"), [
    ("markdown", {"a.md", "b.md", "docs/c.md"}), ("python", {"m.py"}), ("c", {"main.c"})])
def test_a_parser_upgrade_re_extracts_its_files_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str,
        changed: set[str]) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, TREE)
    build(src, out, "--depth", "1")
    installed = dict(versions.parser_versions())
    upgraded = {**installed, language: installed[language] + "-upgraded"}
    monkeypatch.setattr(versions, "parser_versions", lambda: upgraded)
    result = build(src, out, "--depth", "1")
    assert result.counts.get("extracted") == len(changed)
    assert build(src, out, "--depth", "1").counts.get("tasks_run", 0) == 0  # settled


def test_versions_name_every_language_and_grammar() -> None:
    from pipeline.extract import _TABLE

    found = versions.parser_versions()
    assert set(found) == set(_TABLE)
    assert found["python"].startswith("libcst==") and "absent" not in found["python"]
    grammars = {f"tree-sitter-{g}" for g in GRAMMARS}
    named = {n for names in versions.PARSERS.values() for n in names
             if n.startswith("tree-sitter-")}
    assert named == grammars
    assert {module.replace("_", "-") for module in GRAMMARS.values()} == grammars
