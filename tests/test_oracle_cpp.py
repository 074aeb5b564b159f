"""The C++ extractor against libclang on a few headers of the PyTorch wheel (bounded; skipped
where the wheel or libclang is missing). ``bench/oracle_cpp.py`` runs the whole comparison."""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from buildkit import bench_script

# what the headers compared include, besides the C++ standard library
PREFIXES = ("torch/include/c10/", "torch/include/torch/headeronly/")
HEADERS = ("c10/core/TensorImpl.h", "c10/core/Device.h", "c10/util/ArrayRef.h",
           "c10/core/SymInt.h")


def _oracle() -> ModuleType:
    return bench_script("oracle_cpp")


@pytest.fixture(scope="module")
def include_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("clang.cindex", reason="libclang is not installed")
    wheel = _oracle().find_wheel()
    if wheel is None:
        pytest.skip("no torch wheel on this machine")
    root = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.startswith(PREFIXES) and not info.is_dir():
                archive.extract(info, root)
    return root / "torch" / "include"


def test_recall_against_libclang_on_a_few_headers(include_root: Path) -> None:
    oracle = _oracle()
    tally = oracle.Tally()
    for relative in HEADERS:
        oracle.compare(include_root / relative, relative, [include_root], tally)
    assert tally.headers == len(HEADERS)
    if sum(tally.expected.values()) < 300:  # TensorImpl alone declares hundreds
        pytest.skip("libclang could not read the headers (no C++ standard library here?)")
    assert tally.recall() >= oracle.TARGET, tally.misses
    assert tally.expected["namespace"] == tally.found["namespace"]


def test_tensor_impl_members_are_qualified_like_libclang(include_root: Path) -> None:
    oracle = _oracle()
    path = include_root / "c10/core/TensorImpl.h"
    theirs = {(group, oracle.plain(name)) for group, name, _ in
              oracle.oracle_symbols(path, [include_root])}
    ours = oracle.our_symbols(path.read_text(encoding="utf-8"))
    if ("struct", "c10::TensorImpl") not in theirs:
        pytest.skip("libclang could not read the headers (no C++ standard library here?)")
    for expected in (("struct", "c10::TensorImpl"), ("function", "c10::TensorImpl::has_storage"),
                     ("namespace", "c10::detail")):
        assert expected in theirs
        assert expected in ours
