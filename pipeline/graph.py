"""The build graph's inputs: discovery's inventory cut into chunks, the page site, and the
digests of the code and templates that stamps depend on. Computed once when the dodo file
loads; :mod:`pipeline.tasks` turns it into doit tasks and :mod:`pipeline.state` derives
from it every state file a build writes."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.config import Config
from pipeline.discover import Input, Inventory, Scan, discover_sources
from pipeline.schema import SCHEMA
from pipeline.site import TEMPLATES, PageSite

CHUNK = 200
PACKAGE = Path(__file__).resolve().parent
Counts = dict[str, int]  # what every stage action returns; the reporter adds them up


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
    # Chunks whose extract and render tasks are declared (None: all). An edit the quick
    # check saw declares only the chunks it can reach (pipeline.quick.focus).
    focus: frozenset[str] | None = None

    def declared(self, chunk: Chunk) -> bool:
        return self.focus is None or chunk.name in self.focus

    def out(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def layers(self) -> range:
        return range(1, self.config.depth + 1)

    def layer_folders(self, layer: int) -> list[str]:
        mirror = self.inventory.mirror
        return [f for f in self.inventory.folders() if layout.layer_of(f, mirror) == layer]

    def folder_parts(self, layer: int) -> list[tuple[str, tuple[str, ...]]]:
        """(part, folders): the layer's folders as its folder tasks render them. The
        layer's top folder alone, the others together: the subtree keyword index of the top
        folder lists every symbol of the layer, as the top folders below it do together,
        so after an edit that moves the index the two largest pages render side by side."""
        folders = self.layer_folders(layer)
        parts = [("top", tuple(folders[:1])), ("rest", tuple(folders[1:]))]
        return [(name, part) for name, part in parts if part]

    def layer_chunks(self, layer: int) -> list[str]:
        return [c.name for c in self.chunks if c.layer == layer]

    def siblings(self) -> dict[str, tuple[str, ...]]:
        """Folder -> the names of its inputs, every chunk's together (related files)."""
        names: dict[str, list[str]] = {}
        for chunk in self.chunks:
            names.setdefault(chunk.folder, []).extend(
                i.path.rsplit("/", 1)[-1] for i in chunk.inputs)
        return {folder: tuple(found) for folder, found in names.items()}


def build_graph(config: Config, *, root: str = "", dirty: bool = False,
                save_cache: bool = True, strict: bool = False, scan: Scan | None = None) -> Graph:
    root = root or config.output
    inventory = discover_sources(config, root, save_cache=save_cache, scan=scan)
    templates = templates_digest(config)
    site = PageSite(
        source_root=config.source, output_root=config.output, mirror=inventory.mirror,
        project=config.project_name, roles=tuple(sorted(config.role_map.items())),
        max_source_bytes=config.max_source_bytes, max_tests=config.max_tests,
        max_related=config.max_related, templates=config.templates,
        templates_digest=templates,
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
        repr((site_key(site), templates, code, SCHEMA)).encode()).hexdigest()
    return Graph(config, inventory, site, tuple(chunks), producer, stamp_base, code,
                 extraction_code, dirty, root, strict)


def site_key(site: PageSite) -> tuple[object, ...]:
    """What of the site the pages depend on. The absolute folders only as the pages' links
    to the sources see them: the sources seen from the output, and where the output lies
    in the sources when it does (a link from ``S/out/d`` to ``S/p`` depends on the names
    of ``out``; from ``A/x/out/d`` to ``A/src/p`` it is ``../../src/p`` whatever ``x``
    is). So the same tree built into the same layout anywhere else, as on another CI
    runner, a developer's clone, or an output in another folder beside the first, has the
    same page stamps and takes its pages from the shared cache. The override templates by
    their content (:func:`templates_digest`), not by where they are."""
    inside = posixpath.relpath(site.output_root, site.source_root)
    within = "" if inside == ".." or inside.startswith("../") else inside
    return (posixpath.relpath(site.source_root, site.output_root), within,
            replace(site, source_root="", output_root="", templates="", templates_digest=""))


def templates_digest(config: Config) -> str:
    digest = hashlib.sha256()
    for root in [Path(config.templates)] if config.templates else []:
        _hash_tree(digest, root, ".j2")
    _hash_tree(digest, TEMPLATES, ".j2")
    return digest.hexdigest()


# The code an extraction depends on: the extractors and everything they import (a test holds
# this to their import closure), and the bytes -> text step in isolate and files.
EXTRACTION_CODE = ("extract/", "isolate.py", "records.py", "schema.py", "files.py", "prose.py",
                   "exits.py", "lifetime.py")


@cache
def code_digest() -> tuple[str, str]:
    """Digests of this package's code: all of it, and the part extraction depends on (about
    90 files, read once per process, 1.5-4 ms). Page stamps include the first, extraction
    keys the second, so records and pages made by other code (an upgrade, a local change)
    are made again rather than kept, and a change to rendering does not extract anything
    again. Once per process: a build took it twice (the quick check's key and the graph),
    and a long-lived process (``watch``) must stamp what it makes with the code it runs,
    not with files changed on disk since it loaded them."""
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
