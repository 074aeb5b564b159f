"""Render shapes as lines of text."""
from __future__ import annotations

import sys
from functools import cache

from geometry.circle import Circle
from geometry.square import Square


@cache
def marker(kind: str) -> str:
    return {"circle": "o", "square": "#"}.get(kind, "?")


def render(shapes: list[Circle | Square]) -> str:
    """One line per shape: its marker and description."""
    lines = []
    for shape in shapes:
        kind = "circle" if isinstance(shape, Circle) else "square"
        lines.append(f"{marker(kind)} {shape.describe()}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render([Circle(1.0), Square(2.0)]) + "\n")
