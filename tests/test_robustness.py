"""Hostile trees, killed builds, concurrent builds and damaged state: the build exits 0 or 1,
pages every text file, never leaves OUT or touches SOURCE, and always repairs itself."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    STATE,
    BuildResult,
    broken_links,
    build,
    contents,
    describe_bytes_difference,
    diff,
    file_pages,
    leftover_temp_files,
    make_tree,
    page_problems,
    python_env,
    run_cli,
    run_main,
    snapshot,
    text_problems,
    tree_fingerprint,
)

DEEP = "/".join(f"d{i}" for i in range(40)) + "/deep.txt"
ODD_NAMES = ("odd/with space.md", "odd/naïve ☃.txt", "odd/back`tick.py", "odd/[brackets].md",
             "odd/hash#.txt", "odd/per%cent.txt", "odd/pi|pe.txt", "odd/st*ar.txt",
             "odd/under_score_.md", "odd/ünï cödé/ファイル.md")
HOSTILE: dict[str, str | bytes] = {
    "py2.py": "print 'hello'\nexec 'x = 1'\n",
    "undecodable.txt": b"ok line\n\xff\xfe\xfa bad bytes\n",
    "latin1.py": b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n",
    "bom.py": b"\xef\xbb\xbfx = 1\n",
    "crlf.md": b"# Title\r\n\r\nText [link](tabs.yaml)\r\n",
    "old_mac.txt": b"one\rtwo\rthree\r",
    "tabs.yaml": "a:\n\tb: 1\n",
    "tabs.py": "def f():\n\treturn 1\n",
    "nul_late.txt": b"a" * 9300 + b"\x00tail\n",
    "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "empty.txt": b"",
    "empty.py": b"",
    "big/lines.txt": "".join(f"line {i}\n" for i in range(100_000)),
    "big/one_line.txt": "x" * 3_000_000,
    "fences.md": "# Fences\n\n````\n```\nnot closed here\n````\n\n"
                 "`````python\nx = '``````'\n`````\n",
    "clash/a.py": "x = 1\n",
    "clash/a.py_docs.md": "# Not a page\n",
    "clash/a.py_kw.md": "# Not a page either\n",
    "clash/index.md": "# A source file named index.md\n",
    "clash/doc.md": "# A source file named doc.md\n",
    "keywords.md": "# A source file named keywords.md\n",
    DEEP: "deep\n",
    **{name: f"# {name}\n" if name.endswith(".md") else "x = 1\n" for name in ODD_NAMES},
}


def _symlinks(src: Path, root: Path) -> None:
    os.symlink(".", src / "loop")
    os.symlink("..", src / "odd/up")
    os.symlink(str(root / "outside.txt"), src / "odd/escape.txt")
    os.symlink(str(root / "outside_dir"), src / "escape_dir")
    (root / "outside.txt").write_text("outside the tree\n")
    make_tree(root / "outside_dir", {"secret.py": "x = 1\n"})


class Hostile:
    def __init__(self, root: Path) -> None:
        self.root, self.src, self.out = root, root / "src", root / "out"
        make_tree(self.src, HOSTILE)
        _symlinks(self.src, root)
        self.source_before = tree_fingerprint(self.src)
        self.parent_before = sorted(p.name for p in root.iterdir())
        outside = root / "outside_dir"
        self.outside_before = tree_fingerprint(outside)
        self.result: BuildResult = build(self.src, self.out)
        self.pages = contents(snapshot(self.out))

    def docs(self, rel: str) -> str:
        return self.pages[rel + "_docs.md"].decode("utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    return Hostile(tmp_path_factory.mktemp("hostile"))


def test_build_exits_0_or_1_without_task_errors(hostile: Hostile) -> None:
    assert hostile.result.code in (0, 1)
    assert not hostile.result.summary.get("errors")


def test_every_text_file_has_both_pages(hostile: Hostile) -> None:
    texts = [rel for rel in HOSTILE if rel != "image.png"]
    missing = [rel for rel in texts if not file_pages(rel) <= hostile.pages.keys()]
    assert missing == []
    mirror = hostile.out.name
    for rel in texts:
        for page in file_pages(rel):
            assert {f"{mirror}/{page}_docs.md", f"{mirror}/{page}_kw.md"} <= hostile.pages.keys()


def test_binary_files_and_symlinks_get_no_pages(hostile: Hostile) -> None:
    names = list(hostile.pages)
    assert not [n for n in names if "image.png" in n]
    assert not [n for n in names if n.startswith(("loop", "odd/up", "escape_dir"))
                or "escape" in n or "secret" in n], names
    doc = hostile.pages["doc.md"].decode("utf-8")
    assert "Binary files" in doc and "1" in doc.split("Binary files", 1)[1].split("\n", 1)[0]


def test_notes_where_relevant(hostile: Hostile) -> None:
    undecodable = hostile.docs("undecodable.txt")
    assert "decode" in undecodable and "line 2" in undecodable
    assert "\ufffd" in undecodable
    latin1 = hostile.docs("latin1.py")
    assert "**Encoding**" in latin1 and "café" in latin1
    bom = hostile.docs("bom.py")
    assert "\ufeff" not in bom
    py2 = hostile.docs("py2.py")
    assert "#### Notes" in py2, "a Python 2 file must carry a parse note"
    for big in ("big/lines.txt", "big/one_line.txt"):
        text = hostile.docs(big)
        assert "left out" in text and "truncated" in text, big
    assert "tail" in hostile.docs("nul_late.txt") or "left out" in hostile.docs("nul_late.txt")


def test_line_endings_are_normalised(hostile: Hostile) -> None:
    assert "Text [link](tabs.yaml)\n" in hostile.docs("crlf.md")
    assert "one\ntwo\nthree" in hostile.docs("old_mac.txt")


def test_pages_keep_the_format_properties(hostile: Hostile) -> None:
    assert page_problems(hostile.out, "src") == []


def test_no_page_carries_nul_or_control_characters(hostile: Hostile) -> None:
    """CommonMark §2.3 replaces U+0000 (insecure); a NUL also makes git and grep treat the
    page as binary. The source of ``nul_late.txt`` must show it some other way."""
    bad = sorted(rel for rel, data in hostile.pages.items()
                 if any(ch in data for ch in (b"\x00", b"\x07", b"\x1b")))
    assert bad == []


def test_links_to_odd_names_resolve(hostile: Hostile) -> None:
    assert broken_links(hostile.out, hostile.src) == []


def test_clashing_names_keep_their_own_pages(hostile: Hostile) -> None:
    assert hostile.pages["clash/index.md"].startswith(b"# Index: ")
    assert hostile.pages["clash/doc.md"].startswith(b"# Documentation: ")
    assert hostile.pages["keywords.md"].startswith(b"# Global Symbol Index")
    assert hostile.pages["clash/a.py_docs.md"].startswith(b"# Documentation: `clash/a.py`")
    assert b"# Not a page" in hostile.pages["clash/a.py_docs.md_docs.md"]
    assert hostile.pages["clash/index.md_docs.md"].startswith(b"# Documentation: `clash/index.md`")


def test_fences_in_content_never_close_the_source_fence(hostile: Hostile) -> None:
    from buildkit import headings
    found = [h.raw for h in headings(hostile.docs("fences.md"))]
    assert "Fences" not in found and found.count("Original Source") == 1


def test_source_and_surroundings_untouched(hostile: Hostile) -> None:
    assert tree_fingerprint(hostile.src) == hostile.source_before
    assert tree_fingerprint(hostile.root / "outside_dir") == hostile.outside_before
    after = sorted(p.name for p in hostile.root.iterdir())
    assert after == sorted(hostile.parent_before + ["out"])


def test_second_build_is_a_noop(hostile: Hostile) -> None:
    before = snapshot(hostile.out)
    result = build(hostile.src, hostile.out)
    change = diff(before, snapshot(hostile.out))
    assert not change.written and not change.removed, change
    assert result.counts.get("extracted", 0) == 0


# --------------------------------------------------------------------------- SIGKILL

def _kill_tree(edit: str = "") -> dict[str, str]:
    """60 small files of three kinds in 6 folders (``edit`` changes one file per folder)."""
    files: dict[str, str] = {}
    for i in range(6):
        for j in range(10):
            if j % 3 == 0:
                files[f"part{i}/doc{j}.md"] = f"# Doc {i}.{j}\n\n[next](doc{(j + 3) % 9}.md)\n" \
                    + "".join(f"\n## Section {k}\n\nText {k} of `thing{k}`.\n" for k in range(4))
            elif j % 3 == 1:
                files[f"part{i}/conf{j}.yaml"] = "".join(f"key{k}:\n  sub: {k}\n" for k in range(8))
            else:
                files[f"part{i}/notes{j}.txt"] = "".join(f"note line {k}\n" for k in range(20))
        if edit:
            files[f"part{i}/notes2.txt"] = edit
    return files


def _start(src: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "build", str(src), "--output",
                             str(out), "--jobs", "1"], cwd=out.parent, env=python_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _assert_no_torn_page(out: Path) -> None:
    """Whatever a killed build left: every page present is a whole page."""
    for rel, (data, _mtime) in snapshot(out).items():
        if rel.rsplit("/", 1)[-1].startswith(".tmp-"):
            continue
        assert text_problems(rel, data) == [], rel
        assert data.rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(b"*Generated by "), rel


def _kill_and_repair(src: Path, out: Path, delay: float, expected: dict[str, bytes]) -> None:
    process = _start(src, out)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    if out.exists():
        _assert_no_torn_page(out)
    build(src, out)
    actual = contents(snapshot(out))
    assert actual == expected, (f"killed after {delay:.2f} s\n"
                                + describe_bytes_difference(actual, expected))
    assert leftover_temp_files(out) == [], f"killed after {delay:.2f} s"


def test_sigkill_at_any_moment_is_repaired_by_the_next_build(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _kill_tree())
    started = time.perf_counter()
    assert _start(src, out).wait(timeout=120) in (0, 1)
    duration = time.perf_counter() - started
    reference = contents(snapshot(out))
    rng = random.Random(20240601)
    for fraction in (0.2, 0.5, 0.8, rng.uniform(0.3, 0.95)):  # cold builds
        shutil.rmtree(out)
        _kill_and_repair(src, out, duration * fraction, reference)
    # an incremental build killed: out is complete, then 6 files change
    make_tree(src, _kill_tree(edit="edited\n"))
    os.rename(out, tmp_path / "aside")
    build(src, out)
    edited = contents(snapshot(out))
    shutil.rmtree(out)
    os.rename(tmp_path / "aside", out)
    _kill_and_repair(src, out, duration * rng.uniform(0.3, 0.7), edited)


def test_temp_files_of_a_killed_run_are_removed_everywhere(tmp_path: Path) -> None:
    """What SIGKILL leaves between ``mkstemp`` and ``os.replace``: ``.tmp-*`` files next to
    pages and state files. The next run (the previous one never sealed) prunes them all."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.md": "# A\n", "sub/b.txt": "b\n"})
    build(src, out)
    for folder in (out, out / "sub", out / STATE / "records", out / STATE / "summary"):
        (folder / ".tmp-killed").write_bytes(b"half a pa")
    (out / STATE / "clean").unlink()  # the killed run never reached seal
    build(src, out)
    assert leftover_temp_files(out) == []


# --------------------------------------------------------------------------- concurrency

def test_a_held_lock_refuses_a_second_build(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.md": "# A\n", "b.txt": "b\n"})
    build(src, out)
    before = snapshot(out)
    make_tree(src, {"a.md": "# A changed\n"})
    with open(out / STATE / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli(["build", "src", "--output", "out"], cwd=tmp_path)
        in_process = run_main(["build", str(src), "--output", str(out)], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert in_process.code == 2
    assert snapshot(out) == before, "a refused build wrote pages"
    build(src, out)
    assert "A changed" in (out / "a.md_docs.md").read_text(encoding="utf-8")


def test_two_real_builds_at_once_never_tear_pages(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {k: v for k, v in _kill_tree().items() if k.startswith(("part0", "part1"))})
    first = _start(src, out)
    second = _start(src, out)
    codes = sorted([first.wait(timeout=120), second.wait(timeout=120)])
    assert codes[0] in (0, 1) and codes[1] in (0, 1, 2), codes
    _assert_no_torn_page(out)
    result = build(src, out)
    assert leftover_temp_files(out) == []
    actual = contents(snapshot(out))
    aside = tmp_path / "aside"
    os.rename(out, aside)
    build(src, out)
    expected = contents(snapshot(out))
    assert actual == expected, describe_bytes_difference(actual, expected)
    assert result.code in (0, 1)


# --------------------------------------------------------------------------- damaged state

def _damaged_state_case(tmp_path: Path, damage: str) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.md": "# A\n\n[b](b.txt)\n", "sub/b.txt": "b\n", "b.txt": "b\n"})
    build(src, out)
    make_tree(src, {"sub/c.md": "# C\n"})
    if damage == "doit.json":
        (out / STATE / "doit.json").write_bytes(b'{"docs:extract:.": {"truncated')
    else:
        (out / STATE / "version").write_text("someone-else 99\n", encoding="utf-8")
    result = build(src, out)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, result.stderr
    assert (damage if damage == "doit.json" else "state") in notes[0]
    actual = contents(snapshot(out))
    os.rename(out, tmp_path / "aside")
    build(src, out)
    expected = contents(snapshot(out))
    assert actual == expected, describe_bytes_difference(actual, expected)


def test_corrupt_dependency_database_is_reported_and_rebuilt(tmp_path: Path) -> None:
    _damaged_state_case(tmp_path, "doit.json")


def test_foreign_state_version_is_reported_and_rebuilt(tmp_path: Path) -> None:
    _damaged_state_case(tmp_path, "version")


def test_fifos_and_sockets_are_counted_never_opened(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO is never opened (that would wait for a writer) and a socket has no bytes: both
    are counted in the summary, get no page, and adding one makes a no-op build look again."""
    import socket

    make_tree(tmp_path / "src", {"a.py": "x = 1\n"})
    os.mkfifo(tmp_path / "src" / "pipe.py")
    result = build(tmp_path / "src", tmp_path / "out")
    assert result.code == 0, result.stderr
    assert _summary(result)["special files skipped"] == 1
    assert _summary(result)["binary files skipped"] == 0
    pages = contents(snapshot(tmp_path / "out"))
    assert "a.py_docs.md" in pages and not [p for p in pages if "pipe.py" in p]
    with socket.socket(socket.AF_UNIX) as server:
        monkeypatch.chdir(tmp_path / "src")  # a socket's path is short: bound by its name
        server.bind("s.sock")
        again = build(tmp_path / "src", tmp_path / "out")
    assert _summary(again)["special files skipped"] == 2


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names are always UTF-8")
def test_names_that_are_not_utf8_are_counted_never_documented(tmp_path: Path) -> None:
    """A name that is not UTF-8 (an old Latin-1 archive) is legal on Linux. No page can be
    named or linked after it, and the build's state is UTF-8: such files, folders and links
    are skipped and counted (the whole build failed with a traceback), and adding or
    removing one makes a no-op build look again."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.py": "x = 1\n"})
    raw = os.fsencode(src)
    with open(raw + b"/caf\xe9.py", "wb") as handle:
        handle.write(b"y = 2\n")
    os.mkdir(raw + b"/d\xfe")
    with open(raw + b"/d\xfe/inner.py", "wb") as handle:
        handle.write(b"z = 3\n")
    result = build(src, out)
    assert result.code == 0, result.stderr
    assert _summary(result)["names not UTF-8 skipped"] == 2
    assert _summary(result)["source files documented"] == 1
    pages = contents(snapshot(out))
    assert "a.py_docs.md" in pages and not [p for p in pages if "inner" in p]
    again = build(src, out)
    assert _summary(again)["names not UTF-8 skipped"] == 2
    assert again.counts.get("tasks_run", 0) == 0
    os.unlink(raw + b"/caf\xe9.py")
    third = build(src, out)
    assert _summary(third)["names not UTF-8 skipped"] == 1
    shutil.rmtree(raw + b"/d\xfe")
    assert "names not UTF-8 skipped" not in _summary(build(src, out))  # said only when met


def test_names_too_long_for_a_page_are_counted_and_the_rest_is_built(tmp_path: Path) -> None:
    """A page is named after its file plus ``_docs.md``, and file systems stop at 255
    bytes: a source named with 250 bytes gets no page, one named with 240 bytes gets its
    pages but not their pages. Both are counted; the rest is built and links resolve (a
    long name failed the folder's whole render task with a traceback)."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a.py": "x = 1\n", "pkg/" + "m" * 240 + ".py": "y = 2\n",
                    "pkg/" + "n" * 250 + ".py": "z = 3\n", "pkg/ok.py": "w = 4\n"})
    result = build(src, out)
    assert result.code == 0, result.stderr
    summary = _summary(result)
    assert summary["names too long for a page skipped"] == 3, summary
    assert summary["source files documented"] == 3
    pages = contents(snapshot(out))
    assert f"pkg/{'m' * 240}.py_docs.md" in pages and "pkg/ok.py_docs.md" in pages
    assert not [p for p in pages if "n" * 250 in p]
    assert broken_links(out, src) == []
    again = build(src, out)
    assert again.counts.get("tasks_run", 0) == 0
    assert _summary(again)["names too long for a page skipped"] == 3


def _summary(result: BuildResult) -> dict[str, int]:
    """The build's summary line as {label: count}."""
    line = next(line for line in result.stderr.splitlines() if line.startswith("summary: "))
    pairs = (part.rsplit(" ", 1) for part in line.removeprefix("summary: ").split("; "))
    return {label: int(value.replace(",", "")) for label, value in pairs if value[0].isdigit()}


def test_an_unreadable_file_gets_its_page_and_a_note(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that cannot be read (no permission: the build may run as a user that does not
    own every file) is documented with an ``unreadable`` note and fails the build, rather
    than listed as a binary file; once readable, it is read without any edit of its bytes."""
    make_tree(tmp_path / "src", {"a.py": "x = 1\n", "secret.py": "def hidden():\n    pass\n"})
    secret = str(tmp_path / "src" / "secret.py")
    real_open, real_builtin_open = os.open, open

    def refusing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) == secret:
            raise PermissionError(13, "Permission denied", secret)
        return real_open(path, *args, **kwargs)

    def refusing_builtin_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(path, int) and os.fspath(path) == secret:
            raise PermissionError(13, "Permission denied", secret)
        return real_builtin_open(path, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(os, "open", refusing_open)
        patched.setattr("builtins.open", refusing_builtin_open)
        refused = build(tmp_path / "src", tmp_path / "out")
        before = snapshot(tmp_path / "out")
        still = build(tmp_path / "src", tmp_path / "out")  # still unreadable: a no-op
        assert still.code == 1 and snapshot(tmp_path / "out") == before
    assert refused.code == 1, refused.stderr
    assert _summary(refused)["binary files skipped"] == 0
    assert _summary(refused)["files with failures"] == 1
    page = (tmp_path / "out" / "secret.py_docs.md").read_text()
    assert "could not be read: Permission denied" in page
    assert "hidden" not in page
    os.chmod(secret, 0o644)  # what making it readable does: a new change time, same bytes
    readable = build(tmp_path / "src", tmp_path / "out")
    assert readable.code == 0, readable.stderr
    assert "could not be read" not in (tmp_path / "out" / "secret.py_docs.md").read_text()
    assert "hidden" in (tmp_path / "out" / "secret.py_docs.md").read_text()
