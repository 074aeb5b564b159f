"""Golden cases of the stages after extraction, one folder per stage.

- ``tests/cases/link/NAME.json`` (a layer's summaries, folders, binaries and mirror) ->
  ``NAME.links.json`` (every context, the folder facts and the symbol index);
- ``tests/cases/render/NAME.json`` (a record, its context, the source text, its siblings and
  the site) -> ``NAME_docs.md`` and ``NAME_kw.md``; or (folder facts, the task's extras, the
  layer and the site) -> ``NAME_index.md``, ``NAME_doc.md`` and ``NAME_sub.md``.

The inputs are records as the stage before writes them (taken once from a build of the
geometry fixture, then edited by hand). ``REGEN_GOLDEN=1 pytest tests/test_stage_golden.py``
rewrites the expectations; review them as a diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from buildkit import one_page_problems
from golden import CASES, assert_golden

from pipeline import layout
from pipeline.config import DEFAULT_ROLES
from pipeline.files import dump_json
from pipeline.link import Links, build_links
from pipeline.records import (
    FileRecord,
    context_from_dict,
    extraction_from_dict,
    folder_facts_from_dict,
    keyword_row_from_dict,
    summary_from_dict,
)
from pipeline.render import render_file_pages
from pipeline.render_folders import render_folder_pages
from pipeline.site import PageSite

LINK = CASES / "link"
LINK_CASES = sorted(p for p in LINK.glob("*.json") if not p.name.endswith(".links.json"))
RENDER = CASES / "render"
RENDER_CASES = sorted(RENDER.glob("*.json"))


def _link(data: dict[str, Any], reverse: bool = False) -> Links:
    summaries = [summary_from_dict(s) for s in data["summaries"]]
    folders = list(data["folders"])
    binaries = [(path, size) for path, size in data["binaries"]]
    if reverse:  # any input order gives the same facts
        summaries, folders, binaries = summaries[::-1], folders[::-1], binaries[::-1]
    return build_links(summaries, folders, binaries, data["mirror"])


@pytest.mark.parametrize("case", LINK_CASES, ids=[p.stem for p in LINK_CASES])
def test_link_case(case: Path) -> None:
    data = orjson.loads(case.read_bytes())
    links = _link(data)
    assert _link(data, reverse=True) == links
    assert sorted(links.contexts) == sorted(s["path"] for s in data["summaries"])
    assert sorted(links.folders) == sorted(data["folders"])
    stored = orjson.loads(dump_json(links))
    assert {p: context_from_dict(c) for p, c in stored["contexts"].items()} == links.contexts
    assert {f: folder_facts_from_dict(v) for f, v in stored["folders"].items()} == links.folders
    assert [keyword_row_from_dict(r) for r in stored["keywords"]] == links.keywords
    assert_golden(case.with_name(case.stem + ".links.json"), dump_json(links))


def _render(data: dict[str, Any]) -> tuple[str, str]:
    fields = data["record"]
    record = FileRecord(**{**fields, "extraction": extraction_from_dict(fields["extraction"])})
    site = PageSite(roles=tuple(sorted(DEFAULT_ROLES.items())), **data["site"])
    return render_file_pages(record, context_from_dict(data["context"]), data["text"], site,
                             data["type"], data["fence"], list(data["siblings"]),
                             is_test=data["test"])


def _render_folder(data: dict[str, Any]) -> dict[str, str]:
    site = PageSite(roles=tuple(sorted(DEFAULT_ROLES.items())), **data["site"])
    return render_folder_pages(folder_facts_from_dict(data["folder"]), site, data["layer"],
                               data["extras"])


def _expected_pages(case: Path) -> dict[str, str]:
    """Page path -> the name of its expectation beside the case."""
    data = orjson.loads(case.read_bytes())
    if "folder" in data:
        folder = data["folder"]["folder"]
        return {layout.folder_page(folder, name): f"{case.stem}_{name}"
                for name in layout.FOLDER_PAGES}
    path = data["record"]["path"]
    return {layout.docs_page(path): f"{case.stem}_docs.md",
            layout.kw_page(path): f"{case.stem}_kw.md"}


@pytest.mark.parametrize("case", RENDER_CASES, ids=[p.stem for p in RENDER_CASES])
def test_render_case(case: Path) -> None:
    data = orjson.loads(case.read_bytes())
    if "folder" in data:
        pages = _render_folder(data)
        assert _render_folder(data) == pages
    else:
        docs, kw = _render(data)
        assert _render(data) == (docs, kw)
        path = data["record"]["path"]
        pages = {layout.docs_page(path): docs, layout.kw_page(path): kw}
    expected = _expected_pages(case)
    assert sorted(pages) == sorted(expected)
    for rel, text in pages.items():
        assert one_page_problems(rel, text.encode("utf-8"), data["site"]["project"]) == []
        assert_golden(case.with_name(expected[rel]), text.encode("utf-8"))


def test_every_case_has_its_expectations() -> None:
    """A case without expectations (or an expectation without its case) is a mistake."""
    expected = {p.name for p in LINK.glob("*.links.json")}
    assert expected == {p.stem + ".links.json" for p in LINK_CASES}
    pages = {p.name for p in RENDER.glob("*.md")}
    assert pages == {name for p in RENDER_CASES for name in _expected_pages(p).values()}
