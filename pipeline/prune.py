"""Keeping the output folder (``root``: the output, or a check's scratch copy) to exactly
what the build produces (:mod:`pipeline.state` says what that is), and the run's verdict.

These actions and their checks run on every build, so this module imports no parser and
no template engine: a no-op build runs the checks in the main process and starts nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline import layout, state
from pipeline.graph import Counts, Graph


def no_strays(root: str, graph: Graph) -> bool:
    """``prune:pages``'s up-to-date check: no file under O that no task produces (when the
    run's quick check found the output folders as last recorded, none can be)."""
    return state.outputs_trusted(root) or no_strays_in(root, state.expected_tree(graph))


def no_strays_in(root: str, tree: dict[str, tuple[set[str], set[str]]]) -> bool:
    """No file that no task produces in these folders (folder -> (pages, subfolders), as
    :func:`pipeline.state.expected_tree` gives them).

    One ``listdir`` per expected folder and a set difference (the pages are not stat'ed:
    their render tasks do that); an expected folder that is a symlink, or a page name held
    by anything but a regular file, is left to :func:`prune_pages` (which never follows
    links) or to the render task that owns the page."""
    for folder, (files, subdirs) in tree.items():
        path = f"{root}/{folder}" if folder else root
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


def prune_pages(root: str, graph: Graph) -> Counts:
    """Before rendering: remove every file under O, outside the state folder, that no task
    produces (pages of deleted inputs, stray files, temp files of a killed run)."""
    return {"pages_removed": _prune(Path(root), state.expected_outputs(graph),
                                    skip_state=True)}


def remove_pages(root: str, pages: list[str]) -> None:
    """Remove pages (paths under O) that exist."""
    for page in pages:
        try:
            os.unlink(f"{root}/{page}")
        except FileNotFoundError:
            pass


def prune_state(root: str, graph: Graph) -> Counts:
    """Remove state files no task produces."""
    prefix = len(layout.STATE) + 1
    kept = {p[prefix:] for p in state.expected_state(graph)} | set(state.FILES)
    _prune(Path(root) / layout.STATE, kept, skip_state=False)
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


def no_failures(root: str, depth: int, strict: bool) -> bool:
    """``failures``'s up-to-date check: no file carries an error note (any note if strict)."""
    return not _failed(root, depth, strict)


def failure_verdict(root: str, depth: int, strict: bool) -> Any:
    """The ``failures`` task's action (it writes nothing): a TaskFailed naming how many
    files failed, or None when none did."""
    from doit.exceptions import TaskFailed

    failed = _failed(root, depth, strict)
    if failed:
        return TaskFailed(f"{len(failed):,} file(s) failed; their pages carry a note")
    return None


def _failed(root: str, depth: int, strict: bool) -> set[str]:
    from pipeline.report import failed_notes, read_notes

    return {note.path for note in failed_notes(read_notes(root, depth), strict)}
