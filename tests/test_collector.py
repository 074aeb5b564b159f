"""Stage actions run with the garbage collector paused, and leave no cycle behind."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from pipeline import actions, layout, tasks


@pytest.fixture
def root(tmp_path: Path) -> str:
    (tmp_path / layout.STATE).mkdir()
    return str(tmp_path)


@pytest.fixture
def collecting() -> Any:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Node:
    def __init__(self) -> None:
        self.me = self


def test_an_action_runs_with_the_collector_paused(root: str, collecting: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "probe", lambda _root: gc.isenabled(), raising=False)
    assert tasks.run_action("docs:probe", "probe", root) is False
    assert tasks.run_light("docs:probe", lambda _root: gc.isenabled(), root) is False
    assert gc.isenabled()


def test_the_cycles_an_action_leaves_are_collected_after_it(
        root: str, collecting: None, monkeypatch: pytest.MonkeyPatch) -> None:
    gone: list[bool] = []

    def make_cycles(_root: str) -> int:
        for _ in range(3):
            weakref.finalize(Node(), gone.append, True)
        return 0

    monkeypatch.setattr(actions, "cycles", make_cycles, raising=False)
    tasks.run_action("docs:cycles", "cycles", root)
    assert gone == [True, True, True]


def test_a_paused_collector_stays_paused(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(actions, "probe", lambda _root: gc.isenabled(), raising=False)
        assert tasks.run_action("docs:probe", "probe", root) is False
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
