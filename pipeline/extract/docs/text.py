"""Plain text: no structure beyond the first paragraph."""

from __future__ import annotations

from pipeline.prose import shorten
from pipeline.records import Extraction


def extract_text(text: str) -> Extraction:
    """The first paragraph of a text file as its overview."""
    return Extraction(language="text", overview=first_paragraph(text))


def first_paragraph(text: str, limit: int = 600) -> str:
    """The first run of non-blank lines, joined with single spaces and cut to ``limit``."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        lines.append(line)
    paragraph = " ".join(lines)
    return shorten(paragraph, limit)
