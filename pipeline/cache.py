"""A shared cache: extractions by extraction key, and each file's rendered pages by its
render stamp, in a folder or an fsspec store.

``cache`` names a folder (an NFS mount, a CI cache volume) or an fsspec URL
(``s3://bucket/prefix`` through s3fs, its credentials and endpoint from the standard AWS
variables, ``AWS_ENDPOINT_URL`` included; any other fsspec protocol that is installed).
``cache_mode`` says what a build does with it: ``read`` (the default: fetch a record
missing locally before extracting it), ``write`` (store what this build extracted),
``readwrite`` (both: what CI runs) or ``off``.

The key is the records' own extraction key (content digest, language, extraction code,
schema: ``actions._key``), so an entry can only stand for the bytes it was made from. A
file's pages are keyed by the stamp its render task compares (the record's key, its
links' context, the site with the source folder as the output sees it (``graph.site_key``),
the templates' content, the code, the schema: what the pages are made from), so they are
shared between builds of the same tree whose pages link the sources alike, wherever they
are. An
entry is data, never code: zstd-compressed JSON, used only when it decodes, echoes the key
it was fetched under, has this schema and language, and every field has its record's type
(:func:`decode_as`); anything else is ignored, with one warning. A cache that cannot be
reached or is misconfigured is left alone for a minute (:class:`Resting`), with one
warning: the build extracts locally and its exit code does not change, and a long-lived
process (``watch``) uses the cache again once it is back. Puts are atomic (a folder:
a temporary file renamed into place; an object store: one object per put), so builds that
write the same entry at once are safe; entries are immutable, so the last writer wins
with the same bytes.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import orjson

from pipeline.files import read_bytes

MODES = ("read", "write", "readwrite", "off")
MAX_ENTRY = 256 << 20  # bytes of one decompressed entry: more is not a record
THREADS = 16  # reads and writes of a folder cache at once (an NFS mount has latency)
S3_OPTIONS: dict[str, Any] = {  # fail in seconds, not minutes, when the store is away
    "config_kwargs": {"connect_timeout": 5, "read_timeout": 10,
                      "retries": {"max_attempts": 2, "mode": "standard"}},
}
# s3fs's own tries of a request (5 by default), each with botocore's attempts above: an
# endpoint that accepts connections and never answers held a request 5 x 2 x 30 s
S3_TRIES = 2
PROBE_SECONDS = 10.0  # a store's answer to a build's probe, at most (probe)
PROBE_NAME = "00" * 32  # the name of an entry no build writes (entry names are digests)
_SERIAL = itertools.count()
RETRY_AFTER = 60.0  # seconds a service that failed is left alone before it is tried again


class Resting:
    """Services (a shared cache, a Dask scheduler, by address) that failed in this process,
    each left alone for :data:`RETRY_AFTER` seconds: a build does not wait on a dead service
    at every chunk, and a long-lived process (``watch``) uses it again once it is back."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}  # address -> when it last failed (monotonic)

    def resting(self, address: str) -> bool:
        since = self._since.get(address)
        return since is not None and time.monotonic() - since < RETRY_AFTER

    def failed(self, address: str) -> None:
        self._since[address] = time.monotonic()


CACHES = Resting()


@dataclass(frozen=True, slots=True)
class Remote:
    """Where extraction may find or leave records, and where it may run: the shared cache
    and the Dask scheduler (``""``: none). Not part of any task's stamp: neither changes
    what a build produces."""

    cache: str = ""
    cache_mode: str = "read"
    scheduler: str = ""
    jobs: int = 1  # chunk tasks that run at once, and so share the cluster's workers

    @property
    def reads(self) -> bool:
        return bool(self.cache) and self.cache_mode in ("read", "readwrite")

    @property
    def writes(self) -> bool:
        return bool(self.cache) and self.cache_mode in ("write", "readwrite")


@dataclass(frozen=True, slots=True)
class Cached:
    """What an entry holds besides its key: the facts of the bytes and their extraction."""

    lines: int
    encoding: str
    extraction: Any  # records.Extraction


@dataclass
class Outcome:
    """What a chunk's calls outside this process did: counts (the shared cache's records;
    ``pages_``: its rendered pages; the cluster's extractions), and warnings by topic (one
    line each)."""

    fetched: int = 0
    stored: int = 0
    rejected: int = 0
    pages_fetched: int = 0
    pages_stored: int = 0
    pages_rejected: int = 0
    cluster_extracted: int = 0  # extractions a Dask cluster made
    warnings: dict[str, str] | None = None

    def counts(self) -> dict[str, Any]:
        """The task's counts (``cache_fetched``...) of what happened, and its warnings."""
        counts: dict[str, Any] = {f"cache_{name}": getattr(self, name) for name in (
            "fetched", "stored", "rejected", "pages_fetched", "pages_stored",
            "pages_rejected") if getattr(self, name)}
        if self.cluster_extracted:
            counts["cluster_extracted"] = self.cluster_extracted
        if self.warnings:
            counts["warnings"] = self.warnings
        return counts

    def warn(self, topic: str, message: str) -> None:
        if self.warnings is None:
            self.warnings = {}
        self.warnings.setdefault(topic, message)


# --------------------------------------------------------------------------- stores

class FolderStore:
    """Entries as files under a folder, two hex digits of fan-out."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise OSError(f"{root} is not a folder")

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name

    def get_many(self, names: list[str]) -> dict[str, bytes]:
        def read(name: str) -> bytes | None:
            try:  # sized by the file: ``read(MAX_ENTRY + 1)`` allocated 256 MB a file
                return read_bytes(self._path(name), MAX_ENTRY)
            except FileNotFoundError:
                return None
            except IsADirectoryError:  # an entry no put makes: refused as any other
                return b""
        found = _pooled(read, names)
        return {name: data for name, data in zip(names, found, strict=True) if data is not None}

    def probe(self) -> None:
        """Raise when the folder cannot be read (one entry no build writes is asked for)."""
        self.get_many([PROBE_NAME])

    def put_many(self, items: dict[str, bytes]) -> None:
        def write(item: tuple[str, bytes]) -> None:
            name, data = item
            target = self._path(name)
            if target.exists():
                return
            target.parent.mkdir(exist_ok=True)
            # unique across processes and machines sharing the folder
            tmp = target.with_name(f".tmp-{secrets.token_hex(8)}-{os.getpid()}-{next(_SERIAL)}")
            try:
                with open(tmp, "xb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        _pooled(write, list(items.items()))


class FsspecStore:
    """Entries as objects of an fsspec filesystem (one batched ``cat`` per fetch: s3fs
    runs it concurrently)."""

    def __init__(self, url: str) -> None:
        import fsspec  # only where a cache URL is used

        s3 = url.startswith(("s3://", "s3a://"))
        self.fs, self.prefix = fsspec.url_to_fs(url, **(S3_OPTIONS if s3 else {}))
        self.prefix = self.prefix.rstrip("/")
        if s3:
            self.fs.retries = S3_TRIES  # a class attribute of s3fs, no constructor option

    def _path(self, name: str) -> str:
        return f"{self.prefix}/{name[:2]}/{name}"

    def get_many(self, names: list[str]) -> dict[str, bytes]:
        paths = [self._path(n) for n in names]
        got = self.fs.cat(paths, on_error="return")
        if not isinstance(got, dict):  # one path: fsspec returns its bytes
            got = {paths[0]: got}
        found: dict[str, bytes] = {}
        for name, path in zip(names, paths, strict=True):
            value = got.get(path, got.get(self.fs._strip_protocol(path)))
            if isinstance(value, FileNotFoundError) or value is None:
                continue
            if isinstance(value, BaseException):
                raise value
            found[name] = bytes(value)
        return found

    def probe(self) -> None:
        """Raise when the store cannot be read: one entry no build writes is asked for, and
        a miss is an answer, unless the bucket itself is missing. (A fetch takes that for
        misses too: a misspelt bucket read that way would never be said.) Told by the S3
        error code s3fs keeps as the cause; other protocols have none."""
        try:
            self.fs.cat_file(self._path(PROBE_NAME))
        except FileNotFoundError as error:
            response = getattr(error.__cause__, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            if code == "NoSuchBucket":
                bucket = self.prefix.split("/", 1)[0]
                raise FileNotFoundError(f"bucket {bucket} does not exist") from error

    def put_many(self, items: dict[str, bytes]) -> None:
        self.fs.pipe({self._path(name): data for name, data in items.items()})


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pooled(function: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``function`` over ``items`` on one pool per process (a pool per call started up to
    16 threads per chunk: a third of a warm-cache cold build's fetch time), the items dealt
    out to at most :data:`THREADS` tasks that each take theirs in turn (a task per item
    cost more than reading a cached file). A worker process forked from one that had a
    pool makes its own: threads do not survive a fork."""
    global _POOL
    if len(items) <= 1:
        return [function(item) for item in items]
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(THREADS, thread_name_prefix="cache"))
    count = min(THREADS, len(items))
    results: list[Any] = [None] * len(items)
    done = _POOL[1].map(lambda i: [function(item) for item in items[i::count]], range(count))
    for first, group in enumerate(done):
        results[first::count] = group
    return results


def close_pool() -> None:
    """Stop this process's pool, its work done (the end of an in-process build: the
    command line's quick exit needs no thread left running)."""
    global _POOL
    if _POOL is not None and _POOL[0] == os.getpid():
        _POOL[1].shutdown(wait=True)
    _POOL = None


@cache
def open_store(url: str) -> FolderStore | FsspecStore:
    """The store a cache URL names (once per process: a forked child opens its own, as
    fsspec's asynchronous filesystems are bound to the process that made them). Raises on
    a misconfiguration: an unknown protocol, a missing package, a folder that is not
    there."""
    if "://" not in url or url.startswith("file://"):
        return FolderStore(url.removeprefix("file://"))
    return FsspecStore(url)


os.register_at_fork(after_in_child=open_store.cache_clear)


ANSWERED: set[str] = set()  # caches that answered a probe in this process


def probe(url: str) -> str:
    """"" when the store at ``url`` answers one request for an entry no build writes (a
    miss is an answer) within :data:`PROBE_SECONDS`; else why a build does without it.

    An unreachable store fails each request only after its timeouts and retries (an
    endpoint behind a firewall that drops packets, or one that accepts connections and
    never answers: minutes), and every worker process meets it again after each rest, so a
    build asks once before its tasks start (:func:`pipeline.session.usable_cache`). The
    request runs in a thread so that a store that does not answer can be left to it.
    Once a store answered, this process does not ask again (``watch``'s later builds); one
    that failed, in this process, less than :data:`RETRY_AFTER` seconds ago is not asked
    either, and is left out again."""
    if url in ANSWERED:
        return ""
    if CACHES.resting(url):
        return f"it failed less than {RETRY_AFTER:g} s ago"
    outcome: list[str] = []

    def ask() -> None:
        try:
            open_store(url).probe()
        except Exception as error:  # noqa: BLE001 - whatever it is, the cache is not used
            outcome.append(_reason(error))
        else:
            outcome.append("")

    asking = threading.Thread(target=ask, name="cache-probe", daemon=True)
    asking.start()
    asking.join(PROBE_SECONDS)
    problem = outcome[0] if outcome else f"no answer in {PROBE_SECONDS:g} s"
    if problem:
        CACHES.failed(url)
    else:
        ANSWERED.add(url)
    return problem


def unusable(url: str, problem: str) -> str:
    """The one warning line of a cache that cannot be used."""
    return (f"cache {url} cannot be used ({problem}); records are extracted and pages "
            "rendered here")


# --------------------------------------------------------------------------- entries

def entry_name(key: str) -> str:
    return f"{key}.json.zst"


def encode_entry(key: str, language: str, value: Cached) -> bytes:
    from pipeline.records import SCHEMA
    from pipeline.stateio import pack

    return pack(orjson.dumps({"schema": SCHEMA, "key": key, "language": language,
                              "lines": value.lines, "encoding": value.encoding,
                              "extraction": value.extraction}))


def decode_entry(blob: bytes, key: str, language: str) -> Cached:
    """The entry's content; ``ValueError`` naming the first thing wrong with it."""
    from pipeline.records import SCHEMA, Extraction
    from pipeline.stateio import MAGIC, unpack

    if not blob.startswith(MAGIC):
        raise ValueError("not a compressed entry")
    data = orjson.loads(unpack(blob, limit=MAX_ENTRY))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    for field, wanted in (("schema", SCHEMA), ("key", key), ("language", language)):
        if data.get(field) != wanted:
            raise ValueError(f"{field} is {data.get(field)!r}, not {wanted!r}")
    lines, encoding, extraction = data.get("lines"), data.get("encoding"), data.get("extraction")
    if not (type(lines) is int and lines >= 0 and isinstance(encoding, str)):
        raise ValueError("lines or encoding malformed")
    return Cached(lines, encoding, decode_as(extraction, Extraction))


def pages_entry_name(stamp: str) -> str:
    return f"{stamp}.pages.zst"


def encode_pages(stamp: str, pages: tuple[str, ...]) -> bytes:
    from pipeline.records import SCHEMA
    from pipeline.stateio import pack

    return pack(orjson.dumps({"schema": SCHEMA, "stamp": stamp, "pages": list(pages)}))


def decode_pages(blob: bytes, stamp: str, count: int) -> tuple[str, ...]:
    """The ``count`` rendered pages stored under a stamp (a file's docs and keywords
    pages; a folder's index, doc and sub pages); ``ValueError`` naming the first thing
    wrong with the entry."""
    from pipeline.records import SCHEMA
    from pipeline.stateio import MAGIC, unpack

    if not blob.startswith(MAGIC):
        raise ValueError("not a compressed entry")
    data = orjson.loads(unpack(blob, limit=MAX_ENTRY))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    for field, wanted in (("schema", SCHEMA), ("stamp", stamp)):
        if data.get(field) != wanted:
            raise ValueError(f"{field} is {data.get(field)!r}, not {wanted!r}")
    pages = data.get("pages")
    if not (type(pages) is list and len(pages) == count
            and all(type(p) is str for p in pages)):
        raise ValueError(f"the pages are not {count} texts")
    return tuple(pages)


def decode_as(value: Any, hint: Any) -> Any:
    """``value`` (parsed JSON) as type ``hint``, checked in the same walk that builds it: a
    record dataclass from a dict of exactly its fields (those without a default present),
    a tuple from a list, plain ``str``/``int``/``bool``/``float`` as they are; ``ValueError``
    when it does not have that shape."""
    try:
        return _decoder(hint)(value)
    except _Malformed:
        raise ValueError("the extraction does not have the record's fields and types") from None


class _Malformed(Exception):
    """A value of another shape than its type (raised inside the walk)."""


Decode = Callable[[Any], Any]


def _plain(kinds: tuple[type, ...]) -> Decode:
    def decode(value: Any) -> Any:
        if type(value) not in kinds:
            raise _Malformed
        return value
    return decode


def _none(value: Any) -> Any:
    if value is not None:
        raise _Malformed
    return value


_PLAIN: dict[Any, Decode] = {
    str: _plain((str,)),
    int: _plain((int,)),
    bool: _plain((bool,)),
    float: _plain((int, float)),
    NoneType: _none,
    Any: lambda value: value,
}


@cache
def _decoder(hint: Any) -> Decode:
    """The decoder of one type, built once (a fetched entry holds thousands of values)."""
    if hint in _PLAIN:
        return _PLAIN[hint]
    if is_dataclass(hint):
        hints = get_type_hints(hint)
        cls = cast(Callable[..., Any], hint)
        names = frozenset(f.name for f in fields(hint))
        steps = tuple((f.name, _decoder(hints[f.name])) for f in fields(hint))

        def record(value: Any) -> Any:
            if type(value) is not dict or not value.keys() <= names:
                raise _Malformed
            try:
                return cls(**{name: step(value[name]) for name, step in steps if name in value})
            except TypeError:  # a field without a default is missing
                raise _Malformed from None
        return record
    origin = get_origin(hint)
    if origin is tuple:
        item = _decoder(get_args(hint)[0])

        def items(value: Any) -> Any:
            if type(value) is not list:
                raise _Malformed
            return tuple(map(item, value))
        return items
    if origin in (Union, UnionType):
        options = tuple(_decoder(option) for option in get_args(hint))

        def either(value: Any) -> Any:
            for option in options:
                try:
                    return option(value)
                except _Malformed:
                    continue
            raise _Malformed
        return either

    def never(value: Any) -> Any:
        raise _Malformed
    return never


# --------------------------------------------------------------------------- use

def fetch(remote: Remote, wanted: dict[str, str], outcome: Outcome) -> dict[str, Cached]:
    """Key -> cached content for the keys of ``wanted`` (key -> language) the cache holds
    and that pass validation; {} when the cache cannot be read."""
    blobs = _get(remote, {entry_name(k): k for k in wanted}, outcome)
    found, rejected = _decoded(remote, blobs, lambda k, b: decode_entry(b, k, wanted[k]),
                               outcome, "the file was extracted here")
    outcome.fetched += len(found)
    outcome.rejected += rejected
    return found


def fetch_pages(remote: Remote, stamps: Iterable[str], outcome: Outcome,
                count: int) -> dict[str, tuple[str, ...]]:
    """Stamp -> the ``count`` pages rendered under it, for the stamps the cache holds whose
    entries pass validation; {} when the cache cannot be read."""
    blobs = _get(remote, {pages_entry_name(s): s for s in stamps}, outcome)
    found, rejected = _decoded(remote, blobs, lambda s, b: decode_pages(b, s, count),
                               outcome, "the pages were rendered here")
    outcome.pages_fetched += len(found)
    outcome.pages_rejected += rejected
    return found


Decoded = TypeVar("Decoded")


def _decoded(remote: Remote, blobs: dict[str, bytes],
             decode: Callable[[str, bytes], Decoded], outcome: Outcome,
             instead: str) -> tuple[dict[str, Decoded], int]:
    """The fetched entries (key -> bytes) that decode, and how many did not (each ignored,
    with one warning line per build saying what was done ``instead``)."""
    found: dict[str, Decoded] = {}
    rejected = 0
    for key, blob in blobs.items():
        try:
            found[key] = decode(key, blob)
        except (ValueError, TypeError, KeyError) as error:
            rejected += 1
            outcome.warn("cache-rejected", f"cache {remote.cache}: entry {key[:16]}... "
                         f"ignored ({_reason(error)}); {instead}")
    return found, rejected


def _get(remote: Remote, names: dict[str, str], outcome: Outcome) -> dict[str, bytes]:
    """Key -> entry bytes, of the entries (name -> key) the store holds, in one batch."""
    if not (remote.reads and names) or CACHES.resting(remote.cache):
        return {}
    ordered = sorted(names)
    try:
        blobs = open_store(remote.cache).get_many(ordered)
    except Exception as error:  # any failure of the store: extract and render locally
        _give_up(remote, error, outcome)
        return {}
    return {names[name]: blobs[name] for name in ordered if name in blobs}


def store(remote: Remote, made: Iterable[tuple[str, str, Cached]], outcome: Outcome) -> None:
    """Put ``(key, language, content)`` entries, when the mode allows writes."""
    if remote.writes:
        outcome.stored += _put(remote, {entry_name(key): encode_entry(key, language, value)
                                        for key, language, value in made}, outcome)


def store_pages(remote: Remote, rendered: dict[str, tuple[str, ...]],
                outcome: Outcome) -> None:
    """Put rendered pages under their stamps, when the mode allows writes."""
    if remote.writes:
        outcome.pages_stored += _put(remote, {pages_entry_name(stamp): encode_pages(
            stamp, pages) for stamp, pages in rendered.items()}, outcome)


def _put(remote: Remote, items: dict[str, bytes], outcome: Outcome) -> int:
    """How many of ``items`` (name -> bytes) were put (0 when the store failed). A store
    that opens but refuses the put (a read-only mount, a bucket this build may only read)
    rests for writes alone: it is still read, where a failed put used to leave the rest
    of a ``readwrite`` build to extract and render everything."""
    writes = _writes(remote.cache)
    if not items or CACHES.resting(remote.cache) or CACHES.resting(writes):
        return 0
    try:
        store = open_store(remote.cache)
    except Exception as error:
        _give_up(remote, error, outcome)
        return 0
    try:
        store.put_many(items)
    except Exception as error:
        CACHES.failed(writes)
        outcome.warn("cache-unwritable", f"cache {remote.cache} cannot be written "
                     f"({_reason(error)}); it is still read, and what this build made "
                     "is kept here only")
        return 0
    return len(items)


def _writes(url: str) -> str:
    """The name under which a store's writes rest apart from its reads."""
    return f"{url}\nwrites"


def _give_up(remote: Remote, error: BaseException, outcome: Outcome) -> None:
    CACHES.failed(remote.cache)
    outcome.warn("cache-unusable", unusable(remote.cache, _reason(error)))


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
