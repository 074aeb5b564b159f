"""Extraction on a Dask cluster started by the test on 127.0.0.1 with Dask's own commands
(``dask scheduler``, two ``dask worker``): same pages as a serial build, a worker killed
mid-build, an unreachable scheduler."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from buildkit import (
    BASE_TREE,
    STATE,
    build,
    clean_build_snapshot,
    contents,
    make_tree,
    python_env,
    run_main,
    snapshot,
)

from pipeline import schedprobe

pytest.importorskip("distributed")

START_SECONDS = 60
BUILD_SECONDS = 180


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


def _dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=handle,
                                stderr=subprocess.STDOUT, env=python_env(),
                                start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A scheduler and two single-threaded workers without nannies (a killed worker stays
    dead), on 127.0.0.1, stopped after the test."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(_dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(folder / "s.json"),
                             log=folder / "scheduler.log"))
        address = _wait_for(lambda: json.loads((folder / "s.json").read_text())["address"])
        for name in ("w1", "w2"):
            started.append(_dask("worker", address, "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard", "--name", name, log=folder / f"{name}.log"))
        _wait_for(lambda: all("Registered to" in (folder / f"{n}.log").read_text()
                              for n in ("w1", "w2")) or None)
        yield Cluster(address, started[0], started[1:])
    finally:
        for process in started:
            _stop(process)


def _wait_for(probe: object) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            found = probe()  # type: ignore[operator]
        except (OSError, ValueError, KeyError):
            found = None
        if found:
            return str(found)
        time.sleep(0.2)
    pytest.skip("the Dask cluster did not start in time")


def _tree(count: int) -> dict[str, str]:
    """Python files in several folders (one chunk each), enough work to kill a worker
    while some is left."""
    body = "".join(f"def f{i}(x: int = {i}) -> int:\n    '''Doc {i}.'''\n    return x + {i}\n\n"
                   for i in range(60))
    return {**BASE_TREE, **{f"p{n % 6}/m{n}.py": f'"""Module {n}."""\n{body}'
                            for n in range(count)}}


def test_cluster_build_equals_serial_build(tmp_path: Path, cluster: Cluster) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _tree(24))  # folders worth a trip to the cluster, and small ones
    serial = clean_build_snapshot(src, out)
    done = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src), "--output",
                           str(out), "--scheduler", cluster.address, "--jobs", "2"],
                          capture_output=True, text=True, timeout=BUILD_SECONDS,
                          env=python_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr, done.stderr
    extracted = re.search(r"files extracted (\d+); of them on the cluster (\d+)", done.stderr)
    assert extracted and 0 < int(extracted[2]) < int(extracted[1]), done.stderr
    assert contents(snapshot(out)) == serial


def _build_killing(command: list[str], out: Path, cwd: Path,
                   victim: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Run a build (``command``), kill ``victim`` (a worker, the scheduler) once the first
    chunk's records are in while the build still runs, and wait for the build: its exit
    code and standard error."""
    build_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=python_env(), cwd=cwd)
    try:
        records = out / STATE / "records"
        deadline = time.monotonic() + BUILD_SECONDS
        while not (records.is_dir() and any(records.iterdir())):  # the first chunk is in
            assert build_process.poll() is None, build_process.communicate()
            assert time.monotonic() < deadline, "no chunk was extracted"
            time.sleep(0.05)
        assert build_process.poll() is None, "the build ended before the kill"
        _stop(victim)
        _out, err = build_process.communicate(timeout=BUILD_SECONDS)
    finally:
        if build_process.poll() is None:
            build_process.kill()
            build_process.wait()
    return build_process.returncode, err


def test_a_worker_killed_mid_build_has_its_work_redone(tmp_path: Path,
                                                       cluster: Cluster) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _tree(120))
    serial = clean_build_snapshot(src, out, "--depth", "1")
    code, err = _build_killing(
        [sys.executable, "-m", "pipeline", "build", str(src), "--output", str(out),
         "--depth", "1", "--scheduler", cluster.address], out, tmp_path, cluster.workers[0])
    assert code == 0, err
    assert contents(snapshot(out)) == serial


def test_a_scheduler_killed_mid_build_leaves_the_files_here(tmp_path: Path,
                                                             cluster: Cluster) -> None:
    """The chunk tasks extract here what the cluster did not return, say so in a warning
    line, and the build succeeds with a serial build's pages; nothing of Dask's own
    logging (its clients' failed reconnects, with tracebacks) reaches the output. The
    clients' reconnect wait is cut to 2 s (10 s in a build)."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, _tree(120))
    serial = clean_build_snapshot(src, out, "--depth", "1")
    short_wait = ("import sys, pipeline.cluster as c; c.CONNECT_SECONDS = 2; "
                  "from pipeline.cli import main; sys.exit(main())")
    code, err = _build_killing(
        [sys.executable, "-c", short_wait, "build", str(src), "--output", str(out),
         "--depth", "1", "--jobs", "2", "--scheduler", cluster.address], out, tmp_path,
        cluster.scheduler)
    assert code == 0, err
    assert "Traceback" not in err and "distributed." not in err, err
    # (a warning when some chunk task still waited on the cluster: most runs, not all)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert all("cannot be used" in line and "extracted here" in line for line in warnings), err
    assert contents(snapshot(out)) == serial


def test_a_scheduler_without_workers_does_not_hold_the_build(tmp_path: Path) -> None:
    """Tasks given to a scheduler that has no worker wait for one; the build extracts here
    instead, says why once, and writes the same pages."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                      "--scheduler-file", str(folder / "s.json"), log=folder / "scheduler.log")
    try:
        address = _wait_for(lambda: json.loads((folder / "s.json").read_text())["address"])
        src, out = tmp_path / "src", tmp_path / "out"
        make_tree(src, _tree(24))
        serial = clean_build_snapshot(src, out)
        done = subprocess.run([sys.executable, "-m", "pipeline", "build", str(src),
                               "--output", str(out), "--scheduler", address, "--jobs", "2"],
                              capture_output=True, text=True, timeout=BUILD_SECONDS,
                              env=python_env(), cwd=tmp_path)
    finally:
        _stop(scheduler)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("has no workers; files are extracted here") == 1, done.stderr
    assert "of them on the cluster" not in done.stderr
    assert contents(snapshot(out)) == serial


def test_unreachable_scheduler_exits_2_with_one_line(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_main(["build", str(src), "--output", str(out), "--scheduler",
                       f"tcp://127.0.0.1:{port}"], cwd=tmp_path)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "scheduler" in lines[0] and "unreachable" in lines[0], lines
    assert not (out / STATE / "records").exists()


# ``python -m pipeline`` with the scheduler probe's wait cut short, so a command that
# still hangs in Dask's client (no timeout there: dask/distributed#8071) fails the test
# by its timeout instead of holding the suite for 5 s a command.
_SHORT_PROBE = ("import sys, pipeline.schedprobe as c; c.PROBE_SECONDS = 0.3; "
                "from pipeline.cli import main; sys.exit(main())")


@pytest.mark.parametrize("command", ["build", "check", "watch"])
def test_a_port_that_never_answers_as_a_scheduler_exits_2_with_one_line(
        tmp_path: Path, command: str) -> None:
    """A port that accepts connections and stays silent, as a dashboard's HTTP port does
    (8787, beside the scheduler's 8786): Dask's client would wait for its handshake
    forever; every command that takes ``--scheduler`` says so in one line and exits 2."""
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes connections into the backlog: none is read
        port = silent.getsockname()[1]
        done = subprocess.run([sys.executable, "-c", _SHORT_PROBE, command, str(src),
                               "--output", str(out), "--scheduler", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, env=python_env(), cwd=tmp_path,
                              timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0], lines
    assert "no Dask scheduler answers within 0.3 s" in lines[0], lines
    assert not (out / STATE / "records").exists()


def test_a_service_that_speaks_another_protocol_is_no_scheduler() -> None:
    """A server that greets first, but not with a Dask message (an SSH banner), and one
    that closes at once."""

    for greeting in (b"SSH-2.0-OpenSSH_9.6\r\n", b""):
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            address = f"127.0.0.1:{server.getsockname()[1]}"
            answer: list[str] = []
            probe = threading.Thread(target=lambda a=address, found=answer: found.append(
                schedprobe.unreachable(a)))
            probe.start()
            peer, _ = server.accept()
            peer.sendall(greeting)
            peer.close()
            probe.join(timeout=30)
        expected = "does not speak Dask's protocol" if greeting else "closed without"
        assert answer and expected in answer[0], answer


def test_without_a_scheduler_dask_is_never_imported(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    make_tree(src, BASE_TREE)
    build(src, out)  # warm: the next build is in a fresh process
    (src / "pkg" / "b.py").write_text("def g():\n    return 3\n")
    script = ("import sys\nfrom pipeline.cli import main\n"
              f"code = main(['build', {str(src)!r}, '--output', {str(out)!r}])\n"
              "print(sorted(m for m in ('dask', 'distributed', 'fsspec', 's3fs')"
              " if m in sys.modules), code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=python_env())
    assert done.stdout.split() == ["[]", "0"], done.stderr


def test_a_worker_with_other_extraction_code_extracts_nothing() -> None:
    from pipeline.cluster import Batch, extract_batch, worker_code

    mine = worker_code()
    assert extract_batch(Batch("k", ((b"import os\n", "python"),)), "other code") == (mine, [])
    code, results = extract_batch(
        Batch("k", ((b"import os\n", "python"), (b"# T\n", "markdown"))), mine)
    assert code == mine and len(results) == 2
    facts, extraction = results[0]
    assert facts["lines"] == 1 and extraction.imports


def test_batches_balance_bytes_and_are_deterministic() -> None:
    from pipeline.cluster import batches

    todo = {f"k{i:03d}": (b"x" * (1000 * (i % 7 + 1)), "python") for i in range(200)}
    groups = batches(todo, 4)
    assert len(groups) == 4 and sorted(k for g in groups for k in g) == sorted(todo)
    weights = [sum(len(todo[k][0]) for k in g) for g in groups]
    assert max(weights) - min(weights) <= 7000, weights  # within the largest file
    assert groups == batches(dict(reversed(todo.items())), 4)
    assert all(g == sorted(g) for g in groups) and groups == sorted(groups)
    assert batches({"a": (b"1", "python")}, 4) == [["a"]] and batches({}, 4) == []


def test_a_scheduler_that_failed_rests_then_is_tried_with_a_new_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As the shared cache: one failure is not the end of the cluster for a long-lived
    process (``watch``), and the failed client is not reused."""
    from pipeline import cache, cluster

    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(cluster, "SCHEDULERS", cache.Resting())
    tried: list[str] = []
    closed: list[str] = []

    class Dead:
        def close(self) -> None:
            closed.append("closed")

    def client(address: str) -> object:
        tried.append(address)
        cluster._CLIENTS[address] = Dead()
        raise OSError("connection refused")

    monkeypatch.setattr(cluster, "_client", client)
    todo = _heavy()  # worth a trip to the cluster
    first = cache.Outcome()
    assert cluster.extract_on_cluster("tcp://nowhere:1", todo, "code", first) == {}
    assert "cannot be used" in (first.warnings or {})["cluster"]
    assert closed == ["closed"] and "tcp://nowhere:1" not in cluster._CLIENTS
    resting = cache.Outcome()
    assert cluster.extract_on_cluster("tcp://nowhere:1", todo, "code", resting) == {}
    assert tried == ["tcp://nowhere:1"] and not resting.warnings  # not tried while it rests
    now[0] += cache.RETRY_AFTER
    cluster.extract_on_cluster("tcp://nowhere:1", todo, "code", cache.Outcome())
    assert tried == ["tcp://nowhere:1"] * 2


def test_a_forked_worker_process_does_not_use_its_parents_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """doit's worker processes are forked: a client the parent made (``watch`` after an
    in-process rebuild) has its sockets and event loop in the parent, so a child makes its
    own."""
    from pipeline import cluster

    monkeypatch.setitem(cluster._CLIENTS, "tcp://parent:1", object())
    monkeypatch.setattr(cluster, "_AHEAD", ["a future shipped ahead"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it sees, and leave without running cleanups
        os.write(write, b"%d %d %r" % (len(cluster._CLIENTS), len(cluster._AHEAD),
                                       cluster._INHERITED[-1]))
        os._exit(0)
    os.close(write)
    seen = os.read(read, 100)
    os.close(read)
    os.waitpid(pid, 0)
    # the child neither uses the parent's client nor releases the parent's futures (which
    # would talk to it): it keeps its copies aside
    assert seen == b"0 0 ['a future shipped ahead']"
    assert "tcp://parent:1" in cluster._CLIENTS  # the parent keeps its own
    assert cluster._AHEAD == ["a future shipped ahead"]


class _Future:
    status = "finished"

    def __init__(self, value: object) -> None:
        self.value = value


class _Client:
    """Dask's client as the cluster code uses it, each batch run here once per task key
    (as the scheduler keeps one task per key, whichever client submits it)."""

    def __init__(self) -> None:
        self.maps: list[list[str]] = []
        self.priorities: list[int] = []
        self.tasks: list[Any] = []
        self.runs: dict[str, object] = {}
        self.workers: dict[str, object] = {"a": {}, "b": {}}
        self.connects = 0

    def connected(self) -> _Client:
        self.connects += 1
        return self

    def scheduler_info(self) -> dict[str, object]:
        return {"workers": self.workers}

    def map(self, func: object, tasks: list[Any], code: str, key: list[str],
            priority: int = 0) -> list[_Future]:
        from pipeline.cluster import extract_batch

        assert key == [task.key for task in tasks]
        self.maps.append(key)
        self.priorities.append(priority)
        self.tasks.extend(tasks)
        for task in tasks:
            self.runs.setdefault(task.key, extract_batch(task, code))
        return [_Future(self.runs[task.key]) for task in tasks]

    def gather(self, futures: dict[int, _Future], errors: str) -> dict[int, object]:
        """Dask's gather of a dict with ``errors="skip"``: a failed future's value is None."""
        assert errors == "skip"
        return {index: future.value if future.status == "finished" else None
                for index, future in futures.items()}


def _fake_cluster(monkeypatch: pytest.MonkeyPatch) -> _Client:
    from pipeline import cache, cluster

    client = _Client()
    monkeypatch.setattr(cluster, "SCHEDULERS", cache.Resting())
    monkeypatch.setattr(cluster, "_client", lambda address: client.connected())
    monkeypatch.setattr(cluster, "_AHEAD", [])
    monkeypatch.setattr(cluster, "_AHEAD_KEYS", set())
    monkeypatch.setattr(schedprobe, "unreachable", lambda address: "")
    return client


def _module(functions: int) -> bytes:
    return "".join(f"def f{i}(x):\n    return x + {i}\n\n\n"
                   for i in range(functions)).encode()


def _heavy(files: int = 32, functions: int = 600) -> dict[str, tuple[bytes, str]]:
    """Python that two workers return sooner than one process extracts it, even counting
    the import of ``distributed`` and the client's connection (670 KB: about 0.67 s here,
    0.58 s there)."""
    return {f"l{i}": (_module(functions + i), "python") for i in range(files)}


@pytest.mark.parametrize("gone", ["closed", "silent"])
def test_no_client_is_made_for_a_scheduler_gone_since_the_build_began(
        monkeypatch: pytest.MonkeyPatch, gone: str) -> None:
    """A chunk task (or ``watch``'s later build) whose scheduler has gone since the build's
    probe: a closed port made Dask's client retry for its connect timeout (10 s a process),
    and a port left to a service that stays silent held the task forever. The scheduler is
    probed before a client is made: the chunk stays here, with one warning, at once."""
    from pipeline import cache, cluster

    monkeypatch.setattr(cluster, "SCHEDULERS", cache.Resting())
    monkeypatch.setattr(cluster, "_CLIENTS", {})
    monkeypatch.setattr(schedprobe, "PROBE_SECONDS", 0.3)
    code = cluster.worker_code()
    outcome = cache.Outcome()
    answer: list[object] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        if gone == "silent":
            server.listen(8)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        if gone == "closed":
            server.close()
        started = time.monotonic()
        task = threading.Thread(daemon=True, target=lambda: answer.append(
            cluster.extract_on_cluster(address, _heavy(), code, outcome)))
        task.start()
        task.join(timeout=60)
        took = time.monotonic() - started
    assert not task.is_alive(), "the chunk task waits on the scheduler"
    assert answer == [{}] and took < 5, took
    assert "unreachable" in (outcome.warnings or {})["cluster"], outcome.warnings


def test_a_scheduler_that_answered_a_moment_ago_is_not_asked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's probe, then the build's client right after it (and its worker
    processes' clients, forked meanwhile): one probe, not one each; a client made later
    asks again."""
    import distributed

    from pipeline import cluster

    now = [1000.0]
    asked: list[str] = []
    monkeypatch.setattr(schedprobe.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(schedprobe, "_ANSWERED", {})
    monkeypatch.setattr(cluster, "_CLIENTS", {})
    monkeypatch.setattr(schedprobe, "_probe", lambda address: asked.append(address) or "")
    monkeypatch.setattr(distributed, "Client", lambda *args, **kwargs: object())
    assert schedprobe.unreachable("tcp://here:1") == "" and asked == ["tcp://here:1"]
    now[0] += 1
    cluster._client("tcp://here:1")
    assert asked == ["tcp://here:1"]
    cluster._CLIENTS.clear()  # a client dropped after a failure, made again later
    now[0] += schedprobe.ANSWER_SECONDS
    cluster._client("tcp://here:1")
    assert asked == ["tcp://here:1"] * 2


def test_a_chunk_cheaper_than_its_trip_to_the_cluster_is_extracted_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A few small files cost less CPU to extract than a round trip through the scheduler:
    they never reach the client; a chunk worth the trip goes, and is counted."""
    from pipeline import cache, cluster
    from pipeline.extract import extractor_for

    client = _fake_cluster(monkeypatch)
    code = cluster.worker_code().split(" ", 1)[0]
    extractor_for("python")  # loaded, as in a build's process (else its load is counted)
    small = {f"s{i}": (b"x = 1\n" * 20, "python") for i in range(3)}
    assert cluster.local_seconds(small) < cluster.SHIP_ABOVE
    outcome = cache.Outcome()
    assert cluster.extract_on_cluster("tcp://here:1", small, code, outcome) == {}
    assert client.maps == [] and "cluster_extracted" not in outcome.counts()
    pages = {f"p{i}": (b"# Title\n\ntext\n" * 300, "markdown") for i in range(3)}
    assert cluster.local_seconds(pages) < cluster.SHIP_ABOVE  # pages extract fast
    assert cluster.extract_on_cluster("tcp://here:1", pages, code, outcome) == {}
    large = _heavy()
    assert cluster.local_seconds(large) > cluster.SHIP_ABOVE
    made = cluster.extract_on_cluster("tcp://here:1", large, code, outcome)
    assert sorted(made) == sorted(large) and [len(m) for m in client.maps] == [4]
    assert outcome.counts()["cluster_extracted"] == 32 and not outcome.warnings


def test_a_chunk_task_ships_only_what_the_cluster_returns_sooner(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk task waits for what it ships. Pages extract fast: with a worker per chunk
    task (two of each) a chunk of pages is extracted here; with four workers per chunk task
    its batches run side by side there, and it goes."""
    from pipeline import cache, cluster

    client = _fake_cluster(monkeypatch)
    code = cluster.worker_code().split(" ", 1)[0]
    pages = {f"p{i}": (b"# Title\n\n" + b"Some text, `code`.\n" * 2500, "markdown")
             for i in range(32)}  # 1.5 MB: 0.15 s here, by the rate
    assert cluster.local_seconds(pages) > 0.1
    outcome = cache.Outcome()
    assert cluster.extract_on_cluster("tcp://here:1", pages, code, outcome, sharing=2) == {}
    assert client.maps == []
    client.workers = {f"w{i}": {} for i in range(8)}
    made = cluster.extract_on_cluster("tcp://here:1", pages, code, outcome, sharing=2)
    assert sorted(made) == sorted(pages) and [len(m) for m in client.maps] == [4]


def test_loading_libcst_counts_in_what_extracting_here_costs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has not loaded libcst would load it for one small Python file: the
    chunk is then worth a trip; a one-file edit still stays here in a process that has no
    client yet (importing Dask and connecting cost more than libcst)."""
    from pipeline import cluster

    one = {"k": (b"x = 1\n" * 20, "python")}
    monkeypatch.setitem(sys.modules, "pipeline.extract.python", sys.modules.get(
        "pipeline.extract.python") or object())
    loaded = cluster.local_seconds(one)
    monkeypatch.delitem(sys.modules, "pipeline.extract.python")
    assert cluster.local_seconds(one) == pytest.approx(
        loaded + cluster.LOAD_SECONDS["python"])
    here, work = cluster.local_seconds(one), cluster._work_seconds(one)
    assert here >= cluster.SHIP_ABOVE  # worth a trip
    monkeypatch.setattr(cluster, "_CLIENTS", {})
    monkeypatch.delitem(sys.modules, "distributed", raising=False)  # a doit worker's view
    assert not cluster._sooner_there("tcp://here:1", work, here, 1)
    monkeypatch.setitem(cluster._CLIENTS, "tcp://here:1", object())
    assert cluster._sooner_there("tcp://here:1", work, here, 1)  # connected: 25 ms < 0.1 s


def test_a_scheduler_without_workers_leaves_the_files_to_this_machine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks submitted to a scheduler with no worker wait for one: the build with them."""
    from pipeline import cache, cluster

    client = _fake_cluster(monkeypatch)
    client.workers = {}
    large = _heavy()
    outcome = cache.Outcome()
    code = cluster.worker_code().split(" ", 1)[0]
    assert cluster.extract_on_cluster("tcp://here:1", large, code, outcome) == {}
    assert "has no workers" in (outcome.warnings or {})["cluster-idle"]
    assert cluster.ship_ahead("tcp://here:1", [large], code) == 0
    assert client.maps == [] and cluster._AHEAD == []


def test_a_cold_build_ships_its_sources_ahead_and_its_chunk_tasks_take_those_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before doit runs, the sources' chunks go to the cluster whole (each chunk task alone
    would keep only ``--jobs`` chunks on it at once); a chunk task then submits the very
    task keys already there, and nothing is extracted twice. Only what a chunk will lack:
    none of an output that has records."""
    from pipeline import actions, cluster, session
    from pipeline.config import make_config
    from pipeline.graph import build_graph

    client = _fake_cluster(monkeypatch)
    tree = {f"big/m{i:02d}.py": _module(120 + i).decode() for i in range(16)}
    tree |= {"big/same.py": tree["big/m00.py"], "tiny/t.py": "x = 1\n", "doc/a.md": "# A\n"}
    make_tree(tmp_path / "src", tree)
    config = make_config({"source": str(tmp_path / "src"), "output": str(tmp_path / "out"),
                          "scheduler": "tcp://here:1"})
    graph = build_graph(config, save_cache=False)
    monkeypatch.delitem(sys.modules, "pipeline.extract.python", raising=False)
    assert session.ship_ahead(graph)
    ahead = [key for keys in client.maps for key in keys]
    assert len(client.maps) == 1 and len(ahead) == 2  # the big folder: 16 contents, 2 tasks
    assert len(cluster._AHEAD) == 2
    # tiny/t.py stays here, and libcst is loaded for it before doit forks its workers
    assert "pipeline.extract.python" in sys.modules
    asked: list[dict[str, tuple[bytes, str]]] = []
    make = actions.make_extractions
    monkeypatch.setattr(actions, "make_extractions",
                        lambda missing, code, remote: asked.append(missing) or make(
                            missing, code, remote))
    done = build(tmp_path / "src", tmp_path / "out", "--scheduler", "tcp://here:1")
    assert done.code == 0 and "warning" not in done.stderr, done.stderr
    big = [m for m in asked if any(data == _module(120) for data, _ in m.values())]
    assert len(big) == 1 and len(big[0]) == 16
    # the build's own ship-ahead, then its chunk task: the same two task keys each time
    assert client.maps[1:3] == [ahead, ahead]
    assert all(not set(keys) & set(ahead) for keys in client.maps[3:])  # pages of pages
    cluster.release_ahead()
    assert cluster._AHEAD == []
    client.maps.clear()  # a build of an output with records ships nothing ahead,
    client.connects = 0  # and does not even connect (nor import Dask)
    assert not session.ship_ahead(build_graph(config, save_cache=False))
    assert client.maps == [] and client.connects == 0


def test_the_sources_go_ahead_in_the_order_doit_starts_their_chunk_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The costliest chunk first, and each chunk's batches before the next chunk's: the
    first chunk tasks doit starts then wait for their own files only, not for a batch of
    every chunk (the scheduler's order when all come at once)."""
    from pipeline import session
    from pipeline.config import make_config
    from pipeline.graph import build_graph
    from pipeline.tasks import extraction_order

    client = _fake_cluster(monkeypatch)
    make_tree(tmp_path / "src",
              {**{f"a/m{i}.py": _module(60 + i).decode() for i in range(16)},
               **{f"b/m{i}.py": _module(200 + i).decode() for i in range(16)},
               **{f"c/m{i}.py": _module(120 + i).decode() for i in range(16)}})
    config = make_config({"source": str(tmp_path / "src"), "output": str(tmp_path / "out"),
                          "scheduler": "tcp://here:1"})
    graph = build_graph(config, save_cache=False)
    assert [c.name for c in extraction_order(graph) if c.layer == 1] == ["b", "c", "a"]
    assert session.ship_ahead(graph)
    def folder(key: str) -> str:  # a: 60-75 functions a file, c: 120-135, b: 200-215
        data = next(t for t in client.tasks if t.key == key).items[0][0]
        return "a" if data.count(b"def ") < 100 else "c" if data.count(b"def ") < 200 else "b"

    assert [folder(keys[0]) for keys in client.maps] == ["b", "c", "a"]
    assert client.priorities == sorted(client.priorities, reverse=True)
    assert len(set(client.priorities)) == 3


def test_an_extractor_that_fails_to_load_ahead_is_left_to_its_chunk_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the extractors of the chunks that stay is an optimisation: a parser that
    cannot load does not stop the build here (its chunk task meets it and makes a note)."""
    from pipeline import cluster, extract

    _fake_cluster(monkeypatch)

    def broken(language: str) -> object:
        raise ImportError(f"no {language} parser")

    monkeypatch.setattr(extract, "extractor_for", broken)
    code = cluster.worker_code().split(" ", 1)[0]
    tiny = {"t": (b"x = 1\n", "python")}
    assert cluster.ship_ahead("tcp://here:1", [_heavy(16, 120), tiny], code) == 16
    assert cluster._AHEAD_KEYS == set(_heavy(16, 120))


def test_a_shared_cache_that_is_read_keeps_the_sources_from_going_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the chunk tasks know what the cache lacked: nothing is shipped ahead of them."""
    from pipeline import session
    from pipeline.config import make_config
    from pipeline.graph import build_graph

    client = _fake_cluster(monkeypatch)
    make_tree(tmp_path / "src",
              {f"big/m{i}.py": _module(120 + i).decode() for i in range(10)})
    (tmp_path / "cache").mkdir()
    base = {"source": str(tmp_path / "src"), "output": str(tmp_path / "out"),
            "scheduler": "tcp://here:1", "cache": str(tmp_path / "cache")}
    for mode, ships in (("read", False), ("readwrite", False), ("write", True)):
        graph = build_graph(make_config(base | {"cache_mode": mode}), save_cache=False)
        assert session.ship_ahead(graph) is ships and bool(client.maps) is ships, mode


def test_dask_names_a_batch_by_its_key_not_by_hashing_its_bytes() -> None:
    from dask.base import tokenize

    from pipeline.cluster import Batch

    one = Batch("k1", ((b"x" * 1_000_000, "python"),))
    assert tokenize(one) == tokenize(Batch("k1", ((b"y" * 1_000_000, "python"),)))
    assert tokenize(one) != tokenize(Batch("k2", one.items))
