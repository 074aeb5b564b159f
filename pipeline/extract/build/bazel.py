"""Bazel BUILD, WORKSPACE and .bzl files through Python's ``ast`` (Starlark is Python syntax)."""

from __future__ import annotations

import ast

from pipeline.extract.keys import preview
from pipeline.records import Extraction, Import, Note, Symbol


def extract(text: str) -> Extraction:
    module, notes = _parse(text)
    symbols: list[Symbol] = []
    imports: list[Import] = []
    lines = text.split("\n")
    for statement in module.body if module is not None else []:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            call = statement.value
            if _callee(call) == "load":
                found = _load(call)
                if found is not None:
                    imports.append(found)
            else:
                target = _target(call)
                if target is not None:
                    symbols.append(target)
        elif isinstance(statement, ast.FunctionDef):
            symbols.append(_function(statement))
        elif isinstance(statement, ast.Assign):
            symbols.extend(_variables(statement, lines))
    return Extraction(
        language="bazel", symbols=tuple(symbols), imports=tuple(imports), notes=tuple(notes)
    )


def _parse(text: str) -> tuple[ast.Module | None, list[Note]]:
    """The module, or on a syntax error a note and the statements before the error line."""
    try:
        return ast.parse(text), []
    except SyntaxError as error:
        note = Note("parse-error", error.msg, error.lineno or 0)
    except ValueError as error:  # NUL bytes
        return None, [Note("parse-error", str(error), 0)]
    if note.line > 1:
        head = "\n".join(text.split("\n")[: note.line - 1])
        try:
            return ast.parse(head), [note]
        except (SyntaxError, ValueError):
            pass
    return None, [note]


def _callee(call: ast.Call) -> str:
    """``cc_library``, ``native.cc_library``; "" for anything that is not a dotted name."""
    parts: list[str] = []
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(node.id)
    return ".".join(reversed(parts))


def _load(call: ast.Call) -> Import | None:
    """``load("//x:y.bzl", "a", b = "c")`` imports ``a`` and ``c`` (bound as ``b``)."""
    strings = [
        a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
    ]
    if not strings:
        return None
    names = list(strings[1:])
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg and isinstance(value, ast.Constant) and isinstance(value.value, str):
            names.append(f"{value.value} as {keyword.arg}")
    return Import("from", strings[0], call.lineno, call.end_lineno or call.lineno, tuple(names))


def _target(call: ast.Call) -> Symbol | None:
    """A rule or macro call with a literal ``name = "..."``: the target it declares."""
    callee = _callee(call)
    for keyword in call.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            name = keyword.value.value
            if isinstance(name, str) and callee:
                signature = f'{callee}(name = "{name}")'
                return Symbol(
                    "target", name, call.lineno, call.end_lineno or call.lineno, signature
                )
    return None


def _function(node: ast.FunctionDef) -> Symbol:
    docstring = ast.get_docstring(node) or ""
    summary = docstring.strip().split("\n", 1)[0] if docstring else ""
    signature = f"def {node.name}({ast.unparse(node.args)})"
    return Symbol(
        "function",
        node.name,
        node.lineno,
        node.end_lineno or node.lineno,
        signature,
        summary=summary,
    )


def _variables(node: ast.Assign, lines: list[str]) -> list[Symbol]:
    """Module-level names, previewed by the first line of their value as written."""
    first = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
    value = first.partition("=")[2].strip()
    if (node.end_lineno or node.lineno) > node.lineno:
        value += "\n…"  # preview() shows the first line and marks the rest
    return [
        Symbol(
            "variable", target.id, node.lineno, node.end_lineno or node.lineno, value=preview(value)
        )
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
