"""One base error with data, and the few expected failures the CLI reports in one line."""

from __future__ import annotations


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
