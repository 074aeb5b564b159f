"""The command line and doit entry points: configuration errors, exit codes, check, clean,
--only, and doit producing the same bytes as ``python -m pipeline build``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from buildkit import (
    BASE_TREE,
    REPO,
    STATE,
    build,
    clean_build_snapshot,
    contents,
    describe_bytes_difference,
    diff,
    file_pages,
    make_tree,
    mirror_of,
    pages_of_pages,
    python_env,
    run_cli,
    run_main,
    snapshot,
    tree_fingerprint,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", BASE_TREE)
    return tmp_path


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _pyproject(folder: Path, body: str) -> None:
    (folder / "pyproject.toml").write_text(f"[tool.pipeline]\n{body}\n", encoding="utf-8")


# --------------------------------------------------------------------------- configuration errors

def test_unknown_config_key_is_a_usage_error_naming_the_key(tree: Path) -> None:
    _pyproject(tree, 'source = "src"\noutput = "out"\ncolour = "red"')
    result = run_main(["build"], cwd=tree)
    assert result.code == 2
    assert "colour" in _one_line(result.stderr)
    assert not (tree / "out").exists()


def test_unknown_config_key_in_a_subprocess_has_no_traceback(tree: Path) -> None:
    _pyproject(tree, 'source = "src"\noutput = "out"\nnot_a_key = 1')
    result = run_cli(["build"], cwd=tree)
    assert result.returncode == 2
    assert "not_a_key" in _one_line(result.stderr)


@pytest.mark.parametrize("value", ["0", '"x"', "-1", "true", "1.5"])
def test_bad_depth_in_pyproject_is_a_usage_error(tree: Path, value: str) -> None:
    _pyproject(tree, f'source = "src"\noutput = "out"\ndepth = {value}')
    result = run_main(["build"], cwd=tree)
    assert result.code == 2, result.stderr
    assert "depth" in _one_line(result.stderr)


@pytest.mark.parametrize("argv,env,key", [
    (["build", "src", "--output", "out", "--depth", "0"], {}, "depth"),
    (["build", "src", "--output", "out", "--depth", "x"], {}, "depth"),
    (["build", "src", "--output", "out", "--jobs", "0"], {}, "jobs"),
    (["build", "src", "--output", "out"], {"PIPELINE_DEPTH": "x"}, "depth"),
    (["build", "missing-folder", "--output", "out"], {}, "source"),
    (["build", "src", "--output", "."], {}, "output"),
    (["frobnicate"], {}, ""),
    ([], {}, ""),
])
def test_usage_errors_exit_2_with_one_line(tree: Path, argv: list[str], env: dict[str, str],
                                           key: str) -> None:
    before = tree_fingerprint(tree)
    result = run_main(argv, cwd=tree, env=env)
    assert result.code == 2, (result.code, result.stderr)
    assert key in _one_line(result.stderr)
    assert tree_fingerprint(tree) == before, "a usage error wrote files"


def test_output_inside_the_source_is_skipped_and_stable(tree: Path) -> None:
    """docs/format.md §1: the output root is skipped by the walk (its pages are never sources), and
    a second build over a source that holds the output is still a no-op."""
    out = tree / "src/site"
    build(tree / "src", out, cwd=tree)
    first = snapshot(out)
    layer_one_docs = [p for p in first if p.endswith("_docs.md") and not p.startswith("site/")]
    assert sorted(layer_one_docs) == sorted(p + "_docs.md" for p in BASE_TREE)
    assert not [p for p in first if "index.md_" in p or "keywords.md_" in p]
    assert not [p for p in first if p.startswith("site/site/")], "a third layer appeared"
    build(tree / "src", out, cwd=tree)
    change = diff(first, snapshot(out))
    assert not change.written and not change.removed, change


def test_config_precedence_pyproject_env_flag(tree: Path) -> None:
    _pyproject(tree, 'source = "src"\noutput = "out"\nproject = "FromToml"')

    def footer() -> str:
        return (tree / "out/index.md").read_text(encoding="utf-8").rstrip("\n").rsplit("\n", 1)[1]

    build(tree / "src", tree / "out", cwd=tree)
    assert "FromToml" in footer()
    result = run_main(["build"], cwd=tree, env={"PIPELINE_PROJECT": "FromEnv"})
    assert result.code in (0, 1) and "FromEnv" in footer()
    result = run_main(["build", "--project", "FromFlag"], cwd=tree,
                      env={"PIPELINE_PROJECT": "FromEnv"})
    assert result.code in (0, 1) and "FromFlag" in footer()


# --------------------------------------------------------------------------- check

def _full_snapshot(out: Path) -> dict[str, object]:
    return tree_fingerprint(out)


def _check(tree: Path) -> tuple[int, list[str], str]:
    result = run_main(["check", "src", "--output", "out"], cwd=tree)
    return result.code, [line for line in result.stdout.splitlines() if line.strip()], result.stderr


def test_check_is_zero_after_a_build_and_never_writes(tree: Path) -> None:
    build(tree / "src", tree / "out")
    before = _full_snapshot(tree / "out")
    code, lines, stderr = _check(tree)
    assert code == 0, (lines, stderr)
    assert lines == []
    assert _full_snapshot(tree / "out") == before, "check wrote to the output folder"


def test_check_lists_stale_pages_after_an_edit(tree: Path) -> None:
    build(tree / "src", tree / "out")
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"] + "\n# edited\n"})
    before = _full_snapshot(tree / "out")
    code, lines, _ = _check(tree)
    assert code == 1
    assert "stale: pkg/a.py_docs.md" in lines, lines
    assert all(line.split(": ", 1)[0] in ("stale", "missing", "orphan") for line in lines), lines
    assert not [line for line in lines if "notes.txt" in line or "conf.yaml" in line], lines
    assert _full_snapshot(tree / "out") == before, "check wrote to the output folder"
    build(tree / "src", tree / "out")
    assert _check(tree)[0] == 0


def test_check_waits_for_no_build_it_takes_the_outputs_lock(tree: Path) -> None:
    """A check while a build (or another check) holds the output exits 2 with one line."""
    import fcntl

    build(tree / "src", tree / "out")
    with open(tree / "out" / STATE / "lock", "a+", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, lines, stderr = _check(tree)
    assert code == 2 and lines == [], (lines, stderr)
    _one_line(stderr)
    assert _check(tree)[0] == 0


def test_check_removes_the_scratch_a_killed_check_left(tree: Path) -> None:
    build(tree / "src", tree / "out")
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"] + "\n# edited\n"})
    left = tree / ".pipeline-check-out-k1ll3d" / "out"
    other = tree / ".pipeline-check-elsewhere-x7" / "elsewhere"  # another output's check
    make_tree(left, {"pkg/a.py_docs.md": "half written\n"})
    make_tree(other, {"index.md": "in use\n"})
    code, lines, _ = _check(tree)
    assert code == 1 and "stale: pkg/a.py_docs.md" in lines, lines
    assert not left.parent.exists()
    assert (other / "index.md").read_text() == "in use\n"
    assert not [p for p in tree.iterdir() if p.name.startswith(".pipeline-check-out-")]


def test_check_finds_a_missing_page(tree: Path) -> None:
    build(tree / "src", tree / "out")
    (tree / "out/docs/guide.md_kw.md").unlink()
    before = _full_snapshot(tree / "out")
    code, lines, _ = _check(tree)
    assert code == 1
    assert lines == ["missing: docs/guide.md_kw.md"], lines
    assert _full_snapshot(tree / "out") == before


def test_check_finds_an_orphan_file(tree: Path) -> None:
    build(tree / "src", tree / "out")
    (tree / "out/pkg/stray.md").write_text("# stray\n", encoding="utf-8")
    before = _full_snapshot(tree / "out")
    code, lines, _ = _check(tree)
    assert code == 1
    assert lines == ["orphan: pkg/stray.md"], lines
    assert _full_snapshot(tree / "out") == before


def test_build_repairs_what_check_reports(tree: Path) -> None:
    """After a build, ``check`` must be 0 again, whatever it reported before (a stray file
    under OUT is one no task produces: prune's job)."""
    build(tree / "src", tree / "out")
    (tree / "out/pkg/stray.md").write_text("# stray\n", encoding="utf-8")
    (tree / "out/docs/guide.md_kw.md").unlink()
    (tree / "out/notes.txt_docs.md").write_text("edited by hand\n", encoding="utf-8")
    (tree / "out/pkg/index.md").write_text("edited by hand\n", encoding="utf-8")
    with open(tree / "out/keywords.md", "ab") as handle:  # longer: size differs
        handle.write(b"appended by hand\n")
    assert _check(tree)[0] == 1
    build(tree / "src", tree / "out")
    code, lines, _ = _check(tree)
    assert (code, lines) == (0, []), lines


def test_build_repairs_folders_and_links_put_into_the_output(tree: Path) -> None:
    """Structure tampered with by hand: a folder where a page belongs, a symlinked folder
    (never followed: what it points to is left alone), a file where a folder belongs and
    a page replaced by a symlink. The next build restores the clean build's bytes."""
    build(tree / "src", tree / "out")
    expected = contents(snapshot(tree / "out"))
    outside = tree / "outside"
    make_tree(outside, {"keep.md": "not the build's\n"})
    page = tree / "out/pkg/a.py_docs.md"
    page.unlink()
    (page / "inner").mkdir(parents=True)
    (page / "inner/x.md").write_text("x\n", encoding="utf-8")
    os.symlink(outside, tree / "out/pkg/linked")
    shutil.rmtree(tree / "out/docs")
    (tree / "out/docs").write_text("a file, not a folder\n", encoding="utf-8")
    (tree / "out/notes.txt_kw.md").unlink()
    os.symlink(outside / "keep.md", tree / "out/notes.txt_kw.md")
    build(tree / "src", tree / "out")
    actual = contents(snapshot(tree / "out"))
    assert actual == expected, describe_bytes_difference(actual, expected)
    assert (outside / "keep.md").read_text(encoding="utf-8") == "not the build's\n"
    assert _check(tree)[0] == 0


def _tamper(tree: Path, how: str) -> str:
    """One change to a built tree; returns the line ``check`` must print for it."""
    out = tree / "out"
    if how == "stale":
        make_tree(tree / "src", {"notes.txt": "plain notes, edited\n"})
        return "stale: notes.txt_docs.md"
    if how == "missing":
        (out / "docs/guide.md_kw.md").unlink()
        return "missing: docs/guide.md_kw.md"
    if how == "orphan":
        (out / "pkg/stray.md").write_text("# stray\n", encoding="utf-8")
        return "orphan: pkg/stray.md"
    page = out / "pkg/b.py_docs.md"  # hand-edited in place: same size, new bytes and mtime
    data = page.read_bytes()
    page.write_bytes(data[:-2] + b"X\n")
    return "stale: pkg/b.py_docs.md"


@pytest.mark.parametrize("how", ["stale", "missing", "orphan", "hand-edited"])
def test_fast_check_lists_each_difference_as_the_full_check_does(
        tree: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.check import would_run
    from pipeline.cli import load_config
    from pipeline.graph import build_graph

    build(tree / "src", tree / "out")
    line = _tamper(tree, how)
    before = _full_snapshot(tree / "out")
    monkeypatch.chdir(tree)
    config = load_config({"source": "src", "output": "out"})
    assert would_run(build_graph(config, save_cache=False)) is not None
    code, lines, _ = _check(tree)
    assert code == 1 and line in lines, lines
    if how != "stale":  # an edited source also changes its folder's and its layer-2 pages
        assert lines == [line]
    assert _full_snapshot(tree / "out") == before, "check wrote to the output folder"
    full = run_main(["check", "src", "--output", "out", "--full"], cwd=tree)
    assert (full.code, full.stdout.split("\n")[:-1]) == (1, lines)
    build(tree / "src", tree / "out")
    assert _check(tree)[:2] == (0, [])


def test_an_up_to_date_check_builds_nothing(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to date, the check is the build state's verdict: no scratch build runs, and a
    touched source (same bytes, new mtime) does not make it run either."""
    import pipeline.check

    build(tree / "src", tree / "out")
    os.utime(tree / "src/pkg/a.py", ns=(1, 1))

    def no_scratch_build(*args: object) -> None:
        raise AssertionError("an up-to-date check built into a scratch folder")

    monkeypatch.setattr(pipeline.check, "_seed", no_scratch_build)
    monkeypatch.setattr(pipeline.check, "_link_records", no_scratch_build)
    before = _full_snapshot(tree / "out")
    code, lines, stderr = _check(tree)
    assert (code, lines) == (0, []), stderr
    assert "up to date" in stderr
    assert _full_snapshot(tree / "out") == before


def test_check_of_a_never_built_output_reports_missing_pages(tree: Path) -> None:
    code, lines, _ = _check(tree)
    assert code == 1
    assert "missing: pkg/a.py_docs.md" in lines
    assert not (tree / "out").exists(), "check created the output folder"


# --------------------------------------------------------------------------- clean

def test_clean_removes_the_output_folder(tree: Path) -> None:
    build(tree / "src", tree / "out")
    result = run_main(["clean", "--output", "out"], cwd=tree)
    assert result.code == 0, result.stderr
    assert not (tree / "out").exists()
    assert (tree / "src").is_dir() and tree_fingerprint(tree / "src")
    assert run_main(["clean", "--output", "out"], cwd=tree).code == 0  # nothing to do


def test_clean_refuses_a_folder_that_holds_no_pipeline_state(tree: Path) -> None:
    make_tree(tree / "precious", {"keep.txt": "keep me\n"})
    result = run_main(["clean", "--output", "precious"], cwd=tree)
    assert result.code == 2
    _one_line(result.stderr)
    assert (tree / "precious/keep.txt").read_text() == "keep me\n"


# --------------------------------------------------------------------------- --only

def test_only_rebuilds_only_the_named_files_pages(tree: Path) -> None:
    build(tree / "src", tree / "out")
    make_tree(tree / "src", {
        "pkg/a.py": BASE_TREE["pkg/a.py"].replace("return x + 1", "return x + 9"),
        "docs/guide.md": BASE_TREE["docs/guide.md"].replace("Text with", "Words with"),
    })
    before = snapshot(tree / "out")
    build(tree / "src", tree / "out", "--only", "src/pkg/a.py", cwd=tree)
    change = diff(before, snapshot(tree / "out"))
    assert "pkg/a.py_docs.md" in change.changed
    assert not [p for p in change.written if "guide.md" in p], sorted(change.written)
    assert not change.removed and not change.touched
    build(tree / "src", tree / "out")
    assert "Words with" in (tree / "out/docs/guide.md_docs.md").read_text(encoding="utf-8")
    incremental = contents(snapshot(tree / "out"))
    clean = clean_build_snapshot(tree / "src", tree / "out")
    assert incremental == clean, describe_bytes_difference(incremental, clean)


def test_only_leaves_a_stale_sibling_of_the_same_chunk_alone(tree: Path) -> None:
    """Both files of ``pkg`` are edited; ``--only`` names one. Only its pages (every layer)
    and the folder pages above it are written; the sibling's stay as they were, and the
    next full build still builds it."""
    build(tree / "src", tree / "out")
    mirror = mirror_of(tree / "out")
    make_tree(tree / "src", {
        "pkg/a.py": BASE_TREE["pkg/a.py"].replace("return x + 1", "return x + 9"),
        "pkg/b.py": BASE_TREE["pkg/b.py"].replace("return 2", "return 3"),
    })
    before = snapshot(tree / "out")
    build(tree / "src", tree / "out", "--only", "src/pkg/a.py", cwd=tree)
    change = diff(before, snapshot(tree / "out"))
    a_pages = file_pages("pkg/a.py")
    assert "pkg/a.py_docs.md" in change.changed
    assert pages_of_pages(a_pages, mirror) & change.changed, sorted(change.written)
    allowed = a_pages | pages_of_pages(a_pages, mirror) | pages_of_pages(
        pages_of_pages(a_pages, mirror), mirror) | {"keywords.md"} | {
        p for p in before if p.rpartition("/")[2] in ("index.md", "doc.md", "sub.md")}
    assert change.written <= allowed, sorted(change.written - allowed)
    assert not [p for p in change.written if "b.py" in p], sorted(change.written)
    assert not change.removed
    build(tree / "src", tree / "out")
    assert "return 3" in (tree / "out/pkg/b.py_docs.md").read_text(encoding="utf-8")
    incremental = contents(snapshot(tree / "out"))
    clean = clean_build_snapshot(tree / "src", tree / "out")
    assert incremental == clean, describe_bytes_difference(incremental, clean)


@pytest.mark.parametrize("where", ["parent", "source", "inside"])
def test_only_path_relative_to_the_source_or_the_current_folder(tree: Path, where: str) -> None:
    build(tree / "src", tree / "out")
    make_tree(tree / "src", {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 7")})
    before = snapshot(tree / "out")
    if where == "parent":  # from SOURCE's parent, the path relative to SOURCE
        result = run_main(["build", "src", "--output", "out", "--only", "pkg/a.py"], cwd=tree)
    elif where == "source":
        result = run_main(["build", ".", "--output", "../out", "--only", "pkg/a.py"],
                          cwd=tree / "src")
    else:  # from a folder inside SOURCE, relative to that folder
        result = run_main(["build", "..", "--output", "../../out", "--only", "a.py"],
                          cwd=tree / "src/pkg")
    assert result.code == 0, result.stderr
    change = diff(before, snapshot(tree / "out"))
    assert "pkg/a.py_docs.md" in change.changed, sorted(change.written)


def test_only_exits_1_with_the_failed_lines_when_a_named_file_fails(tree: Path) -> None:
    """A file failure is exit 1 with its ``failed:`` line, in ``--only`` as in a build; a
    failed file that is not named does not fail it."""
    make_tree(tree / "src", {"pkg/broken.py": "def broken(:\n    pass\n"})
    build(tree / "src", tree / "out")
    make_tree(tree / "src", {"pkg/broken.py": "def broken(:\n    pass  # still\n"})
    result = run_main(["build", "src", "--output", "out", "--only", "src/pkg/broken.py"],
                      cwd=tree)
    assert result.code == 1, result.stderr
    failed = [ln for ln in result.stderr.splitlines() if ln.startswith("failed: ")]
    assert failed and all(ln.startswith("failed: pkg/broken.py: ") for ln in failed), failed
    other = run_main(["build", "src", "--output", "out", "--only", "src/pkg/a.py"], cwd=tree)
    assert other.code == 0, other.stderr
    assert "failed: " not in other.stderr


def test_only_outside_the_source_is_a_usage_error(tree: Path) -> None:
    build(tree / "src", tree / "out")
    (tree / "elsewhere.py").write_text("x = 1\n")
    result = run_main(["build", "src", "--output", "out", "--only", "elsewhere.py"], cwd=tree)
    assert result.code == 2
    _one_line(result.stderr)


# --------------------------------------------------------------------------- in process

def test_two_in_process_builds_in_one_process(tree: Path) -> None:
    """``main()`` is the documented in-process entry point: building the same output twice
    from one process must work (the first build's lock must be released when it ends)."""
    code = """
import sys
from pipeline.cli import main
first = main(["build", "src", "--output", "out"])
second = main(["build", "src", "--output", "out"])
print(first, second)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=tree, env=python_env(),
                            capture_output=True, text=True, timeout=120)
    first, second = result.stdout.split()
    assert first in ("0", "1")
    assert second == first, result.stderr.splitlines()[-3:]


# --------------------------------------------------------------------------- doit

def _doit(tree: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    doit = Path(sys.executable).with_name("doit")
    return subprocess.run([str(doit), "-f", str(REPO / "dodo.py"), "-d", str(tree), *args],
                          cwd=tree, env=python_env(**env), capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("command", ["pipeline", "doit"])
def test_ctrl_c_is_said_in_one_line(tree: Path, command: str) -> None:
    """Ctrl-C part way through a build (at its 5th write): one line, no traceback, and the
    exit of an interrupted command; the next build then finishes the work."""
    fault = {"PIPELINE_TEST_INTERRUPT_AT": "5"}
    if command == "doit":
        done = _doit(tree, "source=src", "output=out", **fault)
    else:
        done = run_cli(["build", "src", "--output", "out"], cwd=tree, **fault)
    assert done.returncode in (130, -signal.SIGINT), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "interrupted: the next build takes up where this one stopped"), done.stderr
    assert run_cli(["build", "src", "--output", "out"], cwd=tree).returncode in (0, 1)


def test_doit_produces_the_same_bytes_as_the_cli(tree: Path) -> None:
    result = run_cli(["build", "src", "--output", "out"], cwd=tree)
    assert result.returncode in (0, 1), result.stderr
    expected = contents(snapshot(tree / "out"))
    shutil.rmtree(tree / "out")
    done = _doit(tree, "source=src", "output=out")
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    actual = contents(snapshot(tree / "out"))
    assert actual == expected, describe_bytes_difference(actual, expected)
    again = _doit(tree, "source=src", "output=out")
    assert again.returncode in (0, 1), again.stderr
    assert contents(snapshot(tree / "out")) == expected
    assert sorted(p.name for p in tree.iterdir()) == ["out", "src"], "doit wrote outside OUT"


def test_doit_list_works_and_writes_nothing(tree: Path) -> None:
    done = _doit(tree, "list", "source=src", "output=out")
    assert done.returncode == 0, done.stderr
    names = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"docs", "docs:extract", "docs:link", "docs:render", "docs:folder", "docs:keywords",
            "docs:prune"} <= names
    assert not names & {"extract", "link", "render", "folder", "keywords", "prune"}
    assert sorted(p.name for p in tree.iterdir()) == ["src"], "doit list wrote files"


def test_doit_clean_then_doit_restores_the_same_pages(tree: Path) -> None:
    assert _doit(tree, "source=src", "output=out").returncode in (0, 1)
    expected = contents(snapshot(tree / "out"))
    cleaned = _doit(tree, "clean", "source=src", "output=out")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not [p for p in snapshot(tree / "out") if p.endswith(".md")]
    assert _doit(tree, "source=src", "output=out").returncode in (0, 1)
    actual = contents(snapshot(tree / "out"))
    assert actual == expected, describe_bytes_difference(actual, expected)


def test_doit_exit_code_matches_the_cli_when_a_file_fails(tree: Path) -> None:
    """README exit codes: 1 when some files failed (pages still written), whichever entry."""
    make_tree(tree / "src", {"bad.txt": b"caf\xe9 \xff\xfe not utf-8\n"})
    cli = run_cli(["build", "src", "--output", "out"], cwd=tree)
    assert cli.returncode == 1, cli.stderr
    assert "bad.txt" in cli.stderr
    shutil.rmtree(tree / "out")
    done = _doit(tree, "source=src", "output=out")
    assert (tree / "out/bad.txt_docs.md").is_file()
    assert done.returncode == cli.returncode, (done.returncode, done.stderr[-500:])


def test_state_lives_only_in_the_output_folder(tree: Path) -> None:
    build(tree / "src", tree / "out")
    assert (tree / "out" / STATE).is_dir()
    assert sorted(p.name for p in tree.iterdir()) == ["out", "src"]
