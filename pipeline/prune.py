"""Keeping the output folder to exactly what the build produces, and the run's verdict.

These actions and their checks run on every build, so this module imports no parser and
no template engine: a no-op build runs the checks in the main process and starts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import layout
from pipeline.files import load_json

if TYPE_CHECKING:
    from pipeline.tasks import Graph

Counts = dict[str, int]
KEEP_STATE = frozenset({"doit.json", "lock", "discover.json", "clean", "version"})


def pages_intact(output: str, graph: Graph) -> bool:
    """``prune:pages``'s up-to-date check: no stray file, no page altered since written."""
    from pipeline.tasks import expected_outputs

    strays, _ = _scan(Path(output), expected_outputs(graph), skip_state=True)
    return not strays and next(_altered_pages(output, graph), None) is None


def prune_pages(output: str, graph: Graph) -> Counts:
    """Before rendering: remove every file under O, outside the state folder, that no task
    produces (pages of deleted inputs, stray files, temp files of a killed run), and every
    page whose size or mtime is not what the build wrote (edited by hand), so that the
    render tasks see it missing and write it again."""
    from pipeline.tasks import expected_outputs

    removed = _prune(Path(output), expected_outputs(graph), skip_state=True)
    for path in list(_altered_pages(output, graph)):
        os.unlink(path)
    return {"pages_removed": removed}


def _altered_pages(output: str, graph: Graph) -> Iterator[str]:
    """Paths of the pages whose size or mtime differs from what their render recorded."""
    for page, (size, mtime) in _written_pages(Path(output), graph):
        path = f"{output}/{page}"  # plain strings: this loop stats every page of the tree
        try:
            info = os.stat(path)
        except OSError:
            continue  # a missing page is a missing target: its task runs again
        if info.st_size != size or info.st_mtime_ns != mtime:
            yield path


def _written_pages(out: Path, graph: Graph) -> Iterator[tuple[str, list[int]]]:
    """Every page with the (size, mtime) its last render recorded."""
    for chunk in graph.chunks:
        try:
            manifest = load_json(out / layout.state_file("pages", chunk.name))
        except (OSError, ValueError):
            continue
        for path, entry in manifest.items():
            yield from zip(layout.file_pages(path), entry.get("stat", ()), strict=False)
    for key in [*graph.inventory.folders(), layout.KEYWORDS_KEY]:
        try:
            yield from load_json(out / layout.state_file("fpages", key)).items()
        except (OSError, ValueError):
            continue


def prune_state(output: str, graph: Graph) -> Counts:
    """Remove state files no task produces, and cached extractions no record refers to."""
    from pipeline.tasks import expected_outputs

    out = Path(output)
    expected = set(expected_outputs(graph))
    for chunk in graph.chunks:  # extractions still referenced by a record stay cached
        try:
            entries = load_json(out / layout.state_file("records", chunk.name))
        except (OSError, ValueError):
            continue
        expected.update(layout.cache_file(e["key"]) for e in entries if "key" in e)
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
    from pipeline.report import ERROR_NOTES, read_notes

    return {path for path, kind, _line, _message in read_notes(output, depth)
            if strict or kind in ERROR_NOTES}
