"""``python -m pipeline watch``: a subprocess on a small tree, edited while it watches."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildkit import (
    BASE_TREE,
    clean_build_snapshot,
    contents,
    describe_bytes_difference,
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
