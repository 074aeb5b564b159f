"""Markdown and reStructuredText extraction: outline, fences, links, code-like words, notes."""

from __future__ import annotations

import bisect
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.extract.docs import markdown as markdown_module
from pipeline.extract.docs import words as words_module
from pipeline.extract.docs.markdown import extract_markdown
from pipeline.extract.docs.rst import extract_rst
from pipeline.extract.docs.words import code_like, code_words, span_words
from pipeline.records import Extraction

DOCS_CASES = Path(__file__).parent / "cases" / "extract" / "docs"

FENCE3 = "`" * 3
FENCE4 = "`" * 4


def outline(found: Extraction) -> list[tuple[str, str, int, int]]:
    return [(s.kind, s.name, s.line, s.end_line) for s in found.symbols]


def links(found: Extraction) -> list[tuple[str, int]]:
    return [(i.module, i.line) for i in found.imports]


# --- markdown: headings and fences -----------------------------------------------------------


def test_headings_atx_and_setext_with_levels_and_lines() -> None:
    text = "# Top *one*\n\ntext\n\nSecond\n------\n\n### Third `code`\n"
    found = extract_markdown(text)
    assert [(s.name, s.line, s.signature) for s in found.symbols] == [
        ("Top one", 1, "# Top one"),
        ("Second", 5, "## Second"),
        ("Third code", 8, "### Third code"),
    ]
    assert found.language == "markdown"


def test_front_matter_is_a_block_not_a_heading_and_keeps_line_numbers() -> None:
    text = "---\ntitle: x\n---\n\n# Real\n"
    assert outline(extract_markdown(text)) == [("heading", "Real", 5, 0)]
    # Without a closing line it is a thematic break, and the text after it is ordinary.
    assert outline(extract_markdown("---\n# After\n")) == [("heading", "After", 2, 0)]


def test_nested_fences_make_one_block_that_hides_its_content() -> None:
    text = (
        f"# Page\n\n{FENCE4}markdown\n# not a heading\n{FENCE3}python\n"
        f"[not a link](x.md)\n{FENCE3}\n{FENCE4}\n\n## After\n"
    )
    found = extract_markdown(text)
    assert outline(found) == [
        ("heading", "Page", 1, 0),
        ("codeblock", "markdown", 3, 8),
        ("heading", "After", 10, 0),
    ]
    assert found.imports == ()


def test_tilde_fence_untagged_fence_and_unclosed_fence() -> None:
    text = f"~~~\nplain\n~~~\n\n{FENCE3}\nrest\nof file\n"
    found = extract_markdown(text)
    assert outline(found) == [("codeblock", "text", 1, 3), ("codeblock", "text", 5, 7)]
    assert found.symbols[0].signature == "~~~"


def test_findings_never_come_from_markdown_even_around_embedded_code() -> None:
    text = f"# Page\n\n{FENCE3}python\nimport pickle\neval(x)\ntorch.cuda.synchronize()\n{FENCE3}\n"
    found = extract_markdown(text)
    assert found.findings == ()
    assert "torch.cuda.synchronize" in found.identifiers


# --- markdown: links --------------------------------------------------------------------------


def test_links_of_every_form_at_their_own_lines() -> None:
    text = (
        "Intro [a](a.md) and\n"
        "![img](pic.png) then <https://x.org> and\n"
        "a [ref][r] and a [shortcut].\n"
        "\n"
        "[r]: ./ref.md\n"
        "[shortcut]: <with space.md>\n"
        "\n"
        "| c |\n|---|\n| [t](table.md) |\n"
    )
    assert links(extract_markdown(text)) == [
        ("a.md", 1),
        ("pic.png", 2),
        ("https://x.org", 2),
        ("./ref.md", 3),
        ("with%20space.md", 3),
        ("table.md", 10),
    ]


def test_image_alt_text_gives_no_link_and_no_words() -> None:
    """Alt text is plain text to a reader: links and code spans in it are not extracted,
    and what follows the image is."""
    text = "![a [x](inner.md) `alt_word` b](pic.png) [after](after.md) `kept_word`\n"
    found = extract_markdown(text)
    assert links(found) == [("pic.png", 1), ("after.md", 1)]
    assert "kept_word" in found.identifiers and "alt_word" not in found.identifiers


def test_no_links_from_code_spans_code_blocks_or_html() -> None:
    text = (
        "`[a](span.md)`\n\n    [b](indented.md)\n\n"
        f"{FENCE3}\n[c](fenced.md)\n{FENCE3}\n\n<div>\n[d](html.md)\n</div>\n"
    )
    assert extract_markdown(text).imports == ()


def test_targets_are_normalised_by_the_parser() -> None:
    found = extract_markdown("[a](café%20x.md) [b](../up/Ü.md#frag)\n")
    assert [i.module for i in found.imports] == ["caf%C3%A9%20x.md", "../up/%C3%9C.md#frag"]


def test_compiled_parser_panics_fall_back_to_the_python_port() -> None:
    # markdown-it-rust panics on these (its issues #40 and #48); the page still gets its facts.
    found = extract_markdown("# Title\n\n[`\n\n- _foo\n  bar_\n\n[x](a b.md)\n")
    assert found.notes == ()
    assert [(s.name, s.line) for s in found.symbols] == [("Title", 1)]
    assert extract_markdown("[`") == extract_markdown("[`")


# --- markdown: code-like words ----------------------------------------------------------------


def test_code_like_shapes() -> None:
    for word in (
        "snake_case",
        "torch.nn.Module",
        "at::native::add",
        "utf8",
        "camelCase",
        "PascalCase",
        "IOError",
        "HTTPServer",
    ):
        assert code_like(word), word
    for word in ("value", "Module", "HTTP", "URLs"):
        assert not code_like(word), word


@settings(max_examples=2000, deadline=None)
@given(st.text(st.sampled_from("aZ_9.:é xµ\n-"), max_size=30))
def test_code_word_pattern_finds_what_the_rule_says(text: str) -> None:
    """The pattern in words.py, reordered for speed, finds what rule 1 written plainly
    finds: a name chain not glued to other word characters."""
    name = r"[A-Za-z_][A-Za-z0-9_]*"
    plain = re.compile(rf"(?<!\w){name}(?:(?:\.|::){name})*(?!\w)")
    assert words_module._CHAIN.findall(text) == plain.findall(text)


def test_code_words_rule_keywords_and_boundaries() -> None:
    assert code_words("x = foo_bar(self.radius) # Plain prose words") == {
        "foo_bar",
        "self.radius",
    }
    assert code_words("static_cast<int>(x); char16_t c; 0x1F; café_x") == set()
    assert span_words(" torch ") == {"torch"}
    assert span_words("readAll()") == {"readAll"}
    assert span_words("None") == set()
    assert span_words("x") == set()
    assert span_words("pip install fast_io") == {"fast_io"}


def test_identifiers_only_from_code_all_of_them_sorted() -> None:
    text = (
        "Prose snake_case and CamelCase do not count; `Circle` and `b_x` do.\n\n"
        f"{FENCE3}\nA_b = a_B + zeta_1\n{FENCE3}\n\n    indented_name = 1\n"
    )
    assert extract_markdown(text).identifiers == (
        "A_b",
        "a_B",
        "b_x",
        "Circle",
        "indented_name",
        "zeta_1",
    )


# --- markdown: overview and scale --------------------------------------------------------------


def test_overview_is_first_heading_and_first_paragraph_after_it() -> None:
    text = "Badge paragraph.\n\n# Title `x`\n\n- a list item\n\nFirst **real**\nparagraph.\n"
    assert extract_markdown(text).overview == "Title x\n\nFirst real paragraph."
    assert extract_markdown("Only a paragraph\nhere.\n").overview == "Only a paragraph here."


def test_two_megabyte_page_of_a_page_is_fast_and_exact() -> None:
    source = "".join(f"def f_{i}(x):\n    return x + {i}  # [l](x.md) `y`\n" for i in range(40000))
    fence = "`" * 8
    head = "# Documentation: `big.py`\n\n## Original Source\n\n"
    text = f"{head}{fence}python\n{source}{fence}\n\n[next](n.md)\n"
    assert len(text) > 2_000_000
    start = time.perf_counter()
    found = extract_markdown(text)
    elapsed = time.perf_counter() - start
    lines = text.count("\n")
    assert outline(found)[2] == ("codeblock", "python", 5, lines - 2)
    assert links(found) == [("n.md", lines)]
    assert len(found.identifiers) == 40000 + 2  # f_0 .. f_39999, big.py and x.md
    assert elapsed < 10, elapsed


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#`~-=[]()<>!*_:\n |abc\\.'\"")), max_size=300))
def test_markdown_never_raises(text: str) -> None:
    found = extract_markdown(text)
    assert found.notes == ()
    assert all(s.line >= 1 for s in found.symbols)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab\né–\r")), max_size=80),
       st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_lines_answer_offsets_in_any_order(text: str, offsets: list[int]) -> None:
    """Byte offset -> line, counted on from the previous offset or, behind it, from the
    start: the same as a search of every line start, in ASCII and in UTF-8 texts."""
    data = text.encode("utf-8")
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    lines = markdown_module._Lines(text)
    for offset in (o % (len(data) + 1) for o in offsets):
        assert lines.line(offset) == bisect.bisect_right(starts, offset)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#`-[]()!*_\n abé–x.")), max_size=200))
def test_compiled_and_python_parsers_agree_on_lines(text: str) -> None:
    """Two parsers, two ways to number lines (byte offsets and token maps): the same
    headings, blocks and links at the same lines. (Their inline text can differ where
    code spans stay unclosed: ``[` [``.)"""
    from pipeline.extract.docs.markdown_fallback import extract_markdown_py

    compiled, port = extract_markdown(text), extract_markdown_py(text)
    assert (port.symbols, port.imports) == (compiled.symbols, compiled.imports)


# --- reStructuredText ---------------------------------------------------------------------------

RST = """\
=======
 Title
=======

Intro with a `link <https://a.org>`_ and
the `named`_ one, and https://bare.org.

.. _named: https://named.org

Part
====

.. note::
   A note with `x <https://note.org>`_.

.. code-block:: python
   :linenos:

   `not <https://code.org>`_

.. automodule:: pkg.mod
   :members:

Sub
---

Call :py:func:`f` and *unclosed.
"""


def test_rst_sections_levels_and_directives_at_their_lines() -> None:
    found = extract_rst(RST)
    assert [(s.kind, s.name, s.line, s.signature) for s in found.symbols] == [
        ("heading", "Title", 2, "# Title"),
        ("heading", "Part", 10, "## Part"),
        ("directive", "note", 13, ".. note::"),
        ("directive", "code-block", 16, ".. code-block::"),
        ("directive", "automodule", 21, ".. automodule::"),
        ("heading", "Sub", 24, "### Sub"),
    ]


def test_rst_external_links_not_from_code_and_problems_as_notes() -> None:
    found = extract_rst(RST)
    assert links(found) == [
        ("https://a.org", 5),
        ("https://named.org", 6),
        ("https://bare.org", 6),
        ("https://note.org", 14),
    ]
    assert [(n.kind, n.line) for n in found.notes] == [("parse-error", 27)]
    assert "emphasis" in found.notes[0].message
    assert found.overview == ("Title\n\nIntro with a link and the named one, and https://bare.org.")


def test_rst_is_silent_and_reads_no_files(capfd: object) -> None:
    found = extract_rst(".. include:: /etc/passwd\n\nBad\n--\n\n.. raw:: html\n\n   <b>\n")
    assert [s.name for s in found.symbols if s.kind == "directive"] == ["include", "raw"]
    out, err = capfd.readouterr()  # type: ignore[attr-defined]
    assert (out, err) == ("", "")


def test_rst_sphinx_only_blocks_keep_their_titles() -> None:
    text = "Top\n===\n\n.. only:: html\n\n   .. contents::\n\n   Inner\n   -----\n"
    found = extract_rst(text)
    assert [(s.name, s.line) for s in found.symbols] == [
        ("Top", 1),
        ("only", 4),
        ("contents", 6),
        ("Inner", 8),
    ]
    assert found.notes == ()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("=-`_:.<> \n|*abc")), max_size=200))
def test_rst_never_raises(text: str) -> None:
    found = extract_rst(text)
    assert all(n.kind == "parse-error" for n in found.notes)


@pytest.mark.parametrize("name", ["readme.md", "circle.py_docs.md"])
def test_fallback_parser_gives_the_compiled_parsers_record(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Where markdown-it-pyrs panics, the pure-Python port reads the page: same record."""
    text = (DOCS_CASES / name).read_text(encoding="utf-8")
    compiled = extract_markdown(text)
    monkeypatch.setattr(markdown_module, "_parse_quietly", lambda _text: None)
    assert extract_markdown(text) == compiled


def test_a_long_run_of_reference_definitions_is_read_by_the_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled parser reads a run of reference definitions in time quadratic in its
    length (20,000: 9 s; 100,000: minutes); such a text goes to the pure-Python port, which
    gives the compiled parser's record."""
    count = 1000
    text = "".join(f"[r{i}]: /target/{i}\n" for i in range(count)) + "".join(
        f"## Part {i}\n\nSee [r{i}] and `call_{i}()`.\n\n" for i in range(0, count, 7))
    compiled = markdown_module._extract(markdown_module._parser().tree(text), text)
    assert len(compiled.imports) == len(range(0, count, 7))

    def refused(_text: str) -> None:
        raise AssertionError("the compiled parser was given the text")

    monkeypatch.setattr(markdown_module, "_parse_quietly", refused)
    assert extract_markdown(text) == compiled
    assert markdown_module.REFERENCES == count
    short = "".join(f"[r{i}]: /target/{i}\n" for i in range(count - 1)) + "[r1]\n"
    assert not markdown_module.many_references(short)
    blank_separated = "".join(f"[r{i}]: /t/{i}\n\n" for i in range(count))
    assert markdown_module.many_references(blank_separated)  # counted, whatever the runs
