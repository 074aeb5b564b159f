"""The doit backend: same interface as doit's JSON backend, saves only a changed database."""

from __future__ import annotations

from pathlib import Path

import pytest
from doit.dependency import DatabaseException, JSONCodec

from pipeline.statedb import StateDB


def test_round_trip_and_no_write_when_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    db = StateDB(str(path), JSONCodec())
    assert not db.in_("t") and db.get("t", "dep") is None
    db.set("t", "dep", [1.5, 3, "digest"])
    db.set("t", "_values_:", {"n": 1})
    db.dump()
    stamp = path.stat().st_mtime_ns
    again = StateDB(str(path), JSONCodec())
    assert again.in_("t") and again.get("t", "dep") == [1.5, 3, "digest"]
    again.dump()
    assert path.stat().st_mtime_ns == stamp, "an unchanged database was written"
    again.get("t", "dep")[0] = 2.5  # doit's checker refreshes stored mtimes in place
    again.dump()
    assert StateDB(str(path), JSONCodec()).get("t", "dep") == [2.5, 3, "digest"]


def test_remove_and_remove_all(tmp_path: Path) -> None:
    db = StateDB(str(tmp_path / "doit.json"), JSONCodec())
    db.set("a", "x", 1)
    db.set("b", "x", 2)
    db.remove("a")
    db.remove("missing")
    assert not db.in_("a") and db.in_("b")
    db.remove_all()
    assert not db.in_("b")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]"])
def test_a_corrupt_database_is_a_database_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "doit.json"
    path.write_bytes(content)
    with pytest.raises(DatabaseException):
        StateDB(str(path), JSONCodec())
