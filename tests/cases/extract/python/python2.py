"""A Python 2 module.

It cannot be parsed by Python 3 parsers.
"""
import os
from string import (
    lower,
    upper,
)


def greet(name):
    print "hello", name


class Old:
    def method(self):
        exec "x = 1"

FAKE = """
import hidden
def not_a_function():
"""
