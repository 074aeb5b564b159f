"""The terminal: names taken from paths are printed as written (no emoji codes, no markup,
no highlighting), and the summary's labels read as sentences."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from buildkit import build, make_tree

# Folder names that rich would read as emoji codes (``:fire:``, ``:a:``) or markup.
TRICKY = {"fire/x.py": "X = 1\n", "a/y.py": "Y = 2\n", "[bold]b[/bold]/z.py": "Z = 3\n",
          ":a:/w.py": "W = 4\n", "pkg/__init__.py": ""}


def test_plain_lines_print_task_names_as_written(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", TRICKY)
    result = build(tmp_path / "src", tmp_path / "out")
    lines = result.stderr.splitlines()
    for folder in ("fire", "a", "[bold]b[/bold]", ":a:"):
        assert any(line.startswith(f"docs:render:{folder}: ") for line in lines), result.stderr
    assert "docs:link:1: " in result.stderr
    assert not any(ord(char) > 0x2000 for char in result.stderr), result.stderr  # no emoji


def test_summary_labels_read_naturally(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {**TRICKY, "img.png": b"\x89PNG\r\n\x1a\n\0\0"})
    (tmp_path / "src" / "link.py").symlink_to(tmp_path / "src" / "fire" / "x.py")
    result = build(tmp_path / "src", tmp_path / "out")
    summary = next(line for line in result.stderr.splitlines() if line.startswith("summary: "))
    assert summary.startswith("summary: source files documented 5; pages of pages documented "
                              "10; binary files skipped 1; symlinks not followed 1; "), summary


def _task(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, actions=[object()], result={})


def test_progress_prints_the_current_task_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.report import reporter_for

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich treats the stream as a terminal
    monkeypatch.setenv("COLUMNS", "160")
    stream = io.StringIO()
    reporter = reporter_for("", 1, {"source files documented": 1}, stream=stream)({}, {})
    assert reporter.live
    tasks = [_task("docs:render:fire"), _task("docs:render:[red]r[/red]"),
             _task("docs:link:1")]
    reporter.initialize({t.name: t for t in tasks}, [])
    for task in tasks:
        reporter.execute_task(task)
        assert reporter.progress is not None
        reporter.progress.refresh()
    reporter.complete_run()
    text = stream.getvalue()
    for task in tasks:
        assert task.name in text
    assert "\U0001f525" not in text and "\U0001f517" not in text  # fire, link
