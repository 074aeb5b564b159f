"""What the Python extractor gathers before it becomes records: definitions and expression facts.

Expression values that rules compare are kept in a small canonical form, the same whichever
tree they came from: ``s:text`` for a string, ``c:True`` for another constant, ``n:a.b`` for a
(resolved) dotted name and ``?`` for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Decorator:
    """One ``@decorator`` as written, with the dotted name it calls (unresolved)."""

    text: str  # without the ``@``: ``dataclass(frozen=True)``
    name: str  # dotted callee as written: ``dataclass``, ``x.setter``; "" when not a name
    line: int
    args: tuple[str, ...] = ()  # canonical positional arguments of a call
    kwargs: tuple[tuple[str, str], ...] = ()  # canonical keyword arguments of a call


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    annotated: bool
    callable_hint: bool  # annotated ``Callable[...]``


@dataclass(slots=True)
class FuncInfo:
    """A ``def`` and what rules need to know about it."""

    qualname: str
    name: str
    line: int
    end_line: int
    is_async: bool
    decorators: tuple[Decorator, ...]
    params: tuple[Param, ...]
    returns_annotated: bool
    owner_class: str  # qualname of the class whose body holds it directly, else ""
    parent: str  # qualname of the enclosing definition ("" at module level)
    public: bool  # part of the public API: no ``_`` name in its qualified name
    top_level: bool  # module level (also inside module-level ``if``/``try``)
    nested: list[str] = field(default_factory=list)  # names of functions defined directly inside
    returned: set[str] = field(default_factory=set)  # names it returns directly (``return x``)


@dataclass(slots=True)
class ClassInfo:
    qualname: str
    name: str
    line: int
    end_line: int
    bases: tuple[str, ...]  # as written
    base_names: tuple[str, ...]  # dotted names of the bases (unresolved), "" when not a name
    keywords: tuple[tuple[str, str], ...]  # (keyword, dotted value as written)
    decorators: tuple[Decorator, ...]
    parent: str
    nested_in_class: bool  # directly in another class body (pytest collects those too)
    methods: list[FuncInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TryInfo:
    line: int
    scope: str
    handlers: tuple[str, ...]  # exception types as written ("" for a bare ``except``)


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a name: ``pickle.loads(data)`` with its arguments in canonical form."""

    line: int
    name: str  # resolved dotted name
    args: tuple[str, ...]  # the first two positional arguments
    kwargs: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Facts:
    """Expression-level facts, from whichever tree could give them."""

    calls: list[Call] = field(default_factory=list)  # calls of imported or builtin names
    refs: list[tuple[int, str]] = field(default_factory=list)  # other uses of imported names
    keywords: list[tuple[int, str, str]] = field(default_factory=list)  # device=/verify= anywhere
    cuda_calls: list[int] = field(default_factory=list)  # ``x.cuda()``
    stores: list[tuple[int, str, str]] = field(default_factory=list)  # ``x.check_hostname = ...``
    yields: list[int] = field(default_factory=list)
    awaits: list[tuple[int, str]] = field(default_factory=list)  # (line, "await"/"async for")
    bound: set[str] = field(default_factory=set)  # builtins shadowed by a local binding
    local_calls: list[tuple[int, str]] = field(default_factory=list)  # calls of asked-for names
