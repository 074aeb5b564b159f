"""One build's run of doit once discovery is done, shared by ``build`` and ``watch``.

When the quick check (:mod:`pipeline.quick`) found the outputs as the last finished run
left them and only sources moved, doit gets the tasks of the chunks the edit reaches
(its focus), in this process when they are few; a link that rewrites the context of a
chunk outside the focus is followed by a run of the whole graph, as any other build.
Otherwise the whole graph runs. A run that leaves every task done or up to date is
recorded for the next quick check, and the record is returned: ``watch`` keeps it in
memory as the verdict of its next rebuild.
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

from pipeline import runstate, state
from pipeline.config import Config
from pipeline.graph import Graph

if TYPE_CHECKING:
    from pipeline.discover import Scan
    from pipeline.quick import Record, Verdict
    from pipeline.report import Reporter

# An edit whose focus is at most this many chunks runs its tasks in this process: they form
# a chain (extract, render, the next layer's extract...), so a second worker would wait,
# and each worker would import the stage code again. Same bytes (invariant 4).
SERIAL_FOCUS = 8
# ... unless it changes a symbol index (:func:`moves_indexes`), checked for at most this
# many edited files: the folder pages above it and ``keywords.md`` then have to be rendered
# again, and they can run side by side.
PREVIEWED = 8


@dataclass(frozen=True, slots=True)
class Done:
    """What a build's run of doit left."""

    code: int  # doit's exit code: 0 when every task is done or up to date
    summary: dict[str, Any]  # the reporter's summary of the last run (empty: none ran)
    record: Record | None  # the quick record it left (None: none could be made)

    @property
    def failed(self) -> bool:
        """Some files failed or a task broke (the exit code 1 of a build)."""
        return self.code != 0 or bool(self.summary.get("failed") or self.summary.get("errors"))


def doit_namespace(graph: Graph, reporter: type[Reporter],
                   verdict_task: bool = True) -> dict[str, Any]:
    """Task creators and DOIT_CONFIG. ``verdict_task``: end with the ``failures`` task,
    which fails doit's run (exit 1) when files failed; ``python -m pipeline`` takes that
    verdict from the reporter's summary instead, so a failing tree's no-op build starts no
    worker process just to fail."""
    from pipeline.overrides import RefreshingHashChecker
    from pipeline.tasks import NAMESPACE, STAGES, task_creators, task_name

    namespace: dict[str, Any] = dict(task_creators(graph))
    namespace["DOIT_CONFIG"] = {
        "dep_file": runstate.database(graph.root),
        "backend": "pipeline",
        "check_file_uptodate": RefreshingHashChecker,
        "reporter": reporter,
        "default_tasks": [NAMESPACE] if verdict_task
        else [task_name(stage) for stage in STAGES if stage != "failures"],
    }
    return namespace


def run_doit(namespace: dict[str, Any], argv: list[str]) -> int:
    import doit.plugin
    from doit.doit_cmd import DoitMain

    from pipeline import runner
    from pipeline.overrides import GraphLoader

    runner.install()
    doit.plugin.entry_points_impl = _doit_entry_points
    return int(DoitMain(GraphLoader(namespace), config_filenames=()).run(argv))


@cache
def _doit_entry_points() -> Callable[..., Any]:
    """doit's plugin lookup (``doit.plugin.entry_points_impl``, its seam for this), from one
    reading of the installed distributions' entry points: doit asks for four groups, and
    each ``importlib.metadata.entry_points(group=...)`` reads them all again (17 ms in all
    with 121 distributions installed, against 6 ms once)."""
    from importlib.metadata import entry_points

    every = entry_points()

    def select(group: str) -> Any:
        return every.select(group=group)

    return select


def run_argv(config: Config) -> list[str]:
    if config.jobs > 1:
        return ["run", "-n", str(config.jobs), "-P", "process"]
    return ["run"]


def discovered(graph: Graph) -> dict[str, int]:
    """What discovery found, as the summary names it, in the order it prints it."""
    layers = Counter(item.layer for item in graph.inventory.inputs)
    counts = {"source files documented": layers.get(1, 0)}
    for layer in range(2, graph.config.depth + 1):
        suffix = "" if graph.config.depth == 2 else f" (layer {layer})"
        counts[f"pages of pages documented{suffix}"] = layers.get(layer, 0)
    counts["binary files skipped"] = len(graph.inventory.binaries)
    counts["symlinks not followed"] = len(graph.inventory.skipped_links)
    counts["special files skipped"] = len(graph.inventory.special)
    if graph.inventory.unnamed:  # rare: said only when met
        counts["names not UTF-8 skipped"] = len(graph.inventory.unnamed)
    if graph.inventory.too_long:
        counts["names too long for a page skipped"] = len(graph.inventory.too_long)
    return counts


@contextmanager
def collector_paused() -> Iterator[bool]:
    """The garbage collector off while a build's bookkeeping is read and compared (the
    quick record, discovery, the graph, the next record: hundreds of thousands of
    long-lived objects, none in a cycle, which every full collection would walk again);
    :func:`run_build` freezes them out of its sight while tasks run. Yields whether it was
    on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield collecting
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()


def run_build(graph: Graph, scan: Scan, verdict: Verdict, *, strict: bool = False,
              stream: TextIO | None = None, collecting: bool = False,
              options: list[str] | None = None) -> Done:
    """Run doit on ``graph`` as the quick check's ``verdict`` allows, then record what the
    run left. ``stream``: where the summary goes (standard error when None);
    ``collecting``: the garbage collector was on (:func:`collector_paused`); ``options``:
    doit's ``run`` options to use instead of the configured jobs (``doit -n 2``)."""
    from pipeline import quick
    from pipeline.report import reporter_for

    counts = discovered(graph)
    argv = ["run", *options] if options else run_argv(graph.config)
    plannable = quick.plannable(graph, verdict)
    # an edit's focused run fetches one file's record at most: no request on the quick path
    graph, warnings = (graph, {}) if plannable else usable_cache(graph)
    # An edit is planned while the outputs are still being checked (quick.Deferred): its
    # focus, and the edited files extracted (moves_indexes), which the tasks then take.
    serial, focus = False, None
    if plannable:
        focus = quick.focus(graph, verdict, scan)
        # a few tasks in a chain: worker processes would only wait
        serial = len(focus) <= SERIAL_FOCUS and not (
            moves_indexes(graph, verdict, scan) and len(argv) > 1)
    trusted = focus is not None and verdict.outputs_intact()
    if trusted:
        graph = replace(graph, focus=focus)
        if serial:
            argv = ["run"]
    reporter = reporter_for(graph.root, graph.config.depth, counts, strict, stream,
                            deferred=trusted, warnings=warnings)
    state.trust_outputs(graph.root, trusted)
    gc.freeze()
    if collecting and (not trusted or argv != ["run"]):
        # The whole graph's tasks, or workers: on between the actions, each of which pauses
        # it (tasks.collector_paused_for). A short chain keeps it off: the collection after
        # each action would walk all the modules the chain imports (an edit 30 ms slower).
        gc.enable()
    ahead = not trusted and ship_ahead(graph)
    try:
        code = run_doit(doit_namespace(graph, reporter, verdict_task=False), argv)
        if code == 0 and trusted and quick.contexts_moved(graph, verdict):
            # a link wrote the context of a chunk whose tasks were not declared: the
            # whole graph, as any other build
            first = reporter.last
            graph = replace(graph, focus=None)
            reporter = reporter_for(graph.root, graph.config.depth, counts, strict, stream,
                                    carried=first)
            state.trust_outputs(graph.root, False)
            trusted = False
            code = run_doit(doit_namespace(graph, reporter, verdict_task=False), argv)
        elif reporter.last is not None and reporter.deferred:
            reporter.last.print_summary()
    finally:
        state.trust_outputs(graph.root, False)
        gc.disable()
        if "pipeline.remote" in sys.modules:  # extractions made ahead (moves_indexes)
            sys.modules["pipeline.remote"].discard_prepared()
        if ahead:
            sys.modules["pipeline.cluster"].release_ahead()
    last = reporter.last
    made = record_run(graph, scan, verdict, last, trusted) if code == 0 else None
    return Done(code, last.summary if last is not None else {}, made)


def usable_cache(graph: Graph) -> tuple[Graph, dict[str, str]]:
    """``graph`` and no warning when its shared cache answers (:func:`pipeline.cache.probe`)
    or it has none; else the graph with the cache off for its tasks (which then may ship
    their files to a cluster ahead) and the warning line that says so."""
    config = graph.config
    if not config.cache or config.cache_mode == "off":
        return graph, {}
    from pipeline.cache import probe, unusable

    problem = probe(config.cache)
    if not problem:
        return graph, {}
    return (replace(graph, config=replace(config, cache_mode="off")),
            {"cache-unusable": unusable(config.cache, problem)})


def ship_ahead(graph: Graph) -> bool:
    """With a cluster, submit the sources' extractions that the build's chunks lack before
    doit runs (:func:`pipeline.cluster.ship_ahead`); whether any went. Not where a shared
    cache is read: the chunk tasks fetch what it holds first, and only they know what it
    lacked. Only the sources' layer: the pages of the next are not written yet."""
    if not graph.config.scheduler:
        return False
    from pipeline.tasks import extraction_order, remote_of

    remote = remote_of(graph.config)
    if remote.reads:
        return False
    from pipeline import cluster
    from pipeline.actions import extract_ahead

    # in doit's order: the workers then finish first what the chunk tasks wait for first
    chunks = (extract_ahead(graph.root, chunk.name, chunk.inputs, graph.extraction_code,
                            chunk.neighbours)
              for chunk in extraction_order(graph) if chunk.layer == 1)
    return cluster.ship_ahead(remote.scheduler, chunks, graph.extraction_code) > 0


def moves_indexes(graph: Graph, verdict: Verdict, scan: Scan) -> bool:
    """Whether an edit the quick check saw changes the rows of the symbol indexes. Then
    its chain of tasks ends with the folder pages above the edited files and the global
    index, which wait only on the link: with workers they run side by side (a definition
    added to a torch module: about 1 s of 4.5). Each edited file is extracted here to
    know, and its task takes that extraction (:func:`pipeline.actions.index_rows_move`)
    rather than fetch it or ship it to a cluster; a build that finds the outputs moved
    runs the whole graph, whose task takes it as well (the extraction is the file's,
    whatever the outputs hold). Not for more than :data:`PREVIEWED` files."""
    from pipeline.actions import index_rows_move
    from pipeline.quick import edited

    files = edited(graph, verdict, scan)
    return len(files) <= PREVIEWED and any(
        index_rows_move(graph.root, chunk.name, item, graph.extraction_code)
        for chunk, item in files)


def record_run(graph: Graph, scan: Scan, verdict: Verdict, reporter: Reporter | None,
               trusted: bool) -> Record | None:
    """Record what a run left for the quick check when it left every task done or up to
    date (its reporter reached the build's tasks and met no error, and the seal is there);
    the record, or None. ``trusted``: as :func:`pipeline.quick.record` takes it."""
    from pipeline import quick

    if reporter is None or not reporter.selected or reporter.errors \
            or not runstate.is_sealed(graph.root):
        return None
    report = quick_report(reporter.discovered, reporter.summary["notes"])
    return quick.record(graph, scan, report, verdict, trusted)


def quick_report(counts: dict[str, int], notes: list[Any]) -> dict[str, Any]:
    """What a build found up to date by the quick check prints: the summary's counts of
    discovery and the failed files' lines, without and with ``--strict``."""
    from pipeline.report import failed_notes
    from pipeline.summary import failure_texts

    report: dict[str, Any] = {"discovered": counts}
    for mode, strict in (("default", False), ("strict", True)):
        failed = failed_notes(notes, strict)
        report[mode] = {"files": len({n.path for n in failed}),
                        "lines": failure_texts(failed)}
    return report
