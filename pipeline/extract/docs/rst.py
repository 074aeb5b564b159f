"""reStructuredText: section outline, directives, external links and parse problems (docutils)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from docutils import nodes, utils
from docutils.frontend import Values, get_default_settings
from docutils.parsers.rst import Directive, Parser, directives, roles

from pipeline.records import Extraction, Import, Note, Symbol

# docutils finds directives and roles through module-level functions; like Sphinx's
# ``sphinx_domains`` we swap them for the length of one parse, so the lock serialises parses.
_LOCK = threading.Lock()
# Directives whose body is code or a file list: kept verbatim instead of parsed as text.
_VERBATIM = frozenset(
    "code-block sourcecode literalinclude highlight doctest testcode testoutput testsetup "
    "testcleanup toctree autosummary graphviz math mermaid plantuml "
    "code-cell ipython jupyter-execute prompt productionlist".split()
)
# Conditional-content directives whose body may hold section titles.
_TITLED = frozenset(("only", "ifconfig"))
# Directives that would read files or emit raw output: never run, whatever the settings
# (with file insertion off, docutils would report them as problems of the document).
_NEVER_RUN = frozenset(("include", "raw", "csv-table"))
_WARNING = 2  # system_message levels: 1 info, 2 warning, 3 error, 4 severe


@cache
def _settings() -> Values:
    """Quiet, never-halting, file-free settings: an extractor reads only the text it is given."""
    settings = get_default_settings(Parser)
    settings.report_level = 5
    settings.halt_level = 5
    settings.warning_stream = False
    settings.file_insertion_enabled = False
    settings.raw_enabled = False
    settings.syntax_highlight = "none"
    settings.character_level_inline_markup = False
    return settings


class _Conditional(nodes.Element):  # type: ignore[misc]  # docutils ships no types for it
    """The body of an ``only``/``ifconfig`` directive: part of the page's structure."""


class _Verbatim(Directive):  # type: ignore[misc]  # docutils ships no types for it
    """Any directive docutils does not know (Sphinx's), or one that must not run: kept as text."""

    has_content = True
    optional_arguments = 1  # with final_argument_whitespace: all of it, line breaks kept
    final_argument_whitespace = True
    # Any option is accepted; a non-empty spec makes docutils parse the option lines at all.
    option_spec = defaultdict(lambda: directives.unchanged, {"class": directives.unchanged})

    def run(self) -> list[nodes.Node]:
        name = self.name.lower()
        if name in _NEVER_RUN:
            return []
        if name in _VERBATIM:
            text = "\n".join(self.content)
            return [nodes.literal_block(text, text)] if text else []
        if name in _TITLED:
            # Sphinx parses the body of ``only``/``ifconfig`` as part of the page, titles and
            # ``contents`` included: a structural node attached first lets docutils place its
            # sections in the outline (a body element would refuse them).
            part = _Conditional()
            self.state.parent += part
            self.state.nested_parse(self.content, self.content_offset, part, match_titles=True)
            return []
        # Prose directives (``seealso``, ``versionadded``) carry text, and links, in both the
        # argument and the body; the argument's markup warnings are dropped, as it may be a
        # signature (``py:function:: f(*args)``) rather than prose.
        container = nodes.container()
        if self.arguments:
            argument = self.arguments[0]
            inline, _messages = self.state.inline_text(argument, self.lineno)
            paragraph = nodes.paragraph(argument, "", *inline)
            paragraph.line = self.lineno
            container += paragraph
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, container)
        return [container]


@cache
def _lenient(directive: type[Directive]) -> type[Directive]:
    """A known directive that also takes Sphinx's extra options (``:linenos:``, ``:caption:``)."""
    spec: dict[str, Callable[[str], Any]] = dict(directive.option_spec or {})
    lenient = defaultdict(lambda: directives.unchanged, spec)
    return type(directive.__name__, (directive,), {"option_spec": lenient})


def _generic_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: Any = None,
    content: Any = None,
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """Unknown roles (``:py:func:``) read as inline code rather than as errors."""
    return [nodes.literal(rawtext, utils.unescape(text))], []


def extract_rst(text: str) -> Extraction:
    """Sections, directives, external links, parse problems and the overview of a document."""
    try:
        return _extract(text)
    except RecursionError:
        note = Note("parse-error", "the document is nested too deeply for docutils to parse")
        return Extraction(language="rst", notes=(note,))


def _extract(text: str) -> Extraction:
    document, found = _parse(text)
    symbols = list(_sections(document)) + found
    symbols.sort(key=lambda s: (s.line, s.name))
    return Extraction(
        language="rst",
        overview=_overview(document),
        symbols=tuple(symbols),
        imports=tuple(_links(document)),
        notes=tuple(_problems(document)),
    )


def _parse(text: str) -> tuple[nodes.document, list[Symbol]]:
    """The raw doctree (no transforms, so nothing is resolved behind our back) and directives."""
    document = utils.new_document("<rst>", _settings())
    found: list[Symbol] = []
    lookup_directive, lookup_role = directives.directive, roles.role

    def directive(name: str, language: Any, doc: nodes.document) -> tuple[Any, list[Any]]:
        found.append(Symbol("directive", name, doc.current_line or 0, signature=f".. {name}::"))
        known, messages = lookup_directive(name, language, doc)
        if known is None or name.lower() in _NEVER_RUN:
            return _Verbatim, []
        return (_lenient(known) if known.option_spec else known), messages

    def role(name: str, language: Any, line: int, reporter: Any) -> tuple[Any, list[Any]]:
        known, messages = lookup_role(name, language, line, reporter)
        return (known, messages) if known is not None else (_generic_role, [])

    with _LOCK:
        directives.directive, roles.role = directive, role
        try:
            Parser().parse(text, document)
        finally:
            directives.directive, roles.role = lookup_directive, lookup_role
    return document, found


def _sections(document: nodes.document) -> Iterator[Symbol]:
    for section in document.findall(nodes.section):
        title = section.next_node(nodes.title)
        if title is None or title.parent is not section:
            continue
        name = title.astext().strip()
        level = sum(1 for a in _ancestors(section) if isinstance(a, nodes.section))
        # docutils puts a title at its underline; a title is always a single line above it.
        line = (title.line or 1) - 1
        yield Symbol("heading", name, line, signature="#" * level + " " + name)


def _ancestors(node: nodes.Node) -> Iterator[nodes.Node]:
    current: nodes.Node | None = node
    while current is not None:
        yield current
        current = current.parent


def _links(document: nodes.document) -> Iterator[Import]:
    """External references at the line they are written on (named ones through their target)."""
    located: dict[int, int] = {}  # id of a text element -> offset already searched
    for reference in document.findall(nodes.reference):
        target = reference.get("refuri") or _named_target(document, reference.get("refname"))
        if target:
            yield Import("link", target, _inline_line(reference, located))


def _named_target(document: nodes.document, name: str | None) -> str:
    if not name:
        return ""
    node_id = document.nameids.get(name)
    target = document.ids.get(node_id) if node_id else None
    return str(target.get("refuri", "")) if target is not None else ""


def _inline_line(node: nodes.Node, located: dict[int, int]) -> int:
    """Inline nodes carry no line: find their source text inside the enclosing block's."""
    block = node.parent
    while block is not None and (block.line is None or not block.rawsource):
        block = block.parent
    if block is None:
        return 0
    raw: str = block.rawsource
    first = block.line - 1 if isinstance(block, nodes.title) else block.line
    offset = raw.find(node.rawsource, located.get(id(block), 0)) if node.rawsource else -1
    if offset < 0:
        return int(first)
    located[id(block)] = offset + len(node.rawsource)
    return int(first) + raw.count("\n", 0, offset)


def _problems(document: nodes.document) -> Iterator[Note]:
    for message in document.findall(nodes.system_message):
        if message.get("level", 0) >= _WARNING:
            text = message.children[0].astext() if message.children else message.astext()
            yield Note("parse-error", " ".join(text.split()), int(message.get("line") or 0))


def _overview(document: nodes.document) -> str:
    """The document title and the first paragraph of running text after it."""
    heading = ""
    for node in document.findall(lambda n: isinstance(n, (nodes.title, nodes.paragraph))):
        if isinstance(node, nodes.title):
            heading = heading or node.astext().strip()
        elif isinstance(node.parent, (nodes.section, nodes.document)):
            text = node.astext().replace("\n", " ").strip()
            if text:
                return f"{heading}\n\n{text}" if heading else text
    return heading
