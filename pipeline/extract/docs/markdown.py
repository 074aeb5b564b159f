"""Markdown (and every generated page): heading outline, fences, links and code-like words.

Parsed with markdown-it-pyrs (markdown-it compiled from Rust): layer 2+ extraction reads
every page of the layer below, each holding a whole source file in a fence, and the pure
Python port parses those about ten times slower (bench/README.md).
"""

from __future__ import annotations

import os
import re
from functools import cache
from itertools import islice
from typing import Any

from markdown_it_pyrs import MarkdownIt

from pipeline.extract.docs.words import code_words, span_words
from pipeline.records import Extraction, Import, Symbol

Node = Any  # markdown_it_pyrs.Node: name, srcmap (byte offsets), meta, children
_HEADINGS = frozenset({"heading", "lheading"})
_LINKS = frozenset({"link", "image", "autolink"})
# The compiled parser recurses once per level of nesting, on the thread's stack: about
# 20,000 levels of lists (``- `` repeated) to 40,000 of quotes (``>``) or of images (``![``)
# overflow 8 MiB, a SIGSEGV that no Python code can catch. So a text that could nest
# ``DEEP`` levels is read by the pure-Python port instead, which stops nesting at
# markdown-it's ``maxNesting``. Each level takes at least one character of markup, so a
# text shorter than ``_SAFE_CHARS`` is safe unchecked. Block containers nest within one line
# (nesting by indentation needs a text the square of its depth long), as do runs of emphasis
# delimiters, so only a line of ``DEEP`` characters is searched; images nest across lines,
# and are counted.
DEEP = 4000
_SAFE_CHARS = 16384  # well under the 40,000 characters the shallowest crash needs
# A block container marker and the blanks after it; runs of them are taken whole (``++``:
# no backtracking), so a line is searched in one pass however many markers it holds.
_MARKER = r">|[-+*][ \t]|\d{1,9}[.)][ \t]"
_MARKER_RUN = re.compile(rf"(?:(?:{_MARKER})[ \t]*)++")
_MARKERS = re.compile(_MARKER)
_DELIMITER_RUN = re.compile(r"[*_]++")


def too_deep(text: str) -> bool:
    """Could ``text`` nest deep enough to overflow the compiled parser's stack?"""
    if len(text) < _SAFE_CHARS:
        return False
    if text.count("![") >= DEEP:
        return True
    lines = text.split("\n")
    if max(map(len, lines)) < DEEP:
        return False
    return any(len(line) >= DEEP and deep_line(line, DEEP) for line in lines)


def deep_line(line: str, deep: int) -> bool:
    """Does ``line`` hold ``deep`` block container markers in a row (``> > - 1. ...``), or
    a run of ``deep`` emphasis delimiters? Linear in the line's length."""
    for run in _DELIMITER_RUN.finditer(line):
        if run.end() - run.start() >= deep:
            return True
    for run in _MARKER_RUN.finditer(line):
        if run.end() - run.start() >= deep and len(_MARKERS.findall(run.group())) >= deep:
            return True
    return False


# The compiled parser reads a run of reference definitions (``[label]: target`` lines with
# no blank line between them, in any container) in time quadratic in its length: 10,000
# took 2.5 s, 20,000 took 9 s (markdown-it-pyrs 0.4.0; the JavaScript original was fixed
# in markdown-it PR #1004), where the pure-Python port reads 20,000 in 0.35 s, linearly. A
# text with ``REFERENCES`` lines that may define a reference is read by the port.
REFERENCES = 1000
_REFERENCE_LINE = re.compile(r"^[ \t>]*\[[^\n]*\]:", re.MULTILINE)


def many_references(text: str) -> bool:
    """Could ``text`` hold a run of reference definitions long enough to make the compiled
    parser slower than the port? (Counts every line that may open a definition.)"""
    if text.count("]:") < REFERENCES:
        return False
    lines = _REFERENCE_LINE.finditer(text)
    return next(islice(lines, REFERENCES - 1, None), None) is not None


@cache
def _parser() -> MarkdownIt:
    """One parser per process: CommonMark with GFM tables, strikethrough and front matter."""
    return MarkdownIt("commonmark").enable_many(["table", "strikethrough", "front_matter"])


def extract_markdown(text: str) -> Extraction:
    """Headings, fenced blocks, link targets, code-like words and the overview of a page."""
    root = None if too_deep(text) or many_references(text) else _parse_quietly(text)
    if root is None:  # too deep or too slow for the compiled parser, or it panicked
        from pipeline.extract.docs.markdown_fallback import extract_markdown_py

        return extract_markdown_py(text)
    return _extract(root, text)


def _parse_quietly(text: str) -> Node | None:
    """Parse with the compiled parser; ``None`` when it panics (a Rust panic is raised as a
    ``BaseException``, and its message goes straight to file descriptor 2, so that is
    pointed at /dev/null for the call)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        try:
            return _parser().tree(text)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - pyo3's PanicException derives from it
            return None
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Lines:
    """Byte offset -> 1-based line number (the parser's source maps count bytes). A walk asks
    for offsets in order, so each answer counts the newlines since the previous one (in C);
    an offset behind the previous one is counted from the start."""

    def __init__(self, text: str) -> None:
        # An ASCII text's byte offsets are its character offsets: no encoded copy.
        ascii_text = text.isascii()
        self.data: Any = text if ascii_text else text.encode("utf-8")
        self.newline: Any = "\n" if ascii_text else b"\n"
        self.offset = 0
        self.number = 1

    def line(self, offset: int) -> int:
        if offset < self.offset:
            return int(self.data.count(self.newline, 0, offset)) + 1
        self.number += self.data.count(self.newline, self.offset, offset)
        self.offset = offset
        return self.number

    def last_line(self, end: int) -> int:
        """The line of the last byte of a span ending (exclusively) at ``end``."""
        return self.line(max(end - 1, 0))


def _extract(root: Node, text: str) -> Extraction:
    lines = _Lines(text)
    symbols: list[Symbol] = []
    imports: list[Import] = []
    words: set[str] = set()
    seen: set[str] = set()
    image_end = -1  # an image's alt text is no link and no code: skipped up to here
    for node in root.walk():  # pre-order, in the compiled parser (faster than a Python walk)
        name = node.name
        if name in _PASSED:
            continue
        srcmap = node.srcmap
        if srcmap is not None and srcmap[0] < image_end:
            continue
        if name in _HEADINGS:
            heading = _plain(node.children)
            if heading and srcmap:
                level = int(node.meta.get("level", 1))
                symbols.append(Symbol("heading", heading, lines.line(srcmap[0]),
                                      signature="#" * level + " " + heading))
        elif name == "fence":
            symbols.append(_fence(node, lines))
            words.update(code_words(node.meta.get("content", "")))
        elif name == "code_block":
            words.update(code_words(node.meta.get("content", "")))
        elif name == "code_inline":
            words.update(span_words(_plain(node.children)))
        elif name in _LINKS:
            if name == "image" and srcmap is not None:
                image_end = srcmap[1]
            target = str(node.meta.get("url", ""))
            if target and srcmap and target not in seen:
                # Each target once, where it first appears: a keyword page links its
                # documentation page thousands of times.
                seen.add(target)
                imports.append(Import("link", target, lines.line(srcmap[0])))
    symbols.sort(key=lambda s: (s.line, s.name))
    return Extraction(
        language="markdown",
        overview=_overview(root),
        symbols=tuple(symbols),
        imports=tuple(imports),
        identifiers=tuple(sorted(words, key=lambda w: (w.lower(), w))),
    )


# Nodes with nothing to extract of their own, passed over first (the text of headings and
# code spans is read from their children); most nodes of a page are text runs.
_PASSED = frozenset({"text", "text_special", "softbreak", "hardbreak", "html_inline",
                     "html_block", "hr", "front_matter", "root", "paragraph", "list_item",
                     "bullet_list", "ordered_list", "strong", "em", "strikethrough",
                     "blockquote", "table", "thead", "tbody", "trow", "tcell"})


def _fence(node: Node, lines: _Lines) -> Symbol:
    """A fenced block from its opening to its closing fence (or the end, when unclosed)."""
    info = str(node.meta.get("info", "")).strip()
    marker = str(node.meta.get("marker", "`")) * int(node.meta.get("marker_len", 3))
    start, end = node.srcmap if node.srcmap else (0, 0)
    language = info.split()[0] if info else "text"
    return Symbol("codeblock", language, lines.line(start), end_line=lines.last_line(end),
                  signature=(marker + info).strip())


def _plain(children: list[Node]) -> str:
    """The text a reader sees: markup dropped, code spans and image alt text kept (each
    nested node's text stripped). A loop over a stack, not recursion: emphasis may nest
    deeper than Python's recursion limit."""
    if len(children) == 1 and children[0].name == "text":  # most code spans and headings
        return str(children[0].meta.get("content", "")).strip()
    stack: list[tuple[Any, list[str]]] = [(iter(children), [])]
    while True:
        nodes, parts = stack[-1]
        node = next(nodes, None)
        if node is None:
            text = "".join(parts).strip()
            stack.pop()
            if not stack:
                return text
            stack[-1][1].append(text)
        elif node.name in ("text", "text_special"):
            parts.append(str(node.meta.get("content", "")))
        elif node.name == "softbreak":
            parts.append(" ")
        elif node.name == "hardbreak":
            parts.append("\n")
        elif node.name != "html_inline":
            stack.append((iter(node.children), []))


def _overview(root: Node) -> str:
    """The first heading's text and the first top-level paragraph after it."""
    children = root.children
    start = next((i for i, n in enumerate(children) if n.name in _HEADINGS), None)
    title = _plain(children[start].children) if start is not None else ""
    for node in children[start or 0:]:
        if node.name == "paragraph":
            paragraph = _plain(node.children)
            if paragraph:
                return f"{title}\n\n{paragraph}" if title else paragraph
    return title
