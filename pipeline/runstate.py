"""Run bookkeeping under ``OUT/.pipeline``: the lock, the state check, the seal, and the
start of every task that writes (see :mod:`pipeline.state` for what lives there). ``root``
is the output folder, or a check's scratch copy of it. doit is imported only where the
database is read or written: the quick no-op check takes the lock without it."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO

from pipeline import layout
from pipeline.errors import LockedError, OutputError
from pipeline.files import write_if_changed
from pipeline.schema import SCHEMA

STATE_FORMAT = 3  # the layout of the state folder (2: one manifest format; a journal;
# 3: manifests, the database and the discovery cache compressed)
STATE_VERSION = f"pipeline-state {SCHEMA} {STATE_FORMAT}\n"
_HELD: list[IO[str]] = []


def state_dir(root: str) -> Path:
    return Path(root) / layout.STATE


def database(root: str) -> str:
    """doit's dependency database (its journal is beside it)."""
    return f"{root}/{layout.STATE}/doit.json"


def acquire_lock(root: str) -> None:
    """Hold an exclusive lock on the output folder for this process's lifetime. An output
    folder that cannot be made or written (a file there, a read-only mount, a full disk),
    or that holds files but no build state, is an :class:`OutputError`: nothing is built
    there. (A build removes every file of its output that it does not write, and the
    state folder is the first thing a build makes, so a folder without it holds none of
    a build's files: somebody's documents, or a source tree given as the output.)"""
    directory = state_dir(root)
    if not directory.is_dir() and _holds_files(root):
        raise OutputError(root, "holds files but no build state (.pipeline): a build removes "
                          "what it does not write, so it writes only to a new or empty "
                          "folder, or to its own output")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / "lock", "a+", encoding="utf-8")
    except (FileExistsError, NotADirectoryError):
        raise OutputError(root, "cannot be written: it is not a folder") from None
    except OSError as error:
        raise OutputError(root, f"cannot be written: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LockedError(root) from None
    _HELD.append(handle)


def take_output(root: str) -> None:
    """What a build (or ``watch``) does before it writes: hold the output's lock
    (:func:`acquire_lock`), then remove what a killed run left in the state folder
    (:func:`_remove_temporaries`)."""
    acquire_lock(root)
    _remove_temporaries(root)


def retake_output(root: str) -> None:
    """:func:`take_output` again when the lock's file is not the one this process holds:
    the output folder was removed under a process that holds it for long (``watch``), and
    a build started meanwhile would take the new file's lock and write beside it."""
    try:
        current = os.stat(state_dir(root) / "lock")
        held = any(os.path.samestat(os.fstat(handle.fileno()), current) for handle in _HELD)
    except OSError:  # gone with the folder
        held = False
    if not held:
        take_output(root)


def _remove_temporaries(root: str) -> None:
    """Remove the temporaries a killed run left in the state folder's top level (``.tmp-*``
    between a write and its rename): doit's database, the quick record and the discovery
    cache are written after the run's seal or before its first task, where no task's
    pruning looks, so a build that finds everything up to date would keep them."""
    try:
        with os.scandir(state_dir(root)) as entries:
            stale = [entry.path for entry in entries if entry.name.startswith(".tmp-")]
    except OSError:
        return
    for path in stale:
        try:
            os.unlink(path)
        except OSError:
            pass


def _holds_files(root: str) -> bool:
    """Whether ``root`` is a folder with anything in it."""
    try:
        with os.scandir(root) as entries:
            return next(entries, None) is not None
    except OSError:  # missing (a new output), or no folder: said when it is made
        return False


def drop_inherited_locks() -> None:
    """In a forked child: close its copies of the lock files' descriptors (never unlock:
    that would release the parent's lock), so that a child outliving a killed parent does
    not keep the output locked."""
    for handle in _HELD:
        os.close(handle.fileno())


def release_locks() -> None:
    """Release the locks this process holds (a finished in-process build)."""
    while _HELD:
        _HELD.pop().close()


def check_state(root: str) -> list[str]:
    """Detect a foreign or corrupt state folder and reset what is bad; returns messages."""
    directory = state_dir(root)
    messages: list[str] = []
    version = directory / "version"
    if directory.is_dir() and any(p.name not in ("lock",) for p in directory.iterdir()):
        try:
            found = version.read_text(encoding="utf-8")
        except OSError:
            found = ""
        if found != STATE_VERSION:
            messages.append(f"state folder {directory} is foreign or from another version; rebuilt")
            for child in directory.iterdir():
                if child.name == "lock":
                    continue
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    from doit.dependency import DatabaseException

    from pipeline.statedb import read_database

    snapshot = Path(database(root))
    try:
        read_database(str(snapshot), hand_over=True)  # parsed once: doit's backend takes it
    except FileNotFoundError:
        pass
    except (OSError, DatabaseException):
        messages.append(f"dependency database {snapshot} is corrupt; rebuilt")
        snapshot.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    write_if_changed(version, STATE_VERSION.encode())
    return messages


def is_sealed(root: str) -> bool:
    """The mark is there: no task has written anything since the last run finished."""
    return os.path.exists(f"{root}/{layout.STATE}/clean")


def begin_task(root: str, task: str) -> None:
    """Before a task writes anything (every writing action calls this): strike its record
    from doit's journal, so that a run killed before doit records it again runs it again;
    and first remove the seal."""
    from pipeline.statedb import strike

    try:
        os.unlink(f"{root}/{layout.STATE}/clean")
    except FileNotFoundError:
        pass
    strike(database(root), task)


def seal_run(root: str) -> dict[str, int]:
    """Mark the run as finished (the last task, run only when some task ran)."""
    write_if_changed(state_dir(root) / "clean", b"ok\n")
    return {}
