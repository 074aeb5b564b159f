"""Records + context -> page text through jinja2 templates (pure: no I/O but templates)."""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable
from typing import Any

import jinja2

from pipeline import analyze, layout
from pipeline import mdtext as md
from pipeline.filetypes import suffix_of
from pipeline.records import KIND_SECTIONS, Context, FileRecord, Symbol
from pipeline.site import TEMPLATES, PageSite


@functools.lru_cache(maxsize=4)
def environment(extra: str = "", digest: str = "") -> jinja2.Environment:
    """One cached Environment per process (rebuilding it per page costs more than rendering)
    and templates folder (``digest``, the templates' contents, makes another for other
    contents). Compiled templates are kept in jinja's per-user bytecode cache, keyed by each
    template's source: compiling them cost every edit's build about 25 ms."""
    paths = [extra, str(TEMPLATES)] if extra else [str(TEMPLATES)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        bytecode_cache=_bytecode_cache(),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["code"] = md.code
    env.filters["prose"] = md.prose
    env.filters["cell"] = md.cell
    env.filters["prefix_at"] = lambda text: "@" + text
    # A folder that overrides macros.j2 overrides its symbol_row: the rows go through it.
    own_macros = bool(extra) and os.path.isfile(os.path.join(extra, "macros.j2"))
    env.filters["symbol_lines"] = _macro_symbol_lines(env) if own_macros else symbol_lines
    env.filters["import_lines"] = import_lines
    env.filters["keyword_lines"] = keyword_lines
    env.filters["link_lines"] = link_lines
    env.globals["plural"] = md.plural
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """jinja's own file cache in a folder of the temporary directory that it makes private
    to this user (and checks is), or none where that cannot be had."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def finish(text: str) -> str:
    """Page hygiene outside fences: no trailing spaces, no runs of blank lines; one final
    newline. Fenced content (the embedded source) is kept byte for byte, found with
    ``str.find`` rather than walked line by line: pages embed whole sources."""
    pieces: list[str] = []
    pos, length = 0, len(text)
    while (start := _next_opening(text, pos)) >= 0:
        pieces.append(_tidy(text[pos:start]))
        end = text.find("\n", start)
        end = length if end < 0 else end
        opening = text[start:end].rstrip()
        pieces.append(opening)
        closing = _closing_line(text, opening[: len(opening) - len(opening.lstrip("`"))], end)
        if closing is None:  # unclosed: the rest of the page is fenced
            pieces.append(text[end:])
            pos = length
            break
        line_start, line_end = closing
        pieces.append(text[end:line_start])  # the newline, the fenced lines, the newline
        pieces.append(text[line_start:line_end].rstrip())
        pos = line_end
    pieces.append(_tidy(text[pos:]))
    return "".join(pieces).strip("\n") + "\n"


def _next_opening(text: str, pos: int) -> int:
    """Where the next line starting with three backticks starts, or -1; ``pos`` is the
    start of the text or the newline that ends the previous line."""
    if text.startswith("```", pos):
        return pos
    found = text.find("\n```", pos)
    return found + 1 if found >= 0 else -1


def _tidy(stretch: str) -> str:
    stripped = "\n".join([line.rstrip() for line in stretch.split("\n")])
    # Each pass shortens every run of three or more newlines; two passes end nearly all of
    # them. (A regex ``\n{3,}`` tries a match at every newline of a page: slower.)
    while "\n\n\n" in stripped:
        stripped = stripped.replace("\n\n\n", "\n\n")
    return stripped


def _closing_line(text: str, fence: str, search: int) -> tuple[int, int] | None:
    """(start, end) of the line closing a fence opened on the line ending at ``search``:
    the first line that starts with the fence and holds only backticks and spaces."""
    length = len(text)
    while (found := text.find("\n" + fence, search)) >= 0:
        line_start = found + 1
        line_end = text.find("\n", line_start)
        line_end = length if line_end < 0 else line_end
        if text[line_start:line_end].rstrip().strip("`") == "":
            return line_start, line_end
        search = line_end
    return None


def render_template(site: PageSite, template: str, **values: Any) -> str:
    if site.templates_digest:
        loaded = _template(site.templates, site.templates_digest, template)
    else:
        loaded = environment(site.templates).get_template(template)
    return finish(loaded.render(**values))


@functools.lru_cache(maxsize=64)
def _template(extra: str, digest: str, name: str) -> jinja2.Template:
    """A template as loaded for templates of this content (``digest``): jinja's own cache
    checks the file's mtime on every load, a tenth of rendering a page of pages."""
    return environment(extra, digest).get_template(name)


# --------------------------------------------------------------------------- list filters
# The long lists of a file page (a page of pages lists every heading and link of its page,
# a keyword page every name), one row per line: printed here rather than by template loops,
# which cost a jinja call per field of every row. Each prints what its loop printed;
# ``symbol_row`` of ``macros.j2`` stays for user templates.

def symbol_row(symbol: Symbol, depth: int) -> str:
    """One Code Structure row: the signature (or name), its lines, decorators, value and
    summary (``macros.j2``'s ``symbol_row``)."""
    parts = ["  " * depth, "- ", md.code(symbol.signature or symbol.name)]
    if depth == 0 and symbol.signature and symbol.name not in symbol.signature:
        parts.append(f" ({md.code(symbol.name)})")
    if symbol.end_line and symbol.end_line != symbol.line:
        parts.append(f" (lines {symbol.line}–{symbol.end_line})")
    else:
        parts.append(f" (line {symbol.line})")
    if symbol.decorators:
        parts.append(", decorated " + ", ".join(md.code("@" + d) for d in symbol.decorators))
    if symbol.value and not symbol.signature:
        parts.append(" = " + md.code(symbol.value))
    if symbol.summary:
        parts.append(": " + md.prose(symbol.summary))
    return "".join(parts)


def symbol_lines(items: list[dict[str, Any]],
                 row: Callable[[Symbol, int], str] = symbol_row) -> str:
    """The rows of one Code Structure group: each symbol, its members indented below it
    (filter ``symbol_lines``), each printed by ``row``."""
    rows: list[str] = []
    for item in items:
        rows.append(row(item["symbol"], 0))
        rows += [row(member, depth + 1) for depth, member in item["members"]]
    return "\n".join(rows)


def _macro_symbol_lines(env: jinja2.Environment) -> Callable[[list[dict[str, Any]]], str]:
    """:func:`symbol_lines` through the ``symbol_row`` macro of a user's ``macros.j2``."""
    def lines(items: list[dict[str, Any]]) -> str:
        macro = env.get_template("macros.j2").module.symbol_row  # type: ignore[attr-defined]
        return symbol_lines(items, lambda symbol, depth: str(macro(symbol, depth)))
    return lines


def import_lines(rows: list[dict[str, Any]]) -> str:
    """The rows of one Import Dependencies group, of :func:`_import_rows` (filter
    ``import_lines``)."""
    code = md.code
    lines: list[str] = []
    for row in rows:
        head = (f"[{code(row['target'])}]({row['link']}) ({code(row['module'])})"
                if row["link"] else code(row["module"]))
        names = ": " + ", ".join(map(code, row["names"])) if row["names"] else ""
        guard = ", only under `if TYPE_CHECKING:`" if row["type_checking"] else ""
        lines.append(f"- {head}{names} ({row['lines']}{guard})")
    return "\n".join(lines)


def keyword_lines(entries: list[tuple[str, str, str]]) -> str:
    """The rows of one keyword page section: each name, where it is shown, the link
    (filter ``keyword_lines``)."""
    code = md.code
    return "\n".join([f"- **{code(name)}**: [{place}]({link})" for name, place, link in entries])


def link_lines(rows: list[tuple[str, str]], more: int = 0) -> str:
    """A list of links to pages, each named by its path as code (the related files, the
    importers, the testers), and a last row for ``more`` unlisted ones (filter
    ``link_lines``)."""
    code = md.code
    lines = [f"- [{code(name)}]({link})" for name, link in rows]
    if more:
        lines.append(f"- … and {more} more: see [the folder index](./index.md)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- file pages

SECTION_ORDER = ("Namespaces", "Classes", "Type Aliases", "Functions", "Methods",
                 "Deduction Guides", "Kernels", "Attributes",
                 "Constants", "Variables", "Macros", "Keys", "Targets", "Headings", "Directives",
                 "Code Blocks")
KW_ORDER = ("Classes", "Type Aliases", "Functions", "Methods", "Deduction Guides", "Imports",
            "Constants", "Variables", "Namespaces",
            "Includes",
            "Macros", "Kernels", "Keys", "Targets", "Headings", "Directives", "Code Blocks",
            "Links", "Identifiers")


def structure_title(section: str, language: str) -> str:
    if section == "Constants" and language == "python":
        return "Module constants"
    return section


def file_view(record: FileRecord, ctx: Context, text: str, site: PageSite,
              type_name: str, fence_language: str, siblings: list[str], *,
              is_test: bool) -> dict[str, Any]:
    """Everything the two file templates print, computed once (``is_test``: the input is a
    test file, :attr:`pipeline.discover.Input.test`)."""
    path = record.path
    docs = layout.docs_page(path)
    ex = record.extraction
    name = posixpath.basename(path)
    folder = layout.folder_of(path)
    suffix = suffix_of(name)
    source, cut_note = _cut_source(text, site.max_source_bytes)
    if "\x00" in source:  # CommonMark replaces U+0000; git and grep take it for binary
        count = source.count("\x00")
        source = source.replace("\x00", "\ufffd")
        cut_note = (cut_note + " " if cut_note else "") + (
            f"{md.plural(count, 'NUL character')} of the source "
            f"{'is' if count == 1 else 'are'} shown as U+FFFD.")
    groups = _structure(record.extraction.symbols, ex.language)
    links = _import_rows(record, ctx, docs)
    tested_by = [(p, layout.docs_link(docs, p)) for p in ctx.tested_by]
    importers = [(p, layout.docs_link(docs, p)) for p in ctx.imported_by]
    reexports = [(name, source, layout.docs_link(docs, source))
                 for name, source in ctx.reexports]
    tests = [f"pytest {analyze.shell_quote(path)}::{t}" for t in ex.tests]
    role_prefix, role = analyze.layer_role(path, record.layer, dict(site.roles), site.project,
                                           site.mirror)
    # Only the listed siblings are looked at (a folder may hold thousands of files).
    listed = [s for s in siblings[: site.max_related + 1] if s != name][: site.max_related]
    related = [(s, layout.docs_link(docs, layout.folder_page(folder, s))) for s in listed]
    others = len(siblings) - (name in siblings)
    return {
        "project": site.project,
        "path": path,
        "name": name,
        "folder": layout.display_folder(folder),
        "size": md.size_text(record.size),
        "type_name": type_name,
        "extension": suffix or "(none)",
        "lines": f"{record.lines:,}",
        "encoding": record.encoding if record.encoding not in ("utf-8",) else "",
        "notes": record.extraction.notes,
        "purpose": " ".join(analyze.purpose(record, type_name, site.project, is_test)),
        "source": md.fence(source, fence_language),
        "cut_note": cut_note,
        "overview": ex.overview,
        "counts": analyze.definition_counts(ex),
        "language": ex.language,
        "groups": groups,
        "exports": ex.exports,
        "role_prefix": role_prefix,
        "role": role,
        "import_groups": links,
        "importers": importers,
        "reexports": reexports,
        "findings": _findings(ex.findings),
        "is_test": is_test,
        "test_commands": analyze.test_commands(path, ex) if is_test else [],
        "tests": tests[: site.max_tests],
        "tests_more": max(0, len(tests) - site.max_tests),
        "tested_by": tested_by,
        "tester_commands": [f"pytest {analyze.shell_quote(p)}" for p, _ in tested_by
                            if p.endswith(".py")],
        "examples": [(e.owner, e.line, md.fence(e.text, "python")) for e in ex.examples],
        "related": related,
        "related_more": others - len(related),
        "kw_page": layout.url(posixpath.basename(layout.kw_page(path))),
        "docs_page": layout.url(posixpath.basename(docs)),
        "source_link": site.source_link(docs, path, record.layer),
        "layer": record.layer,
    }


def render_file_pages(record: FileRecord, ctx: Context, text: str, site: PageSite,
                      type_name: str, fence_language: str, siblings: list[str], *,
                      is_test: bool) -> tuple[str, str]:
    """The ``N_docs.md`` and ``N_kw.md`` pages of one input."""
    view = file_view(record, ctx, text, site, type_name, fence_language, siblings,
                     is_test=is_test)
    docs = render_template(site, "file_docs.md.j2", **view)
    keywords = keyword_sections(record, ctx, view)
    kw = render_template(site, "file_kw.md.j2", sections=keywords,
                         section_map=section_map(record, keywords), **view)
    return docs, kw


def _cut_source(text: str, limit: int) -> tuple[str, str]:
    if len(text) * 4 <= limit or (len(text) <= limit and text.isascii()):
        return text, ""  # within the limit whatever its encoding (a UTF-8 character <= 4 bytes)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, ""
    head = data[:limit].decode("utf-8", errors="ignore")
    cut = head.rfind("\n")
    kept = head[: cut + 1] if cut >= 0 else ""
    rest = text[len(kept):]
    more = rest.count("\n") + (0 if rest.endswith("\n") or not rest else 1)
    return kept, (
        f"The source is longer than the configured limit of {limit:,} bytes: "
        f"{md.plural(more, 'more line')} ({len(rest.encode('utf-8')):,} bytes) "
        f"{'is' if more == 1 else 'are'} left out here."
    )


def _structure(symbols: tuple[Symbol, ...], language: str) -> list[dict[str, Any]]:
    """Code Structure groups; Python classes carry their members nested."""
    nested = language == "python"
    classes = {s.name for s in symbols if s.kind == "class"}
    members: dict[str, list[Symbol]] = {}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for symbol in symbols:
        owner = _owner_class(symbol, classes) if nested else ""
        if owner and symbol.kind in ("method", "attribute", "class"):
            members.setdefault(owner, []).append(symbol)
            continue
        section = KIND_SECTIONS.get(symbol.kind, "Other")
        grouped.setdefault(section, []).append({"symbol": symbol, "members": []})
    for items in grouped.values():
        for item in items:
            if item["symbol"].kind == "class":
                item["members"] = _member_rows(item["symbol"].name, members)
    order = list(SECTION_ORDER) + sorted(set(grouped) - set(SECTION_ORDER))
    return [{"title": structure_title(s, language), "anchor": md.slug(structure_title(s, language)),
             "items": grouped[s]} for s in order if s in grouped]


def _owner_class(symbol: Symbol, classes: set[str]) -> str:
    parent = symbol.name.rsplit(".", 1)[0] if "." in symbol.name else ""
    while parent:
        if parent in classes:
            return parent
        parent = parent.rsplit(".", 1)[0] if "." in parent else ""
    return ""


def _member_rows(owner: str, members: dict[str, list[Symbol]]) -> list[tuple[int, Symbol]]:
    rows: list[tuple[int, Symbol]] = []
    for member in members.get(owner, []):
        depth = member.name[len(owner) + 1:].count(".")
        rows.append((depth, member))
        if member.kind == "class":
            rows.extend((depth + 1 + d, m) for d, m in _member_rows(member.name, members))
    return rows


GROUP_TITLES = {
    "stdlib": "Standard library",
    "third-party": "Third party",
    "repo": "This repository",
    "system": "System headers",
    "unresolved": "Not found in this tree",
    "site": "Folder and index pages (generated, not documented as files)",
    "source": "The documented source file",
    "external": "External links",
    "anchor": "Anchors in this page",
    "other": "Other",
}


def _import_rows(record: FileRecord, ctx: Context, docs: str) -> list[dict[str, Any]]:
    """Import rows by group; the names of one statement that resolve alike share a row."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item, (group, target) in zip(record.extraction.imports, ctx.imports, strict=True):
        rows = groups.setdefault(group, [])
        last = rows[-1] if rows else None
        if (last is not None and item.names and last["item"].names and last["target"] == target
                and last["item"].module == item.module and last["item"].line == item.line):
            last["names"] += item.names
            continue
        lines = (f"line {item.line}" if item.end_line in (0, item.line)
                 else f"lines {item.line}–{item.end_line}")
        rows.append({
            "item": item,
            "module": item.module,
            "names": item.names,
            "lines": lines,
            "target": target,
            "link": layout.docs_link(docs, target) if target else "",
            "kind": item.kind,
            "type_checking": item.type_checking,
        })
    return [{"title": GROUP_TITLES[g], "rows": groups[g]} for g in GROUP_TITLES if g in groups]


def _findings(findings: tuple[Any, ...]) -> dict[str, list[dict[str, Any]]]:
    """Per area, one row per label: each occurrence when few, else the label with all lines."""
    areas: dict[str, dict[str, list[Any]]] = {"pattern": {}, "performance": {}, "security": {}}
    for finding in sorted(findings, key=lambda f: (f.line, f.label, f.detail)):
        areas.setdefault(finding.area, {}).setdefault(finding.label, []).append(finding)
    out: dict[str, list[dict[str, Any]]] = {}
    for area, labels in areas.items():
        rows: list[dict[str, Any]] = []
        for label in sorted(labels, key=lambda lb: (labels[lb][0].line, lb)):
            items = labels[label]
            if len(items) <= 5:
                rows.extend({"label": label, "lines": f"line {f.line}", "detail": f.detail}
                            for f in items)
            else:
                rows.append({"label": label, "lines": f"{len(items)} places",
                             "detail": _lines_by_detail(items)})
        out[area] = rows
    return out


def _lines_by_detail(items: list[Any]) -> str:
    """``Lines 3, 9: Uses `a`. Line 5: Uses `b`.``: what was found at each line, each
    construct once, in the order of its first line."""
    lines: dict[str, list[int]] = {}
    for finding in items:
        lines.setdefault(finding.detail, []).append(finding.line)
    return " ".join(
        f"{'Lines' if len(found) > 1 else 'Line'} {', '.join(map(str, found))}: {detail}"
        for detail, found in lines.items())


# --------------------------------------------------------------------------- keyword pages

def keyword_sections(record: FileRecord, ctx: Context,
                     view: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``###`` sections of a keyword page: every keyword with its place in the docs."""
    docs = "./" + view["docs_page"]
    anchors = {g["title"]: g["anchor"] for g in view["groups"]}
    sections: dict[str, list[tuple[str, str, str]]] = {}
    classes = {s.name for s in record.extraction.symbols if s.kind == "class"}
    for symbol in record.extraction.symbols:
        section = KIND_SECTIONS.get(symbol.kind, "Other")
        title = structure_title(section, record.extraction.language)
        owner = _owner_class(symbol, classes) if record.extraction.language == "python" else ""
        anchor = anchors.get("Classes") if owner else anchors.get(title, "code-structure")
        sections.setdefault(section, []).append(
            (symbol.name, f"Code Structure, line {symbol.line}", f"{docs}#{anchor}"))
    module = ctx.module
    for item in record.extraction.imports:
        section = {"include": "Includes", "system-include": "Includes", "link": "Links"}.get(
            item.kind, "Imports")
        place = (f"Dependencies, line {item.line}", f"{docs}#import-dependencies")
        if item.kind == "from" and item.names:
            base = _absolute_module(item.module, item.level, module, record.path)
            for name in item.names:
                sections.setdefault(section, []).append((f"{base}.{name}", *place))
        else:
            sections.setdefault(section, []).append((item.module, *place))
    for word in record.extraction.identifiers:
        sections.setdefault("Identifiers", []).append((word, "Original Source",
                                                       f"{docs}#original-source"))
    out = []
    for title in list(KW_ORDER) + sorted(set(sections) - set(KW_ORDER)):
        entries = sections.get(title)
        if not entries:
            continue
        # By (casefolded name, name, place, link), without a key function per entry.
        unique = [entry for _fold, entry in sorted((e[0].casefold(), e) for e in set(entries))]
        out.append({"title": title, "entries": unique})
    return out


def _absolute_module(module: str, level: int, own: str, path: str) -> str:
    if not level:
        return module
    package = own if path.endswith(("__init__.py", "__init__.pyi")) else own.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    rest = module.lstrip(".")
    return ".".join(p for p in (package, rest) if p) or module


def section_map(record: FileRecord, sections: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Which keywords each section of the docs page covers (computed, never fixed text)."""
    ex = record.extraction
    by_title = {s["title"]: [e[0] for e in s["entries"]] for s in sections}
    structure = [n for t in SECTION_ORDER for n in by_title.get(t, [])]
    rows: list[tuple[str, str]] = []
    if structure:
        rows.append(("Detailed Analysis", _names(structure)))
    deps = [n for t in ("Imports", "Includes", "Links") for n in by_title.get(t, [])]
    if deps:
        rows.append(("Dependencies", _names(deps)))
    for area, title in (("pattern", "Code Patterns & Idioms"),
                        ("performance", "Performance Considerations"),
                        ("security", "Security & Safety")):
        labels = sorted({f.label for f in ex.findings if f.area == area}, key=str.casefold)
        if labels:
            owners = _owners(ex, area)
            rows.append((title, _names(owners) + " (" + ", ".join(labels) + ")"
                         if owners else ", ".join(labels)))
    testing = list(ex.tests) + sorted({e.owner or "module docstring" for e in ex.examples})
    if testing:
        rows.append(("Testing & Usage", _names(testing)))
    if ex.identifiers:
        rows.append(("Original Source",
                     f"{md.plural(len(ex.identifiers), 'identifier')} (listed above)"))
    return rows


def _owners(ex: Any, area: str) -> list[str]:
    spans = [s for s in ex.symbols if s.kind in ("class", "function", "method", "kernel")
             and s.end_line]
    owners: set[str] = set()
    for finding in ex.findings:
        if finding.area != area:
            continue
        inside = [s for s in spans if s.line <= finding.line <= s.end_line]
        if inside:
            owners.add(max(inside, key=lambda s: (s.line, -s.end_line)).name)
    return sorted(owners, key=lambda n: (n.casefold(), n))


def _names(names: list[str]) -> str:
    return ", ".join(md.code(n) for n in names)
