"""A lost worker process never hangs a parallel build: its task runs again on a new worker,
or, lost again, fails by name (exit 1)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from buildkit import (
    BASE_TREE,
    build,
    clean_build_snapshot,
    contents,
    make_tree,
    python_env,
    snapshot,
)
from doit.reporter import ZeroReporter

from pipeline.cli import run_doit
from pipeline.exits import describe_exit


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def _workers(pid: int) -> list[int]:
    """The build's worker processes: its children forked from it (same command line)."""
    def cmdline(process: int) -> bytes:
        try:
            with open(f"/proc/{process}/cmdline", "rb") as handle:
                return handle.read()
        except OSError:
            return b""
    own = cmdline(pid)
    return [child for child in _children(pid) if cmdline(child) == own]


def _slow_tree() -> dict[str, str]:
    """Two folders (two extraction tasks) of Python that libcst takes a few seconds over."""
    body = "".join(f"def f{k}(x: int) -> list[int]:\n    '''Doc {k}.'''\n"
                   f"    return [x + {k} for _ in range(3) if x > {k}]\n\n" for k in range(300))
    return {f"part{i}/m{j}.py": f'"""Module {i}.{j}."""\nimport os\n\n{body}'
            for i in range(2) for j in range(3)}


def test_a_killed_worker_is_replaced_and_its_task_run_again(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _slow_tree())
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "build", str(src), "--output", str(out),
         "--jobs", "2", "--depth", "1"], cwd=tmp_path, env=python_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = _workers(process.pid)
        assert len(workers) == 2, "the build never started two workers"
        time.sleep(0.3)  # both are extracting a folder
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            for child in _children(process.pid):
                os.kill(child, signal.SIGKILL)
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "was lost (killed by SIGKILL); running it again" in stderr
    after = contents(snapshot(out))
    assert build(src, out, "--depth", "1").counts.get("tasks_run", 0) == 0  # nothing was left to do
    assert after == clean_build_snapshot(src, out, "--depth", "1")


# --------------------------------------------------------------------------- the runner alone

def _namespace(tmp_path: Path, action: Any) -> dict[str, Any]:
    def task_work() -> Any:
        for name in ("a", "b", "c"):
            yield {"name": name, "actions": [(action, [str(tmp_path), name])],
                   "verbosity": 0}
    return {"task_work": task_work,
            "DOIT_CONFIG": {"dep_file": str(tmp_path / "db.json"), "backend": "json",
                            "verbosity": 0}}


def _die_in_b(root: str, name: str, always: bool = False) -> None:
    """Task ``b`` kills its own worker (the first time only, unless ``always``)."""
    marker = Path(root) / f"died-{name}"
    if name == "b" and (always or not marker.exists()):
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    (Path(root) / f"done-{name}").write_text(name)


def _always_die_in_b(root: str, name: str) -> None:
    _die_in_b(root, name, always=True)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail (TimeoutError) rather than hang when the block takes longer."""
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Failures(ZeroReporter):  # type: ignore[misc]
    """Collects failures: ``task name: message``."""

    lost: list[str] = []

    def add_failure(self, task: Any, fail: Any) -> None:
        self.lost.append(f"{task.name}: {fail.message}")


def _run(tmp_path: Path, action: Any) -> tuple[int, list[str]]:
    reporter = type("Reporter", (_Failures,), {"lost": []})
    namespace = _namespace(tmp_path, action)
    namespace["DOIT_CONFIG"]["reporter"] = reporter
    with _deadline(30):
        code = run_doit(namespace, ["run", "-n", "2", "-P", "process"])
    return code, reporter.lost


def test_a_task_that_lost_its_worker_once_runs_again(tmp_path: Path) -> None:
    code, _ = _run(tmp_path, _die_in_b)
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("done-*")) == ["done-a", "done-b", "done-c"]


def test_a_task_that_loses_its_worker_every_time_fails_by_name(tmp_path: Path) -> None:
    code, failures = _run(tmp_path, _always_die_in_b)
    assert code != 0
    assert failures == ["work:b: its worker process was lost (killed by SIGKILL), "
                        "on each of 2 attempts"]
    assert not (tmp_path / "done-b").exists()


def test_exits_are_described() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-11) == "killed by SIGSEGV"
    assert describe_exit(3) == "exit status 3"


# --------------------------------------------------------------------------- dispatch order

def _started(root: str, name: str) -> None:
    """Note when the task started; ``first`` takes long enough for all others to wait, and
    each other one long enough that the two workers keep in step."""
    (Path(root) / f"start-{name}").write_text(str(time.monotonic_ns()))
    time.sleep(0.3 if name == "first" else 0.03)


def test_tasks_waiting_on_one_task_start_in_the_order_of_the_task_list(tmp_path: Path,
                                                                       ) -> None:
    """The chunks of a layer all wait on its link; the costliest come first in the task
    list, and must start first (doit resumes the waiting tasks of a node from a set)."""
    names = [f"w{n:02d}" for n in range(30)]

    def task_work() -> Any:
        yield {"name": "first", "actions": [(_started, [str(tmp_path), "first"])],
               "verbosity": 0}
        for name in names:
            yield {"name": name, "actions": [(_started, [str(tmp_path), name])],
                   "task_dep": ["work:first"], "verbosity": 0}

    namespace = {"task_work": task_work,
                 "DOIT_CONFIG": {"dep_file": str(tmp_path / "db.json"), "backend": "json",
                                 "verbosity": 0, "reporter": ZeroReporter}}
    with _deadline(60):
        assert run_doit(namespace, ["run", "-n", "2", "-P", "process"]) == 0
    started = sorted(names, key=lambda n: int((tmp_path / f"start-{n}").read_text()))
    # the two workers may swap near neighbours; a set's order moves them anywhere
    assert all(abs(started.index(name) - at) <= 3 for at, name in enumerate(names)), \
        " ".join(started)


def test_the_last_layers_folder_pages_start_before_its_pages_are_rendered(
        tmp_path: Path) -> None:
    """Once the last layer's link is done, its folder pages come before its pages: the task
    of the layer's other folders is its longest (torch: 1.5 s), and after the many small
    render tasks it ran alone at the end of a cold build while the other worker waited.
    (The pages of an earlier layer come first: the next layer's extraction waits on them.)
    A one-process build runs the tasks in the order doit takes them."""
    make_tree(tmp_path / "src", BASE_TREE)
    result = build(tmp_path / "src", tmp_path / "out", "--jobs", "1")
    ran = [line.split(":", 3)[1:3] for line in result.stderr.splitlines()
           if line.startswith(("docs:render:", "docs:folder:"))]
    folders = [at for at, (stage, name) in enumerate(ran) if stage == "folder" and name == "2"]
    renders = [at for at, (stage, name) in enumerate(ran)
               if stage == "render" and name.startswith("out/")]
    assert folders and renders and max(folders) < min(renders), ran
