"""The import charts of a folder's doc.md: which imports each folder draws, node labels
that cannot break the chart or its fence, links to the pages, and the size limit."""

from __future__ import annotations

from pipeline.charts import MAX_NODES, import_charts
from pipeline.link import chart_edges
from pipeline.records import FolderFacts


def test_each_import_is_drawn_by_the_folder_that_holds_both_ends() -> None:
    edges = [("a/x.py", "a/y.py"), ("a/b/c.py", "a/d/e.py"), ("a/x.py", "a/b/c.py"),
             ("a/b/c.py", "a/b/f/g.py"), ("top.py", "a/y.py"), ("a/b/c.py", "a/d/h.py")]
    files, folders = chart_edges(sorted(edges), {"", "a", "a/b", "a/d", "a/b/f"})
    assert dict(files) == {"a": [("a/x.py", "a/y.py")]}
    # two imports lie behind a/b -> a/d: the chart draws it once, and counts them
    assert folders == {"a": {("a", "a/b"): 1, ("a/b", "a/d"): 2}, "a/b": {("a/b", "a/b/f"): 1},
                       "": {("", "a"): 1}}


def test_file_chart_links_every_node_and_escapes_labels() -> None:
    facts = FolderFacts(folder="p", file_imports=(("p/a.py", 'p/q"`#<.py'), ("p/a.py", "p/b.py")))
    (chart,) = import_charts(facts)
    assert chart.mermaid.splitlines() == [
        "flowchart LR",
        '    n0["a.py"]',
        '    n1["b.py"]',
        '    n2["q#quot;#96;#35;#lt;.py"]',
        "    n0 --> n1",
        "    n0 --> n2",
        '    click n0 href "./a.py_docs.md"',
        '    click n1 href "./b.py_docs.md"',
        '    click n2 href "./q%22%60%23%3C.py_docs.md"',
    ]
    assert "2 files" not in chart.intro and "3 files" in chart.intro


def test_a_large_folder_is_drawn_by_its_subfolders() -> None:
    many = tuple((f"p/m{i:02}.py", f"p/m{i + 1:02}.py") for i in range(MAX_NODES))
    facts = FolderFacts(folder="p", file_imports=many,
                        folder_imports=(("p", "p/core"), ("p/nn", "p/core")))
    files, folders = import_charts(facts)
    assert files.mermaid == "" and f"more than {MAX_NODES}" in files.intro
    assert folders.mermaid.splitlines()[1:4] == ['    n0["(files here)"]', '    n1["core/"]',
                                                 '    n2["nn/"]']
    assert '    click n0 href "./index.md"' in folders.mermaid
    assert '    click n1 href "./core/doc.md"' in folders.mermaid
    assert import_charts(FolderFacts(folder="p")) == ()
