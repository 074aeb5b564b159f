"""Warning notes and ``--strict``: Python sources that decode but that Python refuses to
import, and sources cut at ``max_source_bytes``, get notes that only ``--strict`` fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from buildkit import make_tree, run_main

from pipeline.files import python_refusal

BOM = b"\xef\xbb\xbf"
BIG = "".join(f"VALUE_{i} = {i}  # a line of padding\n" for i in range(60))  # ~2.2 kB


@pytest.mark.parametrize(("data", "expected"), [
    (b"# -*- coding: uft-8 -*-\nx = 1\n", "declares the encoding 'uft-8', which Python does not"),
    (BOM + b"# coding: latin-1\nx = 1\n", "byte-order mark but declares the encoding 'latin-1'"),
    ("# coding: ascii\nx = 'é'\n".encode(), "declares the encoding 'ascii', but byte 21 (line 2)"),
])
def test_python_refusal_says_why(data: bytes, expected: str) -> None:
    assert expected in python_refusal(data)


@pytest.mark.parametrize("data", [
    b"x = 1\n", BOM + b"# coding: utf-8\nx = 1\n", b"#!/usr/bin/env python\n# coding: latin-1\n"
    b"x = '\xe9'\n", b"# vim: set fileencoding=utf8 :\n", b"\xff\xfe not utf-8 at all\n",
])
def test_python_refusal_is_empty_for_what_python_imports_or_decode_notes(data: bytes) -> None:
    assert python_refusal(data) == ""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "src", {
        "bad_coding.py": b"# -*- coding: uft-8 -*-\nx = 1\n",
        "bad_bom.py": BOM + b"# coding: latin-1\ny = 2\n",
        "big.py": BIG,
        "ok.py": "z = 3\n",
    })
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pipeline]\nsource = "src"\noutput = "out"\ndepth = 1\nmax_source_bytes = 1000\n',
        encoding="utf-8")
    return tmp_path


def _failed(stderr: str) -> list[str]:
    return sorted(line.split(":", 3)[1].strip() + ":" + line.split(":", 3)[2].strip()
                  for line in stderr.splitlines() if line.startswith("failed: "))


def test_warnings_are_on_the_pages_and_fail_only_a_strict_build(tree: Path) -> None:
    plain = run_main(["build"], cwd=tree)
    assert plain.code == 0, plain.stderr
    assert "files with failures 0" in plain.stderr
    page = (tree / "out/bad_coding.py_docs.md").read_text(encoding="utf-8")
    assert ("- **python-encoding**: Python refuses to import this file: it declares the "
            "encoding 'uft-8', which Python does not know") in page
    assert "byte-order mark" in (tree / "out/bad_bom.py_docs.md").read_text(encoding="utf-8")
    big = (tree / "out/big.py_docs.md").read_text(encoding="utf-8")
    assert "- **truncated**: The source is longer than the configured limit of 1,000 bytes" in big
    assert "VALUE_59" not in big.split("## High-Level Overview")[0]

    strict = run_main(["build", "--strict"], cwd=tree)
    assert strict.code == 1, strict.stderr
    assert _failed(strict.stderr) == ["bad_bom.py:python-encoding",
                                      "bad_coding.py:python-encoding", "big.py:truncated"]
    assert "the source (2," in strict.stderr and "max_source_bytes" in strict.stderr


def test_a_higher_max_source_bytes_lifts_the_cut_and_its_note(tree: Path) -> None:
    assert run_main(["build", "--strict"], cwd=tree).code == 1
    (tree / "src/bad_coding.py").write_bytes(b"# -*- coding: utf-8 -*-\nx = 1\n")
    (tree / "src/bad_bom.py").write_bytes(BOM + b"y = 2\n")
    lifted = run_main(["build", "--strict"], cwd=tree, env={"PIPELINE_MAX_SOURCE_BYTES": "5000"})
    assert lifted.code == 0, lifted.stderr
    assert _failed(lifted.stderr) == []
    big = (tree / "out/big.py_docs.md").read_text(encoding="utf-8")
    assert "truncated" not in big and "VALUE_59 = 59" in big
    again = run_main(["build", "--strict"], cwd=tree)  # back to 1,000 bytes: cut again
    assert again.code == 1 and _failed(again.stderr) == ["big.py:truncated"]
