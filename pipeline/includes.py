"""C/C++ include resolution as a compiler's search path finds a file, with the search path
read from the tree itself.

A compiler looks for ``#include "x.h"`` first in the includer's folder, then, like ``#include
<x.h>``, in its include directories (``-I``). The tree does not say what those are, but its
includes do: where ``<ATen/core/TensorBody.h>`` is found as ``torch/include/ATen/core/
TensorBody.h``, ``torch/include`` is an include root. A folder is taken as a root when at least
two distinct includes of the tree are found under it, and the tree's top folder always is one.
A bare ``<complex.h>`` is then the C library's header, not whichever ``complex.h`` of the tree
lies shallowest.
"""

from __future__ import annotations

import posixpath
from collections import Counter, defaultdict
from collections.abc import Iterable

MIN_TARGETS = 2  # distinct includes found under a folder before it counts as an include root


class IncludeSearch:
    """Resolves ``(kind, target)`` includes of one layer to its files."""

    def __init__(self, paths: Iterable[str], includes: Iterable[str]) -> None:
        self.paths = frozenset(paths)
        self._by_suffix: dict[str, list[str]] | None = None
        self._includes = tuple(includes)  # normalised when the roots are first needed
        self._roots: dict[str, int] | None = None
        self._found: dict[tuple[str, str, str], tuple[str, str]] = {}

    # -- the search path --------------------------------------------------------------------

    @property
    def roots(self) -> dict[str, int]:
        """Include root -> how many distinct includes of the tree are found under it."""
        if self._roots is None:
            found: Counter[str] = Counter()
            targets = {posixpath.normpath(t) for t in self._includes if not t.startswith("/")}
            for target in sorted(targets):
                if "/" not in target or target.startswith("../"):
                    continue  # a bare name says nothing about where the roots are
                for path in self._suffixes().get(target, ()):
                    found[path[: len(path) - len(target)].rstrip("/")] += 1
            roots = {root: count for root, count in found.items() if count >= MIN_TARGETS}
            roots.setdefault("", found.get("", 0))
            self._roots = roots
        return self._roots

    def _suffixes(self) -> dict[str, list[str]]:
        """Path suffix (whole components) -> the paths that end with it."""
        if self._by_suffix is None:
            index: dict[str, list[str]] = defaultdict(list)
            for path in sorted(self.paths):
                parts = path.split("/")
                for start in range(len(parts)):
                    index["/".join(parts[start:])].append(path)
            self._by_suffix = dict(index)
        return self._by_suffix

    # -- resolution -------------------------------------------------------------------------

    def resolve(self, importer: str, kind: str, target: str) -> tuple[str, str]:
        """(group, path): ``repo`` and the file, else ``system`` (``<...>``) or
        ``unresolved`` (``"..."``) with no path. Found once per folder: the files of a
        folder include the same headers."""
        folder = posixpath.dirname(importer)
        key = (folder, kind, target)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._resolve(folder, kind, target)
        return found

    def _resolve(self, folder: str, kind: str, target: str) -> tuple[str, str]:
        written = posixpath.normpath(target)
        if kind == "include":  # the includer's folder first
            local = posixpath.normpath(posixpath.join(folder, written))
            if local in self.paths:
                return "repo", local
        if not written.startswith(("/", "../")):
            candidates = [posixpath.join(root, written) if root else written
                          for root in self.roots]
            found = [path for path in candidates if path in self.paths]
            if found:
                return "repo", self._nearest(folder, written, found)
            if "/" in written:
                # under a folder no other include points at: the file that ends so, nearest
                matches = self._suffixes().get(written, [])
                if matches:
                    return "repo", self._nearest(folder, written, matches)
        return ("system" if kind == "system-include" else "unresolved"), ""

    def _nearest(self, folder: str, written: str, paths: list[str]) -> str:
        """Of several files, the one sharing the longest folder prefix with the includer's
        ``folder``, then under the most used root, then the first in code-point order."""
        parts = folder.split("/") if folder else []

        def key(path: str) -> tuple[int, int, str]:
            shared = 0
            for mine, theirs in zip(parts, path.split("/")[:-1], strict=False):
                if mine != theirs:
                    break
                shared += 1
            root = path[: len(path) - len(written)].rstrip("/")
            return -shared, -self.roots.get(root, 0), path

        return min(paths, key=key)
