"""Makefiles through tree-sitter-make: rule targets and variables."""

from __future__ import annotations

from tree_sitter import Node

from pipeline.extract.keys import preview
from pipeline.extract.tsnodes import end_line, line, parse, syntax_notes, text_of, walk
from pipeline.records import Extraction, Symbol

# GNU make's built-in special targets: settings, not things one builds.
SPECIAL_TARGETS = frozenset(
    ".PHONY .SUFFIXES .DEFAULT .PRECIOUS .INTERMEDIATE .NOTINTERMEDIATE .SECONDARY "
    ".SECONDEXPANSION .DELETE_ON_ERROR .IGNORE .LOW_RESOLUTION_TIME .SILENT "
    ".EXPORT_ALL_VARIABLES .NOTPARALLEL .ONESHELL .POSIX .WAIT".split()
)
# Recipes are shell text: nothing in them defines a make target or variable.
_OPAQUE = frozenset(("recipe", "raw_text", "shell_text"))


def extract(text: str) -> Extraction:
    root = parse("make", text)
    symbols: list[Symbol] = []
    variables: dict[str, Symbol] = {}
    for node in walk(root, _OPAQUE):
        if node.type == "rule":
            symbols.extend(_targets(node))
        elif node.type == "variable_assignment" and not _target_specific(node):
            name = text_of(node.child_by_field_name("name"))
            value = _flat(text_of(node.child_by_field_name("value")))
            variables.setdefault(name, Symbol("variable", name, line(node), value=preview(value)))
        elif node.type == "define_directive":
            name = text_of(node.child_by_field_name("name"))
            variables.setdefault(name, Symbol("variable", name, line(node), end_line(node)))
    return Extraction(
        language="make",
        symbols=tuple(symbols + list(variables.values())),
        notes=tuple(syntax_notes(root, "make")),
    )


def _targets(rule: Node) -> list[Symbol]:
    """Each target of a rule as written (``%.o``, ``$(LIB)``), special targets left out."""
    targets = next((c for c in rule.named_children if c.type == "targets"), None)
    if targets is None:
        return []
    prerequisites = next((c for c in rule.named_children if c.type == "prerequisites"), None)
    signature = _flat(text_of(targets)) + ":"
    if prerequisites is not None:
        signature += " " + _flat(text_of(prerequisites))
    names = [text_of(t) for t in targets.named_children]
    return [
        Symbol("target", name, line(rule), end_line(rule), preview(signature))
        for name in names
        if name and name not in SPECIAL_TARGETS
    ]


def _target_specific(node: Node) -> bool:
    """``debug: CFLAGS += -g`` sets a variable for some targets only."""
    return any(child.type == "list" for child in node.named_children)


def _flat(value: str) -> str:
    """A value on one line: continuations and runs of white space become single spaces."""
    return " ".join(value.replace("\\\n", " ").split())
