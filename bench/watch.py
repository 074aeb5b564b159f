"""Benchmark ``python -m pipeline watch``: from a saved edit to its page updated.

    python bench/watch.py --corpus small|torch [--workdir DIR] [--edits N] [--lines]

Extracts the corpus as bench/bench.py does (or reuses ``--workdir``'s ``src`` and ``out``,
or ``--source`` and ``--output``, so a built torch output is not built again), starts
``watch``, waits for its first line
``watching``, then N times changes an int literal in a function body of
``torch/nn/modules/linear.py`` (the line count kept; with ``--lines``, appends lines to it)
and measures the time from the write
to (a) the file's ``_docs.md`` page holding the new bytes, (b) the rebuild line. Prints
each and the medians against the target (0.3 s on the torch wheel). Stops watch with
SIGINT and checks it exits 0.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

EDIT = "torch/nn/modules/linear.py"
TARGET_S = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=("small", "torch"), default="small")
    parser.add_argument("--workdir", type=Path, required=True,
                        help="holds src/ (extracted when missing) and out/")
    parser.add_argument("--source", type=Path, default=None, help="instead of WORKDIR/src")
    parser.add_argument("--output", type=Path, default=None, help="instead of WORKDIR/out")
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--lines", action="store_true",
                        help="append lines instead: the file's size and summary change, so "
                             "each layer's link runs (in part)")
    args = parser.parse_args()
    src, out = args.source or args.workdir / "src", args.output or args.workdir / "out"
    if not (src / EDIT).is_file():
        wheel = bench.find_wheel()
        if wheel is None:
            print("no torch wheel found: nothing to measure")
            return 0
        bench.extract(wheel, bench.CORPORA[args.corpus], src)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "watch", str(src), "--output", str(out)],
        stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put((time.perf_counter(), line.rstrip("\n")))

    threading.Thread(target=read, daemon=True).start()
    page_times: list[float] = []
    line_times: list[float] = []
    try:
        _wait(lines, "watching", 3600)
        time.sleep(1.0)
        target, page = src / EDIT, out / (EDIT + "_docs.md")
        data = target.read_bytes()
        offset, length, value = bench.literal_span(data)
        for run in range(args.edits):
            new = str(value + 1 + run).encode().rjust(length)[-length:]
            before = page.read_bytes()
            started = time.perf_counter()
            target.write_bytes(data + b"# line\n" * (run + 1) if args.lines
                               else data[:offset] + new + data[offset + length:])
            page_at = None
            while time.perf_counter() - started < 120:
                try:
                    if page.read_bytes() != before:
                        page_at = time.perf_counter()
                        break
                except OSError:
                    pass
                time.sleep(0.002)
            line_at, line = _wait(lines, EDIT, 120)
            assert page_at is not None, "the page never changed"
            page_times.append(page_at - started)
            line_times.append(line_at - started)
            print(f"edit {run + 1}: page {page_times[-1]:.3f} s, line {line_times[-1]:.3f} s"
                  f"  ({line})", flush=True)
            time.sleep(0.5)
        target.write_bytes(data)
        _wait(lines, EDIT, 120)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
    page_median, line_median = statistics.median(page_times), statistics.median(line_times)
    verdict = "ok" if page_median <= TARGET_S else "over"
    print(f"{args.corpus}: edit -> page median {page_median:.3f} s, -> line median "
          f"{line_median:.3f} s (target {TARGET_S} s: {verdict}); watch exit {code}")
    return 0 if code == 0 and page_median <= TARGET_S else 1


def _wait(lines: queue.Queue[tuple[float, str]], text: str, seconds: float) -> tuple[float, str]:
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        try:
            at, line = lines.get(timeout=left)
        except queue.Empty:
            break
        if text in line:
            return at, line
    raise SystemExit(f"no line with {text!r} within {seconds} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
