"""Builtins shadowed by local definitions are not code execution."""
from re import compile


def eval(expression):
    return expression


def run(source):
    pattern = compile(r"\d+")
    return eval(source), pattern
