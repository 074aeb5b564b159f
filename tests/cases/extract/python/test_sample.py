"""Tests in both styles, run by pytest or directly."""
import unittest
from unittest import TestCase

import pytest


class TestArithmetic(unittest.TestCase):
    def setUp(self):
        self.value = 2

    def test_add(self):
        self.assertEqual(self.value + 2, 4)

    def test_sub(self):
        self.assertEqual(self.value - 2, 0)

    def helper(self):
        return self.value


class StringChecks(TestCase):
    def test_upper(self):
        self.assertEqual("a".upper(), "A")


class DerivedChecks(StringChecks):
    def test_lower(self):
        self.assertEqual("A".lower(), "a")


class TestPlain:
    def test_truth(self):
        assert True

    class TestNested:
        def test_inner(self):
            assert 1


class TestWithInit:
    def __init__(self):
        self.x = 1

    def test_not_collected(self):
        assert self.x


def test_function():
    assert 1 + 1 == 2


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n


def helper_function():
    return "test_in_string"


if __name__ == '__main__':
    unittest.main()
