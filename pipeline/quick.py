"""The quick no-op check: when nothing a build reads has moved since the last run finished,
``python -m pipeline build`` ends before doit loads a single task.

A run that finishes with every task done or up to date (the seal is there, doit saved its
database) records in ``OUT/.pipeline/quick.json.z`` what it leaves: a key of everything
besides files that the build depends on (config, code, templates, parser versions, state
format), the stat of every source as discovery saw it, the stat of every state file and of
every output folder, and each page's size and mtime as its manifest recorded it (in shards
beside the record, which names their digests). The next build compares: one stat-walk of
the sources (which discovery then reuses when anything moved), one ``lstat`` per state
file, folder and page, no read of any of them. Equal, a doit run would skip every task:
same sources by doit's file checker rule (a source's stat is recorded only when settled, so
an edit within the tick of the stat still shows), same state files, same pages (a missing
or hand-edited page fails the check as it fails its task's), and no stray file (a file
added to or removed from a folder moves its mtime).
Anything else, even a touched file with the same bytes, runs doit, which decides as always.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from stat import S_ISDIR, S_ISREG
from typing import Any

import orjson

from pipeline import filestate, layout, prune, runstate, state, versions
from pipeline import graph as graphs
from pipeline.config import Config
from pipeline.discover import Input, Scan
from pipeline.files import write_if_changed
from pipeline.graph import Chunk, Graph
from pipeline.statedb import JOURNAL

# Config keys that change how a build runs, never what it writes.
RUN_ONLY = frozenset({"jobs", "cache", "cache_mode", "scheduler"})
# Files directly in OUT/.pipeline whose stat is part of the record (the others are the
# record itself, the lock, the seal and the journal, checked for being there or not, and
# discovery's cache, which changes no output).
STATE_FILES = ("doit.json", "version")
# The record is compact JSON compressed by zlib (in the standard library, loaded with the
# interpreter: a no-op imports no compressor). Level 1: a fifth of the JSON's bytes on the
# torch wheel (6.9 -> 1.6 MB), 20 ms to inflate; zstd would be a module to import.
RECORD_LEVEL = 1
LEGACY_RECORD = "quick.json"  # state format 3 before the record was compressed
Record = dict[str, Any]
Grouped = dict[str, dict[str, list[int]]]  # folder -> name -> stat


# The pages' stats (most of the record: 4.9 MB of its 6.9 MB of JSON on the torch wheel) are
# kept in shard files, by manifest, beside the record, which names each shard's digest and
# page count: an edit rewrites the shards of the manifests it moved, and reads no other.
SHARDS = state.QUICK_SHARDS


def record_path(root: str) -> str:
    return f"{root}/{layout.STATE}/quick.json.z"


def shard_path(root: str, index: int) -> str:
    return f"{root}/{layout.STATE}/quick-pages-{index:02}.json.z"


def _shard_of(manifest: str) -> int:
    return zlib.crc32(manifest.encode()) % SHARDS


def _load_shard(root: str, index: int, digest: str) -> dict[str, Grouped] | None:
    """One shard's pages (manifest -> folder -> name -> stat), or None when the file is not
    the one the record names."""
    try:
        with open(shard_path(root, index), "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None
    try:
        pages = orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError):
        return None
    return pages if isinstance(pages, dict) else None


def _load_pages(root: str, saved: Record) -> dict[str, Grouped] | None:
    """Every manifest's pages, from the shards the record names (None: one is not there or
    not as recorded)."""
    pages: dict[str, Grouped] = {}
    for index, (digest, _count) in enumerate(saved["shards"]):
        shard = _load_shard(root, index, digest)
        if shard is None:
            return None
        pages.update(shard)
    return pages


def build_key(config: Config) -> str:
    """Digest of everything besides files that a build's outputs depend on."""
    settings = {k: v for k, v in asdict(config).items() if k not in RUN_ONLY}
    parts = [runstate.STATE_VERSION, sys.version, settings, graphs.code_digest()[0],
             graphs.templates_digest(config), versions.parser_versions()]
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


# --------------------------------------------------------------------------- the check

@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check found. ``report``: nothing moved, the build is a no-op (what it
    prints). ``intact``: only the bytes or stats of sources moved; the same files are there,
    and the pages, output folders and state files are as recorded, so the pages' own checks
    hold until their tasks run (:func:`pipeline.state.trust_outputs`) and the next record
    can reuse the parts of ``saved`` whose manifests did not change."""

    report: Record | None = None
    intact: bool = False
    saved: Record | None = None
    key: str = ""  # build_key when the run began: what the run's record is made under
    # an edit's check of the pages, state files and folders, under way beside the build
    # (``intact`` holds only if it finds them as recorded); None: done before the verdict
    outputs: Deferred | None = None

    def outputs_intact(self) -> bool:
        return self.intact and (self.outputs is None or self.outputs.result())


class Deferred:
    """A check of the outputs run in a forked child while this process derives the graph
    and loads doit's database (on the torch wheel the child's 93,000 ``lstat`` calls take
    0.13 s, as long as those): the answer is one byte on a pipe, read when the build needs
    it. Where forking is unsafe (other Python threads) or missing, it runs at once. A
    child that dies before answering answers no: the build then trusts nothing."""

    def __init__(self, check: Callable[[], bool], fork: bool = True) -> None:
        self._answer: bool | None = None
        self._child = (-1, -1)
        if not (fork and hasattr(os, "fork")) or threading.active_count() > 1:
            self._answer = _answer(check)
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: answer, and leave without running anything of the parent's
            try:  # hold nothing of the parent's that outlives it: the lock, the pipes
                runstate.drop_inherited_locks()
                os.close(read)
                quiet = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(quiet, fd)
                os.write(write, b"1" if _answer(check) else b"0")
            finally:
                os._exit(0)
        os.close(write)
        self._child = (pid, read)

    def result(self) -> bool:
        if self._answer is None:
            pid, read = self._child
            with os.fdopen(read, "rb") as answer:
                self._answer = answer.read(1) == b"1"
            os.waitpid(pid, 0)
        return self._answer


def _answer(check: Callable[[], bool]) -> bool:
    """The check's answer; no when it fails (nothing is then trusted)."""
    try:
        return check()
    except Exception:  # noqa: BLE001 - an unexpected failure must only cost a full run
        return False


def check(config: Config, scan: Scan, *, plan_edits: bool = True,
          fork: bool = True) -> Verdict:
    """Compare the output (its lock held) with the last record. Cheapest comparisons
    first: an edit is seen at the sources before any page is looked at. Without
    ``plan_edits`` (a caller that runs the whole graph unless nothing moved), an edit is
    a verdict of nothing intact, and the outputs are not looked at. Without ``fork`` (a
    process with threads Python does not know of, such as a file watcher's), an edit's
    check of the outputs runs at once."""
    root = config.output
    key = build_key(config)
    try:
        with open(record_path(root), "rb") as handle:
            saved = orjson.loads(zlib.decompress(handle.read()))
    except (OSError, zlib.error, orjson.JSONDecodeError):
        return Verdict(key=key)
    if not isinstance(saved, dict) or saved.get("key") != key \
            or not _shards_listed(saved.get("shards")):
        return Verdict(key=key)
    same_sources = scan.files == saved["sources"]
    if not same_sources and scan.files.keys() != saved["sources"].keys():
        return Verdict(key=key)
    directory = f"{root}/{layout.STATE}"
    if list(scan.links) != saved["links"] or list(scan.special) != saved.get("special") \
            or list(scan.unnamed) != saved.get("unnamed", []) \
            or not runstate.is_sealed(root) \
            or os.path.lexists(f"{directory}/{JOURNAL}"):
        return Verdict(key=key)

    def same_outputs() -> bool:
        pages = _load_pages(root, saved)
        return (pages is not None and _same_files(root, saved["state"], _file_stat)
                and _same_files(root, saved["folders"], _folder_stat)
                and all(_same_pages(root, grouped) for grouped in pages.values()))

    if not same_sources:  # an edit: the graph is derived meanwhile
        if not plan_edits:
            return Verdict(key=key)
        return Verdict(intact=True, saved=saved, key=key,
                       outputs=Deferred(same_outputs, fork=fork))
    if not _answer(same_outputs):
        return Verdict(key=key)
    return Verdict(report=saved["report"], intact=True, saved=saved, key=key)


def _shards_listed(shards: Any) -> bool:
    """The record names every shard as [digest, page count] (a record of another format,
    or damaged, is no record)."""
    return isinstance(shards, list) and len(shards) == SHARDS and all(
        isinstance(s, list) and len(s) == 2 and isinstance(s[0], str)
        and type(s[1]) is int for s in shards)


def page_count(saved: Record) -> int:
    """How many pages a record lists (every page a build leaves)."""
    return sum(count for _digest, count in saved["shards"])


def _file_stat(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _folder_stat(info: os.stat_result) -> list[int]:
    return [info.st_mtime_ns, info.st_ino] if S_ISDIR(info.st_mode) else []


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


def _same_pages(root: str, grouped: Mapping[str, Mapping[str, list[int]]]) -> bool:
    """:func:`_same_files` for pages, written out: it runs 75,000 times on the torch
    wheel, where a call and a list per page cost a fifth of the check."""
    lstat = os.lstat
    for folder, names in grouped.items():
        prefix = f"{root}/{folder}/" if folder else f"{root}/"
        for name, (size, mtime) in names.items():
            try:
                info = lstat(prefix + name)
            except OSError:
                return False
            if info.st_mtime_ns != mtime or info.st_size != size or not S_ISREG(info.st_mode):
                return False
    return True


def trusted(graph: Graph, verdict: Verdict) -> bool:
    """Only the bytes or stats of sources moved and the outputs are as recorded (the check
    of them, under way beside the build, is waited for): they can be trusted as the check
    found them (:func:`pipeline.state.trust_outputs`)."""
    return plannable(graph, verdict) and verdict.outputs_intact()


def plannable(graph: Graph, verdict: Verdict) -> bool:
    """Only the bytes or stats of sources moved (``verdict.intact``) and discovery told text
    from binary as when the record was taken (an edit can turn one into the other, which
    changes the pages a build expects): an edit's focus can be planned, and becomes the
    build's when the outputs' check, not waited for here, finds them as recorded."""
    saved = verdict.saved or {}
    return verdict.intact and [p for p, _ in graph.inventory.binaries] == saved.get("binaries")


def _moved(verdict: Verdict, scan: Scan) -> set[str]:
    """The sources whose stat moved since the record."""
    before = (verdict.saved or {})["sources"]
    return {path for path, info in scan.files.items() if before.get(path) != info}


def edited(graph: Graph, verdict: Verdict, scan: Scan) -> list[tuple[Chunk, Input]]:
    """The sources whose stat moved since the record (in the order of the chunks), each
    with its layer-1 chunk."""
    moved = _moved(verdict, scan)
    return [(chunk, item) for chunk in graph.chunks if chunk.layer == 1
            for item in chunk.inputs if item.path in moved]


def focus(graph: Graph, verdict: Verdict, scan: Scan) -> frozenset[str]:
    """The chunks an edit can reach before a link task runs: those holding a source whose
    stat or test flag moved (the record keeps the flags: a pytest configuration decides
    them for files it does not hold), then per layer those documenting their folders'
    pages (a folder's pages are the next layer's inputs in the mirrored folder). Every
    other chunk's extract and render tasks are up to date: their inputs, records,
    contexts and pages are as the last finished run left them, until a link writes a
    context (see :func:`contexts_moved`). Whatever else a task stamp takes from another
    file than its own inputs must be recorded and compared here too."""
    saved = verdict.saved or {}
    changed = _moved(verdict, scan)
    # Inputs whose test flag moved (an edit of a pytest configuration): their extract tasks'
    # stamps changed although their bytes did not.
    changed |= _tests(graph).symmetric_difference(saved.get("tests", ()))
    mirror = graph.inventory.mirror
    chunks = sorted(graph.chunks, key=lambda c: c.layer)
    edited = [c for c in chunks if c.layer == 1 and any(i.path in changed for i in c.inputs)]
    folders = {c.folder for c in edited}
    reached = {c.name for c in edited}
    for layer in range(2, graph.config.depth + 1):
        folders = {layout.next_layer_input(f, mirror) if f else mirror for f in folders}
        reached |= {c.name for c in chunks if c.layer == layer and c.folder in folders}
    return frozenset(reached)


def _tests(graph: Graph) -> set[str]:
    """The sources discovery found to be test files (:attr:`pipeline.discover.Input.test`)."""
    return {item.path for item in graph.inventory.inputs if item.test}


def contexts_moved(graph: Graph, verdict: Verdict) -> bool:
    """A link task of this run wrote the context of a chunk outside the focus: its render
    task, not declared, is out of date (a full run follows)."""
    saved: Grouped = (verdict.saved or {}).get("state", {})
    for chunk in graph.chunks:
        if graph.declared(chunk):
            continue
        rel = state.path("ctx", chunk.name)
        try:
            info = os.lstat(f"{graph.root}/{rel}")
        except OSError:
            return True
        if _file_stat(info) != _at(saved, rel):
            return True
    return False


# --------------------------------------------------------------------------- the record

def record(graph: Graph, scan: Scan, report: Record, verdict: Verdict,
           trusted: bool) -> Record | None:
    """After a run that left every task done or up to date: record what it leaves under
    the key taken when it began (code changed while it ran is not what made its pages), or
    remove the record when some of it cannot be trusted by stat alone. ``trusted``: this
    run's check found the outputs as the last record says (its parts are reused). Returns
    the record (None: removed)."""
    made = None
    previous = verdict.saved if trusted else None
    try:
        os.unlink(f"{graph.root}/{layout.STATE}/{LEGACY_RECORD}")
    except FileNotFoundError:
        pass
    settled = all(filestate.settled_at(info[2], scan.taken) for info in scan.files.values())
    if verdict.key and settled:
        made = _make(graph, scan, report, previous or {}, verdict.key)
    if made is None:
        try:
            os.unlink(record_path(graph.root))
        except FileNotFoundError:
            pass
        return None
    # the record last: it names the shards written before it
    write_if_changed(record_path(graph.root), zlib.compress(orjson.dumps(made), RECORD_LEVEL))
    return made


def _make(graph: Graph, scan: Scan, report: Record, previous: Record,
          key: str) -> Record | None:
    root = graph.root
    if previous:  # the same inputs: the same state files, and they all exist
        paths = [f"{folder}/{name}" for folder, names in previous["state"].items()
                 for name in names]
    else:
        paths = [f"{layout.STATE}/{name}" for name in STATE_FILES] + [
            p for p in sorted(state.expected_state(graph)) if os.path.lexists(f"{root}/{p}")]
    stats = _grouped(root, paths, _file_stat)
    if stats is None:
        return None
    shards = _shards(graph, stats, previous)
    folders = _folders(graph, previous)
    if shards is None or folders is None:
        return None
    return {"key": key, "sources": scan.files, "links": list(scan.links),
            "special": list(scan.special), "unnamed": list(scan.unnamed),
            "binaries": [path for path, _ in graph.inventory.binaries],
            "tests": sorted(_tests(graph)),
            "state": stats, "folders": folders, "shards": shards, "report": report}


def _shards(graph: Graph, stats: Grouped, previous: Record) -> list[list[Any]] | None:
    """Write the shards of the pages' [size, mtime_ns] per manifest, as each manifest
    recorded them, by folder; their [digest, page count], or None when a manifest misses an
    entry (then the run did not leave every page task up to date). A manifest whose stat is
    as in the previous record has the same pages: a shard whose manifests all are keeps its
    file."""
    before_stats: Grouped = previous.get("state", {})
    before_shards: list[list[Any]] = previous.get("shards", [])
    moved: dict[int, dict[str, Grouped]] = {}
    for kind, key, entries in state.page_checks(graph):
        rel = state.path(kind, key)
        now = _at(stats, rel)
        if before_shards and now is not None and _at(before_stats, rel) == now:
            continue
        listed = state.checked_manifest(graph.root, kind, key)["entries"]
        grouped: Grouped = {}
        for entry in entries:
            if entry not in listed:
                return None
            for page, page_stat in listed[entry]["pages"].items():
                page_folder, _, page_name = page.rpartition("/")
                grouped.setdefault(page_folder, {})[page_name] = page_stat
        moved.setdefault(_shard_of(rel), {})[rel] = grouped
    shards = []
    for index in range(SHARDS):
        if before_shards and index not in moved:
            shards.append(before_shards[index])
            continue
        pages = _load_shard(graph.root, index, before_shards[index][0]) \
            if before_shards else {}
        if pages is None:
            return None
        pages.update(moved.get(index, {}))
        data = zlib.compress(orjson.dumps(pages), RECORD_LEVEL)
        write_if_changed(shard_path(graph.root, index), data)
        count = sum(len(names) for grouped in pages.values() for names in grouped.values())
        shards.append([hashlib.sha256(data).hexdigest(), count])
    return shards


def _folders(graph: Graph, previous: Record) -> Grouped | None:
    """[mtime_ns, inode] of every output folder, by parent, taken once every folder's last
    change is in an earlier clock tick (a few ms; where file times are whole seconds that
    takes too long: no record). Folders whose stat is not as in the previous record are
    then listed: a stray file must not be recorded as expected."""
    root = graph.root
    before: Grouped = previous.get("folders", {})
    if before:  # the same inputs: the same folders
        folders = [f"{parent}/{name}" if parent else name
                   for parent, names in before.items() for name in names]
    else:
        folders = list(state.expected_tree(graph))
    for _attempt in range(3):
        grouped: Grouped = {}
        latest = 0
        for folder in folders:
            try:
                info = os.lstat(f"{root}/{folder}" if folder else root)
            except OSError:
                return None
            parent, _, name = folder.rpartition("/")
            grouped.setdefault(parent, {})[name] = _folder_stat(info)
            latest = max(latest, info.st_ctime_ns)
        if filestate.settled_at(latest, filestate.now_ns()):
            break
        if latest % 1_000_000_000 == 0:
            return None
        time.sleep(0.002)
    else:
        return None
    moved = [folder for folder in folders if _at(before, folder) != _at(grouped, folder)]
    listed = state.expected_tree(graph, moved)
    return grouped if len(listed) == len(moved) and prune.no_strays_in(root, listed) else None


def _at(grouped: Grouped, rel: str) -> list[int] | None:
    """The stat ``grouped`` (folder -> name -> stat) holds for ``rel``."""
    folder, _, name = rel.rpartition("/")
    return grouped.get(folder, {}).get(name)


def _grouped(root: str, paths: list[str], stat_of: Any) -> Grouped | None:
    grouped: Grouped = {}
    for rel in paths:
        try:
            info = os.lstat(f"{root}/{rel}")
        except OSError:
            return None
        folder, _, name = rel.rpartition("/")
        grouped.setdefault(folder, {})[name] = stat_of(info)
    return grouped
