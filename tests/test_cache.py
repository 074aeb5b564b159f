"""The shared record cache: a folder and S3 (a moto server on 127.0.0.1), read-through and
write-back, poisoned entries, an unreachable store, clean == incremental with a cache."""

from __future__ import annotations

import os
import random
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from buildkit import BASE_TREE, STATE, build, clean_build_snapshot, contents, make_tree, snapshot

from pipeline.cache import MODES, Remote, decode_as, decode_entry
from pipeline.config import CACHE_MODES
from pipeline.records import Extraction, Note, Symbol, extraction_from_dict
from pipeline.stateio import pack


@pytest.fixture(autouse=True)
def _fresh_stores() -> Iterator[None]:
    """Each test opens its stores anew: this process keeps one per URL, and fsspec keeps
    filesystems by their options and the thread that made them (thread idents are
    reused), so an S3 filesystem made under another test's endpoint could be used again."""
    from pipeline import cache

    def clear() -> None:
        cache.open_store.cache_clear()
        try:
            from s3fs import S3FileSystem
        except ImportError:  # the s3 extra is not installed: no S3 filesystem was made
            return
        S3FileSystem.clear_instance_cache()

    clear()
    yield
    clear()


def _site(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    make_tree(src, BASE_TREE)
    return src, tmp_path / "out"


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*.json.zst"))


def _fresh(out: Path) -> None:
    """A fresh output (another machine, a fresh clone): no local records."""
    import shutil

    shutil.rmtree(out)


def _filled(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, bytes]]:
    """A tree, a cache a readwrite build filled, and a clean build's pages."""
    src, out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    plain = clean_build_snapshot(src, out)
    build(src, out, "--cache", str(cache), "--cache-mode", "readwrite")
    return src, out, cache, plain


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_folder_cache_read_through_gives_the_same_pages(tmp_path: Path) -> None:
    src, out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    plain = clean_build_snapshot(src, out)
    first = build(src, out, "--cache", str(cache), "--cache-mode", "readwrite")
    stored = _entries(cache)
    assert first.counts["extracted"] == len(stored) == first.counts["cache_stored"] > 0
    _fresh(out)
    second = build(src, out, "--cache", str(cache))  # read: the default mode
    assert second.counts["extracted"] == 0
    assert second.counts["cache_fetched"] == len(stored)
    assert "records fetched from the shared cache" in second.stderr
    assert _entries(cache) == stored and not _warnings(second.stderr)
    assert contents(snapshot(out)) == plain


def test_modes_read_and_write_only_what_they_say(tmp_path: Path) -> None:
    src, out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    build(src, out, "--cache", str(cache))  # read: nothing is stored
    assert _entries(cache) == []
    _fresh(out)
    build(src, out, "--cache", str(cache), "--cache-mode", "write")
    stored = _entries(cache)
    assert stored
    _fresh(out)
    again = build(src, out, "--cache", str(cache), "--cache-mode", "write")  # never reads
    assert again.counts["extracted"] == len(stored) and "cache_fetched" not in again.counts
    _fresh(out)
    off = build(src, out, "--cache", str(cache), "--cache-mode", "off")
    assert off.counts["extracted"] == len(stored) and "cache_fetched" not in off.counts
    assert MODES == CACHE_MODES


def test_cache_mode_must_be_known(tmp_path: Path) -> None:
    from buildkit import run_main

    src, out = _site(tmp_path)
    result = run_main(["build", str(src), "--output", str(out), "--cache-mode", "sometimes"],
                      cwd=tmp_path)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    result = run_main(["build", str(src), "--output", str(out)], cwd=tmp_path,
                      env={"PIPELINE_CACHE_MODE": "sometimes"})
    assert result.code == 2 and "cache_mode" in result.stderr


@pytest.mark.parametrize("poison", ["garbage", "other key", "wrong types", "not compressed",
                                    "folder"])
def test_poisoned_entry_is_ignored_with_one_warning(tmp_path: Path, poison: str) -> None:
    src, out, cache, plain = _filled(tmp_path)
    entries = _entries(cache)
    for victim in entries[:2]:
        key = victim.name.removesuffix(".json.zst")
        data = {"schema": 0, "key": key}
        if poison == "garbage":
            blob = b"\x28\xb5\x2f\xfd" + random.Random(victim.name).randbytes(64)
        elif poison == "other key":
            blob = entries[-1].read_bytes()  # a valid entry, of another key
        elif poison == "wrong types":
            from pipeline.records import SCHEMA
            data = {"schema": SCHEMA, "key": key, "language": "python", "lines": 1,
                    "encoding": "utf-8",
                    "extraction": {"language": "python", "symbols": [{"kind": 1}]}}
            blob = pack(orjson.dumps(data))
        elif poison == "folder":  # a FIFO: the next test, where a regression cannot hang
            victim.unlink()
            victim.mkdir()
            continue
        else:
            blob = orjson.dumps(data)
        victim.write_bytes(blob)
    _fresh(out)
    result = build(src, out, "--cache", str(cache))
    assert result.counts["extracted"] == 2, result.counts
    assert result.counts["cache_rejected"] == 2
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1 and "ignored" in warnings[0], result.stderr
    assert contents(snapshot(out)) == plain


def test_a_folder_cache_reads_each_entry_whole_and_no_more_than_its_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries come back under their own names, however the reads are dealt out to the
    threads; one over the limit is cut one byte past it (the decoder then refuses it), and
    one that never ends (``/dev/zero`` behind a link) stops there too."""
    from pipeline import cache

    monkeypatch.setattr(cache, "MAX_ENTRY", 100)
    store = cache.FolderStore(str(tmp_path))
    names = [f"{i:02x}{i:062x}.json.zst" for i in range(40)]
    store.put_many({name: b"%d" % i * (i % 3 + 1) for i, name in enumerate(names)})
    big, endless = "ff" + "1" * 62 + ".json.zst", "ff" + "2" * 62 + ".json.zst"
    (tmp_path / "ff").mkdir()
    (tmp_path / "ff" / big).write_bytes(b"x" * 500)
    (tmp_path / "ff" / endless).symlink_to("/dev/zero")
    missing = "ee" + "3" * 62 + ".json.zst"
    got = store.get_many([*names, big, endless, missing])
    assert {n: got[n] for n in names} == {n: b"%d" % i * (i % 3 + 1)
                                          for i, n in enumerate(names)}
    assert got[big] == b"x" * 101 and got[endless] == b"\0" * 101
    assert missing not in got and len(got) == len(names) + 2


def test_a_fifo_or_a_folder_in_a_folder_cache_is_one_refused_entry(tmp_path: Path) -> None:
    """An entry replaced by a FIFO with no writer (opening it to read would wait for one
    forever) or by a folder reads as empty, which the decoder refuses; the other entries
    come back, and the cache stays in use."""
    import threading

    from pipeline import cache

    store = cache.FolderStore(str(tmp_path))
    name, fifo, folder = ("aa" + "0" * 62 + ".json.zst", "bb" + "0" * 62 + ".json.zst",
                          "bb" + "1" * 62 + ".json.zst")
    store.put_many({name: b"entry"})
    (tmp_path / "bb" / folder).mkdir(parents=True)
    os.mkfifo(tmp_path / "bb" / fifo)
    got: list[dict[str, bytes]] = []
    reader = threading.Thread(target=lambda: got.append(store.get_many([name, fifo, folder])),
                              daemon=True)
    reader.start()
    reader.join(10)
    assert got == [{name: b"entry", fifo: b"", folder: b""}]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("where", ["missing folder", "unknown protocol", "s3 nobody serves"])
def test_unusable_cache_degrades_to_local_extraction(tmp_path: Path, where: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = _site(tmp_path)
    plain = clean_build_snapshot(src, out)
    url = {"missing folder": str(tmp_path / "no-such-folder"),
           "unknown protocol": f"nosuchprotocol://{tmp_path.name}/x",
           "s3 nobody serves": f"s3://{tmp_path.name.lower().replace('_', '-')}/records"}[where]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = build(src, out, "--cache", url, "--cache-mode", "readwrite")
    assert result.code == 0
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1 and "cannot be used" in warnings[0], result.stderr
    assert result.counts["extracted"] > 0
    assert contents(snapshot(out)) == plain


def test_an_endpoint_that_never_answers_costs_a_build_the_probe_only(tmp_path: Path) -> None:
    """An S3 endpoint that accepts connections and never answers (or a firewall that drops
    them) held each request for minutes through s3fs's and botocore's retries, in every
    worker process (222 s for a build of this package's 83 files). The build asks the
    cache once, gives it up after the probe's wait (cut to 1 s here), says so in one line
    and writes the pages a build without a cache writes."""
    import subprocess
    import sys

    from buildkit import python_env

    src, out = _site(tmp_path)
    plain = clean_build_snapshot(src, out)
    short_probe = ("import sys, pipeline.cache as c; c.PROBE_SECONDS = 1.0; "
                   "from pipeline.cli import main; sys.exit(main())")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete into the backlog; none is ever read
        env = python_env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
                         AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                         AWS_DEFAULT_REGION="us-east-1")
        for jobs in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-c", short_probe, "build", str(src), "--output", str(out),
                 "--cache", "s3://silent-bucket/records", "--cache-mode", "readwrite",
                 "--jobs", jobs], capture_output=True, text=True, env=env, cwd=tmp_path,
                timeout=60)
            assert done.returncode == 0, done.stderr
            warnings = _warnings(done.stderr)
            assert warnings == ["warning: cache s3://silent-bucket/records cannot be used "
                                "(no answer in 1 s); records are extracted and pages "
                                "rendered here"], done.stderr
            assert contents(snapshot(out)) == plain
            _fresh(out)


def test_a_probe_asks_once_per_process_and_says_why(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import cache as caches

    now = [1000.0]
    asked: list[str] = []
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(caches, "ANSWERED", set())
    monkeypatch.setattr(caches, "CACHES", caches.Resting())
    original = caches.FolderStore.probe

    def counted(store: caches.FolderStore) -> None:
        asked.append(str(store.root))
        original(store)

    monkeypatch.setattr(caches.FolderStore, "probe", counted)
    folder = tmp_path / "cache"
    assert caches.probe(str(folder)) == f"{folder} is not a folder"  # no store to ask
    folder.mkdir()
    # failed a moment ago: not asked, left out again
    assert "failed less than" in caches.probe(str(folder)) and not asked
    now[0] += caches.RETRY_AFTER
    assert caches.probe(str(folder)) == "" and asked == [str(folder)]
    assert caches.probe(str(folder)) == "" and asked == [str(folder)]  # answered: not again


def test_an_unusable_cache_warns_under_only_too(tmp_path: Path) -> None:
    src, out = _site(tmp_path)
    build(src, out)
    make_tree(src, {"pkg/a.py": BASE_TREE["pkg/a.py"].replace("x + 1", "x + 5")})
    result = build(src, out, "--cache", str(tmp_path / "no-such-folder"), "--only",
                   str(src / "pkg/a.py"))
    assert result.code == 0
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1 and "cannot be used" in warnings[0], result.stderr


def test_clean_equals_incremental_with_a_cache(tmp_path: Path) -> None:
    src, out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    args = ("--cache", str(cache), "--cache-mode", "readwrite")
    build(src, out, *args)
    (src / "pkg" / "a.py").write_text('"""Module a, edited."""\n\n\ndef h():\n    return 3\n')
    (src / "pkg" / "c.py").write_text("import pkg.a\n")
    (src / "notes.txt").unlink()
    incremental = build(src, out, *args)
    assert incremental.counts["extracted"] > 0
    assert contents(snapshot(out)) == clean_build_snapshot(src, out, *args)
    assert contents(snapshot(out)) == clean_build_snapshot(src, out)
    _fresh(out)
    fetched = build(src, out, *args)
    assert fetched.counts["extracted"] == 0
    records = {p.name: p.read_bytes() for p in (out / STATE / "records").iterdir()}
    _fresh(out)
    build(src, out)
    assert records == {p.name: p.read_bytes() for p in (out / STATE / "records").iterdir()}


def test_decode_as_checks_fields_and_types() -> None:
    good = orjson.loads(orjson.dumps(Extraction(
        "python", symbols=(Symbol("class", "A", 1),), notes=(Note("x", "y"),))))
    assert decode_as(good, Extraction) == extraction_from_dict(good)
    for bad in ({**good, "extra": 1}, {**good, "has_main": 1},
                {**good, "symbols": [{"kind": "class", "name": "A", "line": "1"}]},
                {**good, "symbols": [{"kind": "class", "name": "A"}]},  # no line
                {**good, "tests": "abc"}, [good]):
        with pytest.raises(ValueError):
            decode_as(bad, Extraction)


@pytest.mark.parametrize(("language", "text"), [
    ("python", '"""Doc."""\nimport os\nfrom a import (b, c)\n__all__ = ["f"]\n\n\n'
               "@cache\ndef f(x: int = 1) -> int:\n    return eval(x)\n\n\nclass K(Base):\n"
               "    def m(self):\n        pass\n\n\nif __name__ == '__main__':\n    f()\n"),
    ("cpp", '#include <vector>\n#include "a.h"\nnamespace n {\ntemplate <class T>\n'
            "struct S { int f(int); };\n}\n#define M(x) x\n"),
    ("markdown", "# Title\n\nSee [a](a.md) and `code_word`.\n\n```python\nx = 1\n```\n"),
])
def test_decode_as_builds_the_records_extraction_from_dict_builds(language: str,
                                                                  text: str) -> None:
    """One walk checks and builds: the same records as the unchecked rebuild."""
    from pipeline.extract import extract

    data = orjson.loads(orjson.dumps(extract(text, language)))
    decoded = decode_as(data, Extraction)
    assert decoded == extraction_from_dict(data)
    assert orjson.dumps(decoded) == orjson.dumps(extraction_from_dict(data))
    with pytest.raises(ValueError):
        decode_as({**data, "imports": [{"kind": "import"}] + data["imports"][:0] + [[1]]},
                  Extraction)


def test_decode_entry_checks_the_key_echo_and_schema() -> None:
    from pipeline.cache import Cached, encode_entry

    blob = encode_entry("k1", "python", Cached(3, "utf-8", Extraction("python")))
    assert decode_entry(blob, "k1", "python").lines == 3
    for key, language in (("k2", "python"), ("k1", "c")):
        with pytest.raises(ValueError):
            decode_entry(blob, key, language)
    assert Remote("x", "read").reads and not Remote("x", "read").writes
    assert Remote("x", "write").writes and not Remote("", "readwrite").reads


# --------------------------------------------------------------------------- S3

@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real S3 API server (moto's) on 127.0.0.1, for this test only."""
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception as error:  # the server cannot start here
        pytest.skip(f"moto's S3 server cannot start: {error}")
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"
                       }.items():
        monkeypatch.setenv(key, value)
    try:
        yield endpoint
    finally:
        server.stop()


def test_s3_cache_through_a_local_s3_server(tmp_path: Path, s3_endpoint: str) -> None:
    import boto3

    bucket = "records-" + tmp_path.name.lower().replace("_", "-")[-30:]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/ci"
    src, out = _site(tmp_path)
    plain = clean_build_snapshot(src, out)
    first = build(src, out, "--cache", url, "--cache-mode", "readwrite")
    assert not _warnings(first.stderr), first.stderr
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="ci/")["Contents"]
    records = [o["Key"] for o in listed if o["Key"].endswith(".json.zst")]
    pages = [o["Key"] for o in listed if o["Key"].endswith(".pages.zst")]
    assert len(records) + len(pages) == len(listed)
    assert len(records) == first.counts["extracted"] == first.counts["cache_stored"]
    assert len(pages) == first.counts["cache_pages_stored"] > 0
    _fresh(out)
    second = build(src, out, "--cache", url)
    assert second.counts["extracted"] == 0, second.stderr
    assert second.counts["cache_fetched"] == len(records)
    assert second.counts["cache_pages_fetched"] == len(pages)
    assert contents(snapshot(out)) == plain
    # a poisoned object: ignored with one warning, the file extracted here
    victim = records[0]
    s3.put_object(Bucket=bucket, Key=victim, Body=b"\x28\xb5\x2f\xfd not a frame")
    _fresh(out)
    third = build(src, out, "--cache", url)
    assert third.counts["extracted"] == 1 and len(_warnings(third.stderr)) == 1
    assert contents(snapshot(out)) == plain


def test_a_bucket_that_does_not_exist_is_said_once(tmp_path: Path, s3_endpoint: str) -> None:
    """A misspelt bucket in the developers' ``read`` mode: every fetch is a miss, which
    alone says nothing (no put fails in that mode). The build's probe tells the bucket's
    absence from a missing entry, and the build says so in one line."""
    src, out = _site(tmp_path)
    plain = clean_build_snapshot(src, out)
    result = build(src, out, "--cache", "s3://no-such-bucket-here/records")
    assert result.code == 0, result.stderr
    assert _warnings(result.stderr) == [
        "warning: cache s3://no-such-bucket-here/records cannot be used (bucket "
        "no-such-bucket-here does not exist); records are extracted and pages rendered "
        "here"], result.stderr
    assert contents(snapshot(out)) == plain


def test_a_cache_that_refuses_writes_is_still_read(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``readwrite`` build against a cache it may only read (a read-only mount, a bucket
    this build's credentials can only read): the first refused put left the rest of the
    build to extract and render everything. Now only the writes rest: the build fetches
    all a read-only build fetches, and says once that the cache cannot be written."""
    from pipeline import cache as caches

    monkeypatch.setattr(caches, "CACHES", caches.Resting())
    src, out, cache, _plain = _filled(tmp_path)
    # a file the cache lacks in every folder: each chunk task misses, extracts, puts
    make_tree(src, {f"{folder}added.py": "ADDED = 1\n" for folder in ("pkg/", "docs/", "")})
    plain = clean_build_snapshot(src, out)
    _fresh(out)
    reading = build(src, out, "--cache", str(cache))
    _fresh(out)

    def refused(self: object, items: dict[str, bytes]) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(caches.FolderStore, "put_many", refused)
    result = build(src, out, "--cache", str(cache), "--cache-mode", "readwrite")
    assert reading.counts["cache_fetched"] > 0
    for count in ("cache_fetched", "cache_pages_fetched", "extracted"):
        assert result.counts.get(count, 0) == reading.counts.get(count, 0), (count, result.stderr)
    assert _warnings(result.stderr) == [
        f"warning: cache {cache} cannot be written ([Errno 30] Read-only file system); it "
        "is still read, and what this build made is kept here only"], result.stderr
    assert contents(snapshot(out)) == plain


def test_a_failed_cache_rests_then_is_tried_again(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived process (``watch``) uses the cache again once it is back: a failure
    leaves it alone for ``RETRY_AFTER`` seconds, not for the rest of the process."""
    from pipeline import cache as caches

    now = [1000.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(caches, "CACHES", caches.Resting())
    folder = tmp_path / "mounted-later"
    (tmp_path / "mounted-later").write_text("not a folder yet\n")
    remote = Remote(str(folder), "readwrite")
    value = caches.Cached(1, "utf-8", Extraction(language="python"))
    key = "ab" * 32

    first = caches.Outcome()
    caches.store(remote, [(key, "python", value)], first)
    assert first.stored == 0 and "cannot be used" in (first.warnings or {})["cache-unusable"]
    folder.unlink()
    folder.mkdir()
    now[0] += caches.RETRY_AFTER / 2
    resting = caches.Outcome()
    caches.store(remote, [(key, "python", value)], resting)
    assert resting.stored == 0 and not resting.warnings  # not tried while it rests
    now[0] += caches.RETRY_AFTER / 2
    back = caches.Outcome()
    caches.store(remote, [(key, "python", value)], back)
    assert back.stored == 1 and not back.warnings
    assert caches.fetch(remote, {key: "python"}, caches.Outcome()) == {key: value}


def _page_entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.pages.zst"))


def test_rendered_pages_come_from_the_cache_into_the_same_places(tmp_path: Path) -> None:
    """A fresh output at the same place (a CI runner's workspace), or in the same layout
    anywhere else, takes every file's pages from the cache, as its records: nothing
    extracted or rendered, the same bytes as a clean build there. An output placed
    otherwise towards the sources has other links in its pages: their stamps differ, and
    they are rendered (its records still come from the cache)."""
    from pipeline import render, render_folders

    src, out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    plain = clean_build_snapshot(src, out)
    first = build(src, out, "--cache", str(cache), "--cache-mode", "readwrite")
    stored = _page_entries(cache)  # per file, and per folder of each layer
    assert len(stored) == first.counts["cache_pages_stored"] > first.counts["extracted"]
    _fresh(out)
    calls = []
    original = render.render_file_pages

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    folder_pages = render_folders.render_folder_pages

    def counted_folder(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return folder_pages(*args, **kwargs)  # type: ignore[arg-type]

    render.render_file_pages = counted  # type: ignore[assignment]
    render_folders.render_folder_pages = counted_folder  # type: ignore[assignment]
    try:
        second = build(src, out, "--cache", str(cache))
    finally:
        render.render_file_pages = original
        render_folders.render_folder_pages = folder_pages
    assert second.counts["cache_pages_fetched"] == len(stored) and not calls
    assert "pages fetched from the shared cache" in second.stderr
    assert contents(snapshot(out)) == plain and _page_entries(cache) == stored
    # the same layout elsewhere (another runner's workspace, a developer's clone)
    moved = tmp_path / "clone" / "work"
    shutil.copytree(src, moved / src.name)
    there = moved / out.name
    here = clean_build_snapshot(moved / src.name, there)
    taken = build(moved / src.name, there, "--cache", str(cache))
    assert taken.counts["extracted"] == 0
    assert taken.counts["cache_pages_fetched"] == len(stored)
    assert contents(snapshot(there)) == here
    # another layout: the pages' links to the sources differ, so they are rendered here
    deeper = tmp_path / "deeper" / out.name
    deeper.parent.mkdir()
    other = build(src, deeper, "--cache", str(cache))
    # the sources' records come from the cache; only the pages of pages are new bytes
    assert 0 < other.counts["extracted"] < first.counts["extracted"]
    assert "cache_pages_fetched" not in other.counts
    assert contents(snapshot(deeper)) == clean_build_snapshot(src, deeper)


def test_a_poisoned_page_entry_is_rendered_here_with_one_warning(tmp_path: Path) -> None:
    src, out, cache, plain = _filled(tmp_path)
    entries = _page_entries(cache)
    entries[0].write_bytes(entries[1].read_bytes())  # valid, of another stamp
    entries[2].write_bytes(pack(orjson.dumps({"schema": 0, "pages": ["# x\n", 3]})))
    _fresh(out)
    result = build(src, out, "--cache", str(cache))
    assert result.counts["cache_pages_rejected"] == 2
    assert result.counts["cache_pages_fetched"] == len(entries) - 2
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1 and "ignored" in warnings[0], result.stderr
    assert contents(snapshot(out)) == plain


def test_page_stamps_see_the_output_as_the_pages_links_do() -> None:
    """Two outputs whose sites share a key give every page the same links to the sources:
    checked on every pair of folders up to three levels deep (over three names), every
    page of a few folders and every source of a few. And outputs beside each other
    (``runs/0/out``, ``runs/1/out``) share their keys."""
    import itertools
    from collections import defaultdict

    from pipeline.graph import site_key
    from pipeline.site import PageSite

    def site(source: str, output: str) -> PageSite:
        return PageSite(source_root=source, output_root=output, mirror="out", project="p",
                        roles=(), max_source_bytes=1, max_tests=1, max_related=1)

    names = ("a", "b", "out")
    folders = ["/" + "/".join(p) for n in (1, 2, 3) for p in itertools.product(names, repeat=n)]
    pages = ("f_docs.md", "a/f_docs.md", "out/b/f_docs.md", "b/a/out/f_kw.md")
    sources = ("f", "a/f", "out/f", "a/b/f", "b/out/a/f")
    groups: dict[tuple[object, ...], set[tuple[str, ...]]] = defaultdict(set)
    for source, output in itertools.permutations(folders, 2):
        made = site(source, output)
        links = tuple(made.source_link(page, path, 1) for page in pages for path in sources)
        groups[site_key(made)].add(links)
    assert all(len(links) == 1 for links in groups.values())
    assert len(groups) < len(folders) * (len(folders) - 1) / 4  # keys are shared widely
    assert site_key(site("/w/src", "/w/runs/0/out")) == site_key(site("/w/src", "/w/runs/1/out"))
    assert site_key(site("/w/src", "/w/src/x/out")) != site_key(site("/w/src", "/w/src/y/out"))


def test_outputs_beside_each_other_take_their_pages_from_the_cache(tmp_path: Path) -> None:
    """A build into ``runs/1/out`` takes every page that a build into ``runs/0/out`` stored
    (their links to the sources are alike): nothing extracted, nothing rendered, the bytes
    of a clean build there."""
    src, _out = _site(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    for run in ("0", "1"):
        (tmp_path / "runs" / run).mkdir(parents=True)
    first = build(src, tmp_path / "runs" / "0" / "out", "--cache", str(cache),
                  "--cache-mode", "readwrite")
    stored = _page_entries(cache)
    assert len(stored) == first.counts["cache_pages_stored"]
    there = tmp_path / "runs" / "1" / "out"
    taken = build(src, there, "--cache", str(cache))
    assert taken.counts["extracted"] == 0
    assert taken.counts["cache_pages_fetched"] == len(stored)
    assert contents(snapshot(there)) == clean_build_snapshot(src, there)
