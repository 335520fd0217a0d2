"""One contract suite for every Store (tertulia.core.ports), plus SQLite specifics.

Each contract test runs against ``SqliteStore`` (a real file in ``tmp_path``),
``MemoryStore`` and ``NatsStore`` (the real nats-server, one prefix per test).  Tests are plain functions that drive a coroutine with
``asyncio.run``; the helpers below turn the callback API into awaitables.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tertulia.core.ports import (
    SAY,
    Account,
    Draft,
    KeptPrivate,
    RoomRecord,
    Snapshot,
    Store,
    StoredMessage,
    StoreUnavailable,
)
from tertulia.store.memory import MemoryStore
from tertulia.store.nats import NatsStore
from tertulia.store.sqlite import SCHEMA_VERSION, SqliteStore

T = TypeVar("T")
SRC = Path(__file__).resolve().parents[2] / "src"

StoreFactory = Callable[[], Store]
Appended = StoredMessage | StoreUnavailable
Read = list[StoredMessage] | StoreUnavailable
Written = StoreUnavailable | None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test body with asyncio debug checks on."""
    return asyncio.run(coro, debug=True)


@asynccontextmanager
async def opened(store: Store) -> AsyncIterator[Snapshot]:
    """Open a store for the body of a ``with`` and always close it."""
    snapshot = await store.open()
    try:
        yield snapshot
    finally:
        await store.close()


def future() -> asyncio.Future[Any]:
    """A future on the running loop; its ``set_result`` serves as ``done``."""
    return asyncio.get_running_loop().create_future()


def draft(text: str, room_key: str = "#general", room: str = "#General") -> Draft:
    return Draft(room_key, room, "Ana", "#e06c75", text, SAY, "2026-11-23T10:00:00.123Z")


async def try_append(store: Store, text: str, room_key: str = "#general") -> Appended:
    """Append; return what ``done`` got (the message or the error)."""
    done: asyncio.Future[Appended] = future()
    store.append(draft(text, room_key), done.set_result)
    return await done


async def try_history(
    store: Store,
    limit: int = 1000,
    *,
    before: str | None = None,
    after: str | None = None,
    room_key: str = "#general",
) -> Read:
    """Read history; return what ``done`` got (the messages or the error)."""
    done: asyncio.Future[Read] = future()
    store.history(room_key, limit, before, after, done.set_result)
    return await done


async def append(store: Store, text: str, room_key: str = "#general") -> StoredMessage:
    result = await try_append(store, text, room_key)
    assert isinstance(result, StoredMessage), result
    return result


async def history(
    store: Store,
    limit: int = 1000,
    *,
    before: str | None = None,
    after: str | None = None,
    room_key: str = "#general",
) -> list[StoredMessage]:
    result = await try_history(store, limit, before=before, after=after, room_key=room_key)
    assert isinstance(result, list), result
    return result


async def save_room(store: Store, record: RoomRecord) -> None:
    done: asyncio.Future[Written] = future()
    store.save_room(record, done.set_result)
    assert await done is None


async def save_account(store: Store, account: Account) -> None:
    done: asyncio.Future[Written] = future()
    store.save_account(account, done.set_result)
    assert await done is None


def texts(messages: list[StoredMessage]) -> list[str]:
    return [m.text for m in messages]


# -- the contract ------------------------------------------------------------


def test_append_ids_are_16_hex_and_increase(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        async with opened(store):
            stored = [await append(store, f"m{i}") for i in range(20)]
        ids = [m.id for m in stored]
        for ident in ids:
            assert len(ident) == 16
            assert ident == ident.lower()
            int(ident, 16)
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert stored[3] == StoredMessage(
            ids[3], "#General", "Ana", "#e06c75", "m3", SAY, "2026-11-23T10:00:00.123Z"
        )

    run(body())


def test_history_semantics(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        async with opened(store):
            stored = [await append(store, f"m{i}") for i in range(10)]
            ids = [m.id for m in stored]
            assert await history(store) == stored  # oldest first
            assert texts(await history(store, 3)) == ["m7", "m8", "m9"]
            assert texts(await history(store, 3, before=ids[5])) == ["m2", "m3", "m4"]
            assert texts(await history(store, 50, before=ids[2])) == ["m0", "m1"]
            assert await history(store, 3, before=ids[0]) == []
            assert texts(await history(store, 3, after=ids[5])) == ["m6", "m7", "m8"]
            assert texts(await history(store, 50, after=ids[7])) == ["m8", "m9"]
            assert await history(store, 3, after=ids[9]) == []
            assert texts(await history(store, 2, after=ids[1], before=ids[8])) == ["m2", "m3"]
            assert await history(store, 0) == []
            assert await history(store, 5, room_key="#empty") == []
            # An id that is not in the room still bounds the range.
            assert texts(await history(store, 2, before="ffffffffffffffff")) == ["m8", "m9"]
            assert texts(await history(store, 2, after="0")) == ["m0", "m1"]
            with pytest.raises(ValueError):
                store.history("#general", 5, "not-hex", None, lambda _: None)

    run(body())


def test_rooms_do_not_mix(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        async with opened(store):
            for i in range(6):
                await append(store, f"a{i}", "#a")
                await append(store, f"b{i}", "#b")
            assert texts(await history(store, room_key="#a")) == [f"a{i}" for i in range(6)]
            b = await history(store, room_key="#b")
            assert texts(b) == [f"b{i}" for i in range(6)]
            assert texts(await history(store, 2, before=b[3].id, room_key="#a")) == ["a2", "a3"]

    run(body())


def test_callbacks_in_submission_order_never_synchronous(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        loop_thread = threading.get_ident()
        events: list[tuple[int, object]] = []
        submitting = False

        def recorder(index: int) -> Callable[[object], None]:
            def done(result: object) -> None:
                assert not submitting, "callback called from inside the submitting call"
                assert threading.get_ident() == loop_thread
                events.append((index, result))

            return done

        async with opened(store):
            n = 0
            for round_ in range(50):
                for op in range(4):
                    submitting = True
                    if op == 0:
                        store.append(draft(f"r{round_}"), recorder(n))
                    elif op == 1:
                        store.history("#general", 1, None, None, recorder(n))
                    elif op == 2:
                        store.save_room(RoomRecord("#general", "#General", f"t{n}"), recorder(n))
                    else:
                        account = Account(f"u{n}", f"U{n}", "hash", "#000000")
                        store.save_account(account, recorder(n))
                    submitting = False
                    n += 1
            await history(store)  # a barrier: every earlier callback ran
        assert [index for index, _ in events] == list(range(n))
        # Each history read saw the append submitted just before it, and
        # not the one submitted just after it (ports.py's order rule).
        for round_ in range(50):
            result = events[4 * round_ + 1][1]
            assert isinstance(result, list)
            assert texts(result) == [f"r{round_}"]

    run(body())


def test_snapshot_after_reopen(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot == Snapshot([], [])
            await save_room(store, RoomRecord("#b", "#B"))
            await save_room(store, RoomRecord("#a", "#A", "old"))
            await save_room(store, RoomRecord("#a", "#A", "new"))
            ana = Account("ana", "Ana", "h1", "#111111")
            await save_account(store, ana)
            ana2 = Account("ana", "ANA", "h2", "#222222")
            await save_account(store, ana2)
            bo = Account("bo", "Bo", "h3", "#333333")
            await save_account(store, bo)
        store = make_store()
        async with opened(store) as snapshot:
            assert sorted(snapshot.rooms, key=lambda r: r.key) == [
                RoomRecord("#a", "#A", "new"),
                RoomRecord("#b", "#B", ""),
            ]
            assert sorted(snapshot.accounts, key=lambda a: a.key) == [ana2, bo]

    run(body())


async def delete_account(store: Store, key: str) -> None:
    done: asyncio.Future[Written] = future()
    store.delete_account(key, done.set_result)
    assert await done is None


def test_delete_account_survives_reopen(make_store: StoreFactory) -> None:
    """A deleted account is gone after a reopen; deleting a missing one is no error."""

    async def body() -> None:
        store = make_store()
        async with opened(store):
            await save_account(store, Account("ana", "Ana", "h1", "#111111"))
            await save_account(store, Account("bo", "Bo", "h2", "#222222"))
            await delete_account(store, "ana")
            await delete_account(store, "nobody")
        store = make_store()
        async with opened(store) as snapshot:
            assert snapshot.accounts == [Account("bo", "Bo", "h2", "#222222")]
            await save_account(store, Account("ana", "Ana", "h3", "#333333"))
        store = make_store()
        async with opened(store) as snapshot:
            assert [a.password_hash for a in snapshot.accounts] == ["h3", "h2"]

    run(body())


def kept(recipient: str, text: str) -> KeptPrivate:
    return KeptPrivate(recipient, "Bob", "#123456", text, "2026-12-01T10:00:00.000Z")


async def keep(store: Store, message: KeptPrivate, limit: int = 3) -> bool | StoreUnavailable:
    done: asyncio.Future[bool | StoreUnavailable] = future()
    store.keep_private(message, limit, done.set_result)
    return await done


async def read_kept(store: Store, recipient: str) -> list[KeptPrivate]:
    done: asyncio.Future[list[KeptPrivate] | StoreUnavailable] = future()
    store.kept_privates(recipient, done.set_result)
    result = await done
    assert isinstance(result, list), result
    return result


async def drop_kept(store: Store, recipient: str, up_to: int) -> None:
    done: asyncio.Future[Written] = future()
    store.drop_privates(recipient, up_to, done.set_result)
    assert await done is None


def test_kept_privates_bounded_ordered_dropped_and_durable(make_store: StoreFactory) -> None:
    """Kept messages: at most ``limit`` per recipient, oldest first, numbered, kept across a
    reopen until dropped; deleting the account drops them too."""

    async def body() -> None:
        store = make_store()
        async with opened(store):
            assert [await keep(store, kept("ana", f"m{i}")) for i in range(4)] == [
                True, True, True, False]
            assert await keep(store, kept("cris", "other")) is True
            assert await read_kept(store, "nobody") == []
        store = make_store()
        async with opened(store):
            box = await read_kept(store, "ana")
            assert [m.text for m in box] == ["m0", "m1", "m2"]
            numbers = [m.number for m in box]
            assert numbers == sorted(numbers) and numbers[0] > 0
            assert box[0] == KeptPrivate("ana", "Bob", "#123456", "m0",
                                         "2026-12-01T10:00:00.000Z", numbers[0])
            await drop_kept(store, "ana", numbers[1])
            assert [m.text for m in await read_kept(store, "ana")] == ["m2"]
            assert await keep(store, kept("ana", "m4")) is True
            later = await read_kept(store, "ana")
            assert [m.text for m in later] == ["m2", "m4"] and later[1].number > numbers[2]
            await save_account(store, Account("cris", "Cris", "h", "#000000"))
            await delete_account(store, "cris")
        store = make_store()
        async with opened(store):
            assert [m.text for m in await read_kept(store, "ana")] == ["m2", "m4"]
            assert await read_kept(store, "cris") == []

    run(body())


def test_ids_keep_increasing_after_reopen(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        async with opened(store):
            first = [await append(store, f"m{i}") for i in range(5)]
        store = make_store()
        async with opened(store):
            assert await history(store) == first
            later = await append(store, "after restart")
            assert later.id > first[-1].id
            assert texts(await history(store, 2)) == ["m4", "after restart"]

    run(body())


def test_operations_after_close_fail_later(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        await store.open()
        await store.close()
        await store.close()  # idempotent
        got: list[object] = []
        store.append(draft("late"), got.append)
        store.history("#general", 5, None, None, got.append)
        store.save_room(RoomRecord("#a", "#A"), got.append)
        store.save_account(Account("a", "A", "h", "#000000"), got.append)
        store.delete_account("a", got.append)
        store.keep_private(kept("a", "x"), 5, got.append)
        store.kept_privates("a", got.append)
        store.drop_privates("a", 1, got.append)
        assert got == []  # never synchronously
        await asyncio.sleep(0)
        assert len(got) == 8
        assert all(isinstance(result, StoreUnavailable) for result in got)

    run(body())


def test_close_delivers_queued_then_refuses_in_order(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        await store.open()
        got: list[object] = []
        for i in range(500):
            store.append(draft(f"m{i}"), got.append)
        closing = asyncio.ensure_future(store.close())
        await asyncio.sleep(0)  # close() has started
        store.append(draft("too late"), got.append)
        await closing
        await store.close()
        await asyncio.sleep(0)
        assert len(got) == 501
        assert texts([m for m in got if isinstance(m, StoredMessage)]) == [
            f"m{i}" for i in range(500)
        ]
        assert isinstance(got[-1], StoreUnavailable)

    run(body())


def test_burst_completes_in_order(make_store: StoreFactory) -> None:
    async def body() -> None:
        store = make_store()
        # asyncio's debug mode slows nats-py's many coroutines about twenty
        # times: a smaller burst keeps the NATS case to a second or two.
        n = 3_000 if isinstance(store, NatsStore) else 20_000
        got: list[StoredMessage | StoreUnavailable] = []
        async with opened(store):
            commits_before = getattr(store, "commits", 0)
            for i in range(n):
                store.append(draft(str(i)), got.append)
            last = await history(store, 1)
            assert texts(last) == [str(n - 1)]
            assert len(got) == n
            assert all(isinstance(m, StoredMessage) for m in got)
            stored = [m for m in got if isinstance(m, StoredMessage)]
            assert [m.text for m in stored] == [str(i) for i in range(n)]
            ids = [m.id for m in stored]
            assert ids == sorted(ids) and len(set(ids)) == n
            if isinstance(store, SqliteStore):
                commits = store.commits - commits_before
                # Group commit: far fewer transactions than appends.
                assert 1 <= commits <= n // 10, commits

    run(body())


# -- SQLite only --------------------------------------------------------------


def test_sqlite_description_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "t.db"
    store = SqliteStore(path)
    assert store.description == f"sqlite {path}"
    with pytest.raises(ValueError):
        SqliteStore(path, synchronous="sometimes")

    async def body() -> None:
        async with opened(store):
            await append(store, "x")

    run(body())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_sqlite_ids_never_reused_after_deletion(tmp_path: Path) -> None:
    path = tmp_path / "t.db"

    async def body() -> None:
        store = SqliteStore(path)
        async with opened(store):
            last = [await append(store, f"m{i}") for i in range(5)][-1]
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("DELETE FROM messages")
        conn.close()
        store = SqliteStore(path)
        async with opened(store):
            assert (await append(store, "new")).id > last.id

    run(body())


def test_sqlite_failure_then_recovery(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "t.db"

    async def body() -> None:
        store = SqliteStore(path)
        async with opened(store):
            good = await append(store, "before")
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("ALTER TABLE messages RENAME TO hidden")
                results = await asyncio.gather(
                    *(try_append(store, f"lost{i}") for i in range(5)),
                    try_history(store, 5),
                )
                assert all(isinstance(r, StoreUnavailable) for r in results), results
                other.execute("ALTER TABLE hidden RENAME TO messages")
            finally:
                other.close()
            # The thread survived and serves again; ids still go up.
            after = await append(store, "after")
            assert after.id > good.id
            assert texts(await history(store)) == ["before", "after"]

    run(body())
    assert "failed" in caplog.text


def test_sqlite_open_failure(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteStore(tmp_path)  # a directory: cannot be a database
        with pytest.raises(StoreUnavailable):
            await store.open()
        got = await try_append(store, "x")
        assert isinstance(got, StoreUnavailable)
        await store.close()

    run(body())


def test_sqlite_operations_before_open_are_a_bug(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        store.append(draft("x"), lambda _: None)
    run(store.close())  # closing a never-opened store is fine


_CHILD = """
import asyncio, sys
from tertulia.core.ports import Draft
from tertulia.store.sqlite import SCHEMA_VERSION, SqliteStore

async def main():
    store = SqliteStore(sys.argv[1])
    await store.open()
    counter = iter(range(10**9))

    def done(result):
        sys.stdout.write(result.id + "\\n")
        sys.stdout.flush()
        submit()

    def submit():
        i = next(counter)
        store.append(Draft("#general", "#general", "Ana", "#e06c75", str(i), "say", "t"), done)

    for _ in range(64):  # 64 appends always in flight
        submit()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_sqlite_acknowledged_messages_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    printed: list[str] = []
    try:
        for line in child.stdout:
            printed.append(line.strip())
            if len(printed) >= 2000:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=10)
    printed += [line for line in rest.splitlines() if len(line) == 16]
    assert child.returncode == -signal.SIGKILL
    assert len(printed) >= 2000
    assert printed == sorted(printed)

    async def body() -> None:
        store = SqliteStore(path)
        async with opened(store):
            stored = [m.id for m in await history(store, 10**7)]
        acknowledged = set(printed)
        assert [ident for ident in stored if ident in acknowledged] == printed

    run(body())


# -- MemoryStore with a manual scheduler --------------------------------------


def test_memory_store_with_manual_scheduler() -> None:
    pending: list[Callable[[], None]] = []
    store = MemoryStore(schedule=pending.append)
    got: list[object] = []
    store.append(draft("a"), got.append)
    store.history("#general", 10, None, None, got.append)
    store.append(draft("b"), got.append)
    assert got == [] and len(pending) == 3
    for callback in pending:
        callback()
    pending.clear()
    first, seen, second = got
    assert isinstance(first, StoredMessage) and isinstance(second, StoredMessage)
    assert seen == [first]
    assert first.id < second.id
    store.failing = True
    store.append(draft("c"), got.append)
    pending.pop()()
    assert isinstance(got[-1], StoreUnavailable)
