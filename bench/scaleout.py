"""Benchmark the scale-out paths on PyTorch-wheel corpora: a cold build with a warm shared
record cache against one without, a Dask cluster of two local workers against --jobs 2,
and the state footprint against the sources' size. See bench/README.md ("Scale-out")."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as base  # noqa: E402  (the corpus, compile and summary helpers)

TARGET_CACHE = 0.3  # warm-cache cold build / plain cold build
TARGET_DASK = 1.10  # Dask with two local workers / --jobs 2
TARGET_STATE = 0.5  # OUT/.pipeline / sources


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process tree, stderr) of one child."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err,
                                env=os.environ | {"COLUMNS": "100000"})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"scaleout: {' '.join(argv)} exited {code}:\n{text[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, text


def fresh_clone_mtimes(src: Path) -> None:
    """Every source gets a new mtime, as a fresh checkout gives it."""
    now = time.time()
    for directory, _dirs, files in os.walk(src):
        for name in files:
            os.utime(os.path.join(directory, name), (now, now))


def documented_bytes(src: Path, out: Path) -> int:
    """Bytes of the sources the build documents (the text files of the first layer, as the
    pipeline's discovery finds them): what the state describes."""
    from pipeline.config import make_config
    from pipeline.discover import discover_sources

    config = make_config({"source": str(src), "output": str(out)})
    inventory = discover_sources(config, save_cache=False)
    return sum(inventory.sizes[item.path] for item in inventory.inputs if item.layer == 1)


def footprint(folder: Path) -> tuple[int, int]:
    """(bytes of content, bytes on disk) of every file under ``folder``."""
    content = disk = 0
    for directory, _dirs, files in os.walk(folder):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            content += info.st_size
            disk += info.st_blocks * 512
    return content, disk


class LocalCluster:
    """``dask scheduler`` and two single-threaded ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def _start(self, *args: str, log: str) -> None:
        with open(self.folder / log, "wb") as handle:
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", *args], stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True))

    def __enter__(self) -> LocalCluster:
        info = self.folder / "scheduler.json"
        self._start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(info), log="scheduler.log")
        self.address = self._wait(lambda: json.loads(info.read_text())["address"])
        for name in ("w1", "w2"):
            self._start("worker", self.address, "--nthreads", "1", "--no-nanny",
                        "--no-dashboard", "--name", name, log=f"{name}.log")
        self._wait(lambda: all("Registered to" in (self.folder / f"{n}.log").read_text()
                               for n in ("w1", "w2")) or "")
        return self

    def _wait(self, probe: object) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                found = probe()  # type: ignore[operator]
            except (OSError, ValueError, KeyError):
                found = ""
            if found:
                return str(found)
            time.sleep(0.2)
        raise RuntimeError("the local Dask cluster did not start")

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def bench_corpus(corpus: str, wheel: Path, work: Path, runs: int) -> dict[str, object]:
    src = work / corpus / "src"
    files = base.extract(wheel, base.CORPORA[corpus], src)
    cache = work / corpus / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    build = [sys.executable, "-m", "pipeline", "build", str(src), "--jobs", "2"]

    # Each build writes a fresh output of its own, ``runs/N/out``: the same name and the same
    # place towards the sources (a CI runner's workspace), so pages link the sources alike and
    # the cache's pages fit every build. All are removed at the end: removing one just before
    # the next build leaves thousands of just-deleted inodes that ext4's allocator then scans
    # past on every file the build creates (``bench.py`` does the same for its cold builds).
    outputs = work / corpus / "runs"
    shutil.rmtree(outputs, ignore_errors=True)
    made: list[Path] = []

    def cold(label: str, *extra: str) -> tuple[float, float, str]:
        out = outputs / str(len(made)) / "out"
        made.append(out)
        fresh_clone_mtimes(src)
        result = timed([*build, "--output", str(out), *extra], work)
        counts = base.summary(result[2])
        print(f"  {label}: {result[0]:.2f} s wall, {result[1]:.2f} s CPU, "
              f"extracted {counts.get('files extracted', 0):,.0f}", file=sys.stderr, flush=True)
        return result

    print(f"{corpus}: {files:,} files; warming the shared cache", file=sys.stderr)
    warm_wall, _cpu, warm_err = cold("cold, cache written", "--cache", str(cache),
                                     "--cache-mode", "readwrite")
    state_bytes = footprint(made[0] / ".pipeline")
    source_bytes = footprint(src)
    text_bytes = documented_bytes(src, made[0])
    extracted = base.summary(warm_err).get("files extracted", 0)
    plain: list[tuple[float, float]] = []
    cached: list[tuple[float, float]] = []
    dask: list[tuple[float, float]] = []
    has_dask = shutil.which("dask", path=str(Path(sys.executable).parent)) is not None
    cluster = LocalCluster(work / corpus) if has_dask else None
    if cluster is not None:
        cluster.__enter__()
    try:
        for _ in range(runs):  # paired: the three kinds in turn, so drift hits them alike
            plain.append(cold("cold, no cache", )[:2])
            cached.append(cold("cold, warm cache", "--cache", str(cache))[:2])
            if cluster is not None:
                dask.append(cold("cold, Dask 2 workers", "--scheduler", cluster.address)[:2])
    finally:
        if cluster is not None:
            cluster.__exit__()
    shutil.rmtree(outputs, ignore_errors=True)
    ratios_cache = [c[0] / p[0] for c, p in zip(cached, plain, strict=True)]
    ratios_dask = [d[0] / p[0] for d, p in zip(dask, plain, strict=True)]
    plain_wall = statistics.median(p[0] for p in plain)
    plain_cpu = statistics.median(p[1] for p in plain)
    cached_cpu = statistics.median(c[1] for c in cached)
    result: dict[str, object] = {
        "corpus": corpus, "files": files, "extracted": extracted,
        "cold_cache_write_wall": warm_wall,
        "cold_wall": [p[0] for p in plain], "cold_cpu": [p[1] for p in plain],
        "warm_cache_wall": [c[0] for c in cached], "warm_cache_cpu": [c[1] for c in cached],
        "dask_wall": [d[0] for d in dask], "dask_client_cpu": [d[1] for d in dask],
        "ratio_cache": ratios_cache, "ratio_dask": ratios_dask,
        "state_content_bytes": state_bytes[0], "state_disk_bytes": state_bytes[1],
        "source_content_bytes": source_bytes[0], "source_disk_bytes": source_bytes[1],
        "text_source_bytes": text_bytes,
        # the scaling model's inputs, from CPU time (wall time is only as good as the
        # machine is idle): core-seconds of one extraction (what a warm cache saves), and
        # of the rest of a cold build per file (discovery, link, render: the local part)
        "extract_core_seconds_per_extraction": (plain_cpu - cached_cpu) / max(extracted, 1),
        "local_core_seconds_per_file": cached_cpu / max(files, 1),
    }
    if dask:
        dask_wall = statistics.median(d[0] for d in dask)
        result["dask_overhead_seconds_per_task"] = 2 * (dask_wall - plain_wall) / max(
            extracted, 1)
    return result


def report(result: dict[str, object]) -> list[str]:
    def med(key: str) -> float:
        values = result[key]
        assert isinstance(values, list)
        return statistics.median(values) if values else float("nan")

    # Against the text sources (the files with pages), not the whole folder: the torch
    # wheel's shared libraries are most of its bytes and have no state.
    state_ratio = int(result["state_content_bytes"]) / int(result["text_source_bytes"])  # type: ignore[call-overload]
    lines = [
        f"{result['corpus']}: {result['files']:,} files, {result['extracted']:,.0f} extracted",
        f"  cold, no cache        {med('cold_wall'):8.2f} s  (CPU {med('cold_cpu'):.2f} s)",
        f"  cold, warm cache      {med('warm_cache_wall'):8.2f} s  ratio {med('ratio_cache'):.3f}"
        f"  target <= {TARGET_CACHE}: {'ok' if med('ratio_cache') <= TARGET_CACHE else 'FAIL'}",
    ]
    if result["dask_wall"]:
        lines.append(f"  cold, Dask 2 workers  {med('dask_wall'):8.2f} s  ratio "
                     f"{med('ratio_dask'):.3f}  target <= {TARGET_DASK}: "
                     f"{'ok' if med('ratio_dask') <= TARGET_DASK else 'FAIL'}")
    lines.append(f"  state {int(result['state_content_bytes']) / 1e6:.1f} MB "  # type: ignore[call-overload]
                 f"({int(result['state_disk_bytes']) / 1e6:.1f} MB on disk) for "  # type: ignore[call-overload]
                 f"{int(result['text_source_bytes']) / 1e6:.1f} MB of text sources "  # type: ignore[call-overload]
                 f"({int(result['source_content_bytes']) / 1e6:.1f} MB in the folder): "  # type: ignore[call-overload]
                 f"{state_ratio:.2f} x, target <= {TARGET_STATE}: "
                 f"{'ok' if state_ratio <= TARGET_STATE else 'FAIL'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=("small", "torch"), default="small")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the corpus, cache and outputs go (default: a temporary "
                             "folder, removed)")
    parser.add_argument("--runs", type=int, default=3, help="paired runs (medians reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures")
    args = parser.parse_args()
    wheel = base.find_wheel()
    if wheel is None:
        print("scaleout: no torch-*.whl found (set BENCH_TORCH_WHEEL); skipping",
              file=sys.stderr)
        return 0
    base.compile_package()
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="pipeline-scaleout-"))).resolve()
    try:
        result = bench_corpus(args.corpus, wheel, work, args.runs)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(report(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
