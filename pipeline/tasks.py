"""The doit task graph: what depends on what. ``dodo.py`` only re-exports it.

Granularity: one task per chunk of a folder's inputs (at most ``CHUNK`` files) and
stage, per layer; one link task and one folder-pages task per layer. Inside a task,
extraction is cached per file by content, and a file's or folder's pages are rendered
again only when its stamp or its pages changed, so minimality is per file while doit
sees few tasks (doit's cost of a no-op build grows with the number of tasks).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from doit.tools import config_changed

from pipeline import layout, prune, runstate
from pipeline.config import Config
from pipeline.discover import Input, Inventory, discover_sources
from pipeline.schema import SCHEMA
from pipeline.site import TEMPLATES, PageSite

CHUNK = 200
# Every task of the build is named ``docs:STAGE`` or ``docs:STAGE:NAME`` and the group task
# ``docs`` runs them all, so that they live beside a project's own tasks in one dodo.py
# (``task_render``, ``doit render``, ``doit lint`` stay the project's).
NAMESPACE = "docs"
STAGES = ("extract", "link", "render", "folder", "keywords", "prune", "seal", "failures")
PACKAGE = Path(__file__).resolve().parent
TaskDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chunk:
    name: str
    folder: str
    layer: int
    inputs: tuple[Input, ...]
    neighbours: tuple[str, ...] = ()  # see layout.neighbour_chunks


@dataclass(frozen=True, slots=True)
class Graph:
    """Everything the task generators need, computed once when the dodo file loads."""

    config: Config
    inventory: Inventory
    site: PageSite
    chunks: tuple[Chunk, ...]
    producer: dict[str, str]  # page path -> chunk that renders it
    stamp_base: str
    code: str  # digest of this package's code: link and render stamps depend on it
    extraction_code: str  # digest of the part extraction keys depend on (EXTRACTION_CODE)
    dirty: bool  # the previous run did not finish: prune even if nothing moved
    root: str  # where pages and state are written: the output, or a check's scratch copy
    strict: bool = False  # warnings (partial parses, cut sources) fail the run too

    def out(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def siblings(self) -> dict[str, tuple[str, ...]]:
        """Folder -> the names of its inputs, every chunk's together (related files)."""
        names: dict[str, list[str]] = {}
        for chunk in self.chunks:
            names.setdefault(chunk.folder, []).extend(
                i.path.rsplit("/", 1)[-1] for i in chunk.inputs)
        return {folder: tuple(found) for folder, found in names.items()}


def build_graph(config: Config, *, root: str = "", dirty: bool = False,
                save_cache: bool = True, strict: bool = False) -> Graph:
    root = root or config.output
    inventory = discover_sources(config, root, save_cache=save_cache)
    site = PageSite(
        source_root=config.source, output_root=config.output, mirror=inventory.mirror,
        project=config.project_name, roles=tuple(sorted(config.role_map.items())),
        max_source_bytes=config.max_source_bytes, max_tests=config.max_tests,
        max_related=config.max_related, templates=config.templates,
    )
    chunks: list[Chunk] = []
    producer: dict[str, str] = {}
    for folder, inputs in inventory.chunks.items():
        names = layout.chunk_names(folder, len(inputs), CHUNK)
        for index, name in enumerate(names):
            part = inputs[index * CHUNK:(index + 1) * CHUNK]
            chunks.append(Chunk(name, folder, part[0].layer, part,
                                layout.neighbour_chunks(folder, names, index)))
            for item in part:
                for page in layout.file_pages(item.path):
                    producer[page] = name
    code, extraction_code = code_digest()
    stamp_base = hashlib.sha256(
        repr((site, templates_digest(config), code, SCHEMA)).encode()).hexdigest()
    return Graph(config, inventory, site, tuple(chunks), producer, stamp_base, code,
                 extraction_code, dirty, root, strict)


def run_action(name: str, root: str, *args: Any) -> Any:
    """The python-action of every stage task: marks the run unsealed (something is being
    written), then imports the stage code, so a no-op build never loads jinja2, the parsers
    or the renderers."""
    runstate.unseal(root)
    from pipeline import actions

    return getattr(actions, name)(root, *args)


def run_prune(action: Callable[..., Any], root: str, *args: Any) -> Any:
    """Like :func:`run_action`, for the light actions of :mod:`pipeline.prune`."""
    runstate.unseal(root)
    return action(root, *args)


_NO_PARAMETERS = inspect.Signature()


class stamp_changed(config_changed):  # type: ignore[misc]
    """doit's ``config_changed`` with two costs of every task of every run removed: the
    digest is taken with orjson, and the signature doit inspects (to pass ``task`` and
    ``values``) is preset instead of derived."""

    __signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in ("task", "values")])

    def _calc_digest(self) -> str:
        if isinstance(self.config, str):
            return self.config
        return hashlib.md5(orjson.dumps(self.config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check(test: Callable[..., bool], *args: Any) -> Callable[[], bool]:
    """An up-to-date callable that runs a light check (:mod:`pipeline.prune`, the run
    marker) in doit's main process: when it holds, the task is skipped, no worker needed."""
    def check() -> bool:
        return bool(test(*args))
    check.__signature__ = _NO_PARAMETERS  # type: ignore[attr-defined]
    return check


def templates_digest(config: Config) -> str:
    digest = hashlib.sha256()
    for root in [Path(config.templates)] if config.templates else []:
        _hash_tree(digest, root, ".j2")
    _hash_tree(digest, TEMPLATES, ".j2")
    return digest.hexdigest()


# The code an extraction depends on: the extractors and everything they import (a test holds
# this to their import closure), and the bytes -> text step in isolate and files.
EXTRACTION_CODE = ("extract/", "isolate.py", "records.py", "schema.py", "files.py", "prose.py")


def code_digest() -> tuple[str, str]:
    """Digests of this package's code: all of it, and the part extraction depends on (about
    60 files, read once, in ~1 ms). Page stamps include the first, extraction keys the
    second, so records and pages made by other code (an upgrade, a local change) are made
    again rather than kept, and a change to rendering does not extract anything again."""
    every, extraction = hashlib.sha256(), hashlib.sha256()
    for relative, data in _tree(PACKAGE, ".py"):
        every.update(data)
        if relative.startswith(EXTRACTION_CODE):
            extraction.update(data)
    return every.hexdigest(), extraction.hexdigest()


def _hash_tree(digest: Any, root: Path, suffix: str) -> None:
    for _relative, data in _tree(root, suffix):
        digest.update(data)


def _tree(root: Path, suffix: str) -> Iterator[tuple[str, bytes]]:
    """Every file under ``root`` whose name ends with ``suffix``, in path order: its path
    relative to ``root``, and that path and its bytes as they are hashed (``__pycache__``
    folders are not entered)."""
    top = str(root)
    found: list[tuple[str, str]] = []
    for folder, children, names in os.walk(top):
        children[:] = [c for c in children if c != "__pycache__"]
        prefix = "" if folder == top else os.path.relpath(folder, top) + "/"
        found += [(prefix + n, f"{folder}/{n}") for n in names if n.endswith(suffix)]
    for relative, path in sorted(found):
        with open(path, "rb") as handle:
            yield relative, relative.encode() + b"\0" + handle.read()


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


def _layers(graph: Graph) -> range:
    return range(1, graph.config.depth + 1)


def _cost(graph: Graph, chunk: Chunk) -> int:
    """A layer-1 chunk's expected extraction cost from its files' sizes: a byte of Python,
    parsed by libcst, costs about twenty of anything else. (Later layers keep their order:
    each of their chunks waits for its own pages anyway.)"""
    if chunk.layer > 1:
        return 0
    sizes = graph.inventory.sizes
    return sum(sizes.get(i.path, 0) * (20 if i.type.language == "python" else 1)
               for i in chunk.inputs)


def task_extract(graph: Graph) -> Iterator[TaskDict]:
    """Extraction per chunk: file bytes -> cached per-file extraction -> chunk records.
    The costliest layer-1 chunks come first (doit starts tasks in this order), so that no
    large one is left to run alone at the end while the other worker waits."""
    yield _group("extract", "extract records from every input")
    for chunk in sorted(graph.chunks, key=lambda c: (c.layer, -_cost(graph, c))):
        if chunk.layer == 1:
            deps = [item.disk for item in chunk.inputs]
        else:
            pages = {layout.page_of_input(i.path, chunk.layer, graph.inventory.mirror)
                     for i in chunk.inputs}
            deps = sorted({graph.out(layout.state_file("pages", graph.producer[p]))
                           for p in pages})
        yield {
            "basename": task_name("extract"),
            "name": chunk.name or ".",
            "actions": [(run_action, ["extract_chunk", graph.root, chunk.name, chunk.inputs,
                                      graph.extraction_code, chunk.neighbours])],
            "file_dep": deps,
            "targets": [graph.out(layout.state_file(k, chunk.name))
                        for k in ("records", "summary")],
            "uptodate": [stamp_changed({"code": graph.extraction_code, "schema": SCHEMA,
                                         "inputs": [i.path for i in chunk.inputs]})],
            "verbosity": 0,
        }


def layer_folders(graph: Graph, layer: int) -> list[str]:
    mirror = graph.inventory.mirror
    return [f for f in graph.inventory.folders() if layout.layer_of(f, mirror) == layer]


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
                  for k in _layers(graph)]
        extras.setdefault("", {})["root"] = {
            "files": layers[0][1], "binaries": len(graph.inventory.binaries), "layers": layers}
    return extras


def task_link(graph: Graph) -> Iterator[TaskDict]:
    """Cross-file facts per layer, written per chunk and per folder only when changed."""
    yield _group("link", "resolve imports, importers, folder facts")
    for layer in _layers(graph):
        chunks = tuple(c.name for c in graph.chunks if c.layer == layer)
        folders = tuple(layer_folders(graph, layer))
        binaries = graph.inventory.binaries if layer == 1 else ()
        extras = extras_of(graph, layer)
        targets = [graph.out(layout.state_file("ctx", c)) for c in chunks]
        targets += [graph.out(layout.state_file("folder", f)) for f in folders]
        targets.append(graph.out(layout.state_file("notes", str(layer))))
        if layer == 1:
            targets.append(graph.out(layout.state_file("global", "")))
        yield {
            "basename": task_name("link"),
            "name": str(layer),
            "actions": [(run_action, ["link_layer", graph.root, layer, chunks, folders,
                                              binaries, graph.inventory.mirror, extras])],
            "file_dep": [graph.out(layout.state_file("summary", c)) for c in chunks],
            "targets": targets,
            "uptodate": [stamp_changed({"chunks": list(chunks), "folders": list(folders),
                                         "binaries": [list(b) for b in binaries],
                                         "extras": extras, "code": graph.code,
                                         "schema": SCHEMA})],
            "verbosity": 0,
        }


def task_render(graph: Graph) -> Iterator[TaskDict]:
    """Both pages of every input of a chunk (per-file stamps skip unchanged inputs)."""
    yield _group("render", "render file pages")
    siblings = graph.siblings()
    for chunk in graph.chunks:
        names = siblings[chunk.folder]
        yield {
            "basename": task_name("render"),
            "name": chunk.name or ".",
            "actions": [(run_action, ["render_chunk", graph.root, graph.site, chunk.name,
                                                chunk.inputs, names, graph.stamp_base])],
            "file_dep": [graph.out(layout.state_file(k, chunk.name)) for k in ("records", "ctx")],
            # The pages are checked by chunk_intact (one stat each), not listed as targets
            # (doit would stat them a second time).
            "targets": [graph.out(layout.state_file("pages", chunk.name))],
            "uptodate": [stamp_changed({"stamp": graph.stamp_base, "siblings": list(names)}),
                         _check(prune.chunk_intact, graph.root, chunk.name,
                                tuple(i.path for i in chunk.inputs))],
            "task_dep": [task_name("prune", "pages")],
            "clean": [(_clean_chunk, [graph.root, chunk.name,
                                      tuple(i.path for i in chunk.inputs)])],
            "verbosity": 0,
        }


def task_folder(graph: Graph) -> Iterator[TaskDict]:
    """``index.md``, ``doc.md`` and ``sub.md`` of every folder, one task per layer (a
    folder's pages are rendered again only when its facts or its pages changed)."""
    yield _group("folder", "render folder pages")
    for layer in _layers(graph):
        folders = tuple(layer_folders(graph, layer))
        key = folders_key(layer)
        yield {
            "basename": task_name("folder"),
            "name": str(layer),
            "actions": [(run_action, ["render_folders", graph.root, graph.site, key, folders,
                                      layer, graph.stamp_base])],
            "file_dep": [graph.out(layout.state_file("folder", f)) for f in folders],
            "targets": [graph.out(layout.state_file("fpages", key))],
            "uptodate": [stamp_changed({"stamp": graph.stamp_base, "folders": list(folders)}),
                         _check(prune.folders_intact, graph.root, key, folders)],
            "task_dep": [task_name("prune", "pages")],
            "clean": [(prune.remove_pages, [graph.root, [layout.folder_page(f, n) for f in folders
                                             for n in layout.FOLDER_PAGES]
                                + [layout.state_file("fpages", key)]])],
            "verbosity": 0,
        }


def folders_key(layer: int) -> str:
    """State key of a layer's folder-page manifest (no folder path starts with a NUL)."""
    return f"\0folders {layer}"


def task_keywords(graph: Graph) -> Iterator[TaskDict]:
    """The global A-Z symbol index."""
    yield {
        "basename": task_name("keywords"),
        "actions": [(run_action, ["render_keywords", graph.root, graph.site])],
        "file_dep": [graph.out(layout.state_file("global", ""))],
        "targets": [graph.out(layout.state_file("fpages", layout.KEYWORDS_KEY))],
        "task_dep": [task_name("prune", "pages")],
        "uptodate": [stamp_changed(graph.stamp_base),
                     _check(prune.folder_intact, graph.root, layout.KEYWORDS_KEY)],
        "clean": [(prune.remove_pages, [graph.root, ["keywords.md",
                                          layout.state_file("fpages", layout.KEYWORDS_KEY)]])],
        "verbosity": 0,
        "doc": "render the global symbol index",
    }


def expected_outputs(graph: Graph) -> frozenset[str]:
    """Every path under O that some task produces: the pages, and the state files."""
    from pipeline.prune import expected_pages

    expected: set[str] = set(expected_pages(graph))
    expected.add(layout.state_file("global", ""))
    expected.update(layout.state_file("notes", str(k)) for k in _layers(graph))
    for chunk in graph.chunks:
        for kind in ("records", "superseded", "summary", "ctx", "pages"):
            expected.add(layout.state_file(kind, chunk.name))
    for folder in graph.inventory.folders():
        if layout.layer_of(folder, graph.inventory.mirror) <= graph.config.depth:
            expected.add(layout.state_file("folder", folder))
    expected.update(layout.state_file("fpages", folders_key(k)) for k in _layers(graph))
    expected.add(layout.state_file("fpages", layout.KEYWORDS_KEY))
    return frozenset(expected)


def task_prune(graph: Graph) -> Iterator[TaskDict]:
    """Remove what no task produces: pages of deleted inputs, stale state, torn temp files."""
    # What decides the expected outputs, hashed cheaply; the set itself is built only
    # when the task runs.
    layer_one = [i.path for i in graph.inventory.inputs if i.layer == 1]
    shape = "\n".join(layer_one + [p for p, _ in graph.inventory.binaries])
    digest = hashlib.sha256(
        f"{shape}\0{graph.config.depth}\0{graph.inventory.mirror}\0{CHUNK}".encode()).hexdigest()
    yield _group("prune", "remove pages and state that no task produces")
    yield {
        "basename": task_name("prune"),
        "name": "pages",
        "actions": [(run_prune, [prune.prune_pages, graph.root, graph])],
        # checked on every build: a stray file is found and removed (a missing or
        # hand-edited page fails its render or folder task's own check)
        "uptodate": [_check(prune.no_strays, graph.root, graph)],
        "verbosity": 0,
    }
    yield {
        "basename": task_name("prune"),
        "name": "state",
        "actions": [(run_prune, [prune.prune_state, graph.root, graph])],
        "task_dep": [task_name(s) for s in ("render", "folder", "keywords")],
        "uptodate": [stamp_changed(digest), not graph.dirty],
        "verbosity": 0,
    }


def task_seal(graph: Graph) -> Iterator[TaskDict]:
    """Mark the run finished, so the next one knows nothing was left half-written."""
    yield {
        "basename": task_name("seal"),
        "actions": [(runstate.seal_run, [graph.root])],
        "task_dep": [task_name("prune")],
        # every stage action removes the mark, so it is missing exactly when a task ran
        "uptodate": [_check(runstate.is_sealed, graph.root)],
        "verbosity": 0,
        "doc": "mark the build finished",
    }


def task_failures(graph: Graph) -> Iterator[TaskDict]:
    """Fail the run (exit 1) when a file could not be read or parsed; its pages exist."""
    yield {
        "basename": task_name("failures"),
        "actions": [(run_prune, [prune.report_failures, graph.root, graph.config.depth,
                                 graph.strict])],
        "task_dep": [task_name("seal")],
        # runs (and fails the build) only when some file failed
        "uptodate": [_check(prune.no_failures, graph.root, graph.config.depth, graph.strict)],
        "verbosity": 0,
        "doc": "exit 1 when some files failed (their pages are still written)",
    }


def _clean_chunk(root: str, chunk: str, paths: tuple[str, ...]) -> None:
    """``doit clean`` of a render task: the pages of its inputs and its manifest."""
    prune.remove_pages(root, [p for path in paths for p in layout.file_pages(path)]
                       + [layout.state_file("pages", chunk)])



GENERATORS: tuple[Callable[[Graph], Iterator[TaskDict]], ...] = (
    task_extract, task_link, task_render, task_folder, task_keywords, task_prune, task_seal,
    task_failures)


def task_docs(graph: Graph) -> Iterator[TaskDict]:
    """document the source tree (runs every docs:... task)"""
    for generator in GENERATORS:
        yield from generator(graph)
    yield {"basename": NAMESPACE, "actions": None, "doc": task_docs.__doc__,
           "task_dep": [task_name(stage) for stage in STAGES], "uptodate": [True]}


def doit_tasks(creators: dict[str, Callable[[], Iterator[TaskDict]]]) -> list[Any]:
    """doit's Task objects of ``task_*`` creators, in the creators' order."""
    from doit.loader import generate_tasks

    tasks: list[Any] = []
    for name, creator in creators.items():
        if name.startswith("task_"):
            tasks.extend(generate_tasks(name[len("task_"):], creator(), creator.__doc__))
    return tasks


def task_creators(graph: Graph) -> dict[str, Callable[[], Iterator[TaskDict]]]:
    """The one ``task_docs`` creator for doit's loader, bound to one graph: a dodo.py that
    adds it beside its own ``task_*`` creators loses none of them."""
    def creator() -> Iterator[TaskDict]:
        return task_docs(graph)
    creator.__doc__ = task_docs.__doc__
    return {"task_docs": creator}
