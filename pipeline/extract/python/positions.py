"""Exact statement lines for the libcst visitor, cheaply from ``ast``, else from libcst metadata.

libcst's ``PositionProvider`` costs more than the parse itself, while ``ast.parse`` of the same
text costs a tenth of it. Both trees hold the same statements in the same pre-order, so
:class:`AstPositions` hands the visitor the ``ast`` twin of each statement it meets, checking
the statement type at every step; any disagreement raises :class:`Misaligned` and the caller
falls back to :class:`MetaPositions` (syntax newer than the running Python takes that path too).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import CodeRange

from pipeline.extract.python.text import LIMIT, segment, strip_comment


class Misaligned(Exception):
    """The ``ast`` statements do not pair up with the libcst ones."""


# libcst statement type -> the ``ast`` type name it pairs with (async forms map to themselves).
_PAIRS: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.ClassDef: ("ClassDef",),
    cst.FunctionDef: ("FunctionDef", "AsyncFunctionDef"),
    cst.If: ("If",),
    cst.For: ("For", "AsyncFor"),
    cst.While: ("While",),
    cst.Try: ("Try",),
    cst.TryStar: ("TryStar",),
    cst.With: ("With", "AsyncWith"),
    cst.Match: ("Match",),
    cst.Expr: ("Expr",),
    cst.Assign: ("Assign",),
    cst.AnnAssign: ("AnnAssign",),
    cst.AugAssign: ("AugAssign",),
    cst.Import: ("Import",),
    cst.ImportFrom: ("ImportFrom",),
    cst.Return: ("Return",),
    cst.Raise: ("Raise",),
    cst.Pass: ("Pass",),
    cst.Break: ("Break",),
    cst.Continue: ("Continue",),
    cst.Del: ("Delete",),
    cst.Global: ("Global",),
    cst.Nonlocal: ("Nonlocal",),
    cst.Assert: ("Assert",),
    cst.TypeAlias: ("TypeAlias",),
}


_BODY = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.AsyncWith})
_BODY_ELSE = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While})
_TRY = frozenset({ast.Try, ast.TryStar})


def flatten(tree: ast.Module) -> list[ast.stmt]:
    """Every statement of the tree in the order libcst visits them (pre-order, bodies in order)."""
    out: list[ast.stmt] = []
    stack: list[ast.stmt] = tree.body[::-1]
    while stack:
        node = stack.pop()
        out.append(node)
        kind = type(node)
        if kind in _BODY:
            stack.extend(node.body[::-1])  # type: ignore[attr-defined]
        elif kind in _BODY_ELSE:
            stack.extend(node.orelse[::-1])  # type: ignore[attr-defined]
            stack.extend(node.body[::-1])  # type: ignore[attr-defined]
        elif kind in _TRY:
            assert isinstance(node, (ast.Try, ast.TryStar))
            children = node.body[:]
            for handler in node.handlers:
                children.extend(handler.body)
            children.extend(node.orelse)
            children.extend(node.finalbody)
            stack.extend(children[::-1])
        elif kind is ast.Match:
            assert isinstance(node, ast.Match)
            stack.extend([s for case in node.cases for s in case.body][::-1])
    return out


def _docstring(body: list[ast.stmt]) -> tuple[str, int] | None:
    if body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value, body[0].lineno
    return None


Place = tuple[int, int]  # (line, character column)


class Positions:
    """Lines and source text of the statements the visitor meets, one ``take`` per statement.

    Text comes from slices of the source, never from libcst's code generator (which costs a
    third of the visit): headers whole, assignments cut to one short line.
    """

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def take(self, node: cst.CSTNode) -> tuple[int, int]:
        """(first line, last line) of ``node``, the next statement in visit order."""
        raise NotImplementedError

    def decorator_lines(self) -> list[int]:
        """Lines of the decorators of the class or function last taken."""
        raise NotImplementedError

    def decorator_texts(self) -> list[str]:
        """The decorators of the class or function last taken, as written without ``@``."""
        raise NotImplementedError

    def docstring(self) -> tuple[str, int] | None:
        """(value, first line) of the docstring of the class or function last taken."""
        raise NotImplementedError

    def module_docstring(self) -> tuple[str, int] | None:
        raise NotImplementedError

    def params_text(self) -> str:
        """The parameter list of the function last taken, as written, on one line."""
        raise NotImplementedError

    def returns_text(self) -> str:
        """Its return annotation ("" for none)."""
        raise NotImplementedError

    def type_params_text(self) -> str:
        """``[T]`` of a PEP 695 class or function ("" for none)."""
        raise NotImplementedError

    def class_args(self) -> tuple[list[str], list[str]]:
        """Bases and keywords (``metaclass=M``) of the class last taken, as written."""
        raise NotImplementedError

    def handler_texts(self) -> list[str]:
        """Exception types of the ``try`` last taken ("" for a bare ``except``)."""
        raise NotImplementedError

    def handler_lines(self) -> list[int]:
        """Lines of the ``except`` clauses of the ``try`` last taken."""
        raise NotImplementedError

    def statement_text(self) -> str:
        """The small statement last taken, as one cut line."""
        raise NotImplementedError

    def value_text(self) -> str:
        """The right-hand side of the assignment last taken, as one cut line ("" for none)."""
        raise NotImplementedError

    def done(self) -> bool:
        """Every statement was taken exactly once."""
        return True

    def _slice(self, start: Place, end: Place, limit: int | None = None) -> str:
        return segment(self._lines, start, end, limit)


class AstPositions(Positions):
    """Positions from the ``ast`` twin of each statement (``ast`` columns are UTF-8 bytes)."""

    def __init__(self, tree: ast.Module, lines: list[str]) -> None:
        super().__init__(lines)
        self._tree = tree
        self._stmts = flatten(tree)
        self._next = 0
        self._last: ast.stmt = ast.Pass()

    def take(self, node: cst.CSTNode) -> tuple[int, int]:
        index = self._next
        if index >= len(self._stmts):
            raise Misaligned(f"no ast statement left for {type(node).__name__}")
        twin = self._stmts[index]
        if type(twin).__name__ not in _PAIRS.get(type(node), ()):
            raise Misaligned(f"{type(node).__name__} met ast {type(twin).__name__}")
        if getattr(twin, "type_params", None):
            raise Misaligned("PEP 695 type parameters are sliced from libcst positions")
        self._next = index + 1
        self._last = twin
        return twin.lineno, twin.end_lineno or twin.lineno

    def focus(self, node: ast.stmt) -> None:
        """Make ``node`` the statement the text methods describe (for callers that walk the
        ``ast`` tree themselves rather than pair it with libcst's through :meth:`take`)."""
        self._last = node

    def decorator_lines(self) -> list[int]:
        return [decorator.lineno for decorator in getattr(self._last, "decorator_list", ())]

    def decorator_texts(self) -> list[str]:
        return [self._text(d) for d in getattr(self._last, "decorator_list", ())]

    def docstring(self) -> tuple[str, int] | None:
        return _docstring(getattr(self._last, "body", []))

    def module_docstring(self) -> tuple[str, int] | None:
        return _docstring(self._tree.body)

    def params_text(self) -> str:
        node = self._last
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        args = node.args
        parts: list[ast.AST | None] = [*args.posonlyargs, *args.args, args.vararg,
                                       *args.kwonlyargs, args.kwarg, *args.defaults,
                                       *args.kw_defaults]
        opening = self._find("(", self._start(node))
        after = (opening[0], opening[1] + 1)
        ends = [self._end(part) for part in parts if part is not None]
        closing = (self._last_closer(max(ends)) if ends else None) or self._find(")", after)
        return self._slice(after, closing).rstrip(",").rstrip()

    def returns_text(self) -> str:
        returns = getattr(self._last, "returns", None)
        return self._wrapped(returns) if returns is not None else ""

    def type_params_text(self) -> str:
        return ""

    def class_args(self) -> tuple[list[str], list[str]]:
        node = self._last
        assert isinstance(node, ast.ClassDef)
        return [self._text(b) for b in node.bases], [self._text(k) for k in node.keywords]

    def handler_texts(self) -> list[str]:
        handlers = getattr(self._last, "handlers", ())
        return [self._wrapped(h.type) if h.type is not None else "" for h in handlers]

    def handler_lines(self) -> list[int]:
        return [handler.lineno for handler in getattr(self._last, "handlers", ())]

    def statement_text(self) -> str:
        return self._text(self._last, LIMIT)

    def value_text(self) -> str:
        value = getattr(self._last, "value", None)
        if not isinstance(value, ast.expr):
            return ""
        # ``ast`` leaves the parentheses of ``X = (a + b)`` out of the value; the statement
        # ends after them, so take as many ``(`` before the value as there are ``)`` after.
        end = self._end(self._last)
        closers = self._slice(self._end(value), end).count(")")
        return self._slice(self._back(self._start(value), closers), end, LIMIT)

    def done(self) -> bool:
        return self._next == len(self._stmts)

    def _wrapped(self, node: ast.AST) -> str:
        """An expression with the parentheses ``ast`` leaves out: ``-> (A | B)``, ``except (E)``.

        Only ``)`` can follow such an expression before the ``:`` of its statement, so take as
        many ``(`` before it as there are ``)`` after it.
        """
        end = self._end(node)
        closer = self._last_closer(end, allowed=" \t\\)")
        if closer is None:
            return self._text(node)
        closers = self._slice(end, (closer[0], closer[1] + 1)).count(")")
        return self._slice(self._back(self._start(node), closers), (closer[0], closer[1] + 1))

    def _back(self, start: Place, count: int) -> Place:
        """The place of the ``count``-th ``(`` before ``start`` (only spaces between them)."""
        line, col = start
        text = self._lines[line - 1]
        while count:
            index = col - 1
            while index >= 0 and text[index] in " \t\\":
                index -= 1
            if index >= 0 and text[index] == "(":
                count -= 1
                col = index
            elif index < 0 and line > 1:
                line -= 1
                text = strip_comment(self._lines[line - 1])
                col = len(text)
            else:
                break
        return line, col

    def _text(self, node: ast.AST, limit: int | None = None) -> str:
        return self._slice(self._start(node), self._end(node), limit)

    def _start(self, node: ast.AST) -> Place:
        line: int = node.lineno  # type: ignore[attr-defined]
        return line, self._column(line, node.col_offset)  # type: ignore[attr-defined]

    def _end(self, node: ast.AST) -> Place:
        line: int = node.end_lineno  # type: ignore[attr-defined]
        return line, self._column(line, node.end_col_offset)  # type: ignore[attr-defined]

    def _column(self, line: int, offset: int) -> int:
        text = self._lines[line - 1]
        if text.isascii():
            return offset
        return len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))

    def _find(self, char: str, start: Place) -> Place:
        """The first ``char`` at or after ``start`` outside comments."""
        line, col = start
        while line <= len(self._lines):
            text = self._lines[line - 1]
            for index in range(col, len(text)):
                if text[index] == char:
                    return line, index
                if text[index] == "#":
                    break
            line, col = line + 1, 0
        raise Misaligned(f"no {char!r} after line {start[0]}")

    def _last_closer(self, start: Place, allowed: str = " \t\\,/)") -> Place | None:
        """The last ``)`` of the run of ``allowed`` characters (and comments) from ``start``.

        After a header's last parameter only ``,``, ``/`` and the ``)`` of parenthesised
        defaults stand before the ``)`` that closes the list; then comes ``->`` or ``:``.
        """
        line, col = start
        found: Place | None = None
        while line <= len(self._lines):
            text = self._lines[line - 1]
            for index in range(col, len(text)):
                char = text[index]
                if char == ")":
                    found = (line, index)
                elif char == "#":
                    break
                elif char not in allowed:
                    return found
            line, col = line + 1, 0
        return found


class MetaPositions(Positions):
    """Positions from libcst's ``PositionProvider`` (the slow, always-available path)."""

    def __init__(
        self, module: cst.Module, ranges: Mapping[cst.CSTNode, CodeRange], lines: list[str]
    ) -> None:
        super().__init__(lines)
        self._module = module
        self._ranges = ranges
        self._last: cst.CSTNode = module

    def take(self, node: cst.CSTNode) -> tuple[int, int]:
        self._last = node
        where = self._ranges[node]
        return where.start.line, where.end.line

    def decorator_lines(self) -> list[int]:
        decorators = getattr(self._last, "decorators", ())
        return [self._ranges[decorator].start.line for decorator in decorators]

    def decorator_texts(self) -> list[str]:
        return [self._text(d.decorator) for d in getattr(self._last, "decorators", ())]

    def docstring(self) -> tuple[str, int] | None:
        node = self._last
        if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
            return self._docstring(node.get_docstring(clean=False), node.body)
        return None

    def module_docstring(self) -> tuple[str, int] | None:
        return self._docstring(self._module.get_docstring(clean=False), self._module)

    def params_text(self) -> str:
        node = self._last
        assert isinstance(node, cst.FunctionDef)
        return self._text(node.params).rstrip(",").rstrip()

    def returns_text(self) -> str:
        node = self._last
        assert isinstance(node, cst.FunctionDef)
        return self._text(node.returns.annotation) if node.returns is not None else ""

    def type_params_text(self) -> str:
        params = getattr(self._last, "type_parameters", None)
        return self._text(params) if params is not None else ""

    def class_args(self) -> tuple[list[str], list[str]]:
        node = self._last
        assert isinstance(node, cst.ClassDef)
        return [self._text(b) for b in node.bases], [self._text(k) for k in node.keywords]

    def handler_texts(self) -> list[str]:
        handlers = getattr(self._last, "handlers", ())
        return [self._text(h.type) if h.type is not None else "" for h in handlers]

    def handler_lines(self) -> list[int]:
        handlers = getattr(self._last, "handlers", ())
        return [self._ranges[handler].start.line for handler in handlers]

    def statement_text(self) -> str:
        return self._text(self._last, LIMIT)

    def value_text(self) -> str:
        value = getattr(self._last, "value", None)
        return self._text(value, LIMIT) if isinstance(value, cst.BaseExpression) else ""

    def _docstring(
        self, value: str | None, body: cst.Module | cst.BaseSuite
    ) -> tuple[str, int] | None:
        if value is None or not body.body:
            return None
        return value, self._ranges[body.body[0]].start.line

    def _text(self, node: cst.CSTNode, limit: int | None = None) -> str:
        # A node's range leaves out its own parentheses; ``ast`` spans and the source keep them.
        lpar: tuple[cst.CSTNode, ...] = tuple(getattr(node, "lpar", ()))
        rpar: tuple[cst.CSTNode, ...] = tuple(getattr(node, "rpar", ()))
        start = self._ranges[lpar[0] if lpar else node].start
        end = self._ranges[rpar[-1] if rpar else node].end
        return self._slice((start.line, start.column), (end.line, end.column), limit)
