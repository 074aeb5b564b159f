"""Installed from a wheel (not editable): the package carries its templates and builds the
same pages as the checkout, run from a folder outside the repository."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from buildkit import BASE_TREE, REPO, contents, make_tree, python_env, run_cli, snapshot


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the project (the checkout gets no build/ or egg-info)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, project / name)
    for name in ("pipeline", "templates"):
        shutil.copytree(REPO / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    # The test extra's setuptools builds it offline; an environment installed before that
    # pin (setuptools < 70.1 has no bdist_wheel) lets pip fetch the build backend instead.
    offline = importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    isolation = ["--no-build-isolation", "--no-index"] if offline else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
         "-q", "-w", str(tmp_path / "dist"), str(project)],
        capture_output=True, text=True, timeout=120, env=python_env())
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("pipeline-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path) -> Path:
    """A new virtualenv without pip; the wheel's dependencies come from this one's
    site-packages (a path line in a .pth file: that folder's own .pth files, among them
    the editable install's, are not read)."""
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                          capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        pytest.skip(f"cannot create a virtualenv: {made.stderr.strip()}")
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    purelib = Path(site.stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n",
                                              encoding="utf-8")
    return venv


def test_a_wheel_installed_in_a_fresh_venv_builds_outside_the_repository(
        tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").glob("*.j2"):
        assert f"pipeline/templates/{template.name}" in names
    for module in (REPO / "pipeline").rglob("*.py"):  # no subpackage left out of the list
        assert module.relative_to(REPO).as_posix() in names

    venv = _fresh_venv(tmp_path)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=120, env=python_env())
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "elsewhere"
    make_tree(work / "src", BASE_TREE)
    env = python_env()
    env.pop("PYTHONPATH", None)
    where = subprocess.run([str(python), "-c", "import pipeline.site as s; print(s.TEMPLATES)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    done = subprocess.run([str(python), "-m", "pipeline", "build", "src", "--output", "out"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    pages = contents(snapshot(work / "out"))
    assert "pkg/a.py_docs.md" in pages and "doc.md" in pages

    shutil.rmtree(work / "out")
    checkout = run_cli(["build", "src", "--output", "out"], cwd=work)
    assert checkout.returncode == 0, checkout.stderr
    assert contents(snapshot(work / "out")) == pages
    assert os.path.isdir(REPO / "templates")
