"""The ``make_store`` fixture: every contract test runs against every store.

The NATS store runs on the real nats-server of tests/nats_fixtures.py, with
a prefix of its own per test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tertulia.core.ports import Store
from tertulia.server.nats_server import NatsServer
from tertulia.store.memory import MemoryStore
from tertulia.store.nats import NatsStore
from tertulia.store.sqlite import SqliteStore
from tests.nats_fixtures import nats_prefix, nats_server

__all__ = ["make_store", "nats_prefix", "nats_server"]

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "memory", "nats"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of stores over the same data: calling it again is a restart.

    For SQLite each call is a new ``SqliteStore`` on the same file, for NATS
    a new ``NatsStore`` on the same server and prefix; the memory store keeps
    its data across close and reopen, so each call gives the same instance.
    """
    if request.param == "sqlite":
        path = tmp_path / "sub" / "tertulia.db"
        return lambda: SqliteStore(path)
    if request.param == "nats":
        server: NatsServer = request.getfixturevalue("nats_server")
        prefix: str = request.getfixturevalue("nats_prefix")
        return lambda: NatsStore(server.url, prefix=prefix)
    memory = MemoryStore()
    return lambda: memory
