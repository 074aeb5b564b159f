"""JSON key paths with exact lines: a structural scan that lets the C decoder skip the rest.

Only objects and arrays within reach of a listed key are walked character by character; every
string and scalar, and every container too deep to hold a listed key, is consumed by the
standard library's decoder (``scanstring`` and ``raw_decode``), so a 5 MB file costs little
more than parsing it.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from pipeline.extract.keys import Keys, key_name

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# Arrays hold no keys of their own: a path of nested arrays this deep is skipped whole.
_MAX_NESTING = 32


class _Lines:
    """Line numbers of increasing offsets, counted incrementally (the scan only moves on)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def json_keys(text: str, keys: Keys) -> bool:
    """Add the key paths of ``text`` to ``keys``; False where the text stops being JSON.

    The scan validates as it goes (the same decoder as ``json.loads``), so the caller asks
    the standard parser for its message only when this returns False.
    """
    scan = _Scan(text, keys)
    try:
        end = _skip(text, scan.value(_skip(text, 0), "", 0, 0)) if text else 0
    except (ValueError, IndexError, RecursionError):
        return False
    return 0 < end == len(text)


class _Scan:
    def __init__(self, text: str, keys: Keys) -> None:
        self.text = text
        self.keys = keys
        self.lines = _Lines(text)

    def value(self, at: int, path: str, depth: int, nesting: int) -> int:
        """Consume the value at ``at`` (the mapping's keys at ``path``) and return its end."""
        char = self.text[at]
        within_reach = depth < self.keys.max_depth and nesting < _MAX_NESTING
        if char == "{" and within_reach:
            return self.mapping(at + 1, path, depth, nesting + 1)
        if char == "[" and within_reach:
            return self.array(at + 1, path, depth, nesting + 1)
        if char in "{[" and depth >= self.keys.max_depth:
            inner = self.text[at + 1 : at + 256].lstrip()[:1]
            if inner == "{" or (char == "{" and inner != "}"):
                self.keys.too_deep = True
        _, end = _DECODER.raw_decode(self.text, at)
        return int(end)

    def mapping(self, at: int, path: str, depth: int, nesting: int) -> int:
        text = self.text
        at = _skip(text, at)
        if text[at] == "}":
            return at + 1
        while True:
            if text[at] != '"':
                raise ValueError("expected a key")
            key, after = scanstring(text, at + 1)
            child = key_name(path, key)
            self.keys.add(child, self.lines.at(at))
            at = _skip(text, after)
            if text[at] != ":":
                raise ValueError("expected ':'")
            at = _skip(text, at + 1)
            start = at
            at = self.value(at, child, depth + 1, nesting)
            if text[start] not in "{[":
                self.keys.value(child, _scalar(text, start, at))
            at = _skip(text, at)
            if text[at] == "}":
                return at + 1
            if text[at] != ",":
                raise ValueError("expected ',' or '}'")
            at = _skip(text, at + 1)

    def array(self, at: int, path: str, depth: int, nesting: int) -> int:
        text = self.text
        opening, at = at - 1, _skip(text, at)
        if text[at] == "]":
            return at + 1
        if text[at] not in "{[":
            # Most arrays hold only scalars: one C call consumes them whole. (An invalid one
            # is walked item by item, to keep the keys before the error.)
            try:
                items, end = _DECODER.raw_decode(text, opening)
            except ValueError:
                items, end = [{}], 0
            if not any(isinstance(item, (dict, list)) for item in items):
                return int(end)
        item_path = path + "[]"
        while True:
            # Each item is decoded in C; only one with a key path not listed yet is walked
            # again for the lines of its keys (items alike cost one decode each).
            item, end = _DECODER.raw_decode(text, at)
            if self.adds(item, item_path, depth):
                end = self.value(at, item_path, depth, nesting)
            at = _skip(text, end)
            if text[at] == "]":
                return at + 1
            if text[at] != ",":
                raise ValueError("expected ',' or ']'")
            at = _skip(text, at + 1)

    def adds(self, item: Any, path: str, depth: int) -> bool:
        """Whether a decoded value holds a key path within reach that is not listed yet."""
        if isinstance(item, dict):
            if depth >= self.keys.max_depth:
                return False
            for key, value in item.items():
                child = key_name(path, key)
                if not self.keys.has(child) or self.adds(value, child, depth + 1):
                    return True
        elif isinstance(item, list):
            return any(self.adds(value, path + "[]", depth) for value in item)
        return False


def _skip(text: str, at: int) -> int:
    """The first offset from ``at`` that is not JSON white space."""
    if at >= len(text) or text[at] not in " \t\n\r":
        return at
    match = _WS.match(text, at)
    return match.end() if match is not None else at


def _scalar(text: str, start: int, end: int) -> str:
    """A string's decoded value; any other scalar as written (``1.50`` stays ``1.50``)."""
    if text[start] == '"':
        value, _ = scanstring(text, start + 1)
        return str(value)
    return text[start:end]
