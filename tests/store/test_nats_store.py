"""What the NATS store does beyond the shared contract (test_store_contract.py).

On the real nats-server: two stores on one prefix share rooms, accounts and
history; old messages come back by direct get and the per-room limit holds;
junk on the stream's subjects is skipped; a missing or JetStream-less NATS
is a clear StoreUnavailable at open; while NATS is down operations fail
fast, and after it restarts the same store serves again with ids still
increasing.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import nats
import pytest

from tertulia.core.ports import Account, RoomRecord, StoredMessage, StoreUnavailable
from tertulia.server.nats_server import NatsServer
from tertulia.store.nats import NatsStore, decode_message, token, untoken
from tests.store.test_store_contract import (
    append,
    history,
    opened,
    run,
    save_account,
    save_room,
    texts,
    try_append,
    try_history,
)


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tokens_and_payloads_round_trip() -> None:
    for key in ["#general", "#café", "ana", "#a.b*c>d e"]:
        assert untoken(token(key)) == key
        assert all(c in "0123456789abcdef" for c in token(key))
    with pytest.raises(ValueError):
        untoken("zz")
    with pytest.raises(ValueError):
        decode_message(1, b"[]")
    with pytest.raises(ValueError):
        decode_message(1, b'{"room": "#a"}')
    with pytest.raises(ValueError):
        decode_message(1, b"\xff")
    with pytest.raises(ValueError):
        NatsStore("")
    with pytest.raises(ValueError):
        NatsStore("nats://x:1", prefix="a.b")


def test_two_stores_share_everything(nats_server: NatsServer, nats_prefix: str) -> None:
    async def body() -> None:
        a = NatsStore(nats_server.url, prefix=nats_prefix)
        async with opened(a):
            first = [await append(a, f"a{i}") for i in range(3)]
            await save_room(a, RoomRecord("#general", "#General", "from a"))
            await save_account(a, Account("ana", "Ana", "hash", "#111111"))
            b = NatsStore(nats_server.url, prefix=nats_prefix)
            async with opened(b) as snapshot:
                assert snapshot.rooms == [RoomRecord("#general", "#General", "from a")]
                assert snapshot.accounts == [Account("ana", "Ana", "hash", "#111111")]
                assert await history(b) == first
                # Both write; the ids (stream sequences) interleave in one order.
                mine = await append(b, "b0")
                theirs = await append(a, "a3")
                assert first[-1].id < mine.id < theirs.id
                # Each store reads what the other wrote once it has seen it.
                assert texts(await history(a)) == ["a0", "a1", "a2", "b0", "a3"]

    run(body())


def test_old_messages_by_direct_get_and_per_room_limit(
    nats_server: NatsServer, nats_prefix: str
) -> None:
    async def body() -> None:
        store = NatsStore(nats_server.url, prefix=nats_prefix, history_per_room=20, tail=4)
        async with opened(store):
            stored = [await append(store, f"m{i}") for i in range(30)]
            await append(store, "other", room_key="#other")
            ids = [m.id for m in stored]
            # Only the last 20 are kept; all but the last 4 come from NATS.
            assert texts(await history(store)) == [f"m{i}" for i in range(10, 30)]
            assert await history(store, 5, before=ids[15]) == stored[10:15]
            assert await history(store, 3, after=ids[24]) == stored[25:28]
            assert await history(store, 2, before=ids[10]) == []
            assert texts(await history(store, room_key="#other")) == ["other"]
        # A restart rebuilds the index from the stream.
        again = NatsStore(nats_server.url, prefix=nats_prefix, history_per_room=20, tail=4)
        async with opened(again):
            assert await history(again, 6, before=ids[16]) == stored[10:16]

    run(body())


def test_foreign_messages_on_the_stream_are_skipped(
    nats_server: NatsServer, nats_prefix: str
) -> None:
    async def body() -> None:
        store = NatsStore(nats_server.url, prefix=nats_prefix)
        async with opened(store):
            before = await append(store, "before")
            nc = await nats.connect(nats_server.url)
            try:
                js = nc.jetstream()
                await js.publish(store.subject_prefix + token("#general"), b"not json")
                await js.publish(store.subject_prefix + "zz", b"{}")
            finally:
                await nc.close()
            after = await append(store, "after")
            assert await history(store) == [before, after]

    run(body())


def test_unreachable_nats_is_a_clear_error() -> None:
    async def body() -> None:
        store = NatsStore(f"nats://127.0.0.1:{closed_port()}", connect_timeout=1)
        with pytest.raises(StoreUnavailable, match=r"cannot reach NATS at nats://127\.0\.0\.1"):
            await store.open()
        await store.close()

    run(body())


def test_nats_without_jetstream_is_a_clear_error(tmp_path: Path) -> None:
    plain = NatsServer(tmp_path, jetstream=False)
    plain.start()
    try:

        async def body() -> None:
            store = NatsStore(plain.url, connect_timeout=2, ack_timeout=2)
            with pytest.raises(StoreUnavailable, match="JetStream is not enabled"):
                await store.open()
            await store.close()

        run(body())
    finally:
        plain.stop()


@pytest.mark.slow
def test_nats_down_then_back(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:

        async def body() -> None:
            store = NatsStore(server.url, prefix="down", ack_timeout=2)
            async with opened(store):
                before = await append(store, "before")
                await save_room(store, RoomRecord("#general", "#General"))
                server.kill()
                # Whether or not the client noticed yet, nothing is acknowledged.
                results = await asyncio.gather(
                    *(try_append(store, f"lost{i}") for i in range(5)), try_history(store)
                )
                assert all(isinstance(r, StoreUnavailable) for r in results[:5]), results
                server.start()  # same port, same store directory
                for _ in range(100):
                    result = await try_append(store, "after")
                    if isinstance(result, StoredMessage):
                        break
                    await asyncio.sleep(0.1)  # the client reconnects at its own pace
                assert isinstance(result, StoredMessage), result
                assert result.id > before.id
                got = texts(await history(store))
                assert got[0] == "before" and got[-1] == "after"
                assert not any(t.startswith("lost") for t in got)

        run(body())
    finally:
        server.stop()
