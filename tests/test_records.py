"""The typed records after extraction: their JSON form and the readers that rebuild them."""

from __future__ import annotations

from pathlib import Path

import orjson
from buildkit import build, make_tree

from pipeline import layout
from pipeline.files import dump_state
from pipeline.records import (
    Context,
    Definition,
    FileRow,
    FolderFacts,
    KeywordRow,
    Note,
    NoteRow,
    Subfolder,
    Summary,
    context_from_dict,
    folder_facts_from_dict,
    note_order,
    note_rows_from_list,
    summary_from_dict,
    to_dict,
)
from pipeline.report import failed_notes, read_notes
from pipeline.stateio import load_state


def test_note_rows_round_trip_and_sort_by_path_kind_line_message() -> None:
    rows = [NoteRow("b.py", "syntax-error", "bad", 3), NoteRow("a.py", "truncated", "cut", 0),
            NoteRow("a.py", "decode", "z", 9), NoteRow("a.py", "decode", "y", 9)]
    ordered = sorted(rows, key=note_order)
    assert [(r.path, r.message) for r in ordered] == [
        ("a.py", "y"), ("a.py", "z"), ("a.py", "cut"), ("b.py", "bad")]
    data = [to_dict(r) for r in ordered]
    assert data[0] == {"path": "a.py", "kind": "decode", "message": "y", "line": 9}
    assert note_rows_from_list(data) == ordered


def test_a_failed_file_is_one_named_row_in_the_notes_and_the_summary(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"bad.py": "def f(:\n    pass\n", "ok.py": "x = 1\n"})
    result = build(tmp_path / "src", tmp_path / "out", "--depth", "1")
    assert result.code == 1
    notes = read_notes(str(tmp_path / "out"), 1)
    failed = failed_notes(notes, strict=False)
    assert [(n.path, n.kind) for n in failed] == [("bad.py", "syntax-error")]
    assert failed[0].line == 1 and failed[0].message
    assert result.summary["failed"] == failed
    assert f"failed: bad.py: syntax-error (line 1): {failed[0].message}" in result.stderr
    stored = load_state(tmp_path / "out" / layout.state_file("notes", "1"))
    assert stored == [to_dict(n) for n in notes]
    assert list(stored[0]) == ["path", "kind", "message", "line"]


def test_summaries_round_trip_with_named_definitions() -> None:
    summary = Summary(
        path="g/circle.py", layer=1, language="python", type="Python Source Code", lines=9,
        description="Circles.", is_test=False, has_main=True,
        imports=(("from", ".base", ("Shape",), 1),),
        defines=(Definition("Circle", "class"), Definition("Circle.area", "method")),
        top=(Definition("Circle", "class"),), notes=(Note("truncated", "cut", 0),))
    data = to_dict(summary)
    assert data["defines"][1] == {"name": "Circle.area", "kind": "method"}
    assert data["notes"] == [{"kind": "truncated", "message": "cut", "line": 0}]
    assert summary_from_dict(orjson.loads(dump_state(summary))) == summary


def test_contexts_round_trip_by_name() -> None:
    context = Context(module="g.circle", imports=(("repo", "g/base.py"), ("stdlib", "")),
                      imported_by=("g/__init__.py", "tests/test_circle.py"),
                      tested_by=("tests/test_circle.py",), reexports=(("Shape", "g/base.py"),))
    data = orjson.loads(dump_state({"g/circle.py": context}))["g/circle.py"]
    assert list(data) == ["module", "imports", "imported_by", "tested_by", "reexports"]
    assert context_from_dict(data) == context


def test_folder_facts_round_trip_with_named_rows() -> None:
    facts = FolderFacts(
        folder="g",
        files=(FileRow("g/circle.py", "Python Source Code", 9, "Circles.", False, True, 2,
                       (Definition("Circle", "class"),)),),
        subfolders=(Subfolder("g/sub", 3),), binaries=(("logo.png", 120),),
        types=(("Python Source Code", 1),), lines=9, files_below=4,
        symbols=(KeywordRow("Circle", "class", "g/circle.py"),
                 KeywordRow("circle.py", "module", "g/circle.py")),
        tests_below=("g/sub/test_circle.py",))
    data = orjson.loads(dump_state(facts))
    assert data["symbols"][0] == {"name": "Circle", "kind": "class", "path": "g/circle.py"}
    assert data["subfolders"] == [{"path": "g/sub", "files": 3}]
    assert folder_facts_from_dict(data) == facts


def test_records_pickle_as_their_fields_and_come_back_equal() -> None:
    """Records cross processes by pickle (a Dask cluster's extractions, the isolated
    extraction of large files): every kind comes back equal, by its constructor."""
    import pickle

    from pipeline import records
    from pipeline.isolate import extract_file

    _facts, extraction = extract_file(
        b'"""Doc."""\nimport os\nfrom .base import Shape\n\n\nclass C(Shape):\n'
        b'    """A class."""\n\n    def f(self) -> int:\n        return eval("1")\n', "python")
    summary = Summary(path="g/c.py", layer=1, language="python", type="Python Source Code",
                      lines=9, description="C.", is_test=False, has_main=False,
                      imports=(("from", ".base", ("Shape",), 1),),
                      defines=(Definition("C", "class"),), top=(Definition("C", "class"),),
                      notes=(Note("truncated", "cut", 0),))
    facts = FolderFacts(
        folder="g", files=(FileRow("g/c.py", "Python Source Code", 9, "C.", False, False, 1,
                                   (Definition("C", "class"),)),),
        subfolders=(Subfolder("g/sub", 3),), binaries=(), types=(("Python Source Code", 1),),
        lines=9, files_below=4, symbols=(KeywordRow("C", "class", "g/c.py"),),
        tests_below=())
    values = [extraction, summary, facts, NoteRow("g/c.py", "x", "m", 1),
              Context(module="g.c", imports=(("repo", "g/base.py"),), imported_by=(),
                      tested_by=(), reexports=())]
    assert extraction.symbols and extraction.imports and extraction.findings
    for value in values:
        assert pickle.loads(pickle.dumps(value, protocol=5)) == value
    kinds = {name for name in dir(records) if isinstance(getattr(records, name), type)
             and issubclass(getattr(records, name), records._Record)
             and getattr(records, name) is not records._Record}
    assert kinds >= {"Symbol", "Import", "Finding", "Extraction", "Summary", "FolderFacts"}
    for name in kinds:  # each pickles through its own constructor, fields in order
        cls = getattr(records, name)
        assert cls.__reduce__ is records._Record.__reduce__
