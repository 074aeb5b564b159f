"""Python 3 import resolution over the files of one tree (pure: paths in, paths out).

Every Python file has a module name and a root: the folder that must be on ``sys.path`` to
import it by that name (the folder above its outermost package, or its own folder for a
script). Absolute imports are looked up the way the interpreter would see them from the
importing file: in its own root first (``sys.path[0]`` for a script, the package's root for
a package module), then the standard library (``sys.stdlib_module_names``), then the other
roots of the tree. There are no implicit relative imports: ``import types`` inside a package
that has its own ``types.py`` is the standard library's. Each imported name resolves on its
own: a submodule where one exists, otherwise the module it is an attribute of.
"""

from __future__ import annotations

import posixpath
import sys
from dataclasses import dataclass

PY_SUFFIXES = (".py", ".pyi")
INIT_NAMES = ("__init__.py", "__init__.pyi")
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True, slots=True)
class ModuleName:
    """Where a Python file sits in the import system."""

    root: str  # folder that must be on sys.path ("" for the tree's root)
    name: str  # dotted name under that root ("" for an ``__init__.py`` at the root itself)


def package_folders(paths: list[str] | set[str]) -> frozenset[str]:
    """Folders that are packages: those with an ``__init__``, and (PEP 420) the folders inside
    a package that hold Python files without one, directly or further down."""
    inits = {posixpath.dirname(p) for p in paths if posixpath.basename(p) in INIT_NAMES}
    holding: set[str] = set()
    for path in paths:
        if path.endswith(PY_SUFFIXES):
            folder = posixpath.dirname(path)
            while folder and folder not in holding:
                holding.add(folder)
                folder = posixpath.dirname(folder)
    packages: set[str] = set()
    for folder in sorted(holding, key=lambda f: f.count("/")):  # parents first
        if folder in inits or posixpath.dirname(folder) in packages:
            packages.add(folder)
    return frozenset(packages)


def module_index(paths: list[str] | set[str]) -> dict[str, ModuleName]:
    """Python file path -> its root and dotted module name."""
    packages = package_folders(paths)
    index: dict[str, ModuleName] = {}
    for path in paths:
        if not path.endswith(PY_SUFFIXES):
            continue
        folder, base = posixpath.split(path)
        stem = base.rsplit(".", 1)[0]
        parts = [] if stem == "__init__" else [stem]
        while folder in packages:
            folder, name = posixpath.split(folder)
            parts.insert(0, name)
        index[path] = ModuleName(folder, ".".join(parts))
    return index


class PythonModules:
    """The modules of one tree, and the resolution of one import of one file."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = set(paths)
        self.index = module_index(paths)
        self.by_root: dict[tuple[str, str], str] = {}
        self.anywhere: dict[str, str] = {}  # dotted name -> file, shallowest root first
        order = sorted(self.index, key=lambda p: (self.index[p].root.count("/"),
                                                   self.index[p].root, p.endswith(".pyi"), p))
        for path in order:
            where = self.index[path]
            self.by_root.setdefault((where.root, where.name), path)
            if where.name:
                self.anywhere.setdefault(where.name, path)
        self.tops = {name.split(".", 1)[0] for name in self.anywhere}

    def module_name(self, path: str) -> str:
        where = self.index.get(path)
        return where.name if where else ""

    def resolve(self, importer: str, kind: str, module: str, names: tuple[str, ...] | list[str],
                level: int) -> tuple[str, str]:
        """(group, target path or "") of one import: group is "repo", "stdlib" or
        "third-party"; an in-tree module that is not a file of the tree has no target."""
        wanted = [n for n in names if n != "*"] if kind == "from" else []
        if level:
            return "repo", self._relative(importer, module.lstrip("."), level, wanted)
        dotted = [f"{module}.{n}" for n in wanted] + [module]
        where = self.index.get(importer)
        root = where.root if where else posixpath.dirname(importer)
        found = self._longest(dotted, lambda name: self.by_root.get((root, name), ""))
        if found:
            return "repo", found
        head = module.split(".", 1)[0]
        if head in STDLIB:
            return "stdlib", ""
        found = self._longest(dotted, lambda name: self.anywhere.get(name, ""))
        if found:
            return "repo", found
        if head in self.tops:
            return "repo", ""
        return "third-party", ""

    @staticmethod
    def _longest(dotted: list[str], look: object) -> str:
        """The file of the first name found, trying each name and then its parents."""
        assert callable(look)
        for name in dotted:
            found: str = look(name)
            if found:
                return found
        name = dotted[-1]
        while "." in name:
            name = name.rpartition(".")[0]
            found = look(name)
            if found:
                return found
        return ""

    def _relative(self, importer: str, rest: str, level: int, wanted: list[str]) -> str:
        base = posixpath.dirname(importer)
        for _ in range(level - 1):
            base = posixpath.dirname(base)
        parts = rest.split(".") if rest else []
        folder = posixpath.join(base, *parts)
        for name in wanted:  # a submodule of that name
            for candidate in (f"{folder}/{name}.py", f"{folder}/{name}.pyi",
                              f"{folder}/{name}/__init__.py", f"{folder}/{name}/__init__.pyi"):
                if candidate in self.paths:
                    return candidate
        while True:  # the module, else the deepest package above it that the import runs
            folder = posixpath.join(base, *parts)
            for candidate in (folder + ".py", folder + ".pyi", f"{folder}/__init__.py",
                              f"{folder}/__init__.pyi"):
                if candidate in self.paths:
                    return candidate
            if not parts:
                return ""
            parts.pop()
