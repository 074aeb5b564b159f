"""An edit that keeps a file's size and mtime (``cp -p``, ``rsync -t``, ``tar x``) is seen:
the file checker compares change time and inode too, and a state taken within the
timestamps' granularity of the file's last change is checked again by hashing."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from buildkit import build, clean_build_snapshot, contents, make_tree, snapshot

from pipeline.overrides import RefreshingHashChecker, file_state


def _same_size_edit(path: Path, text: str) -> None:
    """Replace a file's bytes with as many others, and restore its atime and mtime."""
    info = path.stat()
    assert len(text.encode()) == info.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_an_edit_that_keeps_size_and_mtime_is_built(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.md": "# Alpha\n\nText.\n", "b.py": "def one():\n    return 1\n"})
    build(src, out, "--depth", "1")
    _same_size_edit(src / "a.md", "# Omega\n\nText.\n")
    _same_size_edit(src / "b.py", "def two():\n    return 2\n")
    result = build(src, out, "--depth", "1")
    assert result.counts.get("extracted") == 2
    pages = contents(snapshot(out))
    assert b"Omega" in pages["a.md_docs.md"] and b"two" in pages["b.py_docs.md"]
    assert pages == clean_build_snapshot(src, out, "--depth", "1")


def test_a_copy_that_keeps_mtime_is_built(tmp_path: Path) -> None:
    """``cp -p`` of a file of the same size over a built one (shutil.copy2 keeps mtime)."""
    src, out, other = tmp_path / "src", tmp_path / "out", tmp_path / "other"
    make_tree(src, {"a.md": "# Alpha\n"})
    make_tree(other, {"a.md": "# Gamma\n"})
    os.utime(other / "a.md", ns=(0, (src / "a.md").stat().st_mtime_ns))
    build(src, out, "--depth", "1")
    shutil.copy2(other / "a.md", src / "a.md")
    build(src, out, "--depth", "1")
    assert b"Gamma" in (out / "a.md_docs.md").read_bytes()


# --------------------------------------------------------------------------- the checker alone

def _stat(**fields: Any) -> Any:
    base = {"st_mtime": 100.0, "st_size": 5, "st_ctime_ns": 10**18 + 123, "st_ino": 7,
            "st_mtime_ns": 100 * 10**9}
    return SimpleNamespace(**{**base, **fields})


def _state(recorded_ns: int, **fields: Any) -> list[Any]:
    state = file_state(_stat(**fields), "digest")
    state[5] = recorded_ns
    return state


def test_a_settled_state_trusts_the_stat_without_reading() -> None:
    checker = RefreshingHashChecker()
    state = _state(10**18 + 124)
    assert not checker.check_modified("/nonexistent", _stat(), state)  # never opened


def test_any_stat_field_that_moved_means_hashing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"other")  # five bytes, not those the digest was taken of
    checker = RefreshingHashChecker()
    for moved in ({"st_ctime_ns": 10**18 + 1}, {"st_ino": 8}):
        state = _state(10**18 + 124)
        assert checker.check_modified(str(path), _stat(**moved), state), moved


def test_a_racily_clean_state_is_hashed_again_and_then_refreshed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    info = path.stat()
    checker = RefreshingHashChecker()
    digest = checker.get_state(str(path), None)[2]
    state = file_state(info, "not the digest")
    state[5] = info.st_ctime_ns  # taken in the very tick of the last change
    assert checker.check_modified(str(path), info, state)  # hashed: the bytes differ
    state = file_state(info, digest)
    state[5] = info.st_ctime_ns
    assert not checker.check_modified(str(path), info, state)
    assert state[5] >= info.st_ctime_ns  # refreshed: taken again now
    time.sleep(0.05)  # a few ticks of the clock file times come from
    state[5] = time.time_ns()
    assert checker.get_state(str(path), state) is None


def test_whole_second_file_times_are_settled_two_seconds_later() -> None:
    checker = RefreshingHashChecker()
    whole = 10**18  # a whole second: FAT, some NFS
    coarse = _stat(st_ctime_ns=whole)
    state = _state(whole + 2 * 10**9, st_ctime_ns=whole)
    assert checker.check_modified("/nonexistent", coarse, state) is False
    with pytest.raises(FileNotFoundError):  # a second later it is not settled: hashed
        checker.check_modified("/nonexistent", coarse, _state(whole + 10**9, st_ctime_ns=whole))


def test_build_state_is_trusted_even_when_racy() -> None:
    state = _state(10**18, st_ctime_ns=10**18 + 5)  # taken in the tick of its last change
    path = "/out/.pipeline/records/x.json"
    assert not RefreshingHashChecker().check_modified(path, _stat(st_ctime_ns=10**18 + 5),
                                                      state)


def test_a_state_of_the_older_form_is_hashed_once_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    info = path.stat()
    digest = RefreshingHashChecker().get_state(str(path), None)[2]
    state: list[Any] = [info.st_mtime, info.st_size, digest]
    assert not RefreshingHashChecker().check_modified(str(path), info, state)
    assert len(state) == 6 and state[3] == info.st_ctime_ns and state[4] == info.st_ino
