"""Build files (shell, CMake, Make, Dockerfile, Bazel): the targets, functions and variables.

Only what a parser can say reliably: shell, CMake and Make through their tree-sitter grammars
(``tree-sitter-bash``, ``tree-sitter-cmake``, ``tree-sitter-make``), Bazel's Starlark through
Python's ``ast`` (it is Python syntax), Dockerfiles through their own line grammar (logical
lines, continuations, heredocs). Comments and strings never yield a symbol or a finding.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.extract import failure_note
from pipeline.extract.build import bazel, cmake, docker, make, shell
from pipeline.extract.comments import leading_comment
from pipeline.records import Extraction

# A Dockerfile's parser directives stand where its comment block would.
_DOCKER_DIRECTIVE = r"#\s*(?:syntax|escape|check)\s*="


def extract_shell(text: str) -> Extraction:
    """Functions, top-level variables, and ``eval`` / remote-script security findings."""
    return _guarded("shell", text, shell.extract)


def extract_cmake(text: str) -> Extraction:
    """``function``/``macro`` definitions, library/executable/custom targets, variables."""
    return _guarded("cmake", text, cmake.extract)


def extract_make(text: str) -> Extraction:
    """Rule targets (pattern rules as written) and variables."""
    return _guarded("make", text, make.extract)


def extract_docker(text: str) -> Extraction:
    """Named build stages, ``ARG``/``ENV`` variables and base images."""
    return _guarded("docker", text, docker.extract, _DOCKER_DIRECTIVE)


def extract_bazel(text: str) -> Extraction:
    """``load`` statements, rule calls with a ``name``, ``def`` macros and variables."""
    return _guarded("bazel", text, bazel.extract)


def _guarded(
    language: str, text: str, run: Callable[[str], Extraction], skip: str = ""
) -> Extraction:
    """The extraction with the leading comment block as overview, which a missing grammar
    or an extractor bug does not lose (the dispatcher's catch would)."""
    overview = leading_comment(text, skip=skip)
    try:
        found = run(text)
    except Exception as error:  # noqa: BLE001 - keeps the overview; see failure_note
        note = failure_note(language, error)
        return Extraction(language=language, overview=overview, notes=(note,))
    return Extraction(
        language=language,
        overview=overview,
        symbols=tuple(sorted(found.symbols, key=lambda s: (s.line, s.name))),
        imports=found.imports,
        findings=found.findings,
        notes=found.notes,
    )
