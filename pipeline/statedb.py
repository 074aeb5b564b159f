"""doit's dependency database, kept as one JSON file that a no-op build does not write.

doit's own ``json`` backend parses with the standard library and rewrites the whole file
at the end of every run, in place (a kill mid-write corrupts it). This backend parses with
orjson and saves atomically, only when the encoded database differs from the file.
Registered as the doit backend ``pipeline`` through the ``doit.BACKEND`` entry point.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from doit.dependency import DatabaseException

from pipeline.files import write_if_changed

# One parse of the database per build: the state check reads it first (to rebuild a corrupt
# one), and hands it here, keyed by path and (size, mtime), for the backend doit opens next.
_HANDED: dict[str, tuple[tuple[int, int], bytes, dict[str, Any]]] = {}


def read_database(name: str, hand_over: bool = False) -> tuple[bytes, dict[str, Any]]:
    """The bytes and the parsed database; ``OSError`` if unreadable, ``DatabaseException``
    if not a database. With ``hand_over``, the next reader of the unchanged file gets the
    result without parsing it again."""
    info = os.stat(name)
    stamp = (info.st_size, info.st_mtime_ns)
    handed = _HANDED.pop(name, None)
    if handed is not None and handed[0] == stamp:
        return handed[1], handed[2]
    with open(name, "rb") as handle:
        raw = handle.read()
    try:
        loaded = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DatabaseException(f"{error}\nInvalid JSON data in {os.path.abspath(name)}; "
                                "remove the file and a new one is made") from None
    if not isinstance(loaded, dict):
        raise DatabaseException(f"{name}: not a dependency database")
    if hand_over:
        _HANDED[name] = (stamp, raw, loaded)
    return raw, loaded


class StateDB:
    """The interface of doit's backends: ``get``/``set``/``remove``/``in_``/``dump``."""

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        self.name = name
        self.codec = codec  # unused: values are plain JSON, encoded with the whole database
        self._db: dict[str, dict[str, Any]] = {}
        self._saved = b""
        try:
            self._saved, self._db = read_database(name)
        except FileNotFoundError:
            return

    def dump(self) -> None:
        """Save when anything changed (doit also updates stored lists in place, so the
        encoded bytes are compared rather than a flag kept)."""
        data = orjson.dumps(self._db, option=orjson.OPT_SORT_KEYS)
        if data != self._saved:
            write_if_changed(self.name, data)
            self._saved = data

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        self._db.setdefault(task_id, {})[dependency] = value

    def get(self, task_id: str, dependency: str) -> Any:
        entry = self._db.get(task_id)
        return None if entry is None else entry.get(dependency)

    def in_(self, task_id: str) -> bool:
        return task_id in self._db

    def remove(self, task_id: str) -> None:
        self._db.pop(task_id, None)

    def remove_all(self) -> None:
        self._db = {}
