"""What a line scan can still tell about Python that no parser accepts (Python 2, broken files)."""

from __future__ import annotations

import ast
import io
import re
import tokenize

from pipeline.extract.python.text import clean_docstring, strip_comment
from pipeline.records import Extraction, Import, Note, Symbol

PARTIAL = Note("partial-parse", "structure recovered by a line scan; may be incomplete")
_DEF = re.compile(r"(?:async\s+)?def\s+(\w+)")
_CLASS = re.compile(r"class\s+(\w+)")
_IMPORT = re.compile(r"import\s+(.+)")
_FROM = re.compile(r"from\s+(\.*)\s*([\w.]*)\s+import\s+(.*)")
_QUOTES = re.compile(r"\"\"\"|'''|#|\"|'")


def recover(text: str, note: Note) -> Extraction:
    """The parser's note, the leading docstring and the top-level definitions and imports."""
    symbols: list[Symbol] = []
    imports: list[Import] = []
    lines = text.split("\n")
    quote = ""  # the triple quote of the string the scan is inside, if any
    index = 0
    while index < len(lines):
        line = lines[index]
        if not quote and line[:1].isalpha():
            index = _scan_line(lines, index, symbols, imports)
            line = lines[index]
        quote = _string_state(line, quote)
        index += 1
    return Extraction(
        language="python",
        overview=leading_docstring(text),
        symbols=tuple(symbols),
        imports=tuple(imports),
        notes=(note, PARTIAL),
    )


def _scan_line(lines: list[str], index: int, symbols: list[Symbol], imports: list[Import]) -> int:
    """Record a top-level definition or import at ``index``; return its last line index."""
    number = index + 1
    code = strip_comment(lines[index]).split(";", 1)[0].strip()
    if match := _DEF.match(code):
        signature = code[:-1] if code.endswith(":") else ""
        symbols.append(Symbol("function", match[1], number, number, signature))
    elif match := _CLASS.match(code):
        symbols.append(Symbol("class", match[1], number, number, code.rstrip(":")))
    elif match := _IMPORT.match(code):
        for part in match[1].split(","):
            module = part.split(" as ")[0].strip()
            if module:
                imports.append(Import("import", module, number, number))
    elif match := _FROM.match(code):
        names = match[3]
        last = index
        if names.startswith("(") and ")" not in names:
            while last + 1 < len(lines) and ")" not in names:
                last += 1
                names += " " + strip_comment(lines[last])
        cleaned = [n.split(" as ")[0].strip() for n in names.strip("() ").split(",")]
        level = len(match[1])
        for name in dict.fromkeys(n for n in cleaned if n):
            imports.append(Import("from", match[1] + match[2], number, last + 1, (name,), level))
        return last
    return index


def _string_state(line: str, quote: str) -> str:
    """The open triple quote after ``line`` (rough: enough to skip docstring bodies)."""
    position = 0
    single = ""
    while True:
        match = _QUOTES.search(line, position)
        if match is None:
            return quote
        token = match.group()
        position = match.end()
        if quote:
            if token == quote:
                quote = ""
        elif single:
            if token == single and line[match.start() - 1:match.start()] != "\\":
                single = ""
        elif token == "#":
            return quote
        elif len(token) == 3:
            quote = token
        else:
            single = token


def leading_docstring(text: str) -> str:
    """The cleaned string the text starts with (after comments and blank lines), if any."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING):
                continue
            if token.type != tokenize.STRING:
                return ""
            value = ast.literal_eval(token.string)
            return clean_docstring(value) if isinstance(value, str) else ""
    except (tokenize.TokenError, SyntaxError, ValueError, MemoryError, RecursionError):
        return ""
    return ""
