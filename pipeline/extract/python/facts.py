"""Expression-level facts (calls, uses of imported names, yields, awaits) for the rules.

The fast path reads them from the ``ast`` tree already parsed for line numbers: an iterative
walk that costs a fraction of a libcst traversal. When ``ast`` could not parse the text, a full
libcst visitor with ``PositionProvider`` lines gathers the same facts. Only names the rules can
use are kept (see ``_WATCHED``), so a 10,000-line file yields a short list.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import CodeRange

from pipeline.extract.python.model import Call, Facts
from pipeline.extract.python.visitor import canonical, dotted

# Dotted-name prefixes the rules look at (checked loosely here, exactly in the rules).
_WATCHED = (
    "threading", "concurrent.futures", "multiprocessing", "torch.multiprocessing", "torch.cuda",
    "torch.jit", "torch.compile", "torch.utils.benchmark", "torch.load", "torch.device", "timeit",
    "triton.jit", "functools.cache", "functools.lru_cache", "functools.cached_property",
    "pickle.load", "cPickle.load", "_pickle.load", "dill.load", "marshal.load", "subprocess",
    "os.system", "os.popen", "yaml.load", "yaml.unsafe_load", "tempfile.mktemp",
    "ssl._create_unverified_context", "builtins.eval", "builtins.exec", "builtins.compile",
)
BUILTIN_CALLS = frozenset({"eval", "exec", "compile"})
_KEYWORDS = frozenset({"device", "verify"})
_SKIPPED_FIELDS = frozenset(
    {"ctx", "id", "attr", "arg", "name", "names", "module", "level", "kind", "type_comment",
     "conversion", "is_async", "simple", "kwd_attrs", "rest"}
)
_FIELDS: dict[type, tuple[str, ...]] = {}


def resolve(name: str, aliases: Mapping[str, str]) -> str:
    """``pk.loads`` -> ``pickle.loads`` after ``import pickle as pk``; unknown roots stay."""
    root, dot, rest = name.partition(".")
    target = aliases.get(root)
    if target is None:
        return name
    return target + dot + rest


def _canonical(node: ast.expr, aliases: Mapping[str, str]) -> str:
    if isinstance(node, ast.Constant):
        value = node.value
        return "s:" + value if isinstance(value, str) else "c:" + repr(value)
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return "n:" + resolve(".".join(reversed(parts)), aliases)
    return "?"


def _fields(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = tuple(f for f in getattr(kind, "_fields", ()) if f not in _SKIPPED_FIELDS)
        _FIELDS[kind] = names
    return names


def ast_facts(
    tree: ast.Module, aliases: Mapping[str, str], local: frozenset[str] = frozenset()
) -> Facts:
    """Facts from an ``ast`` tree, in one iterative walk (deep trees cannot overflow it).

    ``local`` names plain functions whose calls are wanted too (parameters that may be
    callables wrapped by a decorator).
    """
    facts = Facts()
    stack: list[object] = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    Name, Attribute, Constant, CallNode = ast.Name, ast.Attribute, ast.Constant, ast.Call
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    while stack:
        node = pop()
        kind = type(node)
        if kind is Name:
            assert isinstance(node, ast.Name)
            target = aliases.get(node.id)
            if target is not None:
                if target.startswith(_WATCHED):
                    facts.refs.append((node.lineno, target))
            elif node.id in BUILTIN_CALLS and type(node.ctx) is ast.Store:
                facts.bound.add(node.id)
            continue
        if kind is Constant:
            continue
        if kind is Attribute or kind is CallNode:
            _chain(node, aliases, local, facts, push)
            continue
        if kind is ast.Yield or kind is ast.YieldFrom:
            facts.yields.append(node.lineno)  # type: ignore[attr-defined]
        elif kind is ast.Await:
            facts.awaits.append((node.lineno, "await"))  # type: ignore[attr-defined]
        elif kind is ast.arg:
            if node.arg in BUILTIN_CALLS:  # type: ignore[attr-defined]
                facts.bound.add(node.arg)  # type: ignore[attr-defined]
        elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            if node.name in BUILTIN_CALLS:  # type: ignore[attr-defined]
                facts.bound.add(node.name)  # type: ignore[attr-defined]
        elif kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            _store(node, aliases, facts)
        elif kind in comprehensions:
            if any(g.is_async for g in node.generators):  # type: ignore[attr-defined]
                facts.awaits.append((node.lineno, "async for"))  # type: ignore[attr-defined]
        elif kind is ast.Import or kind is ast.ImportFrom:
            continue
        for name in _fields(kind):
            value = getattr(node, name)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return facts


def _chain(
    node: object, aliases: Mapping[str, str], local: frozenset[str], facts: Facts, push: object
) -> None:
    """One attribute chain or call: record it if it names something watched, queue the rest."""
    call = node if type(node) is ast.Call else None
    head = call.func if call is not None else node
    assert callable(push)
    if call is not None and type(head) is ast.Attribute and head.attr == "cuda":
        facts.cuda_calls.append(call.lineno)
    parts: list[str] = []
    while type(head) is ast.Attribute:
        parts.append(head.attr)
        head = head.value
    name = ""
    if type(head) is ast.Name:
        target = aliases.get(head.id)
        if target is not None:
            parts.reverse()
            name = ".".join([target, *parts])
            name = name if name.startswith(_WATCHED) else ""
        elif call is not None and not parts:
            if head.id in BUILTIN_CALLS:
                name = head.id
            elif head.id in local:
                facts.local_calls.append((call.lineno, head.id))
    else:
        push(head)
    if call is None:
        if name:
            facts.refs.append((node.lineno, name))  # type: ignore[attr-defined]
        return
    if name:
        facts.calls.append(Call(
            call.lineno, name, tuple(_canonical(arg, aliases) for arg in call.args[:2]),
            tuple((kw.arg, _canonical(kw.value, aliases)) for kw in call.keywords if kw.arg),
        ))
    for keyword in call.keywords:
        if keyword.arg in _KEYWORDS:
            facts.keywords.append((keyword.lineno, keyword.arg, _canonical(keyword.value, aliases)))
        push(keyword.value)
    for arg in call.args:
        push(arg)


def _store(node: ast.Assign, aliases: Mapping[str, str], facts: Facts) -> None:
    for target in node.targets:
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "check_hostname":
            facts.stores.append((node.lineno, name, _canonical(node.value, aliases)))


class CstFacts(cst.CSTVisitor):
    """The same facts from a libcst tree, for text ``ast`` cannot parse (a full traversal)."""

    def __init__(
        self,
        ranges: Mapping[cst.CSTNode, CodeRange],
        aliases: Mapping[str, str],
        local: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.facts = Facts()
        self._ranges = ranges
        self._aliases = aliases
        self._local = local
        self._skip: set[int] = set()  # names that are not references (attributes, keywords)

    def _line(self, node: cst.CSTNode) -> int:
        return self._ranges[node].start.line

    def _canonical(self, node: cst.CSTNode) -> str:
        value = canonical(node)
        return "n:" + resolve(value[2:], self._aliases) if value.startswith("n:") else value

    def _bind(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name) and node.value in BUILTIN_CALLS:
            self.facts.bound.add(node.value)

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        target = self._aliases.get(node.value)
        if id(node) not in self._skip and target is not None and target.startswith(_WATCHED):
            self.facts.refs.append((self._line(node), target))

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        written = dotted(node)
        if not written:
            self._skip.add(id(node.attr))  # ``f().x``: enter ``f()`` but not the name ``x``
            return True
        if id(node) not in self._skip and written.split(".", 1)[0] in self._aliases:
            name = resolve(written, self._aliases)
            if name.startswith(_WATCHED):
                self.facts.refs.append((self._line(node), name))
        return False

    def visit_Call(self, node: cst.Call) -> None:
        line = self._line(node)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
            self.facts.cuda_calls.append(line)
        written = dotted(func)
        name = resolve(written, self._aliases) if written else ""
        imported = bool(written) and written.split(".", 1)[0] in self._aliases
        if (imported and name.startswith(_WATCHED)) or written in BUILTIN_CALLS:
            positional = [arg.value for arg in node.args if arg.keyword is None and not arg.star]
            self.facts.calls.append(Call(
                line, name, tuple(self._canonical(value) for value in positional[:2]),
                tuple((a.keyword.value, self._canonical(a.value)) for a in node.args if a.keyword),
            ))
        elif written in self._local:
            self.facts.local_calls.append((line, written))
        if written:
            self._skip_chain(func)
        for arg in node.args:
            if arg.keyword is not None:
                self._skip.add(id(arg.keyword))
                if arg.keyword.value in _KEYWORDS:
                    self.facts.keywords.append(
                        (self._line(arg), arg.keyword.value, self._canonical(arg.value))
                    )

    def _skip_chain(self, node: cst.BaseExpression) -> None:
        # The callee was recorded as a call; it is not also a plain reference.
        self._skip.add(id(node))
        while isinstance(node, cst.Attribute):
            node = node.value
        self._skip.add(id(node))

    def visit_Yield(self, node: cst.Yield) -> None:
        self.facts.yields.append(self._line(node))

    def visit_Await(self, node: cst.Await) -> None:
        self.facts.awaits.append((self._line(node), "await"))

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if node.asynchronous is not None:
            self.facts.awaits.append((self._line(node), "async for"))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            written = dotted(target.target)
            self._bind(target.target)
            if written.rsplit(".", 1)[-1] == "check_hostname":
                self.facts.stores.append(
                    (self._line(node), "check_hostname", self._canonical(node.value))
                )

    def visit_Param(self, node: cst.Param) -> None:
        self._skip.add(id(node.name))
        self._bind(node.name)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip.add(id(node.name))
        self._bind(node.name)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip.add(id(node.name))
        self._bind(node.name)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._bind(node.name)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_NameItem(self, node: cst.NameItem) -> bool:
        return False
