"""Fixtures: a fresh real server per test (``server``), or one with options (``make_server``);
clients to it (``connect``) or to any server (``dial``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.helpers import Dial, SourceClient


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """``make_server(rate=0, max_sendq=4096, ...)``: start a server with those options."""
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        server = ServerThread(server_config(tmp_path, **overrides)).start()
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
