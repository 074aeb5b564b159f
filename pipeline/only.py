"""``build --only PATH``: the pages of the named files in every layer, and the folder pages
they affect, rebuilt and nothing else.

The stage actions run here in process, each told which inputs or folders to make again;
the other inputs of the same chunks keep their records and pages as they were, stale or
not. Every task whose files it writes is struck from doit's database first
(``runstate.begin_task``), so the next full build runs those tasks again and builds every
change this run did not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline import layout, runstate, state
from pipeline.errors import UsageError
from pipeline.graph import Chunk, Counts, Graph
from pipeline.tasks import extras_of, remote_of, task_name


def resolve_paths(raw_paths: list[str], source: str, cwd: str = "") -> list[str]:
    """Source-relative POSIX paths (``""`` for the whole tree) of ``--only`` arguments.

    A relative path is taken from the current folder when something is there, inside the
    source tree; otherwise from the source folder (``build SRC --only pkg/a.py`` run from
    SRC's parent). A path outside the source tree is a usage error."""
    top = Path(source).resolve()
    here = Path(cwd or os.getcwd())
    wanted: list[str] = []
    for raw in raw_paths:
        path = Path(raw)
        candidates = [path] if path.is_absolute() else [here / path, top / path]
        chosen = None
        for candidate in candidates:
            rel = _inside(candidate, top)
            if rel is not None and (candidate.exists() or chosen is None):
                chosen = rel
                if candidate.exists():
                    break
        if chosen is None:
            raise UsageError(f"usage error: --only {raw}: not inside the source folder")
        wanted.append(chosen)
    return wanted


def _inside(path: Path, top: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(top).as_posix()
    except ValueError:
        return None
    return "" if rel == "." else rel


def select_inputs(graph: Graph, wanted: list[str]) -> frozenset[str]:
    """Input paths of every layer that stand for a named file or lie under a named folder."""
    mirror = graph.inventory.mirror
    selected = frozenset(
        item.path for item in graph.inventory.inputs
        if item.layer <= graph.config.depth and _named(layout.source_of(item.path, mirror),
                                                       wanted))
    if not selected:
        raise UsageError("usage error: --only matched no documented file")
    return selected


def _named(source: str, wanted: list[str]) -> bool:
    return any(w == "" or source == w or source.startswith(w + "/") for w in wanted)


def build_only(graph: Graph, selected: frozenset[str]) -> tuple[Counts, dict[str, str]]:
    """Extract, link and render the selected inputs layer by layer, then the folder pages
    of their folders and parents, then the global keyword index. Returns the counts and
    the warnings (topic -> one line) of the stages."""
    from pipeline import actions

    totals: Counts = {}
    warnings: dict[str, str] = {}
    chunks_of: dict[int, list[Chunk]] = {}
    folders_of: dict[int, set[str]] = {}
    mirror = graph.inventory.mirror
    for chunk in graph.chunks:
        if any(item.path in selected for item in chunk.inputs):
            chunks_of.setdefault(chunk.layer, []).append(chunk)
            for folder in layout.parent_folders(chunk.folder):
                folders_of.setdefault(layout.layer_of(folder, mirror), set()).add(folder)
    siblings = graph.siblings()
    for layer in range(1, graph.config.depth + 1):
        chunks = chunks_of.get(layer, [])
        for chunk in chunks:
            runstate.begin_task(graph.root, task_name("extract", chunk.name or "."))
            _add(totals, warnings, actions.extract_chunk(
                graph.root, chunk.name, chunk.inputs, graph.extraction_code, chunk.neighbours,
                selected, remote_of(graph.config)))
        if chunks:
            names = tuple(c.name for c in graph.chunks if c.layer == layer)
            binaries = graph.inventory.binaries if layer == 1 else ()
            runstate.begin_task(graph.root, task_name("link", str(layer)))
            actions.link_layer(graph.root, layer, names, tuple(graph.layer_folders(layer)),
                               binaries, mirror, extras_of(graph, layer),
                               graph.config.max_source_bytes, graph.code)
        for chunk in chunks:
            runstate.begin_task(graph.root, task_name("render", chunk.name or "."))
            _add(totals, warnings, actions.render_chunk(
                graph.root, graph.site, chunk.name, chunk.inputs, siblings[chunk.folder],
                graph.stamp_base, selected, remote_of(graph.config)))
    for layer in range(1, graph.config.depth + 1):
        for part, folders in graph.folder_parts(layer):
            if folders_of.get(layer, set()).isdisjoint(folders):
                continue
            runstate.begin_task(graph.root, task_name("folder", f"{layer}:{part}"))
            _add(totals, warnings, actions.render_folders(
                graph.root, graph.site, state.part_key(layer, part), folders, layer,
                graph.stamp_base, frozenset(folders_of[layer]) & set(folders),
                remote_of(graph.config)))
    runstate.begin_task(graph.root, task_name("keywords"))
    _add(totals, warnings, actions.render_keywords(graph.root, graph.site))
    return totals, warnings


def _add(totals: Counts, warnings: dict[str, str], counts: Mapping[str, Any]) -> None:
    for key, value in counts.items():
        if isinstance(value, int):
            totals[key] = totals.get(key, 0) + value
        elif key == "warnings":  # topic -> one line (the shared cache, the cluster)
            for topic, message in value.items():
                warnings.setdefault(topic, message)
