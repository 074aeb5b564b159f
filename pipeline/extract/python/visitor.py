"""The gathering libcst visitor: definitions, imports, constants, docstrings and statement facts.

It walks statements only: expressions are never entered (a full libcst traversal rebuilds every
node and costs as much as the parse), so header text is sliced from the source at the
positions of :mod:`pipeline.extract.python.positions`, and expression-level facts come from
:mod:`pipeline.extract.python.facts`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from pipeline.extract.python.model import ClassInfo, Decorator, FuncInfo, Param, TryInfo
from pipeline.extract.python.positions import Positions
from pipeline.extract.python.text import binding_kind, summary_of
from pipeline.records import Import, Symbol


def dotted(node: cst.CSTNode | None) -> str:
    """``a.b.c`` for a chain of names, "" for any other expression."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return ""
    parts.append(node.value)
    return ".".join(reversed(parts))


def canonical(node: cst.CSTNode) -> str:
    """An argument value in the shared canonical form (see :mod:`python_model`)."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return "s:" + value if isinstance(value, str) else "?"
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return "c:" + node.value
    if isinstance(node, (cst.Integer, cst.Float)):
        return "c:" + node.value
    name = dotted(node)
    return "n:" + name if name else "?"


def _mentions_callable(node: cst.CSTNode) -> bool:
    stack: list[cst.CSTNode] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (cst.Name, cst.Attribute)):
            if dotted(item).rsplit(".", 1)[-1] == "Callable":
                return True
        elif isinstance(item, cst.Subscript):
            stack.append(item.value)
            stack.extend(element.slice for element in item.slice)
        elif isinstance(item, cst.Index):
            stack.append(item.value)
        elif isinstance(item, cst.BinaryOperation):
            stack.extend((item.left, item.right))
    return False


def _strings(node: cst.BaseExpression) -> list[str] | None:
    """The strings of a literal list or tuple of strings, else None."""
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    out: list[str] = []
    for element in node.elements:
        value = element.value
        text = value.evaluated_value if isinstance(value, cst.SimpleString) else None
        if not isinstance(text, str) or isinstance(element, cst.StarredElement):
            return None
        out.append(text)
    return out


def _is_main(test: cst.BaseExpression) -> bool:
    """``__name__ == "__main__"`` in either order and quote style."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    sides = (test.left, target.comparator)
    names = [side for side in sides if isinstance(side, cst.Name) and side.value == "__name__"]
    texts = [side for side in sides if isinstance(side, cst.SimpleString)]
    return len(names) == 1 and len(texts) == 1 and texts[0].evaluated_value == "__main__"


def _targets(node: cst.BaseExpression) -> list[str]:
    """Names bound by an assignment target (``A``, ``A, (B, *C)``; not ``a.b`` or ``a[i]``)."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [name for element in node.elements for name in _targets(element.value)]
    if isinstance(node, cst.StarredElement):
        return _targets(node.value)
    return []


def _walrus_targets(node: cst.CSTNode) -> list[str]:
    """Names bound by ``:=`` in the expressions of one statement, those of comprehensions
    included (they bind in the enclosing scope), not those of lambdas or of nested blocks."""
    names: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.NamedExpr):
            names.extend(_targets(item.target))
        stack.extend(child for child in reversed(item.children)
                     if not isinstance(child, _NOT_HERE))
    return names


_NOT_HERE = (cst.BaseSuite, cst.Lambda, cst.Else, cst.If, cst.Finally, cst.ClassDef,
             cst.FunctionDef)


def _captures(pattern: cst.CSTNode) -> list[str]:
    """Names a ``case`` pattern binds: ``x``, ``[a, *rest]``, ``{"k": v, **kw}``, ``C(y) as z``."""
    names: list[str] = []
    stack = [pattern]
    while stack:
        item = stack.pop()
        if isinstance(item, (cst.MatchAs, cst.MatchStar)) and item.name is not None:
            names.append(item.name.value)
        elif isinstance(item, cst.MatchMapping) and item.rest is not None:
            names.append(item.rest.value)
        stack.extend(reversed(item.children))
    return names


@dataclass(slots=True)
class _Scope:
    kind: str  # "class" | "function"
    qualname: str
    info: ClassInfo | FuncInfo
    loops: list[int] = field(default_factory=list)  # lines of the loops open in this scope
    globals: set[str] = field(default_factory=set)  # names a function declares ``global``


class Gatherer(cst.CSTVisitor):
    """Collects a module's definitions into attributes; ``python.py`` turns them into records."""

    def __init__(self, positions: Positions, walrus: Sequence[int] = ()) -> None:
        super().__init__()
        self.pos = positions
        self._walrus = walrus  # sorted numbers of the lines that hold ``:=``
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted target of an import
        self.exports: list[str] = []
        self.has_main = False
        self.classes: list[ClassInfo] = []
        self.functions: list[FuncInfo] = []
        self.tries: list[TryInfo] = []
        self.async_statements: list[tuple[int, str, str]] = []  # (line, "async with", scope)
        self.deep_loops: dict[int, tuple[int, str]] = {}  # outermost line -> (depth, scope)
        self.docstrings: list[tuple[str, str, int]] = []  # (owner, value, first line)
        self._scopes: list[_Scope] = []
        self._module_loops: list[int] = []
        self._bound: set[str] = set()  # qualified names already listed as constant/variable
        self._type_checking = 0  # depth of ``if TYPE_CHECKING:`` bodies around the statement
    # -- traversal -------------------------------------------------------------------------

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Handlers visit the statements inside a compound statement themselves and return
        # False, so libcst never walks the whitespace, names and expressions around them.
        handler = _VISIT.get(type(node))
        return handler(self, node) if handler is not None else False

    # libcst calls these for every field it enters; the default looks up a method by name.
    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        pass

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        pass

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        if kind is cst.ClassDef or kind is cst.FunctionDef:
            self._scopes.pop()
        elif kind is cst.For or kind is cst.While:
            self._loops().pop()

    def scope_name(self) -> str:
        return self._scopes[-1].qualname if self._scopes else ""

    def _loops(self) -> list[int]:
        return self._scopes[-1].loops if self._scopes else self._module_loops

    # -- definitions -----------------------------------------------------------------------

    def _enter_module(self, node: cst.CSTNode) -> bool:
        doc = self.pos.module_docstring()
        if doc is not None:
            self.docstrings.append(("", doc[0], doc[1]))
        assert isinstance(node, cst.Module)
        for statement in node.body:
            statement.visit(self)
        return False

    def _enter_class(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, cst.ClassDef)
        line, end = self.pos.take(node)
        decorators = self._decorators(node.decorators)
        doc = self.pos.docstring()
        qualname = self._qualify(node.name.value)
        written_bases, keywords = self.pos.class_args()
        bases = tuple(written_bases)
        signature = "class " + node.name.value + self.pos.type_params_text()
        if isinstance(node.lpar, cst.LeftParen):
            signature += "(" + ", ".join(written_bases + keywords) + ")"
        parent = self._scopes[-1] if self._scopes else None
        if parent is not None and node.name.value in parent.globals:
            self._bind_names([node.name.value], line, end)
        info = ClassInfo(
            qualname=qualname,
            name=node.name.value,
            line=line,
            end_line=end,
            bases=bases,
            base_names=tuple(dotted(arg.value) for arg in node.bases),
            keywords=tuple(
                (arg.keyword.value, dotted(arg.value)) for arg in node.keywords if arg.keyword
            ),
            decorators=decorators,
            parent=parent.qualname if parent else "",
            nested_in_class=parent is not None and parent.kind == "class",
        )
        self.classes.append(info)
        self.symbols.append(
            Symbol("class", qualname, line, end, signature, summary_of(doc[0] if doc else None),
                   tuple(d.text for d in decorators), bases)
        )
        self._scopes.append(_Scope("class", qualname, info))
        if doc is not None:
            self.docstrings.append((qualname, doc[0], doc[1]))
        self._suite(node.body)
        return False

    def _enter_function(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, cst.FunctionDef)
        line, end = self.pos.take(node)
        decorators = self._decorators(node.decorators)
        doc = self.pos.docstring()
        name = node.name.value
        qualname = self._qualify(name)
        parent = self._scopes[-1] if self._scopes else None
        if parent is not None and name in parent.globals:
            self._bind_names([name], line, end)
        in_class = any(scope.kind == "class" for scope in self._scopes)
        prefix = "async def " if node.asynchronous else "def "
        signature = f"{prefix}{name}{self.pos.type_params_text()}({self.pos.params_text()})"
        if node.returns is not None:
            signature += " -> " + self.pos.returns_text()
        info = FuncInfo(
            qualname=qualname,
            name=name,
            line=line,
            end_line=end,
            is_async=node.asynchronous is not None,
            decorators=decorators,
            params=self._params(node.params),
            returns_annotated=node.returns is not None,
            owner_class=parent.qualname if parent and parent.kind == "class" else "",
            parent=parent.qualname if parent else "",
            public=not any(part.startswith("_") for part in qualname.split(".")),
            top_level=parent is None,
        )
        if parent is not None:
            if isinstance(parent.info, ClassInfo):
                parent.info.methods.append(info)
            else:
                parent.info.nested.append(name)
        self.functions.append(info)
        self.symbols.append(
            Symbol("method" if in_class else "function", qualname, line, end, signature,
                   summary_of(doc[0] if doc else None), tuple(d.text for d in decorators))
        )
        self._scopes.append(_Scope("function", qualname, info))
        if doc is not None:
            self.docstrings.append((qualname, doc[0], doc[1]))
        self._suite(node.body)
        return False

    def _qualify(self, name: str) -> str:
        return f"{self._scopes[-1].qualname}.{name}" if self._scopes else name

    def _decorators(self, nodes: Sequence[cst.Decorator]) -> tuple[Decorator, ...]:
        lines, texts = self.pos.decorator_lines(), self.pos.decorator_texts()
        out: list[Decorator] = []
        for node, line, text in zip(nodes, lines, texts, strict=True):
            expression = node.decorator
            callee = expression.func if isinstance(expression, cst.Call) else expression
            args: tuple[str, ...] = ()
            kwargs: tuple[tuple[str, str], ...] = ()
            if isinstance(expression, cst.Call):
                args = tuple(canonical(a.value) for a in expression.args if a.keyword is None)
                kwargs = tuple(
                    (a.keyword.value, canonical(a.value)) for a in expression.args if a.keyword
                )
            out.append(Decorator(text, dotted(callee), line, args, kwargs))
        return tuple(out)

    @staticmethod
    def _params(node: cst.Parameters) -> tuple[Param, ...]:
        params: list[cst.Param] = [*node.posonly_params, *node.params]
        if isinstance(node.star_arg, cst.Param):
            params.append(node.star_arg)
        params.extend(node.kwonly_params)
        if node.star_kwarg is not None:
            params.append(node.star_kwarg)
        return tuple(
            Param(
                p.name.value,
                p.annotation is not None,
                p.annotation is not None and _mentions_callable(p.annotation.annotation),
            )
            for p in params
        )

    # -- compound statements -----------------------------------------------------------------

    def _enter_if(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, cst.If)
        line, end = self.pos.take(node)
        self._bind_walrus(node, line, end, end)
        if not self._scopes and _is_main(node.test):
            self.has_main = True
        checking = dotted(node.test).rsplit(".", 1)[-1] == "TYPE_CHECKING"
        self._type_checking += checking
        self._suite(node.body)
        self._type_checking -= checking
        if isinstance(node.orelse, cst.If):
            node.orelse.visit(self)  # ``elif``: a statement of its own
        elif node.orelse is not None:
            self._suite(node.orelse.body)
        return False

    def _enter_loop(self, node: cst.CSTNode) -> bool:
        line, last = self.pos.take(node)
        if isinstance(node, cst.For) and node.asynchronous is not None:
            self.async_statements.append((line, "async for", self.scope_name()))
        loops = self._loops()
        loops.append(line)
        if len(loops) >= 3:
            depth = max(len(loops), self.deep_loops.get(loops[0], (0, ""))[0])
            self.deep_loops[loops[0]] = (depth, self.scope_name())
        assert isinstance(node, (cst.For, cst.While))
        self._bind_walrus(node, line, line, last)
        if isinstance(node, cst.For):
            self._bind_names(_targets(node.target), line, line)
        self._suite(node.body)
        if node.orelse is not None:
            self._suite(node.orelse.body)
        return False

    def _enter_try(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, (cst.Try, cst.TryStar))
        line, _ = self.pos.take(node)
        handlers = tuple(self.pos.handler_texts())
        handler_lines = self.pos.handler_lines()
        self.tries.append(TryInfo(line, self.scope_name(), handlers))
        self._suite(node.body)
        handler: Any
        for handler, at in zip(node.handlers, handler_lines, strict=True):
            if handler.name is not None:
                self._bind_names(_targets(handler.name.name), at, at)
            self._suite(handler.body)
        for block in (node.orelse, node.finalbody):
            if block is not None:
                self._suite(block.body)
        return False

    def _enter_with(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, cst.With)
        line, last = self.pos.take(node)
        if node.asynchronous is not None:
            self.async_statements.append((line, "async with", self.scope_name()))
        self._bind_walrus(node, line, line, last)
        for item in node.items:
            if item.asname is not None:
                self._bind_names(_targets(item.asname.name), line, line)
        self._suite(node.body)
        return False

    def _enter_match(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, cst.Match)
        line, last = self.pos.take(node)
        self._bind_walrus(node, line, line, last)
        for case in node.cases:
            self._bind_names(_captures(case.pattern), line, line)
            self._suite(case.body)
        return False

    def _suite(self, suite: cst.BaseSuite) -> None:
        if isinstance(suite, cst.IndentedBlock):
            for statement in suite.body:
                statement.visit(self)
        else:
            suite.visit(self)  # ``if x: a; b`` -- the small statements of one line

    # -- small statements ------------------------------------------------------------------

    def _simple(self, node: cst.CSTNode) -> bool:
        assert isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite))
        for statement in node.body:
            line, end = self.pos.take(statement)
            handler = _SMALL.get(type(statement))
            if handler is not None:
                handler(self, statement, line, end)
            self._bind_walrus(statement, line, end, end)
        return False

    def _bind_walrus(self, node: cst.CSTNode, line: int, end: int, last: int) -> None:
        """Names ``node`` binds by ``:=`` (its lines ``line``..``last`` are searched first:
        walking libcst's expressions costs as much as the parse)."""
        walrus = self._walrus
        if (walrus and bisect_left(walrus, line) != bisect_right(walrus, last)
                and (not self._scopes or self._scopes[-1].kind == "class"
                     or self._scopes[-1].globals)):
            names = _walrus_targets(node)
            if names:
                self._bind_names(names, line, end)

    def _global(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, cst.Global)
        if self._scopes and self._scopes[-1].kind == "function":
            self._scopes[-1].globals.update(item.name.value for item in node.names)

    def _import(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, cst.Import)
        for alias in node.names:
            module = dotted(alias.name)
            self.imports.append(
                Import("import", module, line, end, type_checking=self._type_checking > 0))
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, module)
                self._bind_global(alias.asname.name.value, line, end)
            else:
                root = module.split(".", 1)[0]
                self._bind(root, root)
                self._bind_global(root, line, end)

    def _import_from(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, cst.ImportFrom)
        level = len(node.relative)
        module = "." * level + (dotted(node.module) if node.module is not None else "")
        checking = self._type_checking > 0
        if isinstance(node.names, cst.ImportStar):
            self.imports.append(Import("from", module, line, end, ("*",), level, checking))
            return
        names = tuple(dotted(alias.name) for alias in node.names)
        # One record per name: each resolves on its own (``from pkg import mod_a, attr``).
        for name in dict.fromkeys(names):
            self.imports.append(Import("from", module, line, end, (name,), level, checking))
        base = module if module.endswith(".") else module + "."
        for alias, name in zip(node.names, names, strict=True):
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                self._bind(local.value, base + name)
                self._bind_global(local.value, line, end)

    def _bind(self, local: str, target: str) -> None:
        # The first binding wins: ``try: import cPickle as pickle`` / ``except: import pickle``.
        self.aliases.setdefault(local, target)

    def _bind_global(self, local: str, line: int, end: int) -> None:
        """A name a function imports after declaring it ``global`` is a module-level name."""
        if self._scopes and local in self._scopes[-1].globals:
            self._bind_names([local], line, end, self.pos.statement_text())

    def _assign(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.TypeAlias))
        if self._scopes and self._scopes[-1].kind != "class" and not self._scopes[-1].globals:
            return
        if isinstance(node, cst.Assign):
            names = [name for target in node.targets for name in _targets(target.target)]
        elif isinstance(node, cst.TypeAlias):
            names = [node.name.value]
        else:
            names = _targets(node.target)
        if not self._scopes and "__all__" in names and isinstance(node, (cst.Assign,
                                                                          cst.AnnAssign)):
            found = _strings(node.value) if node.value is not None else None
            if found is not None:
                self.exports = found
        if names:
            self._bind_names(names, line, end, self.pos.statement_text(), self.pos.value_text())

    def _bind_names(self, names: list[str], line: int, end: int, statement: str = "",
                    value: str = "") -> None:
        """Module-level and class-level bindings, each listed once (its first binding); in a
        function, the names it declares ``global`` (module-level names too)."""
        prefix = ""
        if self._scopes and self._scopes[-1].kind != "class":
            names = [name for name in names if name in self._scopes[-1].globals]
        elif self._scopes:
            prefix = self._scopes[-1].qualname + "."
        for name in names:
            if prefix + name in self._bound:
                continue
            self._bound.add(prefix + name)
            self.symbols.append(Symbol(binding_kind(name, bool(prefix)), prefix + name, line,
                                       end, statement, value=value))

    def _aug_assign(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, cst.AugAssign)
        self._assign(node, line, end)
        target = node.target
        if (not self._scopes and isinstance(target, cst.Name) and target.value == "__all__"
                and isinstance(node.operator, cst.AddAssign)):
            self.exports.extend(_strings(node.value) or ())

    def _expr(self, node: cst.CSTNode, line: int, end: int) -> None:
        # ``__all__.extend([...])`` and ``__all__.append("x")`` at module level.
        assert isinstance(node, cst.Expr)
        call = node.value
        if self._scopes or not isinstance(call, cst.Call) or len(call.args) != 1:
            return
        method = dotted(call.func)
        value = call.args[0].value
        if method == "__all__.extend":
            self.exports.extend(_strings(value) or ())
        elif method == "__all__.append" and isinstance(value, cst.SimpleString):
            text = value.evaluated_value
            if isinstance(text, str):
                self.exports.append(text)

    def _return(self, node: cst.CSTNode, line: int, end: int) -> None:
        assert isinstance(node, cst.Return)
        scope = self._scopes[-1] if self._scopes else None
        if scope is not None and isinstance(scope.info, FuncInfo):
            if isinstance(node.value, cst.Name):
                scope.info.returned.add(node.value.value)


# Dispatch tables of plain functions: bound methods in the instance would make a reference
# cycle, and with the collector off during extraction a cycle keeps the whole tree alive.
_VISIT: dict[type[cst.CSTNode], Callable[[Gatherer, cst.CSTNode], bool]] = {
    cst.Module: Gatherer._enter_module,
    cst.ClassDef: Gatherer._enter_class,
    cst.FunctionDef: Gatherer._enter_function,
    cst.SimpleStatementLine: Gatherer._simple,
    cst.SimpleStatementSuite: Gatherer._simple,
    cst.If: Gatherer._enter_if,
    cst.For: Gatherer._enter_loop,
    cst.While: Gatherer._enter_loop,
    cst.Try: Gatherer._enter_try,
    cst.TryStar: Gatherer._enter_try,
    cst.With: Gatherer._enter_with,
    cst.Match: Gatherer._enter_match,
}
_SMALL: dict[type[cst.CSTNode], Callable[[Gatherer, cst.CSTNode, int, int], None]] = {
    cst.Import: Gatherer._import,
    cst.ImportFrom: Gatherer._import_from,
    cst.Assign: Gatherer._assign,
    cst.AnnAssign: Gatherer._assign,
    cst.AugAssign: Gatherer._aug_assign,
    cst.TypeAlias: Gatherer._assign,
    cst.Expr: Gatherer._expr,
    cst.Return: Gatherer._return,
    cst.Global: Gatherer._global,
}
