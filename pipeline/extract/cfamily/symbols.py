"""The declared structure of a C-family file: namespaces, classes, functions, kernels, constants.

A gathering walk over declaration scopes only (the file, namespaces, class bodies, ``extern "C"``,
``#if`` branches and the ERROR nodes of a partial parse); function bodies are never entered, so
the walk costs a small part of the parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from pipeline.extract.cfamily.names import (
    final_name,
    function_target,
    is_pure_virtual,
    name_parts,
    names_class,
    plain_name,
)
from pipeline.extract.cfamily.text import end_line_of, node_text, one_line, summary_above
from pipeline.extract.tsnodes import line as line_of
from pipeline.prose import shorten
from pipeline.records import Finding, Symbol

_CLASS_KINDS = {
    "class_specifier": "class",
    "struct_specifier": "struct",
    "union_specifier": "union",
    "enum_specifier": "enum",
}
# Children that end the head of a definition (its signature is the text before them).
_BODY_TYPES = frozenset(
    {"compound_statement", "field_declaration_list", "declaration_list", "enumerator_list",
     "field_initializer_list", "try_statement"}
)
# Execution spaces and launch bounds of CUDA/HIP functions, as keywords or torch's macros.
_ACCELERATOR_WORDS = (b"__device__", b"__host__", b"_HOST_DEVICE", b"C10_DEVICE",
                      b"__launch_bounds__", b"LAUNCH_BOUNDS")
_EXECUTION_SPACE = re.compile(r"\b(?:__host__|__device__|C10_HOST_DEVICE|C10_DEVICE)\b")
_LAUNCH_BOUNDS = re.compile(
    r"\b(?:__launch_bounds__|C10_LAUNCH_BOUNDS_\w+)\s*\((?:[^()]|\([^()]*\))*\)"
)
_MAX_DEPTH = 100  # scope nesting deeper than this is not real code; stop rather than recurse


@dataclass(slots=True)
class _ClassFacts:
    """What the body of one class shows, for its pattern findings."""

    destructor_line: int = 0
    pure_virtual: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where a declaration stands."""

    prefix: str = ""  # qualified name of the enclosing namespace or class: ``at::native::Foo``
    namespace: str = ""  # qualified name of the enclosing namespace: ``at::native``
    class_name: str = ""  # plain name of the enclosing class ("" outside class bodies)
    template: Node | None = None  # the outermost template_declaration around the declaration
    facts: _ClassFacts | None = None
    depth: int = 0

    def inner(self, template: Node | None = None) -> _Scope:
        """The same scope one level deeper (``dataclasses.replace`` is slower on this path)."""
        return _Scope(self.prefix, self.namespace, self.class_name,
                      template or self.template, self.facts, self.depth + 1)


class StructureCollector:
    """Walks declaration scopes and gathers symbols and pattern findings."""

    def __init__(self, source: bytes, parsed: bytes) -> None:
        self.source = source
        self.parsed = parsed  # what the parser saw: ``source`` with annotation macros masked
        self.symbols: list[Symbol] = []
        self.findings: list[Finding] = []
        self.directives: list[Node] = []  # #include / #define met in declaration scopes
        self._namespaces: set[str] = set()
        self._classes: set[str] = set()
        # whether any function may carry an execution-space or launch-bounds annotation
        self._accelerator = any(word in source for word in _ACCELERATOR_WORDS)

    def collect(self, root: Node) -> None:
        """Gather everything declared under ``root`` (a translation unit)."""
        self._visit_scope(root, _Scope())

    # -- scopes ---------------------------------------------------------------------------

    def _visit_scope(self, node: Node, scope: _Scope) -> None:
        if scope.depth > _MAX_DEPTH:
            return
        for child in node.named_children:
            handler = _HANDLERS.get(child.type)
            if handler is not None:
                handler(self, child, scope)

    def _container(self, node: Node, scope: _Scope) -> str:
        self._visit_scope(node, scope.inner())
        return ""

    def _directive(self, node: Node, scope: _Scope) -> str:
        self.directives.append(node)
        return ""

    def _linkage(self, node: Node, scope: _Scope) -> str:
        body = node.child_by_field_name("body")
        handler = _HANDLERS.get(body.type) if body is not None else None
        return handler(self, body, scope) if handler is not None and body is not None else ""

    def _namespace(self, node: Node, scope: _Scope) -> str:
        name_node = node.child_by_field_name("name")
        written = self._text(name_node) if name_node is not None else "(anonymous)"
        qualified = _join(scope.prefix, written)
        self._namespaces.update(written.split("::"))
        self._add("namespace", qualified, node, node, scope)
        body = node.child_by_field_name("body")
        if body is not None:
            inner = _Scope(prefix=qualified, namespace=qualified, depth=scope.depth + 1)
            self._visit_scope(body, inner)
        return qualified

    def _template(self, node: Node, scope: _Scope) -> str:
        inner = scope.inner(template=scope.template or node)
        name = ""
        for child in node.named_children:
            handler = _HANDLERS.get(child.type)
            if handler is not None:
                name = handler(self, child, inner) or name
        if scope.template is None:  # one finding per construct, not per nested header
            parameters = node.child_by_field_name("parameters")
            head = "template " + (self._text(parameters) if parameters is not None else "")
            target = f" for `{name}`" if name else ""
            self._finding("Template", line_of(node), f"`{head.strip()}`{target}")
        return name

    # -- classes --------------------------------------------------------------------------

    def _class(self, node: Node, scope: _Scope, anchor: Node, alias: str = "") -> str:
        body = node.child_by_field_name("body")
        name_node = node.child_by_field_name("name")
        written = self._text(name_node) if name_node is not None else alias
        if not written:
            return ""  # anonymous: its members belong to the enclosing scope's object
        qualified = _join(scope.prefix, written)
        if body is None:
            return qualified  # a forward declaration names a class without defining it
        # ``struct ivalue::Await`` defines ``Await`` of namespace ``ivalue``
        plain = plain_name(final_name(name_node), self.source) if name_node else written
        self._classes.add(plain)
        bases = tuple(
            self._text(base)
            for clause in node.named_children
            if clause.type == "base_class_clause"
            for base in clause.named_children
            if base.type not in ("access_specifier", "comment")
        )
        symbol = self._add(_CLASS_KINDS[node.type], qualified, node, anchor, scope, bases)
        if name_node is None:  # typedef struct { ... } name_t;
            symbol = replace(symbol, signature=f"typedef {symbol.signature} {{ … }} {alias}")
            self.symbols[-1] = symbol
        if node.type != "enum_specifier":
            facts = _ClassFacts()
            inner = _Scope(prefix=qualified, namespace=scope.namespace, class_name=plain,
                           facts=facts, depth=scope.depth + 1)
            self._visit_scope(body, inner)
            self._class_findings(symbol, facts)
        return qualified

    def _class_specifier(self, node: Node, scope: _Scope) -> str:
        return self._class(node, scope, node)

    def _class_findings(self, symbol: Symbol, facts: _ClassFacts) -> None:
        if facts.destructor_line:
            detail = f"`{symbol.name}` defines a destructor (line {facts.destructor_line})"
            self.findings.append(Finding("pattern", "RAII/destructor", symbol.line, detail))
        if facts.pure_virtual:
            names = ", ".join(f"`{name}`" for name in facts.pure_virtual[:5])
            extra = len(facts.pure_virtual) - 5
            more = f" and {extra} more" if extra > 0 else ""
            detail = f"`{symbol.name}` declares pure virtual methods: {names}{more}"
            self.findings.append(Finding("pattern", "Virtual interface", symbol.line, detail))

    # -- declarations ---------------------------------------------------------------------

    def _declaration(self, node: Node, scope: _Scope) -> str:
        produced = ""
        type_node = node.child_by_field_name("type")
        if type_node is not None and type_node.type in _CLASS_KINDS:
            alias = ""
            if node.type == "type_definition":  # typedef struct { ... } name_t;
                declarator = node.child_by_field_name("declarator")
                if declarator is not None and declarator.type == "type_identifier":
                    alias = self._text(declarator)
            produced = self._class(type_node, scope, node, alias)
        if node.type == "type_definition":
            # ``typedef void fn_t(int)`` names a type, not a function
            if not produced:
                for declarator in node.children_by_field_name("declarator"):
                    name = _declared_type(declarator)
                    if name is not None:
                        produced = self._alias(node, self._text(name), scope)
            return produced
        for declarator in node.children_by_field_name("declarator"):
            target = function_target(declarator)
            if target is not None:
                produced = self._function(node, target, scope) or produced
            elif not scope.class_name and _is_constexpr(node):
                produced = self._constant(node, declarator, scope) or produced
        return produced

    def _alias_declaration(self, node: Node, scope: _Scope) -> str:
        name = node.child_by_field_name("name")
        return self._alias(node, self._text(name), scope) if name is not None else ""

    def _alias(self, node: Node, written: str, scope: _Scope) -> str:
        """``using T = ...;`` or ``typedef ... T;``: a type alias, with its definition."""
        name = _join(scope.prefix, written)
        start = scope.template or node
        signature = one_line(self.source[self._written_start(start.start_byte) : node.end_byte])
        self.symbols.append(Symbol(
            kind="alias", name=name, line=line_of(start), end_line=end_line_of(node),
            signature=shorten(signature.rstrip(";").rstrip(), 200),
            summary=summary_above(start, self.source),
        ))
        return name

    def _function_definition(self, node: Node, scope: _Scope) -> str:
        declarator = node.child_by_field_name("declarator")
        target = function_target(declarator) if declarator is not None else None
        return self._function(node, target, scope) if target is not None else ""

    def _friend(self, node: Node, scope: _Scope) -> str:
        # A friend function declared in a class body is a function of the enclosing namespace
        # too (``friend bool operator==(const A&, const A&);``): listed where it is declared.
        for child in node.named_children:
            if child.type in ("function_definition", "declaration"):
                outer = _Scope(prefix=scope.namespace, namespace=scope.namespace,
                               template=scope.template or node, depth=scope.depth)
                handler = _HANDLERS[child.type]
                return handler(self, child, outer)
        return ""

    def _function(self, node: Node, target: Node, scope: _Scope) -> str:
        parts = name_parts(target, self.source)
        last = final_name(target)
        qualified = target.type == "qualified_identifier"
        guide = False
        if node.child_by_field_name("type") is None and not _untyped_ok(last, parts, scope):
            guide = _is_deduction_guide(target, self.source)
            if not guide:
                return ""  # ``TORCH_LIBRARY(aten, m) {`` is a macro invocation, not a function
        if qualified:
            member = names_class(target, self.source, self._classes, self._namespaces)
        else:
            member = bool(scope.class_name)
        kind = "method" if member else "function"
        if any(child.type == "__global__" for child in node.children):
            kind = "kernel"
        elif guide:
            kind = "guide"
        name = _join(scope.prefix, "::".join(parts))
        symbol = self._add(kind, name, node, node, scope)
        if last.type in ("operator_name", "operator_cast"):
            self._finding("Operator overloading", symbol.line, f"`{name}`")
        if kind == "kernel":
            detail = f"`{name}` is a `__global__` kernel"
            self._finding("CUDA kernel", symbol.line, detail, area="performance")
        if self._accelerator:
            self._accelerator_facts(symbol, node, kernel=kind == "kernel")
        owner = parts[-2] if qualified and len(parts) >= 2 else ""
        self._member_facts(symbol, node, last, scope, owner)
        return name

    def _accelerator_facts(self, symbol: Symbol, node: Node, kernel: bool) -> None:
        """``__host__ __device__`` functions and launch bounds, from the declaration's head
        and the annotations on the lines above it (masked for the parser, kept in ``source``)."""
        previous = node.prev_named_sibling
        if previous is not None:
            start = previous.end_byte
        else:
            start = node.parent.start_byte if node.parent is not None else node.start_byte
        end = node.end_byte
        for child in node.children:
            if child.type in _BODY_TYPES:
                end = child.start_byte
                break
        head = one_line(self.source[start:end])
        spaces = list(dict.fromkeys(m.group(0) for m in _EXECUTION_SPACE.finditer(head)))
        if spaces and not kernel:
            written = " ".join(f"`{space}`" for space in spaces)
            self._finding("CUDA device code", symbol.line, f"`{symbol.name}` is {written} code",
                          area="performance")
        bounds = _LAUNCH_BOUNDS.search(head)
        if bounds is not None:
            detail = f"`{symbol.name}` declares `{shorten(bounds.group(0), 80)}`"
            self._finding("Launch bounds", symbol.line, detail, area="performance")

    def _member_facts(
        self, symbol: Symbol, node: Node, last: Node, scope: _Scope, owner: str
    ) -> None:
        """Class facts from a member; an out-of-line destructor whose class is defined
        elsewhere (a ``.cpp`` file) is a finding of its own."""
        destructor = last.type == "destructor_name"
        if scope.facts is not None:
            if destructor and not scope.facts.destructor_line:
                scope.facts.destructor_line = symbol.line
            if is_pure_virtual(node):
                scope.facts.pure_virtual.append(symbol.name.rsplit("::", 1)[-1])
        elif destructor and owner and owner not in self._classes:
            detail = f"destructor `{symbol.name}` defined out of line"
            self._finding("RAII/destructor", symbol.line, detail)

    def _constant(self, node: Node, declarator: Node, scope: _Scope) -> str:
        if declarator.type != "init_declarator":
            return ""
        name_node = declarator.child_by_field_name("declarator")
        value = declarator.child_by_field_name("value")
        if name_node is None or name_node.type != "identifier" or value is None:
            return ""
        name = _join(scope.prefix, self._text(name_node))
        start = scope.template or node
        head = one_line(self.source[start.start_byte : value.start_byte]).rstrip("= ")
        self.symbols.append(Symbol(
            kind="constant", name=name, line=line_of(start), end_line=end_line_of(node),
            signature=head, summary=summary_above(start, self.source),
            value=shorten(self._text(value), 120),
        ))
        return name

    # -- records --------------------------------------------------------------------------

    def _add(
        self, kind: str, name: str, node: Node, anchor: Node, scope: _Scope,
        bases: tuple[str, ...] = (),
    ) -> Symbol:
        """Record a symbol whose head runs from its template (or ``node``) to its body; its
        summary comes from the comment above the outermost node (template or declaration)."""
        start = scope.template or node
        symbol = Symbol(
            kind=kind, name=name, line=line_of(start), end_line=end_line_of(node),
            signature=self._head(start, node),
            summary=summary_above(scope.template or anchor, self.source), bases=bases,
        )
        self.symbols.append(symbol)
        return symbol

    def _head(self, start: Node, node: Node) -> str:
        end = node.end_byte
        for child in node.children:
            if child.type in _BODY_TYPES:
                end = child.start_byte
                break
        head = self.source[self._written_start(start.start_byte) : end]
        return one_line(head).rstrip(";").rstrip()

    def _written_start(self, start: int) -> int:
        """Move ``start`` back over masked annotations on the same line, so a signature keeps
        its ``TORCH_API`` as written."""
        written = start
        while start > 0 and self.parsed[start - 1] in b" \t":
            start -= 1
            if self.source[start] not in b" \t":
                written = start
        return written

    def _finding(self, label: str, line: int, detail: str, area: str = "pattern") -> None:
        self.findings.append(Finding(area, label, line, detail))

    def _text(self, node: Node) -> str:
        return node_text(node, self.source)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}::{name}" if prefix else name


def _is_constexpr(node: Node) -> bool:
    return any(
        child.type in ("type_qualifier", "constexpr") and child.text == b"constexpr"
        for child in node.children
    )


def _declared_type(declarator: Node) -> Node | None:
    """The name a ``typedef`` declarator declares (``fn_t`` of ``(*fn_t)(int)``)."""
    node: Node | None = declarator
    while node is not None and node.type != "type_identifier":
        inner = node.child_by_field_name("declarator")
        if inner is None and node.type == "parenthesized_declarator":
            inner = node.named_child(0)
        node = inner
    return node


def _is_deduction_guide(target: Node, source: bytes) -> bool:
    """``Box(T) -> Box<T>;``: a declarator without return type whose trailing return type
    names the class it is named after."""
    declarator = target.parent
    if declarator is None or declarator.type != "function_declarator":
        return False
    trailing = next((c for c in declarator.named_children if c.type == "trailing_return_type"),
                    None)
    if trailing is None or trailing.named_child_count == 0:
        return False
    returned = trailing.named_child(0)
    inner = returned.child_by_field_name("type") if returned is not None else None
    if inner is None:
        return False
    return plain_name(inner, source) == node_text(target, source)


def _untyped_ok(last: Node, parts: list[str], scope: _Scope) -> bool:
    """Whether a declaration without a return type is a constructor, destructor or conversion
    operator (the only C++ declarations that have none)."""
    if last.type in ("destructor_name", "operator_cast"):
        return True
    if len(parts) >= 2:
        return parts[-2] == parts[-1]
    return bool(scope.class_name) and scope.class_name == parts[-1]


Handler = Callable[[StructureCollector, Node, _Scope], str]

_HANDLERS: dict[str, Handler] = {
    "preproc_if": StructureCollector._container,
    "preproc_ifdef": StructureCollector._container,
    "preproc_else": StructureCollector._container,
    "preproc_elif": StructureCollector._container,
    "preproc_elifdef": StructureCollector._container,
    "declaration_list": StructureCollector._container,
    "ERROR": StructureCollector._container,
    "linkage_specification": StructureCollector._linkage,
    "namespace_definition": StructureCollector._namespace,
    "template_declaration": StructureCollector._template,
    "class_specifier": StructureCollector._class_specifier,
    "struct_specifier": StructureCollector._class_specifier,
    "union_specifier": StructureCollector._class_specifier,
    "enum_specifier": StructureCollector._class_specifier,
    "declaration": StructureCollector._declaration,
    "field_declaration": StructureCollector._declaration,
    "type_definition": StructureCollector._declaration,
    "alias_declaration": StructureCollector._alias_declaration,
    "function_definition": StructureCollector._function_definition,
    "friend_declaration": StructureCollector._friend,
    "preproc_include": StructureCollector._directive,
    "preproc_def": StructureCollector._directive,
    "preproc_function_def": StructureCollector._directive,
}
