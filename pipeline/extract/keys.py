"""Key paths of data files: naming, value previews and first-occurrence collection."""

from __future__ import annotations

import json
import re

from pipeline.records import Symbol

PREVIEW = 80
_PLAIN = re.compile(r'(?:(?!\[\])[^.\s"])+')


def preview(value: str) -> str:
    """A scalar as a one-line value: its first line, cut to ``PREVIEW`` characters with …."""
    first, _, rest = value.partition("\n")
    cut = first + "…" if rest else first
    return cut if len(cut) <= PREVIEW else cut[: PREVIEW - 1] + "…"


def key_name(parent: str, key: str) -> str:
    """The path of ``key`` in the mapping at ``parent`` (``""`` at the top, ``a[]`` in a list).

    A key that would make the path ambiguous (empty, or holding ``.``, ``[]``, ``"`` or
    white space) is written as a JSON string: ``tool."setup.py"``.
    """
    if not _PLAIN.fullmatch(key):
        key = json.dumps(key, ensure_ascii=False)
    return f"{parent}.{key}" if parent else key


class Keys:
    """The key symbols of one file: each path once (per document), at its first line."""

    def __init__(self, max_depth: int, max_keys: int = 0) -> None:
        self.max_depth = max_depth
        self.max_keys = max_keys  # 0: no limit
        self.too_deep = False  # a key below ``max_depth`` levels was left out
        self.dropped = 0  # keys left out past ``max_keys``
        self._entries: list[tuple[str, int, str]] = []
        self._index: dict[str, int] = {}  # path -> entry, for the current document

    def add(self, path: str, line: int, value: str = "") -> None:
        if path not in self._index:
            if self.max_keys and len(self._entries) >= self.max_keys:
                self.dropped += 1
                return
            self._index[path] = len(self._entries)
            self._entries.append((path, line, preview(value) if value else ""))

    def value(self, path: str, value: str) -> None:
        """The scalar value of a path added just before (the first occurrence keeps its own)."""
        index = self._index.get(path)
        if index is not None and index == len(self._entries) - 1:
            name, line, old = self._entries[index]
            if not old and value:
                self._entries[index] = (name, line, preview(value))

    def extend(self, other: Keys) -> None:
        """Take every entry of ``other`` (a trial run that succeeded)."""
        self._entries.extend(other._entries)
        self.too_deep = self.too_deep or other.too_deep
        self.dropped += other.dropped

    def new_document(self) -> None:
        """A new YAML document: its paths are listed again, at their own lines."""
        self._index.clear()

    def has(self, path: str) -> bool:
        return path in self._index

    def symbols(self) -> tuple[Symbol, ...]:
        ordered = sorted(self._entries, key=lambda e: (e[1], e[0]))
        return tuple(Symbol("key", name, line, value=value) for name, line, value in ordered)
