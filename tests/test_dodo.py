"""The docs tasks in a project's own dodo.py: one ``docs`` namespace beside the project's
tasks (none replaces another), and the build summary printed only when docs tasks ran."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from buildkit import (
    BASE_TREE,
    REPO,
    STATE,
    clean_build_snapshot,
    contents,
    environment,
    make_tree,
    python_env,
    run_cli,
    snapshot,
)

from pipeline import quick, runstate
from pipeline.config import make_config
from pipeline.discover import scan_tree

# A monorepo's dodo.py with tasks named like the build's stages. The docs come in first, as
# README shows, so that the project's own DOIT_CONFIG keys extend the build's.
TEAM_DODO = '''
from pipeline.cli import dodo_namespace

globals().update(dodo_namespace())
DOIT_CONFIG = {**DOIT_CONFIG, "default_tasks": ["lint", "docs"]}


def task_render():
    """the project's own render"""
    return {"actions": ["echo own-render > rendered.txt"], "targets": ["rendered.txt"]}


def task_lint():
    """the project's own lint"""
    return {"actions": ["echo own-lint > linted.txt"], "targets": ["linted.txt"]}
'''


@pytest.fixture
def team(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", BASE_TREE)
    (tmp_path / "dodo.py").write_text(TEAM_DODO, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nsource = "src"\noutput = "out"\n', encoding="utf-8")
    return tmp_path


def _doit(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    doit = Path(sys.executable).with_name("doit")
    return subprocess.run([str(doit), *args], cwd=folder, env=python_env(),
                          capture_output=True, text=True, timeout=180)


def _pages(folder: Path) -> list[str]:
    return sorted(p for p in snapshot(folder / "out") if p.endswith(".md")) \
        if (folder / "out").is_dir() else []


def test_docs_tasks_have_one_namespace_beside_the_projects_tasks(team: Path) -> None:
    listed = _doit(team, "list", "--all")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {"render", "lint", "docs"} <= names
    stages = {"docs:extract", "docs:link", "docs:render", "docs:folder", "docs:keywords",
              "docs:prune", "docs:seal", "docs:failures"}
    assert stages <= names
    assert not {n for n in names if n not in {"render", "lint"} and not n.startswith("docs")}


def test_the_projects_own_task_runs_alone_without_the_docs_summary(team: Path) -> None:
    done = _doit(team, "lint")
    assert done.returncode == 0, done.stderr
    assert (team / "linted.txt").read_text(encoding="utf-8") == "own-lint\n"
    assert ".  lint" in done.stdout  # reported as doit reports it
    assert "summary" not in done.stderr and "summary" not in done.stdout
    assert _pages(team) == [], "doit lint built the docs"
    own = _doit(team, "render")
    assert own.returncode == 0, own.stderr
    assert (team / "rendered.txt").read_text(encoding="utf-8") == "own-render\n"
    assert _pages(team) == [], "the project's render ran the docs render"


def test_doit_docs_builds_the_same_pages_as_the_cli(team: Path) -> None:
    expected_run = run_cli(["build"], cwd=team)
    assert expected_run.returncode in (0, 1), expected_run.stderr
    expected = contents(snapshot(team / "out"))
    shutil.rmtree(team / "out")
    done = _doit(team, "docs")
    assert done.returncode in (0, 1), done.stderr
    assert "summary: " in done.stderr
    assert contents(snapshot(team / "out")) == expected
    assert not (team / "linted.txt").exists() and not (team / "rendered.txt").exists()
    both = _doit(team)  # default_tasks: the project's lint, then the docs (up to date)
    assert both.returncode in (0, 1), both.stderr
    assert (team / "linted.txt").exists() and "summary: " in both.stderr


def test_an_up_to_date_doit_loads_no_graph_and_keeps_its_verdict(tmp_path: Path) -> None:
    """``doit`` on an output the quick check finds up to date gets only the ``docs`` task
    (and the failures verdict): exit 1 while a file fails, as the whole graph's run, the
    summary printed, and nothing in the state moved (a build after it is still a quick
    no-op). Asking for one task by name, or ``-a``, loads the whole graph."""
    make_tree(tmp_path / "src", {**BASE_TREE, "pkg/broken.py": "def broken(:\n"})
    (tmp_path / "dodo.py").write_text((REPO / "dodo.py").read_text(encoding="utf-8"),
                                      encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nsource = "src"\noutput = "out"\n', encoding="utf-8")
    first = _doit(tmp_path)  # the whole graph, recorded as python -m pipeline build records
    assert first.returncode == 1 and "pkg/broken.py" in first.stderr, first.stderr
    config = make_config({"source": str(tmp_path / "src"), "output": str(tmp_path / "out")})
    assert quick.check(config, scan_tree(config)).report is not None
    state = tmp_path / "out" / STATE
    before = {p.name: p.stat().st_mtime_ns for p in state.iterdir() if p.is_file()}
    again = _doit(tmp_path)
    assert again.returncode == 1, again.stderr
    assert "summary: " in again.stderr and "pkg/broken.py" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in state.iterdir() if p.is_file()} == before

    from pipeline import cli

    with environment(tmp_path, {}), mock.patch.object(sys, "argv", ["doit", "-n", "2"]):
        try:
            tasks = list(cli.dodo_namespace()["task_docs"]())
        finally:
            runstate.release_locks()
    assert [t["basename"] for t in tasks] == ["docs:failures", "docs"]
    for argv in (["doit", "docs:extract"], ["doit", "-a"], ["doit", "lint", "docs"]):
        with environment(tmp_path, {}), mock.patch.object(sys, "argv", argv):
            try:
                tasks = list(cli.dodo_namespace()["task_docs"]())
            finally:
                runstate.release_locks()
        assert len(tasks) > 10, argv


@pytest.mark.parametrize(("argv", "whole"), [
    ([], True), (["run"], True), (["docs"], True), (["-n", "2", "-P", "process"], True),
    (["source=src", "output=out", "--verbosity", "2"], True), (["-r", "json"], True),
    (["-k", "lint"], False),  # -k (--seek-file) takes no value: lint is a task name
    (["-a"], False), (["--always-execute", "docs"], False), (["docs:extract"], False),
    (["lint", "docs"], False), (["-s", "docs"], True),
])
def test_whole_build_reads_doits_own_option_definitions(argv: list[str], whole: bool) -> None:
    from pipeline.cli import _whole_build

    assert _whole_build(argv) is whole


def test_doit_after_an_edit_runs_the_build_as_build_does(tmp_path: Path) -> None:
    """After an edit of sources only, a plain ``doit`` runs the build while ``dodo.py``
    loads, as ``python -m pipeline build`` does (the chunks the edit reaches), and doit gets
    the ``docs`` task, done; exit 1 while a file fails. With options, doit gets the whole
    graph (but the jobs options, which the build takes), its page-writing tasks trusting
    the pages the quick check compared. A page edited
    by hand meanwhile makes nothing trusted, and the page is repaired. Each run is recorded,
    and the output equals a clean build's."""
    from pipeline import cli, state

    make_tree(tmp_path / "src", {**BASE_TREE, "pkg/broken.py": "def broken(:\n"})
    (tmp_path / "dodo.py").write_text((REPO / "dodo.py").read_text(encoding="utf-8"),
                                      encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nsource = "src"\noutput = "out"\n', encoding="utf-8")
    assert _doit(tmp_path).returncode == 1
    root = str(tmp_path / "out")
    edited = tmp_path / "src" / "pkg" / "a.py"
    page = tmp_path / "out" / "pkg" / "a.py_docs.md"

    def edit(name: str) -> None:
        edited.write_text(edited.read_text(encoding="utf-8") + f"\n\ndef {name}():\n"
                          "    return 2\n", encoding="utf-8")

    def loaded(*argv: str) -> tuple[list[str], bool]:
        with environment(tmp_path, {}), mock.patch.object(sys, "argv", ["doit", *argv]):
            try:
                tasks = [t["basename"] for t in cli.dodo_namespace()["task_docs"]()]
                return tasks, state.outputs_trusted(root)
            finally:
                state.trust_outputs(root, False)
                runstate.release_locks()

    edit("first")
    assert loaded() == (["docs:failures", "docs"], False)  # built while loading
    assert "def first" in page.read_text(encoding="utf-8")
    edit("second")
    assert loaded("-n", "2") == (["docs:failures", "docs"], False)  # jobs passed on
    assert "def second" in page.read_text(encoding="utf-8")
    edit("third")
    tasks, trusted = loaded("--verbosity", "2")
    assert len(tasks) > 10 and trusted
    other = tmp_path / "out" / "pkg" / "b.py_docs.md"
    other.write_text("edited by hand\n", encoding="utf-8")
    edit("fourth")
    assert loaded("--verbosity", "2")[1] is False
    edit("fifth")
    run = _doit(tmp_path)
    assert run.returncode == 1, run.stderr
    assert "summary: " in run.stderr and "pkg/broken.py" in run.stderr
    assert "edited by hand" not in other.read_text(encoding="utf-8")
    assert "def fifth" in page.read_text(encoding="utf-8")
    config = make_config({"source": str(tmp_path / "src"), "output": root})
    assert quick.check(config, scan_tree(config)).report is not None  # recorded
    built = contents(snapshot(tmp_path / "out"))
    assert built == clean_build_snapshot(tmp_path / "src", tmp_path / "out", cwd=tmp_path)


@pytest.mark.parametrize(("argv", "options"), [
    ([], []), (["run"], []), (["docs", "source=src"], []),
    (["-n", "2"], ["-n", "2"]), (["--process=3", "-P", "thread"], ["-n", "3", "-P", "thread"]),
    (["--verbosity", "2"], None), (["-r", "json"], None), (["-n"], None),
])
def test_a_plain_doit_passes_on_only_the_jobs_options(argv: list[str],
                                                      options: list[str] | None) -> None:
    from pipeline.cli import _plain_doit

    assert _plain_doit(argv) == options
