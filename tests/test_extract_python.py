"""The Python extractor: structure, imports, docstrings, tests, rules and failure notes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline.extract.python import extractor
from pipeline.extract.python.extractor import extract_python
from pipeline.records import Extraction, Finding, Symbol, to_dict

CASES = Path(__file__).parent / "cases" / "extract" / "python"


def run(source: str) -> Extraction:
    return extract_python(textwrap.dedent(source))


def symbols(source: str) -> dict[str, Symbol]:
    return {symbol.name: symbol for symbol in run(source).symbols}


def labels(source: str, area: str | None = None) -> list[tuple[str, int]]:
    found = run(source).findings
    return [(f.label, f.line) for f in found if area is None or f.area == area]


def slow_path(monkeypatch: pytest.MonkeyPatch, source: str) -> Extraction:
    """Extract as if ``ast`` could not parse the text (libcst metadata positions)."""
    monkeypatch.setattr(extractor, "_parse_ast", lambda text: (None, None, 0))
    return extract_python(source)


# -- structure ---------------------------------------------------------------------------------


def test_worked_example() -> None:
    result = extract_python((CASES / "circle.py").read_text())
    found = {s.name: s for s in result.symbols}
    assert result.overview == (
        "Circles and their measurements.\n\nUsed by the renderer to size round markers."
    )
    circle = found["Circle"]
    assert (circle.kind, circle.line, circle.end_line) == ("class", 20, 40)
    assert circle.signature == "class Circle(Shape)"
    assert circle.decorators == ('register("circle")', "dataclass(frozen=True)")
    assert circle.bases == ("Shape",)
    assert circle.summary == "A circle of a given radius."
    assert found["Circle.scaled"].signature == "def scaled(self, factor: float = 2.0) -> Circle"
    checked = found["Circle.scaled.checked"]
    assert (checked.kind, checked.line) == ("method", 35)
    assert found["Circle.radius"].kind == "attribute"
    assert (found["UNIT"].kind, found["UNIT"].value) == ("constant", "1.0")
    assert [(i.module, i.line, i.end_line, i.names, i.level) for i in result.imports][-2:] == [
        (".base", 10, 13, ("Shape",), 1), (".base", 10, 13, ("register",), 1)
    ]
    assert [(e.owner, e.line, e.text) for e in result.examples] == [
        ("Circle", 25, ">>> Circle(2.0).area()\n12.566370614359172")
    ]


def test_signatures_keep_every_parameter_form() -> None:
    found = symbols('''
        async def fetch(url: str, *, timeout: float = 1.0) -> bytes: ...
        def split(a, b=2, /, c=3, *args, d, e="#x", **kw) -> None: ...
        def long(
            self,  # the instance
            value: int = (1 + 2),
            sep: str = ")",
        ) -> (int | None):
            pass
        def empty(): pass
    ''')
    assert found["fetch"].signature == "async def fetch(url: str, *, timeout: float = 1.0) -> bytes"
    assert found["split"].signature == 'def split(a, b=2, /, c=3, *args, d, e="#x", **kw) -> None'
    assert found["long"].signature == (
        'def long(self, value: int = (1 + 2), sep: str = ")") -> (int | None)'
    )
    assert (found["long"].line, found["long"].end_line) == (4, 9)
    assert found["empty"].signature == "def empty()"


def test_class_signature_bases_and_keywords_as_written() -> None:
    found = symbols('''
        from abc import ABCMeta
        class M(Base, metaclass=ABCMeta): pass
        class Empty(): pass
        class Bare: pass
    ''')
    assert found["M"].signature == "class M(Base, metaclass=ABCMeta)"
    assert found["M"].bases == ("Base",)
    assert found["Empty"].signature == "class Empty()"
    assert found["Bare"].signature == "class Bare"


def test_kinds_and_qualified_names() -> None:
    found = symbols('''
        import sys
        if sys.version_info >= (3, 8):
            def guarded(): pass
        try:
            def tried(): pass
        except ImportError:
            pass
        def outer():
            def inner():
                class Local:
                    def method(self): pass
        class A:
            class B:
                def deep(self): pass
            @property
            def value(self): return 1
            @value.setter
            def value(self, v): pass
    ''')
    assert found["guarded"].kind == found["tried"].kind == "function"
    assert found["outer.inner"].kind == "function"
    assert found["outer.inner.Local"].kind == "class"
    assert found["outer.inner.Local.method"].kind == "method"
    assert found["A.B.deep"].kind == "method"
    values = [s for s in run('''
        class A:
            @property
            def value(self): return 1
            @value.setter
            def value(self, v): pass
    ''').symbols if s.name == "A.value"]
    assert [(s.line, s.decorators) for s in values] == [(4, ("property",)), (6, ("value.setter",))]


def test_constants_attributes_and_cuts() -> None:
    long_value = ", ".join(str(n) for n in range(100))
    found = symbols(f'''
        MAX: int = 3
        A = B = 1
        lower = 2
        TABLE = [{long_value}]
        NAME = "héllo wörld"  # trailing comment
        class C:
            radius: float = 1.0
            x, y = 1, 2
            def f(self):
                LOCAL = 1
    ''')
    assert (found["MAX"].signature, found["MAX"].value) == ("MAX: int = 3", "3")
    assert "A" in found and "B" in found and "LOCAL" not in found
    assert (found["lower"].kind, found["MAX"].kind) == ("variable", "constant")
    table = found["TABLE"]
    assert len(table.signature) <= 120 and table.signature.endswith("…")
    assert len(table.value) <= 120 and table.value.startswith("[0, 1, 2")
    assert found["NAME"].value == '"héllo wörld"'
    assert found["C.radius"].signature == "radius: float = 1.0"
    assert found["C.x"].kind == found["C.y"].kind == "attribute"


def test_every_module_level_binding_once_with_its_line() -> None:
    found = symbols('''
        import logging
        __all__ = ["log"]
        log = logging.getLogger(__name__)
        ops: _Ops = _Ops()
        SM80OrLater = True
        a, (b, *c) = 1, (2, 3)
        for i in range(3):
            log = None
        with open("f") as fh:
            pass
        try:
            pass
        except OSError as err:
            pass
        counter += 1
        class K:
            attr = 1
            annotated: int
            def f(self):
                local = 1
    ''')
    lines = {name: (s.kind, s.line) for name, s in found.items()
             if s.kind in ("variable", "constant", "attribute")}
    assert lines == {
        "__all__": ("variable", 3), "log": ("variable", 4), "ops": ("variable", 5),
        "SM80OrLater": ("variable", 6), "a": ("variable", 7), "b": ("variable", 7),
        "c": ("variable", 7), "i": ("variable", 8), "fh": ("variable", 10),
        "err": ("variable", 14), "counter": ("variable", 16), "K.attr": ("attribute", 18),
        "K.annotated": ("attribute", 19),
    }
    assert found["__all__"].value == '["log"]'


def test_type_alias_is_a_module_level_name() -> None:
    assert symbols("type Vector = list[float]\n")["Vector"].value == "list[float]"


def test_exports() -> None:
    assert run('__all__ = ["a", "b"]\n__all__ += ("c",)\n__all__.append("d")\n').exports == (
        "a", "b", "c", "d"
    )
    assert run("__all__ = [name for name in dir()]\n").exports == ()


def test_imports_every_form() -> None:
    result = extract_python((CASES / "imports.py").read_text())
    rows = [(i.kind, i.module, i.line, i.end_line, i.names, i.level) for i in result.imports]
    assert ("import", "os.path", 11, 11, (), 0) in rows
    assert ("from", ".", 12, 12, ("sibling",), 1) in rows
    assert ("from", "..package.module", 14, 17, ("first",), 2) in rows  # one record per name
    assert ("from", "..package.module", 14, 17, ("second",), 2) in rows
    assert ("from", ".base", 18, 18, ("*",), 1) in rows
    assert ("from", "collections.abc", 22, 22, ("Sequence",), 0) in rows  # under TYPE_CHECKING
    assert ("import", "importlib", 37, 37, (), 0) in rows  # inside a function
    assert [i.module for i in result.imports if i.type_checking] == ["collections.abc"]
    modules = {i.module for i in result.imports}
    assert not modules & {"not_a_module", "fake", "doctest_only", "hidden_in_string"}


# -- docstrings --------------------------------------------------------------------------------


def test_overview_keeps_paragraphs_apart() -> None:
    text = '"""First line.\n\n    Indented second\n    paragraph.\n\n\n    Third.\n    """\n'
    assert extract_python(text).overview == "First line.\n\nIndented second\nparagraph.\n\nThird."


def test_examples_doctest_and_literal_blocks() -> None:
    result = run('''
        def f():
            """Do things.

            >>> f()
            1
            >>> (f() +
            ...     1)
            2

            Examples::

                x = f()
                print(x)

            Done.
            """
    ''')
    assert [(e.owner, e.line, e.text) for e in result.examples] == [
        ("f", 5, ">>> f()\n1\n>>> (f() +\n...     1)\n2"),
        ("f", 13, "x = f()\nprint(x)"),
    ]


def test_examples_google_and_numpy_sections() -> None:
    result = run('''
        def g():
            """Google style.

            Args:
                x: a value.

            Example:
                y = g()
                g(y)

            Examples:
                >>> g()
                3

            Returns:
                Nothing.
            """

        def h():
            """NumPy style.

            Parameters
            ----------
            x : int

            Examples
            --------
            Call it:

            >>> h()
            4

            Notes
            -----
            An Example of nothing.
            """
    ''')
    assert [(e.owner, e.line, e.text) for e in result.examples] == [
        ("g", 9, "y = g()\ng(y)"),
        ("g", 13, ">>> g()\n3"),
        ("h", 29, "Call it:\n\n>>> h()\n4"),
    ]


# -- tests and main ----------------------------------------------------------------------------


def test_test_ids() -> None:
    result = extract_python((CASES / "test_sample.py").read_text())
    assert result.tests == (
        "TestArithmetic::test_add",
        "TestArithmetic::test_sub",
        "StringChecks::test_upper",
        "DerivedChecks::test_lower",
        "TestPlain::test_truth",
        "TestPlain::TestNested::test_inner",
        "test_function",
        "test_param",
    )
    assert result.has_main


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("if __name__ == '__main__':\n    pass\n", True),
        ('if "__main__" == __name__:\n    pass\n', True),
        ('if __name__ == "__main__" and x:\n    pass\n', False),
        ('def f():\n    if __name__ == "__main__":\n        pass\n', False),
        ('x = "if __name__ == \'__main__\':"\n', False),
    ],
)
def test_main_block(source: str, expected: bool) -> None:
    assert run(source).has_main is expected


# -- findings ----------------------------------------------------------------------------------


def test_security_rules_and_decoys() -> None:
    result = extract_python((CASES / "security.py").read_text())
    found = [(f.label, f.line) for f in result.findings]
    assert found == [
        ("Code execution", 17), ("Code execution", 18), ("Code execution", 19),
        ("Pickle deserialisation", 20), ("Pickle deserialisation", 22),
        ("torch.load without weights_only", 23), ("torch.load without weights_only", 24),
        ("Marshal", 25), ("Shell command", 26), ("Shell command", 27), ("Shell command", 28),
        ("Shell command", 29), ("YAML load", 30), ("YAML load", 31), ("YAML load", 32),
        ("Insecure temp file", 33), ("TLS verification disabled", 34),
        ("TLS verification disabled", 35), ("TLS verification disabled", 37),
    ]
    assert all(f.area == "security" for f in result.findings)
    assert "`pickle.loads`" in result.findings[3].detail  # the alias ``pk`` is resolved


def test_builtins_only_when_not_shadowed() -> None:
    assert labels((CASES / "shadowed.py").read_text()) == []
    assert labels("model.eval()\nx = 'eval(y)'\n# exec(z)\n") == []
    assert labels("def f(eval):\n    return eval(1)\n") == []


def test_patterns() -> None:
    found = labels((CASES / "patterns.py").read_text(), "pattern")
    for expected in [
        ("Dataclass", 40), ("Dataclass", 46), ("Abstract base class", 51), ("Constructor", 54),
        ("Abstract base class", 57), ("Property", 61), ("Property", 65), ("Property", 69),
        ("Abstract base class", 74), ("Context manager", 78), ("Exception handling", 86),
        ("Context manager", 90), ("Generator", 91), ("Exception handling", 93),
        ("Context manager", 99), ("Generator", 104), ("Async code", 109), ("Async code", 110),
        ("Async code", 111), ("Async code", 112), ("Decorator factory", 116),
        ("Decorator factory", 117), ("nn.Module subclass", 132), ("nn.Module subclass", 137),
        ("nn.Module subclass", 141), ("autograd.Function subclass", 145),
    ]:
        assert expected in found, expected
    assert not any(label == "Type-annotated API" for label, _ in found)


def test_frozen_dataclass_detail() -> None:
    found = run("import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n")
    assert found.findings == (
        Finding("pattern", "Dataclass", 2,
                "`P` is a frozen dataclass (`@dataclasses.dataclass(frozen=True)`)."),
    )


def test_type_annotated_api() -> None:
    annotated = run('''
        def f(x: int) -> int: ...
        class A:
            def m(self, y: str) -> None: ...
            def _private(self, z): ...
        def _helper(q): ...
    ''')
    assert [(f.label, f.line) for f in annotated.findings] == [("Type-annotated API", 1)]
    assert "2 in all" in annotated.findings[0].detail
    assert labels("def f(x) -> int: ...\n") == []


def test_performance() -> None:
    found = labels((CASES / "patterns.py").read_text(), "performance")
    assert found == [
        ("Caching", 69), ("CUDA", 134), ("CUDA", 152), ("CUDA", 153), ("CUDA", 154),
        ("Threads", 155), ("Threads", 156), ("Processes", 158), ("Processes", 160),
        ("Compilation", 161), ("Compilation", 162), ("Benchmark", 163), ("Benchmark", 164),
        ("Caching", 168), ("Caching", 173), ("Caching", 178), ("Compilation", 183),
        ("Compilation", 188), ("Nested loops", 195),
    ]


def test_nested_loops_reset_at_function_boundaries() -> None:
    source = '''
        for a in x:
            for b in y:
                def f():
                    for c in z:
                        pass
    '''
    assert labels(source, "performance") == []


# -- failures ----------------------------------------------------------------------------------


def test_python2_file_is_recovered_by_line_scan() -> None:
    result = extract_python((CASES / "python2.py").read_text())
    assert [(n.kind, n.line) for n in result.notes] == [("syntax-error", 13), ("partial-parse", 0)]
    assert result.notes[0].message.startswith("parser error")
    assert [(s.kind, s.name, s.line) for s in result.symbols] == [
        ("function", "greet", 12), ("class", "Old", 16)
    ]
    assert [(i.module, i.line, i.end_line, i.names) for i in result.imports] == [
        ("os", 5, 5, ()), ("string", 6, 9, ("lower",)), ("string", 6, 9, ("upper",))
    ]
    assert result.overview.startswith("A Python 2 module.\n\n")


def test_valid_python_libcst_refuses_is_listed_from_ast() -> None:
    # ``(name): int`` is valid Python (CPython's own test_grammar.py has it); libcst refuses it
    result = run('''
        """Doc."""
        import os
        from . import sibling as alias
        (flag): bool = True
        __all__ = ["Shape"]

        @decorated
        class Shape(Base, metaclass=Meta):
            """A shape."""
            (side): int = 1

            async def grow(self, by: int = 1) -> None:
                global TOTAL
                TOTAL = by

        if __name__ == "__main__":
            print(flag)
    ''')
    assert [(n.kind, n.line) for n in result.notes] == [("partial-parse", 5)]
    assert "libcst refused valid Python" in result.notes[0].message
    assert [(s.kind, s.name, s.line, s.end_line) for s in result.symbols] == [
        ("variable", "flag", 5, 5), ("variable", "__all__", 6, 6), ("class", "Shape", 9, 15),
        ("attribute", "Shape.side", 11, 11), ("method", "Shape.grow", 13, 15),
        ("constant", "TOTAL", 15, 15)]
    by_name = {s.name: s for s in result.symbols}
    assert by_name["Shape"].signature == "class Shape(Base, metaclass=Meta)"
    assert by_name["Shape"].decorators == ("decorated",)
    assert by_name["Shape"].summary == "A shape."
    assert by_name["Shape.grow"].signature == "async def grow(self, by: int = 1) -> None"
    assert by_name["flag"].value == "True"
    assert [(i.kind, i.module, i.names, i.level) for i in result.imports] == [
        ("import", "os", (), 0), ("from", ".", ("sibling",), 1)]
    assert result.exports == ("Shape",)
    assert result.overview == "Doc."
    assert result.has_main


@pytest.mark.parametrize("text", [
    "x = " + "(" * 5000 + ")" * 5000 + "\n",
    "x = " + "-" * 20000 + "1\n",
    "x = " + "+".join(["1"] * 20000) + "\n",
    "print 'py2'\nx = " + "[" * 3000 + "]" * 3000 + "\n",
])
def test_deep_nesting_is_a_note_not_a_crash(text: str) -> None:
    result = extract_python(text)
    assert result.notes and result.notes[0].kind == "parse-error"


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n", "\ufeffx = 1\n", "a\x00b\n"])
def test_odd_inputs_never_raise(text: str) -> None:
    assert extract_python(text).language == "python"


def test_crlf_line_numbers() -> None:
    result = extract_python("import os\r\n\r\ndef f():\r\n    pass\r\n")
    assert [(s.name, s.line, s.end_line) for s in result.symbols] == [("f", 3, 4)]


# -- the two position paths ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["circle.py", "patterns.py", "security.py", "imports.py",
                                  "test_sample.py"])
def test_slow_path_agrees_with_fast_path(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    text = (CASES / name).read_text()
    fast = to_dict(extract_python(text))
    assert to_dict(slow_path(monkeypatch, text)) == fast


@pytest.mark.parametrize("name", ["circle.py", "patterns.py", "security.py", "imports.py",
                                  "test_sample.py"])
def test_misaligned_trees_agree_with_fast_path(monkeypatch: pytest.MonkeyPatch,
                                               name: str) -> None:
    """When ast and libcst disagree on statements, positions come from libcst metadata and
    the facts still from the ast tree: the same record."""
    text = (CASES / name).read_text()
    fast = to_dict(extract_python(text))

    def misaligned(*_: object) -> None:
        raise extractor.Misaligned("forced")

    monkeypatch.setattr(extractor, "AstPositions", misaligned)
    assert to_dict(extract_python(text)) == fast


def test_new_syntax_uses_the_slow_path() -> None:
    result = extract_python((CASES / "pep695.py").read_text())
    found = {s.name: s for s in result.symbols}
    assert found["first"].signature == "def first[T](items: list[T]) -> T"
    assert (found["Box"].line, found["Box"].end_line) == (17, 23)
    assert found["Box"].signature == "class Box[T](Base, metaclass=Meta)"
    assert [(f.label, f.line) for f in result.findings] == [("Shell command", 27),
                                                          ("Code execution", 28)]
    assert result.has_main and not result.notes


@pytest.mark.parametrize("source", [
    "() if 0 else(lambda:())\n\n\ndef after():\n    return 1\n",
    "while(ready):\n    pass\n\n\ndef after():\n    return 1\n",
])
def test_valid_code_that_libcst_validation_rejects(source: str) -> None:
    """libcst's node checks reject some valid code (TypeError for the conditional, upstream
    Instagram/LibCST#1061); extraction reads parser output without them."""
    result = extract_python(source)
    assert not result.notes
    assert [s.name for s in result.symbols] == ["after"]


def test_libcst_validation_is_restored_after_extraction() -> None:
    import libcst

    for source in ("def f():\n    pass\n", "def broken(:\n", "x = (\n"):
        extract_python(source)
        with pytest.raises(libcst.CSTValidationError):
            libcst.Name("not a name")


def test_overlapping_extractions_keep_their_settings_until_the_last_ends() -> None:
    """Under doit's thread runner two extractions overlap: the first to finish must not turn
    libcst's checks or the garbage collector back on under the other."""
    import gc

    import libcst

    assert gc.isenabled()
    first, second = extractor._extracting(), extractor._extracting()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    libcst.Name("not a name")  # still off: the second extraction runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    with pytest.raises(libcst.CSTValidationError):
        libcst.Name("not a name")
