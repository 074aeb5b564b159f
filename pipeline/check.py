"""``check``: is the output what a build would leave? Never writes to the output.

The fast way asks the build state: every task's own up-to-date test (sources' digests,
stamps, each page's recorded size and mtime, no stray file) is evaluated as a build would,
without running anything and without saving doit's database. When every task would be
skipped, a build would write nothing: the output is up to date, at the cost of a no-op
build. Otherwise, and always with ``full``, the differences are listed exactly by building
into a scratch folder and comparing: seeded with the output itself (pages hard-linked,
state copied, so only the out-of-date work runs), or, with ``full``, with only the
output's records (every page rendered again).

A check holds the output's lock, as a build does (a check while a build of the same output
runs exits 2, and the other way round), and removes the scratch folders a killed check left
beside the output (``.pipeline-check-NAME-*``) before it makes its own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline import layout, runstate, state
from pipeline.config import Config
from pipeline.discover import scan_tree
from pipeline.graph import Graph, build_graph
from pipeline.overrides import RefreshingHashChecker, doit_tasks
from pipeline.stateio import MAGIC, pack, unpack
from pipeline.tasks import task_creators, task_name

# Tasks whose running writes no page: the run's bookkeeping and the state folder's pruning.
NO_PAGES = frozenset({task_name("prune", "state"), task_name("seal"), task_name("failures")})
# Under the state folder, files that are only ever replaced whole (never written in place)
# and may be shared with a scratch copy by hard links; the rest is copied.
SHARED_STATE = ("records/", "superseded/")


@dataclass(frozen=True, slots=True)
class Differences:
    """What a build would change in the output, by page path under it."""

    pages: int  # pages a build leaves
    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    orphan: tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return not (self.stale or self.missing or self.orphan)


def check_output(config: Config, full: bool, run: Callable[[Graph], Any]) -> Differences:
    """The differences between the output and what a build would leave; ``run`` builds a
    graph (doit, quietly)."""
    output = Path(config.output)
    if not full and os.path.isfile(runstate.database(str(output))):
        from pipeline import quick

        scan = scan_tree(config)
        verdict = quick.check(config, scan)
        if verdict.report is not None and verdict.saved is not None:  # nothing moved
            return Differences(pages=quick.page_count(verdict.saved))
        graph = build_graph(config, save_cache=False, scan=scan)
        # only sources moved: the pages were just compared, as a build trusts them
        state.trust_outputs(graph.root, quick.trusted(graph, verdict))
        try:
            first = would_run(graph)
        finally:
            state.trust_outputs(graph.root, False)
        if first is None:
            return Differences(pages=sum(1 for _ in state.expected_pages(graph)))
    parent = output.parent if os.access(output.parent, os.W_OK) else None
    if parent is not None:
        remove_stale_scratch(output)
    with tempfile.TemporaryDirectory(prefix=scratch_prefix(output),
                                     dir=parent) as scratch_parent:
        scratch = Path(scratch_parent) / output.name
        if full:
            _link_records(output, scratch)
        else:
            _seed(output, scratch)
        dirty = full or not runstate.is_sealed(str(output))
        run(build_graph(config, root=str(scratch), dirty=dirty, save_cache=False))
        return compare(scratch, output)


def scratch_prefix(output: Path) -> str:
    """Scratch folders of a check of ``output`` are named ``.pipeline-check-NAME-*`` beside
    it (on its file system, so pages can be hard-linked)."""
    return f".pipeline-check-{output.name}-"


def remove_stale_scratch(output: Path) -> None:
    """Remove what a killed check of ``output`` left beside it. The check holds the
    output's lock, so no other check or build of it is running: every such folder is
    stale (checks of other outputs name theirs after their own output)."""
    prefix = scratch_prefix(output)
    try:
        entries = list(os.scandir(output.parent))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def would_run(graph: Graph) -> str | None:
    """The first task that writes pages and that a build would run, as doit would decide it
    (None: a build would write no page). doit's database is read, never saved."""
    from doit.dependency import Dependency

    from pipeline.statedb import StateDB

    tasks = doit_tasks(task_creators(graph))
    by_name = {task.name: task for task in tasks}
    database = Dependency(StateDB, runstate.database(graph.root),
                          checker_cls=RefreshingHashChecker)
    for task in tasks:
        if task.name in NO_PAGES or not task.actions:
            continue
        if database.get_status(task, by_name).status != "up-to-date":
            return str(task.name)
    return None


def compare(expected_root: Path, output: Path) -> Differences:
    """Pages of a scratch build against the output's: a page the scratch build did not
    write is the output's own file (a hard link), the same by construction."""
    expected, actual = page_files(expected_root), page_files(output)
    stale = sorted(p for p in expected.keys() & actual.keys()
                   if expected[p] != actual[p]
                   and (expected_root / p).read_bytes() != (output / p).read_bytes())
    return Differences(pages=len(expected), stale=tuple(stale),
                       missing=tuple(sorted(expected.keys() - actual.keys())),
                       orphan=tuple(sorted(actual.keys() - expected.keys())))


def page_files(root: Path) -> dict[str, tuple[int, int]]:
    """Page path -> (device, inode) of every file under ``root`` outside the state folder."""
    pages: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return pages
    top = str(root)
    for directory, dirs, files in os.walk(top):
        rel = "" if directory == top else os.path.relpath(directory, top) + "/"
        if not rel:
            dirs[:] = [d for d in dirs if d != layout.STATE]
        for name in files:
            info = os.lstat(f"{directory}/{name}")
            pages[rel + name] = (info.st_dev, info.st_ino)
    return pages


def _seed(output: Path, scratch: Path) -> None:
    """Make ``scratch`` the output as it is: pages and replace-only state hard-linked (a
    build replaces such files, never writes into them), other state copied, and doit's
    database and its journal with the output's paths in them renamed to the scratch's. The
    lock and the run mark stay behind."""
    top, state = str(output), layout.STATE + "/"
    old, new = (orjson.dumps(str(p) + "/")[:-1] for p in (output, scratch))
    scratch.mkdir(parents=True)
    if not output.is_dir():
        return
    for directory, dirs, files in os.walk(top):
        rel = "" if directory == top else os.path.relpath(directory, top) + "/"
        for name in dirs:
            os.mkdir(scratch / (rel + name))
        for name in files:
            path = rel + name
            source, target = f"{directory}/{name}", scratch / path
            if path in (state + "lock", state + "clean") or os.path.islink(source):
                continue
            if path in (state + "doit.json", state + "journal"):
                with open(source, "rb") as handle:
                    data = handle.read()
                renamed = unpack(data).replace(old, new)
                target.write_bytes(pack(renamed) if data.startswith(MAGIC) else renamed)
            elif path.startswith(state) and not path[len(state):].startswith(SHARED_STATE):
                shutil.copy2(source, target)
            else:
                _link(source, target)


def _link(source: str, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_records(output: Path, scratch: Path) -> None:
    """Give a scratch build only the output's records (hard links), which serve as its
    extraction cache: what is unchanged is not extracted again."""
    records = output / layout.STATE / "records"
    target = scratch / layout.STATE / "records"
    target.mkdir(parents=True, exist_ok=True)
    if not records.is_dir():
        return
    for entry in records.iterdir():
        if entry.is_file() and not entry.is_symlink():
            _link(str(entry), target / entry.name)


def report(differences: Differences, output: str) -> int:
    """Print the differences (one line each, on stdout) and a summary; the exit code."""
    for label, paths in (("stale", differences.stale), ("missing", differences.missing),
                         ("orphan", differences.orphan)):
        for path in paths:
            print(f"{label}: {path}")
    if not differences.up_to_date:
        print(f"check: {len(differences.stale)} stale, {len(differences.missing)} missing, "
              f"{len(differences.orphan)} orphan pages", file=sys.stderr)
        return 1
    print(f"check: {output} is up to date ({differences.pages:,} pages)", file=sys.stderr)
    return 0
