"""Structure from ``ast`` alone: for valid Python that libcst's parser refuses.

libcst's grammar lags CPython's in corners (``(name): int = 1``, a parenthesised annotated
target, is valid Python that libcst rejects). For such text the ``ast`` tree still gives every
definition, binding and import with exact lines, so the page lists them as the libcst path
would; patterns, tests and examples, which need the libcst visitor, are left out and a note
says so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from pipeline.extract.python.positions import AstPositions
from pipeline.extract.python.text import binding_kind, clean_docstring, summary_of
from pipeline.records import Extraction, Import, Note, Symbol

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _names(element)
    elif isinstance(target, ast.Starred):
        yield from _names(target.value)


def _bound(node: ast.AST) -> list[str]:
    """Names one node binds in the scope it is in (``import`` and definitions aside)."""
    if isinstance(node, ast.Assign):
        return [name for target in node.targets for name in _names(target)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor)):
        return list(_names(node.target))
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [n for item in node.items if item.optional_vars for n in _names(item.optional_vars)]
    if isinstance(node, ast.ExceptHandler):
        return [node.name] if node.name else []
    if isinstance(node, (ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    if type(node).__name__ == "TypeAlias":
        return list(_names(node.name))  # type: ignore[attr-defined]
    return []


class _Walker:
    def __init__(self, positions: AstPositions) -> None:
        self.pos = positions
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self.exports: list[str] = []
        self.has_main = False
        self._listed: set[str] = set()

    def scope(self, body: list[ast.stmt], prefix: str, kind: str, checking: bool,
              in_class: bool = False, globals_: frozenset[str] = frozenset()) -> None:
        """The statements of one scope: ``kind`` is "module", "class" or "function";
        ``in_class``: a class encloses it (its functions are methods)."""
        stack: list[tuple[ast.AST, bool, int]] = [(s, checking, s.lineno) for s in reversed(body)]
        while stack:
            node, checking, line = stack.pop()
            if isinstance(node, _DEFINITIONS):
                self.definition(node, prefix, kind, checking, in_class, globals_)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.import_(node, prefix, kind, checking, globals_)
                continue
            if isinstance(node, ast.Lambda):
                continue
            statement = isinstance(node, ast.stmt)
            line = node.lineno if statement else line  # type: ignore[attr-defined]
            names = _bound(node)
            if names and (kind != "function" or globals_):
                self.bind(names, prefix, kind, line, node, globals_)
            if kind == "module" and statement:
                self.module_facts(node)
            guarded = (node.body if isinstance(node, ast.If) and _is_type_checking(node.test)
                       else [])
            for child in reversed(list(ast.iter_child_nodes(node))):
                stack.append((child, checking or any(child is s for s in guarded), line))

    def bind(self, names: list[str], prefix: str, kind: str, line: int, node: ast.AST,
             globals_: frozenset[str]) -> None:
        statement = value = ""
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self.pos.focus(node)
            statement, value = self.pos.statement_text(), self.pos.value_text()
        if kind == "function":
            names, prefix = [n for n in names if n in globals_], ""
        for name in names:
            qualname = prefix + name
            if qualname in self._listed:
                continue
            self._listed.add(qualname)
            self.symbols.append(Symbol(binding_kind(name, bool(prefix)), qualname, line,
                                       getattr(node, "end_lineno", line) or line, statement,
                                       value=value))

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
                   prefix: str, kind: str, checking: bool, in_class: bool,
                   globals_: frozenset[str]) -> None:
        if kind == "function" and node.name in globals_:
            self.bind([node.name], prefix, kind, node.lineno, node, globals_)
        qualname = prefix + node.name
        first = node.lineno
        self.pos.focus(node)
        decorators = tuple(self.pos.decorator_texts())
        doc = summary_of(ast.get_docstring(node))
        if isinstance(node, ast.ClassDef):
            written, keywords = self.pos.class_args()
            bases = tuple(written)
            signature = f"class {node.name}"
            if bases or keywords:
                signature += "(" + ", ".join(written + keywords) + ")"
            self.symbols.append(Symbol("class", qualname, first, node.end_lineno or first,
                                       signature, doc, decorators, bases))
            self.scope(node.body, qualname + ".", "class", checking, True)
            return
        prefix_text = "async def " if isinstance(node, ast.AsyncFunctionDef) else "def "
        signature = f"{prefix_text}{node.name}({self.pos.params_text()})"
        if node.returns is not None:
            signature += " -> " + self.pos.returns_text()
        self.symbols.append(Symbol("method" if in_class else "function", qualname, first,
                                   node.end_lineno or first, signature, doc, decorators))
        declared = frozenset(name for item in ast.walk(node) if isinstance(item, ast.Global)
                             for name in item.names)
        self.scope(node.body, qualname + ".", "function", checking, in_class, declared)

    def import_(self, node: ast.Import | ast.ImportFrom, prefix: str, kind: str,
                checking: bool, globals_: frozenset[str]) -> None:
        end = node.end_lineno or node.lineno
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.imports.append(Import("import", alias.name, node.lineno, end,
                                           type_checking=checking))
        else:
            module = "." * node.level + (node.module or "")
            for name in dict.fromkeys(alias.name for alias in node.names):
                self.imports.append(Import("from", module, node.lineno, end, (name,),
                                           node.level, checking))
        if kind == "function" and globals_:
            locals_ = [a.asname or a.name.split(".", 1)[0] for a in node.names]
            self.bind(locals_, prefix, kind, node.lineno, node, globals_)

    def module_facts(self, node: ast.AST) -> None:
        """``__all__`` as built with literals, and the ``__main__`` block."""
        if isinstance(node, ast.If) and _is_main(node.test):
            self.has_main = True
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
        if value is None or not any(isinstance(t, ast.Name) and t.id == "__all__"
                                    for t in targets):
            return
        try:
            found = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return
        if isinstance(found, (list, tuple)) and all(isinstance(s, str) for s in found):
            if isinstance(node, ast.AugAssign):
                self.exports.extend(found)
            else:
                self.exports = list(found)


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
    return name == "TYPE_CHECKING"


def _is_main(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    return (isinstance(test.ops[0], ast.Eq)
            and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


def from_ast(tree: ast.Module, text: str, refusal: str, line: int) -> Extraction:
    """The record of a file libcst refused (its message ``refusal``, at ``line``), from the
    file's ``ast`` tree."""
    refusal = refusal.split(": expected", 1)[0]
    note = Note("partial-parse", f"libcst refused valid Python ({refusal}); structure from "
                "Python's own parser, patterns, tests and examples not analysed", line)
    walker = _Walker(AstPositions(tree, text.split("\n")))
    walker.scope(tree.body, "", "module", False)
    doc = ast.get_docstring(tree, clean=False)
    return Extraction(
        language="python",
        overview=clean_docstring(doc) if doc else "",
        symbols=tuple(sorted(walker.symbols, key=lambda s: (s.line, s.name))),
        imports=tuple(sorted(walker.imports, key=lambda i: i.line)),
        exports=tuple(dict.fromkeys(walker.exports)),
        has_main=walker.has_main,
        notes=(note,),
    )
