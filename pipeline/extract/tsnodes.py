"""Tree-sitter: one language and one parser per grammar per process, and node helpers."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache

import tree_sitter

from pipeline.extract import GrammarMissing
from pipeline.records import Note

# grammar -> the PyPI module that ships it (pinned in pyproject.toml).
GRAMMARS: dict[str, str] = {
    "bash": "tree_sitter_bash",
    "cmake": "tree_sitter_cmake",
    "make": "tree_sitter_make",
    "c": "tree_sitter_c",
    "cpp": "tree_sitter_cpp",
    "cuda": "tree_sitter_cuda",
}


@cache
def language(grammar: str) -> tree_sitter.Language:
    """The grammar's language (raises :class:`GrammarMissing`)."""
    try:
        module = importlib.import_module(GRAMMARS[grammar])
    except ImportError as error:
        raise GrammarMissing(f"{GRAMMARS[grammar]} is not installed ({error})") from error
    return tree_sitter.Language(module.language())


@cache
def parser(grammar: str) -> tree_sitter.Parser:
    """The grammar's parser; creating one costs more than parsing a header."""
    return tree_sitter.Parser(language(grammar))


def parse(grammar: str, text: str) -> tree_sitter.Node:
    """The root node of ``text`` (raises :class:`GrammarMissing`)."""
    # Replacement keeps lone surrogates from failing the encoding; rows are unaffected.
    return parser(grammar).parse(text.encode("utf-8", "replace")).root_node


def text_of(node: tree_sitter.Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def text_before(node: tree_sitter.Node, child: tree_sitter.Node) -> str:
    """The node's text up to where ``child`` starts (byte offsets, sliced before decoding)."""
    return (node.text or b"")[: child.start_byte - node.start_byte].decode("utf-8", "replace")


def line(node: tree_sitter.Node) -> int:
    return node.start_point.row + 1


def end_line(node: tree_sitter.Node) -> int:
    """The last line holding text of the node (some grammars let trailing blank lines in)."""
    return line(node) + text_of(node).rstrip().count("\n")


def walk(node: tree_sitter.Node, skip: frozenset[str] = frozenset()) -> Iterator[tree_sitter.Node]:
    """Every named node in source order; the subtrees of ``skip`` types are not entered."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current.type not in skip:
            stack.extend(reversed(current.named_children))


def error_nodes(root: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The outermost ERROR and MISSING nodes, in source order; only subtrees that hold an
    error are entered, so a clean tree costs one flag test."""
    broken: list[tree_sitter.Node] = []
    stack = [root] if root.has_error or root.is_missing else []
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            broken.append(current)
            continue
        # missing tokens may be anonymous: children are looked at, not named children only
        stack.extend(reversed([c for c in current.children if c.has_error or c.is_missing]))
    return broken


def syntax_notes(root: tree_sitter.Node, grammar: str) -> list[Note]:
    """One note at the first place the grammar could not parse, with a count of the others."""
    broken = error_nodes(root)
    if not broken:
        return []
    first = broken[0]
    if first.is_missing:
        message = f"the {grammar} grammar expected `{first.type}` here"
    else:
        snippet = " ".join(text_of(first).replace("`", "'").split())[:60]
        message = f"the {grammar} grammar could not parse `{snippet}`"
    if len(broken) > 1:
        message += f" (and {len(broken) - 1} more places)"
    return [Note("parse-error", message, line(first))]
