"""What this process knows of source files (the stat discovery saw, the digest it took
while sniffing) and when a recorded stat can be trusted: git's "racily clean" rule. Kept
apart from doit's file checker (:mod:`pipeline.overrides`) so that discovery and the quick
no-op check (:mod:`pipeline.quick`) run without importing doit."""

from __future__ import annotations

import os
import time

HASH = "sha256"  # faster than md5 where the CPU has SHA extensions (bench/README.md)

# path -> (size, mtime_ns, ctime_ns, inode, digest) of files this process has just read whole
# (discovery reads every file whose size or mtime moved), so the checker need not read them
# again.
_DIGESTS: dict[str, tuple[int, int, int, int, str]] = {}

# path -> (size, mtime_ns) of every source as discovery saw it when the run began.
_SEEN: dict[str, tuple[int, int]] = {}


def remember_digest(path: str, info: list[int], digest: str) -> None:
    """``info``: [size, mtime_ns, ctime_ns, inode] of the file as it was read."""
    size, mtime_ns, ctime_ns, inode = info
    _DIGESTS[path] = (size, mtime_ns, ctime_ns, inode, digest)


def known_digest(path: str, info: os.stat_result) -> str | None:
    """The digest taken this run of a file whose stat is still as it was then."""
    known = _DIGESTS.get(path)
    if known is not None and known[:4] == (info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                                           info.st_ino):
        return known[4]
    return None


def remember_stat(path: str, size: int, mtime_ns: int) -> None:
    _SEEN[path] = (size, mtime_ns)


def seen_stat(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a source as discovery saw it when the run began."""
    return _SEEN.get(path)


# File times are coarse: a kernel tick on Linux (a few ms), whole seconds on some file
# systems. A file changed again in the tick its state was taken in keeps the stat recorded:
# such a state is "racily clean" (git's term), and the file is hashed again by the next run,
# which refreshes it. States are timed by the clock file times are taken from.
_COARSE_CLOCK = getattr(time, "CLOCK_REALTIME_COARSE", None)
WHOLE_SECOND_SLACK_NS = 2_000_000_000  # where file times are whole seconds (FAT, some NFS)


def now_ns() -> int:
    """The time on the clock file times are taken from."""
    if _COARSE_CLOCK is not None:
        return time.clock_gettime_ns(_COARSE_CLOCK)
    return time.time_ns()


def settled_at(ctime_ns: int, taken_ns: int) -> bool:
    """A stat with this change time, taken at ``taken_ns`` (read after the stat), shows any
    later change: the change fell in an earlier tick than the one the stat was taken in."""
    if ctime_ns % 1_000_000_000 == 0:
        return ctime_ns + WHOLE_SECOND_SLACK_NS <= taken_ns
    return ctime_ns < taken_ns
