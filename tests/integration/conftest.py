"""Fixtures: a fresh real server per test (``server``), or one with options (``make_server``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Client, ServerThread, server_config


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
def connect(server: ServerThread) -> Iterator[Callable[..., Client]]:
    """``connect()`` opens a client to ``server``; all are closed at the end."""
    clients: list[Client] = []

    def open_client(**kwargs: Any) -> Client:
        client = Client(server.port, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
