"""C/C++ includes resolve as a compiler's search path would find them."""

from __future__ import annotations

from pipeline.includes import IncludeSearch
from pipeline.link import build_links
from pipeline.records import ImportRef, Summary

TREE = [
    "torch/include/ATen/core/TensorBody.h",
    "torch/include/ATen/core/Tensor.h",
    "torch/include/ATen/core/Dict.h",
    "torch/include/ATen/CPUFunctions.h",
    "torch/include/c10/util/complex.h",
    "torch/include/c10/core/Device.h",
    "torch/include/pthreadpool.h",
    "torch/include/caffe2/utils/threadpool/pthreadpool.h",
    "torch/include/caffe2/utils/threadpool/pthreadpool-cpp.h",
    "torch/include/torch/csrc/profiler/data_flow.h",
    "src/local.h",
    "src/main.cpp",
]
INCLUDES = ["ATen/core/TensorBody.h", "c10/core/Device.h", "c10/util/complex.h", "complex.h",
            "pthreadpool.h", "local.h", "vector"]


def _search() -> IncludeSearch:
    return IncludeSearch(TREE, INCLUDES)


def test_include_roots_are_read_from_the_includes_of_the_tree() -> None:
    assert _search().roots == {"torch/include": 3, "": 0}


def test_angle_includes_search_the_roots_not_the_includer_folder() -> None:
    search = _search()
    importer = "torch/include/caffe2/utils/threadpool/pthreadpool-cpp.h"
    assert search.resolve(importer, "system-include", "pthreadpool.h") == (
        "repo", "torch/include/pthreadpool.h")
    # a quoted include looks in the includer's folder first
    assert search.resolve(importer, "include", "pthreadpool.h") == (
        "repo", "torch/include/caffe2/utils/threadpool/pthreadpool.h")
    assert search.resolve("src/main.cpp", "include", "local.h") == ("repo", "src/local.h")


def test_a_bare_system_header_is_not_a_namesake_deep_in_the_tree() -> None:
    search = _search()
    assert search.resolve("src/main.cpp", "system-include", "complex.h") == ("system", "")
    assert search.resolve("src/main.cpp", "system-include", "vector") == ("system", "")
    assert search.resolve("src/main.cpp", "include", "nowhere.h") == ("unresolved", "")
    assert search.resolve("src/main.cpp", "system-include", "c10/util/complex.h") == (
        "repo", "torch/include/c10/util/complex.h")


BODY: ImportRef = ("system-include", "ATen/core/TensorBody.h", (), 0)


def test_every_includer_is_listed_under_imported_by() -> None:
    includers = ["torch/include/ATen/CPUFunctions.h", "torch/include/ATen/core/Dict.h",
                 "torch/include/ATen/core/Tensor.h",
                 "torch/include/torch/csrc/profiler/data_flow.h"]
    summaries = [
        Summary(path=path, layer=1, language="cpp", type="C/C++ Header File", lines=3,
                description="", is_test=False, has_main=False,
                imports=(BODY,) if path in includers else ())
        for path in TREE
    ]
    links = build_links(summaries, sorted({p.rsplit("/", 1)[0] for p in TREE} | {""}), [], "out")
    assert links.contexts["torch/include/ATen/core/TensorBody.h"].imported_by == tuple(includers)
