"""A file's bytes to its extraction (:func:`extract_file`), within memory bounds: very
large Python sources parse in a short-lived process.

libcst's parse tree of a source takes hundreds of times its size (bench/README.md), and
the allocator keeps most of that memory after the tree is freed. A build worker that parsed
such a file stays that large for every later file, and the next large one adds to it. So
sources longer than :data:`ISOLATE_CHARS` are extracted by ``python -m pipeline.isolate``
(the whole process is returned to the system when it exits), and after any other large
source the worker hands freed memory back with glibc's ``malloc_trim``. The extraction is
the same either way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
from dataclasses import replace
from functools import cache
from typing import Any

import orjson

from pipeline.exits import describe_exit
from pipeline.extract import extract
from pipeline.files import decode, python_refusal
from pipeline.lifetime import die_with
from pipeline.records import Extraction, Note, extraction_from_dict

ISOLATE_CHARS = 384 * 1024  # characters: Python sources longer than this parse in a child
TRIM_CHARS = 192 * 1024  # characters: after a source this long, memory goes back
ISOLATED_LANGUAGES = frozenset({"python"})


def extract_file(data: bytes, language: str) -> tuple[dict[str, Any], Extraction]:
    """A file's bytes -> its encoding, line count and length in UTF-8 (what a page's
    source is cut by), and its extraction (a decode problem, or bytes Python would not
    import, become a note). Never raises: see :func:`pipeline.extract.extract`."""
    decoded = decode(data)
    text = decoded.text
    extraction = extract_bounded(text, language)
    if decoded.problem:
        extraction = replace(extraction, notes=(Note("decode", decoded.problem),)
                             + extraction.notes)
    elif language == "python" and (refusal := python_refusal(data)):
        extraction = replace(extraction, notes=(Note("python-encoding", refusal),)
                             + extraction.notes)
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    facts = {"encoding": decoded.encoding, "lines": lines,
             "text_bytes": len(text.encode("utf-8", "surrogatepass"))}
    return facts, extraction


def extract_bounded(text: str, language: str) -> Extraction:
    """:func:`pipeline.extract.extract`, with its memory kept from piling up in this
    process."""
    if language in ISOLATED_LANGUAGES and len(text) > ISOLATE_CHARS:
        isolated = _extract_in_child(text, language)
        if isolated is not None:
            return isolated
    extraction = extract(text, language)
    if len(text) > TRIM_CHARS:
        trim = _malloc_trim()
        if trim is not None:
            trim(0)
    return extraction


def _extract_in_child(text: str, language: str) -> Extraction | None:
    """The extraction made by a child process. A child killed by a signal (a native
    parser's crash, the OOM killer) gives a note: this process would die the same way. None
    when the child failed otherwise (then this process extracts it, so a page is never lost
    to the isolation)."""
    try:
        done = subprocess.run([sys.executable, "-m", "pipeline.isolate", language,
                               str(os.getpid())],
                              input=text.encode("utf-8", "surrogatepass"),
                              capture_output=True, check=False)
    except OSError:
        return None
    if done.returncode < 0:  # an extractor bug's note: extracted again by the next build
        return Extraction(language=language, notes=(Note(
            "internal-error", f"the {language} extractor's process crashed "
            f"({describe_exit(done.returncode)}); no structure extracted"),))
    if done.returncode != 0:
        return None
    try:
        return extraction_from_dict(orjson.loads(done.stdout))
    except (ValueError, TypeError, KeyError):
        return None


@cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    return function


def main() -> int:
    """``python -m pipeline.isolate LANGUAGE [PARENT]``: source text on stdin, the
    extraction as JSON on stdout; killed when the process PARENT ends (its worker, killed
    with the build: the extraction of a large file went on for nobody)."""
    if len(sys.argv) > 2:
        die_with(int(sys.argv[2]))
    text = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
    sys.stdout.buffer.write(orjson.dumps(extract(text, sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
