"""doit's dependency database: a snapshot and a journal, so that no file is ever newer
than the record that vouches for it.

doit keeps its database in memory and saves it once, when the run ends; a run killed
before that loses the record of every task it ran, while the files those tasks wrote stay.
This backend (registered as the doit backend ``pipeline`` through the ``doit.BACKEND``
entry point) appends each task's record to ``journal`` as doit saves it, one line written
whole, and a task about to write strikes its record first (:func:`strike`, from the task's
action, in whichever process runs it). Loading replays the journal over the snapshot
``doit.json``; ``dump`` (the end of a run) writes the snapshot atomically, only when it
changed, and then drops the journal. The models are ninja's build log and Shake's journal.

Journal lines: ``["+", task, record]`` (doit saved the task's success: the record replaces
the task's), ``["-", task]`` (the task is about to write, or doit forgot it), ``["*"]``
(doit forgot every task). A line a full disk tore is ignored (:func:`append`).

The snapshot holds one line per task, in task order: the task's name as a JSON string, a
tab, its record as JSON (neither holds a raw tab or newline). A record is parsed when doit
first asks for it, and written back as it was read unless it was: an edit's build asks for
a few of the torch wheel's 2,600 records, where parsing the whole database (5.5 MB) took
33-51 ms and encoding it again 6 ms. A snapshot written as one JSON object (before this
format) is read too. A record that does not parse is no record: its task runs again.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import orjson

from pipeline.errors import write_failure
from pipeline.files import crash_point, write_if_changed
from pipeline.stateio import pack, unpack

JOURNAL = "journal"
# The database is written whole at the end of every run that changed it (an edit too):
# zstd's level 1 (torch: 5.5 MB -> 1.24 MB in 7.8 ms; level 3 wrote 1.29 MB in 13.5 ms, and
# level 9 saves 4 % for 60 ms).
DATABASE_LEVEL = 1

# One parse of the database per build: the state check reads it first (to rebuild a corrupt
# one), and hands it here, keyed by path and (size, mtime), for the backend doit opens next.
_HANDED: dict[str, tuple[tuple[int, int], bytes, dict[str, Any]]] = {}


def journal_of(database: str) -> str:
    """The journal beside a database file."""
    return os.path.join(os.path.dirname(database), JOURNAL)


def append(journal: str, entry: list[Any]) -> None:
    """Append one line to a journal with one ``write`` (O_APPEND: lines of several
    processes never interleave). It reaches the file system before this returns, so it
    survives the process; it is not synced to the disk (a kill, not a power loss).

    A full disk may take part of a line (a short write, raised here as ENOSPC): every line
    starts with a line break too, so the next one, written once there is room, never runs
    on from the torn one (blank lines are passed over)."""
    line = b"\n" + orjson.dumps(entry) + b"\n"
    crash_point()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(journal, flags, 0o644)
    except FileNotFoundError:  # the first write of a new output (a check's scratch copy)
        os.makedirs(os.path.dirname(journal), exist_ok=True)
        fd = os.open(journal, flags, 0o644)
    try:
        if os.write(fd, line) < len(line):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), journal)
    finally:
        os.close(fd)


def strike(database: str, task: str) -> None:
    """Forget a task's record before it writes anything: killed half way, it runs again."""
    append(journal_of(database), ["-", task])


def read_database(name: str, hand_over: bool = False) -> tuple[bytes, dict[str, Any]]:
    """The bytes and the snapshot (task -> its record, or the record's JSON not parsed
    yet); ``OSError`` if unreadable, ``DatabaseException`` if not a database. With
    ``hand_over``, the next reader of the unchanged file gets the result without reading
    it again."""
    info = os.stat(name)
    stamp = (info.st_size, info.st_mtime_ns)
    handed = _HANDED.pop(name, None)
    if handed is not None and handed[0] == stamp:
        return handed[1], handed[2]
    with open(name, "rb") as handle:
        raw = handle.read()
    try:
        raw = unpack(raw)  # zstd since state format 3; plain JSON is read as it is
        loaded = _tasks(raw)
    except ValueError as error:  # orjson.JSONDecodeError too
        from doit.dependency import DatabaseException

        raise DatabaseException(f"{error}\nInvalid data in {os.path.abspath(name)}; "
                                "remove the file and a new one is made") from None
    if hand_over:
        _HANDED[name] = (stamp, raw, loaded)
    return raw, loaded


def _tasks(data: bytes) -> dict[str, Any]:
    """Task -> record JSON of a snapshot's lines, or task -> record of a snapshot written
    as one JSON object; ``ValueError`` for anything else."""
    if data.lstrip()[:1] == b"{":
        loaded = orjson.loads(data)
        if not isinstance(loaded, dict):
            raise ValueError("not a dependency database")
        return loaded
    tasks: dict[str, Any] = {}
    for line in data.splitlines():
        name, tab, record = line.partition(b"\t")
        task = orjson.loads(name)
        if not tab or not isinstance(task, str) or not record:
            raise ValueError(f"not a line of a dependency database: {line[:80]!r}")
        tasks[task] = record
    return tasks


def _lines(db: dict[str, Any]) -> bytes:
    """The snapshot of ``db``: a line per task in task order, records read and not parsed
    written back as they were."""
    return b"".join(
        orjson.dumps(task) + b"\t"
        + (record if isinstance(record, bytes) else orjson.dumps(record,
                                                                   option=orjson.OPT_SORT_KEYS))
        + b"\n"
        for task, record in sorted(db.items(), key=lambda item: item[0]))


def entries(journal: str) -> list[list[Any]]:
    """A journal's entries in order (none when there is no journal); blank lines, and a
    line a full disk tore, are passed over."""
    try:
        with open(journal, "rb") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    found: list[list[Any]] = []
    for line in lines:
        try:
            found.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return found


def replay(journal: str, db: dict[str, Any]) -> bool:
    """Apply a journal's entries to ``db`` in order; whether there were any."""
    found = entries(journal)
    for entry in found:
        if entry[0] == "+":
            db[entry[1]] = entry[2]
        elif entry[0] == "-":
            db.pop(entry[1], None)
        elif entry[0] == "*":
            db.clear()
    return bool(found)


def unfinished(journal: str) -> set[str]:
    """The tasks a journal struck last: begun, never recorded done since."""
    struck: dict[str, bool] = {}  # task -> whether its last entry is a strike
    for entry in entries(journal):
        if entry[0] == "*":
            struck.clear()
        elif entry[0] in ("+", "-"):
            struck[entry[1]] = entry[0] == "-"
    return {task for task, last in struck.items() if last}


class StateDB:
    """The interface of doit's backends: ``get``/``set``/``remove``/``in_``/``dump``."""

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        self.name = name
        self.codec = codec  # unused: values are plain JSON, encoded with the whole database
        self.journal = journal_of(name)
        self._db: dict[str, dict[str, Any] | bytes] = {}  # bytes: a record not parsed yet
        self._saved = b""
        try:
            self._saved, self._db = read_database(name)
        except FileNotFoundError:
            pass
        if replay(self.journal, self._db):
            self._saved = b""  # the snapshot is behind: the next dump writes it

    def dump(self) -> None:
        """Save the snapshot when anything changed (doit also updates stored lists in
        place, so the encoded bytes are compared rather than a flag kept), then drop the
        journal it now holds.

        First the tasks struck in the journal and not recorded since are forgotten: a run
        stopped by Ctrl-C ends its workers mid-task and doit saves its database on the way
        out, and only the journal knows that those tasks (or the one this process was
        running) began to write. Kept, their old records would vouch for what they half
        wrote, and with the edit undone the next build would skip them."""
        for task in unfinished(self.journal):
            self._db.pop(task, None)
        data = _lines(self._db)
        if data != self._saved:
            write_if_changed(self.name, pack(data, DATABASE_LEVEL))
            self._saved = data
        try:
            os.unlink(self.journal)
        except FileNotFoundError:
            pass

    def _record(self, task_id: str) -> dict[str, Any] | None:
        """A task's record, parsed on first use (one that does not parse, or is no JSON
        object, is dropped: the task runs again)."""
        entry = self._db.get(task_id)
        if entry is None or isinstance(entry, dict):
            return entry
        if isinstance(entry, bytes):
            try:
                entry = orjson.loads(entry)
            except orjson.JSONDecodeError:
                entry = None
            if isinstance(entry, dict):
                self._db[task_id] = entry
                return entry
        del self._db[task_id]
        return None

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        entry = self._record(task_id)
        if entry is None:
            entry = self._db[task_id] = {}
        entry[dependency] = value
        # doit's save_success sets the list of file_dep last: the record is complete
        if dependency in ("deps:", "ignore:"):
            _journal(self.journal, ["+", task_id, entry])

    def get(self, task_id: str, dependency: str) -> Any:
        entry = self._record(task_id)
        return None if entry is None else entry.get(dependency)

    def in_(self, task_id: str) -> bool:
        return self._record(task_id) is not None

    def remove(self, task_id: str) -> None:
        if self._db.pop(task_id, None) is not None:
            _journal(self.journal, ["-", task_id])

    def remove_all(self) -> None:
        self._db = {}
        append(self.journal, ["*"])


def _journal(journal: str, entry: list[Any]) -> None:
    """doit's record of a task done, or forgotten, appended as it is made. A full disk
    refusing it loses nothing: a task struck its record before it wrote (:func:`strike`,
    which fails the task when it cannot), so an unjournaled success only runs the task
    again, and an unjournaled removal follows that strike. The snapshot written at the
    end holds both; if that fails too, the run says so (``pipeline.runner``)."""
    try:
        append(journal, entry)
    except OSError as error:
        if write_failure(error) is None:
            raise
