"""Plain-text helpers shared by the extractors and the actions."""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` when something was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
