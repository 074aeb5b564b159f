"""The abstract shape and the registry of shape kinds."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=type)

registry: dict[str, type] = {}


def register(kind: str) -> Callable[[T], T]:
    """Class decorator: record a shape class under ``kind``."""

    def add(cls: T) -> T:
        registry[kind] = cls
        return cls

    return add


class Shape(ABC):
    """A plane figure with an area."""

    @abstractmethod
    def area(self) -> float:
        """The area in square units."""

    def describe(self) -> str:
        return f"{type(self).__name__} of area {self.area():.2f}"
