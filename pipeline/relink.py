"""Linking a layer again for the files whose summaries changed, rather than whole.

Linking a whole layer (:func:`pipeline.link.build_links`) reads every summary of the layer:
about 3 s a layer on the torch wheel. An edit changes few summaries, and what one reaches is
known: the file's own context and folder row, the importers of the files it imports before
and after, the symbols listed by the folders above it, its notes, the imports drawn on the
folder charts, and the symbol index. :func:`plan` works that out from each
changed file's summary before and after and from what the last link left (:class:`Memo`);
the ``patch_*`` functions apply it to the state that link wrote. The result equals linking
the whole layer (``tests/test_relink.py`` compares them on random edits).

A file added to a layer is a change too, from an empty summary, and a file removed from one
a change to an empty summary (its last summary is made again from the entry its chunk keeps
for one run). Its context is made or dropped, its row and ``module`` symbol inserted or
removed, its test listed or not by the folders above it, and their file counts raised or
lowered. In a layer of pages every link of a generated page leads to a page that exists, so
no page that kept its bytes links to the new one or linked to the removed one: the pages
that list it changed with it. In the layer of sources an import, include or link of another
file may find the new file, or have found the removed one: those files are changes too,
with the same summary before and after and their imports resolved among the files before
and after (:func:`pipeline.linking.resolved_anew`, which finds them).

Where the reach is not known from the changed files alone, :func:`plan` returns ``None`` and
the caller links the whole layer: a file became a test or stopped being one, a C include
that no other file of the layer holds is added or removed (include roots are inferred from
the set of them), a file that takes part in an ``import *`` changes its imports or names, or
what one finds moves, a file moves between chunks, or among the sources an ``__init__`` is
added or removed, a Python file's module name moves, a new top-level package comes or goes,
or a file comes or goes where an include root may follow it.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from pipeline import layout
from pipeline.files import sha256
from pipeline.link import (
    Links,
    Resolver,
    chart_place,
    file_row,
    folder_chain,
    import_edges_of,
    include_targets,
    keyword_rows,
    resolve,
)
from pipeline.records import Context, KeywordRow, NoteRow, Resolved, Summary, to_dict

MEMO_VERSION = 3  # 2: digests by files.sha256, as every content digest; 3: extras kept


class StaleState(Exception):
    """The state link left does not hold what its memo says: link the whole layer."""


@dataclass(frozen=True, slots=True)
class ChunkMemo:
    """One chunk's summaries as the last link read them."""

    digest: str  # of the summary file's bytes
    paths: tuple[str, ...]
    summaries: tuple[str, ...]  # summary_digest of each, in the same order


@dataclass(frozen=True, slots=True)
class Memo:
    """What a layer's link leaves for the next one: its inputs by digest, and the counts
    that the facts it wrote keep only as sets."""

    setting: str  # digest of everything else link was given (folders, code, ...) but extras
    chunks: dict[str, ChunkMemo]
    includes: dict[str, int]  # include target -> how many files include it
    pairs: dict[str, dict[tuple[str, str], int]]  # folder -> chart edge -> imports behind it
    stars: frozenset[tuple[str, str]]  # (importer, imported file) of every ``import *``
    # folder -> the facts of other layers its facts carry (the layers' file counts: a file
    # added to or removed from the sources moves them)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the changed summaries reach, and the memo after them."""

    changes: dict[str, tuple[Summary, Summary]]  # path -> (before, after)
    resolved: dict[str, tuple[Resolved, ...]]  # path -> its imports resolved, after
    importers: dict[str, tuple[frozenset[str], frozenset[str]]]  # file -> importers lost, won
    contexts: frozenset[str]  # the files whose contexts may change
    symbols: dict[str, tuple[list[KeywordRow], list[KeywordRow]]]  # path -> rows before, after
    file_imports: dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]]  # lost, won
    folder_imports: dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]]
    folders: frozenset[str]  # the folders whose facts may change
    memo: Memo  # after the changes, but for its chunks' digests (the caller's to set)
    added: frozenset[str] = frozenset()  # files new to the layer (their before is empty)
    removed: frozenset[str] = frozenset()  # files that left the layer (their after is empty)


# --------------------------------------------------------------------------- the memo

def summary_digest(summary: Summary) -> str:
    """A digest of everything in a summary, cut to 96 bits: the memo holds one per file."""
    return sha256(orjson.dumps(summary))[:24]


def make_memo(setting: str, chunks: Mapping[str, tuple[str, list[Summary]]],
              resolved: Mapping[str, tuple[Resolved, ...]], links: Links,
              known: Mapping[str, ChunkMemo] | None = None,
              extras: Mapping[str, Any] | None = None) -> Memo:
    """The memo of a whole link: ``chunks`` maps each chunk to its summary file's digest and
    its summaries, ``resolved`` each path to its resolved imports, ``links`` is what the
    link made of them (its include and chart-edge counts). The chunks of ``known`` (the
    last memo's) whose summary files are unchanged keep their summaries' digests; ``extras``
    are the folders' facts of other layers that link was given."""
    known = known or {}
    stars: set[tuple[str, str]] = set()
    for _digest, summaries in chunks.values():
        for summary in summaries:
            stars |= star_imports(summary, resolved[summary.path])
    return Memo(setting,
                {name: _chunk_memo(digest, summaries, known.get(name))
                 for name, (digest, summaries) in chunks.items()},
                dict(links.includes),
                {folder: {(a, b): n for a, b, n in rows} for folder, rows in links.pairs.items()},
                frozenset(stars), dict(extras or {}))


def _chunk_memo(digest: str, summaries: list[Summary], known: ChunkMemo | None) -> ChunkMemo:
    if known is not None and known.digest == digest:
        return known
    return ChunkMemo(digest, tuple(s.path for s in summaries),
                     tuple(map(summary_digest, summaries)))


def memo_to_json(memo: Memo) -> dict[str, Any]:
    return {
        "version": MEMO_VERSION,
        "setting": memo.setting,
        "chunks": {name: [c.digest, list(c.paths), list(c.summaries)]
                   for name, c in memo.chunks.items()},
        "includes": memo.includes,
        "pairs": {folder: sorted([a, b, n] for (a, b), n in counts.items())
                  for folder, counts in memo.pairs.items()},
        "stars": sorted(memo.stars),
        "extras": memo.extras,
    }


def memo_from_json(data: Any) -> Memo | None:
    """The memo, or ``None`` when ``data`` is not one of this version."""
    try:
        if data["version"] != MEMO_VERSION:
            return None
        chunks = {name: ChunkMemo(digest, tuple(paths), tuple(sums))
                  for name, (digest, paths, sums) in data["chunks"].items()}
        if any(len(c.paths) != len(c.summaries) for c in chunks.values()):
            return None
        pairs = {folder: {(a, b): int(n) for a, b, n in rows}
                 for folder, rows in data["pairs"].items()}
        extras = data["extras"]
        if not isinstance(extras, dict):
            return None
        return Memo(str(data["setting"]), chunks, {str(k): int(v) for k, v in
                                                   data["includes"].items()},
                    pairs, frozenset((a, b) for a, b in data["stars"]), extras)
    except (KeyError, TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- one file's part

def star_imports(summary: Summary, found: Iterable[Resolved]) -> set[tuple[str, str]]:
    """(importer, imported file) of a Python file's ``from M import *`` of the tree."""
    if summary.language != "python":
        return set()
    return {(summary.path, target) for item, (_group, target) in zip(summary.imports, found,
                                                                      strict=True)
            if item[0] == "from" and "*" in item[2] and target}


# --------------------------------------------------------------------------- the plan

def absent(summary: Summary) -> Summary:
    """The summary of a file that is not there (before it was added, after it was removed):
    nothing but its path, type and kind."""
    return Summary(summary.path, summary.layer, summary.language, summary.type, 0, "",
                   summary.is_test, False)


def plan(memo: Memo, changes: dict[str, tuple[Summary, Summary]], resolver: Resolver,
         folders: Collection[str], added: frozenset[str] = frozenset(),
         removed: frozenset[str] = frozenset(), earlier: Resolver | None = None,
         ) -> Plan | None:
    """What ``changes`` reach (each path's summary before and after; the set of paths is the
    memo's, less ``removed``, whose summaries after are :func:`absent`, and ``added``, whose
    summaries before are), or ``None`` when it is not known from them alone. ``earlier``:
    the resolver of the layer's files before ``added`` and ``removed`` (``resolver``, of
    the files after, when None), which resolves the imports before; a file of the sources
    whose imports resolve anew because files came or went is a change with the same
    summary before and after (see :func:`pipeline.linking.resolved_anew`)."""
    if any(before.is_test != after.is_test or before.path != after.path
           for before, after in changes.values()):
        return None  # a file's tests are listed in every folder above it, and by its imports
    includes = Counter(memo.includes)
    for before, after in changes.values():
        includes.subtract(include_targets(before))
        includes.update(include_targets(after))
    includes = +includes  # drop the targets no file includes any more
    if includes.keys() != memo.includes.keys():
        return None  # the include roots may move: every include may resolve anew
    before_resolver = earlier or resolver
    resolved = {path: (tuple(resolve(before, before_resolver)), tuple(resolve(after, resolver)))
                for path, (before, after) in changes.items()}
    stars = set(memo.stars)
    for path, (before, after) in changes.items():
        old, new = resolved[path]
        lost, won = star_imports(before, old), star_imports(after, new)
        involved = lost or won or any(target == path for _source, target in memo.stars)
        if lost != won or (involved and (before.imports, before.defines, before.exports) != \
                (after.imports, after.defines, after.exports)):
            return None  # names taken in by ``import *`` may change anywhere above it
        stars = (stars - lost) | won
    importers: dict[str, tuple[set[str], set[str]]] = {}
    contexts = set(changes)
    symbols: dict[str, tuple[list[KeywordRow], list[KeywordRow]]] = {}
    file_imports: dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]] = {}
    pair_counts = {folder: dict(counts) for folder, counts in memo.pairs.items()}
    touched: set[str] = set()
    for path, (before, after) in changes.items():
        old, new = resolved[path]
        old_edges, new_edges = import_edges_of(before, old), import_edges_of(after, new)
        old_targets = {t for _g, t in old if t and t != path}
        new_targets = {t for _g, t in new if t and t != path}
        for target in old_targets - new_targets:
            importers.setdefault(target, (set(), set()))[0].add(path)
        for target in new_targets - old_targets:
            importers.setdefault(target, (set(), set()))[1].add(path)
        rows_before, rows_after = keyword_rows(before), keyword_rows(after)
        module = [KeywordRow(posixpath.basename(path), "module", path)]
        if path in added:  # every file of a layer is a symbol of the folders above it
            rows_after += module
        if path in removed:
            rows_before += module
        if rows_before != rows_after:
            symbols[path] = (rows_before, rows_after)
            touched.update(folder_chain(layout.folder_of(path), folders))
        touched.add(layout.folder_of(path))
        for edges, sign in ((old_edges - new_edges, 0), (new_edges - old_edges, 1)):
            for source, target in edges:
                place = chart_place(source, target, folders)
                if place is None:
                    continue
                folder, ends, between = place
                if not between:
                    file_imports.setdefault(folder, (set(), set()))[sign].add(ends)
                    continue
                counts = pair_counts.setdefault(folder, {})
                counts[ends] = counts.get(ends, 0) + (1 if sign else -1)
    folder_imports: dict[str, tuple[set[tuple[str, str]], set[tuple[str, str]]]] = {}
    for folder, counts in pair_counts.items():
        old_counts = memo.pairs.get(folder, {})
        for ends, count in counts.items():
            was = old_counts.get(ends, 0)
            if count < 0:
                raise StaleState(f"the chart of {folder!r} loses an import it did not have")
            if bool(was) != bool(count):
                folder_imports.setdefault(folder, (set(), set()))[1 if count else 0].add(ends)
    pairs = {folder: {ends: n for ends, n in counts.items() if n}
             for folder, counts in pair_counts.items()}
    contexts |= importers.keys()
    touched |= {layout.folder_of(path) for path in importers}
    touched |= file_imports.keys() | folder_imports.keys()
    new_memo = replace(memo, includes=dict(includes), pairs={k: v for k, v in pairs.items() if v},
                       stars=frozenset(stars))
    return Plan(changes, {path: new for path, (_old, new) in resolved.items()},
                {t: (frozenset(a), frozenset(b)) for t, (a, b) in importers.items()},
                frozenset(contexts), symbols, file_imports, folder_imports,
                frozenset(f for f in touched if f in folders), new_memo, added,
                removed)


# --------------------------------------------------------------------------- the patches

def patch_contexts(old: Mapping[str, Context], plan: Plan, members: Iterable[str] = (),
                   modules: Mapping[str, str] | None = None) -> dict[str, Context]:
    """The new contexts of the files of ``old`` (those of ``plan.contexts`` in one chunk),
    and of the files of ``members`` (the chunk's) that ``plan`` adds, a Python file with
    its module name from ``modules``."""
    new: dict[str, Context] = {}
    modules = modules or {}
    empty = {path: Context(modules.get(path, "")) for path in members
             if path in plan.added and path not in old}
    for path, ctx in (*old.items(), *empty.items()):
        if path not in plan.contexts:
            continue
        lost, won = plan.importers.get(path, (frozenset(), frozenset()))
        by = tuple(sorted((set(ctx.imported_by) - lost) | won))
        tests = set(ctx.tested_by) | {q for q in won if plan.changes[q][1].is_test}
        tested = tuple(q for q in by if q in tests)
        new[path] = replace(ctx, imports=plan.resolved.get(path, ctx.imports),
                            imported_by=by, tested_by=tested)
    return new


def _symbol_key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return row["name"].casefold(), row["name"], row["path"], row["kind"]


def _same(value: Any) -> Any:
    return value


def _remove(rows: list[Any], row: Any, key: Callable[[Any], Any]) -> None:
    at = bisect_left(rows, key(row), key=key)
    if at >= len(rows) or rows[at] != row:
        raise StaleState(f"a listed row is missing: {row!r}")
    del rows[at]


def _insert(rows: list[Any], row: Any, key: Callable[[Any], Any]) -> None:
    rows.insert(bisect_left(rows, key(row), key=key), row)


def _swap(rows: list[Any], lost: Iterable[Any], won: Iterable[Any],
          key: Callable[[Any], Any] = _same) -> None:
    for row in lost:
        _remove(rows, row, key)
    for row in won:
        _insert(rows, row, key)


def patch_symbols(rows: list[dict[str, Any]], plan: Plan, paths: Iterable[str],
                  modules: bool = True) -> None:
    """Swap the symbol rows (JSON form, in symbol order) of ``paths`` in place; without
    ``modules``, not the ``module`` row of a file added or removed (the folders' indexes
    list every file, the global index only what files define)."""
    for path in paths:
        before, after = plan.symbols.get(path, ([], []))
        _swap(rows, (to_dict(r) for r in before if modules or r.kind != "module"),
              (to_dict(r) for r in after if modules or r.kind != "module"), _symbol_key)


def patch_folder(data: dict[str, Any], plan: Plan, counts: Mapping[str, int],
                 folders: Collection[str]) -> dict[str, Any]:
    """A folder's facts file (JSON form, fields in order) after ``plan``; ``counts`` holds
    the new importer count of every file whose importers changed."""
    facts = data["facts"]
    folder = facts["folder"]
    rows = facts["files"]
    for path, step in [(p, 1) for p in sorted(plan.added)] + [(p, -1) for p in
                                                                sorted(plan.removed)]:
        chain = folder_chain(layout.folder_of(path), folders)
        if folder not in chain:
            continue
        facts["files_below"] += step
        if plan.changes[path][1 if step > 0 else 0].is_test:  # a test file of the sources
            _swap(facts["tests_below"], [path] if step < 0 else [], [path] if step > 0 else [])
        if chain[0] != folder:  # in a subfolder: its count
            below = chain[chain.index(folder) - 1]
            sub = next((sub for sub in facts["subfolders"] if sub["path"] == below), None)
            if sub is None:
                raise StaleState(f"{below!r} is not listed in the facts of {folder!r}")
            sub["files"] += step
        elif step > 0:  # its own file: a row, in path order, made below
            _insert(rows, {"path": path, "imported_by": 0}, lambda row: row["path"])
        else:
            listed = next((i for i, row in enumerate(rows) if row["path"] == path), None)
            if listed is None:
                raise StaleState(f"{path} is not listed in the facts of {folder!r}")
            del rows[listed]
    at = {row["path"]: index for index, row in enumerate(rows)}
    for path in sorted(set(plan.changes) | set(counts)):
        if layout.folder_of(path) != folder or path in plan.removed:
            continue
        if path not in at:
            raise StaleState(f"{path} is not listed in the facts of {folder!r}")
        row = rows[at[path]]
        count = counts.get(path, row["imported_by"])
        if path in plan.changes:
            rows[at[path]] = to_dict(file_row(plan.changes[path][1], count))
        else:
            row["imported_by"] = count
    if any(layout.folder_of(path) == folder for path in plan.changes):
        facts["types"] = [list(item) for item in sorted(Counter(r["type"] for r in rows).items())]
        facts["lines"] = sum(r["lines"] for r in rows)
    patch_symbols(facts["symbols"], plan, [path for path in sorted(plan.symbols)
                                           if folder in folder_chain(layout.folder_of(path),
                                                                     folders)])
    for name, changes in (("file_imports", plan.file_imports),
                          ("folder_imports", plan.folder_imports)):
        if folder in changes:
            lost, won = changes[folder]
            _swap(facts[name], [list(e) for e in sorted(lost)], [list(e) for e in sorted(won)])
    return data


def patch_notes(rows: list[NoteRow], made: Mapping[str, list[NoteRow]],
                order: Callable[[NoteRow], Any]) -> list[NoteRow]:
    """The notes of a layer with those of the changed files (``made``) made again."""
    kept = [row for row in rows if row.path not in made]
    return sorted(kept + [row for found in made.values() for row in found], key=order)
