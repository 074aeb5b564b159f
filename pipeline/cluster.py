"""Extraction on a Dask distributed cluster: file bytes go to the workers, extractions come
back; doit still orchestrates, and every write happens here.

The cluster is started with Dask's own commands (``dask scheduler``, then ``dask worker
ADDRESS`` on each machine, in an environment with this package installed); workers need
no copy of the tree. Dask reschedules the tasks of a worker that dies. A worker whose
extraction code differs from this build's (another version installed) is not trusted:
what it made is thrown away and extracted here, as is whatever the cluster fails to
return. A scheduler that fails is left alone for a minute (:class:`pipeline.cache.Resting`,
as a shared cache is), then tried again with a new client. Only a build with a scheduler
imports this module, and with it ``distributed``.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pipeline import schedprobe
from pipeline.cache import Outcome, Resting

if TYPE_CHECKING:
    from pipeline.remote import Made

CONNECT_SECONDS = 10
AHEAD_BYTES = 256 << 20  # sources a build ships ahead of its chunk tasks, at most
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()
_AHEAD: list[Any] = []  # futures shipped ahead (ship_ahead), held until the build ends
_AHEAD_KEYS: set[str] = set()  # the record keys they extract (forked workers keep a copy)
_INHERITED: list[list[Any]] = []  # a forked child's copies of its parent's, never released
SCHEDULERS = Resting()  # schedulers that failed in this process, tried again after a rest
BATCHES_PER_WORKER = 2  # Dask tasks per worker for one chunk's files: some balance, few tasks
MIN_BATCH = 8  # files a batch holds at least (when the chunk has them): tasks stay few
BATCH_OVERHEAD = 2048  # bytes one more file weighs in a batch besides its own
# A chunk whose extraction is estimated below this many seconds of one core is extracted
# here: one trip to the cluster (submit, schedule, run, gather) costs about 11 ms of CPU
# between the client, the scheduler and a worker, and 14 ms of waiting (bench/README.md).
SHIP_ABOVE = 0.012
# What a chunk task waits for its trip to the cluster, besides the extraction: the 11 ms of
# CPU and the 14 ms of waiting above. A chunk task that ships its files waits for them, so
# it ships them only when the cluster returns them sooner than it would extract them.
TRIP_SECONDS = 0.025
# Bytes one core extracts per second, by language (the small corpus: Python 1.0 MB/s,
# C++ headers 4.5 MB/s, the pages of pages 10.6 MB/s); other languages as C++.
RATES = {"python": 1.0e6, "markdown": 10.0e6, "rst": 10.0e6}
RATE = 4.5e6
# Loading a language's extractor in a process that has not used it yet: libcst defines
# hundreds of node classes (0.08 s on an idle core, 0.13 s in a busy build); the others
# load in a few milliseconds.
LOAD_SECONDS = {"python": 0.1}
# A process's first use of the cluster: importing distributed (0.19 s) where no process
# before it did, and the client's handshake with the scheduler.
IMPORT_COST = 0.19
CONNECT_COST = 0.03


def _forget_clients() -> None:
    """In a forked child (doit's worker processes): the parent's clients are not this
    process's (their sockets and event loop stay with the parent). ``watch`` keeps a
    client from an in-process rebuild when a later rebuild forks workers, and a build
    forks them while it holds the futures it shipped ahead: the child keeps its copies
    unreleased, since releasing a future talks to the parent's client."""
    global _LOCK
    _CLIENTS.clear()
    _LOCK = threading.Lock()
    _INHERITED.append(list(_AHEAD))
    _AHEAD.clear()


os.register_at_fork(after_in_child=_forget_clients)


def _client(address: str) -> Any:
    """One client per process and scheduler (doit's worker processes each have theirs).
    The scheduler is probed first (:func:`pipeline.schedprobe.unreachable`, a millisecond)
    unless it answered a
    moment ago: since the build's probe at its start it may have gone (Dask's client would try to
    reach it for :data:`CONNECT_SECONDS` a process) or left its port to a service that
    accepts connections and stays silent (the client would wait forever)."""
    with _LOCK:
        client = _CLIENTS.get(address)
        if client is None:
            if not schedprobe.answered_lately(address):
                problem = schedprobe.unreachable(address)
                if problem:
                    raise ConnectionError(f"{address} is unreachable: {problem}")
            from distributed import Client

            _quiet_dask_logs()
            client = Client(  # type: ignore[no-untyped-call]
                address, timeout=CONNECT_SECONDS, set_as_default=False)
            _CLIENTS[address] = client
        return client


def _quiet_dask_logs() -> None:
    """Only critical records from Dask's loggers in a building process: a scheduler lost
    mid-build made its client log five errors with tracebacks (about 70 lines, through the
    progress display) while it tried to reconnect, where the build says it once, in the
    warning of :func:`extract_on_cluster`. Dask sets levels of its own on some loggers
    (``distributed.client``), so each one made so far is set, and the root of the tree for
    those made later."""
    import logging

    names = [name for name in logging.root.manager.loggerDict
             if name.startswith(("distributed.", "tornado"))]
    for name in ("distributed", *names):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _drop_client(address: str) -> None:
    """Forget a client that failed (the next try after the rest connects anew)."""
    with _LOCK:
        client = _CLIENTS.pop(address, None)
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a client of a dead scheduler may fail to close
            pass


def close_clients() -> None:
    """Close this process's clients (the end of an in-process build)."""
    with _LOCK:
        while _CLIENTS:
            _CLIENTS.popitem()[1].close()


def extract_on_cluster(address: str, todo: dict[str, tuple[bytes, str]], code: str,
                       outcome: Outcome, sharing: int = 1) -> Made:
    """Key -> extraction for the keys of ``todo`` (key -> (bytes, language)) the cluster
    made with this build's extraction code; the caller extracts the rest itself.

    The files go in a few batches of about equal bytes (:func:`batches`), one Dask task
    each: the scheduler spends about a millisecond per task, which one task per file turns
    into the cluster's bound (see bench/README.md, "Scaling model"). A chunk that costs
    less to extract than its trip to the cluster (:func:`local_seconds`) stays here, and so
    does one that the cluster would return later than this process extracts it
    (:func:`_sooner_there`; ``sharing``: the chunk tasks that use the cluster at once),
    unless it went ahead (:func:`ship_ahead`): then its results are there or on their
    way."""
    work = _work_seconds(todo)
    here = work + _load_seconds(todo)  # local_seconds, the files weighed once
    if here < SHIP_ABOVE or SCHEDULERS.resting(address):
        return {}
    ahead = todo.keys() <= _AHEAD_KEYS
    if not ahead and not _sooner_there(address, work, here, _batch_count(todo, len(todo))):
        return {}  # not even with a worker for each batch
    try:
        client, workers, code = _connect(address, code)
        if not workers:  # its tasks would wait for a worker, and the build with them
            outcome.warn("cluster-idle", f"scheduler {address} has no workers; files are "
                         "extracted here")
            return {}
        if not ahead and not _sooner_there(address, work, here, min(
                _batch_count(todo, workers), max(1, workers // max(1, sharing)))):
            return {}
        groups, futures = _submit(client, todo, code, workers)
        answers = _answers(client, futures)
    except Exception as error:  # the cluster went away: extract here, try again later
        SCHEDULERS.failed(address)
        _drop_client(address)
        outcome.warn("cluster", f"scheduler {address} cannot be used ({_said(error)}); "
                     "files are extracted here")
        return {}
    made: Made = {}
    for keys, (finished, answer) in zip(groups, answers, strict=True):
        if not finished:
            outcome.warn("cluster-failed", f"scheduler {address}: an extraction failed "
                         f"on the cluster ({_said(answer)}); extracted here")
            continue
        worker_code, results = answer
        if worker_code != code:
            outcome.warn("cluster-code", f"scheduler {address}: a worker runs other "
                         "extraction code or parser versions; its files are extracted here")
            continue
        made.update(zip(keys, results, strict=True))
    outcome.cluster_extracted += len(made)
    return made


def _answers(client: Any, futures: list[Any]) -> list[tuple[bool, Any]]:
    """Each future's (True, result), or (False, why it failed), once all are done: the
    results in one gather, every exchange with the scheduler made here (a caller that
    asked a future for its result after a gather fetched it from the workers a second
    time, and a scheduler lost in between raised out of the chunk task). Gathered as a
    dict: Dask leaves a failed future's place empty (None, never a batch's result) where a
    list would close up."""
    gathered = client.gather(dict(enumerate(futures)), errors="skip")
    return [(True, gathered[index]) if gathered.get(index) is not None else
            (False, future.exception() if future.status == "error" else future.status)
            for index, future in enumerate(futures)]


def local_seconds(todo: dict[str, tuple[bytes, str]]) -> float:
    """About how many seconds of one core extracting ``todo`` takes here: the files, and
    loading the extractors this process has not loaded yet (:data:`LOAD_SECONDS`)."""
    return _work_seconds(todo) + _load_seconds(todo)


def _work_seconds(todo: dict[str, tuple[bytes, str]]) -> float:
    return sum(len(data) / RATES.get(language, RATE) for data, language in todo.values())


def _load_seconds(todo: dict[str, tuple[bytes, str]]) -> float:
    from pipeline.extract import extractor_module

    return sum(LOAD_SECONDS.get(language, 0.0) for language in {lang for _d, lang in
               todo.values()} if extractor_module(language) not in sys.modules)


def _sooner_there(address: str, work: float, here: float, side_by_side: int) -> bool:
    """Does the cluster return a chunk sooner than this process extracts it (``here``
    seconds, :func:`local_seconds`)? There, its files' ``work`` (:func:`_work_seconds`) is
    done by ``side_by_side`` workers at once (those not busy with the other chunk tasks'
    files), which have loaded the extractors, after a trip (:data:`TRIP_SECONDS`) and, for
    a process with no client yet, connecting (:data:`IMPORT_COST`, :data:`CONNECT_COST`).
    With as many workers as chunk tasks, a chunk goes only to spare this process loading
    libcst; a one-file edit stays here."""
    there = TRIP_SECONDS + work / max(1, side_by_side)
    if address not in _CLIENTS:
        there += CONNECT_COST + (IMPORT_COST if "distributed" not in sys.modules else 0.0)
    return there < here


def _connect(address: str, code: str) -> tuple[Any, int, str]:
    """This process's client of ``address``, how many workers it has, and the code the
    workers must run to make records under this build's keys (``code`` and the parsers'
    versions)."""
    client = _client(address)
    return client, _workers(client), _with_parsers(code)


def _submit(client: Any, todo: dict[str, tuple[bytes, str]], code: str, workers: int,
            priority: int = 0) -> tuple[list[list[str]], list[Any]]:
    """The batches of ``todo`` and their futures. The same files and workers give the same
    batches and task keys, so a chunk task whose files were shipped ahead
    (:func:`ship_ahead`) waits on the tasks already running, or takes their results. The
    workers run tasks of a higher ``priority`` first."""
    groups = batches(todo, _batch_count(todo, workers))
    tasks = [Batch(_batch_key(keys), tuple(todo[k] for k in keys)) for keys in groups]
    return groups, client.map(extract_batch, tasks, code=code, key=[t.key for t in tasks],
                              priority=priority)


def _batch_count(todo: dict[str, tuple[bytes, str]], workers: int) -> int:
    return min(BATCHES_PER_WORKER * workers, max(1, len(todo) // MIN_BATCH))


def ship_ahead(address: str, chunks: Iterable[dict[str, tuple[bytes, str]]],
               code: str) -> int:
    """Submit the extractions of ``chunks`` (each a chunk task's files to extract: key ->
    (bytes, language)) before the build runs, and hold their futures until
    :func:`release_ahead`. Each chunk task otherwise ships its files when doit runs it, so
    only ``--jobs`` chunks are on the cluster at once and the workers wait on the building
    machine; ahead, the cluster has the whole layer from the start. At most
    :data:`AHEAD_BYTES` go ahead (the scheduler holds them until they run). A chunk whose
    files take less CPU to extract than its trip stays here, and the extractors such
    chunks need are loaded here once, while the cluster starts: the chunk tasks run in
    processes forked from this one, each of which would load them otherwise (libcst:
    0.1 s), or ship a chunk of one small file to be spared that and wait for it. Returns
    the files shipped. A cluster that fails here is left to the chunk tasks, which say so.
    Dask is imported and the scheduler asked only once a chunk is worth shipping (an
    incremental build has none)."""
    if SCHEDULERS.resting(address):
        return 0
    shipped = size = workers = 0
    client: Any = None
    staying: set[str] = set()  # the languages of the chunks extracted here
    try:
        for todo in chunks:
            if _work_seconds(todo) < SHIP_ABOVE:
                staying.update(language for _data, language in todo.values())
                continue
            size += sum(len(data) for data, _language in todo.values())
            if size > AHEAD_BYTES:
                break
            if client is None:
                client, workers, code = _connect(address, code)
            if not workers:  # the chunk tasks extract here, and say why
                break
            # in the chunks' order, which is doit's: otherwise the scheduler runs the
            # first batch of every chunk, then the second, ..., and the first chunk tasks
            # wait for most of the layer before they have their files
            _AHEAD.extend(_submit(client, todo, code, workers, priority=-len(_AHEAD))[1])
            _AHEAD_KEYS.update(todo)
            shipped += len(todo)
    except Exception:  # noqa: BLE001 - the chunk tasks try again, and warn
        return shipped
    if shipped:
        from pipeline.extract import extractor_for

        for language in sorted(staying):
            try:
                extractor_for(language)
            except Exception:  # noqa: BLE001 - its chunk task meets it, and makes a note
                pass
    return shipped


def release_ahead() -> None:
    """Let the scheduler forget what :func:`ship_ahead` held (the end of a build: the chunk
    tasks that wanted those results hold their own futures until they have them)."""
    _AHEAD.clear()
    _AHEAD_KEYS.clear()


def batches(todo: dict[str, tuple[bytes, str]], count: int) -> list[list[str]]:
    """The keys of ``todo`` in at most ``count`` batches of about equal bytes (largest file
    first into the lightest batch), each batch in key order, the batches in the order of
    their first key: deterministic, so a retried build submits the same tasks."""
    bins: list[tuple[int, int, list[str]]] = [(0, i, []) for i in range(min(count, len(todo)))]
    for key in sorted(todo, key=lambda k: (-len(todo[k][0]), k)):
        size, index, keys = heapq.heappop(bins)
        keys.append(key)
        heapq.heappush(bins, (size + len(todo[key][0]) + BATCH_OVERHEAD, index, keys))
    return sorted((sorted(keys) for _size, _index, keys in bins if keys), key=lambda b: b[0])


def _batch_key(keys: list[str]) -> str:
    return "pipeline-extract-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()


def _workers(client: Any) -> int:
    """How many workers the scheduler has (asked anew: one round trip)."""
    try:
        return len(client.scheduler_info().get("workers", {}))
    except Exception:  # an old or busy scheduler: batches for two workers
        return 2


@dataclass(frozen=True)
class Batch:
    """One Dask task's files (bytes, language), named by ``key``: the digest of their
    record keys, which cover their bytes."""

    key: str
    items: tuple[tuple[bytes, str], ...]

    def __dask_tokenize__(self) -> str:
        """What Dask hashes to name the task graph: the key, not the payload (hashing every
        file's bytes again took 0.2 s of CPU in a small-corpus cold build)."""
        return self.key


def extract_batch(batch: Batch, code: str) -> tuple[str, list[Any]]:
    """On a worker: the worker's extraction-code digest, and each file's (facts,
    extraction) when that digest is ``code`` (else nothing is extracted)."""
    mine = worker_code()
    if mine != code:
        return mine, []
    from pipeline.isolate import extract_file

    return mine, [extract_file(data, language) for data, language in batch.items]


@cache
def worker_code() -> str:
    """This process's extraction code and parser versions (both are in the keys)."""
    from pipeline.graph import code_digest

    return _with_parsers(code_digest()[1])


def _with_parsers(code: str) -> str:
    from pipeline.versions import parser_versions

    return f"{code} {sorted(parser_versions().items())!r}"


def _said(problem: object) -> str:
    text = " ".join(str(problem).split()) or type(problem).__name__
    if isinstance(problem, BaseException):
        text = f"{type(problem).__name__}: {text}"
    return text if len(text) <= 160 else text[:157] + "..."
