"""Dockerfiles by their own line grammar: stages, base images, ARG and ENV variables.

The grammar is Docker's: an instruction is a logical line (a trailing escape character joins
the next line; comment lines inside a continuation are dropped), heredocs (``RUN <<EOF``) run
to their delimiter line, and the escape character may be set by a ``# escape=`` directive.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from pipeline.extract.keys import preview
from pipeline.records import Extraction, Import, Note, Symbol

INSTRUCTIONS = frozenset(
    "FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG "
    "ONBUILD STOPSIGNAL HEALTHCHECK SHELL".split()
)
_ESCAPE = re.compile(r"#\s*escape\s*=\s*(\S)", re.IGNORECASE)
_DIRECTIVE = re.compile(r"#\s*\w+\s*=")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One logical line: its keyword (upper case), arguments, and first and last lines."""

    keyword: str
    arguments: str
    line: int
    end_line: int


def extract(text: str) -> Extraction:
    symbols: list[Symbol] = []
    imports: list[Import] = []
    notes: list[Note] = []
    variables: dict[str, Symbol] = {}
    stages: set[str] = set()
    stage: Symbol | None = None
    for instruction in instructions(text):
        keyword = instruction.keyword
        if keyword == "FROM":
            if stage is not None:
                symbols.append(stage)
            stage = _from(instruction, stages, imports)
        elif keyword in ("ARG", "ENV"):
            for name, value in _variables(instruction):
                variables.setdefault(
                    name, Symbol("variable", name, instruction.line, value=preview(value))
                )
        elif keyword not in INSTRUCTIONS:
            notes.append(Note("parse-error", f"unknown instruction `{keyword}`", instruction.line))
        if stage is not None:
            stage = _extended(stage, instruction.end_line)
    if stage is not None:
        symbols.append(stage)
    return Extraction(
        language="docker",
        symbols=tuple(symbols + list(variables.values())),
        imports=tuple(imports),
        notes=tuple(notes),
    )


def instructions(text: str) -> Iterator[Instruction]:
    """The logical lines of a Dockerfile, comments and heredoc bodies left out."""
    lines = text.split("\n")
    escape = _escape_char(lines)
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start, parts = index, []
        while True:
            current = lines[index].rstrip()
            if not current.endswith(escape) or index + 1 >= len(lines):
                parts.append(current)
                break
            parts.append(current[:-1])
            index += 1
            while index + 1 < len(lines) and _skipped(lines[index]):
                index += 1  # comment and blank lines inside a continuation are dropped
        keyword, _, arguments = " ".join(p.strip() for p in parts).partition(" ")
        index = _after_heredocs(lines, index + 1, arguments)
        yield Instruction(keyword.upper(), arguments.strip(), start + 1, index)


def _skipped(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _escape_char(lines: list[str]) -> str:
    """``\\`` unless a parser directive at the very top says otherwise."""
    for raw in lines:
        match = _ESCAPE.match(raw.strip())
        if match is not None:
            return match.group(1)
        if not _DIRECTIVE.match(raw.strip()):
            break
    return "\\"


def _after_heredocs(lines: list[str], index: int, arguments: str) -> int:
    """Skip the bodies of the instruction's heredocs; return the next line to read."""
    for strip_tabs, _quote, word in _HEREDOC.findall(arguments):
        while index < len(lines):
            body = lines[index].lstrip("\t") if strip_tabs else lines[index]
            index += 1
            if body == word:
                break
    return index


def _from(instruction: Instruction, stages: set[str], imports: list[Import]) -> Symbol | None:
    """The base image (unless it names an earlier stage) and the stage it starts, if named."""
    words = [w for w in instruction.arguments.split() if not w.startswith("--")]
    if not words:
        return None
    image = words[0]
    if image.lower() not in stages:
        imports.append(Import("import", image, instruction.line))
    if len(words) >= 3 and words[1].upper() == "AS":
        name = words[2]
        stages.add(name.lower())
        signature = f"FROM {image} AS {name}"
        return Symbol("target", name, instruction.line, instruction.end_line, signature)
    return None


def _extended(stage: Symbol, end: int) -> Symbol:
    return Symbol(stage.kind, stage.name, stage.line, max(end, stage.end_line), stage.signature)


def _variables(instruction: Instruction) -> list[tuple[str, str]]:
    """``ARG A=1 B``, ``ENV A=1 B="x y"`` and the legacy ``ENV NAME value with spaces``."""
    arguments = instruction.arguments
    first = arguments.split(maxsplit=1)
    if not first:
        return []
    if instruction.keyword == "ENV" and "=" not in first[0]:
        return [(first[0], first[1] if len(first) > 1 else "")]
    try:
        words = shlex.split(arguments, comments=False, posix=True)
    except ValueError:
        words = arguments.split()
    found: list[tuple[str, str]] = []
    for word in words:
        name, _, value = word.partition("=")
        if name:
            found.append((name, value))
    return found
