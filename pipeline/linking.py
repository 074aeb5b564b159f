"""The I/O edge of a layer's link task: read the summaries, link, write what changed.

The task links the whole layer (:func:`pipeline.link.build_links`) unless its memo (the
``links`` state of the layer, :mod:`pipeline.relink`) says which summaries it read last
time and the earlier summary of each changed file can be made again from the chunk's
superseded entries; then it patches only what the changed files reach. The memo is removed
before anything is written and written again last, so a link killed half way links the
whole layer next time.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from pipeline import state
from pipeline.entries import load_record, summarize
from pipeline.files import dump_state, read_bytes, sha256
from pipeline.filetypes import PAGE, file_type
from pipeline.graph import Counts
from pipeline.link import Resolver, build_links, resolve
from pipeline.pyimports import INIT_NAMES
from pipeline.records import (
    SCHEMA,
    Note,
    NoteRow,
    Summary,
    context_from_dict,
    note_order,
    note_rows_from_list,
    summary_from_dict,
)
from pipeline.relink import (
    ChunkMemo,
    Memo,
    Plan,
    StaleState,
    absent,
    make_memo,
    memo_from_json,
    memo_to_json,
    patch_contexts,
    patch_folder,
    patch_notes,
    patch_symbols,
    plan,
    summary_digest,
)
from pipeline.stateio import (
    load_state,
    load_state_or,
    save_encoded,
    save_state,
    save_state_kept,
    unpack,
)

# The memo is written at the end of every link, an edit's too, and is mostly content
# digests, which no level compresses: level 1 writes torch's 2.2 MB in 2.6 ms against
# 10-13 ms at the state files' level, the same size within 1 %.
MEMO_LEVEL = 1
# Folder facts and the symbol index that a patch rewrites are written at level 1 too: those of
# the top folders list every symbol of the layer (torch: 25 MB of JSON each), 20 ms at level 1
# against 70 ms at the state files' level, for a fifth more bytes (1.8 against 1.5 MB). A
# whole link compares their content, not their bytes, and keeps them.
PATCH_LEVEL = 1


def link_layer(output: str, layer: int, chunks: tuple[str, ...], folders: tuple[str, ...],
               binaries: tuple[tuple[str, int], ...], mirror: str,
               extras: dict[str, Any], max_source_bytes: int = 0, code: str = "") -> Counts:
    """Link one layer: per-chunk contexts, per-folder facts, the layer's notes (with a
    ``truncated`` note for every source longer than ``max_source_bytes``, which its page
    shows cut), and (layer 1) the symbol index; whole, or patched where the summaries
    changed (see the module's doc)."""
    out = Path(output)
    memo_path = out / state.path("links", str(layer))
    # the extras (other layers' file counts) only go into folders' facts: kept in the memo
    setting = sha256(dump_state([layer, chunks, folders, [list(b) for b in binaries], mirror,
                                 max_source_bytes, code, SCHEMA]))
    memo = memo_from_json(load_state_or(memo_path, None))
    memo_path.unlink(missing_ok=True)
    base = f"{output}/"  # plain joins: a layer has a summary file per chunk, thousands
    raw = {chunk: read_bytes(base + state.path("summary", chunk)) for chunk in chunks}
    digests = {chunk: sha256(data) for chunk, data in raw.items()}
    done: tuple[int, Memo] | None = None
    if memo is not None and memo.setting == setting and memo.chunks.keys() == set(chunks) \
            and _complete(out, layer, chunks, folders):
        try:
            done = _relink(out, layer, chunks, folders, mirror, max_source_bytes, memo,
                           raw, digests, extras)
        except (StaleState, KeyError, TypeError, ValueError):  # state not as the memo says
            done = None
    how = "links_patched"
    if done is None:
        how = "links_whole"
        done = _link_whole(out, layer, chunks, folders, binaries, mirror, extras,
                           max_source_bytes, setting, raw, digests,
                           memo.chunks if memo is not None else {})
    written, memo = done
    save_state(memo_path, memo_to_json(memo), MEMO_LEVEL)
    return {"state_written": written, how: 1}


def _complete(out: Path, layer: int, chunks: tuple[str, ...], folders: tuple[str, ...],
              ) -> bool:
    """Whether every file the layer's link writes is there (one removed is written again
    by a whole link). One listing per kind: a layer has thousands of them."""
    wanted = [state.path("ctx", chunk) for chunk in chunks]
    wanted += [state.path("folder", folder) for folder in folders]
    wanted += [state.path("notes", str(layer))] + ([state.path("global", "")] if layer == 1
                                                   else [])
    listed: dict[str, set[str]] = {}
    for name in wanted:
        folder, _, base = name.rpartition("/")
        if folder not in listed:
            try:
                listed[folder] = {entry.name for entry in os.scandir(out / folder)
                                  if entry.is_file(follow_symlinks=False)}
            except OSError:
                return False
        if base not in listed[folder]:
            return False
    return True


def _link_whole(out: Path, layer: int, chunks: tuple[str, ...], folders: tuple[str, ...],
                binaries: tuple[tuple[str, int], ...], mirror: str, extras: dict[str, Any],
                max_source_bytes: int, setting: str, raw: dict[str, bytes],
                digests: dict[str, str], known: dict[str, ChunkMemo]) -> tuple[int, Memo]:
    summaries: list[Summary] = []
    by_chunk: dict[str, list[Summary]] = {}
    for chunk in chunks:
        items = _summaries(raw[chunk])
        summaries.extend(items)
        by_chunk[chunk] = items
    links = build_links(summaries, list(folders), list(binaries), mirror)
    written = 0
    for chunk, items in by_chunk.items():
        ctx = {s.path: links.contexts[s.path] for s in items}
        written += save_state_kept(out / state.path("ctx", chunk), ctx)
    for folder in folders:
        facts = {"facts": links.folders[folder], "extras": extras.get(folder, {})}
        written += save_state_kept(out / state.path("folder", folder), facts)
    failures = sorted((row for s in summaries for row in note_rows(s, max_source_bytes)),
                      key=note_order)
    written += save_state(out / state.path("notes", str(layer)), failures)
    if layer == 1:
        data = {"keywords": links.keywords, "files": len(summaries)}
        written += save_state(out / state.path("global", ""), data)
    resolved = {path: ctx.imports for path, ctx in links.contexts.items()}
    memo = make_memo(setting, {chunk: (digests[chunk], items)
                               for chunk, items in by_chunk.items()}, resolved, links, known,
                     extras)
    return written, memo


def _relink(out: Path, layer: int, chunks: tuple[str, ...], folders: tuple[str, ...],
            mirror: str, max_source_bytes: int, memo: Memo, raw: dict[str, bytes],
            digests: dict[str, str], extras: dict[str, Any]) -> tuple[int, Memo] | None:
    """Patch the layer's link for its changed summaries (and the folders' ``extras``);
    ``None`` where that cannot be done (the caller links the whole layer)."""
    changes: dict[str, tuple[Summary, Summary]] = {}
    added: set[str] = set()
    gone: dict[str, list[str]] = {}  # chunk -> the paths that left it (and the layer)
    chunk_memos = dict(memo.chunks)
    every: set[str] | None = None  # the memo's paths, when a chunk's paths moved
    for chunk in chunks:
        if memo.chunks[chunk].digest == digests[chunk]:
            continue
        items = _summaries(raw[chunk])
        known = memo.chunks[chunk]
        paths = tuple(s.path for s in items)
        if paths != known.paths:
            if every is None:
                every = {path for c in memo.chunks.values() for path in c.paths}
            new = set(paths) - set(known.paths)
            if not new.isdisjoint(every):
                return None  # moved between chunks
            added |= new
            gone[chunk] = sorted(set(known.paths) - set(paths))
        sums = tuple(map(summary_digest, items))
        chunk_memos[chunk] = ChunkMemo(digests[chunk], paths, sums)
        earlier = dict(zip(known.paths, known.summaries, strict=True))
        changed = [(s, earlier.get(s.path)) for s, now in zip(items, sums, strict=True)
                   if now != earlier.get(s.path)]
        if not changed and not gone.get(chunk):
            continue
        older = {e["path"]: e for e in load_state_or(out / state.path("superseded", chunk),
                                                     [])}
        for summary, was in changed:
            before = absent(summary) if was is None else \
                _earlier(older.get(summary.path), summary, was)
            if before is None:
                return None
            changes[summary.path] = (before, summary)
        for path in gone.get(chunk, ()):  # a file's last entry is kept for one run
            went = _gone(older.get(path), path, layer, earlier[path])
            if went is None:
                return None
            changes[path] = went
    layer_paths = [path for chunk in chunks for path in chunk_memos[chunk].paths]
    resolver = Resolver(layer_paths, mirror, layer, memo.includes)
    removed = {path: chunk for chunk, paths in gone.items() for path in paths}
    earlier_resolver = None
    if layer == 1 and every is not None:  # files came or went: imports may find them, or not
        earlier_resolver = Resolver(sorted(every), mirror, layer, memo.includes)
        anew = resolved_anew(earlier_resolver, resolver, added | removed.keys(),
                             {chunk: raw[chunk] for chunk in chunks}, changes.keys(),
                             memo.includes.keys())
        if anew is None:
            return None
        changes.update((s.path, (s, s)) for s in anew)
    found = plan(memo, changes, resolver, set(folders), frozenset(added), frozenset(removed),
                 earlier_resolver)
    if found is None:
        return None
    now = replace(memo, chunks=chunk_memos)
    moved = {folder: extras.get(folder, {}) for folder in sorted(set(memo.extras) | set(extras))
             if memo.extras.get(folder, {}) != extras.get(folder, {})}
    written = _patch(out, layer, chunks, now, found, set(folders), max_source_bytes, removed,
                     moved, resolver.modules if layer == 1 else {})
    return written, replace(found.memo, chunks=chunk_memos, extras=extras)


def _gone(entry: dict[str, Any] | None, path: str, layer: int,
          digest: str) -> tuple[Summary, Summary] | None:
    """(before, after) of a file that left the layer: its summary when link last read it,
    made again from the entry its chunk keeps for one run (None when that cannot be
    done), and :func:`absent`. A source may have been a test file: whichever summary has
    the memo's digest is the one."""
    kind = PAGE if layer >= 2 else file_type(posixpath.basename(path))
    for is_test in (False, True) if layer == 1 else (False,):
        shape = absent(Summary(path, layer, kind.language, kind.name, 0, "", is_test, False))
        before = _earlier(entry, shape, digest)
        if before is not None:
            return before, shape
    return None


def resolved_anew(earlier: Resolver, resolver: Resolver, moved: Collection[str],
                  raw: Mapping[str, bytes], changed: Collection[str],
                  includes: Collection[str]) -> list[Summary] | None:
    """The summaries of the sources, other than ``changed``, whose imports, includes or
    links resolve otherwise now that the files of ``moved`` were added or removed
    (``earlier`` resolves among the files before, ``resolver`` among those after); None
    when that is not known without linking the whole layer: an ``__init__`` added or
    removed (the module names of a package), another file's module name moved, a new
    top-level package, or an include root that may move (the include roots are inferred
    from the files an include finds: ``includes``, the layer's include targets).

    An import, include or link that can reach a file names it: a Python import its module
    name (whose last part is the file's stem), an include or a link its file name. So only
    the chunks whose summaries hold a moved file's stem are read (``raw``: chunk -> its
    summary file's bytes), with those holding a ``%`` (a link may escape a character of a
    name), and their files resolved both ways."""
    stems: set[str] = set()
    for path in moved:
        base = posixpath.basename(path)
        stem = base.split(".", 1)[0]
        if base in INIT_NAMES or not stem or orjson.dumps(stem)[1:-1] != stem.encode():
            return None  # a package's modules, or a stem its JSON form does not hold
        stems.add(stem)
    before, after = earlier.python_modules, resolver.python_modules
    if (before.tops ^ after.tops) - stems:
        return None  # a top-level name came or went that no moved file's imports name
    if any(after.index.get(path) != where for path, where in before.index.items()
           if path not in moved):
        return None  # a folder became a package, or stopped being one
    targets = set(includes)  # normalised as :func:`pipeline.link.include_targets` makes them
    for path in moved:
        parts = path.split("/")
        if any("/".join(parts[start:]) in targets for start in range(len(parts) - 1)):
            return None  # an include of a path below a folder finds it: a root may move
    found: list[Summary] = []
    for data in raw.values():
        text = unpack(data)
        named = any(stem.encode() in text for stem in stems)
        if not named and b"%" not in text:
            continue
        for summary in (summary_from_dict(s) for s in orjson.loads(text)):
            if summary.path in changed or summary.path in moved or not named and not any(
                    item[0] == "link" and "%" in item[1] for item in summary.imports):
                continue
            if resolve(summary, earlier) != resolve(summary, resolver):
                found.append(summary)
    return found


def _summaries(data: bytes) -> list[Summary]:
    """The summaries of one chunk's summary file, as read."""
    return [summary_from_dict(s) for s in orjson.loads(unpack(data))]


def _earlier(entry: dict[str, Any] | None, now: Summary, digest: str) -> Summary | None:
    """The summary a file had when link last read it, made again from its superseded
    entry, when that is the one (its digest is the memo's)."""
    if entry is None:
        return None
    try:
        before = summarize(load_record(entry), now.type, now.is_test, entry["text_bytes"])
    except (KeyError, TypeError, ValueError):
        return None
    return before if summary_digest(before) == digest else None


def _patch(out: Path, layer: int, chunks: tuple[str, ...], memo: Memo, found: Plan,
           folders: set[str], max_source_bytes: int, removed: dict[str, str],
           extras: dict[str, Any], modules: Mapping[str, str]) -> int:
    """Write what ``found`` changes in the layer's link state, with the folders' new
    ``extras`` (those that changed) and the module names of added Python files."""
    chunk_of = {path: chunk for chunk in chunks for path in memo.chunks[chunk].paths}
    chunk_of.update(removed)
    written = 0
    counts: dict[str, int] = {}
    for chunk in sorted({chunk_of[path] for path in found.contexts}):
        where = out / state.path("ctx", chunk)
        old = {path: context_from_dict(data) for path, data in load_state(where).items()}
        new = patch_contexts(old, found, memo.chunks[chunk].paths, modules)
        counts.update((path, len(new[path].imported_by)) for path in found.importers
                      if path in new and path not in removed)
        written += save_state(where, {path: ctx for path, ctx in {**old, **new}.items()
                                      if path not in removed})
    for folder in sorted(found.folders | (extras.keys() & folders)):
        where = out / state.path("folder", folder)
        data = load_state(where)
        if folder in found.folders:
            data = patch_folder(data, found, counts, folders)
        if folder in extras:  # in the form a whole link writes it: keys sorted
            data["extras"] = orjson.loads(dump_state(extras[folder]))
        written += save_encoded(where, orjson.dumps(data) + b"\n", PATCH_LEVEL)
    where = out / state.path("notes", str(layer))
    made = {path: note_rows(after, max_source_bytes)
            for path, (_before, after) in found.changes.items()}
    rows = patch_notes(note_rows_from_list(load_state(where)), made, note_order)
    written += save_state(where, rows)
    if layer == 1 and (found.symbols or found.added or found.removed):
        where = out / state.path("global", "")
        data = load_state(where)
        patch_symbols(data["keywords"], found, found.symbols, modules=False)
        data["files"] += len(found.added) - len(found.removed)
        written += save_encoded(where, orjson.dumps(data) + b"\n", PATCH_LEVEL)
    return written


def note_rows(summary: Summary, max_source_bytes: int) -> list[NoteRow]:
    """A file's rows of its layer's notes."""
    return [NoteRow(summary.path, n.kind, n.message, n.line)
            for n in summary.notes + cut_notes(summary.text_bytes, max_source_bytes)]


def cut_notes(text_bytes: int, limit: int) -> tuple[Note, ...]:
    """The warning that a source's page shows it cut at ``limit`` bytes (none if it fits)."""
    if not limit or text_bytes <= limit:
        return ()
    return (Note("truncated", f"the source ({text_bytes:,} bytes) is longer than the "
                 f"configured limit of {limit:,} bytes (max_source_bytes): its page shows "
                 "it cut"),)
