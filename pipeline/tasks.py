"""The doit task graph: what depends on what. ``dodo.py`` only re-exports it.

Granularity: one task per chunk of a folder's inputs (at most ``graph.CHUNK`` files) and
stage, per layer; one link task and two folder-pages tasks per layer. Inside a task,
extraction is cached per file by content, and a file's or folder's pages are rendered
again only when its stamp or its pages changed, so minimality is per file while doit
sees few tasks (doit's cost of a no-op build grows with the number of tasks).

What each task writes comes from the state registry (:mod:`pipeline.state`).
"""

from __future__ import annotations

import functools
import gc
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pipeline import graph as graphs
from pipeline import layout, prune, runstate, state, versions
from pipeline.cache import Remote
from pipeline.config import Config
from pipeline.errors import write_failure
from pipeline.graph import Chunk, Graph
from pipeline.overrides import light_check, stamp_changed
from pipeline.schema import SCHEMA

# Every task of the build is named ``docs:STAGE`` or ``docs:STAGE:NAME`` and the group task
# ``docs`` runs them all, so that they live beside a project's own tasks in one dodo.py
# (``task_render``, ``doit render``, ``doit lint`` stay the project's).
NAMESPACE = "docs"
# The stages in the order doit walks them (the ``docs`` task's dependencies), which decides
# which of the tasks waiting on a layer's link start first once it is done: the folder pages
# before the pages, since the task for the layer's other folders is the layer's longest, and
# started after the layer's many small render tasks it ran alone at the end while the other
# worker waited. (The progress bars are shown in this order too.)
STAGES = ("extract", "link", "folder", "keywords", "render", "prune", "seal", "failures")
TaskDict = dict[str, Any]


def remote_of(config: Config) -> Remote:
    """Where extraction may fetch, store and run (never part of a task's stamp: neither the
    cache nor the cluster changes what is built)."""
    return Remote(config.cache, config.cache_mode, config.scheduler, config.jobs)


def _writes_fail_in_one_line(action: Callable[..., Any]) -> Callable[..., Any]:
    """A task action that a stopped file system (a full disk, a quota, a read-only mount)
    fails with one line saying so (:func:`pipeline.errors.write_failure`) instead of the
    traceback doit prints for a raised error. Its files were written whole or not at all,
    and doit runs it again next time. Any other error is raised on."""
    @functools.wraps(action)
    def guarded(*args: Any) -> Any:
        try:
            return action(*args)
        except OSError as error:
            line = write_failure(error)
            if line is None:
                raise
            from doit.exceptions import TaskFailed

            return TaskFailed(line)
    return guarded


@_writes_fail_in_one_line
def run_action(task: str, name: str, root: str, *args: Any) -> Any:
    """The python-action of every stage task: strikes the task from doit's journal before
    it writes anything (:func:`runstate.begin_task`: a run killed half way through it then
    runs it again), then imports the stage code, so a no-op build never loads jinja2, the
    parsers or the renderers. The action runs with the collector paused
    (:func:`collector_paused_for`)."""
    runstate.begin_task(root, task)
    from pipeline import actions

    with collector_paused_for():
        return getattr(actions, name)(root, *args)


@_writes_fail_in_one_line
def run_light(task: str, action: Callable[..., Any], root: str, *args: Any) -> Any:
    """Like :func:`run_action`, for the light actions of :mod:`pipeline.prune`."""
    runstate.begin_task(root, task)
    with collector_paused_for():
        return action(root, *args)


# The seal's action: the last task, which a full disk fails too.
run_seal = _writes_fail_in_one_line(runstate.seal_run)


@contextmanager
def collector_paused_for() -> Iterator[None]:
    """The garbage collector off while one action runs, and the youngest generation
    collected after it. An action builds hundreds of thousands of objects that live until
    it returns (a whole link reads every summary of a layer, a folder task the symbols of
    a whole tree), none in a cycle; each full collection the collector starts on the way
    walks all of them again (on the torch wheel, adding a file took 20 s with it on, 13 s
    with it off). Whatever cycles the action left are young: the collection after it
    finds them."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        gc.enable()


def task_name(stage: str, name: str | None = None) -> str:
    """doit's name of a stage's group task, or of one of its tasks."""
    return f"{NAMESPACE}:{stage}" if name is None else f"{NAMESPACE}:{stage}:{name}"


def stage_of(task_name: str) -> str:
    """The stage of a docs task's name (``docs:render:a/b`` -> ``render``); ``""`` for
    ``docs`` itself and for every task that is not one of the build's."""
    namespace, _, rest = task_name.partition(":")
    return rest.split(":", 1)[0] if namespace == NAMESPACE else ""


def _group(stage: str, doc: str) -> TaskDict:
    """The task naming all of a stage's tasks. It has no action of its own: marked up to
    date, so that doit's parallel runner does not hand it to a worker process (a group
    task without dependencies is otherwise "run" on every build)."""
    return {"basename": task_name(stage), "name": None, "doc": doc, "uptodate": [True]}


def _cost(graph: Graph, chunk: Chunk) -> int:
    """A chunk's expected extraction cost, to start the costliest first. Layer 1, from its
    files' sizes: a byte of Python, parsed by libcst, costs about twenty of anything else.
    Later layers, from their number of pages (not written yet on a first build)."""
    if chunk.layer > 1:
        return len(chunk.inputs)
    sizes = graph.inventory.sizes
    return sum(sizes.get(i.path, 0) * (20 if i.type.language == "python" else 1)
               for i in chunk.inputs)


RENDER_BYTES_PER_FILE = 20_000  # what rendering a file's two pages costs beyond its bytes


def _render_cost(graph: Graph, chunk: Chunk) -> int:
    """A chunk's expected rendering cost: its number of inputs (two pages each), and in
    layer 1 their sizes too (each documentation page embeds its source)."""
    if chunk.layer > 1:
        return len(chunk.inputs)
    sizes = graph.inventory.sizes
    return sum(RENDER_BYTES_PER_FILE + sizes.get(i.path, 0) for i in chunk.inputs)


def _in_order(graph: Graph, cost: Callable[[Graph, Chunk], int]) -> list[Chunk]:
    """The declared chunks, layer by layer, the costliest first (an edit declares a few
    of the thousands of chunks a tree has: only those are weighed)."""
    declared = [chunk for chunk in graph.chunks if graph.declared(chunk)]
    return sorted(declared, key=lambda c: (c.layer, -cost(graph, c)))


def extraction_order(graph: Graph) -> list[Chunk]:
    """The declared chunks in the order doit starts their extraction tasks."""
    return _in_order(graph, _cost)


def task_extract(graph: Graph) -> Iterator[TaskDict]:
    """Extraction per chunk: file bytes -> cached per-file extraction -> chunk records.
    The costliest chunks of each layer come first (doit starts tasks in this order, and
    those waiting on the same task in this order too), so that no large one is left to run
    alone at the end while the other worker waits."""
    yield _group("extract", "extract records from every input")
    for chunk in extraction_order(graph):
        if chunk.layer == 1:
            deps = [item.disk for item in chunk.inputs]
        else:
            pages = {layout.page_of_input(i.path, chunk.layer, graph.inventory.mirror)
                     for i in chunk.inputs}
            deps = sorted({graph.out(state.path("pages", graph.producer[p])) for p in pages})
        name = chunk.name or "."
        yield {
            "basename": task_name("extract"),
            "name": name,
            "actions": [(run_action, [task_name("extract", name), "extract_chunk", graph.root,
                                      chunk.name, chunk.inputs, graph.extraction_code,
                                      chunk.neighbours, None,
                                      remote_of(graph.config)])],
            "file_dep": deps,
            "targets": state.written_by(graph, "extract", chunk=chunk.name),
            "uptodate": [stamp_changed({"code": graph.extraction_code, "schema": SCHEMA,
                                         "inputs": [i.path for i in chunk.inputs],
                                         "tests": [i.path for i in chunk.inputs if i.test],
                                         "parsers": _parsers(chunk)})],
            "verbosity": 0,
        }


def _parsers(chunk: Chunk) -> dict[str, str]:
    """The versions of the parsers a chunk's extraction uses: an upgrade of one runs again
    exactly the chunks that hold files of its languages."""
    known = versions.parser_versions()
    return {language: known.get(language, "")
            for language in {item.type.language for item in chunk.inputs}}


def extras_of(graph: Graph, layer: int) -> dict[str, Any]:
    """Facts a layer's link cannot see: the next layer's root, and the global totals."""
    extras: dict[str, dict[str, Any]] = {}
    root = layout.layer_root(graph.inventory.mirror, layer)
    mirror = graph.inventory.mirror
    if layer < graph.config.depth:
        child = f"{root}/{mirror}" if root else mirror
        count = sum(1 for i in graph.inventory.inputs if i.layer == layer + 1)
        extras[root] = {"mirror_children": [{
            "name": mirror, "index": layout.folder_page(child, "index.md"), "count": count,
            "role": layout.generated_role(layer + 1)}]}
    if layer == 1:
        layers = [[k, sum(1 for i in graph.inventory.inputs if i.layer == k)]
                  for k in graph.layers()]
        extras.setdefault("", {})["root"] = {
            "files": layers[0][1], "binaries": len(graph.inventory.binaries), "layers": layers}
    return extras


def task_link(graph: Graph) -> Iterator[TaskDict]:
    """Cross-file facts per layer, written per chunk and per folder only when changed."""
    yield _group("link", "resolve imports, importers, folder facts")
    for layer in graph.layers():
        chunks = tuple(graph.layer_chunks(layer))
        folders = tuple(graph.layer_folders(layer))
        binaries = graph.inventory.binaries if layer == 1 else ()
        extras = extras_of(graph, layer)
        yield {
            "basename": task_name("link"),
            "name": str(layer),
            "actions": [(run_action, [task_name("link", str(layer)), "link_layer", graph.root,
                                      layer, chunks, folders, binaries, graph.inventory.mirror,
                                      extras, graph.config.max_source_bytes, graph.code])],
            "file_dep": [graph.out(state.path("summary", c)) for c in chunks],
            "targets": state.written_by(graph, "link", layer=layer),
            "uptodate": [stamp_changed({"chunks": list(chunks), "folders": list(folders),
                                         "binaries": [list(b) for b in binaries],
                                         "extras": extras, "code": graph.code,
                                         "max_source_bytes": graph.config.max_source_bytes,
                                         "schema": SCHEMA})],
            "verbosity": 0,
        }


def task_render(graph: Graph) -> Iterator[TaskDict]:
    """Both pages of every input of a chunk (per-file stamps skip unchanged inputs). The
    costliest chunks of each layer come first, as for extraction: they all wait on the
    layer's link."""
    yield _group("render", "render file pages")
    siblings = graph.siblings()
    for chunk in _in_order(graph, _render_cost):
        names = siblings[chunk.folder]
        name = chunk.name or "."
        paths = tuple(i.path for i in chunk.inputs)
        yield {
            "basename": task_name("render"),
            "name": name,
            "actions": [(run_action, [task_name("render", name), "render_chunk", graph.root,
                                      graph.site, chunk.name, chunk.inputs, names,
                                      graph.stamp_base, None, remote_of(graph.config)])],
            "file_dep": [graph.out(state.path(k, chunk.name)) for k in ("records", "ctx")],
            # The pages are checked through the manifest (one stat each), not listed as
            # targets (doit would stat them a second time).
            "targets": state.written_by(graph, "render", chunk=chunk.name),
            "uptodate": [stamp_changed({"stamp": graph.stamp_base, "siblings": list(names),
                                         "tests": [i.path for i in chunk.inputs if i.test]}),
                         light_check(state.intact, graph.root, "pages", chunk.name, paths)],
            "task_dep": [task_name("prune", "pages")],
            "clean": [(prune.remove_pages, [graph.root, [
                p for path in paths for p in layout.file_pages(path)]
                + [state.path("pages", chunk.name)]])],
            "verbosity": 0,
        }


def task_folder(graph: Graph) -> Iterator[TaskDict]:
    """``index.md``, ``doc.md`` and ``sub.md`` of every folder, in two tasks per layer
    (``graph.folder_parts``: the top folder, and the others), which run side by side; a
    folder's pages are rendered again only when its facts or its pages changed."""
    yield _group("folder", "render folder pages")
    for layer in graph.layers():
        for part, folders in graph.folder_parts(layer):
            key = state.part_key(layer, part)
            name = f"{layer}:{part}"
            yield {
                "basename": task_name("folder"),
                "name": name,
                "actions": [(run_action, [task_name("folder", name), "render_folders",
                                          graph.root, graph.site, key, folders, layer,
                                          graph.stamp_base, None, remote_of(graph.config)])],
                "file_dep": [graph.out(state.path("folder", f)) for f in folders],
                "targets": state.written_by(graph, "folder", layer=layer, part=part),
                "uptodate": [stamp_changed({"stamp": graph.stamp_base, "folders": list(folders)}),
                             light_check(state.intact, graph.root, "folder-pages", key, folders)],
                "task_dep": [task_name("prune", "pages")],
                "clean": [(prune.remove_pages, [graph.root, [
                    layout.folder_page(f, n) for f in folders for n in layout.FOLDER_PAGES]
                    + [state.path("folder-pages", key)]])],
                "verbosity": 0,
            }


def task_keywords(graph: Graph) -> Iterator[TaskDict]:
    """The global A-Z symbol index."""
    yield {
        "basename": task_name("keywords"),
        "actions": [(run_action, [task_name("keywords"), "render_keywords", graph.root,
                                  graph.site])],
        "file_dep": [graph.out(state.path("global", ""))],
        "targets": state.written_by(graph, "keywords"),
        "task_dep": [task_name("prune", "pages")],
        "uptodate": [stamp_changed(graph.stamp_base),
                     light_check(state.intact, graph.root, "keyword-pages", "", ("",))],
        "clean": [(prune.remove_pages, [graph.root, [
            "keywords.md", state.path("keyword-pages", "")]])],
        "verbosity": 0,
        "doc": "render the global symbol index",
    }


def task_prune(graph: Graph) -> Iterator[TaskDict]:
    """Remove what no task produces: pages of deleted inputs, stale state, torn temp files."""
    # What decides the expected outputs, hashed cheaply; the set itself is built only
    # when the task runs.
    layer_one = [i.path for i in graph.inventory.inputs if i.layer == 1]
    shape = "\n".join(layer_one + [p for p, _ in graph.inventory.binaries])
    digest = hashlib.sha256(f"{shape}\0{graph.config.depth}\0{graph.inventory.mirror}"
                            f"\0{graphs.CHUNK}".encode()).hexdigest()
    yield _group("prune", "remove pages and state that no task produces")
    yield {
        "basename": task_name("prune"),
        "name": "pages",
        "actions": [(run_light, [task_name("prune", "pages"), prune.prune_pages, graph.root,
                                 graph])],
        # checked on every build: a stray file is found and removed (a missing or
        # hand-edited page fails its render or folder task's own check)
        "uptodate": [light_check(prune.no_strays, graph.root, graph)],
        "verbosity": 0,
    }
    yield {
        "basename": task_name("prune"),
        "name": "state",
        "actions": [(run_light, [task_name("prune", "state"), prune.prune_state, graph.root,
                                 graph])],
        "task_dep": [task_name(s) for s in ("render", "folder", "keywords")],
        "uptodate": [stamp_changed(digest), not graph.dirty],
        "verbosity": 0,
    }


def task_seal(graph: Graph) -> Iterator[TaskDict]:
    """Mark the run finished, so the next one knows nothing was left half-written."""
    yield {
        "basename": task_name("seal"),
        "actions": [(run_seal, [graph.root])],
        "task_dep": [task_name("prune")],
        # every writing action removes the mark, so it is missing exactly when a task ran
        "uptodate": [light_check(runstate.is_sealed, graph.root)],
        "verbosity": 0,
        "doc": "mark the build finished",
    }


def task_failures(graph: Graph) -> Iterator[TaskDict]:
    """Fail the run (exit 1) when a file could not be read or parsed; its pages exist.
    It writes nothing, so it leaves the seal alone."""
    yield {
        "basename": task_name("failures"),
        "actions": [(prune.failure_verdict, [graph.root, graph.config.depth, graph.strict])],
        "task_dep": [task_name("seal")],
        # runs (and fails the build) only when some file failed
        "uptodate": [light_check(prune.no_failures, graph.root, graph.config.depth,
                                 graph.strict)],
        "verbosity": 0,
        "doc": "exit 1 when some files failed (their pages are still written)",
    }


GENERATORS: tuple[Callable[[Graph], Iterator[TaskDict]], ...] = (
    task_extract, task_link, task_render, task_folder, task_keywords, task_prune, task_seal,
    task_failures)


def task_docs(graph: Graph) -> Iterator[TaskDict]:
    """document the source tree (runs every docs:... task)"""
    for generator in GENERATORS:
        yield from generator(graph)
    yield {"basename": NAMESPACE, "actions": None, "doc": task_docs.__doc__,
           "task_dep": [task_name(stage) for stage in STAGES], "uptodate": [True]}


def task_creators(graph: Graph) -> dict[str, Callable[[], Iterator[TaskDict]]]:
    """The one ``task_docs`` creator for doit's loader, bound to one graph: a dodo.py that
    adds it beside its own ``task_*`` creators loses none of them."""
    def creator() -> Iterator[TaskDict]:
        return task_docs(graph)
    creator.__doc__ = task_docs.__doc__
    return {"task_docs": creator}
