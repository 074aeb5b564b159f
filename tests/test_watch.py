"""``python -m pipeline watch``: a subprocess on a small tree, edited while it watches."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    BASE_TREE,
    clean_build_snapshot,
    contents,
    describe_bytes_difference,
    environment,
    make_tree,
    python_env,
    snapshot,
)

TIMEOUT = 60.0


class Watcher:
    """A running ``watch`` whose stdout lines are read by a thread (no blocking reads)."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "watch", "src", "--output", "out"], cwd=cwd,
            env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, predicate: str) -> str:
        """The next line containing ``predicate`` (earlier lines are kept in ``seen``)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.process.poll() is None, self.stop()
                continue
            self.seen.append(line)
            if predicate in line:
                return line
        raise AssertionError(f"no line with {predicate!r} in {TIMEOUT} s: {self.seen}")

    def quiet_for(self, seconds: float) -> list[str]:
        """Lines printed within ``seconds``."""
        found: list[str] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        self.seen += found
        return found

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.close()
        return code, stderr

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    make_tree(tmp_path / "src", BASE_TREE)
    running = Watcher(tmp_path)
    yield running
    running.close()


def test_watch_rebuilds_an_edit_coalesces_a_burst_and_stops_on_sigint(
        watcher: Watcher, tmp_path: Path) -> None:
    watcher.wait_for("(initial build)")
    watcher.wait_for("watching")
    make_tree(tmp_path / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 41")})
    line = watcher.wait_for("pkg/a.py")
    assert "pages written" in line and "rebuild failed" not in line, line
    assert "x + 41" in (tmp_path / "out/pkg/a.py_docs.md").read_text(encoding="utf-8")

    # a folder of 60 files arrives at once (written beside the tree, then moved in)
    make_tree(tmp_path / "staging", {f"m{i:03}.py": f"X = {i}\n" for i in range(60)})
    (tmp_path / "staging").rename(tmp_path / "src/burst")
    line = watcher.wait_for("burst")
    assert "pages written" in line and "rebuild failed" not in line, line
    assert not watcher.quiet_for(1.0), watcher.seen  # one rebuild for the whole burst
    assert (tmp_path / "out/burst/m059.py_docs.md").is_file()

    code, stderr = watcher.stop()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    built = contents(snapshot(tmp_path / "out"))
    clean = clean_build_snapshot(tmp_path / "src", tmp_path / "out")
    assert built == clean, describe_bytes_difference(built, clean)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names are always UTF-8")
def test_watch_goes_on_after_a_name_that_is_not_utf8(watcher: Watcher, tmp_path: Path) -> None:
    """watchfiles' notifier raises on a path that is not UTF-8, and on every call after it:
    ``watch`` ended with a traceback. It arms a new notifier, walks the tree again (the
    file is counted, not documented), and sees the edits that follow."""
    watcher.wait_for("watching")
    with open(os.fsencode(tmp_path / "src") + b"/caf\xe9.py", "wb") as handle:
        handle.write(b"X = 1\n")
    line = watcher.wait_for("could not name")
    assert "pages written" in line, line
    make_tree(tmp_path / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 43")})
    line = watcher.wait_for("pkg/a.py")
    assert "pages written" in line and "failed" not in line, line
    assert "x + 43" in (tmp_path / "out/pkg/a.py_docs.md").read_text(encoding="utf-8")
    code, stderr = watcher.stop()
    assert code == 0 and "Traceback" not in stderr, stderr


def test_watch_ignores_its_own_output_inside_the_source(tmp_path: Path) -> None:
    """With the output inside the watched tree (the default ``output``), writing pages
    must not trigger another rebuild."""
    make_tree(tmp_path / "src", BASE_TREE)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "watch", ".", "--output", "output"],
        cwd=tmp_path / "src", env=python_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    running = Watcher.__new__(Watcher)
    running.process, running.lines, running.seen = process, queue.Queue(), []
    threading.Thread(target=running._read, daemon=True).start()
    try:
        running.wait_for("watching")
        make_tree(tmp_path / "src", {"notes.txt": "plain notes, edited\n"})
        running.wait_for("notes.txt")
        assert not running.quiet_for(1.5), running.seen
        code, stderr = running.stop()
        assert code == 0, stderr
    finally:
        running.close()


# --------------------------------------------------------------------------- rebuilds in process

def _rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``watch._rebuild`` on ``tmp_path/src`` in this process, with the tree walks and the
    doit runs it makes counted."""
    from pipeline import quick
    from pipeline import watch as watching
    from pipeline.config import make_config

    config = make_config({"source": str(tmp_path / "src"), "output": str(tmp_path / "out")})
    calls: dict[str, list[Any]] = {"walks": [], "focus": []}
    settings: dict[str, Any] = {}  # set by a test: the config of the next rebuilds
    calls["settings"] = [settings]
    walk, focus = watching.scan_tree, quick.focus

    def counted_walk(*args: Any) -> Any:
        calls["walks"].append(args)
        return walk(*args)

    def counted_focus(*args: Any) -> Any:
        calls["focus"].append(focus(*args))
        return calls["focus"][-1]

    monkeypatch.setattr(watching, "scan_tree", counted_walk)
    monkeypatch.setattr(quick, "focus", counted_focus)

    def rebuild(kept: Any, changes: list[str]) -> Any:
        for key in ("walks", "focus"):
            calls[key].clear()
        calls["stderr"] = [io.StringIO()]
        calls["stdout"] = [io.StringIO()]
        with environment(tmp_path, {}), contextlib.redirect_stdout(calls["stdout"][0]), \
                contextlib.redirect_stderr(calls["stderr"][0]):
            return watching._rebuild(replace(config, **settings), kept, changes)

    return rebuild, calls


def test_an_edit_is_planned_from_what_the_last_rebuild_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit of a known file keeps the graph and takes the last record as the verdict:
    no walk of the tree, only the edited chunk's tasks, and the record left is what a
    build leaves (the next ``build`` is a quick no-op). Adds and removes walk again.
    After it all, the output is a clean build's, byte for byte."""
    from pipeline import quick
    from pipeline.config import make_config
    from pipeline.discover import scan_tree

    src = tmp_path / "src"
    make_tree(src, {**BASE_TREE, "pkg/broken.py": "def broken(:\n"})
    rebuild, calls = _rebuilds(tmp_path, monkeypatch)
    kept = rebuild(None, ["(initial build)"])
    assert kept is not None and kept.record is not None and len(calls["walks"]) == 1
    graph = kept.graph

    for value in (41, 42):  # two edits in a row, each from the record the last one kept
        make_tree(src, {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", f"x + {value}")})
        kept = rebuild(kept, ["pkg/a.py"])
        assert kept is not None and kept.graph is graph and not calls["walks"]
        assert calls["focus"] == [frozenset({"pkg", "out/pkg"})]  # its chunk, in each layer
        assert kept.record is not None
        assert f"x + {value}" in (tmp_path / "out/pkg/a.py_docs.md").read_text(encoding="utf-8")
    config = make_config({"source": str(src), "output": str(tmp_path / "out")})
    assert quick.check(config, scan_tree(config)).report is not None  # build: a no-op

    make_tree(src, {"pkg/new.py": "NEW = 1\n"})
    (src / "pkg/b.py").unlink()
    kept = rebuild(kept, ["pkg/b.py", "pkg/new.py"])
    assert kept is not None and kept.graph is not graph and len(calls["walks"]) == 1
    assert (tmp_path / "out/pkg/new.py_docs.md").is_file()
    assert not (tmp_path / "out/pkg/b.py_docs.md").exists()
    assert quick.check(config, scan_tree(config)).report is not None

    built = contents(snapshot(tmp_path / "out"))
    clean = clean_build_snapshot(src, tmp_path / "out")
    assert built == clean, describe_bytes_difference(built, clean)


def test_an_edit_of_a_pytest_configuration_or_to_binary_walks_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest configuration decides other files' test flags, and a file that turns
    binary leaves the inputs: the graph is derived again, and the output is a clean
    build's."""
    src = tmp_path / "src"
    make_tree(src, {**BASE_TREE, "pytest.ini": "[pytest]\n", "pkg/check_a.py":
                    "def test_one():\n    assert True\n"})
    rebuild, calls = _rebuilds(tmp_path, monkeypatch)
    kept = rebuild(None, ["(initial build)"])
    make_tree(src, {"pytest.ini": "[pytest]\npython_files = check_*.py\n"})
    kept = rebuild(kept, ["pytest.ini"])
    assert kept is not None and len(calls["walks"]) == 1
    make_tree(src, {"pkg/b.py": b"\x00\x01binary now"})
    kept = rebuild(kept, ["pkg/b.py"])
    assert kept is not None and len(calls["walks"]) == 1
    assert not (tmp_path / "out/pkg/b.py_docs.md").exists()
    built = contents(snapshot(tmp_path / "out"))
    clean = clean_build_snapshot(src, tmp_path / "out")
    assert built == clean, describe_bytes_difference(built, clean)


def test_a_rebuild_says_its_warnings_as_build_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared cache that cannot be used: its warning line follows the rebuild's line (the
    rebuild's own report goes nowhere); a rebuild without one says nothing more."""
    from pipeline import cache

    monkeypatch.setattr(cache, "CACHES", cache.Resting())
    make_tree(tmp_path / "src", BASE_TREE)
    rebuild, calls = _rebuilds(tmp_path, monkeypatch)
    calls["settings"][0]["cache"] = str(tmp_path / "no-such-folder")
    assert rebuild(None, ["(initial build)"]) is not None
    said = calls["stderr"][0].getvalue().splitlines()
    assert said == [f"warning: cache {tmp_path / 'no-such-folder'} cannot be used "
                    f"({tmp_path / 'no-such-folder'} is not a folder); records are "
                    "extracted and pages rendered here"], said
    calls["settings"][0].clear()
    make_tree(tmp_path / "src", {"pkg/new.py": "NEW = 1\n"})
    assert rebuild(None, ["pkg/new.py"]) is not None
    assert calls["stderr"][0].getvalue() == ""


def test_a_failed_rebuild_keeps_nothing_and_the_next_one_walks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import session

    src = tmp_path / "src"
    make_tree(src, BASE_TREE)
    rebuild, calls = _rebuilds(tmp_path, monkeypatch)
    kept = rebuild(None, ["(initial build)"])
    make_tree(src, {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 7")})
    working = session.run_doit

    def broken(namespace: dict[str, Any], argv: list[str]) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(session, "run_doit", broken)
    assert rebuild(kept, ["pkg/a.py"]) is None
    monkeypatch.setattr(session, "run_doit", working)
    kept = rebuild(None, ["pkg/a.py"])
    assert kept is not None and len(calls["walks"]) == 1
    assert "x + 7" in (tmp_path / "out/pkg/a.py_docs.md").read_text(encoding="utf-8")


NO_ROOM = os.strerror(errno.ENOSPC)


def test_a_rebuild_on_a_full_disk_says_why_and_the_next_one_mends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up from any write of a rebuild on: its line says it failed and why,
    followed by the error lines a build prints (its own report goes nowhere); once there
    is room, the next rebuild leaves a clean build's output."""
    import itertools

    from pipeline import files

    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    variants = [{"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", f"x + {n}")}
                for n in (7, 8)]
    expected = []
    for variant in variants:
        make_tree(src, variant)
        expected.append(clean_build_snapshot(src, out))
    rebuild, calls = _rebuilds(tmp_path, monkeypatch)
    kept = rebuild(None, ["(initial build)"])
    kinds: set[str] = set()
    for at in range(1, 200):
        make_tree(src, variants[at % 2])
        monkeypatch.setattr(files, "FULL_AT", at)
        monkeypatch.setattr(files, "_WRITES", itertools.count(1))
        failed = rebuild(kept, ["pkg/a.py"])
        line = calls["stdout"][0].getvalue()
        said = calls["stderr"][0].getvalue().splitlines()
        monkeypatch.setattr(files, "FULL_AT", 0)
        if "failed" not in line:
            assert failed is not None and said == [], (at, line, said)
            break
        assert f"rebuild failed ({NO_ROOM}: {out}" in line or (
            line.rstrip().endswith("s") and "; failed; " in line and said
            and all(ln.startswith("error: ") and NO_ROOM in ln for ln in said)), \
            (at, line, said)
        kinds.add("before the tasks" if said == [] else "in a task")
        kept = rebuild(failed, ["pkg/a.py"])
        assert kept is not None and "failed" not in calls["stdout"][0].getvalue()
        assert calls["stderr"][0].getvalue() == ""
        assert contents(snapshot(out)) == expected[at % 2], f"full from write {at}"
    else:
        pytest.fail("the rebuild never finished")
    assert kinds == {"before the tasks", "in a task"}, kinds


def test_an_output_removed_under_watch_is_locked_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The output folder removed while watch runs: the next rebuild writes it all again
    and holds its new lock, so a build started then is refused as another build is."""
    from pipeline import runstate

    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    rebuild, _calls = _rebuilds(tmp_path, monkeypatch)
    try:
        runstate.acquire_lock(str(out))
        kept = rebuild(None, ["(initial build)"])
        expected = clean_build_snapshot(src, out)
        shutil.rmtree(out)
        make_tree(src, {"pkg/b.py": BASE_TREE["pkg/b.py"] + "\n"})
        make_tree(src, {"pkg/b.py": BASE_TREE["pkg/b.py"]})
        assert rebuild(kept, ["pkg/b.py"]) is not None
        assert contents(snapshot(out)) == expected
        other = open(out / ".pipeline" / "lock", "a+", encoding="utf-8")  # another build
        with other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        runstate.release_locks()
