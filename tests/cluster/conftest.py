"""Cluster tests run on the real nats-server binary (tests/nats_fixtures.py).

``nodes(n, **options)`` starts n Tertulia servers (each its own thread and
event loop) on the session's nats-server and the test's own prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tertulia.server.nats_server import NatsServer
from tests.integration.harness import ServerThread, server_config
from tests.nats_fixtures import nats_prefix, nats_server

__all__ = ["nats_prefix", "nats_server", "nodes"]

Nodes = Callable[..., list[ServerThread]]


@pytest.fixture
def nodes(nats_server: NatsServer, nats_prefix: str, tmp_path: Path) -> Iterator[Nodes]:
    """``nodes(n, **options)``: n servers sharing one NATS prefix (stopped at the end)."""
    started: list[ServerThread] = []

    def start(n: int, **overrides: Any) -> list[ServerThread]:
        for _ in range(n):
            config = server_config(
                tmp_path / f"node{len(started)}",
                nats=nats_server.url,
                nats_prefix=nats_prefix,
                **overrides,
            )
            started.append(ServerThread(config).start())
        return started[-n:]

    yield start
    for server in started:
        server.stop()
