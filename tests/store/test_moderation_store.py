"""The Store contract for moderation: room creators and modes, bans, the audit log.

Each test runs against both stores (the ``make_store`` fixture of the main
contract suite); the last ones check that an older SQLite file is upgraded.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tertulia.core.ports import (
    BAN_ADDRESS,
    BAN_NAME,
    AuditEntry,
    Ban,
    RoomRecord,
    StoreUnavailable,
)
from tertulia.store.memory import MemoryStore
from tertulia.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.store.test_store_contract import (
    StoreFactory,
    Written,
    append,
    future,
    history,
    opened,
    run,
    save_room,
)

AuditRead = list[AuditEntry] | StoreUnavailable


async def write(submit: object, *args: object) -> Written:
    done: asyncio.Future[Written] = future()
    assert callable(submit)
    submit(*args, done.set_result)
    return await done


async def read_audit(store: object, limit: int) -> list[AuditEntry]:
    done: asyncio.Future[AuditRead] = future()
    store.read_audit(limit, done.set_result)  # type: ignore[attr-defined]
    result = await done
    assert isinstance(result, list), result
    return result


def test_room_record_keeps_creator_modes_and_lists(make_store: StoreFactory) -> None:
    """Every field of a RoomRecord comes back after a restart, lists sorted as given."""
    record = RoomRecord("#r", "#R", "topic", "ana", True, True, ("bob", "eva"), ("zoe",))

    async def body() -> None:
        store = make_store()
        async with opened(store):
            await save_room(store, RoomRecord("#r", "#R"))
            await save_room(store, record)
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot.rooms == [record]

    run(body())


def test_bans_are_saved_replaced_deleted_and_survive_restarts(make_store: StoreFactory) -> None:
    troll = Ban(BAN_NAME, "troll", "Troll", "Root", "spam", 1000.5, None)
    later = Ban(BAN_NAME, "troll", "TROLL", "Op", "again", 2000.0, 9000.25)
    net = Ban(BAN_ADDRESS, "203.0.113.0/24", "203.0.113.0/24", "Root", "", 1000.0, 5000.0)

    async def body() -> None:
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot.bans == []
            assert await write(store.save_ban, troll) is None
            assert await write(store.save_ban, net) is None
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot.bans == [net, troll]  # sorted by (kind, key)
            assert await write(store.save_ban, later) is None  # same kind and key: replaced
            assert await write(store.delete_ban, BAN_ADDRESS, net.key) is None
            assert await write(store.delete_ban, BAN_ADDRESS, "10.0.0.1") is None  # no error
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot.bans == [later]

    run(body())


def test_audit_log_appends_and_reads_the_latest_oldest_first(make_store: StoreFactory) -> None:
    entries = [AuditEntry(f"2026-12-01T10:00:0{n}.000Z", "Root", "KICK", f"#r u{n}", "")
               for n in range(5)]

    async def body() -> None:
        store = make_store()
        async with opened(store):
            assert await read_audit(store, 10) == []
            for entry in entries[:3]:
                assert await write(store.audit, entry) is None
        store = make_store()
        async with opened(store):
            for entry in entries[3:]:
                assert await write(store.audit, entry) is None
            assert await read_audit(store, 2) == entries[3:]
            assert await read_audit(store, 100) == entries
            assert await read_audit(store, 0) == []

    run(body())


def test_moderation_writes_keep_the_order_rule(make_store: StoreFactory) -> None:
    """Bans and audit entries complete in submission order with appends (core.ports)."""

    async def body() -> None:
        store = make_store()
        async with opened(store):
            got: list[int] = []
            ban = Ban(BAN_NAME, "x", "x", "Root", "", 1.0)
            store.append(_draft(), lambda _r: got.append(0))
            store.save_ban(ban, lambda _r: got.append(1))
            store.audit(AuditEntry("t", "Root", "BAN", "x"), lambda _r: got.append(2))
            store.delete_ban(BAN_NAME, "x", lambda _r: got.append(3))
            store.read_audit(1, lambda _r: got.append(4))
            assert got == []  # never synchronous
            await append(store, "last")
            assert got == [0, 1, 2, 3, 4]

    run(body())


def _draft() -> object:
    from tertulia.core.ports import SAY, Draft

    return Draft("#general", "#general", "Ana", "#e06c75", "x", SAY, "2026-11-23T10:00:00.123Z")


def test_memory_store_failing_refuses_moderation_writes() -> None:
    async def body() -> None:
        store = MemoryStore()
        store.failing = True
        result = await write(store.save_ban, Ban(BAN_NAME, "x", "x", "R", "", 1.0))
        assert isinstance(result, StoreUnavailable)
        result = await write(store.audit, AuditEntry("t", "R", "BAN", "x"))
        assert isinstance(result, StoreUnavailable)

    run(body())


V1_SCHEMA = """
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room_key TEXT NOT NULL,
    room TEXT NOT NULL, sender TEXT NOT NULL, color TEXT NOT NULL, text TEXT NOT NULL,
    kind TEXT NOT NULL, ts TEXT NOT NULL);
CREATE TABLE rooms (key TEXT PRIMARY KEY, room TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '');
CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT NOT NULL,
    color TEXT NOT NULL);
INSERT INTO rooms VALUES ('#old', '#Old', 'kept');
INSERT INTO messages (room_key, room, sender, color, text, kind, ts)
    VALUES ('#old', '#Old', 'Ana', '#e06c75', 'from v1', 'say', '2026-01-01T00:00:00.000Z');
PRAGMA user_version = 1;
"""


def test_sqlite_upgrades_a_version_1_file(tmp_path: Path) -> None:
    """A file written before moderation existed opens, keeps its data, and gains the tables."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()

    async def body() -> None:
        store = SqliteStore(path)
        async with opened(store) as snapshot:
            assert snapshot.rooms == [RoomRecord("#old", "#Old", "kept")]
            assert [m.text for m in await history(store, room_key="#old")] == ["from v1"]
            assert await write(store.save_ban, Ban(BAN_NAME, "x", "x", "R", "", 1.0)) is None
        store = SqliteStore(path)
        async with opened(store) as snapshot:
            assert len(snapshot.bans) == 1

    run(body())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
