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


#: With TERTULIA_TEST_CLUSTER=1 every "server" is two nodes on one nats-server.
CLUSTER = os.environ.get("TERTULIA_TEST_CLUSTER") == "1"


@pytest.fixture
def make_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ServerThread]]:
    """``make_server(rate=0, max_sendq=4096, ...)``: start a server with those options.

    With ``TERTULIA_TEST_CLUSTER=1`` it is a :class:`ClusterThread`: two
    nodes on the session's nats-server, and each client lands on one of them
    at random (the protocol suite run against a cluster).
    """
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        server: ServerThread
        if CLUSTER:
            nats = request.getfixturevalue("nats_server")
            prefix = f"{request.getfixturevalue('nats_prefix')}s{len(started)}"
            server = ClusterThread(tmp_path / f"s{len(started)}", nats.url, prefix, overrides)
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
