"""Frozen records that flow between stages, and their versioned JSON form."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.schema import SCHEMA as SCHEMA

# Symbol kinds, and the keyword-page section each one is listed under.
KIND_SECTIONS: dict[str, str] = {
    "namespace": "Namespaces",
    "class": "Classes",
    "struct": "Classes",
    "enum": "Classes",
    "union": "Classes",
    "alias": "Type Aliases",
    "guide": "Deduction Guides",
    "function": "Functions",
    "method": "Methods",
    "attribute": "Attributes",
    "kernel": "Kernels",
    "constant": "Constants",
    "variable": "Variables",
    "macro": "Macros",
    "key": "Keys",
    "target": "Targets",
    "heading": "Headings",
    "directive": "Directives",
    "codeblock": "Code Blocks",
}


class _Record:
    """A record pickles as its fields in order and unpickles through its constructor: half
    the time of a slotted dataclass's default, whose ``__setstate__`` looks the fields up
    again for every object (the records a Dask cluster sends back)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        names: tuple[str, ...] = self.__slots__  # a dataclass's fields, in order
        return type(self), tuple(getattr(self, name) for name in names)


@dataclass(frozen=True, slots=True)
class Symbol(_Record):
    """A named thing a file defines, at the lines where it stands."""

    kind: str
    name: str  # qualified display name: ``Circle.scaled.checked``, ``at::native::add``
    line: int
    end_line: int = 0
    signature: str = ""  # as declared: ``def area(self) -> float``, ``class Circle(Shape)``
    summary: str = ""  # first line of the docstring or leading comment
    decorators: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    value: str = ""  # constants and macros: the value as written (shortened)


@dataclass(frozen=True, slots=True)
class Import(_Record):
    """One dependency as written: a Python import, a C include, a markdown link."""

    kind: str  # "import" | "from" | "include" | "system-include" | "link"
    module: str  # ``os.path``, ``.base`` (level 1), ``c10/core/Device.h``, ``../x.md``
    line: int
    end_line: int = 0
    names: tuple[str, ...] = ()  # the name taken by ``from m import a`` (one per record), "*"
    level: int = 0  # leading dots of a relative Python import
    type_checking: bool = False  # under ``if TYPE_CHECKING:``: for type checkers only


@dataclass(frozen=True, slots=True)
class Finding(_Record):
    """A fact a rule found in the syntax tree, with its line."""

    area: str  # "pattern" | "performance" | "security"
    label: str  # short name: "Dataclass", "Builtin eval"
    line: int
    detail: str  # one sentence, markdown allowed (names in backticks)


@dataclass(frozen=True, slots=True)
class Example(_Record):
    """A usage example found in documentation (a doctest or an ``Example::`` block)."""

    owner: str  # the symbol whose docstring holds it, or "" for the module
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Note(_Record):
    """Something that went wrong or was cut, shown on the page as an explicit note."""

    kind: str  # "syntax-error" | "decode" | "truncated" | "partial-parse" | "parse-error" | ...
    message: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class NoteRow(_Record):
    """A note of one input, as the build's failure list holds it: the :class:`Note`'s fields
    after the input's path."""

    path: str
    kind: str
    message: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Extraction(_Record):
    """What one extractor found in one text; independent of the file's path."""

    language: str
    overview: str = ""
    symbols: tuple[Symbol, ...] = ()
    imports: tuple[Import, ...] = ()
    findings: tuple[Finding, ...] = ()
    tests: tuple[str, ...] = ()  # test ids relative to the file: ``TestX::test_a``, ``test_b``
    examples: tuple[Example, ...] = ()
    exports: tuple[str, ...] = ()  # ``__all__``
    identifiers: tuple[str, ...] = ()  # code-like words (markdown and pages)
    has_main: bool = False
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class FileRecord(_Record):
    """Everything the later stages need from one input file."""

    path: str  # repository path with ``/`` separators (layer >= 2: under the mirror root)
    layer: int
    size: int
    lines: int
    encoding: str  # "utf-8", "utf-8-sig", a declared codec, or "binary"
    extraction: Extraction = field(default_factory=lambda: Extraction(language="text"))


_NESTED: dict[str, Any] = {
    "symbols": Symbol,
    "imports": Import,
    "findings": Finding,
    "examples": Example,
    "notes": Note,
}


# One dependency as linking sees it: (kind, module, names, level), an Import's fields without
# its lines. A plain tuple, not a record: a layer of pages holds millions of them.
ImportRef = tuple[str, str, tuple[str, ...], int]


@dataclass(frozen=True, slots=True)
class Definition(_Record):
    """A symbol as linking and the folder pages see it: its name and kind."""

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class Summary(_Record):
    """What linking and the folder pages need of one input (extract writes it, link reads
    it): a digest of its :class:`FileRecord`."""

    path: str
    layer: int
    language: str
    type: str  # the file type's name: ``Python Source Code``
    lines: int
    description: str  # one line for folder indexes
    is_test: bool
    has_main: bool
    imports: tuple[ImportRef, ...] = ()
    defines: tuple[Definition, ...] = ()  # symbols of the defining kinds, in file order
    top: tuple[Definition, ...] = ()  # the public top-level classes and functions among them
    notes: tuple[Note, ...] = ()
    text_bytes: int = 0  # the decoded text's length in UTF-8: its page cuts it above a limit
    exports: tuple[str, ...] = ()  # ``__all__`` of a Python module


# Where one dependency leads: (group, target path or ""); group is "stdlib", "repo", ...
Resolved = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Context(_Record):
    """The cross-file facts of one input that its pages show (link writes it, render reads
    it)."""

    module: str  # dotted module name of a Python file, else ""
    imports: tuple[Resolved, ...] = ()  # one per import of the extraction, in its order
    imported_by: tuple[str, ...] = ()  # paths of the inputs that import this one, sorted
    tested_by: tuple[str, ...] = ()  # the test files among them
    reexports: tuple[tuple[str, str], ...] = ()  # (name, defining file) taken in by ``import *``


@dataclass(frozen=True, slots=True)
class KeywordRow(_Record):
    """One entry of a symbol index (``keywords.md``, ``sub.md``): a :class:`Definition`'s
    fields and the path of the input that defines it (kind ``module``: the input itself)."""

    name: str
    kind: str
    path: str


@dataclass(frozen=True, slots=True)
class FileRow(_Record):
    """One input as its folder's pages list it."""

    path: str
    type: str
    lines: int
    description: str
    is_test: bool
    has_main: bool
    imported_by: int  # how many inputs import it
    top: tuple[Definition, ...] = ()


@dataclass(frozen=True, slots=True)
class Subfolder(_Record):
    """A folder of the layer directly below another one."""

    path: str
    files: int  # inputs at any depth below it


@dataclass(frozen=True, slots=True)
class FolderFacts(_Record):
    """What a folder's pages show (link writes it, the folder pages read it)."""

    folder: str
    files: tuple[FileRow, ...] = ()  # its own inputs, by path
    subfolders: tuple[Subfolder, ...] = ()
    binaries: tuple[tuple[str, int], ...] = ()  # (name, size) of its own binary files
    types: tuple[tuple[str, int], ...] = ()  # (type name, count) of its own inputs
    lines: int = 0  # of its own inputs
    files_below: int = 0
    symbols: tuple[KeywordRow, ...] = ()  # everything defined below it, in symbol order
    tests_below: tuple[str, ...] = ()
    # Imports drawn on doc.md: (importer, imported) among its own files, and (from, to)
    # among its subfolders (a file of its own counts as the folder itself), sorted.
    file_imports: tuple[tuple[str, str], ...] = ()
    folder_imports: tuple[tuple[str, str], ...] = ()


def to_dict(record: Any) -> Any:
    """A record as plain JSON-ready data (dataclasses become dicts in field order, tuples
    become lists), through orjson's native dataclass encoding."""
    return orjson.loads(orjson.dumps(record))


def extraction_from_dict(data: dict[str, Any]) -> Extraction:
    """Rebuild an :class:`Extraction` from :func:`to_dict` output."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        cls = _NESTED.get(name)
        if cls is not None:
            values[name] = tuple(cls(**_tuples(item)) for item in value)
        elif isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = value
    return Extraction(**values)


def summary_from_dict(data: dict[str, Any]) -> Summary:
    """Rebuild a :class:`Summary` from its JSON form (module names interned: the pages of a
    layer link to few distinct targets)."""
    return Summary(
        path=data["path"], layer=data["layer"], language=data["language"], type=data["type"],
        lines=data["lines"], description=data["description"], is_test=data["is_test"],
        has_main=data["has_main"],
        imports=tuple((kind, sys.intern(module), tuple(names), level)
                      for kind, module, names, level in data["imports"]),
        defines=tuple(Definition(**d) for d in data["defines"]),
        top=tuple(Definition(**d) for d in data["top"]),
        notes=tuple(Note(**n) for n in data["notes"]),
        text_bytes=data.get("text_bytes", 0),
        exports=tuple(data["exports"]),
    )


def context_from_dict(data: dict[str, Any]) -> Context:
    """Rebuild a :class:`Context` from its JSON form."""
    return Context(module=data["module"],
                   imports=tuple((group, target) for group, target in data["imports"]),
                   imported_by=tuple(data["imported_by"]), tested_by=tuple(data["tested_by"]),
                   reexports=tuple((name, source) for name, source in data["reexports"]))


def keyword_row_from_dict(data: dict[str, Any]) -> KeywordRow:
    return KeywordRow(data["name"], data["kind"], data["path"])


def folder_facts_from_dict(data: dict[str, Any]) -> FolderFacts:
    """Rebuild :class:`FolderFacts` from its JSON form."""
    return FolderFacts(
        folder=data["folder"],
        files=tuple(FileRow(**{**row, "top": tuple(Definition(**d) for d in row["top"])})
                    for row in data["files"]),
        subfolders=tuple(Subfolder(**row) for row in data["subfolders"]),
        binaries=tuple((name, size) for name, size in data["binaries"]),
        types=tuple((name, count) for name, count in data["types"]),
        lines=data["lines"],
        files_below=data["files_below"],
        symbols=tuple(map(keyword_row_from_dict, data["symbols"])),
        tests_below=tuple(data["tests_below"]),
        file_imports=tuple((a, b) for a, b in data.get("file_imports", ())),
        folder_imports=tuple((a, b) for a, b in data.get("folder_imports", ())),
    )


def note_rows_from_list(data: list[dict[str, Any]]) -> list[NoteRow]:
    """Rebuild the rows of a notes file from their :func:`to_dict` form."""
    return [NoteRow(**row) for row in data]


def note_order(row: NoteRow) -> tuple[str, str, int, str]:
    """The order of a notes file: by path, then kind, line and message."""
    return row.path, row.kind, row.line, row.message


def _tuples(item: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}
