"""CMake scripts through tree-sitter-cmake: functions, macros, targets and variables."""

from __future__ import annotations

from tree_sitter import Node

from pipeline.extract.keys import preview
from pipeline.extract.tsnodes import end_line, line, parse, syntax_notes, text_of, walk
from pipeline.records import Extraction, Symbol

_TARGETS = frozenset(("add_library", "add_executable", "add_custom_target"))
_VARIABLES = frozenset(("set", "option"))
# Keywords that say what kind of target it is; shown in its signature.
_TARGET_KINDS = frozenset(
    "STATIC SHARED MODULE OBJECT INTERFACE IMPORTED ALIAS GLOBAL UNKNOWN ALL "
    "EXCLUDE_FROM_ALL WIN32 MACOSX_BUNDLE".split()
)
# Commands inside a function or macro run per call: their names are parameters, not globals.
_BODIES = frozenset(("function_def", "macro_def"))


def extract(text: str) -> Extraction:
    root = parse("cmake", text)
    symbols: list[Symbol] = []
    variables: dict[str, Symbol] = {}
    for node in walk(root, _BODIES):  # a function's body is a template: not entered
        if node.type in _BODIES:
            symbol = _definition(node)
            if symbol is not None:
                symbols.append(symbol)
        elif node.type == "normal_command":
            command = text_of(node.child_by_field_name("name") or node.named_children[0]).lower()
            arguments = _arguments(node)
            if not arguments:
                continue
            if command in _TARGETS:
                kinds = [a for a in arguments[1:] if a in _TARGET_KINDS]
                signature = f"{command}({' '.join([arguments[0], *kinds])})"
                symbols.append(
                    Symbol("target", arguments[0], line(node), end_line(node), signature)
                )
            elif command in _VARIABLES:
                variables.setdefault(arguments[0], _variable(command, arguments, line(node)))
    return Extraction(
        language="cmake",
        symbols=tuple(symbols + list(variables.values())),
        notes=tuple(syntax_notes(root, "cmake")),
    )


def _definition(node: Node) -> Symbol | None:
    """``function(name args)`` / ``macro(name args)`` from its opening command to its end."""
    header = node.named_children[0] if node.named_children else None
    arguments = _arguments(header) if header is not None else []
    if header is None or not arguments:
        return None
    keyword = "function" if node.type == "function_def" else "macro"
    signature = f"{keyword}({' '.join(arguments)})"
    return Symbol("function", arguments[0], line(node), end_line(node), signature)


def _variable(command: str, arguments: list[str], at: int) -> Symbol:
    """``set(NAME values...)``, or ``option(NAME "help" [default])`` (default ``OFF``)."""
    name = arguments[0]
    if command == "option":
        help_text = arguments[1] if len(arguments) > 1 else ""
        default = arguments[2] if len(arguments) > 2 else "OFF"
        return Symbol("variable", name, at, value=default, summary=preview(help_text))
    return Symbol("variable", name, at, value=preview(" ".join(arguments[1:])))


def _arguments(command: Node) -> list[str]:
    """The command's arguments as written, quoted ones without their quotes."""
    found: list[str] = []
    for child in command.named_children:
        if child.type != "argument_list":
            continue
        for argument in child.named_children:
            if argument.type != "argument":
                continue
            value = text_of(argument)
            inner = argument.named_children[0] if argument.named_children else None
            if inner is not None and inner.type == "quoted_argument" and len(value) >= 2:
                value = value[1:-1]
            found.append(value)
    return found
