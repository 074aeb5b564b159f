"""A layer's link patched for the changed summaries (pipeline.relink) equals linking the
whole layer: pages and link state byte for byte, after any sequence of edits (lines,
imports, symbols, docstrings, includes, links, ``import *``), added and removed files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from buildkit import STATE, build, contents, describe_bytes_difference, make_tree, snapshot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.stateio import unpack

LINK_KINDS = ("ctx", "folder", "notes", "global", "links")

TREE = {
    "pkg/__init__.py": '"""The package."""\nfrom pkg.core import *\n',
    "pkg/core.py": '"""Core helpers."""\n__all__ = ["run"]\n\n\ndef run(x):\n    return x\n',
    "pkg/util.py": '"""Utilities."""\nimport pkg.core\n\n\ndef helper():\n    return 1\n',
    "pkg/sub/deep.py": '"""Deep module."""\nfrom pkg import util\n\n\nclass Deep:\n    pass\n',
    "tests/test_core.py": '"""Tests of core."""\nimport pkg.core\n\n\ndef test_run():\n'
                          '    assert pkg.core.run(1) == 1\n',
    "include/lib/a.h": "#pragma once\nint a(void);\n",
    "include/lib/b.h": "#pragma once\n#include <lib/a.h>\nint b(void);\n",
    "src/local.h": "#pragma once\nint local(void);\n",
    "src/main.cpp": '#include <lib/b.h>\n#include "local.h"\nint main() { return b(); }\n',
    "docs/guide.md": "# Guide\n\nSee [core](../pkg/core.py).\n\n## Use\n\nText.\n",
    "docs/more.md": "# More\n\nBack to [the guide](guide.md).\n",
}
PYTHON = sorted(p for p in TREE if p.endswith(".py"))
C_FILES = ["include/lib/a.h", "include/lib/b.h", "src/local.h", "src/main.cpp"]
MARKDOWN = ["docs/guide.md", "docs/more.md"]
# Each list names files the edits add and remove (``added``) too: an import of one may find
# it, then no more.
MODULES = ["pkg", "pkg.core", "pkg.util", "pkg.sub.deep", "os", "json", "pkg.added_0",
           "pkg.sub.added_1", "pkg.added_2.x"]
HEADERS = ["<lib/a.h>", "<lib/b.h>", '"local.h"', "<vector>", "<lib/new.h>", '"added_1.h"',
           "<lib/added_2.h>"]
LINKS = ["guide.md", "more.md", "../pkg/util.py", "missing.md", "../src/main.cpp",
         "added_0.md", "added%5F1.md", "../pkg/added_2.py"]


def edit(text: str, path: str, op: str, arg: int) -> str:
    """One edit of a file that keeps the tree's set of files."""
    if op == "grow":
        line = {"py": "# more\n", "md": "More text.\n"}.get(path.rsplit(".", 1)[1], "// more\n")
        return text + line * (arg % 3 + 1)
    if path.endswith(".py"):
        if op == "import":
            return text + f"import {MODULES[arg % len(MODULES)]}\n"
        if op == "define":
            return text + f"\n\ndef added_{arg % 4}():\n    return {arg}\n"
        if op == "star":
            return text + f"from {MODULES[arg % 4]} import *\n"
        if op == "relative":
            return text + f"from . import added_{arg % 3}\n"
        if op == "describe":
            return f'"""Described anew, version {arg}."""\n' + text.split("\n", 1)[1]
        return text
    if path.endswith(".md"):
        if op in ("import", "star"):
            return text + f"\n[another]({LINKS[arg % len(LINKS)]})\n"
        if op == "define":
            return text + f"\n## Added {arg % 4}\n\nWords.\n"
        return text
    if op == "import":
        return f"#include {HEADERS[arg % len(HEADERS)]}\n" + text
    if op == "define":
        return text + f"int added_{arg % 4}(void);\n"
    return text


def link_state(output: Path) -> dict[str, bytes]:
    """The link's state files, decompressed."""
    found: dict[str, bytes] = {}
    for kind in LINK_KINDS:
        for path in sorted((output / STATE / kind).glob("*")):
            found[f"{kind}/{path.name}"] = unpack(path.read_bytes())
    return found


def check_equal_to_clean(src: Path, out: Path, root: Path) -> None:
    """Pages and link state equal those of a clean build into the same path (the
    incremental output is put aside meanwhile and restored)."""
    incremental, state = contents(snapshot(out)), link_state(out)
    aside = root / "incremental-aside"
    shutil.move(out, aside)
    try:
        build(src, out, cwd=root)
        clean, whole = contents(snapshot(out)), link_state(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(aside, out)
    assert incremental == clean, describe_bytes_difference(incremental, clean)
    assert state.keys() == whole.keys()
    differ = sorted(name for name in state if state[name] != whole[name])
    assert not differ, f"link state differs from a whole link: {differ}"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, TREE)
    build(src, out, cwd=tmp_path)
    return src, out


def rebuilt(tree: tuple[Path, Path], path: str, change: Callable[[str], str],
            how: str) -> None:
    """Change one source, build, check how each layer was linked (``links_patched``: all
    in part; ``links_whole``: at least one layer whole) and that the output is a clean
    build's."""
    src, out = tree
    target = src / path
    target.write_text(change(target.read_text()))
    result = build(src, out, cwd=out.parent)
    assert result.counts.get(how, 0) >= 1, result.counts
    if how == "links_patched":
        assert "links_whole" not in result.counts, result.counts
    check_equal_to_clean(src, out, out.parent)


@pytest.mark.parametrize(("path", "change"), [
    # lines added: the summary changes, nothing it reaches but its folder row and notes
    ("pkg/util.py", lambda text: text + "# one more line\n"),
    # an import and a symbol more: importers, the symbols of every folder above, the charts
    ("pkg/sub/deep.py", lambda text: text + "import pkg.core\n\n\ndef more():\n    return 2\n"),
    # a test importing another module: that module's context lists it (tested_by)
    ("tests/test_core.py", lambda text: text.replace("import pkg.core\n", "import pkg.util\n")),
], ids=["lines", "import and symbol", "test imports"])
def test_an_edit_is_linked_in_part(tree: tuple[Path, Path], path: str,
                                   change: Callable[[str], str]) -> None:
    rebuilt(tree, path, change, "links_patched")


def test_an_include_no_file_had_links_the_whole_layer(tree: tuple[Path, Path]) -> None:
    """Include roots are inferred from the set of includes: a new one links all again."""
    rebuilt(tree, "src/main.cpp", lambda text: "#include <brand/new.h>\n" + text,
            "links_whole")


def test_a_memo_that_cannot_be_read_links_the_whole_layer(tree: tuple[Path, Path]) -> None:
    for path in (tree[1] / STATE / "links").glob("*"):
        path.write_bytes(b"not json")
    rebuilt(tree, "pkg/util.py", lambda text: text + "# one more line\n", "links_whole")


@pytest.mark.parametrize("damage", ["row gone", "not facts"])
def test_state_unlike_the_memo_links_the_whole_layer(tree: tuple[Path, Path],
                                                     damage: str) -> None:
    """Folder facts that do not hold what the memo says (a file's row gone, or no facts at
    all) are not patched: the layer is linked whole, and the output is a clean build's."""
    from pipeline import state
    from pipeline.stateio import load_state, save_state

    out = tree[1]
    where = out / state.path("folder", "pkg")
    data = load_state(where)
    if damage == "row gone":
        data["facts"]["files"] = [r for r in data["facts"]["files"]
                                  if r["path"] != "pkg/util.py"]
    else:
        data = {"something": "else"}
    save_state(where, data)
    rebuilt(tree, "pkg/util.py", lambda text: text + "# one more line\n", "links_whole")


@pytest.mark.parametrize("damage", ["row gone", "subfolder gone"])
def test_pages_facts_unlike_the_memo_link_a_removal_whole(tree: tuple[Path, Path],
                                                          damage: str) -> None:
    """A page removed whose folder facts do not list its row (or the facts above it its
    subfolder): that layer is linked whole (the sources' layer in part), and the output is
    a clean build's."""
    from pipeline import state
    from pipeline.stateio import load_state, save_state

    src, out = tree
    folder, row = ("out/pkg", "out/pkg/util.py_docs.md") if damage == "row gone" else \
        ("out", "out/pkg")
    where = out / state.path("folder", folder)
    data = load_state(where)
    key = "files" if damage == "row gone" else "subfolders"
    kept = [r for r in data["facts"][key] if r["path"] != row]
    assert len(kept) == len(data["facts"][key]) - 1
    data["facts"][key] = kept
    save_state(where, data)
    (src / "pkg/util.py").unlink()
    result = build(src, out, cwd=out.parent)
    assert result.counts.get("links_whole") == 1, result.counts
    assert result.counts.get("links_patched") == 1, result.counts
    check_equal_to_clean(src, out, out.parent)


def added(path: str, arg: int) -> tuple[str, str]:
    """A file added beside ``path``: (its path, its text), which imports or links to it."""
    folder, _, name = path.rpartition("/")
    stem, _, ext = name.rpartition(".")
    new = f"{folder}/added_{arg % 3}.{ext}"
    if ext == "py":
        return new, (f'"""Added {arg}."""\nimport pkg.core\n\n\ndef made_{arg % 4}():\n'
                     "    return 1\n")
    if ext == "md":
        return new, f"# Added {arg}\n\nSee [{stem}]({name}).\n"
    return new, f'#include "{name}"\nint made_{arg % 4}(void);\n'


@pytest.mark.parametrize("change", ["add", "remove", "add a test", "remove a test"])
def test_a_file_added_or_removed_links_every_layer_in_part(
        tree: tuple[Path, Path], change: str) -> None:
    """A file added to or removed from the sources: each layer is linked in part (the
    imports that may find the file, or found it, resolved again; a removed file's last
    summary made again from the entry its chunk keeps), and the output is a clean
    build's. ``pkg/sub/deep.py`` imports ``util`` from ``pkg``: the module once there is
    removed, the package after."""
    src, out = tree
    if change == "add":
        make_tree(src, {"pkg/extra.py": '"""Extra."""\nimport pkg.core\n\n\ndef extra():\n'
                                        '    return 1\n'})
    elif change == "add a test":
        make_tree(src, {"tests/test_util.py": '"""Tests of util."""\nimport pkg.util\n'})
    elif change == "remove":
        (src / "pkg/util.py").unlink()
    else:  # one of the two tests of the folder
        make_tree(src, {"tests/test_util.py": '"""Tests of util."""\nimport pkg.util\n'})
        build(src, out, cwd=out.parent)
        (src / "tests/test_util.py").unlink()
    result = build(src, out, cwd=out.parent)
    assert "links_whole" not in result.counts, result.counts
    assert result.counts.get("links_patched") == 2, result.counts
    check_equal_to_clean(src, out, out.parent)


@pytest.mark.parametrize(("importer", "line", "new"), [
    ("pkg/util.py", "import pkg.added_0\n", "pkg/added_0.py"),  # found nowhere, then here
    ("pkg/sub/deep.py", "from pkg import added_0\n", "pkg/added_0.py"),  # the package, then
    ("pkg/sub/deep.py", "from . import added_1\n", "pkg/sub/added_1.py"),
    ("tests/test_core.py", "import pkg.added_0\n", "pkg/added_0.py"),  # a test: tested_by
    ("docs/more.md", "\n[new](added_0.md)\n", "docs/added_0.md"),
    ("docs/more.md", "\n[new](added%5F1.md)\n", "docs/added_1.md"),  # an escaped name
    ("src/main.cpp", '#include "added_1.h"\n', "src/added_1.h"),
], ids=["import", "from package", "relative", "test", "link", "escaped link", "include"])
def test_imports_that_find_a_file_added_or_removed_are_linked_in_part(
        tree: tuple[Path, Path], importer: str, line: str, new: str) -> None:
    """A file that an import, link or include of another file finds once it is added, and
    no more once it is removed: that other file's context (and the new file's importers,
    its folder's chart) is patched in, and the output is a clean build's each time."""
    src, out = tree
    text = (src / importer).read_text()
    make_tree(src, {importer: line + text if importer.endswith(".cpp") else text + line})
    build(src, out, cwd=out.parent)
    for step in ("add", "remove"):
        if step == "add":
            make_tree(src, {new: "# Added\n\nText.\n" if new.endswith(".md")
                            else "int added(void);\n" if new.endswith(".h")
                            else '"""Added."""\n\n\ndef made():\n    return 1\n'})
        else:
            (src / new).unlink()
        result = build(src, out, cwd=out.parent)
        assert "links_whole" not in result.counts, (step, result.counts)
        check_equal_to_clean(src, out, out.parent)
        ctx = link_state(out)
        found = [name for name, data in ctx.items()
                 if name.startswith("ctx/") and f'"repo","{new}"'.encode() in data]
        assert bool(found) == (step == "add"), (step, found)


@pytest.mark.parametrize(("path", "text"), [
    ("pkg/__init__.py", None),  # the package's modules would be named otherwise
    ("include/lib/c.h", "#pragma once\n"),  # found by ``<lib/...>``: a root may move
    ("toolkit/helpers.py", '"""A new top-level package."""\n'),  # a new top-level name
], ids=["package init", "include root", "top-level package"])
def test_a_file_whose_reach_is_not_known_links_the_sources_whole(
        tree: tuple[Path, Path], path: str, text: str | None) -> None:
    """Files whose coming or going may move what every other file's imports find link
    the sources' layer whole; the output is a clean build's."""
    src, out = tree
    if text is None:
        (src / path).unlink()
    else:
        if path.startswith("include/"):  # an include of the tree names it
            make_tree(src, {"src/main.cpp": "#include <lib/c.h>\n"
                            + (src / "src/main.cpp").read_text()})
            build(src, out, cwd=out.parent)
        make_tree(src, {path: text})
    result = build(src, out, cwd=out.parent)
    assert result.counts.get("links_whole", 0) >= 1, result.counts
    check_equal_to_clean(src, out, out.parent)


OPS = st.sampled_from(["grow", "import", "define", "star", "describe", "relative", "add",
                       "remove"])
EDITS = st.lists(st.tuples(st.sampled_from(PYTHON + C_FILES + MARKDOWN), OPS,
                           st.integers(0, 20)), min_size=1, max_size=3)


@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(EDITS, min_size=1, max_size=3))
# an import, link or include that finds a file once it is added (a later step), then not
@example(steps=[[("pkg/util.py", "import", 6)], [("pkg/core.py", "add", 0)],
                [("pkg/core.py", "remove", 0)]])
@example(steps=[[("pkg/sub/deep.py", "relative", 1), ("docs/more.md", "import", 5)],
                [("pkg/sub/deep.py", "add", 1), ("docs/guide.md", "add", 0)],
                [("pkg/sub/deep.py", "remove", 1), ("docs/guide.md", "remove", 0)]])
@example(steps=[[("src/main.cpp", "import", 5)], [("src/local.h", "add", 1)],
                [("src/local.h", "remove", 1)]])
def test_patched_links_equal_whole_links(steps: list[list[tuple[str, str, int]]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="pipeline-relink-"))
    try:
        src, out = root / "src", root / "out"
        files = dict(TREE)
        make_tree(src, files)
        build(src, out, cwd=root)
        for edits in steps:
            for path, op, arg in edits:
                if op == "add":
                    new, text = added(path, arg)
                    files[new] = text
                    make_tree(src, {new: text})
                    continue
                if op == "remove":  # a file added before, if any
                    new, _text = added(path, arg)
                    if files.pop(new, None) is not None:
                        (src / new).unlink()
                    continue
                files[path] = edit(files[path], path, op, arg)
                make_tree(src, {path: files[path]})
            build(src, out, cwd=root)
            check_equal_to_clean(src, out, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_whole_link_keeps_the_digests_of_unchanged_chunks() -> None:
    from pipeline.link import Links
    from pipeline.records import Summary
    from pipeline.relink import ChunkMemo, make_memo, summary_digest

    one = Summary("a.py", 1, "python", "Python Source Code", 3, "A.", False, False)
    two = Summary("b.py", 1, "python", "Python Source Code", 4, "B.", False, False)
    kept = ChunkMemo("same", ("a.py",), ("digest kept from the last memo",))
    stale = ChunkMemo("before", ("b.py",), ("stale",))
    memo = make_memo("setting", {"x": ("same", [one]), "y": ("after", [two])},
                     {"a.py": (), "b.py": ()}, Links({}, {}, [], {}, {}),
                     {"x": kept, "y": stale})
    assert memo.chunks["x"] is kept
    assert memo.chunks["y"] == ChunkMemo("after", ("b.py",), (summary_digest(two),))
