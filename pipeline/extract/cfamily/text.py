"""Text from C-family syntax nodes: one-line heads, comment bodies, the file overview, summaries."""

from __future__ import annotations

import re
import textwrap

from tree_sitter import Node

from pipeline.prose import shorten

_COMMENT_OR_STRING = re.compile(
    rb"(\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')|//[^\n]*|/\*.*?\*/", re.DOTALL
)
_SPACES = re.compile(r"\s+")
_CONTINUATION = re.compile(r"\\\n")
# A line of a comment that is only decoration (``//====``, ``/*****``, ``-----``).
_DECORATION = re.compile(r"^[\s*=\-_/#~+.<>|!]*$")
# Lines that talk to tools, not to readers.
_TOOL_LINE = re.compile(r"^(NOLINT|clang-format|IWYU pragma|cppcheck-suppress|@lint-)")
_DOXYGEN_BRIEF = re.compile(r"^[@\\]brief\s+")
# Paragraphs of license boilerplate, dropped from the overview (the rest of the comment stays).
# Copyright lines, dropped even from a paragraph that goes on about something else.
_COPYRIGHT_LINE = re.compile(
    r"^\s*(copyright\b|\(c\)|©|spdx-license-identifier:|all rights reserved\.?\s*$)",
    re.IGNORECASE,
)
_LICENSE = re.compile(
    r"copyright|licen[cs]e|warrant|redistribut|all rights reserved|spdx-|"
    r"permission is hereby granted",
    re.IGNORECASE,
)


def node_text(node: Node, source: bytes) -> str:
    """A node's source text on one line."""
    return one_line(source[node.start_byte : node.end_byte])


def end_line_of(node: Node) -> int:
    """The 1-based last line holding a character of the node (a trailing newline is not one)."""
    row, column = node.end_point
    if column == 0 and row > node.start_point[0]:
        return row
    return row + 1


def one_line(raw: bytes) -> str:
    """Source text on one line: comments dropped, line continuations and whitespace collapsed."""
    if b"/" in raw:
        raw = _COMMENT_OR_STRING.sub(_keep_strings, raw)
    text = raw.decode("utf-8", "replace")
    if "  " not in text and "\n" not in text and "\t" not in text:
        return text.strip()  # the common case: already one line
    if "\\" in text:
        text = _CONTINUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _keep_strings(match: re.Match[bytes]) -> bytes:
    return match.group(1) or b" "


def comment_lines(raw: bytes) -> list[str]:
    """The lines of one comment without its markers (``//``, ``///``, ``/* */``, leading ``*``).

    Indentation common to a paragraph is removed by the caller, which sees whole paragraphs.
    """
    text = raw.decode("utf-8", "replace")
    if text.startswith("/*"):
        body = text[2:-2] if text.endswith("*/") and len(text) >= 4 else text[2:]
        first, *rest = body.lstrip("*!").split("\n")
        if all(line.lstrip().startswith("*") or not line.strip() for line in rest):
            rest = [_strip_star(line) for line in rest]
        else:
            rest = textwrap.dedent("\n".join(rest)).split("\n")
        lines = [first.strip(), *rest]
    else:
        lines = [_strip_slashes(line) for line in text.split("\n")]
    return ["" if _DECORATION.match(line) else line.rstrip() for line in lines]


def _strip_star(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("*"):
        return stripped.lstrip("*")
    return line


def _strip_slashes(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("//"):
        stripped = stripped[2:]
        if stripped[:1] in ("/", "!"):
            stripped = stripped[1:]
    return stripped


def overview(root: Node, source: bytes) -> str:
    """The leading comment block of a file, license paragraphs dropped, paragraphs kept."""
    comments = _leading_comments(root, source)
    paragraphs: list[str] = []
    previous: Node | None = None
    current: list[str] = []
    for comment in comments:
        # A blank source line between two comments separates paragraphs too.
        if previous is not None and comment.start_point[0] > previous.end_point[0] + 1:
            current.append("")
        lines = comment_lines(source[comment.start_byte : comment.end_byte])
        current.extend(line for line in lines if not _COPYRIGHT_LINE.match(line))
        previous = comment
    for paragraph in _paragraphs(current):
        if not _LICENSE.search(paragraph):
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


def _leading_comments(root: Node, source: bytes) -> list[Node]:
    """Comments before the first token that is not a comment or ``#pragma once``; a conditional
    that wraps the whole file (an include guard, ``#if !defined(TORCH_STABLE_ONLY)``) is looked
    into, after its condition."""
    comments: list[Node] = []
    pending = list(root.children)
    while pending:
        node = pending.pop(0)
        if node.type == "comment":
            comments.append(node)
        elif node.type == "preproc_call" and _is_pragma_once(node, source):
            continue
        elif node.type in ("preproc_if", "preproc_ifdef") and all(
            other.type == "comment" for other in pending
        ):
            start = _body_start(node)
            pending = [child for child in node.named_children if child.start_byte >= start]
        else:
            break
    return comments


def _body_start(conditional: Node) -> int:
    """Where the lines governed by a conditional start (after an include guard's define)."""
    guard = _guard_define(conditional) if conditional.type == "preproc_ifdef" else None
    if guard is not None:
        return guard.end_byte
    head = conditional.child_by_field_name("condition") or conditional.child_by_field_name("name")
    return head.end_byte if head is not None else conditional.end_byte


def _is_pragma_once(node: Node, source: bytes) -> bool:
    return node_text(node, source) in ("#pragma once",)


def _guard_define(node: Node) -> Node | None:
    """The ``#define X`` of an include guard ``#ifndef X / #define X`` (else None)."""
    if node.child_count < 3 or node.children[0].type != "#ifndef":
        return None
    name = node.child_by_field_name("name")
    define = next((c for c in node.named_children if c.type != "identifier"), None)
    if name is None or define is None or define.type != "preproc_def":
        return None
    defined = define.child_by_field_name("name")
    if (
        defined is None
        or defined.text != name.text
        or define.child_by_field_name("value") is not None
    ):
        return None
    return define


def is_include_guard(define: Node) -> bool:
    """Whether a ``#define`` is the guard of its enclosing ``#ifndef``."""
    parent = define.parent
    return parent is not None and parent.type == "preproc_ifdef" and _guard_define(parent) == define


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    block: list[str] = []
    for line in lines + [""]:
        if line.strip():
            block.append(line)
        elif block:
            paragraphs.append("\n".join(textwrap.dedent("\n".join(block)).split("\n")))
            block = []
    return paragraphs


def summary_above(node: Node, source: bytes) -> str:
    """First meaningful line of the comments directly above ``node`` (no blank line between)."""
    comments: list[Node] = []
    row = node.start_point[0]
    previous = node.prev_sibling
    while previous is not None and previous.type == "comment":
        end = previous.end_point[0]
        # The first comment must end on the line before: ``/*implicit*/ Tensor(...)`` has none.
        if end < row - 1 or (not comments and end >= row):
            break
        comments.append(previous)
        row = previous.start_point[0]
        previous = previous.prev_sibling
    if comments and previous is not None and previous.end_point[0] == comments[-1].start_point[0]:
        comments.pop()  # a trailing comment of the line before, not a doc comment
    for comment in reversed(comments):
        for line in comment_lines(source[comment.start_byte : comment.end_byte]):
            line = _DOXYGEN_BRIEF.sub("", line.strip())
            if line and not _TOOL_LINE.match(line):
                return shorten(line, 200)
    return ""
