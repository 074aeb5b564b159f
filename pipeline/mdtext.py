"""Markdown-safe text: code spans, unbreakable fences, escaped prose, table cells."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"([\\`*_\[\]<>#|~])")
_LINE_START = re.compile(r"^([ \t]*)([-+=]|\d+)", re.MULTILINE)


def longest_run(text: str, char: str = "`") -> int:
    """The longest run of ``char`` in ``text`` (substring tests in C: whole sources go
    through here)."""
    if char not in text:
        return 0
    run = 1
    while char * (run + 1) in text:
        run += 1
        if run == 16:  # a pathological run: one regex pass instead of ever longer searches
            return max(len(m) for m in re.findall(re.escape(char) + "+", text))
    return run


def code(text: str) -> str:
    """An inline code span that no backtick inside can close, on one line."""
    text = text.replace("\n", " ")
    if "`" not in text:
        return f"`{text}`" if text else "` `"
    fence = "`" * (longest_run(text) + 1)
    return f"{fence} {text} {fence}"


def fence(text: str, info: str = "") -> str:
    """A fenced block whose fence is longer than any backtick run inside ``text``."""
    ticks = "`" * max(3, longest_run(text) + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}"


def prose(text: str) -> str:
    """Free text (a docstring, a comment) made inert: no links, headings, HTML or fences."""
    escaped = _ESCAPE.sub(r"\\\1", text)
    return _LINE_START.sub(_escape_marker, escaped)


def _escape_marker(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker.isdigit():  # ``1.`` / ``1)`` start an ordered list; escape what follows
        rest = match.string[match.end():match.end() + 1]
        return indent + marker + ("\\" if rest in ".)" and rest else "")
    return indent + "\\" + marker


def cell(text: str) -> str:
    """Prose for one table cell: a single line, pipes escaped."""
    return prose(" ".join(text.split()))


def slug(heading: str) -> str:
    """The GitHub-style anchor of a heading text."""
    lowered = heading.strip().lower()
    kept = re.sub(r"[^\w\- ]", "", lowered)
    return kept.replace(" ", "-")


def plural(count: int, word: str, words: str = "") -> str:
    """``1 file``, ``2 files``; ``more line`` -> ``3 more lines``."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def size_text(size: int) -> str:
    return f"{size:,} bytes ({size / 1024:,.2f} KB)"
