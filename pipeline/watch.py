"""``watch``: build once, then build again whenever the source tree changes.

One process holds the output's lock for the whole session and keeps what it loaded: the
stage code, the parsers and templates, doit's parsed database, the graph while the
changes leave its inputs as they were (edits of known text files), and the quick record
the last rebuild left (:mod:`pipeline.quick`). An edit is then planned without a walk of
the tree or a look at the pages: the watcher names the changed files, their stat is
taken again, and the record stands for the outputs (no other process writes them while
the lock is held), so doit gets only the tasks of the chunks the edit reaches
(:func:`pipeline.session.run_build`). File-system events come from watchfiles; a burst of
them (a ``git checkout``) is one rebuild. One line per rebuild on stdout: what changed,
pages written, time. A rebuild that fails is reported and watching goes on. Ctrl-C
(SIGINT) or SIGTERM lets the rebuild under way finish, so the output is left as a build
leaves it (and recorded: a ``build`` after it is a quick no-op), and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from stat import S_ISREG
from types import FrameType
from typing import TYPE_CHECKING, Any

from pipeline import filestate, quick, runstate
from pipeline.config import Config
from pipeline.discover import SKIP_DIRS, Scan, scan_tree, sniff
from pipeline.errors import write_failure
from pipeline.graph import Graph, build_graph
from pipeline.pytestconf import CONFIG_NAMES
from pipeline.session import collector_paused, run_build

if TYPE_CHECKING:
    from pipeline.quick import Record

# Changes closer together than STEP ms are one burst, cut at DEBOUNCE ms (watchfiles'
# defaults: a checkout of thousands of files is one or two bursts).
STEP_MS = 50
DEBOUNCE_MS = 1_600


@dataclass(frozen=True, slots=True)
class Kept:
    """What a rebuild leaves for the next: the graph, the walk it was planned on (with the
    stats of edited files taken again) and the quick record the run left (None: none was
    made, and the next rebuild walks the tree and checks the outputs as a build does)."""

    graph: Graph
    scan: Scan
    record: Record | None


def watch(config: Config) -> int:
    """Build, then rebuild on every burst of changes until SIGINT or SIGTERM; exit 0.

    The watcher is armed before the first build, so a change made during any build is
    the next burst, never lost (watchfiles' ``RustNotify``, which its ``watch`` generator
    wraps, arms only at the generator's first step)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _stopper(stop)) for sig in (signal.SIGINT,
                                                                       signal.SIGTERM)}
    try:
        runstate.take_output(config.output)
        watching = _Watching(config.source)
        try:
            kept = _rebuild(config, None, ["(initial build)"])
            if kept is not None:
                _warm(kept.graph)
            print(f"watching {config.source} (Ctrl-C to stop)", flush=True)
            for changes in _bursts(watching, config, stop):
                kept = _rebuild(config, kept, changes)  # [RESCAN] is no known file: a walk
        finally:
            watching.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        runstate.release_locks()
    print("watch: stopped", flush=True)
    return 0


def _stopper(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
    return handler


# The burst that stands for changes watchfiles could not name: the tree is walked again.
RESCAN = "(changes watchfiles could not name)"


class _Watching:
    """The armed notifier of the source tree, armed anew when it breaks: watchfiles'
    notifier raises on a path that is not UTF-8 (a file named in Latin-1 saved in the tree),
    and again on every later call, which ended ``watch``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notifier = self._arm()

    def _arm(self) -> Any:
        from watchfiles._rust_notify import RustNotify

        return RustNotify([self.source], False, False, 300, True, False)

    def rearm(self) -> None:
        self.notifier.close()
        self.notifier = self._arm()

    def close(self) -> None:
        self.notifier.close()


def _bursts(watching: _Watching, config: Config,
            stop: threading.Event) -> Iterator[list[str]]:
    """Sorted source-relative paths changed in each burst, until ``stop`` is set; a burst
    the notifier could not name is ``[RESCAN]``, after a new notifier is armed (so nothing
    changed after the walk that follows goes unseen)."""
    from watchfiles._rust_notify import WatchfilesRustInternalError

    source = config.source.rstrip("/") + "/"
    wanted = _Filter(config)
    while not stop.is_set():
        try:
            raw = watching.notifier.watch(DEBOUNCE_MS, STEP_MS, 500, stop)
        except WatchfilesRustInternalError:
            watching.rearm()
            yield [RESCAN]
            continue
        if raw in ("stop", "signal"):
            return
        if raw == "timeout":
            continue
        paths = sorted({path[len(source):] for _change, path in raw
                        if path.startswith(source) and wanted(path)})
        if paths:
            yield paths


class _Filter:
    """Events worth a rebuild: not in the output folder (it may lie inside the source), not
    in folders discovery never enters, not an editor's swap or backup file."""

    def __init__(self, config: Config) -> None:
        self.output = config.output.rstrip("/") + "/"

    def __call__(self, path: str) -> bool:
        if path.startswith(self.output) or path + "/" == self.output:
            return False
        parts = path.split(os.sep)
        if any(part in SKIP_DIRS for part in parts):
            return False
        name = parts[-1]
        return not (name.endswith(("~", ".swp", ".swx", ".tmp")) or name.startswith(".#"))


def _rebuild(config: Config, kept: Kept | None, changes: list[str]) -> Kept | None:
    """One build, planned from what the last one kept; prints the rebuild's line. A
    rebuild that fails keeps nothing: the next one starts from the tree and the output."""
    started = time.perf_counter()
    warnings: dict[str, str] = {}
    errors: list[str] = []
    try:
        runstate.retake_output(config.output)  # the output may have been removed meanwhile
        with collector_paused() as collecting, open(os.devnull, "w",
                                                    encoding="utf-8") as quiet:
            kept, verdict = _plan(config, kept, changes)
            if verdict.report is not None:  # nothing to do: the outputs are as recorded
                pages, failed = 0, bool(verdict.report["default"]["files"])
                kept = Kept(kept.graph, kept.scan, verdict.saved)
            else:
                done = run_build(kept.graph, kept.scan, verdict, stream=quiet,
                                 collecting=collecting)
                pages, failed = done.summary.get("counts", {}).get("pages_written", 0), \
                    done.failed
                warnings = done.summary.get("warnings") or {}
                errors = done.summary.get("errors") or []
                kept = Kept(kept.graph, kept.scan, done.record)
    except Exception as error:  # a failed rebuild is reported; watching goes on
        said = write_failure(error) if isinstance(error, OSError) else None
        print(f"{_what(changes)}: rebuild failed ({said or f'{type(error).__name__}: {error}'}"
              f"); {time.perf_counter() - started:.2f} s", flush=True)
        return None
    state = "; failed" if errors else "; some files failed" if failed else ""
    print(f"{_what(changes)}: {pages:,} pages written{state}; "
          f"{time.perf_counter() - started:.2f} s", flush=True)
    for message in warnings.values():  # the shared cache's, the cluster's: as build says them
        print(f"warning: {message}", file=sys.stderr, flush=True)
    for message in errors:  # a task that broke (a full disk): as build says it
        print(f"error: {message}", file=sys.stderr, flush=True)
    return kept


def _plan(config: Config, kept: Kept | None,
          changes: list[str]) -> tuple[Kept, quick.Verdict]:
    """The graph, walk and quick verdict a rebuild runs on. Edits of known text files
    (the same inputs, so discovery would derive the same graph) keep the graph and take
    the last record as the verdict; anything else walks the tree and checks the outputs
    against the record on disk, as ``build`` does."""
    for message in runstate.check_state(config.output):
        print(f"note: {message}", file=sys.stderr)
    dirty = not runstate.is_sealed(config.output)
    scan = None
    if kept is not None and kept.record is not None and not dirty:
        scan = _edited(kept, changes)
    if kept is None or kept.record is None or scan is None:
        scan = scan_tree(config)
        graph = build_graph(config, dirty=dirty, scan=scan)
        # watchfiles' notifier is a thread Python does not count: no fork beside it
        return Kept(graph, scan, None), quick.check(config, scan, fork=False)
    record = kept.record
    return Kept(kept.graph, scan, record), quick.Verdict(intact=True, saved=record,
                                                         key=record["key"])


def _edited(kept: Kept, changes: list[str]) -> Scan | None:
    """The kept walk with the changed files' stats taken again, when every change is an
    edit of a known layer-1 input that is still a regular text file and no pytest
    configuration (which decides other inputs' test flags); None otherwise."""
    taken = filestate.now_ns()
    disk = {i.path: i.disk for i in kept.graph.inventory.inputs if i.layer == 1}
    files = dict(kept.scan.files)
    for path in changes:
        if path not in disk or path.rpartition("/")[2] in CONFIG_NAMES:
            return None
        try:
            info = os.lstat(disk[path])
        except OSError:
            return None
        stat = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
        if not S_ISREG(info.st_mode) or sniff(disk[path], stat):
            return None
        files[path] = stat
        filestate.remember_stat(disk[path], info.st_size, info.st_mtime_ns)
    return Scan(files, kept.scan.links, taken, kept.scan.special, kept.scan.unnamed)


def _warm(graph: Graph) -> None:
    """Load what an edit's tasks use before the first edit comes: the tree's extractors,
    the templates and doit (an initial build that was a no-op loaded none of them; on the
    torch wheel the first edit took 0.31 s to its page, the next ones 0.14 s)."""
    import doit.doit_cmd  # noqa: F401

    from pipeline.extract import extractor_for
    from pipeline.render import environment

    for language in sorted({item.type.language for item in graph.inventory.inputs}):
        extractor_for(language)
    templates = environment(graph.site.templates, graph.site.templates_digest)
    for name in templates.list_templates():
        try:
            templates.get_template(name)
        except Exception:  # noqa: BLE001 - a broken template is reported by its render
            continue


def _what(changes: list[str]) -> str:
    if len(changes) == 1:
        return changes[0]
    return f"{changes[0]} and {len(changes) - 1:,} more"
