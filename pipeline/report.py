"""The doit reporter: rich progress on a terminal, plain lines elsewhere, one summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from doit.reporter import ConsoleReporter

from pipeline import layout
from pipeline.records import NoteRow, note_rows_from_list
from pipeline.stateio import load_state
from pipeline.summary import failure_texts, make_console, print_summary, summary_rows
from pipeline.tasks import NAMESPACE, STAGES, stage_of

ERROR_NOTES = frozenset({"syntax-error", "decode", "unreadable", "internal-error", "parse-error"})


def read_notes(root: str, depth: int) -> list[NoteRow]:
    """Every per-file note of the last link of each layer."""
    notes: list[NoteRow] = []
    for layer in range(1, depth + 1):
        try:
            data = load_state(Path(root) / layout.state_file("notes", str(layer)))
            notes.extend(note_rows_from_list(data))
        except (OSError, ValueError, TypeError):
            continue
    return notes


def failed_notes(notes: list[NoteRow], strict: bool) -> list[NoteRow]:
    """The notes that fail a build: errors, or every note under ``--strict``."""
    return [n for n in notes if strict or n.kind in ERROR_NOTES]


def _stage(task: Any) -> str:
    return stage_of(str(task.name))


def _ours(task: Any) -> bool:
    """One of the build's tasks (``docs`` or ``docs:...``), not one of the project's own
    tasks defined beside them in the same dodo.py."""
    return task.name == NAMESPACE or bool(_stage(task))


class Reporter:
    """doit reporter protocol; configured through class attributes by :func:`reporter_for`.
    The build's tasks get progress and one summary, printed only when some of them were
    selected; a project's own tasks in the same dodo.py are reported as doit reports them."""

    root = ""
    depth = 1
    discovered: dict[str, int] = {}
    strict = False
    console_file: TextIO | None = None
    last: Reporter | None = None
    deferred = False  # the summary waits for print_summary (a run that may be followed)
    # called with the reporter once the run is complete (doit saved its database first)
    finished: Callable[[Reporter], None] | None = None
    carried: dict[str, int] = {}  # counts of an earlier run of the same build
    early_warnings: dict[str, str] = {}  # warnings of the build itself or an earlier run
    carried_time = 0.0

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        # Task names hold paths: rich must print them as written (``:fire:`` is no emoji,
        # ``[b]`` no markup, a number no highlight), everywhere this console prints.
        self.console = make_console(self.console_file or sys.stderr)
        self.live = self.console.is_terminal
        self.started = time.perf_counter() - self.carried_time
        self.counts: Counter[str] = Counter(self.carried)
        self.totals: Counter[str] = Counter()
        self.failures: list[str] = []
        self.errors: list[str] = []
        # topic -> one line (the shared cache, the cluster): the build's own, an earlier
        # run's, then the tasks'
        self.warnings: dict[str, str] = dict(self.early_warnings)
        self.progress: Any = None  # rich's Progress, on a terminal
        self.bars: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.others = ConsoleReporter(outstream, options)
        self.selected = False  # some task of the build was reached
        type(self).last = self

    # doit calls these ------------------------------------------------------------------
    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        for task in tasks.values():
            if task.actions and _stage(task) in STAGES:
                self.totals[_stage(task)] += 1

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if not _ours(task):
            self.others.execute_task(task)
            return
        self._reached()
        if self.progress is not None and _stage(task) in self.bars:
            self.progress.update(self.bars[_stage(task)], current=task.name)

    def add_success(self, task: Any) -> None:
        if not _ours(task):
            self.others.add_success(task)
            return
        if not task.actions or _stage(task) not in STAGES:
            return
        result = task.result if isinstance(task.result, dict) else {}
        counts = {k: v for k, v in result.items() if isinstance(v, int)}
        self.counts.update(counts)
        self.counts["tasks_run"] += 1
        for topic, message in (result.get("warnings") or {}).items():  # once per build
            self.warnings.setdefault(topic, message)
        self._advance(task)
        if not self.live and _stage(task) not in ("seal", "failures"):
            details = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items()))
            self._line(f"{task.name}{': ' + details if details else ''}")

    def skip_uptodate(self, task: Any) -> None:
        if not _ours(task):
            self.others.skip_uptodate(task)
            return
        self._reached()
        if task.actions and _stage(task) in STAGES:
            self._advance(task)

    def skip_ignore(self, task: Any) -> None:
        if not _ours(task):
            self.others.skip_ignore(task)
            return
        self.skip_uptodate(task)

    def add_failure(self, task: Any, exception: Any) -> None:
        if not _ours(task):
            self.others.add_failure(task, exception)
            return
        self._reached()
        self._advance(task)
        if _stage(task) == "failures":  # the summary below lists the failed files
            return
        message = exception.get_msg() if hasattr(exception, "get_msg") else str(exception)
        self.errors.append(f"{task.name}: {message.strip()}")

    def cleanup_error(self, exception: Any) -> None:
        self.errors.append(str(exception))

    def runtime_error(self, msg: str) -> None:
        self.errors.append(msg)

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.others.complete_run()
        elapsed = time.perf_counter() - self.started
        notes = read_notes(self.root, self.depth) if self.root and self.selected else []
        failed = failed_notes(notes, self.strict)
        self.summary = {"notes": notes, "failed": failed, "errors": self.errors,
                        "counts": dict(self.counts), "elapsed": elapsed,
                        "warnings": dict(self.warnings)}
        if self.selected and not self.deferred:
            self._print_summary(failed, elapsed)
        for error in self.errors:
            self._line(f"error: {error}")
        if self.finished is not None:
            self.finished(self)  # a static method: called with the reporter

    def print_summary(self) -> None:
        """The summary a deferred reporter kept back."""
        if self.selected:
            self._print_summary(self.summary["failed"], self.summary["elapsed"])

    # helpers ---------------------------------------------------------------------------
    def _reached(self) -> None:
        """The first task of the build reached: start the progress display."""
        if self.selected:
            return
        self.selected = True
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description:<9}"), BarColumn(),
                MofNCompleteColumn(), TextColumn("{task.fields[current]}", markup=False),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                transient=False)
            for stage in STAGES:
                if self.totals[stage]:
                    self.bars[stage] = self.progress.add_task(stage, total=self.totals[stage],
                                                              current="")
            self.progress.start()

    def _advance(self, task: Any) -> None:
        if self.progress is not None and _stage(task) in self.bars:
            self.progress.update(self.bars[_stage(task)], advance=1, current="")

    def _print_summary(self, failed: list[NoteRow], elapsed: float) -> None:
        rows = summary_rows(self.discovered, self.counts, len({f.path for f in failed}))
        print_summary(self.console, self.live, rows, elapsed, self.warnings.values(),
                      failure_texts(failed))

    def _line(self, text: str) -> None:
        """One line as it is: never wrapped (logs are read with grep), never markup."""
        self.console.print(text, soft_wrap=True)


def reporter_for(root: str, depth: int, discovered: dict[str, int], strict: bool = False,
                 stream: TextIO | None = None, *, deferred: bool = False,
                 carried: Reporter | None = None,
                 finished: Callable[[Reporter], None] | None = None,
                 warnings: dict[str, str] | None = None) -> type[Reporter]:
    """A Reporter class bound to one build (doit instantiates it itself); ``carried``: the
    reporter of an earlier run of the same build, whose counts, warnings and time this one
    adds; ``finished``: called with the reporter when the run is complete; ``warnings``:
    the build's own (topic -> line), printed with the tasks'."""
    return type("BuildReporter", (Reporter,), {
        "early_warnings": {**(warnings or {}), **(carried.warnings if carried else {})},
        "root": root, "depth": depth, "discovered": discovered, "strict": strict,
        "console_file": stream, "last": None, "deferred": deferred,
        "finished": staticmethod(finished) if finished else None,
        "carried": dict(carried.counts) if carried else {},
        "carried_time": time.perf_counter() - carried.started if carried else 0.0,
    })
