"""A helper process's lifetime bound to the process that started it."""

from __future__ import annotations

import os
import signal

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int) -> None:
    """On Linux, have this process killed when the process ``parent`` ends: a CI runner's
    timeout or a stop button sends SIGTERM to the build's process alone, and a helper left
    running would go on with work nobody waits for (a build's worker writing the pages of a
    build that is over, beside the next one; an isolated extraction parsing a large file
    for a worker that is gone). Elsewhere the helper ends when it next finds its pipe
    closed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here
        return
    if os.getppid() != parent:  # the parent ended before the request was made
        os._exit(1)
