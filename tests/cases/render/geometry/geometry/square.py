"""Squares."""
from __future__ import annotations

from dataclasses import dataclass

from .base import Shape, register


@register("square")
@dataclass(frozen=True)
class Square(Shape):
    """A square of a given side.

    >>> Square(3.0).area()
    9.0
    """

    side: float = 1.0

    def area(self) -> float:
        return self.side * self.side
