"""Python extraction: libcst for the structure, ``ast`` of the same text for lines and facts."""

from __future__ import annotations

import ast
import gc
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import libcst as cst
from libcst import CSTNode
from libcst.metadata import MetadataWrapper, PositionProvider

from pipeline.extract.python.astonly import from_ast
from pipeline.extract.python.facts import CstFacts, ast_facts
from pipeline.extract.python.model import Facts
from pipeline.extract.python.positions import AstPositions, MetaPositions, Misaligned
from pipeline.extract.python.recover import recover
from pipeline.extract.python.rules import find_all
from pipeline.extract.python.text import clean_docstring, examples_in
from pipeline.extract.python.visitor import Gatherer
from pipeline.records import Example, Extraction, Note

LANGUAGE = "python"
# libcst's native parser overflows its stack (a crash, not an exception) near a few thousand
# levels of nesting; CPython refuses such text first, so text it refuses for depth, or text
# it cannot parse that nests that deep, never reaches libcst.
_MAX_BRACKETS = 500
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
_ERROR_AT = re.compile(r"error at (\d+):\d+")
_UNARY_RUN = re.compile(r"(?:[-+~]\s*){500}|(?:\bnot\s+){500}|(?:\blambda\b[^:\n]*:\s*){500}")


def extract_python(text: str) -> Extraction:
    """Everything docs/format.md §3-§4 shows for a Python file (problems in the text become
    notes; an extractor bug is caught, once for all extractors, by
    :func:`pipeline.extract.extract`)."""
    with warnings.catch_warnings(), _extracting():
        warnings.simplefilter("ignore")  # invalid escapes in docstrings, etc.
        return _extract(_normalised(text))


_VALIDATE: Callable[[CSTNode], None] = CSTNode.__dict__["__post_init__"]


def _skip_validation(node: CSTNode) -> None:
    """Stands in for ``CSTNode.__post_init__`` while a tree is parsed and visited."""


@contextmanager
def _extracting() -> Iterator[None]:
    """Two process-wide settings for reading trees, on while any extraction runs in the
    process and restored after the last (counted, for doit's thread runner):

    - libcst's node checks are off. libcst checks every node it builds
      (``CSTNode.__post_init__`` calls ``_validate``), when the parser builds the tree and
      when a visit rebuilds a node. The checks are meant for trees built by hand: on parser
      output they cost about a fifth of the parse, and some reject valid code
      (``() if 0 else(lambda:())`` raises ``TypeError``; upstream Instagram/LibCST#1061).
    - The garbage collector is off: the trees are acyclic garbage, and collection passes
      cost a large share of the run (bench/README.md)."""
    with _SWITCH:
        if not _ACTIVE[0]:
            _COLLECTING[0] = gc.isenabled()
            gc.disable()
            CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign,assignment]
        _ACTIVE[0] += 1
    try:
        yield
    finally:
        with _SWITCH:
            _ACTIVE[0] -= 1
            if not _ACTIVE[0]:
                CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign,assignment]
                if _COLLECTING[0]:
                    gc.enable()


_SWITCH = threading.Lock()
_ACTIVE = [0]  # extractions running in this process
_COLLECTING = [True]  # whether the collector ran before the first of them


def _normalised(text: str) -> str:
    # Both parsers count \r as a line break; one convention keeps slices and lines aligned.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[1:] if text.startswith("\ufeff") else text


def _extract(text: str) -> Extraction:
    tree, refusal, error_line = _parse_ast(text)
    if refusal is not None:
        return recover(text, refusal)
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        message = error.message.strip().split("\n", 1)[0]
        if tree is not None:  # valid Python that libcst's grammar does not cover
            return from_ast(tree, text, message, _line_of(error))
        return recover(text, Note("syntax-error", message, error_line or _line_of(error)))
    except RecursionError:
        return recover(text, Note("parse-error", "nesting too deep for the parser"))
    lines = text.split("\n")
    walrus = [n for n, line in enumerate(lines, 1) if ":=" in line] if ":=" in text else []
    gatherer: Gatherer | None = None
    facts = Facts()
    try:
        if tree is not None:
            try:
                gatherer = Gatherer(AstPositions(tree, lines), walrus)
                module.visit(gatherer)
                if not gatherer.pos.done():
                    raise Misaligned("ast has statements libcst did not visit")
                facts = ast_facts(tree, gatherer.aliases, _wrapped_candidates(gatherer))
                return _assemble(gatherer, facts, ())
            except Misaligned:
                pass  # the trees disagree: take the slow, exact path below
        ranges = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        gatherer = Gatherer(MetaPositions(module, ranges, lines), walrus)
        module.visit(gatherer)
        if tree is not None:  # only the statement positions disagreed: ast has the facts
            facts = ast_facts(tree, gatherer.aliases, _wrapped_candidates(gatherer))
        else:  # text ast cannot parse (newer syntax than this Python): facts from libcst
            collector = CstFacts(ranges, gatherer.aliases, _wrapped_candidates(gatherer))
            facts = collector.facts
            module.visit(collector)
        return _assemble(gatherer, facts, ())
    except RecursionError:
        note = Note("parse-error", "expressions nested too deeply to analyse; results are partial")
        if gatherer is None:
            return Extraction(LANGUAGE, notes=(note,))
        return _assemble(gatherer, facts, (note,))


def _parse_ast(text: str) -> tuple[ast.Module | None, Note | None, int]:
    """The ``ast`` tree, or None and why: a note when libcst must not be tried, or the line
    CPython's parser stopped at (0 when it did not say)."""
    line = 0
    try:
        return ast.parse(text), None, 0
    except (RecursionError, MemoryError):
        return None, Note("parse-error", "expressions nested too deeply to parse"), 0
    except SyntaxError as error:
        line = error.lineno or 0
        if "too many nested" in str(error.msg):
            return None, Note("parse-error", str(error.msg), line), line
    except ValueError:  # NUL bytes: libcst decides
        pass
    if _too_deep(text):
        return None, Note("parse-error", "expressions nested too deeply to parse"), line
    return None, None, line


def _line_of(error: cst.ParserSyntaxError) -> int:
    """The line libcst's message names ("error at 25:8"); its ``raw_line`` is at times the
    line after. (When CPython also rejected the text, its exact line is used instead.)"""
    found = _ERROR_AT.search(error.message)
    return int(found[1]) if found else error.raw_line


def _too_deep(text: str) -> bool:
    depth = deepest = 0
    for char in _NOT_BRACKET.sub("", text):
        depth = depth + 1 if char in "([{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest > _MAX_BRACKETS or _UNARY_RUN.search(text) is not None


def _wrapped_candidates(gatherer: Gatherer) -> frozenset[str]:
    """Parameters of functions that return a nested function: maybe the callable it wraps."""
    return frozenset(
        param.name
        for info in gatherer.functions
        if info.returned.intersection(info.nested)
        for param in info.params
    )


def _assemble(gatherer: Gatherer, facts: Facts, notes: tuple[Note, ...]) -> Extraction:
    overview = ""
    examples: list[Example] = []
    for owner, value, line in gatherer.docstrings:
        if owner == "" and not overview:
            overview = clean_docstring(value)
        examples.extend(examples_in(value, owner, line))
    examples.sort(key=lambda example: (example.line, example.owner))
    return Extraction(
        language=LANGUAGE,
        overview=overview,
        symbols=tuple(sorted(gatherer.symbols, key=lambda s: (s.line, s.name))),
        imports=tuple(sorted(gatherer.imports, key=lambda i: i.line)),
        findings=find_all(gatherer, facts),
        tests=_tests(gatherer),
        examples=tuple(examples),
        exports=tuple(dict.fromkeys(gatherer.exports)),
        has_main=gatherer.has_main,
        notes=notes,
    )


def _tests(gatherer: Gatherer) -> tuple[str, ...]:
    """Test ids as pytest collects them: ``test*`` functions, ``Test*``/``TestCase`` methods."""
    collected: set[str] = set()
    names: set[str] = set()  # simple names of test classes, so subclasses of them count too
    for info in gatherer.classes:
        if info.parent and (not info.nested_in_class or info.parent not in collected):
            continue
        by_base = any(
            base.rsplit(".", 1)[-1].endswith("TestCase") or base in names
            for base in info.base_names
        )
        plain = info.name.startswith("Test") and not any(m.name == "__init__" for m in info.methods)
        if by_base or plain:
            collected.add(info.qualname)
            names.add(info.name)
    ids: list[str] = []
    for function in gatherer.functions:
        if not function.name.startswith("test"):
            continue
        if function.top_level:
            ids.append(function.name)
        elif function.owner_class in collected:
            ids.append(function.owner_class.replace(".", "::") + "::" + function.name)
    return tuple(dict.fromkeys(ids))
