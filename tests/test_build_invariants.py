"""docs/architecture.md, Invariants: no-op, minimal rebuilds, clean == incremental,
determinism, page properties. Extractor output is never asserted, only its effects."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from buildkit import (
    BASE_TREE,
    STATE,
    Snapshot,
    broken_links,
    build,
    clean_build_snapshot,
    contents,
    describe_bytes_difference,
    diff,
    file_pages,
    folder_pages,
    make_tree,
    page_problems,
    pages_of_pages,
    python_extractor_works,
    run_cli,
    snapshot,
)
from golden import CASES, REGEN, assert_golden

from pipeline.stateio import load_state

PROJECT = "src"  # the source folder's name: the default project name


@dataclass
class Site:
    root: Path
    src: Path
    out: Path

    @property
    def mirror(self) -> str:
        return self.out.name

    def build(self, *extra: str) -> dict[str, int]:
        return build(self.src, self.out, *extra).counts

    def snap(self) -> Snapshot:
        return snapshot(self.out)

    def write(self, rel: str, text: str) -> None:
        make_tree(self.src, {rel: text})

    def assert_clean_equal(self, *extra: str) -> None:
        incremental = contents(self.snap())
        clean = clean_build_snapshot(self.src, self.out, *extra)
        assert incremental == clean, describe_bytes_difference(incremental, clean)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = Site(tmp_path, tmp_path / "src", tmp_path / "out")
    make_tree(site.src, BASE_TREE)
    site.build()
    return site


def layer_one(paths: set[str], mirror: str) -> set[str]:
    return {p for p in paths if not p.startswith(mirror + "/")}


def layer_two(paths: set[str], mirror: str) -> set[str]:
    return {p for p in paths if p.startswith(mirror + "/")}


def state_files(out: Path) -> dict[str, int]:
    """mtime of every state file but the lock (a no-op build writes none of them, not even
    doit's database or the run marker)."""
    skip = {"lock"}
    found = {}
    for path in (out / STATE).rglob("*"):
        if path.is_file() and path.name not in skip:
            found[path.relative_to(out).as_posix()] = path.stat().st_mtime_ns
    return found


# --------------------------------------------------------------------------- no-op

def test_noop_build_writes_nothing_and_extracts_nothing(site: Site) -> None:
    before, state_before = site.snap(), state_files(site.out)
    counts = site.build()
    after = site.snap()
    change = diff(before, after)
    assert not change.written and not change.removed, change
    assert counts.get("extracted", 0) == 0, counts
    assert counts.get("pages_written", 0) == 0, counts
    assert counts.get("pages_removed", 0) == 0, counts
    assert state_files(site.out) == state_before, "a no-op build rewrote state files"


def test_touching_every_source_costs_no_page_and_no_extraction(site: Site) -> None:
    """A fresh checkout moves every mtime: content hashes decide, and the run after it
    is a plain no-op again (README, Nightly CI)."""
    before = site.snap()
    for path in site.src.rglob("*"):
        if path.is_file():
            info = path.stat()
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    counts = site.build()
    assert not diff(before, site.snap()).written
    assert counts.get("extracted", 0) == 0, counts
    assert counts.get("pages_written", 0) == 0, counts
    counts = site.build()
    assert counts.get("extracted", 0) == 0 and counts.get("pages_written", 0) == 0, counts


def test_new_tool_code_remakes_records_and_pages(site: Site,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Records and pages are keyed by the digest of the tool's code: after an upgrade whose
    renderer writes differently, every file is extracted again and every page rewritten,
    the next run is a no-op, and the output equals a clean build by the new code."""
    from pipeline import graph, render

    sources = sum(1 for p in site.src.rglob("*") if p.is_file())
    original = render.finish
    monkeypatch.setattr(graph, "code_digest", lambda: ("the next release", "its extractors"))
    monkeypatch.setattr(render, "finish", lambda text: original(text) + "\n<!-- next -->\n")
    counts = site.build()
    assert counts.get("extracted", 0) > sources, counts  # both layers
    # Records made by the old code can never be reused: none is kept as an earlier version.
    assert not list((site.out / STATE).glob("superseded/*")), "old code's records kept"
    pages = [p for p in site.out.rglob("*.md") if STATE not in p.parts]
    assert pages and all(p.read_text(encoding="utf-8").endswith("<!-- next -->\n")
                         for p in pages)
    counts = site.build()
    assert counts.get("extracted", 0) == 0 and counts.get("pages_written", 0) == 0, counts
    site.assert_clean_equal()


def test_undoing_an_edit_or_switching_back_extracts_nothing(site: Site) -> None:
    """Each chunk keeps one earlier version of every input's extraction: an undone edit
    (or a branch switched back and forth) finds its extractions, in both layers, and
    the pages are the earlier ones again."""
    before = contents(site.snap())
    edited = BASE_TREE["pkg/a.py"] + "\n\ndef h():\n    pass\n"
    site.write("pkg/a.py", edited)
    assert site.build().get("extracted", 0) >= 2  # the file and its changed page(s)
    after_edit = contents(site.snap())
    for text, pages in ((BASE_TREE["pkg/a.py"], before), (edited, after_edit),
                        (BASE_TREE["pkg/a.py"], before)):
        site.write("pkg/a.py", text)
        counts = site.build()
        assert counts.get("extracted", 0) == 0, counts
        assert contents(site.snap()) == pages
    for number in range(5):  # many versions: one earlier version per file is kept
        site.write("pkg/a.py", BASE_TREE["pkg/a.py"] + f"\n# version {number}\n")
        site.build()
    for kept in (site.out / STATE / "superseded").iterdir():
        paths = [e["path"] for e in load_state(kept)]
        assert len(paths) == len(set(paths)), paths
    site.assert_clean_equal()


@pytest.mark.parametrize("change", ["add first", "remove first", "grow past one chunk",
                                    "shrink to one chunk"])
def test_moving_chunk_bounds_extracts_only_new_files(tmp_path: Path, change: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder's inputs are cut into chunks of ``CHUNK``: a file added or removed early in
    the folder moves every later file into another chunk, and those are not extracted
    again (their extractions are found in the neighbouring chunks' records)."""
    from pipeline import graph

    monkeypatch.setattr(graph, "CHUNK", 3)
    src, out = tmp_path / "src", tmp_path / "out"
    count = 3 if change == "grow past one chunk" else 8
    make_tree(src, {f"d/f{i}.txt": f"text {i}\n" for i in range(1, count + 1)})
    build(src, out, "--depth", "1")
    if change in ("add first", "grow past one chunk"):
        make_tree(src, {"d/f0.txt": "text 0\n"})
        expected = 1
    elif change == "remove first":
        (src / "d/f1.txt").unlink()
        expected = 0
    else:
        for i in range(4, count + 1):
            (src / f"d/f{i}.txt").unlink()
        expected = 0
    counts = build(src, out, "--depth", "1").counts
    assert counts.get("extracted", 0) == expected, counts
    clean = contents(snapshot(out))
    assert clean == clean_build_snapshot(src, out, "--depth", "1")


def test_an_extraction_that_met_a_bug_is_tried_again(site: Site,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An extractor bug gives the file a page with a note, and its extraction is not kept:
    the next run of its chunk (here for an edit of another file) extracts it again, and
    the output is whole. (A fixed tool has another code digest: everything is redone.)"""
    from pipeline.extract import python as extractor

    working = extractor.extract_python

    def broken(text: str) -> None:
        raise RuntimeError("boom")

    site.write("pkg/a.py", BASE_TREE["pkg/a.py"] + "\n# edited\n")
    monkeypatch.setattr(extractor, "extract_python", broken)
    result = build(site.src, site.out)
    assert result.code == 1 and result.counts.get("extracted", 0) >= 1, result.counts
    assert "the python extractor failed" in (site.out / "pkg/a.py_docs.md").read_text()
    monkeypatch.setattr(extractor, "extract_python", working)
    site.write("pkg/b.py", BASE_TREE["pkg/b.py"] + "\n# edited\n")
    counts = site.build()
    assert counts.get("extracted", 0) >= 2, counts  # a.py again, and the edited b.py
    assert "extractor failed" not in (site.out / "pkg/a.py_docs.md").read_text()
    counts = site.build()
    assert counts.get("extracted", 0) == 0 and counts.get("pages_written", 0) == 0, counts
    site.assert_clean_equal()


def test_a_change_to_rendering_code_renders_again_and_extracts_nothing(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Extraction keys hash only the code extraction depends on: a new renderer makes
    every page again from the records it has."""
    from pipeline import graph

    _every, extraction = graph.code_digest()
    monkeypatch.setattr(graph, "code_digest", lambda: ("a new renderer", extraction))
    counts = site.build()
    assert counts.get("extracted", 0) == 0, counts
    assert counts.get("pages_unchanged", 0) > 0, counts  # rendered again, same bytes


def test_extraction_code_covers_what_the_extractors_import() -> None:
    """EXTRACTION_CODE must hold every module of this package that extraction imports,
    or a change to one would leave stale records."""
    import ast

    from pipeline import graph

    package = graph.PACKAGE
    todo = ["isolate.py"] + [f"extract/{p.name}" for p in (package / "extract").glob("*.py")]
    seen: set[str] = set()
    while todo:
        relative = todo.pop()
        if relative in seen:
            continue
        seen.add(relative)
        for node in ast.walk(ast.parse((package / relative).read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if not name.startswith("pipeline."):
                    continue
                parts = name.split(".")[1:]
                for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
                    if (package / candidate).is_file():
                        todo.append(candidate)
    outside = sorted(r for r in seen if not r.startswith(graph.EXTRACTION_CODE))
    assert outside == [], outside


# --------------------------------------------------------------------------- minimal

def test_touched_pages_are_checked_not_rewritten(site: Site) -> None:
    """A page whose mtime moved (a copy, a backup tool) is rendered again and compared:
    same bytes, so nothing is written, and the run after it is a plain no-op."""
    pages = [p for p in site.out.rglob("*.md") if STATE not in p.parts][:5]
    for path in pages:
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    before = site.snap()
    counts = site.build()
    assert counts.get("pages_written", 0) == 0, counts
    assert not diff(before, site.snap()).written
    state_before = state_files(site.out)
    assert site.build().get("tasks_run", 0) == 0
    assert state_files(site.out) == state_before


def test_edit_of_a_function_body_rewrites_only_that_docs_page(site: Site) -> None:
    before = site.snap()
    text = BASE_TREE["pkg/a.py"].replace("return x + 1", "return x + 7")
    assert len(text) == len(BASE_TREE["pkg/a.py"])
    site.write("pkg/a.py", text)
    counts = site.build()
    change = diff(before, site.snap())
    mirror = site.mirror
    assert not change.added and not change.removed and not change.touched, change
    assert layer_one(change.changed, mirror) == {"pkg/a.py_docs.md"}
    # Extracted again: the edited file, and in layer 2 the one page of it that changed.
    assert counts.get("extracted", 0) == 2, counts
    # Layer 2: the page of the changed page (it embeds it); its keyword page may change
    # only if the page's words did; nothing else.
    l2 = layer_two(change.changed, mirror)
    assert f"{mirror}/pkg/a.py_docs.md_docs.md" in l2
    assert l2 <= pages_of_pages({"pkg/a.py_docs.md"}, mirror), l2
    assert before["pkg/a.py_kw.md"] == site.snap()["pkg/a.py_kw.md"]


def _assert_link_change(site: Site, before: Snapshot, importer: str, imported: str) -> None:
    change = diff(before, site.snap())
    mirror = site.mirror
    folder = imported.rsplit("/", 1)[0]
    assert not change.added and not change.removed and not change.touched, change
    required = file_pages(importer) | {imported + "_docs.md"}
    # The folder's doc.md lists key files by how often they are imported (docs/format.md §5).
    allowed = required | {f"{folder}/doc.md"}
    l1 = layer_one(change.changed, mirror)
    assert required <= l1 <= allowed, sorted(l1)
    l2 = layer_two(change.changed, mirror)
    allowed2 = pages_of_pages(l1, mirror) | {f"{mirror}/{p}" for p in l1 if p.endswith("doc.md")}
    allowed2 |= {f"{mirror}/{folder}/doc.md", f"{mirror}/{folder}/index.md"}
    assert l2 <= allowed2, sorted(l2 - allowed2)


def test_markdown_link_changes_linker_and_linked_pages_only(site: Site) -> None:
    before = site.snap()
    site.write("docs/guide.md", BASE_TREE["docs/guide.md"].replace(
        "See nothing yet.", "See [the config](conf.yaml)."))
    site.build()
    _assert_link_change(site, before, "docs/guide.md", "docs/conf.yaml")
    site.assert_clean_equal()


@pytest.mark.skipif(not python_extractor_works(), reason="the Python extractor is not there yet")
def test_python_import_changes_importer_and_imported_pages_only(site: Site) -> None:
    before = site.snap()
    site.write("pkg/a.py", BASE_TREE["pkg/a.py"].replace("# no more imports", "import pkg.b"))
    site.build()
    _assert_link_change(site, before, "pkg/a.py", "pkg/b.py")
    assert "(./a.py_docs.md)" in site.snap()["pkg/b.py_docs.md"][0].decode()
    site.assert_clean_equal()


def test_added_file_updates_own_sibling_and_folder_pages_only(site: Site) -> None:
    before = site.snap()
    site.write("pkg/c.py", '"""Module c."""\n')
    site.build()
    after = site.snap()
    change = diff(before, after)
    mirror = site.mirror
    assert not change.removed and not change.touched, change
    own = file_pages("pkg/c.py")
    assert own | pages_of_pages(own, mirror) == change.added
    siblings = {"pkg/__init__.py_docs.md", "pkg/a.py_docs.md", "pkg/b.py_docs.md"}
    folders = folder_pages("pkg") | folder_pages("")
    l1 = layer_one(change.changed, mirror)
    # keywords.md counts the files it indexes; sibling keyword pages do not move.
    assert siblings <= l1 <= siblings | folders | {"keywords.md"}, sorted(l1)
    for name in siblings:
        assert b"c.py_docs.md" in after[name][0], name
    l2 = layer_two(change.changed, mirror)
    allowed2 = {p for p in before if p.startswith(f"{mirror}/pkg/")} | folder_pages(mirror)
    assert l2 <= allowed2, sorted(l2 - allowed2)
    site.assert_clean_equal()


def _all_layers(rel: str, mirror: str) -> set[str]:
    return file_pages(rel) | pages_of_pages(file_pages(rel), mirror)


def _pipeline_state(out: Path) -> set[str]:
    """State files but the earlier extractions an incremental build keeps per chunk
    (``superseded``), which only a chunk that still exists may keep."""
    found = {p.relative_to(out).as_posix() for p in (out / STATE).rglob("*") if p.is_file()}
    older = {p for p in found if p.startswith(f"{STATE}/superseded/")}
    for rel in older:
        assert rel.replace("/superseded/", "/records/") in found, rel
    return found - older


def test_deleted_file_loses_every_page_and_nothing_stale_remains(site: Site) -> None:
    (site.src / "pkg/b.py").unlink()
    site.build()
    after = site.snap()
    assert not _all_layers("pkg/b.py", site.mirror) & after.keys()
    assert not [p for p in after if "b.py_" in p], [p for p in after if "b.py_" in p]
    state = _pipeline_state(site.out)
    site.assert_clean_equal()
    shutil.copytree(site.out, site.root / "kept")
    shutil.rmtree(site.out)
    site.build()
    assert state == _pipeline_state(site.out), "state files that a clean build does not have"


def test_renamed_file_moves_its_pages(site: Site) -> None:
    (site.src / "docs/conf.yaml").rename(site.src / "docs/settings.yaml")
    site.build()
    after = site.snap()
    assert not _all_layers("docs/conf.yaml", site.mirror) & after.keys()
    assert _all_layers("docs/settings.yaml", site.mirror) <= after.keys()
    site.assert_clean_equal()


def test_deleting_a_whole_folder_removes_its_folder_pages(site: Site) -> None:
    shutil.rmtree(site.src / "docs")
    site.build()
    after = site.snap()
    assert not [p for p in after if p.startswith(("docs/", f"{site.mirror}/docs/"))]
    site.assert_clean_equal()


# --------------------------------------------------------------------------- clean == incremental

def test_clean_equals_incremental_after_a_sequence_of_edits(site: Site) -> None:
    steps: list[Callable[[], object]] = [
        lambda: site.write("pkg/a.py", BASE_TREE["pkg/a.py"] + "\n\ndef h():\n    pass\n"),
        lambda: site.write("docs/guide.md", "# Guide\n\nNow [b](../pkg/b.py).\n"),
        lambda: site.write("pkg/sub/deep.md", "# Deep\n\n[up](../../notes.txt)\n"),
        lambda: (site.src / "pkg/b.py").rename(site.src / "pkg/b2.py"),
        lambda: site.write("notes.txt", ""),
        lambda: shutil.rmtree(site.src / "pkg/sub"),
    ]
    for step in steps:
        step()
        site.build()
        site.assert_clean_equal()


def test_records_of_clean_and_incremental_builds_are_the_same_bytes(site: Site) -> None:
    """The records files double as the extraction cache: reused and fresh entries must be
    encoded alike, so state is as deterministic as the pages."""
    site.write("pkg/a.py", BASE_TREE["pkg/a.py"] + "\n\ndef h():\n    pass\n")
    site.build()

    def records() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (site.out / STATE / "records").iterdir()}

    incremental = records()
    aside = site.root / "aside"
    os.rename(site.out, aside)  # a clean build at the very same path (links depend on it)
    try:
        site.build()
        clean = records()
    finally:
        shutil.rmtree(site.out)
        os.rename(aside, site.out)
    assert incremental.keys() == clean.keys()
    assert [n for n in incremental if incremental[n] != clean[n]] == []


@pytest.mark.parametrize("extra", [("--depth", "1"), ("--depth", "3"), ("--project", "Other")])
def test_clean_equals_incremental_after_a_config_change(site: Site, extra: tuple[str, ...]) -> None:
    site.build(*extra)
    site.assert_clean_equal(*extra)
    site.build()  # and back
    site.assert_clean_equal()


# --------------------------------------------------------------------------- determinism

DETERMINISM_TREE = dict(BASE_TREE, **{
    f"lib/part{i}/mod{j}.py": f'"""Part {i} module {j}."""\n\n\ndef f{j}():\n    return {j}\n'
    for i in range(3) for j in range(3)
}, **{"lib/README.md": "# Lib\n\n[zero](part0/mod0.py)\n"})


def _subprocess_build(root: Path, name: str, *extra: str, **env: str) -> dict[str, bytes]:
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)
    result = run_cli(["build", "src", "--output", "out", *extra], root, 120, **env)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    pages = contents(snapshot(out))
    shutil.copytree(out, root / name)  # kept for a post-mortem
    return pages


def test_same_bytes_with_one_and_two_jobs(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", DETERMINISM_TREE)
    serial = _subprocess_build(tmp_path, "serial", "--jobs", "1")
    parallel = _subprocess_build(tmp_path, "parallel", "--jobs", "2")
    assert serial == parallel, describe_bytes_difference(serial, parallel)
    before = snapshot(tmp_path / "out")
    again = run_cli(["build", "src", "--output", "out", "--jobs", "2"], tmp_path)
    assert again.returncode in (0, 1), again.stderr
    change = diff(before, snapshot(tmp_path / "out"))
    assert not change.written and not change.removed, change


def test_same_bytes_with_any_hash_seed(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", DETERMINISM_TREE)
    one = _subprocess_build(tmp_path, "seed1", PYTHONHASHSEED="1")
    two = _subprocess_build(tmp_path, "seed2", PYTHONHASHSEED="2")
    assert one == two, describe_bytes_difference(one, two)


class _ReversedScan:
    """``os.scandir`` stand-in that yields the entries in reverse order."""

    def __init__(self, path: object) -> None:
        with _SCANDIR(path) as entries:  # type: ignore[call-overload]
            self.entries = iter(list(entries)[::-1])

    def __iter__(self) -> Iterator[os.DirEntry[str]]:
        return self

    def __next__(self) -> os.DirEntry[str]:
        return next(self.entries)

    def __enter__(self) -> _ReversedScan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


_SCANDIR = os.scandir


def test_same_bytes_whatever_the_walk_order(tmp_path: Path) -> None:
    """docs/architecture.md invariant 4: any walk order (the directory listing reversed)."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, DETERMINISM_TREE)
    build(src, out)
    forward = contents(snapshot(out))
    shutil.rmtree(out)
    with mock.patch("os.scandir", lambda path=".": _ReversedScan(path)):
        build(src, out)
    backward = contents(snapshot(out))
    assert forward == backward, describe_bytes_difference(forward, backward)


# --------------------------------------------------------------------------- page properties

def test_every_page_has_the_format_properties(site: Site) -> None:
    site.write("pkg/sub/deep.md", "# Deep\n\n[up](../../notes.txt)\n")
    site.build()
    assert page_problems(site.out, PROJECT) == []


def test_pages_of_every_layer_exist(site: Site) -> None:
    pages = site.snap().keys()
    mirror = site.mirror
    for rel in BASE_TREE:
        assert _all_layers(rel, mirror) <= pages, rel
    for folder in ("", "pkg", "docs"):
        assert folder_pages(folder) <= pages
        assert folder_pages(f"{mirror}/{folder}".rstrip("/")) <= pages
    assert "keywords.md" in pages
    # depth 2: no third layer
    assert not [p for p in pages if p.startswith(f"{mirror}/{mirror}/")]


# --------------------------------------------------------------------------- golden pages

GOLDEN_SOURCE = CASES / "render" / "geometry"
GOLDEN_EXPECTED = CASES / "render" / "geometry_expected"
GOLDEN_NAMES = sorted(p.relative_to(GOLDEN_EXPECTED).as_posix()
                      for p in GOLDEN_EXPECTED.rglob("*") if p.is_file()) \
    if GOLDEN_EXPECTED.is_dir() else []
needs_python = pytest.mark.skipif(
    not python_extractor_works(),
    reason="golden pages embed Python extraction: generate them (REGEN_GOLDEN=1) once the "
           "Python extractor exists")


def build_golden(root: Path) -> dict[str, bytes]:
    """The fixture tree built as in the worked example: project Geometry, into output/."""
    source = root / "geometry"
    shutil.copytree(GOLDEN_SOURCE, source)
    build(source, root / "output", "--project", "Geometry")
    return contents(snapshot(root / "output"))


@pytest.fixture(scope="module")
def golden_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return build_golden(tmp_path_factory.mktemp("golden"))


@needs_python
def test_golden_page_set(golden_pages: dict[str, bytes]) -> None:
    if REGEN:
        for rel in set(GOLDEN_NAMES) - golden_pages.keys():
            (GOLDEN_EXPECTED / rel).unlink()
        for rel, data in golden_pages.items():
            assert_golden(GOLDEN_EXPECTED / rel, data)
        return
    assert sorted(golden_pages) == GOLDEN_NAMES


@needs_python
@pytest.mark.parametrize("rel", GOLDEN_NAMES)
def test_golden_page(golden_pages: dict[str, bytes], rel: str) -> None:
    assert rel in golden_pages, f"{rel} is no longer produced"
    assert_golden(GOLDEN_EXPECTED / rel, golden_pages[rel])


def test_golden_fixture_pages_have_the_format_properties(tmp_path: Path) -> None:
    """Independent of the Python extractor: headings, hygiene and links of the fixture."""
    build_golden(tmp_path)
    assert page_problems(tmp_path / "output", "Geometry") == []
    assert broken_links(tmp_path / "output", tmp_path / "geometry") == []


def test_related_files_list_the_first_siblings_and_count_the_rest(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {f"d/f{i}.txt": f"text {i}\n" for i in range(6)})
    build(src, out, "--depth", "1", env={"PIPELINE_MAX_RELATED": "2"})
    first = (out / "d/f0.txt_docs.md").read_text(encoding="utf-8")
    assert "[`f1.txt`]" in first and "[`f2.txt`]" in first and "[`f3.txt`]" not in first
    assert "… and 3 more" in first
    middle = (out / "d/f1.txt_docs.md").read_text(encoding="utf-8")
    assert "[`f0.txt`]" in middle and "[`f2.txt`]" in middle and "… and 3 more" in middle


def test_the_code_digest_is_the_code_this_process_loaded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken once per process: a long-lived process (watch) stamps what it makes with the
    code it runs, not with the package's files as they were changed on disk since."""
    from pipeline import graph

    first = graph.code_digest()
    monkeypatch.setattr(graph, "_tree", lambda root, suffix: iter([("extract/x.py", b"new")]))
    assert graph.code_digest() == first
