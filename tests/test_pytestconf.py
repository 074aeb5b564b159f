"""Test files as pytest collects them: ``python_files`` from the tree's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from buildkit import build, clean_build_snapshot, contents, diff, make_tree, snapshot

from pipeline.pytestconf import DEFAULT_PYTHON_FILES, configs_of, is_test_path, python_files


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("pytest.ini", "[pytest]\npython_files = check_*.py  *_spec.py\n", ("check_*.py", "*_spec.py")),
    ("pytest.ini", "", DEFAULT_PYTHON_FILES),  # counts even when empty
    ("pytest.ini", "[pytest]\naddopts = -q\n", DEFAULT_PYTHON_FILES),
    (".pytest.ini", "[pytest]\npython_files = it_*.py\n", ("it_*.py",)),
    ("tox.ini", "[tox]\nenvlist = py311\n", None),  # no [pytest]: not pytest's
    ("tox.ini", "[pytest]\npython_files =\n    a_*.py\n    b_*.py\n", ("a_*.py", "b_*.py")),
    ("setup.cfg", "[tool:pytest]\npython_files = t_*.py\n", ("t_*.py",)),
    ("setup.cfg", "[pytest]\npython_files = t_*.py\n", None),  # setup.cfg reads [tool:pytest]
    ("pyproject.toml", "[tool.pytest.ini_options]\npython_files = ['x_*.py', 'y.py']\n",
     ("x_*.py", "y.py")),
    ("pyproject.toml", "[tool.pytest.ini_options]\npython_files = 'x_*.py'\n", ("x_*.py",)),
    ("pyproject.toml", "[project]\nname = 'p'\n", None),
    ("pyproject.toml", "[tool.pytest.ini_options\n", None),  # does not parse
    ("README.md", "[pytest]\n", None),
])
def test_python_files_of_each_configuration_file(
        name: str, text: str, expected: tuple[str, ...] | None) -> None:
    assert python_files(name, text) == expected


def test_the_first_configuration_of_a_folder_in_pytests_order_wins() -> None:
    configs = configs_of({
        "a/setup.cfg": "[tool:pytest]\npython_files = cfg_*.py\n",
        "a/tox.ini": "[pytest]\npython_files = tox_*.py\n",
        "b/tox.ini": "[tox]\n",
        "b/setup.cfg": "[tool:pytest]\npython_files = cfg_*.py\n",
        "c/pyproject.toml": "[project]\nname = 'c'\n",
    })
    assert configs == {"a": ("tox_*.py",), "b": ("cfg_*.py",)}


def test_a_file_follows_its_nearest_configuration() -> None:
    configs = {"": ("check_*.py",), "sub": DEFAULT_PYTHON_FILES, "paths": ("tests/*.py",)}
    assert is_test_path("check_a.py", configs)
    assert not is_test_path("test_a.py", configs)  # the root's pytest.ini replaces the default
    assert is_test_path("pkg/check_b.py", configs)
    assert is_test_path("sub/deep/test_c.py", configs)
    assert not is_test_path("sub/check_c.py", configs)
    assert is_test_path("paths/tests/anything.py", configs)  # a pattern with "/" is a path
    assert not is_test_path("paths/anything.py", configs)
    assert not is_test_path("sub/conftest.py", configs)  # fixtures and hooks, never collected
    assert not is_test_path("check_a.txt", configs)
    assert is_test_path("x_test.py", {}) and is_test_path("test_x.py", {})
    assert not is_test_path("conftest.py", {}) and not is_test_path("testing.py", {})


def _testing(page: Path) -> str:
    return page.read_text().split("### Testing", 1)[1].split("### Usage", 1)[0]


def test_configured_python_files_decide_test_pages_and_follow_edits(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {
        "pytest.ini": "[pytest]\npython_files = check_*.py\n",
        "lib/__init__.py": "",
        "lib/core.py": "def add(a, b):\n    return a + b\n",
        "tests/check_core.py": "from lib.core import add\n\n\ndef test_add():\n"
                               "    assert add(1, 2) == 3\n",
        "tests/test_old.py": "from lib.core import add\n\n\ndef test_old():\n    pass\n",
        "tests/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef value():\n"
                             "    return 1\n",
    })
    build(src, out, "--depth", "1")
    checked = _testing(out / "tests/check_core.py_docs.md")
    assert "This is a test file." in checked and "pytest tests/check_core.py" in checked
    assert "pytest tests/check_core.py::test_add" in checked
    old = _testing(out / "tests/test_old.py_docs.md")
    assert "This is a test file." not in old and "pytest tests/test_old.py" not in old
    conftest = (out / "tests/conftest.py_docs.md").read_text()
    assert "This is a test file." not in conftest and "**conftest**" in conftest
    tested = _testing(out / "lib/core.py_docs.md")
    assert "tests/check_core.py" in tested and "tests/test_old.py" not in tested

    # the configuration changes: every page it decides follows, as a clean build has them
    make_tree(src, {"pytest.ini": "[pytest]\npython_files = test_*.py\n"})
    build(src, out, "--depth", "1")
    assert "pytest tests/test_old.py" in _testing(out / "tests/test_old.py_docs.md")
    assert "This is a test file." not in _testing(out / "tests/check_core.py_docs.md")
    assert contents(snapshot(out)) == clean_build_snapshot(src, out, "--depth", "1")

    # an edit of the configuration that moves no test flag rebuilds no test file's pages
    before = snapshot(out)
    make_tree(src, {"pytest.ini": "[pytest]\n# test files\npython_files = test_*.py\n"})
    build(src, out, "--depth", "1")
    written = diff(before, snapshot(out)).written
    assert "pytest.ini_docs.md" in written, written
    assert not [p for p in written if p.startswith("tests/")], written
    assert contents(snapshot(out)) == clean_build_snapshot(src, out, "--depth", "1")
