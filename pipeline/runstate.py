"""Run bookkeeping under ``OUT/.pipeline``: the lock, the state check, the clean marker,
and doit's file checker that refreshes stored mtimes."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from pathlib import Path
from typing import IO, Any

from doit.dependency import DatabaseException, MD5Checker

from pipeline import layout
from pipeline.errors import LockedError
from pipeline.files import write_if_changed
from pipeline.schema import SCHEMA
from pipeline.statedb import read_database

STATE_VERSION = f"pipeline-state {SCHEMA}\n"
_HELD: list[IO[str]] = []


def state_dir(output: str) -> Path:
    return Path(output) / layout.STATE


def acquire_lock(output: str) -> None:
    """Hold an exclusive lock on the output folder for this process's lifetime."""
    directory = state_dir(output)
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LockedError(output) from None
    _HELD.append(handle)


def release_locks() -> None:
    """Release the locks this process holds (a finished in-process build)."""
    while _HELD:
        _HELD.pop().close()


def check_state(output: str) -> list[str]:
    """Detect a foreign or corrupt state folder and reset what is bad; returns messages."""
    directory = state_dir(output)
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
    database = directory / "doit.json"
    try:
        read_database(str(database), hand_over=True)  # parsed once: doit's backend takes it
    except FileNotFoundError:
        pass
    except (OSError, DatabaseException):
        messages.append(f"dependency database {database} is corrupt; rebuilt")
        database.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    write_if_changed(version, STATE_VERSION.encode())
    return messages


def is_sealed(output: str) -> bool:
    """The mark is there: no task has written anything since the last run finished."""
    return os.path.exists(f"{output}/{layout.STATE}/clean")


def unseal(output: str) -> None:
    """Remove the mark before a task writes anything (every stage action calls this)."""
    try:
        os.unlink(f"{output}/{layout.STATE}/clean")
    except FileNotFoundError:
        pass


def seal_run(output: str) -> dict[str, int]:
    """Mark the run as finished (the last task, run only when some task ran)."""
    marker = state_dir(output) / "clean"
    marker.write_text("ok\n", encoding="utf-8")
    return {}


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
