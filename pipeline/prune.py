"""Keeping the output folder to exactly what the build produces, and the run's verdict.

These actions and their checks run on every build, so this module imports no parser and
no template engine: a no-op build runs the checks in the main process and starts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from pipeline import layout
from pipeline.stateio import load_state

if TYPE_CHECKING:
    from pipeline.tasks import Graph

Counts = dict[str, int]
KEEP_STATE = frozenset({"doit.json", "lock", "discover.json", "clean", "version"})


def no_strays(output: str, graph: Graph) -> bool:
    """``prune:pages``'s up-to-date check: no file under O that no task produces.

    One ``listdir`` per expected folder and a set difference (the pages are not stat'ed:
    their render tasks do that); an expected folder that is a symlink, or a page name held
    by anything but a regular file, is left to :func:`prune_pages` (which never follows
    links) or to the render task that owns the page."""
    for folder, (files, subdirs) in _expected_tree(graph).items():
        path = f"{output}/{folder}" if folder else output
        try:
            present = set(os.listdir(path))
        except FileNotFoundError:
            continue  # its pages are missing: their tasks' own checks fail
        except OSError:
            return False  # not a folder: prune:pages removes it
        if not folder:
            present.discard(layout.STATE)
        if not present <= files | subdirs:
            return False
        for name in present & subdirs:
            if os.path.islink(f"{path}/{name}"):
                return False
    return True


def expected_pages(graph: Graph) -> Iterator[str]:
    """Every page path under O that some task writes."""
    for folder, (files, _subdirs) in _expected_tree(graph).items():
        yield from (layout.folder_page(folder, name) for name in files)


def _expected_tree(graph: Graph) -> dict[str, tuple[set[str], set[str]]]:
    """Folder under O -> (names of the pages it holds, names of its subfolders), parents
    before children: the one statement of which pages a build writes."""
    depth, mirror = graph.config.depth, graph.inventory.mirror
    folders = [f for f in graph.inventory.folders() if layout.layer_of(f, mirror) <= depth]
    tree: dict[str, tuple[set[str], set[str]]] = {f: (set(), set()) for f in folders}
    for folder in folders:
        tree[folder][0].update(layout.FOLDER_PAGES)
        if folder:
            parent, _, name = folder.rpartition("/")
            tree.setdefault(parent, (set(), set()))[1].add(name)
    tree.setdefault("", (set(), set()))[0].add("keywords.md")
    for chunk in graph.chunks:
        names = tree.setdefault(chunk.folder, (set(), set()))[0]
        for item in chunk.inputs:
            name = item.path.rpartition("/")[2]
            names.update(layout.file_pages(name))
    return dict(sorted(tree.items(), key=lambda kv: (kv[0].count("/") + bool(kv[0]), kv[0])))


def prune_pages(output: str, graph: Graph) -> Counts:
    """Before rendering: remove every file under O, outside the state folder, that no task
    produces (pages of deleted inputs, stray files, temp files of a killed run)."""
    from pipeline.tasks import expected_outputs

    return {"pages_removed": _prune(Path(output), expected_outputs(graph), skip_state=True)}


def chunk_intact(output: str, chunk: str, paths: tuple[str, ...]) -> bool:
    """A render task's up-to-date check (with its inputs' digests): the chunk's page
    manifest lists every input, and each page has the size and mtime its render recorded
    (a missing or hand-edited page fails it). One stat per page, no read."""
    try:
        manifest = load_state(f"{output}/{layout.state_file('pages', chunk)}")
    except (OSError, ValueError):
        return False
    for path in paths:
        entry = manifest.get(path)
        if entry is None or not stats_match(output, layout.file_pages(path), entry["stat"]):
            return False
    return True


def folder_intact(output: str, key: str) -> bool:
    """The keywords task's check: every page it wrote is as it wrote it."""
    try:
        manifest = load_state(f"{output}/{layout.state_file('fpages', key)}")
    except (OSError, ValueError):
        return False
    return bool(manifest) and stats_match(output, tuple(manifest), list(manifest.values()))


def folders_intact(output: str, key: str, folders: tuple[str, ...]) -> bool:
    """A layer's folder task's check (with its facts files' digests): the manifest lists
    every folder, and every page is as it was written."""
    try:
        manifest = load_state(f"{output}/{layout.state_file('fpages', key)}")
    except (OSError, ValueError):
        return False
    entries = manifest.get("folders", {})
    for folder in folders:
        entry = entries.get(folder)
        if entry is None:
            return False
        pages = entry["pages"]
        if not stats_match(output, tuple(pages), list(pages.values())):
            return False
    return True


def stats_match(output: str, pages: tuple[str, ...], stats: list[list[int]]) -> bool:
    """Each page is a regular file with the recorded [size, mtime_ns]."""
    if len(pages) != len(stats):
        return False
    for page, (size, mtime) in zip(pages, stats, strict=True):
        try:
            info = os.lstat(f"{output}/{page}")  # plain strings: run for every page
        except OSError:
            return False
        if info.st_size != size or info.st_mtime_ns != mtime or not S_ISREG(info.st_mode):
            return False
    return True


def remove_pages(output: str, pages: list[str]) -> None:
    """Remove pages (paths under O) that exist."""
    for page in pages:
        try:
            os.unlink(f"{output}/{page}")
        except FileNotFoundError:
            pass


def prune_state(output: str, graph: Graph) -> Counts:
    """Remove state files no task produces."""
    from pipeline.tasks import expected_outputs

    out = Path(output)
    expected = set(expected_outputs(graph))
    _prune(out / layout.STATE, {p[len(layout.STATE) + 1:] for p in expected
                                if p.startswith(layout.STATE + "/")} | KEEP_STATE,
           skip_state=False)
    return {}


def _prune(out: Path, expected: set[str] | frozenset[str], skip_state: bool) -> int:
    """Delete files under ``out`` not in ``expected`` (relative paths) and the folders this
    leaves empty; symlinks are removed, never followed."""
    strays, bare = _scan(out, expected, skip_state)
    for path in strays:
        os.unlink(path)
    for root in reversed(bare):  # children before parents
        if not os.listdir(root):
            os.rmdir(root)
    return len(strays)


def _scan(out: Path, expected: set[str] | frozenset[str],
          skip_state: bool) -> tuple[list[str], list[str]]:
    """(files and symlinks under ``out`` that are not expected, folders that kept no
    expected file, parents first). Top-down, so the state folder (thousands of cache
    files) is not entered when ``skip_state``."""
    strays: list[str] = []
    bare: list[str] = []
    for root, dirs, files in os.walk(out):
        rel_root = os.path.relpath(root, out)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        if skip_state and not rel_root and layout.STATE in dirs:
            dirs.remove(layout.STATE)
        for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            strays.append(os.path.join(root, name))
            dirs.remove(name)
        kept = False
        for name in files:
            rel = f"{rel_root}/{name}" if rel_root else name
            if rel in expected and not name.startswith(".tmp-"):
                kept = True
            else:
                strays.append(os.path.join(root, name))
        if rel_root and not kept:  # only folders left without files can become empty
            bare.append(root)
    return strays, bare


def no_failures(output: str, depth: int, strict: bool) -> bool:
    """``failures``'s up-to-date check: no file carries an error note (any note if strict)."""
    return not _failed(output, depth, strict)


def report_failures(output: str, depth: int, strict: bool) -> Any:
    """A TaskFailed naming how many files failed, or None when none did."""
    from doit.exceptions import TaskFailed

    failed = _failed(output, depth, strict)
    if failed:
        return TaskFailed(f"{len(failed):,} file(s) failed; their pages carry a note")
    return None


def _failed(output: str, depth: int, strict: bool) -> set[str]:
    from pipeline.report import failed_notes, read_notes

    return {note.path for note in failed_notes(read_notes(output, depth), strict)}
