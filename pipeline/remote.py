"""The extractions a chunk lacks locally: fetched from the shared cache, else made (on the
Dask cluster when one is configured, else here), and written back where the mode allows.

Whatever fails outside this process (the cache, the cluster) costs time, never a record:
the file is extracted here, and the task's result carries one warning per topic, which
the reporter prints once per build.
"""

from __future__ import annotations

from typing import Any

from pipeline.cache import Cached, Outcome, Remote, fetch, store
from pipeline.isolate import extract_file
from pipeline.records import Extraction

NO_REMOTE = Remote()
Made = dict[str, tuple[dict[str, Any], Extraction]]  # key -> (lines and encoding, extraction)
# Extractions made in this process before its build ran (key -> made), taken by the first
# chunk task that lacks them; worker processes forked later hold them too.
_PREPARED: Made = {}

__all__ = ["NO_REMOTE", "Remote", "discard_prepared", "make_extractions", "prepare"]


def prepare(key: str, data: bytes, language: str) -> tuple[dict[str, Any], Extraction]:
    """Extract a file now, ahead of the build, and keep it for the chunk task that will
    lack ``key`` (:func:`make_extractions`), so it is not extracted twice."""
    made = _PREPARED[key] = extract_file(data, language)
    return made


def discard_prepared() -> None:
    """Forget what :func:`prepare` kept and no task took (the end of a build: a task in a
    worker process took its own copy)."""
    _PREPARED.clear()


def make_extractions(missing: dict[str, tuple[bytes, str]], code: str,
                     remote: Remote) -> tuple[Made, dict[str, Any]]:
    """Key -> extraction for every key of ``missing`` (key -> (bytes, language)), and the
    task's counts: ``extracted`` (made by this build), ``fetched``/``stored`` (shared
    cache), ``warnings`` (topic -> one line)."""
    outcome = Outcome()
    made: Made = {}
    fresh: Made = {key: _PREPARED.pop(key) for key in missing if key in _PREPARED}
    wanted = {key: language for key, (_data, language) in missing.items() if key not in fresh}
    for key, value in fetch(remote, wanted, outcome).items():
        made[key] = ({"lines": value.lines, "encoding": value.encoding}, value.extraction)
    todo = {key: item for key, item in missing.items() if key not in made and key not in fresh}
    if todo and remote.scheduler:
        from pipeline.cluster import extract_on_cluster

        fresh.update(extract_on_cluster(remote.scheduler, todo, code, outcome, remote.jobs))
    for key, (data, language) in todo.items():
        if key not in fresh:
            fresh[key] = extract_file(data, language)
    made.update(fresh)
    store(remote, ((key, missing[key][1], Cached(facts["lines"], facts["encoding"], extraction))
                   for key, (facts, extraction) in sorted(fresh.items())
                   if not any(n.kind == "internal-error" for n in extraction.notes)), outcome)
    return made, {"extracted": len(fresh), **outcome.counts()}
