"""The registry of build state: every file a build keeps under ``OUT/.pipeline``, who
writes it, who reads it, and how its staleness is judged. What the tasks declare as
targets, what prune keeps, and what a build is expected to leave all derive from
:data:`KINDS` and :data:`FILES`; the pages a build writes come from :func:`expected_tree`.

Durability: every kind is written only by its writer task, atomically (``files.
write_if_changed``), after that task was struck from doit's journal (``runstate.
begin_task``), and doit records the task again only once it has finished. So a file is
never newer than the record that vouches for it: a task killed half way runs again.

Manifests (the kinds ``pages``, ``folder-pages``, ``keyword-pages``) share one format:
``{"stamp": S, "entries": {KEY: {"stamp": s, "pages": {PAGE: [size, mtime_ns]}, ...}}}``,
and one check, :func:`intact`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from stat import S_ISREG
from typing import Any, Literal

from pipeline import layout
from pipeline.graph import Graph
from pipeline.stateio import load_state_or

Per = Literal["chunk", "folder", "part", "layer", "build"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of state file, one file per chunk, folder, layer or build."""

    name: str  # its folder under OUT/.pipeline
    writer: str  # the task (basename) that writes it, and no other
    readers: tuple[str, ...]
    per: Per
    staleness: str  # how a reader or the writer judges it stale
    optional: bool = False  # written only when it has content (not a doit target)


KINDS: tuple[Kind, ...] = (
    Kind("records", "extract", ("extract", "render"), "chunk",
         "target of extract:C (file_dep: the inputs' bytes; stamp: extraction code); entries "
         "are reused by key (content digest, language, code)"),
    Kind("superseded", "extract", ("extract",), "chunk",
         "the one earlier entry per input; reused only when its key matches", optional=True),
    Kind("summary", "extract", ("link",), "chunk", "file_dep of link:L (content digest)"),
    Kind("ctx", "link", ("render",), "chunk", "file_dep of render:C (content digest)"),
    Kind("folder", "link", ("folder",), "folder",
         "file_dep of the folder tasks of its layer; per folder, the manifest's size, mtime "
         "and digest"),
    Kind("notes", "link", ("report", "failures"), "layer", "read whole at the end of a run"),
    Kind("links", "link", ("link",), "layer",
         "the memo of the layer's last link: its summaries by digest; the next link patches "
         "what changed, or links the whole layer when the memo does not match (relink)"),
    Kind("global", "link", ("keywords",), "build", "file_dep of keywords (content digest)"),
    Kind("pages", "render", ("render", "extract"), "chunk",
         "manifest: per input its stamp and its pages' size and mtime; file_dep of the "
         "next layer's extract"),
    Kind("folder-pages", "folder", ("folder",), "part",
         "manifest: per folder its facts and its pages' size and mtime (one per folder task: "
         "a part of a layer's folders, graph.folder_parts)"),
    Kind("keyword-pages", "keywords", ("keywords",), "build",
         "manifest: keywords.md's size and mtime"),
)
KIND = {kind.name: kind for kind in KINDS}

# Files directly in OUT/.pipeline, outside the kinds.
FILES = {
    "doit.json": "doit's dependency database, compacted at the end of a run (statedb)",
    "journal": "task records appended as tasks finish or start, replayed on load (statedb)",
    "lock": "held for a build's lifetime (runstate.acquire_lock)",
    "discover.json": "discovery's cache of file sizes and mtimes (discover)",
    "clean": "the seal: no task has run since the last run finished (runstate)",
    "version": "the state format; another one resets the folder (runstate.check_state)",
    "quick.json.z": "what the last finished run left: the stats of the sources and state and "
                    "the digests of the page shards the quick no-op check compares, "
                    "zlib-compressed (written by cli after a run; quick)",
}
# The quick record's pages: their stats per manifest, in shards by manifest (quick).
QUICK_SHARDS = 16
FILES.update({f"quick-pages-{index:02}.json.z": "a shard of the quick record's pages"
              for index in range(QUICK_SHARDS)})


def path(kind: str, key: str) -> str:
    """Path under OUT of one state file."""
    assert kind in KIND, kind
    return layout.state_file(kind, key)


def keys(graph: Graph, kind: str, layer: int | None = None) -> list[str]:
    """The keys of a kind's files a build writes (of one layer, or of all)."""
    per = KIND[kind].per
    layers = graph.layers() if layer is None else [layer]
    if per == "chunk":
        return [c.name for c in graph.chunks if c.layer in layers]
    if per == "folder":
        return [f for k in layers for f in graph.layer_folders(k)]
    if per == "part":
        return [part_key(k, name) for k in layers for name, _folders in graph.folder_parts(k)]
    if per == "layer":
        return [str(k) for k in layers]
    return [""] if 1 in layers else []


def part_key(layer: int, part: str) -> str:
    """The key of a folder task's manifest (no folder or chunk name starts with a NUL)."""
    return f"\0folders {layer} {part}"


def written_by(graph: Graph, writer: str, layer: int | None = None,
               chunk: str | None = None, part: str | None = None) -> list[str]:
    """Paths under OUT of the files a task writes: its doit targets."""
    found: list[str] = []
    for kind in KINDS:
        if kind.writer != writer or kind.optional:
            continue
        if chunk is not None:
            found += [path(kind.name, chunk)] if kind.per == "chunk" else []
        elif part is not None and kind.per == "part":
            assert layer is not None
            found += [path(kind.name, part_key(layer, part))]
        else:
            found += [path(kind.name, key) for key in keys(graph, kind.name, layer)]
    return [graph.out(p) for p in found]


def expected_state(graph: Graph) -> frozenset[str]:
    """Every state file (paths under OUT) a build may leave."""
    return frozenset(path(kind.name, key) for kind in KINDS for key in keys(graph, kind.name))


def expected_outputs(graph: Graph) -> frozenset[str]:
    """Every path under OUT that some task produces: the pages, and the state files."""
    return frozenset(expected_pages(graph)) | expected_state(graph)


def expected_pages(graph: Graph) -> Iterator[str]:
    """Every page path under OUT that some task writes."""
    for folder, (files, _subdirs) in expected_tree(graph).items():
        yield from (layout.folder_page(folder, name) for name in files)


def expected_tree(graph: Graph, only: Collection[str] | None = None,
                  ) -> dict[str, tuple[set[str], set[str]]]:
    """Folder under OUT -> (names of the pages it holds, names of its subfolders), parents
    before children: the one statement of which pages a build writes (``only``: of these
    folders alone)."""
    depth, mirror = graph.config.depth, graph.inventory.mirror
    folders = [f for f in graph.inventory.folders() if layout.layer_of(f, mirror) <= depth]
    wanted = None if only is None else frozenset(only)
    tree: dict[str, tuple[set[str], set[str]]] = {f: (set(), set()) for f in folders}
    for folder in folders:
        tree[folder][0].update(layout.FOLDER_PAGES)
        if folder:
            parent, _, name = folder.rpartition("/")
            tree.setdefault(parent, (set(), set()))[1].add(name)
    tree.setdefault("", (set(), set()))[0].add("keywords.md")
    for chunk in graph.chunks:
        if wanted is not None and chunk.folder not in wanted:
            continue
        names = tree.setdefault(chunk.folder, (set(), set()))[0]
        for item in chunk.inputs:
            name = item.path.rpartition("/")[2]
            names.update(layout.file_pages(name))
    if wanted is not None:
        tree = {folder: tree[folder] for folder in wanted if folder in tree}
    return dict(sorted(tree.items(), key=lambda kv: (kv[0].count("/") + bool(kv[0]), kv[0])))


# --------------------------------------------------------------------------- manifests

Manifest = dict[str, Any]


def load_manifest(root: str, kind: str, key: str) -> Manifest:
    """A manifest as written, or an empty one (missing, torn or of another format)."""
    data = load_state_or(f"{root}/{path(kind, key)}", None)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return {"stamp": None, "entries": {}}
    return data


def manifest(stamp: str, entries: dict[str, dict[str, Any]]) -> Manifest:
    return {"stamp": stamp, "entries": entries}


# path -> ((size, mtime_ns, ctime_ns, inode), manifest) of manifests read by the up-to-date
# checks of this process (doit's main process), so that the quick no-op record taken at the
# end of the run reads again only those a task rewrote (a rewrite is a new inode).
_CHECKED: dict[str, tuple[tuple[int, int, int, int], Manifest]] = {}


def checked_manifest(root: str, kind: str, key: str) -> Manifest:
    """:func:`load_manifest`, remembered by the file's stat for the rest of the process."""
    name = f"{root}/{path(kind, key)}"
    try:
        info = os.stat(name)
    except OSError:
        return load_manifest(root, kind, key)
    stamp = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    known = _CHECKED.get(name)
    if known is not None and known[0] == stamp:
        return known[1]
    loaded = load_manifest(root, kind, key)
    _CHECKED[name] = (stamp, loaded)
    return loaded


def page_checks(graph: Graph) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(kind, key, entries) of every page-writing task's manifest check (:func:`intact`)."""
    for chunk in graph.chunks:
        yield "pages", chunk.name, tuple(i.path for i in chunk.inputs)
    for layer in graph.layers():
        for name, folders in graph.folder_parts(layer):
            yield "folder-pages", part_key(layer, name), folders
    yield "keyword-pages", "", ("",)


# Outputs (by root) that this run's quick check found as the last finished run recorded
# them, with the same inputs to document: until a task writes its own pages, every page
# task's manifest check holds and no stray file is there (pipeline.quick.Verdict.intact).
_TRUSTED: set[str] = set()


def trust_outputs(root: str, trusted: bool) -> None:
    """Mark (or unmark, when the run ends) an output as checked by the quick check."""
    if trusted:
        _TRUSTED.add(root)
    else:
        _TRUSTED.discard(root)


def outputs_trusted(root: str) -> bool:
    return root in _TRUSTED


def intact(root: str, kind: str, key: str, entries: Iterable[str]) -> bool:
    """The up-to-date check of a page-writing task: its manifest lists every entry, and
    every page listed is a regular file with the size and mtime its writer recorded (a
    missing or hand-edited page fails it). One stat per page, no read; none when the quick
    check of this run has just compared every page (:func:`trust_outputs`)."""
    if root in _TRUSTED:
        return True
    listed = checked_manifest(root, kind, key)["entries"]
    for name in entries:
        entry = listed.get(name)
        if entry is None or not entry_intact(root, entry):
            return False
    return True


def entry_intact(root: str, entry: dict[str, Any]) -> bool:
    """Each page of a manifest entry is as it was written."""
    for page, (size, mtime) in entry["pages"].items():
        try:
            info = os.lstat(f"{root}/{page}")  # plain strings: run for every page
        except OSError:
            return False
        if info.st_size != size or info.st_mtime_ns != mtime or not S_ISREG(info.st_mode):
            return False
    return True


def page_stats(root: str, pages: Iterable[str]) -> dict[str, list[int]]:
    """[size, mtime_ns] of pages as just written: what :func:`entry_intact` compares."""
    stats: dict[str, list[int]] = {}
    for page in pages:
        info = os.stat(f"{root}/{page}")
        stats[page] = [info.st_size, info.st_mtime_ns]
    return stats
