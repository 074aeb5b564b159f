"""Python 3 import resolution: each imported name on its own, absolute imports by the
interpreter's rules, and the reverse edges that follow."""

from __future__ import annotations

from pathlib import Path

from buildkit import build, make_tree

from pipeline.extract.python import extract_python
from pipeline.link import build_links
from pipeline.pyimports import ModuleName, PythonModules, module_index
from pipeline.records import Summary

TREE = [
    "torch/__init__.py",
    "torch/types.py",
    "torch/nn/__init__.py",
    "torch/nn/functional.py",
    "torch/nn/init.py",
    "torch/nn/modules/__init__.py",
    "torch/nn/modules/linear.py",
    "torch/nn/modules/conv.py",
    "torch/nn/utils/__init__.py",
    "torch/_ns/inner/helper.py",  # a namespace folder inside a package (PEP 420)
    "torch/_data/fixers/mine/__init__.py",  # a package below folders with no Python file
    "torch/_data/fixers/mine/fix.py",
    "tools/run.py",
    "tools/types.py",
]


def _summary(path: str, source: str) -> Summary:
    ex = extract_python(source)
    return Summary(path=path, layer=1, language="python", type="Python Source Code", lines=1,
                   description="", is_test=False, has_main=False,
                   imports=tuple((i.kind, i.module, i.names, i.level) for i in ex.imports))


def _targets(importer: str, source: str) -> list[tuple[str, str]]:
    modules = PythonModules(TREE)
    return [modules.resolve(importer, i.kind, i.module, i.names, i.level)
            for i in extract_python(source).imports]


def test_each_name_of_a_from_import_resolves_on_its_own() -> None:
    assert _targets("torch/nn/modules/linear.py",
                    "from torch.nn import functional as F, init\n") == [
        ("repo", "torch/nn/functional.py"), ("repo", "torch/nn/init.py")]
    assert _targets("torch/nn/__init__.py", "from .modules import linear, conv, Module\n") == [
        ("repo", "torch/nn/modules/linear.py"), ("repo", "torch/nn/modules/conv.py"),
        ("repo", "torch/nn/modules/__init__.py")]
    assert _targets("torch/nn/__init__.py", "from . import utils\n") == [
        ("repo", "torch/nn/utils/__init__.py")]


def test_absolute_imports_follow_python_3() -> None:
    # inside a package: no implicit relative import, the standard library wins
    assert _targets("torch/nn/functional.py", "import types\nfrom types import ModuleType\n") == [
        ("stdlib", ""), ("stdlib", "")]
    assert _targets("torch/__init__.py", "from torch import types\n") == [
        ("repo", "torch/types.py")]
    # a script's own folder is sys.path[0]
    assert _targets("tools/run.py", "import types\n") == [("repo", "tools/types.py")]
    assert _targets("tools/run.py", "import torch.nn.functional\nimport numpy\n") == [
        ("repo", "torch/nn/functional.py"), ("third-party", "")]
    # a missing submodule falls back to the longest module that exists
    assert _targets("tools/run.py", "import torch.nn.missing\n") == [
        ("repo", "torch/nn/__init__.py")]


def test_namespace_folders_inside_a_package_are_part_of_it() -> None:
    assert module_index(TREE)["torch/_ns/inner/helper.py"].name == "torch._ns.inner.helper"
    assert _targets("tools/run.py", "from torch._ns.inner import helper\n") == [
        ("repo", "torch/_ns/inner/helper.py")]
    # folders that hold only folders are namespace packages too
    assert module_index(TREE)["torch/_data/fixers/mine/fix.py"] == ModuleName(
        "", "torch._data.fixers.mine.fix")
    assert _targets("torch/_data/fixers/mine/fix.py", "from torch.nn import init\n") == [
        ("repo", "torch/nn/init.py")]


def test_relative_imports_of_missing_modules_link_the_package_they_run() -> None:
    assert _targets("torch/nn/modules/linear.py", "from ..missing import x\n") == [
        ("repo", "torch/nn/__init__.py")]
    assert _targets("torch/nn/modules/linear.py", "from .... import x\n") == [("repo", "")]


def test_imports_under_type_checking_are_marked() -> None:
    found = extract_python(
        "from typing import TYPE_CHECKING\nimport typing\n"
        "if TYPE_CHECKING:\n    import a\nif typing.TYPE_CHECKING:\n    from b import c\n"
        "else:\n    import d\n"
    ).imports
    assert [(i.module, i.type_checking) for i in found] == [
        ("typing", False), ("typing", False), ("a", True), ("b", True), ("d", False)]


def test_reverse_edges_follow_each_name() -> None:
    summaries = [_summary(path, "") for path in TREE if path not in (
        "torch/nn/modules/linear.py", "torch/nn/modules/conv.py")]
    summaries += [
        _summary("torch/nn/modules/linear.py", "from torch.nn import functional as F, init\n"),
        _summary("torch/nn/modules/conv.py", "from .. import functional, init\n"),
    ]
    links = build_links(summaries, ["", "torch", "torch/nn", "torch/nn/modules",
                                    "torch/nn/utils", "torch/_ns", "torch/_ns/inner", "tools"],
                        [], "out")
    assert links.contexts["torch/nn/init.py"].imported_by == (
        "torch/nn/modules/conv.py", "torch/nn/modules/linear.py")
    assert links.contexts["torch/nn/functional.py"].imported_by == (
        "torch/nn/modules/conv.py", "torch/nn/modules/linear.py")


def test_pages_link_each_name_mark_type_checking_and_list_reexports(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {
        "pkg/__init__.py": "from .core import *\nfrom .extra import *\n",
        "pkg/core.py": "__all__ = ['run']\ndef run(): ...\ndef helper(): ...\n",
        "pkg/extra.py": "from .deep import *\nlimit = 3\n_private = 1\nclass Shape: ...\n",
        "pkg/deep.py": "def far(): ...\n",
        "pkg/types.py": "X = 1\n",
        "pkg/user.py": "import types\nfrom typing import TYPE_CHECKING\n"
                       "from . import core, Shape\nif TYPE_CHECKING:\n"
                       "    from .extra import limit\n",
    })
    build(tmp_path / "src", tmp_path / "out", "--depth", "1")
    user = (tmp_path / "out/pkg/user.py_docs.md").read_text()
    assert "- `types` (line 1)" in user  # the standard library, not pkg/types.py
    assert "[`pkg/core.py`](./core.py_docs.md) (`.`): `core` (line 3)" in user
    assert "[`pkg/__init__.py`](./__init__.py_docs.md) (`.`): `Shape` (line 3)" in user
    assert "(`.extra`): `limit` (line 5, only under `if TYPE_CHECKING:`)" in user
    init = (tmp_path / "out/pkg/__init__.py_docs.md").read_text()
    section = init.split("#### Re-exported names", 1)[1].split("####", 1)[0]
    assert [line for line in section.splitlines() if line.startswith("- ")] == [
        "- `far` from [`pkg/deep.py`](./deep.py_docs.md)",
        "- `limit` from [`pkg/extra.py`](./extra.py_docs.md)",
        "- `run` from [`pkg/core.py`](./core.py_docs.md)",
        "- `Shape` from [`pkg/extra.py`](./extra.py_docs.md)",
    ]
    extra = (tmp_path / "out/pkg/extra.py_docs.md").read_text()
    imported_by = extra.split("#### Imported by", 1)[1].split("##", 1)[0]
    assert "pkg/__init__.py" in imported_by and "pkg/user.py" in imported_by


def test_only_files_pytest_collects_are_test_files(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {
        "q/helpers.py": "def test_only_eval_fn(model, calib_data):\n    return model\n",
        "q/test_q.py": "def test_a():\n    pass\n",
    })
    build(tmp_path / "src", tmp_path / "out", "--depth", "1")
    helper = (tmp_path / "out/q/helpers.py_docs.md").read_text()
    assert "pytest q/helpers.py" not in helper and "This is a **test file**" not in helper
    assert "pytest q/test_q.py" in (tmp_path / "out/q/test_q.py_docs.md").read_text()
