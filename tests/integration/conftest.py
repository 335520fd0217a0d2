"""Fixtures: a fresh real server per test (``server``), or one with options (``make_server``);
clients to it (``connect``) or to any server (``dial``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Client, ClusterThread, ServerThread, server_config
from tests.integration.helpers import Dial, SourceClient
from tests.nats_fixtures import nats_prefix, nats_server

__all__ = ["nats_prefix", "nats_server"]


#: TERTULIA_TEST_CLUSTER=1: only the two-node run; =0: only the one-server run.
ONLY = os.environ.get("TERTULIA_TEST_CLUSTER", "")
MODES = {"0": [False], "1": [True]}.get(ONLY, [False, True])

#: Tests that cannot hold on two nodes, by nature or for what is not done yet,
#: with why (listed in docs/explanation/cluster.md, "The protocol suite on two nodes").
PER_NODE = "counted on each node: a cluster does not share this limit"
SQLITE = "reads the SQLite file; a node keeps its state in NATS"
CLUSTER_SKIPS: dict[str, str] = {
    "test_connection_rate_per_address": PER_NODE,
    "test_max_connections": PER_NODE,
    "test_max_per_ip": PER_NODE,
    "test_slowloris_is_cut": PER_NODE,
    "test_parallel_guesses_are_spaced_too": "checks running at once are spaced on each node "
    "(their verdicts count on every node)",
    "test_password_never_stored_in_clear": SQLITE,
    "test_legacy_scrypt_hash_is_upgraded_on_login": SQLITE,
    "test_backup_while_running_restores_messages_and_bans": SQLITE,
}


@pytest.fixture(
    params=[pytest.param(m, id="cluster", marks=pytest.mark.slow) if m else m for m in MODES],
    ids=lambda m: "cluster" if m else "one",
)
def make_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ServerThread]]:
    """``make_server(rate=0, max_sendq=4096, ...)``: start a server with those options.

    Every test that uses it runs twice: on one server (``[one]``), and on a
    :class:`ClusterThread` (``[cluster]``): two nodes on the worker's
    nats-server, each client on one of them at random (the same on every run
    of a test).  ``TERTULIA_TEST_CLUSTER=0`` or ``=1`` runs only one of them.
    """
    cluster = bool(request.param)
    if cluster:
        reason = CLUSTER_SKIPS.get(request.node.originalname)
        if reason is not None:
            pytest.skip(f"on two nodes: {reason}")
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        server: ServerThread
        if cluster:
            nats = request.getfixturevalue("nats_server")
            # One prefix per test, as one database file per test on one server:
            # a server started again finds what the one before it stored.
            prefix = request.getfixturevalue("nats_prefix")
            server = ClusterThread(
                tmp_path / f"s{len(started)}",
                nats.url,
                prefix,
                overrides,
                seed=f"{request.node.nodeid}/{len(started)}",
            )
        else:
            server = ServerThread(server_config(tmp_path, **overrides))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., ServerThread]) -> ServerThread:
    """A server with the protocol's default limits."""
    return make_server()


@pytest.fixture
def dial() -> Iterator[Dial]:
    """``dial(server, **kw)`` opens a client to that server; all are closed at the end.

    With ``source`` or ``rcvbuf`` among the keywords it is a :class:`SourceClient`.
    """
    opened: list[Client] = []

    def open_client(server: ServerThread, **kwargs: Any) -> Client:
        client: Client
        if "source" in kwargs or "rcvbuf" in kwargs:
            client = SourceClient(server.port, **kwargs)
        else:
            client = Client(server.port, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def connect(server: ServerThread, dial: Dial) -> Callable[..., Client]:
    """``connect()`` opens a client to ``server``; all are closed at the end."""

    def open_client(**kwargs: Any) -> Client:
        return dial(server, **kwargs)

    return open_client
