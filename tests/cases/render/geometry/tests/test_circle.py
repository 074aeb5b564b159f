"""Tests of geometry.circle."""
from __future__ import annotations

import math

import pytest
from geometry.circle import Circle, unit_circle


class TestCircle:
    def test_area(self) -> None:
        assert Circle(2.0).area() == pytest.approx(4 * math.pi)

    def test_scaled_rejects_zero(self) -> None:
        with pytest.raises(ValueError):
            Circle(1.0).scaled(0)


def test_unit_circle() -> None:
    assert unit_circle().radius == 1.0
