"""Which files pytest would collect as test modules, by its own rules.

pytest reads its settings from the first configuration file it finds walking up from the
folder it is run in: in each folder ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml``,
``tox.ini``, ``setup.cfg``, in that order. ``pytest.ini`` counts even when empty; the others
only with a pytest section (``[tool.pytest.ini_options]``, ``[pytest]``, ``[tool:pytest]``).
The setting ``python_files`` (default ``test_*.py *_test.py``) names the test modules; a
pattern without ``/`` matches the file name, one with ``/`` the path. ``conftest.py`` holds
fixtures and hooks and is never collected.

Pure: text in, settings out; :func:`is_test_path` applies them to a path.
"""

from __future__ import annotations

import configparser
import fnmatch
import functools
import posixpath
import re
import tomllib
from collections.abc import Mapping

# In the order pytest looks for them within one folder.
CONFIG_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
DEFAULT_PYTHON_FILES = ("test_*.py", "*_test.py")
_INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest",
                 "setup.cfg": "tool:pytest"}
# name -> (pattern of python_files) per folder holding a pytest configuration
Configs = Mapping[str, tuple[str, ...]]


def python_files(name: str, text: str) -> tuple[str, ...] | None:
    """The ``python_files`` patterns a configuration file sets (the default when its pytest
    section leaves them out), or None when the file is no pytest configuration. A file that
    does not parse is no configuration (pytest would stop with an error)."""
    if name == "pyproject.toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None
        options = data.get("tool", {}).get("pytest", {}).get("ini_options")
        if not isinstance(options, dict):
            return None
        return _patterns(options.get("python_files"))
    section = _INI_SECTIONS.get(name)
    if section is None:
        return None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return DEFAULT_PYTHON_FILES if name in ("pytest.ini", ".pytest.ini") else None
    if not parser.has_section(section):
        return DEFAULT_PYTHON_FILES if name in ("pytest.ini", ".pytest.ini") else None
    return _patterns(parser.get(section, "python_files", fallback=None))


def _patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        found = tuple(value.split())
    elif isinstance(value, list):
        found = tuple(str(v) for v in value if str(v).strip())
    else:
        found = ()
    return found or DEFAULT_PYTHON_FILES


def configs_of(texts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Folder -> ``python_files`` of the configuration pytest takes in that folder, from the
    texts of the tree's configuration files (path -> text)."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(texts, key=lambda p: CONFIG_NAMES.index(posixpath.basename(p))):
        folder = posixpath.dirname(path)
        if folder in found:
            continue
        patterns = python_files(posixpath.basename(path), texts[path])
        if patterns is not None:
            found[folder] = patterns
    return dict(sorted(found.items()))


def patterns_for(path: str, configs: Configs) -> tuple[str, ...]:
    """The ``python_files`` that apply to ``path``: its nearest folder's configuration."""
    folder = posixpath.dirname(path)
    while True:
        if folder in configs:
            return configs[folder]
        if not folder:
            return DEFAULT_PYTHON_FILES
        folder = posixpath.dirname(folder)


def is_test_path(path: str, configs: Configs) -> bool:
    """pytest would collect ``path`` as a test module."""
    name = path.rpartition("/")[2]
    if not name.endswith(".py") or name == "conftest.py":
        return False
    by_name, by_path = _matchers(patterns_for(path, configs) if configs else DEFAULT_PYTHON_FILES)
    return bool(by_name and by_name.match(name)) or bool(by_path and by_path.match(path))


@functools.lru_cache(maxsize=64)
def _matchers(patterns: tuple[str, ...]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """One expression for the patterns matched against the file name, one for those with a
    ``/``, matched against the path (``*/`` put before them: below any folder). Called for
    every source of a build, so compiled once per pattern set."""
    names = [fnmatch.translate(p) for p in patterns if "/" not in p]
    paths = [fnmatch.translate(q) for p in patterns if "/" in p for q in (p, "*/" + p)]
    return (re.compile("|".join(names)) if names else None,
            re.compile("|".join(paths)) if paths else None)
