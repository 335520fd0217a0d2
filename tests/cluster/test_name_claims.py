"""Name claims in the names bucket, one NatsBus on the real nats-server.

* A claim found lapsed at a keep-alive (gone from the bucket: its node was
  cut off longer than the TTL) is claimed again if no one took it
  meanwhile, and let go if someone did.
* ``patiently`` tries again only on the refusals and time-outs of a forming
  NATS cluster.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.errors
import nats.js.errors
import pytest

from tertulia.bus.nats import NatsBus
from tertulia.server.nats_server import NatsServer
from tertulia.store.nats import patiently, token
from tests.store.test_store_contract import run
from tests.timing import TIMEOUT


async def claimed(bus: NatsBus, key: str, name: str) -> object:
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    bus.claim(key, name, done.set_result)
    return await done


def test_a_lapsed_claim_is_claimed_again_unless_taken(
    nats_server: NatsServer, nats_prefix: str
) -> None:
    async def body() -> None:
        bus = NatsBus(nats_server.url, prefix=nats_prefix)
        await bus.open()
        nc = await nats.connect(nats_server.url)
        try:
            assert await claimed(bus, "ana", "Ana") is True
            kv = await nc.jetstream().key_value(bus.bucket)
            # Gone from the bucket: the next keep-alive claims it again.
            await kv.delete(token("ana"))
            await bus._refresh("ana")
            entry = await kv.get(token("ana"))
            assert json.loads(entry.value or b"")["node"] == bus.node
            assert bus.owned["ana"] == ("Ana", entry.revision)
            # Gone, then taken by another node: this one lets it go (and would
            # send its user away: NAME_LOST to the listener, none here).
            await kv.delete(token("ana"))
            await kv.create(token("ana"), b'{"name": "Ana", "node": "other"}')
            await bus._refresh("ana")
            assert "ana" not in bus.owned
            entry = await kv.get(token("ana"))
            assert json.loads(entry.value or b"")["node"] == "other"
        finally:
            await nc.close()
            await bus.close()

    run(body())


def test_patiently_tries_again_only_while_a_cluster_forms() -> None:
    async def body() -> None:
        calls = 0

        async def forming() -> str:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise nats.js.errors.APIError(400, "no suitable peers for placement", 10005)
            return "placed"

        assert await patiently(forming, TIMEOUT) == "placed" and calls == 3

        async def slow() -> str:
            nonlocal calls
            calls += 1
            if calls < 2:
                raise nats.errors.TimeoutError
            return "created"

        calls = 0
        assert await patiently(slow, TIMEOUT) == "created" and calls == 2

        async def refused() -> str:
            nonlocal calls
            calls += 1
            raise nats.js.errors.APIError(400, "stream name already in use", 10058)

        calls = 0
        with pytest.raises(nats.js.errors.APIError):
            await patiently(refused, TIMEOUT)
        assert calls == 1

        async def never() -> str:
            raise nats.js.errors.APIError(503, "JetStream system temporarily unavailable", 10008)

        started = time.monotonic()
        with pytest.raises(nats.js.errors.APIError):
            await patiently(never, 0.5)
        assert 0.5 <= time.monotonic() - started < 0.5 + TIMEOUT

    run(body())
