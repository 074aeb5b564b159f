"""Folder facts -> the mermaid flowchart of who imports whom on a folder's ``doc.md`` (pure).

One chart draws the folder's own files and the imports among them, another its subfolders
(and its own files as one box) and the imports between them; a chart that would take more
than :data:`MAX_NODES` nodes is left out with a sentence saying so, so a large folder is
drawn by its subfolders. Every node links to its page (a file's
``_docs.md``, a subfolder's ``doc.md``) through a mermaid ``click`` line. Nodes are numbered
in path order, so the same facts give the same text.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pipeline import layout
from pipeline import mdtext as md
from pipeline.records import FolderFacts

MAX_NODES = 40

# Characters a mermaid label or a markdown fence could read as syntax, as mermaid's entity
# codes (``#quot;``); ``#`` itself first, so no code is escaped twice.
_ESCAPES = {"#": "#35;", '"': "#quot;", "`": "#96;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}


@dataclass(frozen=True, slots=True)
class ImportChart:
    """What doc.md shows under its folder structure: a sentence, and the chart (or "")."""

    intro: str
    mermaid: str = ""


def import_charts(facts: FolderFacts) -> tuple[ImportChart, ...]:
    """The charts of one folder: its files, when at most :data:`MAX_NODES` of them import
    one another, and its subfolders, when imports join them; none where nothing here
    imports anything here."""
    page = layout.folder_page(facts.folder, "doc.md")
    charts: list[ImportChart] = []
    files = _nodes(facts.file_imports)
    if files and len(files) <= MAX_NODES:
        labels = {path: posixpath.basename(path) for path in files}
        links = {path: layout.docs_link(page, path) for path in files}
        intro = (f"How {md.plural(len(files), 'file')} of this folder import one another "
                 f"({md.plural(len(facts.file_imports), 'import')}; each box links to its "
                 "page):")
        charts.append(ImportChart(intro, _flowchart(files, facts.file_imports, labels, links)))
    elif files:
        charts.append(ImportChart(f"{md.plural(len(files), 'file')} of this folder import one "
                                  f"another: more than {MAX_NODES}, too many to draw."))
    folders = _nodes(facts.folder_imports)
    if folders and len(folders) <= MAX_NODES:
        labels = {f: ("(files here)" if f == facts.folder else posixpath.basename(f) + "/")
                  for f in folders}
        links = {f: layout.relative(page, layout.folder_page(f, "index.md" if f == facts.folder
                                                              else "doc.md"))
                 for f in folders}
        intro = (f"How its subfolders import one another "
                 f"({md.plural(len(facts.folder_imports), 'pair')} of folders; each box "
                 "links to its folder's page):")
        charts.append(ImportChart(intro, _flowchart(folders, facts.folder_imports, labels,
                                                     links)))
    elif folders:
        charts.append(ImportChart(f"{md.plural(len(folders), 'subfolder')} import one "
                                  f"another: more than {MAX_NODES}, too many to draw."))
    return tuple(charts)


def _nodes(edges: tuple[tuple[str, str], ...]) -> list[str]:
    return sorted({end for edge in edges for end in edge})


def _flowchart(nodes: list[str], edges: tuple[tuple[str, str], ...], labels: dict[str, str],
               links: dict[str, str]) -> str:
    ids = {node: f"n{number}" for number, node in enumerate(nodes)}
    lines = ["flowchart LR"]
    lines += [f'    {ids[n]}["{_label(labels[n])}"]' for n in nodes]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in sorted(edges)]
    lines += [f'    click {ids[n]} href "{links[n]}"' for n in nodes]  # links are URL-encoded
    return "\n".join(lines)


def _label(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)
