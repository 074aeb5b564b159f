"""One base error with data, and the few expected failures the CLI reports in one line."""

from __future__ import annotations

import errno

# What the file system under the output answers when it cannot take a write: full, over a
# quota, read-only, failing, or not this user's. Said in one line (:func:`write_failure`).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG,
                          errno.EACCES, errno.EPERM})


class PipelineError(Exception):
    """Base of every expected failure; the CLI prints ``str(error)`` and exits ``exit_code``."""

    exit_code = 1


class ConfigError(PipelineError):
    """A configuration key or value is wrong (exit 2)."""

    exit_code = 2

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"configuration error: {key}: {problem}")


class UsageError(PipelineError):
    """The command line is wrong (exit 2)."""

    exit_code = 2


class LockedError(PipelineError):
    """Another build holds the output folder's lock (exit 2)."""

    exit_code = 2

    def __init__(self, output: str) -> None:
        self.output = output
        super().__init__(
            f"another build is running on {output} (lock held); try again when it ends")


class OutputError(PipelineError):
    """No build may write to the output folder: it cannot be made or written, or it holds
    files that are not a build's (exit 2)."""

    exit_code = 2

    def __init__(self, output: str, problem: str) -> None:
        self.output = output
        super().__init__(f"error: the output folder {output} {problem}")


class TasksBroke(PipelineError):
    """Tasks broke in a run whose every page a command needs (a check's scratch build): it
    cannot answer, and says why in the tasks' lines (exit 1)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(f"error: {error}" for error in errors))


def write_failure(error: OSError) -> str | None:
    """One line for an error of the file system a build writes to (``No space left on
    device: OUT/pkg/a.py_docs.md``); None for any other error, which keeps its traceback."""
    if error.errno not in WRITE_ERRNOS:
        return None
    reason = error.strerror or errno.errorcode.get(error.errno or 0, "I/O error")
    return f"{reason}: {error.filename}" if error.filename else reason
