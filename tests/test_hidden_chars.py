"""Bidirectional control and invisible characters ("Trojan Source", CVE-2021-42574) are
security findings of every language, shown on the docs page with their lines."""

from __future__ import annotations

from pathlib import Path

from buildkit import make_tree, run_main

from pipeline.extract import extract
from pipeline.extract.hidden import hidden_findings

TROJAN = ('access = "user"\n'
          'if access != "none":  # \u202e } \u2066 admin only \u2069 \u2066\n'
          '    s = "\u2066x\u2069"\n'
          'y = 1\n')


def test_bidi_and_invisible_characters_are_found_with_lines_and_names() -> None:
    found = hidden_findings("\ufeffa = 1\nb\u200b = 2\nc = '\u00ad'\n")
    assert [(f.line, f.label) for f in found] == [(2, "Invisible character"),
                                                  (3, "Invisible character")]
    assert "U+200B ZERO WIDTH SPACE" in found[0].detail
    assert "U+00AD SOFT HYPHEN" in found[1].detail
    assert hidden_findings("\ufeffplain\n") == ()
    assert [f.line for f in hidden_findings("x\ny\ufeff\n")] == [2]


def test_every_language_gets_the_findings() -> None:
    for language in ("python", "cpp", "yaml", "markdown", "text", "shell"):
        findings = extract(TROJAN, language).findings
        hidden = [f for f in findings if f.label == "Bidirectional control character"]
        assert [f.line for f in hidden] == [2, 3], language
        assert all(f.area == "security" for f in hidden)
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in hidden[0].detail
        assert "U+2066 LEFT-TO-RIGHT ISOLATE" in hidden[0].detail
        assert "U+2069 POP DIRECTIONAL ISOLATE" in hidden[1].detail
        assert "CVE-2021-42574" in hidden[0].detail


def test_the_docs_page_no_longer_says_no_unsafe_constructs(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"trojan.py": TROJAN, "clean.py": "z = 3\n"})
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nsource = "src"\noutput = "out"\ndepth = 1\n', encoding="utf-8")
    result = run_main(["build"], cwd=tmp_path)
    assert result.code == 0, result.stderr
    page = (tmp_path / "out/trojan.py_docs.md").read_text(encoding="utf-8")
    security = page.split("### Security Considerations")[1]
    assert "unsafe file constructs found" not in security.split("###")[0]
    assert "**Bidirectional control character** (line 2)" in security
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in security
    clean = (tmp_path / "out/clean.py_docs.md").read_text(encoding="utf-8")
    assert "unsafe file constructs found" in clean
