"""The quick no-op check: when nothing a build reads has moved since the last run finished,
``python -m pipeline build`` ends before doit loads a single task.

A run that finishes with every task done or up to date (the seal is there, doit saved its
database) records in ``OUT/.pipeline/quick.json`` what it leaves: a key of everything
besides files that the build depends on (config, code, templates, parser versions, state
format), the stat of every source as discovery saw it, the stat of every state file and of
every output folder, and each page's size and mtime as its manifest recorded it. The next
build compares: one stat-walk of the sources (which discovery then reuses when anything
moved), one ``lstat`` per state file, folder and page, no read of any of them. Equal, a
doit run would skip every task: same sources by doit's file checker rule (a source's stat
is recorded only when settled, so an edit within the tick of the stat still shows), same
state files, same pages (a missing or hand-edited page fails the check as it fails its
task's), and no stray file (a file added to or removed from a folder moves its mtime).
Anything else, even a touched file with the same bytes, runs doit, which decides as always.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from stat import S_ISDIR, S_ISREG
from typing import Any

import orjson

from pipeline import filestate, layout, runstate, state, versions
from pipeline import graph as graphs
from pipeline.config import Config
from pipeline.discover import Scan
from pipeline.files import write_if_changed
from pipeline.graph import Graph
from pipeline.statedb import JOURNAL

# Config keys that change how a build runs, never what it writes.
RUN_ONLY = frozenset({"jobs", "cache", "cache_mode", "scheduler"})
# Files directly in OUT/.pipeline whose stat is part of the record (the others are the
# record itself, the lock, the seal and the journal, checked for being there or not, and
# discovery's cache, which changes no output).
STATE_FILES = ("doit.json", "version")
Record = dict[str, Any]


def record_path(root: str) -> str:
    return f"{root}/{layout.STATE}/quick.json"


def build_key(config: Config) -> str:
    """Digest of everything besides files that a build's outputs depend on."""
    settings = {k: v for k, v in asdict(config).items() if k not in RUN_ONLY}
    parts = [runstate.STATE_VERSION, sys.version, settings, graphs.code_digest()[0],
             graphs.templates_digest(config), versions.parser_versions()]
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


# --------------------------------------------------------------------------- the check

def up_to_date(config: Config, scan: Scan) -> Record | None:
    """The record's report when a build would run no task (the output's lock held), else
    None. Cheapest comparisons first: an edit is seen at the sources."""
    root = config.output
    try:
        with open(record_path(root), "rb") as handle:
            saved = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != build_key(config):
        return None
    if scan.files != saved["sources"] or list(scan.links) != saved["links"]:
        return None
    directory = f"{root}/{layout.STATE}"
    if not runstate.is_sealed(root) or os.path.lexists(f"{directory}/{JOURNAL}"):
        return None
    report: Record = saved["report"]
    checks = (_same_files(root, saved["state"], _file_stat),
              _same_files(root, saved["folders"], _folder_stat),
              _same_files(root, saved["pages"], _page_stat))
    return report if all(checks) else None


def _file_stat(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _folder_stat(info: os.stat_result) -> list[int]:
    return [info.st_mtime_ns, info.st_ino] if S_ISDIR(info.st_mode) else []


def _page_stat(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns] if S_ISREG(info.st_mode) else []


def _same_files(root: str, grouped: Mapping[str, Mapping[str, list[int]]],
                stat_of: Any) -> bool:
    """Every file (folder -> name -> stat) still has the stat recorded. Plain strings and
    a local ``lstat``: this runs once per page."""
    lstat = os.lstat
    for folder, names in grouped.items():
        prefix = f"{root}/{folder}/" if folder else f"{root}/"
        for name, recorded in names.items():
            try:
                if stat_of(lstat(prefix + name)) != recorded:
                    return False
            except OSError:
                return False
    return True


# --------------------------------------------------------------------------- the record

def record(graph: Graph, scan: Scan, report: Record) -> None:
    """After a run that left every task done or up to date: record what it leaves, or
    remove the record when some of it cannot be trusted by stat alone."""
    root = graph.root
    made = None
    if all(filestate.settled_at(info[2], scan.taken) for info in scan.files.values()):
        made = _make(graph, scan, report)
    if made is None:
        try:
            os.unlink(record_path(root))
        except FileNotFoundError:
            pass
        return
    write_if_changed(record_path(root), orjson.dumps(made))


def _make(graph: Graph, scan: Scan, report: Record) -> Record | None:
    root = graph.root
    pages = _pages(graph)
    folders = _folders(root, state.expected_tree(graph))
    if pages is None or folders is None:
        return None
    files = [f"{layout.STATE}/{name}" for name in STATE_FILES]
    present = [p for p in sorted(state.expected_state(graph)) if os.path.lexists(f"{root}/{p}")]
    stats = _grouped(root, files + present, _file_stat)
    if stats is None:
        return None
    return {"key": build_key(graph.config), "sources": scan.files, "links": list(scan.links),
            "state": stats, "folders": folders, "pages": pages, "report": report}


def _pages(graph: Graph) -> dict[str, dict[str, list[int]]] | None:
    """Each page's [size, mtime_ns] as its manifest recorded it, by folder; None when a
    manifest misses an entry (then the run did not leave every page task up to date)."""
    grouped: dict[str, dict[str, list[int]]] = {}
    for kind, key, entries in state.page_checks(graph):
        listed = state.checked_manifest(graph.root, kind, key)["entries"]
        for entry in entries:
            if entry not in listed:
                return None
            for page, stats in listed[entry]["pages"].items():
                folder, _, name = page.rpartition("/")
                grouped.setdefault(folder, {})[name] = stats
    return grouped


def _folders(root: str, tree: Iterable[str]) -> dict[str, dict[str, list[int]]] | None:
    """[mtime_ns, inode] of every output folder, by parent. A folder changed in the tick
    its stat is taken in could change again unseen: wait for the next tick (a few ms),
    or give up where file times are whole seconds."""
    paths = [folder for folder in tree if folder]
    for _attempt in range(3):
        grouped: dict[str, dict[str, list[int]]] = {}
        latest = 0
        for folder in [""] + paths:
            try:
                info = os.lstat(f"{root}/{folder}" if folder else root)
            except OSError:
                return None
            parent, _, name = folder.rpartition("/") if folder else ("", "", "")
            grouped.setdefault(parent, {})[name] = _folder_stat(info)
            latest = max(latest, info.st_ctime_ns)
        if filestate.settled_at(latest, filestate.now_ns()):
            return grouped
        if latest % 1_000_000_000 == 0:
            return None
        time.sleep(0.002)
    return None


def _grouped(root: str, paths: list[str],
             stat_of: Any) -> dict[str, dict[str, list[int]]] | None:
    grouped: dict[str, dict[str, list[int]]] = {}
    for rel in paths:
        try:
            info = os.lstat(f"{root}/{rel}")
        except OSError:
            return None
        folder, _, name = rel.rpartition("/")
        grouped.setdefault(folder, {})[name] = stat_of(info)
    return grouped
