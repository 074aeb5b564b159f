"""The doit backend: same interface as doit's JSON backend, saves only a changed database."""

from __future__ import annotations

from pathlib import Path

import pytest
from doit.dependency import DatabaseException, JSONCodec

from pipeline.statedb import StateDB, strike


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


# --------------------------------------------------------------------------- the journal

def test_a_saved_task_survives_a_run_that_never_dumps(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    db = StateDB(str(path), JSONCodec())
    db.set("t", "_values_:", {})
    db.set("t", "deps:", ["a"])  # doit's save_success sets this last: the record is whole
    db.set("u", "_values_:", {})  # a record doit has not finished saving
    again = StateDB(str(path), JSONCodec())  # the process was killed: no dump
    assert again.get("t", "deps:") == ["a"] and not again.in_("u")


def test_a_struck_task_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    db = StateDB(str(path), JSONCodec())
    db.set("t", "deps:", [])
    db.set("v", "deps:", [])
    db.dump()
    strike(str(path), "t")  # t's action is about to write
    again = StateDB(str(path), JSONCodec())
    assert not again.in_("t") and again.in_("v")
    again.remove("v")  # doit forgets a failed task
    assert not StateDB(str(path), JSONCodec()).in_("v")


def test_dump_writes_the_snapshot_and_drops_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    db = StateDB(str(path), JSONCodec())
    db.set("t", "deps:", ["a"])
    assert (tmp_path / "journal").exists()
    db.dump()
    assert not (tmp_path / "journal").exists()
    assert StateDB(str(path), JSONCodec()).get("t", "deps:") == ["a"]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    db = StateDB(str(path), JSONCodec())
    db.set("t", "deps:", ["a"])
    with open(tmp_path / "journal", "ab") as handle:
        handle.write(b'["+", "u", {"deps:"')  # killed while writing
    again = StateDB(str(path), JSONCodec())
    assert again.in_("t") and not again.in_("u")


# --------------------------------------------------------------------------- the snapshot

def _snapshot(path: Path) -> bytes:
    from pipeline.stateio import unpack

    return unpack(path.read_bytes())


def test_the_snapshot_is_a_line_per_task_and_unread_records_keep_their_bytes(
        tmp_path: Path) -> None:
    """Records doit never asks for are written back as they were read, not parsed and
    encoded again (an edit's build asks for a few of thousands)."""
    path = tmp_path / "doit.json"
    path.write_bytes(b'"kept"\t{"b":1,"a":[2.5,3]}\n"used"\t{"deps:":["x"]}\n')
    db = StateDB(str(path), JSONCodec())
    assert db.get("used", "deps:") == ["x"]
    db.set("used", "deps:", ["y"])
    db.set("new", "deps:", [])
    db.dump()
    assert _snapshot(path) == (b'"kept"\t{"b":1,"a":[2.5,3]}\n'  # as read: keys unsorted
                               b'"new"\t{"deps:":[]}\n'
                               b'"used"\t{"deps:":["y"]}\n')
    assert StateDB(str(path), JSONCodec()).get("kept", "a") == [2.5, 3]


def test_a_damaged_record_is_only_its_own_task_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    path.write_bytes(b'"a"\t{"deps:":["x"]}\n"b"\t{"deps:":["trunc\n"c"\t[1]\n')
    db = StateDB(str(path), JSONCodec())
    assert db.get("a", "deps:") == ["x"]
    assert not db.in_("b") and db.get("b", "deps:") is None  # not JSON: runs again
    assert not db.in_("c")  # JSON, but no record
    db.dump()
    assert _snapshot(path) == b'"a"\t{"deps:":["x"]}\n'


def test_a_snapshot_written_as_one_json_object_is_read_and_rewritten_as_lines(
        tmp_path: Path) -> None:
    path = tmp_path / "doit.json"
    path.write_bytes(b'{"t": {"deps:": ["a"]}, "u": {"deps:": []}, "v": 5}')
    db = StateDB(str(path), JSONCodec())
    assert db.get("t", "deps:") == ["a"] and db.in_("u")
    assert not db.in_("v") and db.get("v", "deps:") is None  # no record: runs again
    db.dump()
    assert _snapshot(path) == b'"t"\t{"deps:":["a"]}\n"u"\t{"deps:":[]}\n'
