"""docs/format.md §6: every relative link of every page resolves (anchors included), checked by
parsing the pages with markdown-it-py; plus the link checker's own tests."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from buildkit import (
    BASE_TREE,
    broken_links,
    build,
    github_slugs,
    headings,
    hrefs,
    make_tree,
    page_paths,
    snapshot,
)

LINKED_TREE = dict(BASE_TREE, **{
    "docs/index.md": "# Docs index\n\n[guide](guide.md) and [part](guide.md#part) and "
                     "[top](../notes.txt) and [web](https://example.org/x) and "
                     "[self](#docs-index)\n",
    "docs/api/reference.md": "# Reference\n\n## Section One\n\n[back](../guide.md)\n"
                             "[missing](nowhere.md)\n",
    "pkg/rel.py": '"""Relative imports."""\nfrom . import a\nfrom .b import g\nfrom .. import x\n',
    "odd names/my file.txt": "spaces\n",
    "odd names/café ☕.md": "# Café\n\n[spaces](my%20file.txt)\n",
    "odd names/100%.txt": "percent\n",
    "odd names/hash#tag.md": "# Hash\n",
    "odd names/pipe|star*.txt": "pipe and star\n",
    "odd names/back`tick`.md": "# Backtick\n",
    "odd names/[brackets].yaml": "key: value\n",
    "odd names/under_score_.md": "# _Under_ score\n",
})


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("links")
    make_tree(root / "src", LINKED_TREE)
    build(root / "src", root / "out")
    return root / "src", root / "out"


def test_every_link_of_every_page_resolves(linked: tuple[Path, Path]) -> None:
    src, out = linked
    assert broken_links(out, src, check_anchors=False) == []


def test_every_anchor_names_a_heading_of_its_target(linked: tuple[Path, Path]) -> None:
    src, out = linked
    assert broken_links(out, src, check_anchors=True) == []


def test_odd_names_get_pages_and_links_to_them_resolve(linked: tuple[Path, Path]) -> None:
    src, out = linked
    pages = snapshot(out).keys()
    for rel in LINKED_TREE:
        assert {rel + "_docs.md", rel + "_kw.md"} <= pages, rel
    index = (out / "odd names/index.md").read_text(encoding="utf-8")
    targets = {h for h in hrefs(index) if h.endswith("_docs.md")}
    assert len(targets) == sum(1 for p in LINKED_TREE if p.startswith("odd names/"))


def test_keyword_page_links_to_source_docs_page_and_folder(linked: tuple[Path, Path]) -> None:
    """docs/format.md §4 File Information: links to the source file, to N_docs.md, and the
    folder."""
    src, out = linked
    problems = []
    for rel in page_paths(out):
        if not rel.endswith("_kw.md"):
            continue
        text = (out / rel).read_text(encoding="utf-8")
        section = text.split("## File Information", 1)[1].split("\n## ", 1)[0]
        links = hrefs(section)
        name = rel.rsplit("/", 1)[-1]
        docs = name[: -len("_kw.md")] + "_docs.md"
        if not any(unquote(h.split("#")[0]).endswith(docs) for h in links):
            problems.append(f"{rel}: no link to {docs}")
        if not any(h.split("#")[0].endswith("index.md") for h in links):
            problems.append(f"{rel}: the folder is not linked")
    assert problems == [], problems[:10]


def test_every_keyword_links_into_its_docs_page(linked: tuple[Path, Path]) -> None:
    """docs/format.md §4: every keyword links to its place in N_docs.md (an anchor)."""
    src, out = linked
    problems = []
    for rel in page_paths(out):
        if not rel.endswith("_kw.md"):
            continue
        text = (out / rel).read_text(encoding="utf-8")
        body = text.split("## Keywords Extracted", 1)[1].split("\n## ", 1)[0]
        docs = rel.rsplit("/", 1)[-1][: -len("_kw.md")] + "_docs.md"
        for line in body.split("\n"):
            if not line.startswith("- ") or "more" in line and "…" in line:
                continue
            links = hrefs(line)
            if not any(unquote(h.split("#")[0]).endswith(docs) and "#" in h for h in links):
                problems.append(f"{rel}: keyword without an anchor link: {line}")
    assert problems == [], problems[:10]


def test_cross_references_are_links_not_code_spans(linked: tuple[Path, Path]) -> None:
    src, out = linked
    for rel in page_paths(out):
        if not rel.endswith("_docs.md"):
            continue
        text = (out / rel).read_text(encoding="utf-8")
        section = text.rsplit("## Cross-References", 1)[1]
        targets = [h.split("/")[-1] for h in hrefs(section)]
        assert {"index.md", "doc.md", "sub.md"} <= set(targets), rel
        assert any(t.endswith("_kw.md") for t in targets), rel


def test_no_double_slash_or_absolute_links(linked: tuple[Path, Path]) -> None:
    src, out = linked
    for rel in page_paths(out):
        for href in hrefs((out / rel).read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", href):
                continue
            assert "//" not in href and not href.startswith("/"), (rel, href)


def test_links_between_layers_reach_the_documented_page(linked: tuple[Path, Path]) -> None:
    """A layer-2 keyword page's 'Original File' is the layer-1 page, inside O."""
    src, out = linked
    page = out / out.name / "docs/guide.md_docs.md_kw.md"
    first = hrefs(page.read_text(encoding="utf-8").split("## File Information", 1)[1])[0]
    assert (page.parent / first).resolve() == (out / "docs/guide.md_docs.md").resolve()


# --------------------------------------------------------------------------- the checker itself

def test_slugs_follow_github_rules() -> None:
    text = ("# Documentation: `a/b.py`\n## Keyword → Section Map\n## Related Files\n"
            "### Related Files\n## Code Patterns & Idioms\n```\n# not a heading\n```\n"
            "## Café au lait\n#### `__init__`\n")
    assert github_slugs(text) == {
        "documentation-abpy", "keyword--section-map", "related-files", "related-files-1",
        "code-patterns--idioms", "café-au-lait", "__init__"}
    assert [h.level for h in headings(text)] == [1, 2, 2, 3, 2, 2, 4]


def test_checker_reports_missing_targets_anchors_and_escapes(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, {"a b.py": "x = 1\n"})
    make_tree(out, {
        "p.md": "# P\n\n## Part Two\n\n[ok](./q%20r.md#q) [ok2](#part-two) [src](../src/a%20b.py)\n"
                "[bad](./missing.md) [bad-anchor](./q%20r.md#nope) [out](../elsewhere.txt)\n"
                "```\n[in a fence](./ignored.md)\n```\n[state](.pipeline/x.json)\n",
        "q r.md": "# Q\n",
        ".pipeline/x.json": "{}\n",
    })
    (tmp_path / "elsewhere.txt").write_text("x\n")
    problems = broken_links(out, src)
    assert len(problems) == 4, problems
    joined = "\n".join(problems)
    for needle in ("missing.md", "#nope", "elsewhere.txt", "state folder"):
        assert needle in joined


def test_section_map_covers_every_structure_keyword(tmp_path: Path) -> None:
    """docs/format.md §4: the Keyword → Section Map names every structure keyword of the page,
    variables included (shell, cmake, make, docker and bazel files define them)."""
    make_tree(tmp_path / "src", {"build.sh": 'PREFIX=/usr\nbuild() {\n  echo "$PREFIX"\n}\n'})
    build(tmp_path / "src", tmp_path / "out")
    page = (tmp_path / "out/build.sh_kw.md").read_text(encoding="utf-8")
    section_map = page.split("## Keyword → Section Map", 1)[1].split("\n## ", 1)[0]
    detailed = next(line for line in section_map.splitlines() if "**Detailed Analysis**" in line)
    assert "`PREFIX`" in detailed and "`build`" in detailed, detailed
