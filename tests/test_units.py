"""Unit tests of the pure helpers: paths, markdown safety, decoding, config, linking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeline import layout
from pipeline.config import make_config
from pipeline.errors import ConfigError
from pipeline.files import decode, write_if_changed
from pipeline.filetypes import file_type, suffix_of
from pipeline.link import Resolver, build_links, module_names
from pipeline.mdtext import code, fence, prose
from pipeline.records import Context, Definition, ImportRef, KeywordRow, Summary


def test_mirror_name_avoids_source_top_level() -> None:
    assert layout.mirror_name("output", frozenset({"src"})) == "output"
    assert layout.mirror_name("output", frozenset({"output"})) == "output_pages"
    assert layout.mirror_name(".pipeline", frozenset()) == ".pipeline_pages"


def test_layers_and_pages() -> None:
    assert layout.file_pages("a/b.py") == ("a/b.py_docs.md", "a/b.py_kw.md")
    assert layout.next_layer_input("a/b.py_docs.md", "out") == "out/a/b.py_docs.md"
    assert layout.layer_of("a/b.py", "out") == 1
    assert layout.layer_of("out/a/b.py_docs.md", "out") == 2
    assert layout.layer_of("out/out/x", "out") == 3
    assert layout.layer_of("outer/x", "out") == 1
    assert layout.parent_folders("a/b") == ["a/b", "a", ""]


def test_source_of_inputs_and_pages_of_every_layer() -> None:
    assert layout.source_of("D/N", "out") == "D/N"
    assert layout.source_of("out/D/N_docs.md", "out") == "D/N"
    assert layout.source_of("out/out/D/N_docs.md_kw.md", "out") == "D/N"
    assert layout.source_of("out/D/x_docs.md_kw.md", "out") == "D/x_docs.md"
    assert layout.source_of("D/N_kw.md", "out", page=True) == "D/N"
    assert layout.source_of("out/D/N_kw.md_docs.md", "out", page=True) == "D/N"


@pytest.mark.parametrize(("start", "target", "link"), [
    ("a/x.md", "a/y.md", "./y.md"),
    ("a/x.md", "b/y.md", "../b/y.md"),
    ("x.md", "index.md", "./index.md"),
    ("a/b/x.md", "index.md", "../../index.md"),
    ("x.md", "we ird/#1 %|`x`.md", "./we%20ird/%231%20%25%7C%60x%60.md"),
])
def test_relative_links_are_encoded(start: str, target: str, link: str) -> None:
    assert layout.relative(start, target) == link
    assert "//" not in layout.relative(start, target)


def test_code_span_survives_backticks() -> None:
    html = MarkdownIt().render(code("a``b`c"))
    assert "<code>a``b`c</code>" in html
    assert code("plain") == "`plain`"


def test_fence_cannot_be_closed_from_inside() -> None:
    text = "x\n````\ninner\n````\n```\n"
    block = fence(text, "markdown")
    tokens = [t for t in MarkdownIt().parse(block + "\n\nafter\n") if t.type == "fence"]
    assert len(tokens) == 1 and tokens[0].content == text


def test_prose_is_inert() -> None:
    text = "see [x](y.md) <b>\n# not a heading\n---\n```\n1. item"
    html = MarkdownIt().render(prose(text))
    assert "<a" not in html and "<h1" not in html and "<pre" not in html and "<b>" not in html
    assert "<hr" not in html and "<ol" not in html


def test_decode_variants() -> None:
    assert decode(b"\xef\xbb\xbfx\r\ny").text == "x\ny"
    assert decode(b"\xef\xbb\xbfx").encoding == "utf-8-sig"
    latin = decode("# -*- coding: latin-1 -*-\nname = 'é'\n".encode("latin-1"))
    assert latin.encoding == "iso8859-1" and "é" in latin.text and not latin.problem
    bad = decode(b"ok\n\xff\xfe bad\n")
    assert "\ufffd" in bad.text and "line 2" in bad.problem


def test_write_if_changed_keeps_mtime(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.md"
    assert write_if_changed(target, b"x\n")
    os.utime(target, ns=(1, 1))
    assert not write_if_changed(target, b"x\n")
    assert target.stat().st_mtime_ns == 1
    assert write_if_changed(target, b"y\n")
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_file_types() -> None:
    assert file_type("CMakeLists.txt").name == "CMake Build Script"
    assert file_type("Makefile").name == "Makefile"
    assert file_type("x.cuh").name == "CUDA Header File"
    assert file_type("LICENSE").name == "Text File"
    assert file_type("x.weird").name == "Text File (.weird)"
    assert suffix_of(".bazelrc") == "" and suffix_of("a.tar.gz") == ".gz"


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="colour"):
        make_config({"colour": "red"}, base=tmp_path)
    with pytest.raises(ConfigError, match="depth"):
        make_config({"depth": 0}, base=tmp_path)
    with pytest.raises(ConfigError, match="depth"):
        make_config({"depth": "x"}, base=tmp_path)
    with pytest.raises(ConfigError, match="source"):
        make_config({"source": "missing"}, base=tmp_path)
    config = make_config({"depth": "3", "exclude": "a,b"}, base=tmp_path)
    assert config.depth == 3 and config.exclude == ("a", "b")


def test_module_names_follow_packages() -> None:
    names = module_names(["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/m.py",
                          "src/lib/__init__.py", "src/lib/x.py", "tools/run.py"])
    assert names["pkg/sub/m.py"] == "pkg.sub.m"
    assert names["pkg/__init__.py"] == "pkg"
    assert names["src/lib/x.py"] == "lib.x"
    assert names["tools/run.py"] == "run"


def test_resolver() -> None:
    resolver = Resolver(["g/__init__.py", "g/base.py", "g/circle.py", "inc/c10/core/D.h",
                         "docs/a.md", "docs/b.md"], "out", 1)
    assert resolver.python("g/circle.py", ["from", ".base", ["Shape"], 1]) == ("repo", "g/base.py")
    assert resolver.python("g/circle.py", ["from", ".", ["base"], 1]) == ("repo", "g/base.py")
    assert resolver.python("x.py", ["import", "g.circle", [], 0]) == ("repo", "g/circle.py")
    assert resolver.python("x.py", ["from", "g", ["circle"], 0]) == ("repo", "g/circle.py")
    assert resolver.python("x.py", ["import", "os.path", [], 0]) == ("stdlib", "")
    assert resolver.python("x.py", ["import", "numpy", [], 0]) == ("third-party", "")
    assert resolver.include("a/b.cpp", ["include", "c10/core/D.h"]) == ("repo", "inc/c10/core/D.h")
    assert resolver.include("a/b.cpp", ["system-include", "vector"]) == ("system", "")
    assert resolver.links_of("docs/a.md", [["link", "b.md#x"], ["link", "https://x.org"],
                                            ["other", "x"]]) == [
        ("repo", "docs/b.md"), ("external", ""), ("other", "")]


def _summary(path: str, imports: tuple[ImportRef, ...] = (),
             defines: tuple[Definition, ...] = ()) -> Summary:
    return Summary(path=path, layer=1, language="python", type="Python Source Code", lines=3,
                   description="", is_test=path.startswith("tests/"), has_main=False,
                   imports=imports, defines=defines)


def test_build_links_imported_by_and_tests() -> None:
    summaries = [
        _summary("g/__init__.py"),
        _summary("g/circle.py", defines=(Definition("Circle", "class"),)),
        _summary("tests/test_circle.py", imports=(("from", "g.circle", ("Circle",), 0),)),
    ]
    links = build_links(summaries, ["", "g", "tests"], [], "out")
    ctx = links.contexts["g/circle.py"]
    assert ctx == Context(module="g.circle", imported_by=("tests/test_circle.py",),
                          tested_by=("tests/test_circle.py",))
    assert links.folders[""].files_below == 3
    assert KeywordRow("Circle", "class", "g/circle.py") in links.folders[""].symbols
    assert links.keywords == [KeywordRow("Circle", "class", "g/circle.py")]
