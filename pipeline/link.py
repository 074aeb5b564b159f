"""Cross-file facts of one layer: import resolution, imported-by, tests, folder facts.

Input is the per-file summaries of a layer; output is one small context per file and
one facts record per folder. Callers write each only when it changed (early cutoff).
"""

from __future__ import annotations

import functools
import posixpath
import sys
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline import layout
from pipeline.includes import IncludeSearch
from pipeline.pyimports import PY_SUFFIXES, PythonModules, module_index
from pipeline.records import (
    Context,
    FileRow,
    FolderFacts,
    KeywordRow,
    Resolved,
    Subfolder,
    Summary,
)

DEFINING_KINDS = frozenset({"class", "struct", "enum", "union", "function", "method",
                            "kernel", "namespace", "alias"})
# Python's module-level and class-level bindings are names people look up too.
PYTHON_NAME_KINDS = frozenset({"constant", "variable", "attribute"})


def is_defining(kind: str, language: str) -> bool:
    """Whether a symbol of this kind is listed in the symbol indexes (keywords.md, sub.md)."""
    return kind in DEFINING_KINDS or (language == "python" and kind in PYTHON_NAME_KINDS)


@dataclass(frozen=True, slots=True)
class Links:
    """The result of linking one layer."""

    contexts: dict[str, Context]  # file path -> context
    folders: dict[str, FolderFacts]  # folder -> facts
    keywords: list[KeywordRow]  # in symbol order, for the global index
    includes: dict[str, int]  # include target -> how many files include it
    # folder -> (from, to, how many imports lie behind it) of each edge between subfolders
    # on its chart, sorted (the facts keep only the edges; relink needs the counts)
    pairs: dict[str, list[tuple[str, str, int]]]


def symbol_order(row: KeywordRow) -> tuple[str, str, str, str]:
    """Sort key of a symbol index: A-Z ignoring case, then path, then kind."""
    return row.name.casefold(), row.name, row.path, row.kind


def module_names(paths: list[str]) -> dict[str, str]:
    """Python file path -> dotted module name, relative to its root (see ``pyimports``)."""
    return {path: where.name for path, where in module_index(paths).items()}


class Resolver:
    """Resolves Python imports, C includes and markdown links to files of one layer."""

    def __init__(self, paths: list[str], mirror: str = "", layer: int = 1,
                 includes: Iterable[str] = ()) -> None:
        self.paths = set(paths)
        self.mirror, self.layer = mirror, layer
        self._links: dict[tuple[str, str], tuple[str, str]] = {}
        self.includes = IncludeSearch(paths, includes)

    @functools.cached_property
    def python_modules(self) -> PythonModules:
        """The tree's Python modules, indexed when first needed (not for a layer of pages)
        from its Python files alone: nothing else takes part in import resolution."""
        return PythonModules(sorted(p for p in self.paths if p.endswith(PY_SUFFIXES)))

    @functools.cached_property
    def modules(self) -> dict[str, str]:
        """Python file path -> its dotted module name."""
        return {path: where.name for path, where in self.python_modules.index.items()}

    def python(self, importer: str, item: Any) -> tuple[str, str]:
        """(group, target path or '') of one Python import."""
        kind, module, names, level = item[0], item[1], item[2], item[3]
        return self.python_modules.resolve(importer, kind, module, names, level)

    def include(self, importer: str, item: Sequence[Any]) -> tuple[str, str]:
        """(group, target) of a C/C++ include (see :mod:`pipeline.includes`)."""
        return self.includes.resolve(importer, item[0], item[1])

    def links_of(self, importer: str, items: Sequence[Sequence[Any]]) -> list[Resolved]:
        """(group, target) of each of a file's imports that is a link (``other`` for the
        rest). The pages of a folder share most of their links (bench/README.md,
        "Measurements behind the code"), so each is resolved once per folder; and a page
        holds many, so its folder and the memo are looked up once for all of them."""
        folder = importer.rpartition("/")[0]
        known, made = self._links, self._link
        out: list[Resolved] = []
        for item in items:
            if item[0] != "link":
                out.append(("other", ""))
                continue
            key = (folder, item[1])
            found = known.get(key)
            if found is None:
                found = known[key] = made(folder, item[1])
            out.append(found)
        return out

    def _link(self, folder: str, href: str) -> tuple[str, str]:
        mirror, layer = self.mirror, self.layer
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            return "external", ""
        if not parts.path:
            return "anchor", ""
        target = posixpath.normpath(posixpath.join(folder, unquote(parts.path)))
        if target in self.paths:
            # one string per target: a layer of pages holds millions of links to few pages
            return "repo", sys.intern(target)
        if layer >= 2 and posixpath.basename(target) in layout.SITE_PAGES:
            return "site", ""  # a folder page of the layer below: generated, not an input
        if layer >= 2 and not target.startswith(mirror + "/"):
            return "source", ""  # the source file a page documents, outside the mirror
        return "unresolved", ""


INCLUDE_KINDS = ("include", "system-include")
LINKING = frozenset({"markdown", "rst"})  # languages whose imports are all links


def resolve(summary: Summary, resolver: Resolver) -> list[Resolved]:
    """(group, target) for every import of one file, in order."""
    if summary.language in LINKING:  # links only: a layer of pages holds a million
        return resolver.links_of(summary.path, summary.imports)
    out: list[Resolved] = []
    for item in summary.imports:
        kind = item[0]
        if kind in ("import", "from") and summary.language == "python":
            out.append(resolver.python(summary.path, item))
        elif kind in INCLUDE_KINDS:
            out.append(resolver.include(summary.path, item))
        elif kind == "link":
            out += resolver.links_of(summary.path, (item,))
        else:
            out.append(("other", ""))
    return out


def build_links(summaries: list[Summary], folders: list[str],
                binaries: list[tuple[str, int]], mirror: str) -> Links:
    """Every cross-file fact of one layer from its summaries (pure)."""
    summaries = sorted(summaries, key=lambda s: s.path)
    layer = summaries[0].layer if summaries else 1  # one layer is linked at a time
    includes: Counter[str] = Counter()
    for summary in summaries:
        includes.update(include_targets(summary))
    resolver = Resolver([s.path for s in summaries], mirror, layer, includes)
    resolved = {s.path: resolve(s, resolver) for s in summaries}
    importers: dict[str, set[str]] = defaultdict(set)
    for path, targets in resolved.items():
        for _group, target in targets:
            if target and target != path:
                importers[target].add(path)
    tests = {s.path for s in summaries if s.is_test}
    by_path = {s.path: s for s in summaries}
    contexts: dict[str, Context] = {}
    for summary in summaries:
        path = summary.path
        by = tuple(sorted(importers.get(path, ())))
        contexts[path] = Context(module=resolver.modules.get(path, ""),
                                 imports=tuple(resolved[path]), imported_by=by,
                                 tested_by=tuple(p for p in by if p in tests),
                                 reexports=star_exports(path, by_path, resolved))
    # one row object per symbol, shared by every folder above; sorted once for all of them
    rows = [row for s in summaries for row in keyword_rows(s)]
    rows += [KeywordRow(posixpath.basename(s.path), "module", s.path) for s in summaries]
    rows.sort(key=symbol_order)
    edges = sorted(set().union(*(import_edges_of(s, resolved[s.path]) for s in summaries)))
    file_imports, pairs = chart_edges(edges, set(folders))
    facts = folder_facts(summaries, folders, binaries, importers, rows,
                         (file_imports, {k: sorted(v) for k, v in pairs.items()}))
    keywords = [row for row in rows if row.kind != "module"]  # defined symbols only
    counted = {folder: sorted((a, b, n) for (a, b), n in counts.items())
               for folder, counts in pairs.items()}
    return Links(contexts, facts, keywords, dict(includes), counted)


def public_names(path: str, by_path: dict[str, Summary],
                 resolved: dict[str, list[tuple[str, str]]],
                 seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """What ``from M import *`` takes from a module of the tree, each name with the file that
    defines it: its ``__all__``, else its public module-level names (its own and those it
    star-imports in turn)."""
    summary = by_path[path]
    own = {d.name: path for d in summary.defines
           if d.kind in ("class", "function", "variable", "constant") and "." not in d.name}
    taken = dict(star_exports(path, by_path, resolved, seen))
    if summary.exports:
        return {name: own.get(name) or taken.get(name) or path for name in summary.exports}
    taken.update(own)
    return {name: origin for name, origin in taken.items() if not name.startswith("_")}


def star_exports(path: str, by_path: dict[str, Summary],
                 resolved: dict[str, list[tuple[str, str]]],
                 seen: frozenset[str] = frozenset()) -> tuple[tuple[str, str], ...]:
    """``(name, defining file)`` for every name a Python file takes in through ``import *``
    of a file of the tree (a name taken twice comes from the later import, as in Python)."""
    summary = by_path[path]
    if summary.language != "python":
        return ()
    seen = seen | {path}
    found: dict[str, str] = {}
    for item, (_group, target) in zip(summary.imports, resolved[path], strict=True):
        if item[0] == "from" and "*" in item[2] and target in by_path and target not in seen:
            found.update(public_names(target, by_path, resolved, seen))
    return tuple((name, found[name]) for name in sorted(found, key=lambda n: (n.casefold(), n)))


def folder_facts(summaries: list[Summary], folders: list[str],
                 binaries: list[tuple[str, int]], importers: dict[str, set[str]],
                 rows: list[KeywordRow], charts: tuple[Charts, Charts],
                 ) -> dict[str, FolderFacts]:
    """Per folder: its files, subfolders, binaries, tests, every symbol below it (``rows``,
    in symbol order), and the imports among its files and among its subfolders
    (``charts``: :func:`chart_edges`' files, and its edges between subfolders sorted)."""
    direct: dict[str, list[Summary]] = defaultdict(list)
    for summary in summaries:
        direct[layout.folder_of(summary.path)].append(summary)
    children: dict[str, list[str]] = defaultdict(list)
    folder_set = set(folders)
    for folder in folders:
        if folder:
            parent = layout.folder_of(folder)
            if parent in folder_set:
                children[parent].append(folder)
    binary_by: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for path, size in binaries:
        binary_by[layout.folder_of(path)].append((posixpath.basename(path), size))
    below = symbols_below(summaries, rows, folder_set)
    tests_below: dict[str, list[str]] = {}
    counts_below: dict[str, int] = {}
    # Post-order accumulation: deepest folders first.
    for folder in sorted(folders, key=lambda f: (f.count("/") + (1 if f else 0)), reverse=True):
        tests = [s.path for s in direct.get(folder, []) if s.is_test]
        count = len(direct.get(folder, []))
        for child in children.get(folder, []):
            tests += tests_below.get(child, [])
            count += counts_below.get(child, 0)
        tests_below[folder] = tests
        counts_below[folder] = count
    file_imports, folder_imports = charts
    facts: dict[str, FolderFacts] = {}
    for folder in folders:
        files = sorted(direct.get(folder, []), key=lambda s: s.path)
        types: dict[str, int] = defaultdict(int)
        for s in files:
            types[s.type] += 1
        facts[folder] = FolderFacts(
            folder=folder,
            files=tuple(file_row(s, len(importers.get(s.path, ()))) for s in files),
            subfolders=tuple(Subfolder(child, counts_below.get(child, 0))
                             for child in sorted(children.get(folder, []))),
            binaries=tuple(sorted(binary_by.get(folder, []))),
            types=tuple(sorted(types.items())),
            lines=sum(s.lines for s in files),
            files_below=counts_below.get(folder, 0),
            symbols=tuple(below.get(folder, ())),
            tests_below=tuple(sorted(tests_below.get(folder, []))),
            file_imports=tuple(file_imports.get(folder, ())),
            folder_imports=tuple(folder_imports.get(folder, ())),
        )
    return facts


def symbols_below(summaries: list[Summary], rows: list[KeywordRow],
                  folders: Collection[str]) -> dict[str, list[KeywordRow]]:
    """Per folder, in symbol order: every row of ``rows`` (in symbol order: the symbols the
    files define and a ``module`` row per file) below it, dealt out along each file's
    :func:`folder_chain`. A row is listed by every folder above its file: on the torch
    wheel, over a million rows in all, sorted folder by folder before."""
    chains: dict[str, list[str]] = {}
    chain_of: dict[str, list[str]] = {}
    for summary in summaries:
        folder = layout.folder_of(summary.path)
        chain = chains.get(folder)
        if chain is None:
            chain = chains[folder] = folder_chain(folder, folders)
        chain_of[summary.path] = chain
    below: dict[str, list[KeywordRow]] = defaultdict(list)
    for row in rows:
        for above in chain_of[row.path]:
            below[above].append(row)
    return below


def folder_chain(folder: str, folders: Collection[str]) -> list[str]:
    """A folder and the folders above it whose facts list what is below it."""
    if folder not in folders:
        return []
    chain = [folder]
    while folder:
        folder = layout.folder_of(folder)
        if folder not in folders:
            break
        chain.append(folder)
    return chain


Charts = dict[str, list[tuple[str, str]]]  # folder -> the imports drawn on its chart


def chart_edges(edges: Sequence[tuple[str, str]], folders: set[str],
                ) -> tuple[Charts, dict[str, dict[tuple[str, str], int]]]:
    """Each import (importer, imported file; ``edges`` sorted and without repeats) belongs to
    one folder's chart (see :func:`chart_place`). Per folder: the imports among its own
    files, in order; and those between its subfolders, each with how many imports lie
    behind it (the charts draw each once; :mod:`pipeline.relink` needs to know when the
    last one goes)."""
    files: Charts = defaultdict(list)
    between: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for source, target in edges:
        place = chart_place(source, target, folders)
        if place is None:
            continue
        folder, ends, among_subfolders = place
        if among_subfolders:
            counts = between[folder]
            counts[ends] = counts.get(ends, 0) + 1
        else:
            files[folder].append(ends)
    return files, dict(between)


def chart_place(source: str, target: str, folders: Collection[str],
                ) -> tuple[str, tuple[str, str], bool] | None:
    """Where one import is drawn: ``(folder, (importer, imported), False)`` when both files
    are in that folder; else ``(common, (from, to), True)`` in their nearest common folder,
    as an import between the two subfolders (or the folder itself) that hold them; ``None``
    when that folder is not one of ``folders``."""
    a, b = layout.folder_of(source), layout.folder_of(target)
    if a == b:
        return a, (source, target), False
    common, start, end = _between(a, b)
    if common not in folders:
        return None
    return common, (start, end), True


@functools.lru_cache(maxsize=1 << 16)
def _between(a: str, b: str) -> tuple[str, str, str]:
    """The nearest common folder of two folders, and the subfolders of it toward each.
    (Cached: a layer's imports join far fewer pairs of folders than pairs of files.)"""
    common = _common_folder(a, b)
    return common, _child_toward(common, a), _child_toward(common, b)


def _common_folder(a: str, b: str) -> str:
    parts: list[str] = []
    for x, y in zip(a.split("/") if a else [], b.split("/") if b else [], strict=False):
        if x != y:
            break
        parts.append(x)
    return "/".join(parts)


def _child_toward(common: str, folder: str) -> str:
    """The subfolder of ``common`` that holds ``folder`` (``common`` itself if equal)."""
    if folder == common:
        return common
    rest = folder[len(common) + 1:] if common else folder
    head = rest.split("/", 1)[0]
    return f"{common}/{head}" if common else head


def file_row(summary: Summary, importer_count: int) -> FileRow:
    """A file as its folder's pages list it."""
    return FileRow(path=summary.path, type=summary.type, lines=summary.lines,
                   description=summary.description, is_test=summary.is_test,
                   has_main=summary.has_main, imported_by=importer_count, top=summary.top)


def keyword_rows(summary: Summary) -> list[KeywordRow]:
    """The symbol index rows of a file's definitions."""
    return [KeywordRow(d.name, d.kind, summary.path) for d in summary.defines]


def include_targets(summary: Summary) -> set[str]:
    """The include targets a file adds to its layer's (from which include roots are
    inferred, :class:`pipeline.includes.IncludeSearch`)."""
    return {posixpath.normpath(item[1]) for item in summary.imports
            if item[0] in INCLUDE_KINDS and not item[1].startswith("/")}


def import_edges_of(summary: Summary, found: Iterable[Resolved]) -> set[tuple[str, str]]:
    """(importer, imported file) of a file's imports that the folder charts draw (not its
    markdown links)."""
    return {(summary.path, target) for item, (_group, target) in zip(summary.imports, found,
                                                                      strict=True)
            if item[0] != "link" and target and target != summary.path}
