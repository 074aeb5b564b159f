"""The leading comment block of a configuration or build file, as an overview."""

from __future__ import annotations

import re

# A line of decoration only (``#####``, ``# ------``, ``# ====``) separates, it says nothing.
_RULE = re.compile(r"[-=*#~_+/\\]*")


def leading_comment(text: str, markers: tuple[str, ...] = ("#",), skip: str = "") -> str:
    """The comment lines at the top of ``text`` (after a ``#!`` line), markers removed.

    ``skip`` is a regular expression for comment lines that are directives, not prose (a
    Dockerfile's ``# syntax=``); they may stand before the block and are left out of it.
    Blank comment lines become paragraph breaks; lines keep their breaks.
    """
    directive = re.compile(skip) if skip else None
    lines: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.strip()
        if number == 0 and line.startswith("#!"):
            continue
        if not line:
            if lines:
                break
            continue
        marker = next((m for m in markers if line.startswith(m)), None)
        if marker is None:
            break
        if directive is not None and not lines and directive.match(line):
            continue
        body = line.lstrip(marker[0]).removeprefix(" ").rstrip()
        lines.append("" if _RULE.fullmatch(body.strip()) else body)
    return _paragraphs(lines)


def _paragraphs(lines: list[str]) -> str:
    """Join lines, one blank line between paragraphs, none at either end."""
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")
