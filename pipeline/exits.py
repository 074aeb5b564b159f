"""How a child process ended, in words (worker processes, isolated extractions)."""

from __future__ import annotations

import signal


def describe_exit(exitcode: int | None) -> str:
    """``killed by SIGKILL``, ``exit status 3`` or ``still running``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"
