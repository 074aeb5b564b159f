"""A chunk's entries (a record's fields, its extraction and key, as extract writes them):
the record of one, and the summary that linking reads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pipeline.link import is_defining
from pipeline.prose import shorten
from pipeline.records import (
    Definition,
    Extraction,
    FileRecord,
    Note,
    Summary,
    extraction_from_dict,
)


def record_of(entry: dict[str, Any], extraction: Extraction) -> FileRecord:
    """The record of a chunk entry whose extraction is already built (the entry's own notes,
    a failed read's, come first)."""
    notes = tuple(Note(**n) for n in entry["notes"])
    if notes:
        extraction = replace(extraction, notes=notes + extraction.notes)
    return FileRecord(path=entry["path"], layer=entry["layer"], size=entry["size"],
                      lines=entry["lines"], encoding=entry["encoding"], extraction=extraction)


def load_record(entry: dict[str, Any]) -> FileRecord:
    """The full record of a chunk entry."""
    return record_of(entry, extraction_from_dict(entry["extraction"]))


def summarize(record: FileRecord, type_name: str, is_test: bool, text_bytes: int) -> Summary:
    """What linking needs of a record (``type_name`` and ``is_test`` come from its input)."""
    ex = record.extraction
    defines = tuple(Definition(s.name, s.kind) for s in ex.symbols
                    if is_defining(s.kind, ex.language))
    top = tuple(d for d in defines if d.kind in ("class", "struct", "function", "kernel")
                and "." not in d.name and not d.name.startswith("_"))
    return Summary(
        path=record.path,
        layer=record.layer,
        language=ex.language,
        type=type_name,
        lines=record.lines,
        description=_description(ex, type_name),
        is_test=is_test,
        has_main=ex.has_main,
        imports=tuple((i.kind, i.module, i.names, i.level) for i in ex.imports),
        defines=defines,
        top=top,
        notes=ex.notes,
        text_bytes=text_bytes,
        exports=ex.exports,
    )


def _description(ex: Extraction, type_name: str) -> str:
    first = ex.overview.strip().split("\n\n", 1)[0].replace("\n", " ")
    if not first:
        return type_name
    return shorten(first, 160)
