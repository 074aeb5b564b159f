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

from pipeline import filestate

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


# The stored state no file matches: kept for a source that changed while the run went on.
CHANGED = (-1.0, -1, "")
# Build state (written by the build itself, never by an editor) is not hashed again for
# being racy: a task that reads what the one before it wrote would be, on every next run.
_BUILD_STATE = "/.pipeline/"


# The digest of a file that cannot be read: no file's bytes have it, so the file's task runs
# again once it can be read (a chmod changes the change time, which sends it to this check).
UNREADABLE = "unreadable"


def _digest(path: str, info: os.stat_result) -> str:
    known = filestate.known_digest(path, info)
    if known is not None:
        return known
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, filestate.HASH).hexdigest()
    except FileNotFoundError:  # gone: doit's own missing-dependency handling
        raise
    except OSError:
        return UNREADABLE


def file_state(info: os.stat_result, digest: str) -> list[Any]:
    """What the checker records of a file: doit's (mtime, size, digest), then the change
    time and inode (``cp -p``, ``rsync -t`` and ``tar x`` keep size and mtime but not
    these), and when the state was taken."""
    return [info.st_mtime, info.st_size, digest, info.st_ctime_ns, info.st_ino,
            filestate.now_ns()]


def settled(state: Any) -> bool:
    """The state was taken after the tick of the file's last change, so that a later
    change shows in the change time."""
    return filestate.settled_at(state[3], state[5])


def unchanged(path: str, info: os.stat_result, state: Any) -> bool:
    """The stat is as recorded (mtime, size, change time, inode) and the record is settled
    (or of build state); a state of the older (mtime, size, digest) form never is."""
    return (len(state) == 6 and info.st_ctime_ns == state[3] and info.st_mtime == state[0]
            and info.st_size == state[1] and info.st_ino == state[4]
            and (settled(state) or _BUILD_STATE in path))


class RefreshingHashChecker(MD5Checker):  # type: ignore[misc]
    """doit's MD5 checker with SHA-256 digests, which trusts a file's stat only when its
    mtime, size, change time and inode are all as recorded, and the record was settled
    (:func:`unchanged`); otherwise it hashes the file, and when the bytes are the same it
    refreshes the stored state, so one ``touch`` (a fresh checkout) costs one read, not one
    on every later run; the digest discovery took this run is reused. The stored state is a
    list held by the database, updated in place and saved with it at the end of the run."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        if unchanged(file_path, file_stat, state):
            return False
        if file_stat.st_size != state[1]:
            return True
        if state[2] != _digest(file_path, file_stat):
            return True
        if isinstance(state, list):
            state[:] = file_state(file_stat, state[2])
        return False

    def get_state(self, dep: str, current_state: Any) -> Any:
        """The state doit stores for a dependency of a task that just ran. doit takes it
        after the task, not before: a source edited while the run went on (the task may
        have read either version) gets a state no file matches, so the next run runs the
        task again rather than trust what it made."""
        info = os.stat(dep)
        seen = filestate.seen_stat(dep)
        if seen is not None and seen != (info.st_size, info.st_mtime_ns):
            return CHANGED
        if current_state and unchanged(dep, info, current_state):
            return None
        return file_state(info, _digest(dep, info))
