"""Crash consistency: a build that dies at its N-th write of a page or state file, for
every N, then any change to the sources (the edit in flight undone, or kept), and the
next build equals a clean build byte for byte. The crash is ``os._exit`` in a forked
child at the write helper (``files.CRASH_AT``), like SQLite's crash tests at every write."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    TWO_MODULES,
    assert_same_pages,
    build,
    clean_build_snapshot,
    contents,
    environment,
    faulted_build,
    leftover_temp_files,
    make_tree,
    python_env,
    run_main,
    snapshot,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

TREE = TWO_MODULES  # small, so that the loop over every write is fast
EDITED = ("core.py", '"""Core, edited."""\n\nclass Motor:\n    """Turns."""\n')


def _edit(src: Path, undo: bool = False) -> None:
    path = src / EDITED[0]
    path.write_text(TREE[EDITED[0]] if undo else EDITED[1], encoding="utf-8")


def _every_crash(src: Path, out: Path, prepare, after, expected: dict[str, bytes],
                 *extra: str) -> int:
    """For N = 1, 2, ... until a build finishes: prepare, crash at N, change the sources,
    build, compare with the clean build. Returns how many crash points were tried."""
    from pipeline.files import CRASH_EXIT

    for at in range(1, 500):
        prepare()
        code, _printed = faulted_build(src, out, "CRASH_AT", at, *extra)
        after()
        assert code in (0, CRASH_EXIT), f"the build exited {code}"
        result = build(src, out)
        assert result.code == 0, result.stderr
        assert_same_pages(out, expected, f"crash at write {at}: the next build differs "
                          "from a clean build in")
        assert leftover_temp_files(out) == [], f"crash at write {at}"
        if code == 0:  # no crash: every write was tried
            return at - 1
    pytest.fail("the build never finished")


def test_a_crash_at_any_write_of_a_clean_build_then_an_edit(tree: tuple[Path, Path]) -> None:
    src, out = tree
    _edit(src)
    edited = clean_build_snapshot(src, out)
    _edit(src, undo=True)

    def prepare() -> None:
        shutil.rmtree(out, ignore_errors=True)
        _edit(src, undo=True)

    tried = _every_crash(src, out, prepare, lambda: _edit(src), edited)
    assert tried > 30, f"only {tried} writes: the hook is not where the writes are"


def test_a_crash_at_any_write_of_a_clean_build_then_nothing_changed(
        tree: tuple[Path, Path]) -> None:
    """The crash lands in the run's last writes too (doit's database, the quick record),
    after the seal: the next build, with nothing changed, finds every task up to date and
    must still leave no temporary file behind."""
    src, out = tree
    expected = clean_build_snapshot(src, out)
    tried = _every_crash(src, out, lambda: shutil.rmtree(out, ignore_errors=True),
                         lambda: None, expected)
    assert tried > 30, f"only {tried} writes"


def test_a_crash_at_any_write_of_an_edit_build_then_the_edit_undone(
        tree: tuple[Path, Path]) -> None:
    """The issue's case: an edit is being built, the build dies, the edit is undone, and
    the next build must not keep what the dead one half wrote; ``check`` then agrees."""
    src, out = tree
    original = clean_build_snapshot(src, out)
    build(src, out)
    saved = out.with_name("saved")
    shutil.copytree(out, saved, symlinks=True)

    def prepare() -> None:
        shutil.rmtree(out)
        shutil.copytree(saved, out, symlinks=True)
        _edit(src)

    tried = _every_crash(src, out, prepare, lambda: _edit(src, undo=True), original)
    assert tried > 10, f"only {tried} writes"
    check = run_main(["check", str(src), "--output", str(out)], cwd=out.parent)
    assert check.code == 0, check.stderr


# --------------------------------------------------------------------------- Ctrl-C

def test_ctrl_c_at_any_write_of_an_edit_build_then_the_edit_undone(
        tree: tuple[Path, Path]) -> None:
    """Ctrl-C while an edit is built, at any of its writes: doit saves its database on the
    way out, which must not vouch for the files the interrupted task half wrote; the edit
    undone, the next build equals a clean build."""
    src, out = tree
    original = clean_build_snapshot(src, out)
    build(src, out)
    saved = out.with_name("saved")
    shutil.copytree(out, saved, symlinks=True)
    for at in range(1, 500):
        shutil.rmtree(out)
        shutil.copytree(saved, out, symlinks=True)
        _edit(src)
        code, printed = faulted_build(src, out, "INTERRUPT_AT", at)
        _edit(src, undo=True)
        assert code in (0, 130), f"interrupted at write {at}: exit {code}\n{printed}"
        if code == 130:
            assert "Traceback" not in printed and printed.splitlines()[-1] == (
                "interrupted: the next build takes up where this one stopped"), printed
        result = build(src, out)
        assert result.code == 0, result.stderr
        assert_same_pages(out, original, f"Ctrl-C at write {at}: the next build differs "
                             "from a clean build in")
        if code == 0:
            break
    assert at > 10, f"only {at - 1} writes"


# --------------------------------------------------------------------------- SIGKILL

def _group_tree(edit: bool = False) -> dict[str, str]:
    """24 small modules in 3 packages, importing each other (``edit`` renames a class)."""
    files = {}
    for p in range(3):
        for i in range(8):
            name = f"Thing{p}{i}" + ("Renamed" if edit and (p, i) == (1, 3) else "")
            prev = f"from pkg{p}.m{i - 1} import Thing{p}{i - 1}\n" if i else ""
            files[f"pkg{p}/m{i}.py"] = (f'"""Module {p}.{i}."""\n{prev}\n\n'
                                        f"class {name}:\n    pass\n")
    return files


def _start_group(src: Path, out: Path, jobs: int, command: str = "build"
                 ) -> subprocess.Popen[bytes]:
    source = [] if command == "clean" else [str(src)]
    jobs_flag = ["--jobs", str(jobs)] if command == "build" else []
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", command, *source, "--output", str(out), *jobs_flag],
        cwd=out.parent, env=python_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_group(process: subprocess.Popen[bytes], out: Path) -> None:
    """``kill -9`` of the process's group, and wait until the output's lock is free (a
    worker still dying holds it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    lock = out / ".pipeline" / "lock"
    deadline = time.monotonic() + 30
    while lock.exists() and time.monotonic() < deadline:
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        time.sleep(0.01)


def test_sigkill_of_the_process_group_at_random_moments(tmp_path: Path) -> None:
    """``kill -9`` of the whole group of a ``--jobs 2`` build at random moments of a clean
    and of an incremental build, the edit in flight undone: the next build equals a clean
    build, and ``check`` agrees."""
    src, out, saved = tmp_path / "src", tmp_path / "out", tmp_path / "saved"
    make_tree(src, _group_tree())
    started = time.perf_counter()
    assert _start_group(src, out, 2).wait(timeout=300) == 0
    duration = time.perf_counter() - started
    reference = contents(snapshot(out))
    shutil.copytree(out, saved, symlinks=True)
    rng = random.Random(12)
    for attempt in range(3):
        shutil.rmtree(out)
        if attempt:  # incremental: the built output, then an edit
            shutil.copytree(saved, out, symlinks=True)
            make_tree(src, _group_tree(edit=True))
        process = _start_group(src, out, 2)
        delay = duration * rng.uniform(0.2, 0.9)
        time.sleep(delay)
        _kill_group(process, out)
        make_tree(src, _group_tree())  # the edit undone
        build(src, out)
        assert_same_pages(out, reference, f"attempt {attempt}, killed after {delay:.2f} s")
    check = run_main(["check", str(src), "--output", str(out)], cwd=out.parent)
    assert check.code == 0, check.stderr


@pytest.mark.parametrize("command", ["check", "clean"])
def test_sigkill_of_check_or_clean_then_an_edit(tmp_path: Path, command: str) -> None:
    """``kill -9`` of the whole group of a ``check`` (of a stale output) or a ``clean`` at
    random moments, then the sources change: the next build equals a clean build of them,
    and ``check`` agrees."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _group_tree())
    build(src, out)
    built = tmp_path / "built"
    shutil.copytree(out, built, symlinks=True)
    make_tree(src, _group_tree(edit=True))  # the output is stale for a check
    started = time.perf_counter()
    assert _start_group(src, out, 1, command).wait(timeout=300) in (0, 1)
    duration = time.perf_counter() - started
    rng = random.Random(7)
    killed = 0
    for attempt in range(3):
        shutil.rmtree(out, ignore_errors=True)  # a finished clean removed it
        shutil.copytree(built, out, symlinks=True)
        make_tree(src, _group_tree(edit=True))
        process = _start_group(src, out, 1, command)
        delay = duration * rng.uniform(0.1, 0.9)
        time.sleep(delay)
        _kill_group(process, out)
        killed += process.returncode == -signal.SIGKILL
        make_tree(src, _group_tree(edit=attempt % 2 == 0))
        build(src, out)
        reference = clean_build_snapshot(src, out)
        assert_same_pages(out, reference, f"attempt {attempt}, killed after {delay:.2f} s")
        check = run_main(["check", str(src), "--output", str(out)], cwd=out.parent)
        assert check.code == 0, check.stderr
    assert killed, f"no {command} was still running when killed"


def test_a_run_whose_verdict_fails_stays_sealed(tmp_path: Path) -> None:
    """The ``failures`` task (doit's exit 1 when a file failed) writes nothing, so it leaves
    the run sealed: the next no-op is not a "dirty" run that prunes the state again."""
    from pipeline import cli, report
    from pipeline.graph import build_graph

    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"bad.py": "def broken(:\n", "good.py": "X = 1\n"})
    assert build(src, out).code == 1
    seal = out / ".pipeline" / "clean"
    assert seal.exists()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet), \
            environment(tmp_path, {}):
        config = cli.load_config({"source": str(src), "output": str(out)})
        graph = build_graph(config, dirty=False)
        reporter = report.reporter_for(graph.root, config.depth, {}, stream=quiet)
        code = cli.run_doit(cli.doit_namespace(graph, reporter), ["run"])  # doit's way
    assert code == 1, "the verdict did not fail the run"
    assert seal.exists(), "the verdict unsealed the run"


def test_a_source_edited_while_its_extraction_runs_is_extracted_again(
        tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """doit stores a dependency's state after its task ran: an edit made while the task
    runs (after it read the file) must not be taken for what the task saw."""
    from pipeline import actions

    src, out = tree
    original = actions.extract_chunk
    edited = []

    def extract_then_edit(*args: object, **kwargs: object) -> object:
        counts = original(*args, **kwargs)  # type: ignore[arg-type]
        if not edited:
            edited.append(True)
            _edit(src)  # saved in an editor while the build runs
        return counts

    monkeypatch.setattr(actions, "extract_chunk", extract_then_edit)
    build(src, out)
    monkeypatch.setattr(actions, "extract_chunk", original)
    result = build(src, out)
    assert result.counts.get("extracted", 0) >= 1, "the edit made during the run was missed"
    assert contents(snapshot(out)) == clean_build_snapshot(src, out)


# --------------------------------------------------------------------------- SIGTERM

def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or shutil.which("pgrep") is None,
                    reason="needs /proc and pgrep")
@pytest.mark.parametrize("deathsig", [True, False], ids=["prctl", "pipe"])
def test_sigterm_of_the_build_process_alone_leaves_no_worker_and_no_lock(
        tmp_path: Path, deathsig: bool) -> None:
    """A CI runner's timeout, a stop button or ``kill PID`` sends SIGTERM to the build's
    process alone. Its ``--jobs`` workers must end too (at once on Linux; else once their
    task is done, by their closed pipe): they waited for a job for ever, holding the
    output's lock, and every later build exited 2 saying another one was running. The
    next build then equals a clean build."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _group_tree())
    assert _start_group(src, out, 2).wait(timeout=300) == 0
    reference = contents(snapshot(out))
    patch = "" if deathsig else "import pipeline.runner as r; r.die_with = lambda parent: None; "
    for _attempt in range(5):
        shutil.rmtree(out)
        process = subprocess.Popen(
            [sys.executable, "-c", f"import sys; {patch}from pipeline.cli import run; "
             f"sys.argv = ['pipeline', 'build', {str(src)!r}, '--output', {str(out)!r}, "
             "'--jobs', '2']; run()"],
            cwd=tmp_path, env=python_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while process.poll() is None and len(workers) < 2 and time.monotonic() < deadline:
            workers = _children(process.pid)
            time.sleep(0.005)
        if process.poll() is not None:
            continue  # it finished first: again
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(map(_alive, workers)), "the workers outlived the build's process"
        result = build(src, out, "--jobs", "2")
        assert result.code == 0, result.stderr
        assert_same_pages(out, reference, "after SIGTERM")
        return
    pytest.fail("every build finished before its workers could be seen")


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or shutil.which("pgrep") is None
                    or sys.platform != "linux", reason="needs /proc, pgrep and prctl")
def test_an_isolated_extraction_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A source too large for a worker is extracted by a child process. A worker killed
    with its build (SIGTERM to the build's process, then the workers' death signal) left
    that child parsing, for seconds to minutes, a file nobody waits for."""
    from pipeline import isolate

    large = "x = {" + ",".join(f"{i}: {i}" for i in range(400_000)) + "}\n"  # 5 MB: ~20 s
    assert len(large) > isolate.ISOLATE_CHARS
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pipeline.isolate import extract_bounded; "
         "extract_bounded(sys.stdin.read(), 'python')"],
        stdin=subprocess.PIPE, cwd=tmp_path, env=python_env(), text=True)
    assert worker.stdin is not None
    worker.stdin.write(large)
    worker.stdin.close()
    deadline = time.monotonic() + 60
    children: list[int] = []
    while not children and time.monotonic() < deadline:
        children = _children(worker.pid)
        time.sleep(0.01)
    assert children, "no isolated extraction started"
    time.sleep(0.2)
    worker.kill()
    worker.wait(timeout=60)
    deadline = time.monotonic() + 5
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(map(_alive, children)), "the extraction outlived its worker"


def _stopping(real: Callable[..., Any], count: Iterator[int], allowed: int
              ) -> Callable[..., Any]:
    """``real``, with Ctrl-C arriving at the call after the ``allowed``-th of ``count``."""
    def call(*args: Any, **kwargs: Any) -> Any:
        if next(count) > allowed:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    return call


def test_a_clean_stopped_after_any_removal_leaves_an_output_a_build_takes_on(
        tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``clean`` interrupted after any of its removals: what is left is still a build's
    output (its state folder goes last), so the next build takes it on and equals a clean
    build. A folder of files without a state folder is refused as somebody else's."""
    src, out = tree
    make_tree(src, {"docs/more.md": "# More\n", "pkg/inner.py": "X = 1\n"})
    reference = clean_build_snapshot(src, out)
    build(src, out)
    saved = out.with_name("saved")
    shutil.copytree(out, saved, symlinks=True)
    real_rmtree, real_unlink = shutil.rmtree, Path.unlink
    for allowed in range(1, 30):
        count = itertools.count(1)
        real_rmtree(out, ignore_errors=True)
        shutil.copytree(saved, out, symlinks=True)
        with monkeypatch.context() as patched:
            patched.setattr(shutil, "rmtree", _stopping(real_rmtree, count, allowed))
            patched.setattr(Path, "unlink", _stopping(real_unlink, count, allowed))
            code = run_main(["clean", "--output", str(out)]).code
        if code == 0:
            break
        assert code == 130
        result = build(src, out)
        assert result.code == 0, f"clean stopped after {allowed} removals: {result.stderr}"
        assert_same_pages(out, reference, f"clean stopped after {allowed} removals")
    else:
        pytest.fail("clean never finished")
    assert allowed > 3
