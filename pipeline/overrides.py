"""Every override of doit's internals, in one place: the task loader, the file checker,
the ``config_changed`` stamp and the up-to-date checks that run in doit's main process.
(The dependency database backend is :mod:`pipeline.statedb`, registered as an entry point.)
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable
from typing import Any

import orjson
from doit.cmd_base import TaskLoader2
from doit.dependency import MD5Checker
from doit.loader import generate_tasks
from doit.task import Task
from doit.tools import config_changed

_NO_PARAMETERS = inspect.Signature()


class stamp_changed(config_changed):  # type: ignore[misc]
    """doit's ``config_changed`` with two costs of every task of every run removed: the
    digest is taken with orjson, and the signature doit inspects (to pass ``task`` and
    ``values``) is preset instead of derived."""

    __signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in ("task", "values")])

    def _calc_digest(self) -> str:
        if isinstance(self.config, str):
            return self.config
        return hashlib.md5(orjson.dumps(self.config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def light_check(test: Callable[..., bool], *args: Any) -> Callable[[], bool]:
    """An up-to-date callable that runs a light check (a manifest, the seal) in doit's main
    process: when it holds, the task is skipped, no worker needed."""
    def check() -> bool:
        return bool(test(*args))
    check.__signature__ = _NO_PARAMETERS  # type: ignore[attr-defined]
    return check


class GraphLoader(TaskLoader2):  # type: ignore[misc]
    """doit's task loader for a namespace of ``task_*`` creators and ``DOIT_CONFIG``,
    taken in the namespace's order. doit's own namespace loader orders creators by the
    line they are defined on, read from their source: a few ms of every no-op build."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        super().__init__()
        self.namespace = namespace

    def setup(self, opt_values: dict[str, Any]) -> None:
        """Nothing to set up: the namespace is given."""

    def load_doit_config(self) -> dict[str, Any]:
        return dict(self.namespace.get("DOIT_CONFIG", {}))

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        return doit_tasks(self.namespace)


def doit_tasks(namespace: dict[str, Any]) -> list[Task]:
    """doit's Task objects of a namespace's ``task_*`` creators, in the namespace's order."""
    tasks: list[Task] = []
    for name, creator in namespace.items():
        if name.startswith("task_"):
            tasks.extend(generate_tasks(name[len("task_"):], creator(), creator.__doc__))
    return tasks


# path -> (size, mtime_ns, digest) of files this process has just read whole (discovery
# reads every file whose size or mtime moved), so the checker need not read them again.
_DIGESTS: dict[str, tuple[int, int, str]] = {}
HASH = "sha256"  # faster than md5 where the CPU has SHA extensions (bench/README.md)


def remember_digest(path: str, size: int, mtime_ns: int, digest: str) -> None:
    _DIGESTS[path] = (size, mtime_ns, digest)


def _digest(path: str, info: os.stat_result) -> str:
    known = _DIGESTS.get(path)
    if known is not None and known[0] == info.st_size and known[1] == info.st_mtime_ns:
        return known[2]
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, HASH).hexdigest()


class RefreshingHashChecker(MD5Checker):  # type: ignore[misc]
    """doit's MD5 checker with SHA-256 digests, and a file whose mtime moved while its
    bytes did not gets its stored mtime refreshed, so one ``touch`` (a fresh checkout)
    costs one re-hash, not one on every later run; the digest discovery took this run is
    reused. The stored state is a list held by the database, updated in place and saved
    with it at the end of the run."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        timestamp, size, stored = state
        if file_stat.st_mtime == timestamp:
            return False
        if file_stat.st_size != size:
            return True
        if stored != _digest(file_path, file_stat):
            return True
        if isinstance(state, list):
            state[0] = file_stat.st_mtime
        return False

    def get_state(self, dep: str, current_state: Any) -> Any:
        info = os.stat(dep)
        if current_state and current_state[0] == info.st_mtime:
            return None
        return info.st_mtime, info.st_size, _digest(dep, info)
