"""The list filters of the file templates (``render.symbol_lines``, ``import_lines``,
``keyword_lines``, ``link_lines``) against the template loops they replace, rendered by
jinja with the pages' own environment: the same rows, byte for byte, for any data."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import render
from pipeline.records import Symbol

# The loops as the templates held them (``symbol_row`` is still in macros.j2).
SYMBOLS = """{% import "macros.j2" as m %}
{% for item in items %}
{{ m.symbol_row(item.symbol, 0) }}
{% for depth, member in item.members %}
{{ m.symbol_row(member, depth + 1) }}
{% endfor %}
{% endfor %}
"""
IMPORTS = """{% for row in rows %}
- {% if row.link %}[{{ row.target | code }}]({{ row.link }}) ({{ row.module | code }}){% else %}{{ row.module | code }}{% endif %}{% if row.names %}: {{ row.names | map("code") | join(", ") }}{% endif %} ({{ row.lines }}{% if row.type_checking %}, only under `if TYPE_CHECKING:`{% endif %})
{% endfor %}
"""  # noqa: E501 - the template line as it was
KEYWORDS = """{% for name, place, link in entries %}
- **{{ name | code }}**: [{{ place }}]({{ link }})
{% endfor %}
"""
LINKS = """{% for name, link in rows %}
- [{{ name | code }}]({{ link }})
{% endfor %}
{% if more %}
- … and {{ more }} more: see [the folder index](./index.md)
{% endif %}
"""

TEXT = st.text(st.sampled_from("ab_.:`*[]<>#\\ \n\t-1é–"), max_size=12)
LINES = st.integers(min_value=0, max_value=40)


def _loop(source: str, **values: Any) -> str:
    template = render.environment().from_string(source)
    return template.render(**values)


@st.composite
def symbols(draw: st.DrawFn) -> Symbol:
    return Symbol(draw(st.sampled_from(["class", "function", "method", "constant"])),
                  draw(TEXT), draw(LINES), end_line=draw(LINES), signature=draw(TEXT),
                  decorators=tuple(draw(st.lists(TEXT, max_size=2))), value=draw(TEXT),
                  summary=draw(TEXT))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(symbols(), st.lists(st.tuples(st.integers(0, 3), symbols()),
                                               max_size=3)), max_size=4))
def test_symbol_lines_print_what_the_macro_printed(groups: list[Any]) -> None:
    items = [{"symbol": symbol, "members": members} for symbol, members in groups]
    expected = _loop(SYMBOLS, items=items).lstrip("\n")
    assert render.symbol_lines(items) + ("\n" if items else "") == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "target": TEXT, "link": TEXT, "module": TEXT, "names": st.lists(TEXT, max_size=3),
    "lines": TEXT, "type_checking": st.booleans()}), max_size=4))
def test_import_lines_print_what_the_loop_printed(rows: list[dict[str, Any]]) -> None:
    assert render.import_lines(rows) + ("\n" if rows else "") == _loop(IMPORTS, rows=rows)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), max_size=5))
def test_keyword_lines_print_what_the_loop_printed(entries: list[tuple[str, str, str]],
                                                   ) -> None:
    expected = _loop(KEYWORDS, entries=entries)
    assert render.keyword_lines(entries) + ("\n" if entries else "") == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=5), st.integers(min_value=0, max_value=3))
def test_link_lines_print_what_the_loop_printed(rows: list[tuple[str, str]],
                                                more: int) -> None:
    expected = _loop(LINKS, rows=rows, more=more)
    assert render.link_lines(rows, more) + ("\n" if rows or more else "") == expected


def test_the_templates_use_the_filters() -> None:
    """The built-in file templates print their long lists through the filters (the
    speed-up these tests guard would otherwise be gone unnoticed)."""
    env = render.environment()
    docs = env.loader.get_source(env, "file_docs.md.j2")[0]  # type: ignore[union-attr]
    kw = env.loader.get_source(env, "file_kw.md.j2")[0]  # type: ignore[union-attr]
    for name in ("symbol_lines", "import_lines", "link_lines"):
        assert f"| {name}" in docs, name
    assert "| keyword_lines" in kw


def test_a_users_macros_still_print_the_code_structure(tmp_path: Any) -> None:
    """A templates folder that overrides ``macros.j2`` (its ``symbol_row``) still decides how
    the Code Structure rows of a page look."""
    from pipeline.records import Context, Extraction, FileRecord
    from pipeline.site import PageSite

    env = render.environment()
    builtin = env.loader.get_source(env, "macros.j2")[0]  # type: ignore[union-attr]
    (tmp_path / "macros.j2").write_text(
        builtin.replace('{{ "  " * depth }}- ', '{{ "  " * depth }}- MINE '), encoding="utf-8")
    record = FileRecord("pkg/a.py", 1, 40, 5, "utf-8", Extraction(
        "python", symbols=(Symbol("class", "A", 1, end_line=5, signature="class A"),
                           Symbol("method", "A.area", 3, end_line=5,
                                  signature="def area(self)"))))
    pages = {}
    for name, folder in (("builtin", ""), ("own", str(tmp_path))):
        site = PageSite("/s", "/o", "out", "p", (), 1000, 10, 10, templates=folder,
                        templates_digest=name)
        pages[name] = render.render_file_pages(record, Context("pkg.a"), "class A: ...\n",
                                               site, "Python", "python", [],
                                               is_test=False)[0]
    assert "- `class A` (lines 1–5)\n  - `def area(self)` (lines 3–5)" in pages["builtin"]
    assert "- MINE `class A` (lines 1–5)\n  - MINE `def area(self)` (lines 3–5)" in pages["own"]
