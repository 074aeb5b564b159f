"""A full disk, and an output folder that cannot be written.

A build whose writes start failing at its N-th write of a page or state file, for every N
(``files.FULL_AT``: that write and every later one fail with ENOSPC, as when a disk fills
up part way through), exits 1 and says so in a line or two, never with a traceback. Once
there is room again, the next build equals a clean build byte for byte. An output folder
that cannot be made at all is a usage error: exit 2, one line.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
from pathlib import Path

import pytest
from buildkit import (
    TWO_MODULES,
    assert_same_pages,
    build,
    clean_build_snapshot,
    contents,
    faulted_build,
    leftover_temp_files,
    make_tree,
    run_main,
    snapshot,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

TREE = {**TWO_MODULES, "docs/guide.md": "# Guide\n\nSee [core](../core.py) and `Engine`.\n"}
NO_ROOM = os.strerror(errno.ENOSPC)


def _every_full_disk(src: Path, out: Path, expected: dict[str, bytes], *extra: str,
                     fresh: bool = True) -> int:
    """For N = 1, 2, ... until a build finishes: a build whose writes fail from the N-th
    on, then a build with room again, compared with the clean build. Returns the number of
    failing builds."""
    for at in range(1, 500):
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        code, printed = faulted_build(src, out, "FULL_AT", at, *extra)
        if code == 0:
            return at - 1
        assert code == 1, f"full from write {at}: exit {code}\n{printed}"
        assert "Traceback" not in printed, f"full from write {at}:\n{printed}"
        errors = [ln for ln in printed.splitlines() if ln.startswith("error: ")]
        assert errors and all(NO_ROOM in ln for ln in errors), \
            f"full from write {at}: no line says the disk is full\n{printed}"
        assert leftover_temp_files(out) == [], f"full from write {at}"
        result = build(src, out, *extra)
        assert result.code == 0, result.stderr
        assert_same_pages(out, expected, f"full from write {at}: the next build differs "
                          "from a clean build in")
    pytest.fail("the build never finished")


def test_a_disk_full_from_any_write_of_a_clean_build(tree: tuple[Path, Path]) -> None:
    src, out = tree
    expected = clean_build_snapshot(src, out)
    failed = _every_full_disk(src, out, expected)
    assert failed > 30, f"only {failed} writes: the fault is not where the writes are"


def test_a_disk_full_part_way_through_an_edit(tree: tuple[Path, Path]) -> None:
    src, out = tree
    edited = {**TREE, "core.py": '"""Core, edited."""\n\nclass Motor:\n    """Turns."""\n'}
    make_tree(src, edited)
    expected = clean_build_snapshot(src, out)
    make_tree(src, TREE)
    assert build(src, out).code == 0
    make_tree(src, edited)
    # not fresh: each failed build starts from the output the previous one left
    assert _every_full_disk(src, out, expected, fresh=False) > 0


def test_a_disk_full_with_worker_processes(tree: tuple[Path, Path]) -> None:
    src, out = tree
    expected = clean_build_snapshot(src, out)
    for at in (1, 5, 20, 40):
        shutil.rmtree(out, ignore_errors=True)
        code, printed = faulted_build(src, out, "FULL_AT", at, "--jobs", "2")
        assert code == 1, printed
        assert "Traceback" not in printed, printed
        assert any(ln.startswith("error: ") and NO_ROOM in ln for ln in printed.splitlines())
        assert build(src, out).code == 0
        assert contents(snapshot(out)) == expected


def test_an_output_that_is_a_file_exits_2_with_one_line(tree: tuple[Path, Path]) -> None:
    src, out = tree
    out.write_text("not a folder\n", encoding="utf-8")
    for command in (["build", str(src)], ["check", str(src)], ["clean"]):
        result = run_main([*command, "--output", str(out)])
        assert result.code == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(out) in lines[0] and "Traceback" not in result.stderr, \
            (command, result.stderr)


def test_an_output_folder_that_cannot_be_made_exits_2(tree: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = tree
    real_mkdir = os.mkdir

    def read_only(path: object, *args: object, **kwargs: object) -> None:
        if str(path).startswith(str(out)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", read_only)
    result = run_main(["build", str(src), "--output", str(out)])
    assert result.code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: the output folder {out} cannot be written: {os.strerror(errno.EROFS)}"]


@pytest.mark.parametrize("full", [False, True])
def test_a_check_on_a_full_disk_says_so_and_lists_nothing(
        tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, full: bool) -> None:
    """A check renders into a scratch folder beside the output: when the disk is full
    there, it cannot tell what a build would change, and says why rather than list the
    pages it could not write as missing or stale."""
    from pipeline import files

    src, out = tree
    assert build(src, out).code == 0
    (src / "core.py").write_text('"""Core, edited."""\n', encoding="utf-8")
    monkeypatch.setattr(files, "FULL_AT", 1)
    monkeypatch.setattr(files, "_WRITES", itertools.count(1))
    result = run_main(["check", str(src), "--output", str(out), *(["--full"] if full else [])])
    monkeypatch.setattr(files, "FULL_AT", 0)
    assert result.code == 1, result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert lines and all(ln.startswith("error: ") and NO_ROOM in ln for ln in lines), lines
    assert not list(out.parent.glob(".pipeline-check-*"))
    checked = run_main(["check", str(src), "--output", str(out)])
    assert checked.code == 1 and "stale: core.py_docs.md" in checked.stdout.splitlines()


def test_a_folder_of_other_files_is_never_an_output(tree: tuple[Path, Path]) -> None:
    """A build removes every file of its output that it does not write: given a folder
    that holds files but no build state (somebody's documents, a folder of the source
    tree), it exits 2 in one line and touches nothing. An empty folder, and its own
    output, are built into."""
    src, out = tree
    make_tree(out, {"notes.md": "# Mine\n", "deep/keep.py": "KEEP = 1\n"})
    inside = src / "docs"  # a folder of the source tree, with a source in it
    for output in (out, inside):
        before = {p: p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}
        for command in (["build", str(src)], ["watch", str(src)]):
            result = run_main([*command, "--output", str(output)])
            assert result.code == 2, (command, result.stderr)
            assert result.stderr.splitlines() == [
                f"error: the output folder {output} holds files but no build state "
                "(.pipeline): a build removes what it does not write, so it writes only to "
                "a new or empty folder, or to its own output"], result.stderr
        assert {p: p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()} == before
    empty = out.parent / "empty"
    empty.mkdir()
    assert build(src, empty).code == 0
    assert build(src, empty).code == 0
