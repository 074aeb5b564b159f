"""The Python extractor, linker and file pages against ``ast``, ``symtable`` and Python's import
rules, on a sample of the standard library and on hand-written tricky modules (bounded; the
stdlib part is skipped where the stdlib is missing). ``bench/oracle_python.py`` runs the
whole comparison over the stdlib and the torch wheel."""

from __future__ import annotations

import sysconfig
from pathlib import Path
from types import ModuleType

import pytest
from buildkit import bench_script

# Whole packages, so that in-tree import edges are in the sample, then every 50th module.
PACKAGES = ("json/", "concurrent/futures/", "email/mime/", "importlib/resources/")
EVERY = 50
MAX_BYTES = 40_000

TRICKY = {
    "pkg/__init__.py": '''"""A package that re-exports."""
from .core import *
from . import types
from .sub.deep import leaf as leaf_module, missing_attribute
import pkg.sub.deep.leaf
__all__ = ["Core", "leaf_module"]
__all__ += ["types"]
''',
    "pkg/types.py": "import types  # the standard library's, never this file\nALIAS = types\n",
    "pkg/core.py": '''import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pkg.sub import deep
try:
    import tomllib as toml
except ImportError:
    toml = None
if (found := re.match("a", "a")) is not None:
    FIRST = found
[last := n for n in range(3)]
while (line := sys.stdin) is None:
    break
match sys.argv:
    case [program, *rest]:
        pass
    case {"key": value, **others}:
        pass
    case str() | bytes() as text:
        pass
for index, (left, right) in enumerate([(1, 2)]):
    pass
with open(__file__) as handle, open(__file__) as (other):
    pass
counter: int
counter += 1
del counter


def configure():
    global SETTINGS, loaded, np, Lazy, helper
    SETTINGS = {}
    for loaded in range(2):
        pass
    import json as np
    class Lazy:
        pass
    def helper():
        global deeper
        deeper = 1
    local = 1
    return local


class Core:
    """A class with attributes bound every way."""

    size = 1
    if (width := 2):
        height: int = 3
    for step in range(2):
        pass

    class Inner:
        def method(self):
            def nested():
                pass
            return nested
''',
    "pkg/sub/__init__.py": "",
    "pkg/sub/deep/__init__.py": "from ... import core\nfrom ..deep.leaf import LEAF\n",
    "pkg/sub/deep/leaf.py": '''"""Relative imports above the package and of missing modules."""
from .... import beyond_top
from ..missing import nothing
from .. import deep as again
LEAF = 1
''',
    "pkg/refused.py": '''"""Valid Python that libcst's grammar refuses."""
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from pkg.core import Core
(flag): bool = True
__all__ = ["Shape", "flag"]


class Shape:
    (side): int = 1
    if (area := 2):
        pass

    def grow(self) -> None:
        global TOTAL
        TOTAL = 1
        def inner():
            pass
''',
    "script.py": "import pkg.sub.deep.leaf\nfrom pkg import *\nfrom pkg.core import Core\n",
}


def _oracle() -> ModuleType:
    return bench_script("oracle_python")


def _stdlib_sample() -> dict[str, str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    if not (root / "os.py").is_file():
        pytest.skip("no standard library sources on this machine")
    paths = sorted(p for p in root.rglob("*.py")
                   if "site-packages" not in p.parts and p.stat().st_size <= MAX_BYTES)
    relative = [p.relative_to(root).as_posix() for p in paths]
    chosen = set(r for r in relative if r.startswith(PACKAGES)) | set(relative[::EVERY])
    for path in list(chosen):  # the packages above each module, so its name is the same
        folder = path.rpartition("/")[0]
        while folder:
            if (root / folder / "__init__.py").is_file():
                chosen.add(f"{folder}/__init__.py")
            folder = folder.rpartition("/")[0]
    return {r: (root / r).read_bytes().decode("utf-8", errors="replace") for r in sorted(chosen)}


def test_tricky_modules_are_listed_whole() -> None:
    oracle = _oracle()
    tally = oracle.Tally()
    oracle.compare_tree(TRICKY, tally)
    assert tally.files == len(TRICKY)
    # the oracles saw every tricky kind, so a pass is not vacuous
    for kind in ("walrus", "match", "global", "for", "with", "assign"):
        assert tally.expected[f"binding:{kind}"] >= 2, kind
    assert tally.expected["edge-imports"] >= 8
    assert tally.misses == []
    assert tally.extra_edges == 0


def test_tricky_bindings_by_name() -> None:
    oracle = _oracle()
    found = oracle.expected_of(TRICKY["pkg/core.py"], "pkg/core.py")
    names = set(found.bindings)
    assert {"found", "last", "line", "program", "rest", "value", "others", "text", "index",
            "left", "right", "handle", "other", "counter", "SETTINGS", "loaded", "np",
            "Lazy", "helper", "deeper", "toml", "FIRST"} <= names
    assert "local" not in names and "n" not in names and "step" not in names
    assert {"Core.size", "Core.width", "Core.height", "Core.step"} <= set(found.attributes)
    assert found.definitions["Core.Inner.method.nested"] == "method"  # as pages show it


def test_import_rules() -> None:
    oracle = _oracle()
    modules = {oracle.module_of(p): p for p in TRICKY}
    rules = oracle.import_targets
    assert rules("pkg/types.py", "import", "types", "", 0, modules) == ("stdlib", "")
    assert rules("pkg/__init__.py", "from", ".", "types", 1, modules) == ("repo", "pkg/types.py")
    assert rules("pkg/sub/deep/leaf.py", "from", "....", "beyond_top", 4, modules) == ("repo", "")
    assert rules("pkg/sub/deep/leaf.py", "from", "..missing", "nothing", 2, modules) == (
        "repo", "pkg/sub/__init__.py")
    assert rules("script.py", "import", "pkg.sub.deep.leaf", "", 0, modules) == (
        "repo", "pkg/sub/deep/leaf.py")
    assert rules("script.py", "from", "pkg.core", "Core", 0, modules) == ("repo", "pkg/core.py")


def test_stdlib_sample_is_listed_whole() -> None:
    oracle = _oracle()
    texts = _stdlib_sample()
    tally = oracle.Tally()
    oracle.compare_tree(texts, tally)
    assert tally.files >= 40
    assert tally.expected["edge-imported-by"] >= 20
    assert tally.expected["binding:global"] >= 2  # concurrent.futures' lazy executors
    assert tally.required_misses() == []
