"""Shared test set-up: the tests folder is importable (golden helpers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture()
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """(src, out) under ``tmp_path``, ``src`` made of the test module's ``TREE`` (a module
    with a ``tree`` fixture of its own uses that one)."""
    from buildkit import make_tree

    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, request.module.TREE)
    return src, out
