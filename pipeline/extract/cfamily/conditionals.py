"""One branch of every preprocessor conditional, as a compiler on one configuration sees it.

tree-sitter parses ``#if``/``#else`` as nodes wrapping whole declarations, so a conditional
inside a declaration (``#ifdef DEBUG virtual #else MAYBE_VIRTUAL #endif bool f();``) breaks
the class around it. As Doxygen's preprocessor does, one branch of each chain is chosen and the
others are blanked before parsing, byte for byte, so offsets and lines stay those of the source.

The configuration is a C++17 compiler on Linux x86-64 with no build options: an identifier no
directive of the file defines counts as 0 (as in the C preprocessor), so ``#ifdef _WIN32 ...
#else ... #endif`` keeps the ``#else`` branch. A lone block with no alternative (``#ifdef
__CUDACC__ ... #endif``) is kept unless its condition is false whatever is defined (``#if 0``):
it only adds declarations, and a reader wants them documented.

Conditional directives and include guards are blanked too; ``#define`` and ``#include`` lines of
blanked branches are kept, so every macro and every include of the file is still extracted.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

# Every directive line, continuation lines included.
_DIRECTIVE = re.compile(
    rb"(?m)^[ \t]*#[ \t]*([a-z_]+)\b((?:[^\n\\]|\\(?:\r?\n|.))*)"
)
_CONDITIONALS = frozenset(
    {b"if", b"ifdef", b"ifndef", b"elif", b"elifdef", b"elifndef", b"else", b"endif"}
)
_KEPT = frozenset({b"define", b"include", b"include_next", b"import"})
_COMMENT_OR_STRING = re.compile(
    rb"/\*.*?(?:\*/|\Z)|//(?:[^\n\\]|\\(?:\r?\n|.))*|\"(?:\\.|[^\"\\\n])*\"", re.DOTALL
)
_NOT_NEWLINE = re.compile(rb"[^\n]")
_CONTINUATION = re.compile(rb"\\\r?\n")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>0[xX][0-9a-fA-F']+|\d[\d']*)[uUlL]*"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|<<|>>|[!~()+\-*/%<>&|^?:,]))"
)
# A compiler's predefined macros (the configuration the oracle, libclang, parses with).
PREDEFINED: dict[str, int] = {
    "__cplusplus": 201703, "__linux__": 1, "__linux": 1, "__unix__": 1, "__x86_64__": 1,
    "__GNUC__": 4, "__GNUC_MINOR__": 2, "__clang__": 1, "__clang_major__": 18,
    "__STDC__": 1, "__STDC_VERSION__": 201710, "__LP64__": 1,
    "__BYTE_ORDER__": 1234, "__ORDER_LITTLE_ENDIAN__": 1234, "__ORDER_BIG_ENDIAN__": 4321,
}
# Feature tests: attributes and builtins are taken as present, files and sanitizers as absent.
_FEATURE_TESTS = {"__has_attribute": 1, "__has_cpp_attribute": 1, "__has_builtin": 1,
                  "__has_declspec_attribute": 0, "__has_feature": 0, "__has_extension": 0,
                  "__has_include": 0, "__has_include_next": 0, "__has_warning": 0}


@dataclass(frozen=True, slots=True)
class _Directive:
    kind: bytes  # b"if", b"else", b"define", ...
    start: int  # offset of the line
    end: int  # offset past its last character (before the newline)
    rest: bytes  # the text after the directive name, comments removed, one line


def select_branches(source: bytes, cplusplus: bool = True) -> bytes:
    """``source`` with the unchosen branches, conditional directives and include guards
    blanked (spaces; newlines kept)."""
    if b"#" not in source:
        return source
    directives = _directives(source)
    if not any(d.kind in _CONDITIONALS for d in directives):
        return source
    blank: list[tuple[int, int]] = []
    keep: list[tuple[int, int]] = []
    defined: dict[str, int] = dict(PREDEFINED)
    if not cplusplus:
        del defined["__cplusplus"]
    # one frame per open conditional: [taken, active, alone-candidate, start of region]
    stack: list[list[Any]] = []
    active = True
    previous: _Directive | None = None
    for directive in directives:
        kind = directive.kind
        if kind in _CONDITIONALS:
            blank.append((directive.start, directive.end))
            if kind in (b"if", b"ifdef", b"ifndef"):
                value, unknown = _condition(kind, directive.rest, defined)
                taken = bool(value)
                stack.append([taken, active, not taken and unknown, directive.end,
                              _guard_name(kind, directive.rest)])
                if active and not taken:
                    active = False
                    stack[-1][3] = directive.end
                elif active:
                    stack[-1][3] = -1
            elif not stack:
                continue  # unbalanced: ignore
            elif kind == b"endif":
                frame = stack.pop()
                _close(frame, directive.start, blank)
                active = bool(frame[1])
            else:
                frame = stack[-1]
                outer = bool(frame[1])
                frame[2] = False  # a chain with an alternative is not a lone block
                if int(frame[3]) >= 0:  # the branch that just ended was blanked
                    _close(frame, directive.start, blank)
                if kind == b"else":
                    go = outer and not frame[0]
                else:
                    value, unknown = _condition(kind, directive.rest, defined)
                    go = outer and not frame[0] and bool(value)
                if go:
                    frame[0] = True
                    frame[3] = -1
                    active = True
                else:
                    frame[3] = directive.end
                    active = False
        elif kind in (b"define", b"undef") and active:
            name, value = _definition(directive.rest)
            if kind == b"undef":
                defined.pop(name, None)
            elif name:
                defined[name] = value
                if previous is not None and stack and stack[-1][4] == name \
                        and previous.kind == b"ifndef" and not directive.rest.strip()[len(name):]:
                    blank.append((directive.start, directive.end))  # an include guard
        elif kind in _KEPT:
            keep.append((directive.start, directive.end))
        previous = directive
    return _blanked(source, blank, keep)


def _close(frame: list[Any], end: int, blank: list[tuple[int, int]]) -> None:
    """End the blanked region of a branch; a lone block of unknown condition is kept."""
    start = int(frame[3])
    if start < 0:
        return
    if frame[2] and bool(frame[1]):
        frame[0] = True  # kept: ``#ifdef __CUDACC__ ... #endif``
    else:
        blank.append((start, end))
    frame[3] = -1


def _blanked(source: bytes, blank: list[tuple[int, int]], keep: list[tuple[int, int]]) -> bytes:
    kept = sorted(keep)
    masked = bytearray(source)
    for start, end in _merged(blank):
        # kept directives inside a blanked region are cut out of it
        index = bisect.bisect_left(kept, (start, -1))
        position = start
        while index < len(kept) and kept[index][0] < end:
            keep_start, keep_end = kept[index]
            if keep_start >= position:
                _blank(masked, source, position, keep_start)
            position = max(position, keep_end)
            index += 1
        if position < end:
            _blank(masked, source, position, end)
    return bytes(masked)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of ``spans``, in order. Nested unchosen branches blank nested regions,
    each up to its own ``#endif``: blanked one by one, a depth of ``n`` took ``n`` passes
    over the innermost text (quadratic: 20,000 nested ``#if`` lines held a build for
    minutes). A span's bounds are a directive line's, so no kept directive straddles
    one: cutting the kept ones out of the union blanks the same bytes."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _blank(masked: bytearray, source: bytes, start: int, end: int) -> None:
    masked[start:end] = _NOT_NEWLINE.sub(b" ", source[start:end])


def _directives(source: bytes) -> list[_Directive]:
    """The directive lines outside comments, in order."""
    comments = _block_comments(source)
    starts = [start for start, _ in comments]
    found: list[_Directive] = []
    for match in _DIRECTIVE.finditer(source):
        hash_at = source.index(b"#", match.start())
        index = bisect.bisect_right(starts, hash_at) - 1
        if index >= 0 and comments[index][1] > hash_at:
            continue  # inside a block comment
        rest = _CONTINUATION.sub(b" ", match.group(2))
        if b"/" in rest:
            rest = _COMMENT_OR_STRING.sub(_keep_string, rest)
        found.append(_Directive(match.group(1), match.start(), match.end(), rest.strip()))
    return found


def _block_comments(source: bytes) -> list[tuple[int, int]]:
    """Spans of the ``/* ... */`` comments; a ``/*`` after ``//`` or inside a string on its
    line is not one (found by ``find``: a scan of every comment and string costs more)."""
    spans: list[tuple[int, int]] = []
    position = source.find(b"/*")
    while position >= 0:
        line_start = source.rfind(b"\n", 0, position) + 1
        before = source[line_start:position]
        if b"//" in before or before.count(b'"') % 2:
            position = source.find(b"/*", position + 2)
            continue
        end = source.find(b"*/", position + 2)
        end = len(source) if end < 0 else end + 2
        spans.append((position, end))
        position = source.find(b"/*", end)
    return spans


def _keep_string(match: re.Match[bytes]) -> bytes:
    return match.group(0) if match.group(0).startswith(b'"') else b" "


def _definition(rest: bytes) -> tuple[str, int]:
    """Name and numeric value (1 when not a number) of a ``#define``."""
    text = rest.decode("utf-8", "replace")
    match = re.match(r"([A-Za-z_]\w*)(\([^)]*\))?\s*(.*)", text)
    if match is None:
        return "", 0
    if match.group(2):
        return match.group(1), 1
    value = match.group(3).strip()
    number = re.fullmatch(r"\(?\s*(\d+)[uUlL]*\s*\)?", value)
    return match.group(1), int(number.group(1)) if number else 1


def _guard_name(kind: bytes, rest: bytes) -> str:
    return rest.split()[0].decode("utf-8", "replace") if kind == b"ifndef" and rest else ""


def _condition(kind: bytes, rest: bytes, defined: dict[str, int]) -> tuple[int, bool]:
    """The value of a condition, and whether it depends on a name the file does not define."""
    text = rest.decode("utf-8", "replace")
    if kind in (b"ifdef", b"ifndef", b"elifdef", b"elifndef"):
        name = text.split()[0] if text.split() else ""
        known = name in defined
        value = known if kind in (b"ifdef", b"elifdef") else not known
        return int(value), not known
    return _Evaluator(text, defined).run()


class _Evaluator:
    """A ``#if`` expression: C preprocessor arithmetic; undefined names are 0."""

    def __init__(self, text: str, defined: dict[str, int]) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.defined = defined
        self.unknown = False

    def run(self) -> tuple[int, bool]:
        try:
            value = self._ternary()
        except (IndexError, ValueError, ZeroDivisionError, RecursionError):
            # RecursionError: nested deeper than this evaluator goes (about 80 parentheses);
            # the directive's condition is unknown, the rest of the file is read as usual
            return 0, True
        return value, self.unknown

    def _peek(self) -> str:
        return self.tokens[self.index] if self.index < len(self.tokens) else ""

    def _next(self) -> str:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _ternary(self) -> int:
        condition = self._binary(0)
        if self._peek() == "?":
            self._next()
            yes = self._ternary()
            if self._next() != ":":
                raise ValueError("expected :")
            no = self._ternary()
            return yes if condition else no
        return condition

    def _binary(self, level: int) -> int:
        if level == len(_LEVELS):
            return self._unary()
        value = self._binary(level + 1)
        while self._peek() in _LEVELS[level]:
            operator = self._next()
            right = self._binary(level + 1)
            value = _apply(operator, value, right)
        return value

    def _unary(self) -> int:
        token = self._next()
        if token == "!":
            return int(not self._unary())
        if token == "-":
            return -self._unary()
        if token == "+":
            return self._unary()
        if token == "~":
            return ~self._unary()
        if token == "(":
            value = self._ternary()
            if self._next() != ")":
                raise ValueError("expected )")
            return value
        if token == "defined":
            parenthesised = self._peek() == "("
            if parenthesised:
                self._next()
            name = self._next()
            if parenthesised and self._next() != ")":
                raise ValueError("expected )")
            if name not in self.defined:
                self.unknown = True
            return int(name in self.defined)
        if token[0].isdigit():
            digits = token.replace("'", "")
            if digits[:2] in ("0x", "0X"):
                return int(digits, 16)
            return int(digits, 8) if digits.startswith("0") else int(digits)
        if token in _FEATURE_TESTS and self._peek() == "(":
            self._skip_arguments()
            return _FEATURE_TESTS[token]
        if self._peek() == "(":  # an unknown function-like macro: 0, as an undefined name
            self._skip_arguments()
            self.unknown = True
            return 0
        if token in ("true", "false"):
            return int(token == "true")
        if token not in self.defined:
            self.unknown = True
        return self.defined.get(token, 0)

    def _skip_arguments(self) -> None:
        depth = 0
        while True:
            token = self._next()
            if token == "(":
                depth += 1
            elif token == ")":
                depth -= 1
                if depth == 0:
                    return


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
)


def _apply(operator: str, left: int, right: int) -> int:
    if operator == "||":
        return int(bool(left) or bool(right))
    if operator == "&&":
        return int(bool(left) and bool(right))
    if operator in ("/", "%") and right == 0:
        raise ZeroDivisionError
    table = {
        "|": lambda: left | right, "^": lambda: left ^ right, "&": lambda: left & right,
        "==": lambda: int(left == right), "!=": lambda: int(left != right),
        "<": lambda: int(left < right), ">": lambda: int(left > right),
        "<=": lambda: int(left <= right), ">=": lambda: int(left >= right),
        "<<": lambda: left << min(right, 64), ">>": lambda: left >> min(right, 64),
        "+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
        "/": lambda: _quotient(left, right), "%": lambda: left - right * _quotient(left, right),
    }
    return _wrapped(int(table[operator]()))


def _quotient(left: int, right: int) -> int:
    """C's division: truncated toward zero, exact for any size (a float quotient was
    neither, and overflowed past 1e308)."""
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient


def _wrapped(value: int) -> int:
    """``value`` as the preprocessor's ``intmax_t`` (64 bits, two's complement): without
    it a chain of products grew without bound (a line of 100,000 of them, millions of
    digits)."""
    return (value + _HALF) % _WHOLE - _HALF


_WHOLE = 1 << 64
_HALF = 1 << 63


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if not text[position:].strip():
                break
            tokens.append(text[position])  # an odd character: the evaluator fails on it
            position += 1
            continue
        tokens.append(match.group("number") or match.group("name") or match.group("op"))
        position = match.end()
    return tokens
