"""State files under ``OUT/.pipeline``: compact JSON, zstd-compressed, read and written here.

JSON state compresses about ten times (records, contexts and folder facts repeat the same
keys and names), so a CI cache restores a tenth of the bytes. A file is compressed when its
name ends with ``.zst`` (:func:`pipeline.layout.state_file` decides per kind). Compression
is deterministic for one level and library version, so write-if-changed still compares
bytes, and an unchanged file keeps its mtime. Data that does not start with zstd's magic
number is read as plain JSON. ``zstandard`` is imported only where something is compressed
or decompressed: a no-op build reads only the quick record, which zlib compresses
(:mod:`pipeline.quick`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import orjson

from pipeline.files import dump_state, read_bytes, write_if_changed

# Level 5, not zstd's default 3: on the torch wheel's state (780 MB of JSON) 5 writes 15 %
# fewer bytes (records 22.9 -> 20.0 MB, folder facts 10.3 -> 8.9 MB, contexts 3.1 ->
# 2.4 MB) for about 1 s more CPU over a 220 s cold build. Level 9 saves 6 % more but costs
# an edit 40 ms more (its chunk's state files are compressed again); 19 takes 170 s.
LEVEL = 5
MAGIC = b"\x28\xb5\x2f\xfd"
MAX_BYTES = 1 << 31  # a decompressed state file or cache entry is never larger than this
_LOCAL = threading.local()  # zstd contexts are not safe to share between threads


def _compressor(level: int) -> Any:
    found = getattr(_LOCAL, "compressors", None)
    if found is None:
        found = _LOCAL.compressors = {}
    if level not in found:
        import zstandard

        found[level] = zstandard.ZstdCompressor(level=level)
    return found[level]


def _decompressor() -> Any:
    found = getattr(_LOCAL, "decompressor", None)
    if found is None:
        import zstandard

        found = _LOCAL.decompressor = zstandard.ZstdDecompressor()
    return found


def pack(data: bytes, level: int = LEVEL) -> bytes:
    """Compressed bytes (the frame records the content size)."""
    return bytes(_compressor(level).compress(data))


def unpack(data: bytes, limit: int = MAX_BYTES) -> bytes:
    """The bytes :func:`pack` was given; plain bytes pass through. Raises ``ValueError`` on
    a corrupt frame or one that would decompress past ``limit``."""
    if not data.startswith(MAGIC):
        return data
    import zstandard

    try:
        # a frame that declares its size is decompressed into a buffer of that size at
        # once: a corrupt or hostile header must not ask for more than the limit
        declared = zstandard.frame_content_size(data)
        if declared > limit:
            raise ValueError(f"compressed data declares {declared} bytes, over {limit}")
        data = _decompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as error:
        raise ValueError(f"corrupt compressed data: {error}") from None
    if len(data) > limit:
        raise ValueError(f"compressed data holds more than {limit} bytes")
    return data


def save_state(path: str | os.PathLike[str], data: Any, level: int = LEVEL) -> bool:
    """Write ``data`` as stable JSON, compressed (at ``level``) when the name ends with
    ``.zst``, only when it changed (see :func:`pipeline.files.write_if_changed`)."""
    return save_encoded(path, dump_state(data), level)


def save_encoded(path: str | os.PathLike[str], encoded: bytes, level: int = LEVEL) -> bool:
    """Like :func:`save_state`, for JSON already encoded."""
    return write_if_changed(path, pack(encoded, level) if str(path).endswith(".zst")
                            else encoded)


def save_state_kept(path: str | os.PathLike[str], data: Any) -> bool:
    """Like :func:`save_state`, for data that most often has not changed: a compressed file
    that already holds it is found so by decompressing it, several times faster than
    compressing the data to compare the bytes (a whole link writes the facts of every
    folder of a layer, and few of them change; where the data mostly changes, as in an
    edit's tasks, that would be a second read for nothing)."""
    encoded = dump_state(data)
    if str(path).endswith(".zst"):
        try:
            held = read_bytes(path)
            if held.startswith(MAGIC) and unpack(held, len(encoded)) == encoded:
                return False
        except (OSError, ValueError):
            pass
    return save_encoded(path, encoded)


def load_state(path: str | os.PathLike[str]) -> Any:
    """A state file's data (raises ``OSError``, or ``ValueError`` when it is not JSON)."""
    return orjson.loads(unpack(read_bytes(path)))


def load_state_or(path: str | os.PathLike[str], default: Any) -> Any:
    """A state file's data, or ``default`` when it is missing, unreadable or not JSON (state
    is a cache: what cannot be read is made again)."""
    try:
        return orjson.loads(unpack(read_bytes(path)))
    except (OSError, ValueError):
        return default
