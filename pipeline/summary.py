"""The build summary, printed by the reporter after a run and by the quick no-op check
(:mod:`pipeline.quick`) without one: one place for its rows and lines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, TextIO


def make_console(stream: TextIO) -> Any:
    """A rich console that prints task names and paths as written (``:fire:`` is no emoji,
    ``[b]`` no markup, a number no highlight)."""
    from rich.console import Console

    return Console(file=stream, highlight=False, markup=False, emoji=False)


def summary_rows(discovered: Mapping[str, int], counts: Mapping[str, int],
                 failed_files: int) -> list[tuple[str, int]]:
    """The summary's rows: what discovery found, then what the run did."""
    return [
        *discovered.items(),
        ("files extracted", counts.get("extracted", 0)),
        *([("of them on the cluster", counts["cluster_extracted"])]
          if counts.get("cluster_extracted") else []),
        *([("records fetched from the shared cache", counts["cache_fetched"])]
          if counts.get("cache_fetched") else []),
        *([("pages fetched from the shared cache", counts["cache_pages_fetched"])]
          if counts.get("cache_pages_fetched") else []),
        ("pages written", counts.get("pages_written", 0)),
        ("pages unchanged", counts.get("pages_unchanged", 0)),
        ("pages removed", counts.get("pages_removed", 0)),
        ("tasks run", counts.get("tasks_run", 0)),
        ("files with failures", failed_files),
    ]


def failure_texts(failed: Iterable[Any]) -> list[str]:
    """One ``failed:`` line per note of a failed file (notes: ``NoteRow``), by path."""
    by_file: dict[str, list[str]] = defaultdict(list)
    for note in failed:
        by_file[note.path].append(
            note.kind + (f" (line {note.line})" if note.line else "") + f": {note.message}")
    return [f"failed: {path}: {text}" for path in sorted(by_file) for text in by_file[path]]


def print_summary(console: Any, live: bool, rows: list[tuple[str, int]], elapsed: float,
                  warnings: Iterable[str], failures: Iterable[str]) -> None:
    """A table on a terminal, else one ``summary:`` line; then warnings and failures, each
    line as it is (never wrapped: logs are read with grep)."""
    if live:
        from rich.table import Table

        table = Table(title="Build summary", show_header=True, header_style="bold")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, value in rows:
            table.add_row(name, f"{value:,}")
        table.add_row("time", f"{elapsed:.2f} s")
        console.print(table)
    else:
        console.print("summary: " + "; ".join(f"{n} {v:,}" for n, v in rows)
                      + f"; time {elapsed:.2f} s", soft_wrap=True)
    for message in warnings:
        console.print(f"warning: {message}", soft_wrap=True)
    for line in failures:
        console.print(line, soft_wrap=True)
