"""Whether a Dask scheduler answers at an address, without importing Dask: the command
line asks before a build, a check or a watch uses the cluster, and each process before it
makes a client (:mod:`pipeline.cluster`). A module of its own, so that the question costs
a command a connection, not the cluster code's imports (a no-op build with a scheduler
configured asks it too)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

PROBE_SECONDS = 5
HANDSHAKE_BYTES = 1 << 20  # a scheduler's handshake message is a few hundred bytes
ANSWER_SECONDS = 5.0  # how long a scheduler's answer to a probe is taken as still true
_ANSWERED: dict[str, float] = {}  # address -> when it last answered a probe (monotonic)


def unreachable(address: str) -> str:
    """Why no scheduler answers at ``address`` ("" when one does, or when the address is
    neither TCP nor TLS and so cannot be probed without Dask): a cheap check that the CLI
    makes before building, without importing Dask.

    An open port is not enough: Dask's client waits for the scheduler's handshake without
    a timeout, so a client of a port that accepts connections and says nothing (the
    dashboard's HTTP port, 8787 beside the scheduler's 8786) waits forever (upstream
    dask/distributed#8071). A scheduler writes its handshake as soon as it accepts a
    connection, so over plain TCP the probe waits for its first message's length
    (:func:`_handshake_problem`). Over TLS the server waits for the TLS handshake first:
    only the connection is probed.

    An answer is remembered for :data:`ANSWER_SECONDS`: a build's client, made right after
    the command asked, does not ask again, nor do those of the worker processes forked
    meanwhile (:func:`answered_lately`)."""
    problem = _probe(address)
    if not problem:
        _ANSWERED[address] = time.monotonic()
    return problem


def _probe(address: str) -> str:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return "the 'distributed' package is not installed (pip install 'pipeline[cluster]')"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return ""
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:
        return str(error)
    if not host or not port:
        return "expected tcp://HOST:PORT"
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS) as connection:
            return _handshake_problem(connection) if parts.scheme == "tcp" else ""
    except OSError as error:
        return error.strerror or str(error)


def _handshake_problem(connection: socket.socket) -> str:
    """"" when the first bytes the peer sends are the length of a Dask message (8 bytes,
    the byte order of the scheduler's machine) of a plausible handshake's size; else why
    not. (The probe closes the connection then; the scheduler logs that a connection
    closed before its handshake completed.)"""
    prefix = b""
    try:
        while len(prefix) < 8:
            received = connection.recv(8 - len(prefix))
            if not received:
                return "the connection was closed without a Dask handshake"
            prefix += received
    except TimeoutError:
        return (f"a connection opens but no Dask scheduler answers within {PROBE_SECONDS} s "
                "(a dashboard's or another service's port?)")
    size = min(int.from_bytes(prefix, "little"), int.from_bytes(prefix, "big"))
    if not 0 < size <= HANDSHAKE_BYTES:
        return "the service there does not speak Dask's protocol"
    return ""


def answered_lately(address: str) -> bool:
    """Whether the scheduler at ``address`` answered a probe, in this process or the one
    that forked it, less than :data:`ANSWER_SECONDS` ago."""
    return time.monotonic() - _ANSWERED.get(address, -ANSWER_SECONDS) < ANSWER_SECONDS
