"""Folder facts -> ``index.md``, ``doc.md``, ``sub.md``; global symbols -> ``keywords.md``."""

from __future__ import annotations

import posixpath
from typing import Any, NamedTuple

from pipeline import analyze, layout
from pipeline import mdtext as md
from pipeline.charts import import_charts
from pipeline.records import FileRow, FolderFacts, KeywordRow
from pipeline.render import render_template
from pipeline.site import PageSite


def _anchor(kind: str) -> str:
    """Symbols link to the Code Structure section of their page; a file to the page."""
    return "" if kind == "module" else "code-structure"


class Place(NamedTuple):
    """Where a symbol index (``sub.md``, ``keywords.md``) sends one of its rows. A tuple
    with named fields: the templates read ``p.kind``, and the indexes of the top folders
    hold hundreds of thousands of rows (a dict makes jinja try an attribute first)."""

    kind: str
    path: str
    link: str
    name: str = ""  # in the global index, which names the symbol on every row


def _links(page: str, rows: tuple[KeywordRow, ...] | list[KeywordRow]) -> list[str]:
    """The link from ``page`` to each row's symbol, made once per path and anchor: the
    indexes of the top folders hold hundreds of thousands of rows from a few thousand
    files."""
    made: dict[tuple[str, bool], str] = {}
    links: list[str] = []
    for row in rows:
        key = (row.path, row.kind == "module")
        link = made.get(key)
        if link is None:
            link = made[key] = layout.docs_link(page, row.path, _anchor(row.kind))
        links.append(link)
    return links


def _keywords(page: str, rows: tuple[KeywordRow, ...]) -> list[tuple[str, list[Place]]]:
    """Each symbol name with its places, sorted as the index lists them."""
    keywords: dict[str, list[Place]] = {}
    for row, link in zip(rows, _links(page, rows), strict=True):
        places = keywords.get(row.name)
        if places is None:
            places = keywords[row.name] = []
        places.append(Place(row.kind, row.path, link))
    return sorted(keywords.items(), key=lambda kv: (kv[0].casefold(), kv[0]))


KEY_FILE_NAMES = ("__init__.py", "__init__.pyi", "README.md", "README.rst", "README",
                  "README.txt", "CMakeLists.txt", "BUILD.bazel", "BUILD")


def render_folder_pages(facts: FolderFacts, site: PageSite, layer: int,
                        extras: dict[str, Any]) -> dict[str, str]:
    """The three pages of one folder, keyed by their path under ``O``."""
    view = folder_view(facts, site, layer, extras)
    return {
        view["index_path"]: render_template(site, "folder_index.md.j2", **view),
        view["doc_path"]: render_template(site, "folder_doc.md.j2", **view),
        view["sub_path"]: render_template(site, "folder_sub.md.j2", **view),
    }


def folder_view(facts: FolderFacts, site: PageSite, layer: int,
                extras: dict[str, Any]) -> dict[str, Any]:
    folder = facts.folder
    index = layout.folder_page(folder, "index.md")

    def link(target: str) -> str:
        return layout.relative(index, target)

    def docs_link(path: str, anchor: str = "") -> str:
        return layout.docs_link(index, path, anchor)

    files = [{
        "name": posixpath.basename(row.path),
        "description": row.description,
        "docs": docs_link(row.path),
        "kw": link(layout.kw_page(row.path)),
        "row": row,
    } for row in facts.files]
    roles = dict(site.roles)
    subfolders = [{
        "name": posixpath.basename(child),
        "link": link(layout.folder_page(child, "index.md")),
        "count": count,
        "role": analyze.layer_role(child + "/", layer, roles, site.project, site.mirror)[1],
    } for child, count in ((sub.path, sub.files) for sub in facts.subfolders)]
    for extra in extras.get("mirror_children", []):
        subfolders.append({"name": extra["name"], "link": link(extra["index"]),
                           "count": extra["count"], "role": extra["role"]})
    concepts = [{"name": top.name, "kind": top.kind, "path": row.path,
                 "link": docs_link(row.path, _anchor(top.kind))}
                for row in facts.files for top in row.top]
    keywords = _keywords(index, facts.symbols)
    key_files = _key_files(facts.files)
    tests = facts.tests_below
    python_tests = [t for t in tests if t.endswith(".py")]
    parent = layout.folder_of(folder) if folder else None
    role_prefix, role = analyze.layer_role(folder + "/", layer, roles, site.project,
                                           site.mirror)
    return {
        "project": site.project,
        "folder": folder,
        "title": f"{layout.display_folder(folder)}/",
        "layer": layer,
        "index_path": index,
        "doc_path": layout.folder_page(folder, "doc.md"),
        "sub_path": layout.folder_page(folder, "sub.md"),
        "files": files,
        "subfolders": subfolders,
        "binaries": facts.binaries,
        "types": facts.types,
        "lines": facts.lines,
        "files_below": facts.files_below,
        "concepts": concepts,
        "keywords": keywords,
        "keyword_files": len({symbol.path for symbol in facts.symbols}),
        "key_files": [{"name": posixpath.basename(r.path), "link": docs_link(r.path),
                       "why": why} for r, why in key_files],
        "tests": [{"path": t, "link": docs_link(t)} for t in tests],
        "test_command": (f"pytest {analyze.shell_quote(folder)}" if folder else "pytest")
        if python_tests else "",
        "role": role,
        "role_prefix": role_prefix,
        "parent_index": link(layout.folder_page(parent, "index.md")) if parent is not None else "",
        "parent_doc": link(layout.folder_page(parent, "doc.md")) if parent is not None else "",
        "keywords_page": link("keywords.md"),
        "root": extras.get("root"),
        "import_charts": import_charts(facts),
    }


def _key_files(rows: tuple[FileRow, ...]) -> list[tuple[FileRow, str]]:
    chosen: list[tuple[FileRow, str]] = []
    names = {posixpath.basename(r.path): r for r in rows}
    for name in KEY_FILE_NAMES:
        if name in names:
            chosen.append((names[name], "package or folder entry point"))
    rest = [r for r in rows if all(r is not c for c, _ in chosen)]
    imported = sorted((r for r in rest if r.imported_by),
                      key=lambda r: (-r.imported_by, r.path))[:5]
    for row in imported:
        chosen.append((row, f"imported by {md.plural(row.imported_by, 'file')}"))
    rest = [r for r in rest if all(r is not c for c, _ in chosen)]
    for row in sorted(rest, key=lambda r: (-r.lines, r.path))[:5]:
        chosen.append((row, f"{md.plural(row.lines, 'line')}"))
    return chosen


def render_keywords_page(rows: list[KeywordRow], site: PageSite, files: int) -> str:
    """The global A-Z symbol index (every symbol, no caps)."""
    letters: dict[str, list[Place]] = {}
    for row, link in zip(rows, _links("keywords.md", rows), strict=True):
        first = row.name[:1].upper()
        letter = first if first.isalpha() and first.isascii() else "Other"
        letters.setdefault(letter, []).append(Place(row.kind, row.path, link, row.name))
    order = sorted(k for k in letters if k != "Other") + (["Other"] if "Other" in letters else [])
    return render_template(site, "keywords.md.j2", project=site.project,
                           letters=[(k, letters[k]) for k in order], total=len(rows),
                           files=files)
