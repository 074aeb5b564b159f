"""Benchmark `python -m pipeline build` on PyTorch-wheel corpora against the targets in
bench/README.md."""

from __future__ import annotations

import argparse
import ast
import compileall
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.layout import source_of

CORPORA = {"small": ("torch/nn/", "torch/fx/", "torch/include/c10/"), "torch": ("torch/",)}
WHEEL_ROOTS = ("/opt/wheels", "/opt", "~/.cache/pip", "~/wheels", "/tmp")
EDIT_FILE = "torch/nn/modules/linear.py"
MIB = 1024 * 1024
GIB_MIB = 1024.0
# The torch wheel's targets, in seconds: a no-op (also once every source was touched and
# hashed again), and a one-file edit.
TORCH_NOOP = 0.6
TORCH_TOUCHED = 2.0
TORCH_EDIT = 0.8
PARSE_SCRIPT = """\
import json, sys, time, libcst
paths = open(sys.argv[1], encoding="utf-8").read().split("\\n")
start, failed = time.perf_counter(), 0
for path in paths:
    try:
        libcst.parse_module(open(path, "rb").read().decode("utf-8"))
    except Exception:
        failed += 1
print(json.dumps({"seconds": time.perf_counter() - start, "failed": failed}))
"""


@dataclass
class Run:
    """One child process: wall seconds, largest single-process RSS, exit code and output."""

    seconds: float
    rss_mib: float
    code: int
    stdout: str
    stderr: str


@dataclass
class Row:
    """One line of the result table."""

    figure: str
    times: list[float]
    rss_mib: float
    target: float | None = None  # seconds (MiB for the "peak" row)
    verdict: str = ""
    info: str = ""
    errors: int = 0  # builds of this figure whose tasks raised

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


def run(argv: list[str], cwd: Path) -> Run:
    """Run one child and measure it.

    Peak RSS comes from ``os.wait4`` on the child. Linux folds every reaped descendant's
    peak into its parent's ``cmaxrss``, and the rusage wait4 returns reports
    max(own maxrss, cmaxrss): the RSS of the LARGEST SINGLE process of the child's tree,
    never a sum. The ``--jobs 2`` doit workers are grandchildren that doit joins, so they
    are covered. ``getrusage(RUSAGE_CHILDREN)`` here would give the same kind of maximum
    but over every child this script ever ran, so it cannot tell figures apart.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        # A wide COLUMNS keeps rich from wrapping the reporter's one-line-per-task output.
        env = os.environ | {"COLUMNS": "100000"}
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # files, not pipes: no deadlock on output
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def find_wheel() -> Path | None:
    """BENCH_TORCH_WHEEL, else the newest ``torch-*.whl`` under a few likely roots."""
    if os.environ.get("BENCH_TORCH_WHEEL"):
        path = Path(os.environ["BENCH_TORCH_WHEEL"])
        return path if path.is_file() else None
    found: list[Path] = []
    for root in (Path(r).expanduser() for r in WHEEL_ROOTS):
        if not root.is_dir():
            continue
        base = len(root.parts)
        for directory, dirs, files in os.walk(root):
            if len(Path(directory).parts) - base >= 4:  # a few levels, not the whole disk
                dirs[:] = []
            found += [Path(directory) / f for f in files if fnmatch.fnmatch(f, "torch-*.whl")]
        if found:
            break
    return sorted(found)[-1] if found else None


def extract(wheel: Path, prefixes: tuple[str, ...], src: Path) -> int:
    """Unzip the members under ``prefixes`` into ``src`` (a fresh tree); returns the count."""
    shutil.rmtree(src, ignore_errors=True)
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.is_dir() and info.filename.startswith(prefixes):
                archive.extract(info, src)
                count += 1
    return count


def build(src: Path, out: Path, cwd: Path) -> tuple[Run, dict[str, float]]:
    """One build. Exit 1 is accepted (it also means "some files failed"); task errors
    (``error:`` lines of the reporter) are counted so the figure is flagged, not trusted."""
    result = run([sys.executable, "-m", "pipeline", "build", str(src), "--output", str(out),
                  "--jobs", "2"], cwd)
    if result.code not in (0, 1):
        sys.exit(f"build failed ({result.code}):\n{result.stderr[-3000:]}")
    counts = summary(result.stderr)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    counts["errors"] = len(errors)
    if errors:
        print(f"bench: build error: {errors[0][:300]}", file=sys.stderr)
    return result, counts


def compile_package() -> None:
    """Byte-compile the pipeline package, as pip does for a regular install: an editable
    install leaves that to the first import, and PYTHONDONTWRITEBYTECODE (set on some
    machines) stops even that, so every build would compile the package again while the
    floor's doit and rich load compiled code."""
    spec = importlib.util.find_spec("pipeline")
    for root in list(spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(root, quiet=1)


def code_stamp() -> str:
    """Digest of the pipeline package's file names and mtimes: other people may edit the
    (editable-installed) code while a long benchmark runs, which invalidates it."""
    spec = importlib.util.find_spec("pipeline")
    roots = list(spec.submodule_search_locations or []) if spec else []
    stamps = sorted((str(p), p.stat().st_mtime_ns) for root in roots
                    for p in Path(root).rglob("*.py"))
    return hashlib.sha256(repr(stamps).encode()).hexdigest()[:12]


def summary(stderr: str) -> dict[str, float]:
    """Counts of the reporter's ``summary:`` line (its plain, non-terminal form)."""
    line = next((ln for ln in stderr.splitlines() if ln.startswith("summary: ")), "")
    counts: dict[str, float] = {}
    for part in line[len("summary: "):].split("; "):
        key, _, value = part.removesuffix(" s").rpartition(" ")
        if key:
            counts[key] = float(value.replace(",", ""))
    return counts


def tasks_ran(stderr: str) -> list[str]:
    """The non-terminal reporter prints one ``stage:name[: counts]`` line per executed task."""
    return [ln for ln in stderr.splitlines()
            if re.match(r"(extract|link|render|folder|keywords|prune)(:|$)", ln)]


def snapshot(out: Path) -> dict[str, str]:
    """Hash of every page under ``out``, build state (``.pipeline``) excluded."""
    pages: dict[str, str] = {}
    for directory, dirs, files in os.walk(out):
        dirs[:] = sorted(d for d in dirs if d != ".pipeline")
        for name in files:
            path = Path(directory) / name
            pages[path.relative_to(out).as_posix()] = hashlib.blake2b(path.read_bytes()).hexdigest()
    return pages


def literal_span(data: bytes) -> tuple[int, int, int]:
    """(byte offset, byte length, value) of the first int literal inside a function body."""
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    for func in ast.walk(ast.parse(data)):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in (n for stmt in func.body for n in ast.walk(stmt)):
                if isinstance(node, ast.Constant) and type(node.value) is int:
                    assert node.end_col_offset is not None  # ast columns are UTF-8 bytes
                    offset = starts[node.lineno - 1] + node.col_offset
                    return offset, node.end_col_offset - node.col_offset, node.value
    raise SystemExit("no int literal in a function body of the edit file")


def row(figure: str, runs: list[Run], info: str = "") -> Row:
    return Row(figure, [r.seconds for r in runs], max(r.rss_mib for r in runs), info=info)


def judge(item: Row, target: float | None, extra_ok: bool = True) -> Row:
    item.target = target
    value = item.rss_mib if item.figure == "peak" else item.median
    if item.errors:
        item.verdict = "ERR"
    elif target is not None:
        item.verdict = "PASS" if value <= target and extra_ok else "FAIL"
    return item


def bench_corpus(name: str, wheel: Path, workdir: Path, runs: int, cold_runs: int) -> list[Row]:
    """Every figure for one corpus, measured back to back on this machine."""
    base = workdir / name
    src = base / "src"
    base.mkdir(parents=True, exist_ok=True)
    stamp_before = code_stamp()
    for old in base.glob("cold-*"):
        shutil.rmtree(old, ignore_errors=True)
    print(f"[{name}] extracting {', '.join(CORPORA[name])} from {wheel.name} ...", file=sys.stderr)
    files = extract(wheel, CORPORA[name], src)
    sources = sorted(p for p in src.rglob("*") if p.is_file())
    pyfiles = [p for p in sources if p.suffix == ".py"]
    listing = base / "pyfiles.txt"
    listing.write_text("\n".join(map(str, pyfiles)), encoding="utf-8")
    edited = src / EDIT_FILE

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

    log(f"{files} files, {len(pyfiles)} .py; floors ...")
    parse_runs = [run([sys.executable, "-c", PARSE_SCRIPT, str(listing)], base)
                  for _ in range(cold_runs)]
    parsed = [json.loads(r.stdout) for r in parse_runs]
    floor_parse = Row("floor_parse", [p["seconds"] for p in parsed],
                      max(r.rss_mib for r in parse_runs),
                      info=f"{len(pyfiles)} files, {parsed[0]['failed']} failed; in-process loop")
    floor_import = row("floor_import", [run([sys.executable, "-c", "import doit, rich.progress"],
                                            base) for _ in range(5)], "5 runs")
    edit_code = f"import libcst; libcst.parse_module(open({str(edited)!r}).read())"
    floor_edit = row("floor_edit", [run([sys.executable, "-c", edit_code], base)
                                    for _ in range(runs)], EDIT_FILE)

    # Each cold build gets a folder of its own, all removed at the end: removing one output
    # before the next build leaves thousands of just-deleted inodes, which ext4's inode
    # allocator then scans past on every file the build creates (seconds of system time; see
    # bench/README.md), a cost of the benchmark, not of a cold build.
    cold = []
    for i in range(cold_runs):
        log(f"cold build {i + 1}/{cold_runs} ...")
        out = base / f"cold-{i + 1}" / "out"
        out.parent.mkdir()
        cold.append(build(src, out, base))
    noop = [build(src, out, base) for _ in range(runs)]
    checks = [run([sys.executable, "-m", "pipeline", "check", str(src), "--output", str(out)],
                  base) for _ in range(runs)]
    if any(r.code != 0 for r in checks):  # the output was just built: it must be up to date
        sys.exit(f"check found the output not up to date:\n{checks[-1].stderr[-3000:]}")
    first, second = [], []
    for _ in range(runs):
        stamp = time.time_ns()
        for path in sources:
            os.utime(path, ns=(stamp, stamp))
        first.append(build(src, out, base))
        second.append(build(src, out, base))

    log("edit builds ...")
    text = edited.read_bytes()
    offset, length, value = literal_span(text)
    edits, changed_sets = [], []
    for i in range(runs):
        before = snapshot(out)
        edited.write_bytes(text[:offset] + str(value + i + 1).encode() + text[offset + length:])
        edits.append(build(src, out, base))
        after = snapshot(out)
        changed_sets.append(sorted(p for p in before.keys() | after.keys()
                                   if before.get(p) != after.get(p)))
    grown = []  # lines appended: the summary changes, so each layer's link runs (in part)
    for i in range(runs):
        edited.write_bytes(text + b"".join(b"# line %d\n" % k for k in range(i + 1)))
        grown.append(build(src, out, base))
    edited.write_bytes(text)
    build(src, out, base)
    rel = edited.relative_to(src).as_posix()
    foreign = sorted({p for s in changed_sets for p in s
                      if source_of(p, out.name, page=True) != rel})
    changed = changed_sets[-1]

    def build_row(figure: str, builds: list[tuple[Run, dict[str, float]]], extra: str = "") -> Row:
        """Timings of a figure's builds; counts of the last one (tasks may include ``seal``)."""
        last = builds[-1][1]
        item = row(figure, [r for r, _ in builds], ", ".join(
            f"{label} {int(last.get(key, -1))}" for label, key in (
                ("tasks", "tasks run"), ("extracted", "files extracted"),
                ("written", "pages written"), ("failed files", "files with failures"))) + extra)
        item.errors = sum(1 for _, counts in builds if counts["errors"])
        if item.errors:
            item.info += f"; {item.errors} BUILDS WITH TASK ERRORS"
        return item

    rows = [floor_parse, floor_import, floor_edit, build_row("cold", cold), build_row("noop", noop),
            row("check", checks, checks[-1].stderr.strip().splitlines()[-1]),
            build_row("noop_touched_1", first), build_row("noop_touched_2", second),
            build_row("edit", edits, f"; {len(changed)} pages changed: {', '.join(changed)}"
                      + (f"; FOREIGN: {', '.join(foreign)}" if foreign else "")),
            build_row("edit_lines", grown, "; lines appended to the same file")]
    builds = [r for group in (cold, noop, first, second, edits, grown) for r, _ in group]
    rows.append(Row("peak", [], max(r.rss_mib for r in builds + checks),
                    info="largest process, any build or check"))
    for label, group in (("noop", noop), ("noop_touched_2", second)):
        for r, _ in group[-1:]:
            # prune:pages (like seal and failures, which print nothing) always runs by design
            ran = [t for t in tasks_ran(r.stderr) if not t.startswith("docs:prune:pages")]
            if ran:
                log(f"anomaly: {label} ran {len(ran)} tasks: {ran[:10]}")
    failures = [ln for ln in cold[-1][0].stderr.splitlines() if ln.startswith("failed: ")]
    if failures:  # e.g. an extractor not written yet: the cold figure is then too cheap
        log(f"warning: cold build reported {len(failures)} failures, first: {failures[0]}")
    if code_stamp() != stamp_before:
        log("WARNING: the pipeline's code changed during this benchmark; figures are mixed")
        rows.append(Row("code_changed", [], 0.0, verdict="ERR", errors=1,
                        info="pipeline/*.py modified while benchmarking: rerun"))
    for folder in base.glob("cold-*"):  # the noop, touch and edit builds used the last
        shutil.rmtree(folder, ignore_errors=True)
    return target_rows(name, rows, bool(changed) and not foreign)


def target_rows(corpus: str, rows: list[Row], edit_minimal: bool) -> list[Row]:
    """Attach the targets of bench/README.md: the small corpus's against its floors, the
    torch wheel's in seconds; on both, an up-to-date ``check`` within twice the no-op."""
    by = {r.figure: r for r in rows}
    if corpus == "small":
        judge(by["cold"], 1.0 * by["floor_parse"].median)
        noop_budget = 2 * by["floor_import"].median
        for figure in ("noop", "noop_touched_1", "noop_touched_2"):
            judge(by[figure], noop_budget)
        judge(by["edit"], by["noop"].median + 2 * by["floor_edit"].median, edit_minimal)
        judge(by["edit_lines"], by["noop"].median + 2 * by["floor_edit"].median)
    else:
        judge(by["noop"], TORCH_NOOP)
        judge(by["noop_touched_1"], TORCH_TOUCHED)  # the run that hashes every source again
        judge(by["noop_touched_2"], TORCH_NOOP)
        judge(by["edit"], TORCH_EDIT, edit_minimal)
        judge(by["edit_lines"], TORCH_EDIT)
    judge(by["check"], 2 * by["noop"].median)
    judge(by["peak"], GIB_MIB)
    return rows


def table(corpus: str, rows: list[Row]) -> str:
    """A fixed-width table: figure, median, min, max, peak RSS, target, ratio, verdict, info."""
    lines = [f"corpus: {corpus}",
             f"{'figure':<15} {'median s':>9} {'min':>8} {'max':>8} {'RSS MiB':>8} "
             f"{'target':>8} {'ratio':>6} {'ok':<4}  info"]
    for r in rows:
        is_peak = r.figure == "peak"
        nums = (f"{r.median:.3f}", f"{min(r.times):.3f}", f"{max(r.times):.3f}") if r.times \
            else ("", "", "")
        value = r.rss_mib if is_peak else r.median
        target = "" if r.target is None else f"{r.target:.{0 if is_peak else 3}f}"
        ratio = "" if r.target is None else f"{value / r.target:.2f}"
        lines.append(f"{r.figure:<15} {nums[0]:>9} {nums[1]:>8} {nums[2]:>8} {r.rss_mib:>8.0f} "
                     f"{target:>8} {ratio:>6} {r.verdict:<4}  {r.info}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=("small", "torch", "both"), default="small")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where corpora and outputs go (default: a temporary folder, removed)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--cold-runs", type=int, default=None,
                        help="cold builds and floor_parse runs (default: --runs; 1 for torch)")
    parser.add_argument("--json", type=Path, default=None, help="also write the tables as JSON")
    args = parser.parse_args()
    wheel = find_wheel()
    if wheel is None:
        print("bench: no torch-*.whl found (set BENCH_TORCH_WHEEL); skipping", file=sys.stderr)
        return 0
    compile_package()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    results: dict[str, list[dict[str, object]]] = {}
    try:
        for corpus in ("small", "torch") if args.corpus == "both" else (args.corpus,):
            cold_runs = args.cold_runs or (args.runs if corpus == "small" else 1)
            rows = bench_corpus(corpus, wheel, workdir.resolve(), args.runs, cold_runs)
            print(table(corpus, rows), flush=True)
            results[corpus] = [asdict(r) | {"median": r.median} for r in rows]
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"wheel": str(wheel), "cpus": os.cpu_count(),
                                         "results": results}, indent=2), encoding="utf-8")
    failed = any(r["verdict"] in ("FAIL", "ERR") for rows in results.values() for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
