"""The quick no-op check (pipeline/quick.py): a build whose sources, state, folders and
pages are as the last finished run left them ends before doit loads; anything else that
moved runs doit, which repairs it as before."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from buildkit import (
    BASE_TREE,
    STATE,
    build,
    clean_build_snapshot,
    contents,
    diff,
    make_tree,
    python_env,
    python_extractor_works,
    run_main,
    snapshot,
)

from pipeline import cli, filestate, quick, session
from pipeline.config import make_config
from pipeline.discover import scan_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", {**BASE_TREE, "pkg/broken.py": "def broken(:\n"})
    build(tmp_path / "src", tmp_path / "out")
    build(tmp_path / "src", tmp_path / "out")  # a no-op by doit: writes the record
    return tmp_path


class DoitRuns:
    """Counts the builds that reached doit."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = session.run_doit

        def counted(*args: Any, **kwargs: Any) -> int:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(session, "run_doit", counted)


def _build(tree: Path, env: dict[str, str] | None = None) -> Any:
    return build(tree / "src", tree / "out", env=env)


def _summary(stderr: str) -> list[str]:
    """The summary's lines without its time."""
    return [line.rsplit("; time", 1)[0] for line in stderr.splitlines()
            if line.startswith(("summary:", "failed:"))]


def test_a_no_op_after_a_finished_run_loads_no_task(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(tree / "out")
    state_before = {p: p.stat().st_mtime_ns for p in (tree / "out" / STATE).rglob("*")
                    if p.is_file() and p.name != "lock"}
    runs = DoitRuns(monkeypatch)
    slow = run_main(["build", str(tree / "src"), "--output", str(tree / "out")],
                    cwd=tree)
    assert runs.count == 0
    assert slow.code == 1  # pkg/broken.py fails: a no-op says so, as doit's no-op does
    assert not diff(before, snapshot(tree / "out")).written
    assert state_before == {p: p.stat().st_mtime_ns for p in (tree / "out" / STATE).rglob("*")
                            if p.is_file() and p.name != "lock"}


def test_the_quick_no_op_prints_what_a_doit_no_op_prints(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quick_run = run_main(["build", str(tree / "src"), "--output", str(tree / "out")],
                         cwd=tree)
    (tree / "out" / STATE / "quick.json.z").unlink()
    doit_run = run_main(["build", str(tree / "src"), "--output", str(tree / "out")],
                        cwd=tree)
    assert quick_run.code == doit_run.code == 1
    assert _summary(quick_run.stderr) == _summary(doit_run.stderr)
    assert any(line.startswith("failed: pkg/broken.py") for line in _summary(doit_run.stderr))
    strict = run_main(["build", str(tree / "src"), "--output", str(tree / "out"), "--strict"],
                      cwd=tree)
    assert strict.code == 1


@pytest.mark.parametrize("change", [
    "page edited in place", "page removed", "stray file", "stray folder", "source edited",
    "source touched", "source added", "source removed", "state file removed",
    "database changed", "seal removed", "config changed", "page and source edited",
    "stray file and source edited", "source became binary"])
def test_anything_that_moved_runs_doit_and_is_repaired(
        tree: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    out, src = tree / "out", tree / "src"
    env: dict[str, str] = {}
    page = out / "pkg/b.py_docs.md"
    if change == "page edited in place":  # same size, same inode, the folder's mtime kept
        data = page.read_bytes()
        page.write_bytes(data[:-2] + b"X\n")
    elif change == "page removed":
        page.unlink()
    elif change == "stray file":
        (out / "pkg/stray.md").write_text("stray\n", encoding="utf-8")
    elif change == "stray folder":
        (out / "pkg/strays").mkdir()
        (out / "pkg/strays/x.md").write_text("stray\n", encoding="utf-8")
    elif change == "source edited":  # same size and mtime: only the change time moved
        path = src / "pkg/a.py"
        info = path.stat()
        path.write_bytes(path.read_bytes().replace(b"x + 1", b"x + 2"))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    elif change == "source touched":
        path = src / "pkg/a.py"
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))
    elif change == "source added":
        make_tree(src, {"pkg/new.py": "X = 1\n"})
    elif change == "source removed":
        (src / "pkg/b.py").unlink()
    elif change == "state file removed":
        victim = next(p for p in (out / STATE / "ctx").iterdir() if p.is_file())
        victim.unlink()
    elif change == "database changed":
        (out / STATE / "doit.json").write_bytes(b"{}")
    elif change == "seal removed":
        (out / STATE / "clean").unlink()
    elif change in ("page and source edited", "stray file and source edited"):
        if change.startswith("page"):
            page.write_bytes(page.read_bytes()[:-2] + b"X\n")
        else:
            (out / "pkg/stray.md").write_text("stray\n", encoding="utf-8")
        make_tree(src, {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 3")})
    elif change == "source became binary":  # the same files, but other pages expected
        (src / "notes.txt").write_bytes(b"plain\0notes\n")
    elif change == "config changed":
        env = {"PIPELINE_MAX_RELATED": "1"}
    runs = DoitRuns(monkeypatch)
    _build(tree, env)
    assert runs.count == 1, change
    _build(tree, env)
    assert runs.count == 1, "the run after the repair is quick again"
    assert contents(snapshot(out)) == clean_build_snapshot(src, out, env=env)


def test_a_change_in_the_tick_of_the_walk_is_not_recorded(tree: Path) -> None:
    """A source whose change time is not before the walk began could change again unseen
    (git's racily clean files): no record is kept, and the next build runs doit."""
    config = make_config({"source": str(tree / "src"), "output": str(tree / "out")})
    record = tree / "out" / STATE / "quick.json.z"
    assert quick.check(config, scan_tree(config)).report is not None
    scan = scan_tree(config)
    racy = type(scan)(scan.files, scan.links, taken=min(i[2] for i in scan.files.values()))
    assert not all(filestate.settled_at(i[2], racy.taken) for i in racy.files.values())
    from pipeline.graph import build_graph

    quick.record(build_graph(config, scan=racy), racy, {}, quick.check(config, racy), False)
    assert not record.exists()
    assert quick.check(config, scan_tree(config)).report is None


def test_a_quick_no_op_imports_neither_doit_nor_the_stage_code(tree: Path) -> None:
    code = ("import sys; from pipeline.cli import main; "
            f"code = main(['build', {str(tree / 'src')!r}, '--output', {str(tree / 'out')!r}]); "
            "print(code, sorted(m for m in ('doit', 'jinja2', 'libcst', 'tree_sitter', "
            "'pipeline.tasks', 'pipeline.report', 'pipeline.records', 'pipeline.analyze', "
            "'pipeline.pytestconf') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tree, env=python_env(), timeout=120)
    assert done.stdout.split("\n")[0] == "1 []", done.stdout + done.stderr


def test_an_edit_trusts_the_pages_the_quick_check_compared(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a source's bytes moved: the pages, folders and state are as recorded, so the
    page tasks' own checks and prune's listing of every folder are not done again; the
    edit is built as doit builds it, and the record after it makes the next run quick."""
    from pipeline import prune, state

    trusted: list[tuple[str, bool]] = []
    listed: list[int] = []
    original_trust, original_listing = state.trust_outputs, prune.no_strays_in

    def trust(root: str, value: bool) -> None:
        trusted.append((root, value))
        original_trust(root, value)

    def listing(root: str, folders: Any) -> bool:
        listed.append(len(folders))
        return original_listing(root, folders)

    monkeypatch.setattr(state, "trust_outputs", trust)
    monkeypatch.setattr(prune, "no_strays_in", listing)
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 3")})
    before = snapshot(tree / "out")
    runs = DoitRuns(monkeypatch)
    _build(tree)
    changed = diff(before, snapshot(tree / "out")).written
    assert runs.count == 1 and changed and all("a.py" in p for p in changed), changed
    assert trusted == [(str(tree / "out"), True), (str(tree / "out"), False)]
    assert state.intact("/nonexistent", "pages", "x", ["y"]) is False
    folders = len(state.expected_tree(_graph(tree)))
    assert listed and max(listed) < folders, (listed, folders)  # only folders that moved
    _build(tree)
    assert runs.count == 1
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(tree / "src", tree / "out")


def _graph(tree: Path) -> Any:
    from pipeline.graph import build_graph

    return build_graph(make_config({"source": str(tree / "src"), "output": str(tree / "out")}),
                       save_cache=False)


@pytest.mark.skipif(not python_extractor_works(), reason="the Python extractor is not there yet")
def test_an_edit_that_changes_other_folders_pages_builds_them_too(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the edited file's chunks are declared at first; when link then writes the
    context of a chunk that was not (an import now reaches another folder), the whole
    graph runs after it, and the build prints one summary of both."""
    make_tree(tree / "src", {"tool.py": "X = 1\n"})
    _build(tree)
    make_tree(tree / "src", {"tool.py": "import pkg.b\n\nX = 1\n"})
    before = snapshot(tree / "out")
    runs = DoitRuns(monkeypatch)
    result = _build(tree)
    assert runs.count == 2
    written = diff(before, snapshot(tree / "out")).written
    assert "pkg/b.py_docs.md" in written and "tool.py_docs.md" in written, written
    assert len([ln for ln in result.stderr.splitlines() if ln.startswith("summary:")]) == 1
    assert result.counts["pages_written"] >= 2, result.counts
    _build(tree)
    assert runs.count == 2
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(tree / "src", tree / "out")


def test_check_of_an_output_nothing_moved_in_is_the_quick_check(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``check`` answers "up to date" from the record, with the page count a build's graph
    gives, and needs no graph; anything moved is still listed by the build state."""
    import pipeline.check
    from pipeline import state

    expected = sum(1 for _ in state.expected_pages(_graph(tree)))
    config = make_config({"source": str(tree / "src"), "output": str(tree / "out")})

    def no_graph(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a graph was built")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.check, "build_graph", no_graph)
        found = pipeline.check.check_output(config, False, no_graph)
    assert found.up_to_date and found.pages == expected
    (tree / "out/pkg/b.py_docs.md").write_bytes(b"edited by hand\n")
    found = pipeline.check.check_output(config, False, lambda graph: cli.run_doit(
        cli.doit_namespace(graph, _quiet_reporter(graph)), ["run"]))
    assert found.stale == ("pkg/b.py_docs.md",), found


def _quiet_reporter(graph: Any) -> Any:
    import io

    from pipeline.report import reporter_for

    return reporter_for(graph.root, graph.config.depth, {}, stream=io.StringIO())


def test_the_record_is_made_under_the_key_the_run_began_with(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code (or config) changed while a run goes on did not make its pages: the record
    keeps the key taken when the run began, so the next build is no quick no-op."""
    import orjson

    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 3")})
    keys = iter(["the code the run began with"])
    monkeypatch.setattr(quick, "build_key", lambda config: next(keys, "code changed since"))
    _build(tree)
    saved = orjson.loads(zlib.decompress((tree / "out" / STATE / "quick.json.z").read_bytes()))
    assert saved["key"] == "the code the run began with"
    runs = DoitRuns(monkeypatch)
    _build(tree)
    assert runs.count == 1


def test_the_record_lists_every_page_check_the_tasks_make(tree: Path) -> None:
    """The quick record takes its pages from ``state.page_checks``; a page-writing task whose
    manifest check is missing there would have pages no quick check compares."""
    from pipeline import state
    from pipeline.overrides import doit_tasks
    from pipeline.tasks import task_creators

    graph = _graph(tree)
    made = set()
    for task in doit_tasks(task_creators(graph)):
        for check in task.uptodate:
            call = check[0] if isinstance(check, tuple) else check
            if not callable(call) or not hasattr(call, "__code__"):
                continue  # doit's constants and config checkers
            cells = dict(zip(call.__code__.co_freevars,
                             (c.cell_contents for c in call.__closure__ or ()), strict=True))
            if cells.get("test") is state.intact:
                _root, kind, key, entries = cells["args"]
                made.add((kind, key, tuple(entries)))
    assert made and made == set(state.page_checks(graph))


def test_the_outputs_check_of_an_edit_answers_from_a_child(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """:class:`quick.Deferred`: the check runs in a forked child and its answer is read
    later; a check that fails answers no; beside other threads it runs at once."""
    import threading

    def broken() -> bool:
        raise OSError("gone")

    ran: list[int] = []
    for threads, where in ((1, []), (2, [os.getpid()])):  # forked / in this process
        monkeypatch.setattr(threading, "active_count", lambda threads=threads: threads)
        assert quick.Deferred(lambda: True).result() is True
        assert quick.Deferred(lambda: False).result() is False
        assert quick.Deferred(broken).result() is False
        ran.clear()
        assert quick.Deferred(lambda: ran.append(os.getpid()) is None).result() is True
        assert ran == where


def test_an_edit_with_a_hand_edited_page_elsewhere_trusts_nothing(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outputs' check (in the child) finds the page moved: the whole graph runs, the
    page is repaired, and the output is a clean build's."""
    from pipeline import state

    trusted: list[bool] = []
    original = state.trust_outputs
    monkeypatch.setattr(state, "trust_outputs",
                        lambda root, value: (trusted.append(value), original(root, value)))
    page = tree / "out" / "pkg" / "b.py_docs.md"
    page.write_bytes(page.read_bytes() + b"hand-edited\n")
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 5")})
    _build(tree)
    assert True not in trusted
    assert b"hand-edited" not in page.read_bytes()
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(tree / "src", tree / "out")


def test_an_edit_rewrites_only_the_shards_of_the_manifests_it_moved(tree: Path) -> None:
    """The pages' stats live in shards named by the record with their digests: an edit
    rewrites the shards of its chunks' manifests; a shard removed or changed by hand makes
    the next build run doit, which records it again."""
    state = tree / "out" / STATE
    shards = sorted(state.glob("quick-pages-*.json.z"))
    assert len(shards) == quick.SHARDS
    before = {p.name: p.stat().st_mtime_ns for p in shards}
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 9")})
    _build(tree)
    after = {p.name: p.stat().st_mtime_ns for p in shards}
    rewritten = [name for name in before if before[name] != after[name]]
    assert 0 < len(rewritten) < quick.SHARDS // 2, rewritten
    config = make_config({"source": str(tree / "src"), "output": str(tree / "out")})
    assert quick.check(config, scan_tree(config)).report is not None
    shards[3].write_bytes(zlib.compress(b"{}"))
    assert quick.check(config, scan_tree(config)).report is None
    _build(tree)
    assert quick.check(config, scan_tree(config)).report is not None
    shards[5].unlink()
    assert quick.check(config, scan_tree(config)).report is None


def test_the_outputs_check_child_does_not_keep_the_output_locked(tmp_path: Path) -> None:
    """A build killed while its forked check runs leaves the output unlocked: the child
    drops its copies of the lock (a crash test met the lock still held)."""
    from pipeline import runstate

    script = ("import os, time, threading\n"
              "from pipeline import quick, runstate\n"
              f"runstate.acquire_lock({str(tmp_path)!r})\n"
              "quick.Deferred(lambda: time.sleep(3) or True)\n"
              "os._exit(9)\n")
    # no pipes: the child holds its copies of them, and run would wait for the child
    done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=60, env=python_env())
    assert done.returncode == 9
    runstate.acquire_lock(str(tmp_path))  # raises LockedError while the child holds it
    runstate.release_locks()


@pytest.mark.parametrize("shards", [["ab" * 32] * 16, [["ab" * 32, 1]] * 15, "x", None])
def test_a_record_of_another_shape_is_no_record(tree: Path, shards: Any) -> None:
    """A record whose shards are not listed as this code lists them (another format, or
    damage) makes the build run doit, never fail."""
    path = tree / "out" / STATE / "quick.json.z"
    saved = orjson.loads(zlib.decompress(path.read_bytes()))
    saved["shards"] = shards
    path.write_bytes(zlib.compress(orjson.dumps(saved)))
    config = make_config({"source": str(tree / "src"), "output": str(tree / "out")})
    assert quick.check(config, scan_tree(config)).report is None
    _build(tree)
    assert quick.check(config, scan_tree(config)).report is not None


def _doit_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The arguments of every doit run the builds make from now on."""
    ran: list[list[str]] = []
    original = session.run_doit

    def recorded(namespace: Any, argv: list[str]) -> int:
        ran.append(list(argv))
        return original(namespace, argv)

    monkeypatch.setattr(session, "run_doit", recorded)
    return ran


@pytest.mark.skipif(not python_extractor_works(), reason="the Python extractor is not there yet")
def test_an_edit_that_moves_the_symbol_indexes_runs_with_workers(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``--jobs 2``, an edit's short chain runs in this process, unless the edited
    file now defines other names: its folder pages and ``keywords.md`` then run side by
    side in workers. Either way the output is a clean build's."""
    ran = _doit_argv(monkeypatch)
    jobs = ("--jobs", "2")
    build(tree / "src", tree / "out", *jobs)
    body = BASE_TREE["pkg/b.py"]
    make_tree(tree / "src", {"pkg/b.py": body.replace("return 2", "return 3")})
    build(tree / "src", tree / "out", *jobs)
    assert ran[-1] == ["run"], ran  # same names: one process
    make_tree(tree / "src", {"pkg/b.py": body + "\n\ndef added():\n    return 4\n"})
    before = snapshot(tree / "out")
    result = build(tree / "src", tree / "out", *jobs)
    assert ran[-1][:3] == ["run", "-n", "2"], ran
    assert result.counts["extracted"] == 3, result.counts  # b.py and its two pages, once each
    from pipeline import remote

    assert not remote._PREPARED  # taken by the worker's task, forgotten here
    written = diff(before, snapshot(tree / "out")).written
    assert "keywords.md" in written and "pkg/sub.md" in written, written
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(tree / "src", tree / "out",
                                                                    *jobs)


@pytest.mark.skipif(not python_extractor_works(), reason="the Python extractor is not there yet")
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("outputs_moved", [False, True])
def test_an_edit_is_extracted_while_the_outputs_are_checked(
        tree: Path, monkeypatch: pytest.MonkeyPatch, jobs: str, outputs_moved: bool) -> None:
    """The edited file is extracted before the build waits for the outputs' check (which
    runs in a forked child meanwhile), with one worker or more; its task takes that
    extraction, also when the check finds a page moved and the whole graph runs."""
    from pipeline import remote

    events: list[str] = []
    extract, result = remote.extract_file, quick.Deferred.result

    def extracted(data: bytes, language: str) -> Any:
        if language == "python":  # the pages of the next layers are extracted too
            events.append("extracted")
        return extract(data, language)

    monkeypatch.setattr(remote, "extract_file", extracted)
    monkeypatch.setattr(quick.Deferred, "result",
                        lambda self: (events.append("outputs answered"), result(self))[1])
    build(tree / "src", tree / "out", "--jobs", jobs)  # the record under these options
    if outputs_moved:
        page = tree / "out" / "pkg" / "b.py_docs.md"
        page.write_bytes(page.read_bytes() + b"hand-edited\n")
    body = BASE_TREE["pkg/b.py"]
    make_tree(tree / "src", {"pkg/b.py": body.replace("return 2", "return 3")})
    events.clear()
    built = build(tree / "src", tree / "out", "--jobs", jobs)
    assert events[:2] == ["extracted", "outputs answered"], events
    assert events.count("extracted") == 1, events  # not again by its task
    assert not remote._PREPARED
    if outputs_moved:
        assert b"hand-edited" not in (tree / "out" / "pkg" / "b.py_docs.md").read_bytes()
    else:
        assert built.counts["extracted"] == 2, built.counts  # b.py and its docs page
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(
        tree / "src", tree / "out", "--jobs", jobs)


def test_each_layers_folder_pages_are_two_tasks_top_and_rest(tree: Path) -> None:
    """A layer's folder pages are rendered by two tasks that workers run side by side: one
    for the layer's top folder (whose ``sub.md`` lists every symbol of the layer) and one
    for the others. Together they write each folder's pages once, and their manifests."""
    from pipeline import layout, state, tasks

    graph = _graph(tree)
    declared = [t for t in tasks.task_folder(graph) if t.get("name")]
    for layer in graph.layers():
        folders = graph.layer_folders(layer)
        mine = {t["name"]: t for t in declared if t["name"].startswith(f"{layer}:")}
        assert sorted(mine) == [f"{layer}:rest", f"{layer}:top"]
        facts = {graph.out(state.path("folder", f)): f for f in folders}
        parts = {name.split(":")[1]: tuple(facts[d] for d in task["file_dep"])
                 for name, task in mine.items()}
        assert parts["top"] == (folders[0],) and all(
            f.startswith(folders[0]) for f in folders)  # the top folder holds the others
        assert parts["rest"] == tuple(folders[1:])
        targets = [t for task in mine.values() for t in task["targets"]]
        assert len(targets) == len(set(targets))
        assert sorted(targets) == sorted(
            [graph.out(state.path("folder-pages", state.part_key(layer, p))) for p in parts])
        pages = [p for task in mine.values() for c in task["clean"] for p in c[1][1]]
        assert sorted(pages) == sorted(
            [layout.folder_page(f, n) for f in folders for n in layout.FOLDER_PAGES]
            + [state.path("folder-pages", state.part_key(layer, p)) for p in parts])


def test_a_prepared_extraction_is_taken_not_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import remote

    data = b"def f():\n    return 1\n"
    made = remote.prepare("key-1", data, "python")

    def again(*_args: Any) -> Any:
        raise AssertionError("extracted a second time")

    monkeypatch.setattr(remote, "extract_file", again)
    got, counts = remote.make_extractions({"key-1": (data, "python")}, "code", remote.NO_REMOTE)
    assert got == {"key-1": made} and counts["extracted"] == 1
    with pytest.raises(AssertionError):  # taken once: the next task that lacks it makes it
        remote.make_extractions({"key-1": (data, "python")}, "code", remote.NO_REMOTE)


@pytest.mark.skipif(not python_extractor_works(), reason="the Python extractor is not there yet")
def test_with_a_shared_cache_an_edit_that_moves_the_indexes_stores_its_extraction(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extraction made ahead is the chunk task's, with a shared cache too: stored
    there as any extraction made here, and the build runs with workers."""
    ran = _doit_argv(monkeypatch)
    cache = tree / "cache"
    cache.mkdir()
    flags = ("--jobs", "2", "--cache", str(cache), "--cache-mode", "readwrite")
    build(tree / "src", tree / "out", *flags)
    stored = set(cache.rglob("*.json.zst"))
    body = BASE_TREE["pkg/b.py"]
    make_tree(tree / "src", {"pkg/b.py": body + "\n\ndef added():\n    return 4\n"})
    result = build(tree / "src", tree / "out", *flags)
    assert ran[-1][:3] == ["run", "-n", "2"], ran
    assert result.counts["extracted"] == 3, result.counts
    assert len(set(cache.rglob("*.json.zst")) - stored) >= 3  # b.py's record and pages
    assert contents(snapshot(tree / "out")) == clean_build_snapshot(tree / "src", tree / "out",
                                                                    *flags)
