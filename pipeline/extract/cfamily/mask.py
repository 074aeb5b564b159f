"""Same-length masking of annotation macros, so tree-sitter parses what the compiler would see."""

from __future__ import annotations

import re

# Export and inlining macros (``TORCH_API``, ``C10_HOST_DEVICE``, ``PROTOBUF_FINAL``) expand to
# attributes, but tree-sitter reads them as type names and loses the declaration around them
# (most parse errors in torch's headers; bench/README.md). They are masked only where an
# attribute can stand (before a name, a ``:``, a ``~`` or a directive), never inside a directive
# line (``#define TORCH_API ...`` stays a macro definition).
_ATTRIBUTE = re.compile(
    rb"\b(?:[A-Z][A-Z0-9]*_)+"
    rb"(?:API|EXPORT|IMPORT|VISIBILITY|HIDDEN|INLINE(?:_NODEBUG|_UNLESS_MOBILE)?|NOINLINE"
    rb"|HOST_DEVICE|DEVICE|HOST|RESTRICT|CONSTEXPR(?:_STRING)?|INTRINSIC|CONST|FINAL(?:_CLASS)?"
    rb"|NODISCARD|UNUSED|DEPRECATED|API_ENUM|ERASE)\b"
    rb"(?=[ \t\n]+[A-Za-z_:~#])"
)
# The same names found from their last word: a scan for a leading upper-case name tries every
# position and costs a third of a parse; this one jumps to the rare ``_API``-like endings.
_ATTRIBUTE_END = re.compile(
    rb"_(?:API|EXPORT|IMPORT|VISIBILITY|HIDDEN|INLINE|NODEBUG|MOBILE|NOINLINE|DEVICE|HOST"
    rb"|RESTRICT|CONSTEXPR|STRING|INTRINSIC|CONST|FINAL|CLASS|NODISCARD|UNUSED|DEPRECATED|ENUM"
    rb"|ERASE)\b"
)
_NAME_TAIL = re.compile(rb"[A-Z][A-Z0-9_]*\Z")
_IDENTIFIER_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# Function-like annotations alone at the start of a line (``C10_DEPRECATED_MESSAGE("...")``,
# ``C10_DIAGNOSTIC_PUSH_AND_IGNORED_IF_DEFINED("-Wfoo")``, ``C10_LAUNCH_BOUNDS_1(128)``): masked
# with their balanced argument list.
_ANNOTATION_CALL = re.compile(
    rb"(?m)^[ \t]*([A-Z][A-Z0-9_]*(?:DEPRECATED|DIAGNOSTIC|LAUNCH_BOUNDS|PRAGMA)[A-Z0-9_]*)[ \t]*\("
)
_ANNOTATION_WORDS = (b"DEPRECATED", b"DIAGNOSTIC", b"LAUNCH_BOUNDS", b"PRAGMA")

# tree-sitter-cpp 0.23 cannot parse an empty braced default argument (``T x = {}``) and inserts a
# phantom type name; ``0 `` has the same length and parses as the plain default it stands for.
_EMPTY_BRACES_DEFAULT = re.compile(rb"=[ \t]*(\{\})(?=[ \t]*[,)])")

# tree-sitter-cpp 0.23 reads ``= delete;`` of a template as a delete expression that
# swallows the next member; blanked, ``T to() const;`` is a plain declaration (the signature,
# read from the source, keeps its ``= delete``).
_DELETED_OR_DEFAULTED = re.compile(rb"=[ \t]*(?:delete|default)(?=[ \t]*;)")
# ``[[nodiscard]] friend ...``: tree-sitter-cpp 0.23 takes no attribute before ``friend``.
_ATTRIBUTE_BEFORE_FRIEND = re.compile(rb"\[\[[^\[\]\n]*\]\](?=\s*friend\b)")
_TEMPLATE_HEAD = re.compile(rb"\btemplate[ \t\n]*<")

# The file's own specifier macros: ``#define NAME`` or ``#define NAME virtual``.
_LOCAL_DEFINE = re.compile(rb"(?m)^[ \t]*#[ \t]*define[ \t]+([A-Z][A-Z0-9_]*)(?![(\w])([^\n]*)")
_SPECIFIERS = frozenset(
    {b"virtual", b"inline", b"static", b"constexpr", b"explicit", b"override", b"final",
     b"noexcept", b"__forceinline", b"__inline__", b"__inline", b"extern"}
)

_STRING = re.compile(rb"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'")
_OPEN, _CLOSE, _DQUOTE, _SQUOTE, _SEMI, _LBRACE = 40, 41, 34, 39, 59, 123
_NEWLINE, _SPACE = 10, 32

# CUDA execution-space keywords and launches: a C++ header holding them is parsed with the CUDA
# grammar (a superset of the C++ one), so kernels and launches are real nodes there too.
_CUDA_MARKERS = re.compile(rb"\b__(?:global|device|host|shared)__\b|<<<")
_CUDA_WORDS = (b"__global__", b"__device__", b"__host__", b"__shared__", b"<<<")


def looks_cuda(source: bytes) -> bool:
    """True when C++ source uses CUDA keywords or launch syntax."""
    # Substring tests first: a regex scan of every header costs more than a parse of some.
    if not any(word in source for word in _CUDA_WORDS):
        return False
    return _CUDA_MARKERS.search(source) is not None


def mask_annotations(source: bytes) -> bytes:
    """``source`` with annotation macros blanked; same length, same line breaks."""
    spans = [span for span in _attribute_spans(source) if not _in_directive(source, span[0])]
    calls = any(word in source for word in _ANNOTATION_WORDS)
    for match in _ANNOTATION_CALL.finditer(source) if calls else ():
        start = match.start(1)
        end = _balanced_end(source, match.end() - 1)
        if end > 0 and not _in_directive(source, start):
            spans.append((start, end))
    spans += _local_attribute_spans(source)
    if b"]] friend" in source or b"]]\n" in source:
        spans += [match.span() for match in _ATTRIBUTE_BEFORE_FRIEND.finditer(source)]
    defaults = [match.start(1) for match in _EMPTY_BRACES_DEFAULT.finditer(source)]
    if b"= delete" in source or b"= default" in source or b"=delete" in source:
        spans += [match.span() for match in _DELETED_OR_DEFAULTED.finditer(source)
                  if _in_template(source, match.start())]
    if not spans and not defaults:
        return source
    masked = bytearray(source)
    for start, end in spans:
        masked[start:end] = bytes(_NEWLINE if b == _NEWLINE else _SPACE for b in source[start:end])
    for start in defaults:
        masked[start : start + 2] = b"0 "
    return bytes(masked)


def _attribute_spans(source: bytes) -> list[tuple[int, int]]:
    """Spans of the names ``_ATTRIBUTE`` matches, found from their endings."""
    spans: list[tuple[int, int]] = []
    for ending in _ATTRIBUTE_END.finditer(source):
        window_start = max(0, ending.start() - 80)
        tail = _NAME_TAIL.search(source, window_start, ending.start())
        start = tail.start() if tail is not None else ending.start()
        if start > 0 and source[start - 1] in _IDENTIFIER_BYTES:
            continue
        match = _ATTRIBUTE.match(source, start)
        if match is not None and match.end() == ending.end():
            spans.append(match.span())
    return spans


def _local_attribute_spans(source: bytes) -> list[tuple[int, int]]:
    """Uses of the file's own object-like macros that stand for specifiers or nothing
    (``#define TENSORIMPL_MAYBE_VIRTUAL virtual``), outside directives."""
    if b"define" not in source:
        return []
    values: dict[bytes, bool] = {}
    for match in _LOCAL_DEFINE.finditer(source):
        words = match.group(2).split()
        fits = all(word in _SPECIFIERS for word in words)
        values[match.group(1)] = values.get(match.group(1), True) and fits
    names = [name for name, fits in values.items() if fits]
    if not names:
        return []
    uses = re.compile(rb"\b(?:" + b"|".join(re.escape(n) for n in names) + rb")\b")
    return [match.span() for match in uses.finditer(source)
            if not _in_directive(source, match.start())]


def _in_template(source: bytes, position: int) -> bool:
    """Whether the statement ending at ``position`` is a template declaration."""
    start = max(source.rfind(b";", 0, position), source.rfind(b"{", 0, position),
                source.rfind(b"}", 0, position))
    return _TEMPLATE_HEAD.search(source, start + 1, position) is not None


def _in_directive(source: bytes, position: int) -> bool:
    """Whether ``position`` is on a line that starts with ``#`` (continuations are not checked:
    masking inside a macro body changes nothing we extract)."""
    line_start = source.rfind(b"\n", 0, position) + 1
    return source[line_start:position].lstrip(b" \t").startswith(b"#")


def _balanced_end(source: bytes, open_paren: int) -> int:
    """The offset just past the parenthesis closing the one at ``open_paren``, or -1.

    Gives up at a ``;`` or ``{`` outside strings: an annotation never holds one.
    """
    depth = 0
    index = open_paren
    size = len(source)
    while index < size:
        byte = source[index]
        if byte == _OPEN:
            depth += 1
        elif byte == _CLOSE:
            depth -= 1
            if depth == 0:
                return index + 1
        elif byte in (_DQUOTE, _SQUOTE):
            literal = _STRING.match(source, index)
            if literal is not None:
                index = literal.end()
                continue
        elif byte in (_SEMI, _LBRACE):
            return -1
        index += 1
    return -1
