"""The I/O edge of every task: read inputs, call the pure stages, write if changed.

Each function here is a doit python-action; it returns a dict of counts that the
reporter adds up (and that survives ``-P process``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from pipeline import layout, state, versions
from pipeline.cache import Outcome, fetch_pages, store_pages
from pipeline.discover import Input
from pipeline.entries import load_record, record_of, summarize
from pipeline.files import decode, dump_state, read_bytes, sha256, write_if_changed
from pipeline.graph import Counts
from pipeline.link import keyword_rows
from pipeline.linking import link_layer as link_layer  # the link task's action
from pipeline.records import (
    SCHEMA,
    Extraction,
    FileRecord,
    Note,
    Summary,
    context_from_dict,
    extraction_from_dict,
    folder_facts_from_dict,
    keyword_row_from_dict,
    summary_from_dict,
    to_dict,
)
from pipeline.remote import NO_REMOTE, Remote, make_extractions, prepare
from pipeline.site import PageSite
from pipeline.stateio import load_state, load_state_or, save_encoded, save_state, unpack

# --------------------------------------------------------------------------- extract

def extract_chunk(output: str, chunk: str, inputs: tuple[Input, ...], code: str,
                  neighbours: tuple[str, ...] = (),
                  only: frozenset[str] | None = None, remote: Remote = NO_REMOTE) -> Counts:
    """Extract every input of a chunk and write its records and summaries.

    The chunk's state is the cache, keyed by content, language and the digest ``code`` of
    the extracting code: its previous records, and for each input the one version its
    records held before (``superseded``), so an edit extracts only the edited file, and
    undoing it or switching back to a branch extracts nothing. Inputs new to the chunk (a
    file added or removed before them moved the chunk's bounds) are looked up in the
    ``neighbours`` too. A cold build writes one records file per chunk rather than one
    cache file per input. What is still missing is fetched from the shared cache, or
    extracted (on the Dask cluster when there is one), as ``remote`` says
    (:func:`pipeline.remote.make_extractions`).

    With ``only`` (input paths), the other inputs keep the entries and summaries the chunk
    last had, unread (an input the chunk never had is extracted: the records need it)."""
    out = Path(output)
    path = out / state.path("records", chunk)
    older_path = out / state.path("superseded", chunk)
    previous, older = _reusable(path), _reusable(older_path)
    known = {**older, **previous}
    had = {entry["path"] for entry in previous.values()}
    if any(item.path not in had for item in inputs):
        for name, kind in ((n, k) for n in neighbours for k in ("records", "superseded")):
            for key, entry in _reusable(out / state.path(kind, name)).items():
                known.setdefault(key, entry)
    kept = _kept(out, chunk, previous, inputs, only)
    read = {item.path: _read(item, code) for item in inputs if item.path not in kept}
    missing = {read[i.path].key: (read[i.path].data, i.type.language)
               for i in inputs if i.path in read and read[i.path].key not in known}
    made, counts = make_extractions(missing, code, remote)
    records: list[dict[str, Any]] = []
    summaries: list[Summary] = []
    for item in inputs:
        if item.path in kept:
            entry, summary = kept[item.path]
            records.append(entry)
            summaries.append(summary)
            continue
        record, entry = _entry(item, read[item.path], known, made)
        records.append(entry)
        summaries.append(_summary(record, item, entry["text_bytes"]))
    languages = {item.path: item.type.language for item in inputs}
    _write_or_remove(older_path, _superseded(records, previous, older, languages, code))
    save_encoded(path, _dump_records(records))
    save_state(out / state.path("summary", chunk), summaries)
    return {"files": len(inputs), **counts}


def extract_ahead(output: str, chunk: str, inputs: tuple[Input, ...], code: str,
                  neighbours: tuple[str, ...] = ()) -> dict[str, tuple[bytes, str]]:
    """What :func:`extract_chunk` will ask the shared cache or the cluster for, known
    before the build runs: a chunk with nothing to reuse (no records or superseded entries
    of its own or of its neighbours: a cold build, a new folder) lacks every distinct
    content of its inputs. Empty for any other chunk."""
    out = Path(output)
    if any((out / state.path(kind, name)).exists()
           for name in (chunk, *neighbours) for kind in ("records", "superseded")):
        return {}
    missing: dict[str, tuple[bytes, str]] = {}
    for item in inputs:
        read = _read(item, code)
        missing.setdefault(read.key, (read.data, item.type.language))
    return missing


def index_rows_move(root: str, chunk: str, item: Input, code: str) -> bool:
    """Whether the input's bytes as they are now give other symbol index rows than its
    chunk's last summary holds for it (a definition added, removed, renamed or of another
    kind): then the folder pages above it and ``keywords.md`` are rendered again. Decided
    before the build runs, from the file extracted now; the extraction is kept for the
    chunk's task (:func:`pipeline.remote.prepare`). True when the last summary is not
    there to compare with."""
    try:
        summaries = load_state(Path(root) / state.path("summary", chunk))
        old = summary_from_dict(next(s for s in summaries if s["path"] == item.path))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return True
    read = _read(item, code)
    made = {read.key: prepare(read.key, read.data, item.type.language)}
    record, entry = _entry(item, read, {}, made)
    return keyword_rows(_summary(record, item, entry["text_bytes"])) != keyword_rows(old)


def _kept(out: Path, chunk: str, previous: dict[str, dict[str, Any]],
          inputs: tuple[Input, ...], only: frozenset[str] | None,
          ) -> dict[str, tuple[dict[str, Any], Summary]]:
    """Path -> (entry, summary) the chunk last had, of the inputs outside ``only``."""
    if only is None:
        return {}
    try:
        summaries = {s.path: s for s in map(summary_from_dict,
                                            load_state(out / state.path("summary", chunk)))}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    entries = {e["path"]: e for e in previous.values()}
    return {item.path: (entries[item.path], summaries[item.path]) for item in inputs
            if item.path not in only and item.path in entries and item.path in summaries}


def _superseded(records: list[dict[str, Any]], previous: dict[str, dict[str, Any]],
                older: dict[str, dict[str, Any]], languages: dict[str, str],
                code: str) -> list[dict[str, Any]]:
    """What the chunk keeps besides its records: for each input, its latest entry with
    another key than now (from the previous records when this run replaced it, else the
    one kept before), none made by other code, whose keys cannot match again; and, for one
    run, the entries of files that left the chunk (a neighbouring chunk that runs after
    this one finds them here). Bounded however often files change."""
    current = {e["path"]: e["key"] for e in records}
    kept: dict[str, dict[str, Any]] = {}
    for source in (older, previous):  # the previous records win
        for key, entry in source.items():
            path = entry["path"]
            if path in current and current[path] != key \
                    and key == _key(languages[path], code, entry["sha256"]):
                kept[path] = entry
    departed = [e for e in previous.values() if e["path"] not in current]
    return [kept[path] for path in sorted(kept)] + sorted(departed, key=lambda e: e["path"])


def _key(language: str, code: str, digest: str) -> str:
    """The key of an extraction: what decides it (the content's digest, the extractor, the
    code's digest, the versions of the parsers it uses, the schema)."""
    parsers = versions.parser_versions().get(language, "")
    return sha256(f"{language}\0{code}\0{parsers}\0{SCHEMA}\0{digest}".encode())


def _write_or_remove(path: Path, entries: list[dict[str, Any]]) -> None:
    if entries:
        save_encoded(path, _dump_records(entries))
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _dump_records(records: list[dict[str, Any]]) -> bytes:
    """Records in field order, unsorted: a fresh extraction is encoded straight from its
    dataclass, and a reused one, parsed from the previous file with its order kept, is
    written back in that same order, so both give the same bytes."""
    return orjson.dumps(records) + b"\n"


def _reusable(path: Path) -> dict[str, dict[str, Any]]:
    """Key -> entry of the records at ``path`` (none when missing or unreadable), but for
    extractions that met an extractor bug: those are tried again."""
    try:
        return {e["key"]: e for e in load_state_or(path, [])
                if not any(n["kind"] == "internal-error" for n in e["extraction"]["notes"])}
    except (KeyError, TypeError):
        return {}


class _Read(NamedTuple):
    data: bytes
    notes: list[Note]  # the failed read's, if any
    digest: str
    key: str  # of the extraction


def _read(item: Input, code: str) -> _Read:
    notes: list[Note] = []
    try:
        data = read_bytes(item.disk)
    except OSError as error:
        data = b""
        notes.append(Note("unreadable", f"the file could not be read: {error.strerror}"))
    digest = sha256(data)
    return _Read(data, notes, digest, _key(item.type.language, code, digest))


def _entry(item: Input, read: _Read, known: dict[str, dict[str, Any]],
           made: dict[str, tuple[dict[str, Any], Extraction]],
           ) -> tuple[FileRecord, dict[str, Any]]:
    """The record of one input and its chunk entry (the record's fields, the extraction and
    its key), taken from ``known`` when the key is there, else from ``made``."""
    data, notes, digest, key = read
    old = known.get(key)
    extraction_data: Any
    if old is not None:
        facts, extraction_data = old, old["extraction"]
        extraction = extraction_from_dict(extraction_data)
    else:
        facts, extraction = made[key]
        extraction_data = extraction
    entry: dict[str, Any] = {
        "path": item.path, "layer": item.layer, "size": len(data), "lines": facts["lines"],
        "sha256": digest, "encoding": facts["encoding"], "key": key,
        "text_bytes": facts.get("text_bytes", len(data)),
        "notes": [to_dict(n) for n in notes], "extraction": extraction_data,
    }
    return record_of(entry, extraction), entry


def _summary(record: FileRecord, item: Input, text_bytes: int) -> Summary:
    return summarize(record, item.type.name, item.test, text_bytes)


# --------------------------------------------------------------------------- render

def render_chunk(root: str, site: PageSite, chunk: str, inputs: tuple[Input, ...],
                 siblings: tuple[str, ...], stamp_base: str,
                 only: frozenset[str] | None = None, remote: Remote = NO_REMOTE) -> Counts:
    """Render both pages of every input of a chunk whose inputs changed (with ``only``,
    of those inputs only: the others keep their pages and manifest entries as they are).
    Pages to render are first looked up in the shared cache under their stamp, and the
    ones rendered here are stored there, as ``remote`` says (:mod:`pipeline.cache`)."""
    out = Path(root)
    records = load_state(out / state.path("records", chunk))
    contexts = load_state(out / state.path("ctx", chunk))
    old = state.load_manifest(root, "pages", chunk)["entries"]
    entries: dict[str, Any] = {}
    todo: list[tuple[Input, dict[str, Any], str]] = []  # (input, record, stamp) to render
    unchanged = 0
    folder_stamp = sha256(dump_state([stamp_base, list(siblings)]))  # once, not per page
    for item, data in zip(inputs, records, strict=True):
        if only is not None and item.path not in only:
            if item.path in old:
                entries[item.path] = old[item.path]
            continue
        # The entry's key stands for its extraction (it hashes the content and the code).
        facts = {k: v for k, v in data.items() if k != "extraction"}
        stamp = sha256(dump_state([folder_stamp, facts, contexts[item.path], item.test]))
        previous = old.get(item.path)
        if previous and previous["stamp"] == stamp and state.entry_intact(root, previous):
            entries[item.path] = previous
            unchanged += 2
        else:
            todo.append((item, data, stamp))
    outcome = Outcome()
    cached = fetch_pages(remote, [stamp for _item, _data, stamp in todo], outcome, 2)
    rendered: dict[str, tuple[str, ...]] = {}
    written = 0
    for item, data, stamp in todo:
        texts = cached.get(stamp)
        if texts is None:
            texts = rendered[stamp] = _render_file(item, data, contexts[item.path], site,
                                                   siblings)
        docs, kw = layout.file_pages(item.path)
        for page, text in ((docs, texts[0]), (kw, texts[1])):
            if write_if_changed(out / page, text.encode("utf-8")):
                written += 1
            else:
                unchanged += 1
        entries[item.path] = {"stamp": stamp, "pages": state.page_stats(root, (docs, kw))}
    store_pages(remote, rendered, outcome)
    save_state(out / state.path("pages", chunk), state.manifest("", entries))
    return {"pages_written": written, "pages_unchanged": unchanged, **outcome.counts()}


def _render_file(item: Input, data: dict[str, Any], ctx: dict[str, Any], site: PageSite,
                 siblings: tuple[str, ...]) -> tuple[str, str]:
    """The two pages (docs, keywords) of one input from its record and context."""
    from pipeline.render import render_file_pages  # jinja2: only where pages are rendered

    try:
        text = decode(read_bytes(item.disk)).text
    except OSError:
        text = ""
    return render_file_pages(load_record(data), context_from_dict(ctx), text, site,
                             item.type.name, item.type.fence, list(siblings),
                             is_test=item.test)


def render_folders(root: str, site: PageSite, key: str, folders: tuple[str, ...],
                   layer: int, stamp_base: str, only: frozenset[str] | None = None,
                   remote: Remote = NO_REMOTE) -> Counts:
    """The folder pages of one layer, rendered only for folders whose facts changed or
    whose pages are not as last written (the manifest keeps the stamp of site, templates
    and schema; per folder the facts file's size, mtime and digest, and each page's size
    and mtime). With ``only``, the other folders keep their pages and entries as they are.
    Pages to render are first looked up in the shared cache, under a stamp of the facts'
    digest, the layer and ``stamp_base``, and the ones rendered here are stored there."""
    out = Path(root)
    loaded = state.load_manifest(root, "folder-pages", key)
    old = loaded["entries"] if loaded["stamp"] == stamp_base else {}
    entries: dict[str, Any] = {}
    todo: list[tuple[str, bytes, list[int], str]] = []  # (folder, facts, stat, cache stamp)
    unchanged = 0
    for folder in folders:
        if only is not None and folder not in only:
            if folder in old:
                entries[folder] = old[folder]
            continue
        facts_path = out / state.path("folder", folder)
        info = os.stat(facts_path)
        previous = old.get(folder)
        data = None
        if previous is not None:
            digest = previous["stamp"]
            if [info.st_size, info.st_mtime_ns] != previous["facts"]:
                data = read_bytes(facts_path)
                if sha256(data) != digest:
                    previous = None
            if previous is not None and state.entry_intact(root, previous):
                entries[folder] = {**previous, "facts": [info.st_size, info.st_mtime_ns]}
                unchanged += len(previous["pages"])
                continue
        data = read_bytes(facts_path) if data is None else data
        todo.append((folder, data, [info.st_size, info.st_mtime_ns],
                     sha256(dump_state(["folder", stamp_base, layer, folder, sha256(data)]))))
    outcome = Outcome()
    cached = fetch_pages(remote, [stamp for *_rest, stamp in todo], outcome,
                         len(layout.FOLDER_PAGES))
    rendered: dict[str, tuple[str, ...]] = {}
    written = 0
    for folder, data, facts, stamp in todo:
        texts = cached.get(stamp)
        if texts is None:
            texts = rendered[stamp] = _render_folder(folder, data, site, layer)
        paths = [layout.folder_page(folder, name) for name in layout.FOLDER_PAGES]
        for path, text in zip(paths, texts, strict=True):
            if write_if_changed(out / path, text.encode("utf-8")):
                written += 1
            else:
                unchanged += 1
        entries[folder] = {"stamp": sha256(data), "facts": facts,
                           "pages": state.page_stats(root, sorted(paths))}
    store_pages(remote, rendered, outcome)
    save_state(out / state.path("folder-pages", key), state.manifest(stamp_base, entries))
    return {"pages_written": written, "pages_unchanged": unchanged, **outcome.counts()}


def _render_folder(folder: str, data: bytes, site: PageSite, layer: int) -> tuple[str, ...]:
    """A folder's pages (:data:`pipeline.layout.FOLDER_PAGES`, in that order) from its facts
    file."""
    from pipeline.render_folders import render_folder_pages

    stored = orjson.loads(unpack(data))
    pages = render_folder_pages(folder_facts_from_dict(stored["facts"]), site, layer,
                                stored["extras"])
    paths = [layout.folder_page(folder, name) for name in layout.FOLDER_PAGES]
    assert sorted(pages) == sorted(paths), (folder, sorted(pages))
    return tuple(pages[path] for path in paths)


def render_keywords(root: str, site: PageSite) -> Counts:
    from pipeline.render_folders import render_keywords_page

    out = Path(root)
    data = load_state(out / state.path("global", ""))
    rows = [keyword_row_from_dict(row) for row in data["keywords"]]
    text = render_keywords_page(rows, site, data["files"])
    written = int(write_if_changed(out / "keywords.md", text.encode("utf-8")))
    entry = {"stamp": "", "pages": state.page_stats(root, ("keywords.md",))}
    save_state(out / state.path("keyword-pages", ""), state.manifest("", {"": entry}))
    return {"pages_written": written, "pages_unchanged": 1 - written}
