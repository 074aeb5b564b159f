"""Shapes, their registry and a text renderer."""
from __future__ import annotations

from .base import Shape, register, registry
from .circle import Circle, unit_circle
from .square import Square

__all__ = ["Circle", "Shape", "Square", "register", "registry", "unit_circle"]
