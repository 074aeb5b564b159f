"""A build killed at a chosen moment, then the edit in flight undone: is the next build
a clean build's equal? The reproduction of a crash-consistency failure, kept as a script.

    python bench/kill_repro.py [--modules 400] [--delay 0.35 ...] [--jobs 1] [--keep DIR]

For each delay: a clean build of ``--modules`` small Python modules, one module edited,
``python -m pipeline build`` started in its own process group and ``kill -9``-ed as a group
after the delay, the module's old bytes restored (as ``git checkout -- FILE`` would), a
build, and ``python -m pipeline check``. Prints one line per delay; exits 1 when some
``check`` after the repair build was not 0. It runs the ``pipeline`` that ``python``
imports (PYTHONPATH chooses a checkout).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EDITED = "pkg/mod7.py"


def module(i: int, edited: bool = False) -> str:
    name = f"Widget{i}Renamed" if edited else f"Widget{i}"
    imports = f"from pkg.mod{i - 1} import Widget{i - 1}\n" if i else ""
    return (f'"""Module {i}."""\n{imports}\n\nclass {name}:\n    """Widget {i}."""\n\n'
            f"    def size(self):\n        return {i}\n")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=1800)


def attempt(work: Path, modules: int, delay: float, jobs: int) -> tuple[bool, str]:
    src, out = work / "src", work / "out"
    shutil.rmtree(work, ignore_errors=True)
    (src / "pkg").mkdir(parents=True)
    for i in range(modules):
        (src / f"pkg/mod{i}.py").write_text(module(i), encoding="utf-8")
    build = ["build", str(src), "--output", str(out), "--jobs", str(jobs)]
    assert run(build, work).returncode == 0, "the clean build failed"
    edited = src / EDITED
    edited.write_text(module(7, edited=True), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *build], cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    time.sleep(delay)
    finished = process.poll() is not None
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    edited.write_text(module(7), encoding="utf-8")  # the edit undone
    repair = run(build, work)
    summary = (repair.stderr.strip().splitlines() or [""])[-1]
    check = run(["check", str(src), "--output", str(out)], work)
    verdict = (check.stderr.strip().splitlines() or [""])[-1]
    note = " (the build had already finished)" if finished else ""
    return check.returncode == 0, f"delay {delay:.2f} s{note}: {summary} | {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=400)
    parser.add_argument("--delay", type=float, nargs="+", default=[0.35])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--keep", default="", help="work in DIR and keep it")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kill-repro-"))
    failed = 0
    try:
        for delay in args.delay:
            ok, line = attempt(work, args.modules, delay, args.jobs)
            failed += not ok
            print(("ok    " if ok else "STALE ") + line, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{failed} of {len(args.delay)} repair builds left stale pages")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
