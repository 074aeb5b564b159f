"""The pure-Python markdown-it path of the markdown extractor, for the rare texts on which
the compiled parser panics (an upstream bug: markdown-it-rust issues #40 and #48)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline, autolink, image, link
from markdown_it.token import Token

from pipeline.extract.docs.words import code_words, span_words
from pipeline.records import Extraction, Import, Symbol

# YAML (``---``) or TOML (``+++``) front matter: only on the very first line, and only
# when a closing line follows; otherwise it is an ordinary thematic break.
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(?:.*\n)*?(?:\1|\.\.\.)[ \t]*(?:\n|\Z)")
# Where a link or image starts inside its inline content, recorded by the wrapped rules.
_POS = "source_pos"

# The signature every markdown-it inline rule has.
_InlineRule = Callable[[StateInline, bool], bool]


@cache
def _parser() -> MarkdownIt:
    """One parser per process: building the rule chains costs more than a small page."""
    # Link targets are normalised (percent-encoded) as by the compiled parser.
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for name, rule in (("link", link), ("image", image), ("autolink", autolink)):
        parser.inline.ruler.at(name, _positioned(rule))
    return parser


def _positioned(rule: _InlineRule) -> _InlineRule:
    """Wrap an inline rule so the token it opens remembers its offset in the inline source.

    markdown-it gives line maps to blocks only; the offset turns into an exact line.
    """

    def wrapped(state: StateInline, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        found = rule(state, silent)
        if found and not silent:
            # The first new token may be the pending text that ``push`` flushed first.
            for token in state.tokens[count:]:
                if token.type in ("link_open", "image"):
                    token.meta[_POS] = start
                    break
        return found

    return wrapped


def extract_markdown_py(text: str) -> Extraction:
    """Headings, fenced blocks, link targets, code-like words and the overview of a page."""
    tokens = _parser().parse(_blank_front_matter(text))
    symbols: list[Symbol] = []
    imports: list[Import] = []
    words: set[str] = set()
    seen: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = _heading(token, tokens[index + 1])
            if heading is not None:
                symbols.append(heading)
        elif token.type == "fence":
            symbols.append(_fence(token))
            words.update(code_words(token.content))
        elif token.type == "code_block":
            words.update(code_words(token.content))
        elif token.type == "inline":
            for item in _links(token):
                if item.module not in seen:  # each target once, as the compiled path does
                    seen.add(item.module)
                    imports.append(item)
            for span in _walk(token.children or []):
                if span.type == "code_inline":
                    words.update(span_words(span.content))
    symbols.sort(key=lambda s: (s.line, s.name))
    return Extraction(
        language="markdown",
        overview=_overview(tokens),
        symbols=tuple(symbols),
        imports=tuple(imports),
        identifiers=tuple(sorted(words, key=lambda w: (w.lower(), w))),
    )


def _blank_front_matter(text: str) -> str:
    """Front matter becomes blank lines: not a heading, and every later line keeps its number."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return text
    return "\n" * match.group(0).count("\n") + text[match.end() :]


def _heading(opening: Token, inline: Token) -> Symbol | None:
    name = _plain(inline.children or [])
    if not name or opening.map is None:
        return None
    level = int(opening.tag[1:])
    return Symbol("heading", name, opening.map[0] + 1, signature="#" * level + " " + name)


def _fence(token: Token) -> Symbol:
    """A fenced block from its opening to its closing fence (or the end, when unclosed)."""
    info = token.info.strip()
    start, end = token.map if token.map is not None else (0, 0)
    language = info.split()[0] if info else "text"
    return Symbol(
        "codeblock", language, start + 1, end_line=end, signature=(token.markup + info).strip()
    )


def _links(inline: Token) -> Iterator[Import]:
    """Every link and image target of one inline run, at the line where it starts."""
    first = inline.map[0] + 1 if inline.map is not None else 0
    content = inline.content
    offset, line = 0, first  # counted on from the previous link: one pass over the run
    for token in inline.children or []:
        # Links inside an image's alt text render as plain text: they are not links.
        if token.type == "link_open":
            target = str(token.attrs.get("href", ""))
        elif token.type == "image":
            target = str(token.attrs.get("src", ""))
        else:
            continue
        at = token.meta.get(_POS, offset)
        if at < offset:  # never expected; count again from the start rather than guess
            offset, line = 0, first
        line += content.count("\n", offset, at)
        offset = at
        if target:
            yield Import("link", target, line)


def _walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def _plain(children: list[Token]) -> str:
    """The text a reader sees: markup dropped, code spans and image alt text kept."""
    parts: list[str] = []
    for token in children:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "softbreak":
            parts.append(" ")
        elif token.type == "hardbreak":
            parts.append("\n")
        elif token.type == "image":
            parts.append(_plain(token.children or []))
    return "".join(parts).strip()


def _overview(tokens: list[Token]) -> str:
    """The first heading's text and the first top-level paragraph after it."""
    start = next((i for i, t in enumerate(tokens) if t.type == "heading_open"), None)
    title = _plain(tokens[start + 1].children or []) if start is not None else ""
    for index in range(start or 0, len(tokens)):
        token = tokens[index]
        if token.type == "paragraph_open" and token.level == 0:
            paragraph = _plain(tokens[index + 1].children or [])
            if paragraph:
                return f"{title}\n\n{paragraph}" if title else paragraph
    return title
