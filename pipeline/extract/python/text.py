"""Text helpers for the Python extractor: one-line headers, cut values, docstrings, examples."""

from __future__ import annotations

import re
import textwrap

from pipeline.prose import shorten
from pipeline.records import Example

LIMIT = 120  # longest signature or value shown, "…" included
_OPENERS = "([{"
_CLOSERS = ")]}"
# ``Example::`` (reST literal block) and Google style ``Example:`` / ``Examples:`` sections
_EXAMPLE_MARK = re.compile(r"\s*Examples?::?\s*$")
# NumPy style: an ``Examples`` heading underlined with dashes
_NUMPY_HEADING = re.compile(r"\s*Examples?\s*$")
_UNDERLINE = re.compile(r"\s*-{3,}\s*$")
_UPPER = re.compile(r"_*[A-Z][A-Z0-9_]*")


def binding_kind(name: str, attribute: bool) -> str:
    """The symbol kind of a bound name: a class's ``attribute``, else a ``constant`` when
    it is written in capitals (``MAX_SIZE``), else a ``variable``."""
    if attribute:
        return "attribute"
    return "constant" if _UPPER.fullmatch(name) else "variable"


def cut(text: str, limit: int = LIMIT, *, force: bool = False) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and "…" (also with ``force``)."""
    if force and len(text) <= limit:
        return text[: limit - 1].rstrip() + "…"
    return shorten(text, limit)


def strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    if "#" not in line:
        return line
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote:
            if char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def one_line(code: str) -> str:
    """Code as one line: comments of continuation lines dropped, line breaks become one space.

    A break right after an opening or before a closing bracket vanishes, so
    ``f(\\n    a,\\n)`` reads ``f(a,)``; single-line code is kept exactly as written.
    """
    if "\n" not in code:
        return code.strip()
    stripped = (strip_comment(line).strip() for line in code.split("\n"))
    pieces = [piece for piece in stripped if piece]
    joined = ""
    for piece in pieces:
        if joined and joined[-1] not in _OPENERS and piece[0] not in _CLOSERS:
            joined += " "
        joined += piece
    return joined


def segment(
    lines: list[str], start: tuple[int, int], end: tuple[int, int], limit: int | None = LIMIT
) -> str:
    """The code between two (line, character column) places of the source, as one line.

    With a ``limit`` the text is cut, and only the first few hundred characters are read, so a
    5,000-line table costs nothing; without one (headers) the whole span is used.
    """
    (line, col), (end_line, end_col) = start, end
    if line == end_line:
        text = one_line(lines[line - 1][col:end_col])
        return cut(text, limit) if limit else text
    parts = [lines[line - 1][col:]]
    size = len(parts[0])
    for index in range(line, end_line - 1):
        if limit and size > 4 * limit:
            return cut(one_line("\n".join(parts)), limit, force=True)
        parts.append(lines[index])
        size += len(lines[index])
    parts.append(lines[end_line - 1][:end_col])
    text = one_line("\n".join(parts))
    return cut(text, limit) if limit else text


def clean_docstring(doc: str) -> str:
    """A docstring as prose: cleaned like ``inspect.cleandoc``, paragraphs one blank line apart."""
    lines = doc.expandtabs().split("\n")
    margin = min(
        (len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()), default=0
    )
    out: list[str] = []
    for line in [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def summary_of(doc: str | None) -> str:
    """The first non-blank line of a docstring."""
    if not doc:
        return ""
    for line in doc.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def examples_in(doc: str, owner: str, first_line: int) -> list[Example]:
    """Doctest blocks, ``Example::`` literal blocks, Google style ``Example:`` / ``Examples:``
    sections and NumPy style ``Examples`` sections of one docstring, with their file lines.

    ``first_line`` is where the string starts; line ``i`` of the value is line ``first_line + i``
    of the file (escaped line breaks inside the string would shift that, and are rare).
    """
    if ">>>" not in doc and "Example" not in doc:
        return []
    lines = doc.expandtabs().split("\n")
    found: list[Example] = []
    covered: set[int] = set()
    index = 0
    while index < len(lines):
        block = None
        if _EXAMPLE_MARK.fullmatch(lines[index]):
            block = _literal_block(lines, index)
        elif (_NUMPY_HEADING.fullmatch(lines[index]) and index + 1 < len(lines)
              and _UNDERLINE.fullmatch(lines[index + 1])):
            block = _numpy_section(lines, index + 1)
        if block is not None:
            start, stop = block
            if start < stop:
                found.append(_example(lines, start, stop, owner, first_line))
                covered.update(range(start, stop))
                index = stop
                continue
        index += 1
    index = 0
    while index < len(lines):
        if index not in covered and lines[index].lstrip().startswith(">>>"):
            stop = index
            while stop < len(lines) and lines[stop].strip() and stop not in covered:
                stop += 1
            found.append(_example(lines, index, stop, owner, first_line))
            index = stop
            continue
        index += 1
    return sorted(found, key=lambda example: example.line)


def _literal_block(lines: list[str], mark: int) -> tuple[int, int]:
    """The indented block after an ``Example::`` line: (first, past-last) line indexes."""
    indent = len(lines[mark]) - len(lines[mark].lstrip())
    start = mark + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    stop = start
    while stop < len(lines):
        line = lines[stop]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        stop += 1
    while stop > start and not lines[stop - 1].strip():
        stop -= 1
    return start, stop


def _numpy_section(lines: list[str], underline: int) -> tuple[int, int]:
    """The body of a NumPy style section: up to the next underlined heading or the end."""
    start = underline + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    stop = start
    while stop < len(lines):
        if (stop + 1 < len(lines) and lines[stop].strip()
                and _UNDERLINE.fullmatch(lines[stop + 1])):
            break
        stop += 1
    while stop > start and not lines[stop - 1].strip():
        stop -= 1
    return start, stop


def _example(lines: list[str], start: int, stop: int, owner: str, first_line: int) -> Example:
    text = textwrap.dedent("\n".join(line.rstrip() for line in lines[start:stop]))
    return Example(owner=owner, line=first_line + start, text=text)
