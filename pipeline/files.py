"""Every read and write of content: decoding, stable JSON, atomic write-if-changed."""

from __future__ import annotations

import codecs
import errno
import hashlib
import io
import itertools
import os
import re
import shutil
import stat
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SNIFF_BYTES = 8192
_SERIAL = itertools.count()
# Fault injection for the crash tests: with PIPELINE_TEST_CRASH_AT=N the process ends at
# once (os._exit, no clean-up) at its N-th write of a page or state file, before the write
# lands; with PIPELINE_TEST_FULL_AT=N that write and every later one fail as on a full disk
# (ENOSPC); with PIPELINE_TEST_INTERRUPT_AT=N, Ctrl-C arrives there (KeyboardInterrupt).
# Read when this module loads; a test that forks may set them directly.
CRASH_AT = int(os.environ.get("PIPELINE_TEST_CRASH_AT", "0") or 0)
FULL_AT = int(os.environ.get("PIPELINE_TEST_FULL_AT", "0") or 0)
INTERRUPT_AT = int(os.environ.get("PIPELINE_TEST_INTERRUPT_AT", "0") or 0)
CRASH_EXIT = 86
_WRITES = itertools.count(1)
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def dump_json(data: Any) -> bytes:
    """Stable JSON for people to read (golden files): sorted keys, indented, final newline."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def dump_state(data: Any) -> bytes:
    """Stable compact JSON for state files: sorted keys, no indentation, final newline."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + b"\n"


def load_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file (raises ``orjson.JSONDecodeError`` / ``OSError``)."""
    return orjson.loads(read_bytes(path))


def read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """A whole file, with the fewest system calls (no buffered file object: ``open``
    adds an ioctl and seeks per file, and builds read every page and state file). With
    ``limit`` (a file from outside the build, such as a cache entry), at most ``limit + 1``
    bytes: more than ``limit`` says the file is over it, and a file that is not what its
    size says (``/dev/zero`` behind a link) stops there; and the file is opened without
    waiting, so that a FIFO put in its place reads as empty instead of holding the build."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (0 if limit is None else os.O_NONBLOCK))
    try:
        wanted = os.fstat(fd).st_size + 1  # one byte more: the read that finds the end
        left = sys.maxsize if limit is None else limit + 1
        chunks: list[bytes] = []
        while left > 0 and (chunk := os.read(fd, min(max(wanted, 1 << 16), left))):
            chunks.append(chunk)
            wanted -= len(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def looks_binary(head: bytes) -> bool:
    """A file is binary when its first bytes hold a NUL (the usual test of git and grep)."""
    return b"\x00" in head[:SNIFF_BYTES]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A file's text, how it was decoded, and what went wrong doing it."""

    text: str
    encoding: str
    problem: str = ""  # "" when the bytes decoded cleanly


def decode(data: bytes) -> Decoded:
    """Decode source bytes: BOM, then UTF-8, then a declared coding cookie, else replace.

    Line endings are normalised to ``\\n`` so pages never carry ``\\r``.
    """
    if data.startswith(codecs.BOM_UTF8):
        return _normalised(data[3:].decode("utf-8", errors="replace"), "utf-8-sig")
    try:
        return _normalised(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as error:
        first_error = error
    declared = _declared_coding(data)
    if declared:
        try:
            return _normalised(data.decode(declared), declared)
        except (LookupError, UnicodeDecodeError):
            pass
    line = data.count(b"\n", 0, first_error.start) + 1
    text = data.decode("utf-8", errors="replace")
    problem = (
        f"the bytes are not valid UTF-8 (first bad byte at offset {first_error.start}, "
        f"line {line}); undecodable bytes are shown as U+FFFD"
    )
    return _normalised(text, "utf-8 (with replacement characters)", problem)


def python_refusal(data: bytes) -> str:
    """Why Python would refuse to import source bytes that :func:`decode` read ("" when it
    would not): a declared encoding Python does not know, a UTF-8 byte-order mark beside
    another declared encoding, or bytes that are not valid in the declared encoding. Python
    reads the declaration as :func:`tokenize.detect_encoding` does."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        declared = _declared_name(data)
        if not declared:
            return ""  # bytes that are not UTF-8: decode() notes them
        if data.startswith(codecs.BOM_UTF8):
            return (f"Python refuses to import this file: it starts with a UTF-8 byte-order "
                    f"mark but declares the encoding {declared!r}")
        return (f"Python refuses to import this file: it declares the encoding {declared!r}, "
                f"which Python does not know")
    if encoding in ("utf-8", "utf-8-sig"):
        return ""  # Python decodes it as decode() did, or decode() noted the bad bytes
    try:
        data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return (f"Python refuses to import this file: it declares the encoding {encoding!r}, "
                f"but byte {error.start} (line {line}) is not valid in it")
    return ""


def _declared_name(data: bytes) -> str:
    """The encoding name a coding declaration of the first two lines writes, as written."""
    for line in data.removeprefix(codecs.BOM_UTF8).split(b"\n", 2)[:2]:
        match = _CODING.match(line)
        if match:
            return match.group(1).decode("ascii", "replace")
    return ""


def _normalised(text: str, encoding: str, problem: str = "") -> Decoded:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Decoded(text, encoding, problem)


def _declared_coding(data: bytes) -> str:
    for line in data.split(b"\n", 2)[:2]:
        match = _CODING.match(line)
        if match:
            name = match.group(1).decode("ascii", "replace")
            try:
                return codecs.lookup(name).name
            except LookupError:
                return ""
    return ""


def crash_point() -> None:
    """Where a write is about to land: the crash tests end the process here, the full-disk
    tests fail the write, the interrupt tests press Ctrl-C (:data:`CRASH_AT`,
    :data:`FULL_AT`, :data:`INTERRUPT_AT`)."""
    if CRASH_AT or FULL_AT or INTERRUPT_AT:
        count = next(_WRITES)
        if count == CRASH_AT:
            os._exit(CRASH_EXIT)
        if count == INTERRUPT_AT:
            raise KeyboardInterrupt
        if FULL_AT and count >= FULL_AT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly it.

    Returns True when the file was written. Unchanged files keep their mtime, so
    downstream tasks see no change (the early cutoff every stage relies on).
    """
    target = Path(path)
    try:
        info = os.lstat(target)
        if stat.S_ISDIR(info.st_mode):  # a folder put where a page belongs: the page wins
            shutil.rmtree(target)
        elif stat.S_ISREG(info.st_mode) and info.st_size == len(data) \
                and read_bytes(target) == data:
            return False
    except OSError:
        pass
    # A temporary name unique to this process: a build holds the output's lock and one task
    # owns each target, so no two writers meet, and a counter does what ``mkstemp``'s random
    # names and retries do, cheaper. Leftovers of a killed run are removed by prune.
    tmp = target.with_name(f".tmp-{os.getpid()}-{next(_SERIAL)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # the first page of a new folder
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        crash_point()
        os.replace(tmp, target)
    except BaseException as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(error, OSError) and (error.filename is None
                                           or str(error.filename) == str(tmp)):
            # a full disk fails the write (no file name) or the temporary's open: name the
            # file the build was writing
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise
    return True
