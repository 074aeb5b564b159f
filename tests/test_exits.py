"""The command line's exit (:func:`pipeline.cli.leave`): the exit code, the exit handlers
and the flushed streams of a normal exit, without the interpreter's teardown; and a normal
exit where another thread still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from buildkit import BASE_TREE, REPO, make_tree, python_env

# An object whose finaliser writes to fd 2 when the interpreter's teardown frees it (a module
# global outlives everything up to the teardown); stdout is written but not flushed.
_PRELUDE = """
import atexit, os, sys
class Marker:
    def __del__(self, write=os.write):
        write(2, b"teardown ran")
sys.modules["marker"] = type(sys)("marker")
sys.modules["marker"].kept = Marker()
atexit.register(lambda: sys.stdout.write("handler ran;"))
sys.stdout.write("buffered;")
"""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PRELUDE + code], cwd=cwd, env=python_env(),
                          capture_output=True, text=True, timeout=120)


def test_leave_runs_the_handlers_and_flushes_but_skips_the_teardown(tmp_path: Path) -> None:
    result = _run("from pipeline.cli import leave\nleave(3)\n", tmp_path)
    assert result.returncode == 3
    assert result.stdout == "buffered;handler ran;"
    assert "teardown ran" not in result.stderr


def test_leave_exits_normally_while_another_thread_runs(tmp_path: Path) -> None:
    code = ("import threading, time\n"
            "from pipeline.cli import leave\n"
            "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
            "leave(4)\n")
    result = _run(code, tmp_path)
    assert result.returncode == 4
    assert "thread done" in result.stdout  # waited for, as a normal exit does
    assert "teardown ran" in result.stderr


def test_a_profiled_command_exits_normally(tmp_path: Path) -> None:
    """``python -m cProfile -o F -m pipeline ...`` writes its profile after the program
    returns: the quick exit would lose it."""
    make_tree(tmp_path / "src", BASE_TREE)
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", "build.prof", "-m",
                             "pipeline", "build", "src", "--output", "out"], cwd=tmp_path,
                            env=python_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build.prof").stat().st_size > 0


def test_the_command_line_leaves_without_the_teardown(tmp_path: Path) -> None:
    """``python -m pipeline build`` ends with its exit code and summary, all pages written,
    and no teardown (the old ``raise SystemExit(main())`` ran it)."""
    make_tree(tmp_path / "src", BASE_TREE)
    code = ("import runpy\n"
            "sys.argv = ['pipeline', 'build', 'src', '--output', 'out']\n"
            "runpy.run_module('pipeline', run_name='__main__', alter_sys=True)\n")
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "summary:" in result.stderr
    assert "teardown ran" not in result.stderr
    again = subprocess.run([sys.executable, "-m", "pipeline", "check", "src", "--output", "out"],
                           cwd=tmp_path, env=python_env(), capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_build_with_a_shared_cache_leaves_too(tmp_path: Path) -> None:
    """The cache's thread pool is stopped when the command ends, so no thread holds the
    exit back (before, its idle threads made every cached build exit the slow way)."""
    make_tree(tmp_path / "src", BASE_TREE)
    code = ("import runpy\n"
            "sys.argv = ['pipeline', 'build', 'src', '--output', 'out', '--cache', 'cache',\n"
            "            '--cache-mode', 'readwrite']\n"
            "runpy.run_module('pipeline', run_name='__main__', alter_sys=True)\n")
    (tmp_path / "cache").mkdir()
    result = _run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "cache").rglob("*.json.zst")), "nothing was stored"
    assert "teardown ran" not in result.stderr


def test_the_installed_command_is_the_quick_exit() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'pipeline = "pipeline.cli:run"' in text


def _doit_with_marker(tmp_path: Path, *args: str,
                      after: str = "") -> subprocess.CompletedProcess[str]:
    """``doit`` (``args``: its command first) with a dodo file that also keeps a
    :data:`_PRELUDE` marker, and runs ``after`` once the namespace is loaded."""
    dodo = tmp_path / "dodo_marked.py"
    dodo.write_text(_PRELUDE + "from pipeline.cli import dodo_namespace\n"
                    "globals().update(dodo_namespace())\n" + after)
    doit = Path(sys.executable).with_name("doit")
    return subprocess.run([str(doit), *args[:1], "-f", str(dodo), "-d", str(tmp_path),
                           *args[1:]], cwd=tmp_path, env=python_env(), capture_output=True,
                          text=True, timeout=180)


def test_the_doit_command_leaves_with_its_runs_code(tmp_path: Path) -> None:
    """After a run of tasks, ``doit`` exits with the run's code, the exit handlers run, and
    no teardown: as a build with a file that fails to parse (exit 1), then after an edit
    (the build runs in process, then doit's run of the summary), then with doit's own
    graph (``--verbosity 2``: doit runs the tasks)."""
    make_tree(tmp_path / "src", {**BASE_TREE, "pkg/broken.py": "def f(:\n"})
    first = _doit_with_marker(tmp_path, "run", "source=src", "output=out")
    assert first.returncode == 1, first.stderr
    assert "failed: pkg/broken.py" in first.stderr
    assert first.stdout.startswith("buffered;") and first.stdout.endswith("handler ran;")
    assert "teardown ran" not in first.stderr
    (tmp_path / "src/pkg/broken.py").write_text("def f():\n    pass\n")
    edited = _doit_with_marker(tmp_path, "run", "source=src", "output=out")
    assert edited.returncode == 0, edited.stderr
    assert "teardown ran" not in edited.stderr
    (tmp_path / "src/pkg/core.py").write_text("def g():\n    return 1\n")
    verbose = _doit_with_marker(tmp_path, "run", "--verbosity", "2", "source=src",
                                "output=out")
    assert verbose.returncode == 0, verbose.stderr
    assert "teardown ran" not in verbose.stderr


def test_no_exit_handler_runs_twice_under_doit(tmp_path: Path) -> None:
    """A handler registered after ``dodo.py`` loaded (by a task's imports, say) has run
    before the quick exit's: doit then exits normally, and each handler runs once."""
    make_tree(tmp_path / "src", BASE_TREE)
    result = _doit_with_marker(tmp_path, "run", "source=src", "output=out",
                               after="atexit.register(lambda: sys.stdout.write('late ran;'))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "buffered;late ran;handler ran;"


def test_doit_without_a_run_exits_normally(tmp_path: Path) -> None:
    """``doit list`` runs no task: its exit is the normal one (code 0, teardown and all)."""
    make_tree(tmp_path / "src", BASE_TREE)
    listed = _doit_with_marker(tmp_path, "list", "source=src", "output=out")
    assert listed.returncode == 0, listed.stderr
    assert "teardown ran" in listed.stderr


def test_a_program_that_loads_the_namespace_keeps_its_exit(tmp_path: Path) -> None:
    """A program other than doit that calls ``dodo_namespace`` (a test suite, a tool) and
    runs builds in process exits with its own code: the quick exit with the code of its
    last run is the doit command's alone."""
    make_tree(tmp_path / "src", BASE_TREE)
    code = ("import os\n"
            "from pipeline import cli\n"
            "sys.argv = ['doit', 'source=src', 'output=out']\n"
            "cli.dodo_namespace()\n"
            "assert cli.main(['build', 'src', '--output', 'out2']) == 0\n"
            "sys.exit(5)\n")
    result = _run(code, tmp_path)
    assert result.returncode == 5, result.stderr
    assert "teardown ran" in result.stderr
