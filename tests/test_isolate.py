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


def test_other_languages_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolate, "ISOLATE_CHARS", 0)
    monkeypatch.setattr(isolate, "_extract_in_child", lambda *_: pytest.fail("isolated"))
    assert isolate.extract_bounded("# Title\n", "markdown") == extract("# Title\n", "markdown")
