"""Large sources extracted in a child process give the very record of in-process extraction."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import isolate
from pipeline.extract import extract

SOURCE = Path(__file__).resolve().parents[1] / "pipeline" / "render.py"


def test_child_extraction_equals_in_process_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    text = SOURCE.read_text(encoding="utf-8") + "\nname = 'caf\u00e9 \U0001f600'\n"
    calls: list[str] = []
    real = isolate._extract_in_child

    def spy(text: str, language: str) -> object:
        calls.append(language)
        return real(text, language)

    monkeypatch.setattr(isolate, "ISOLATE_CHARS", 0)
    monkeypatch.setattr(isolate, "_extract_in_child", spy)
    assert isolate.extract_bounded(text, "python") == extract(text, "python")
    assert calls == ["python"]


def test_a_failing_child_falls_back_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "def f():\n    return 1\n"
    monkeypatch.setattr(isolate, "ISOLATE_CHARS", 0)
    monkeypatch.setattr(isolate.sys, "executable", "/nonexistent/python")
    assert isolate.extract_bounded(text, "python") == extract(text, "python")


def test_a_child_killed_by_a_signal_gives_a_note_not_a_crash(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A native parser's crash in the child (SIGSEGV) stays there: the file gets a note,
    and this process does not parse it again (it would crash the same way)."""
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n", encoding="utf-8")
    crashing.chmod(0o755)
    monkeypatch.setattr(isolate, "ISOLATE_CHARS", 0)
    monkeypatch.setattr(isolate.sys, "executable", str(crashing))
    monkeypatch.setattr(isolate, "extract", lambda *_: pytest.fail("parsed in process"))
    found = isolate.extract_bounded("x = 1\n", "python")
    assert [(n.kind, n.message) for n in found.notes] == [
        ("internal-error", "the python extractor's process crashed (killed by SIGSEGV); "
                           "no structure extracted")]
    assert found.symbols == ()


def test_other_languages_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolate, "ISOLATE_CHARS", 0)
    monkeypatch.setattr(isolate, "_extract_in_child", lambda *_: pytest.fail("isolated"))
    assert isolate.extract_bounded("# Title\n", "markdown") == extract("# Title\n", "markdown")
