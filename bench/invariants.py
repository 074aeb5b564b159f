"""Prove the build invariants on a real corpus, with whole processes as a user runs them.

    python bench/invariants.py [--corpus small|torch] [--workdir DIR] [--kills N]

On the corpus bench/bench.py extracts (``small``: torch/nn, torch/fx, c10 headers):

1. a no-op build writes nothing: every file under the output, state included, keeps its
   bytes and mtime;
2. an edit rewrites only its pages: one int literal of ``torch/nn/modules/linear.py``
   changes, and only that file's page and the pages documenting it are written;
3. a clean build equals the incremental one, byte for byte;
4. every link of every page resolves (files and heading anchors);
5. a build stopped part way (an edit of every ``torch/fx`` source, stopped at several
   moments), then the edit undone and the tree built again, equals a clean build: stopped
   by ``kill -9`` of its process group, by Ctrl-C (SIGINT to the group: the build saves
   doit's database on its way out), and by SIGTERM to the build's process alone (a CI
   runner's timeout: its workers must end with it and leave the output's lock free).

Prints one line per invariant with its figures; exits 1 when one fails. The unit tests
(tests/test_build_invariants.py, tests/test_crash.py) hold the same invariants on small
generated trees; this is the same proof at corpus scale.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from buildkit import broken_links, contents, diff, snapshot  # noqa: E402

import bench  # noqa: E402  (the corpus and the literal edit)

EDITED = "torch/nn/modules/linear.py"
KILLED_FOLDER = "torch/fx"  # every source of it is edited for the kill test


def build(src: Path, out: Path, *extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--output",
                           str(out), "--jobs", "2", *extra], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"invariants: build exited {done.returncode}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def everything(out: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under ``out``, the state folder included."""
    found = {}
    for directory, _dirs, files in os.walk(out):
        for name in files:
            path = Path(directory) / name
            found[str(path.relative_to(out))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def clean_pages(src: Path, out: Path) -> dict[str, bytes]:
    """The pages of a clean build into the same path (the incremental output put aside)."""
    aside = out.with_name(out.name + ".aside")
    os.rename(out, aside)
    try:
        build(src, out)
        return contents(snapshot(out))
    finally:
        shutil.rmtree(out, ignore_errors=True)
        os.rename(aside, out)


def edit_literal(path: Path, delta: int) -> bytes:
    """Change the first int literal of a function body (line count kept); the old bytes."""
    data = path.read_bytes()
    offset, length, value = bench.literal_span(data)
    path.write_bytes(data[:offset] + str(value + delta).encode() + data[offset + length:])
    return data


def lock_freed(out: Path, limit: float = 30.0) -> float:
    """Seconds until no process holds the output's lock (a stopped build's workers hold it
    until they end); ``limit`` when they still do then."""
    import fcntl

    started = time.perf_counter()
    lock = out / ".pipeline" / "lock"
    while time.perf_counter() - started < limit:
        try:
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return time.perf_counter() - started
        except BlockingIOError:
            time.sleep(0.01)
        except FileNotFoundError:
            return time.perf_counter() - started
    return limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("small", "torch"), default="small")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--kills", type=int, default=4,
                        help="moments to stop a build at, for each way of stopping it")
    args = parser.parse_args()
    wheel = bench.find_wheel()
    if wheel is None:
        print("invariants: no torch wheel on this machine; nothing to prove on", file=sys.stderr)
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pipeline-invariants-"))
    src, out = work / "src", work / "out"
    shutil.rmtree(work / "src", ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    files = bench.extract(wheel, bench.CORPORA[args.corpus], src)
    failed: list[str] = []

    def verdict(name: str, ok: bool, figures: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {figures}", flush=True)
        if not ok:
            failed.append(name)

    cold = build(src, out)
    pages = len(snapshot(out))
    print(f"corpus {args.corpus}: {files:,} files, {pages:,} pages, cold build {cold:.2f} s")

    before = everything(out)
    noop = build(src, out)
    after = everything(out)
    moved = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    verdict("no-op writes nothing", not moved,
            f"{noop:.3f} s, {len(after):,} files compared (state included), "
            f"{len(moved)} written{': ' + ', '.join(moved[:5]) if moved else ''}")

    pages_before = snapshot(out)
    original = edit_literal(src / EDITED, 7)
    took = build(src, out)
    change = diff(pages_before, snapshot(out))
    # its pages in every layer: N_docs.md, N_kw.md, then the mirror's N_docs.md_docs.md...
    allowed = {p for p in pages_before if p.startswith(f"{EDITED}_") or f"/{EDITED}_" in p}
    verdict("an edit rewrites only its pages",
            bool(change.written) and change.written <= allowed and not change.removed,
            f"{took:.3f} s, written {sorted(change.written)}")

    incremental = contents(snapshot(out))
    clean = clean_pages(src, out)
    differing = sorted(p for p in incremental.keys() | clean.keys()
                       if incremental.get(p) != clean.get(p))
    verdict("clean == incremental", not differing,
            f"{len(clean):,} pages compared, {len(differing)} differ {differing[:5]}")

    broken = broken_links(out, src)
    verdict("every link resolves", not broken,
            f"{len(incremental):,} pages checked (files and heading anchors), "
            f"{len(broken)} broken {broken[:3]}")
    (src / EDITED).write_bytes(original)
    build(src, out)

    sources = sorted((src / KILLED_FOLDER).rglob("*.py"))
    originals = {path: path.read_bytes() for path in sources}
    for path in sources:
        path.write_bytes(originals[path] + b"\n# edited\n")
    duration = build(src, out)  # how long the edit takes, to kill it part way
    for path in sources:
        path.write_bytes(originals[path])
    build(src, out)
    reference = clean_pages(src, out)
    rng = random.Random(17)
    for label, how, group in (("kill -9", signal.SIGKILL, True), ("Ctrl-C", signal.SIGINT, True),
                              ("SIGTERM to the build alone", signal.SIGTERM, False)):
        outcomes = []
        for attempt in range(args.kills):
            for path in sources:
                path.write_bytes(originals[path] + f"\n# edit {label} {attempt}\n".encode())
            delay = duration * (attempt + 0.5) / args.kills * rng.uniform(0.8, 1.2)
            process = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "build", str(src), "--output", str(out),
                 "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            time.sleep(delay)
            killed = process.poll() is None
            if killed:
                if group:
                    os.killpg(process.pid, how)
                else:
                    os.kill(process.pid, how)
            process.wait()
            freed = lock_freed(out)
            for path in sources:
                path.write_bytes(originals[path])  # the edit undone
            build(src, out)
            now = contents(snapshot(out))
            bad = sorted(p for p in now.keys() | reference.keys()
                         if now.get(p) != reference.get(p))
            outcomes.append((delay, killed, bad, freed))
        verdict(f"{label} part way, edit undone, build == clean",
                all(not bad and freed < 5 for _, _, bad, freed in outcomes)
                and any(k for _, k, _, _ in outcomes),
                f"{len(sources)} sources edited (build {duration:.2f} s); "
                + "; ".join(f"stopped at {d:.2f} s: {len(b)} pages differ, lock free after "
                            f"{f:.2f} s" if k else f"finished before {d:.2f} s"
                            for d, k, b, f in outcomes))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
