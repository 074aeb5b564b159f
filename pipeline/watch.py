"""``watch``: build once, then build again whenever the source tree changes.

One process holds the output's lock for the whole session and keeps what it loaded: the
stage code, the parsers and templates, doit's parsed database, and the graph while the
changes leave its inputs as they were (edits of known files). File-system events come
from watchfiles; a burst of them (a ``git checkout``) is one rebuild. One line per
rebuild on stdout: what changed, pages written, time. A rebuild that fails is reported
and watching goes on. Ctrl-C (SIGINT) or SIGTERM lets the rebuild under way finish, so
the output is left as a build leaves it, and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pipeline import filestate, runstate
from pipeline.config import Config
from pipeline.discover import SKIP_DIRS
from pipeline.graph import Graph, build_graph

# Changes closer together than STEP ms are one burst, cut at DEBOUNCE ms (watchfiles'
# defaults: a checkout of thousands of files is one or two bursts).
STEP_MS = 50
DEBOUNCE_MS = 1_600


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one build did, as the rebuild line says it."""

    pages_written: int
    failed: bool
    counts: dict[str, int]


Run = Callable[[Graph], Outcome]


def watch(config: Config, run: Run) -> int:
    """Build, then rebuild on every burst of changes until SIGINT or SIGTERM; exit 0.

    The watcher is armed before the first build, so a change made during any build is
    the next burst, never lost (watchfiles' ``RustNotify``, which its ``watch`` generator
    wraps, arms only at the generator's first step)."""
    from watchfiles._rust_notify import RustNotify

    stop = threading.Event()
    previous = {sig: signal.signal(sig, _stopper(stop)) for sig in (signal.SIGINT,
                                                                       signal.SIGTERM)}
    try:
        runstate.acquire_lock(config.output)
        with RustNotify([config.source], False, False, 300, True, False) as notifier:
            graph = _rebuild(config, run, None, ["(initial build)"])
            print(f"watching {config.source} (Ctrl-C to stop)", flush=True)
            for changes in _bursts(notifier, config, stop):
                graph = _rebuild(config, run, graph, changes)
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


def _bursts(notifier: Any, config: Config, stop: threading.Event) -> Iterator[list[str]]:
    """Sorted source-relative paths changed in each burst, until ``stop`` is set."""
    source = config.source.rstrip("/") + "/"
    wanted = _Filter(config)
    while not stop.is_set():
        raw = notifier.watch(DEBOUNCE_MS, STEP_MS, 500, stop)
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


def _rebuild(config: Config, run: Run, graph: Graph | None, changes: list[str]) -> Graph:
    """One build; the graph is kept when every change is an edit of a known layer-1 input
    (discovery would find the same tree). Prints the rebuild's line."""
    started = time.perf_counter()
    try:
        for message in runstate.check_state(config.output):
            print(f"note: {message}", file=sys.stderr)
        dirty = not runstate.is_sealed(config.output)
        if graph is None or dirty or not _only_edits(graph, changes):
            graph = build_graph(config, dirty=dirty)
        else:  # what discovery would have seen of the edited files as this run begins
            disk = {i.path: i.disk for i in graph.inventory.inputs if i.layer == 1}
            for path in changes:
                info = os.stat(disk[path])
                filestate.remember_stat(disk[path], info.st_size, info.st_mtime_ns)
        outcome = run(graph)
    except Exception as error:  # a failed rebuild is reported; watching goes on
        print(f"{_what(changes)}: rebuild failed ({type(error).__name__}: {error}); "
              f"{time.perf_counter() - started:.2f} s", flush=True)
        return graph if graph is not None else build_graph(config, dirty=True)
    state = "; some files failed" if outcome.failed else ""
    print(f"{_what(changes)}: {outcome.pages_written:,} pages written{state}; "
          f"{time.perf_counter() - started:.2f} s", flush=True)
    return graph


def _only_edits(graph: Graph, changes: list[str]) -> bool:
    """Every changed path is a known layer-1 text input that is still a regular file."""
    known = {item.path for item in graph.inventory.inputs if item.layer == 1}
    source = graph.config.source
    return all(path in known and Path(source, path).is_file() for path in changes)


def _what(changes: list[str]) -> str:
    if len(changes) == 1:
        return changes[0]
    return f"{changes[0]} and {len(changes) - 1:,} more"
