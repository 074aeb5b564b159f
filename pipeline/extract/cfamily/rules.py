"""Includes, macros, and the calls, types and directives behind the performance and security
notes, found with tree-sitter queries (filtered inside tree-sitter, never in comments)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from tree_sitter import Language, Node, Query, QueryCursor

from pipeline.extract import tsnodes
from pipeline.extract.cfamily.text import (
    end_line_of,
    is_include_guard,
    node_text,
    summary_above,
)
from pipeline.extract.tsnodes import line as line_of
from pipeline.prose import shorten
from pipeline.records import Finding, Import, Symbol

_SHELL = ("system", "popen")
_UNBOUNDED = ("strcpy", "strcat", "sprintf", "vsprintf", "gets")
_ATOMIC_CALL = r"(gpu|fast)?[Aa]tomic(Add|Sub|Exch|Min|Max|Inc|Dec|CAS|And|Or|Xor)(_block|_system)?"
# How many arguments the C library functions take; a call with another count is a namesake.
_ARITY: dict[str, Callable[[int], bool]] = {
    "system": lambda count: count == 1,
    "popen": lambda count: count == 2,
    "strcpy": lambda count: count == 2,
    "strcat": lambda count: count == 2,
    "gets": lambda count: count == 1,
    "sprintf": lambda count: count >= 2,
    "vsprintf": lambda count: count == 3,
}
_CALLS = "|".join((*_SHELL, *_UNBOUNDED, "pthread_create", "parallel_for", "parallel_reduce"))

# Directives anywhere (a ``#define`` inside a function body too). Only needed when the
# structure walk, which sees the directives of declaration scopes, missed some.
_DIRECTIVES = """
(preproc_include path: (_) @include)
(preproc_def name: (identifier) @define)
(preproc_function_def name: (identifier) @define)
"""
# Counts every directive (and a few in comments, which only cost a needless query).
_DIRECTIVE = re.compile(rb"#[ \t]*(?:include|define)\b")

# Finding patterns. Predicates keep the filtering inside tree-sitter, and a capture is always a
# node of the construct itself, so comments and strings never match.
_COMMON = rf"""
(call_expression function: (identifier) @call (#match? @call "^({_CALLS}|{_ATOMIC_CALL})$"))
(preproc_call directive: (preproc_directive) @_directive argument: (preproc_arg) @omp
  (#eq? @_directive "#pragma") (#match? @omp "^omp([ \t]|$)"))
"""
_QUALIFIED_CALLS = (
    r"^(::)?(std::)?(system|popen|strcpy|strcat|sprintf|vsprintf|gets|pthread_create)$"
    r"|^(::)?std::async$|^(::)?(at::)?parallel_(for|reduce)$"
)
_CPP = rf"""
(call_expression function: (qualified_identifier) @call (#match? @call "{_QUALIFIED_CALLS}"))
((qualified_identifier) @stdtype
  (#match? @stdtype "^(::)?std::(atomic(_flag|_ref)?|thread|jthread)($|<)"))
"""
_CUDA = r"""
(kernel_call_syntax) @launch
((type_qualifier) @shared (#eq? @shared "__shared__"))
"""
_PATTERNS = {"c": _COMMON, "cpp": _COMMON + _CPP, "cuda": _COMMON + _CPP + _CUDA}
# A query walks the whole tree (about a third of the parse time); most headers hold none of
# these words, and then there is nothing for it to find. Every match of a pattern above holds
# one of them, unless written with odd spacing (``system\n(``); on the torch headers the gated
# and ungated findings are identical. A regex scan would cost more than the query it saves.
_TRIGGER_WORDS = (
    b"system(", b"system (", b"popen", b"strcpy", b"strcat", b"sprintf", b"gets(", b"gets (",
    b"pthread_create", b"parallel_for", b"parallel_reduce", b"std::async", b"std::thread",
    b"std::jthread", b"tomic", b"pragma omp", b"<<<", b"__shared__",
)


@functools.cache
def _query(patterns: str, language: Language) -> Query:
    return Query(language, patterns)


def _triggered(source: bytes) -> bool:
    return any(word in source for word in _TRIGGER_WORDS)


def _argument_count(function: Node) -> int:
    call = function.parent
    arguments = call.child_by_field_name("arguments") if call is not None else None
    if arguments is None:
        return -1
    return sum(1 for child in arguments.named_children if child.type != "comment")


# Headers of accelerator runtimes and libraries: their first path component or file name.
_HIP_INCLUDE = re.compile(r"^(hip|hipblas|hipblaslt|hipsparse|hipfft|hiprand|hipcub|rocblas|rocm|"
                  r"rocprim|rocrand|rccl|miopen|roctracer)(/|_|\.h|$)|^(c10|ATen)/hip/",
                  re.IGNORECASE)
_CUDA_INCLUDE = re.compile(r"^(cuda|cub|thrust|cublas(Lt)?|cudnn|curand|cusparse(Lt)?|cufft"
                           r"|cusolver\w*|nccl|nvrtc|nvToolsExt|nvtx3|cupti|nvml)(/|_|\.h|$)"
                   r"|^(c10|ATen)/cuda/|^(cuda_runtime|cuda_fp16|cuda_bf16|cuComplex)\w*\.h$")


def accelerator_runtime(module: str) -> str:
    """``HIP`` or ``CUDA`` for an include of that runtime or its libraries, else ``""``."""
    if _HIP_INCLUDE.search(module):
        return "HIP"
    if _CUDA_INCLUDE.search(module):
        return "CUDA"
    return ""


class TreeScan:
    """Turns directives and query captures into imports, macros and findings."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.imports: list[Import] = []
        self.macros: list[Symbol] = []
        self.findings: list[Finding] = []

    def scan(
        self, root: Node, grammar: str, directives: list[Node]
    ) -> None:
        """Fill imports, macros and findings; ``directives`` are those the structure walk met."""
        language = tsnodes.language(grammar)
        if len(_DIRECTIVE.findall(self.source)) != len(directives):
            captures = QueryCursor(_query(_DIRECTIVES, language)).captures(root)
            directives = [node.parent for nodes in captures.values() for node in nodes
                          if node.parent is not None]
        for directive in directives:
            if directive.type == "preproc_include":
                self._include(directive)
            else:
                self._macro(directive)
        if _triggered(self.source):
            self._findings(QueryCursor(_query(_PATTERNS[grammar], language)).captures(root))

    def _findings(self, captures: dict[str, list[Node]]) -> None:
        for node in captures.get("call", ()):
            self._call(node)
        for node in captures.get("stdtype", ()):
            self._std_type(node)
        for node in captures.get("omp", ()):
            pragma = "#pragma " + self._text(node)
            self._add("performance", "Threads", node, f"`{pragma}` (OpenMP)")
        for node in captures.get("launch", ()):
            self._launch(node)
        for node in captures.get("shared", ()):
            self._shared(node)

    def _include(self, directive: Node) -> None:
        path = directive.child_by_field_name("path")
        if path is None:
            return
        text = self._text(path)
        if path.type == "system_lib_string":
            kind = "system-include"
        elif path.type == "string_literal":
            kind = "include"
        else:
            return  # ``#include SOME_MACRO``: the file is only known after preprocessing
        module = text[1:-1].strip()
        if module:
            self.imports.append(Import(kind=kind, module=module, line=line_of(path),
                                       end_line=line_of(path)))
            runtime = accelerator_runtime(module)
            if runtime:
                self._add("performance", f"{runtime} include", path,
                          f"`#include {text}` ({runtime} API)")

    def _macro(self, definition: Node) -> None:
        name = definition.child_by_field_name("name")
        if name is None or is_include_guard(definition):
            return
        parameters = definition.child_by_field_name("parameters")
        value = definition.child_by_field_name("value")
        signature = f"#define {self._text(name)}"
        if parameters is not None:
            signature += self._text(parameters)
        self.macros.append(Symbol(
            kind="macro", name=self._text(name), line=line_of(definition),
            end_line=end_line_of(definition), signature=signature,
            summary=summary_above(definition, self.source),
            value=shorten(self._text(value), 120) if value is not None else "",
        ))

    def _call(self, function: Node) -> None:
        written = self._text(function)
        bare = written.rsplit("::", 1)[-1]
        if bare in _ARITY and not _ARITY[bare](_argument_count(function)):
            return  # same name, other function: ``fmt::vsprintf(format, args)`` returns a string
        if bare in _SHELL:
            self._add("security", "Shell command", function,
                      f"`{written}()` runs a command through the shell")
        elif bare in _UNBOUNDED:
            self._add("security", "Unbounded string copy", function,
                      f"`{written}()` writes without a bound on the destination size")
        elif bare == "pthread_create":
            self._add("performance", "Threads", function, f"`{written}()` starts a thread")
        elif bare.startswith("parallel_"):
            self._add("performance", "Threads", function, f"`{written}()` parallel loop")
        elif bare == "async":
            self._add("performance", "Threads", function, f"`{written}()` runs a task")
        else:
            self._add("performance", "Atomics", function, f"`{written}()` atomic operation")

    def _std_type(self, node: Node) -> None:
        written = self._text(node)
        label = "Atomics" if "atomic" in written.split("<", 1)[0] else "Threads"
        self._add("performance", label, node, f"`{shorten(written, 80)}`")

    def _launch(self, configuration: Node) -> None:
        call = configuration.parent
        function = call.child_by_field_name("function") if call is not None else None
        kernel = self._text(function) if function is not None else "kernel"
        launch = shorten(f"{kernel}{self._text(configuration)}", 120)
        self._add("performance", "Kernel launch", configuration, f"`{launch}` launch")

    def _shared(self, qualifier: Node) -> None:
        declaration = qualifier.parent
        shown = self._text(declaration) if declaration is not None else "__shared__"
        self._add("performance", "Shared memory", qualifier,
                  f"`{shorten(shown.rstrip(';'), 80)}` block-shared memory")

    def _add(self, area: str, label: str, node: Node, detail: str) -> None:
        self.findings.append(Finding(area, label, line_of(node), detail))

    def _text(self, node: Node) -> str:
        return node_text(node, self.source)
