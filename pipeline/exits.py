"""How a process ends: a child's end in words (worker processes, isolated extractions), and
the command line's own exit."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import NoReturn


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


def leave(code: int) -> NoReturn:
    """End the command-line process with ``code``, without tearing the interpreter down.

    By the time a command returns, every file it made is written and closed, and no pool,
    client or worker process of it is left (what a command starts, it joins). What remains
    of a normal exit is freeing each module and object one by one: after an edit has
    loaded the extractors (libcst alone defines hundreds of dataclasses), about 60 ms, a
    seventh of the build (bench/README.md). So the exit handlers run, the standard streams
    are flushed, and the process ends. Where a thread other than the main one still runs
    (and is not a daemon), the normal exit waits for it, as it should."""
    if any(thread.is_alive() and not thread.daemon and thread is not threading.main_thread()
           for thread in threading.enumerate()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            pass
    os._exit(code)
