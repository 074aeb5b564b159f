"""Extractor dispatch: one pure function per language, text in, :class:`Extraction` out."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the dispatch table is read on every no-op build: keep it light
    from pipeline.records import Extraction, Note

Extractor = Callable[[str], "Extraction"]

# language -> (module, function). Modules load lazily so a process only imports the
# parsers it uses (a markdown-only layer never imports libcst).
_TABLE: dict[str, tuple[str, str]] = {
    "python": ("pipeline.extract.python", "extract_python"),
    "c": ("pipeline.extract.cfamily", "extract_c"),
    "cpp": ("pipeline.extract.cfamily", "extract_cpp"),
    "cuda": ("pipeline.extract.cfamily", "extract_cuda"),
    "markdown": ("pipeline.extract.docs.markdown", "extract_markdown"),
    "rst": ("pipeline.extract.docs.rst", "extract_rst"),
    "yaml": ("pipeline.extract.data", "extract_yaml"),
    "json": ("pipeline.extract.data", "extract_json"),
    "toml": ("pipeline.extract.data", "extract_toml"),
    "ini": ("pipeline.extract.data", "extract_ini"),
    "shell": ("pipeline.extract.build", "extract_shell"),
    "cmake": ("pipeline.extract.build", "extract_cmake"),
    "make": ("pipeline.extract.build", "extract_make"),
    "docker": ("pipeline.extract.build", "extract_docker"),
    "bazel": ("pipeline.extract.build", "extract_bazel"),
    "text": ("pipeline.extract.docs.text", "extract_text"),
}


def _entry(language: str) -> tuple[str, str]:
    """A language's extractor: its module and function (plain text's for unknown ones)."""
    return _TABLE.get(language, _TABLE["text"])


def extractor_module(language: str) -> str:
    """The module that holds a language's extractor (imported on its first use)."""
    return _entry(language)[0]


def extractor_for(language: str) -> Extractor:
    """The extraction function of a language (plain text for unknown ones)."""
    module_name, function_name = _entry(language)
    function: Extractor = getattr(importlib.import_module(module_name), function_name)
    return function


class GrammarMissing(Exception):
    """A tree-sitter grammar's package is not installed: the file is documented without
    structure (a ``parser-missing`` note, not an extractor bug)."""


def extract(text: str, language: str) -> Extraction:
    """Extract one text. Extractors turn bad input into notes; a bug in one becomes an
    ``internal-error`` note here, the one place for all of them, so no page is lost."""
    from dataclasses import replace

    from pipeline.extract.hidden import hidden_findings

    try:
        extraction = extractor_for(language)(text)
    except Exception as error:  # noqa: BLE001 - an extractor bug must not stop the build
        from pipeline.records import Extraction

        extraction = Extraction(language=language, notes=(failure_note(language, error),))
    hidden = hidden_findings(text)
    return replace(extraction, findings=extraction.findings + hidden) if hidden else extraction


def failure_note(language: str, error: Exception) -> Note:
    """The note for an extraction that raised: a missing grammar, or an extractor bug."""
    from pipeline.records import Note

    if isinstance(error, GrammarMissing):
        return Note("parser-missing", f"no {language} structure extracted: {error}")
    return Note("internal-error",
                f"the {language} extractor failed: {type(error).__name__}: {error}")
