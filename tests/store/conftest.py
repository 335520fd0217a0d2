"""The ``make_store`` fixture: every contract test runs against both stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tertulia.core.ports import Store
from tertulia.store.memory import MemoryStore
from tertulia.store.sqlite import SqliteStore

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of stores over the same data: calling it again is a restart.

    For SQLite each call is a new ``SqliteStore`` on the same file; the
    memory store keeps its data across close and reopen, so each call gives
    the same instance.
    """
    if request.param == "sqlite":
        path = tmp_path / "sub" / "tertulia.db"
        return lambda: SqliteStore(path)
    memory = MemoryStore()
    return lambda: memory
