"""The three scenarios of the benchmark, each run on a freshly started server.

1. fan-out: C clients in one room, S senders with W messages in flight each.
2. idle scale: N clients register and stay idle: memory per connection and
   registrations per second.
3. round trip: one sender, one receiver, a steady rate: latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench.adapters import ADAPTERS, payload
from bench.loadgen import ROOM, Checker, Sender, Tally, connect_many, wait_for
from bench.servers import ServerUnderTest

SETTLE = 0.5  # seconds for presence lines to finish before measuring


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def fanout(
    server: ServerUnderTest,
    clients_n: int,
    senders_n: int,
    window: int,
    seconds: float,
    checkers: int = 3,
) -> dict[str, Any]:
    adapter = ADAPTERS[server.protocol]
    counted, checked = Tally(), Tally()
    clients = await connect_many(adapter, server.port, clients_n, ROOM, "c", counted)
    await asyncio.sleep(SETTLE)
    senders = [Sender(i, clients[i], adapter, window) for i in range(senders_n)]
    witness = clients[senders_n]
    witness.checker = Checker(
        checked, senders_n, 10, on_seen=lambda s, seq: senders[s].witnessed(seq)
    )
    for client in clients[senders_n + 1 : senders_n + checkers]:
        client.checker = Checker(checked, senders_n, 10)
    for client in clients:
        client.counting = True
    cpu0, me0, t0 = server.cpu_seconds(), time.process_time(), time.monotonic()
    for sender in senders:
        sender.running = True
        sender.pump()
    await asyncio.sleep(seconds)
    for sender in senders:
        sender.running = False
    sent = sum(s.sent for s in senders)
    expected = sent * (clients_n - 1)
    complete = await wait_for(lambda: counted.lines + checked.lines >= expected, 30)
    elapsed = time.monotonic() - t0
    cpu, mine = server.cpu_seconds() - cpu0, time.process_time() - me0
    delivered = counted.lines + checked.lines
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    lat = checked.latencies
    return {
        "clients": clients_n,
        "senders": senders_n,
        "window": window,
        "messages": sent,
        "deliveries": delivered,
        "expected": expected,
        "complete": complete,
        "order_errors": checked.order_errors,
        "checked_deliveries": checked.checked,
        "seconds": elapsed,
        "deliveries_per_s": delivered / elapsed,
        "server_cpu_s": cpu,
        "cpu_s_per_million": cpu / max(delivered, 1) * 1e6,
        "loadgen_cpu_s": mine,
        "latency_p50_ms": percentile(lat, 0.50) * 1e3,
        "latency_p99_ms": percentile(lat, 0.99) * 1e3,
        "latency_max_ms": max(lat, default=float("nan")) * 1e3,
    }


async def idle(server: ServerUnderTest, n: int) -> dict[str, Any]:
    adapter = ADAPTERS[server.protocol]
    rss0 = server.rss_kib()
    t0 = time.monotonic()
    clients = await connect_many(adapter, server.port, n, None, "i", Tally())
    elapsed = time.monotonic() - t0
    await asyncio.sleep(1.0)
    rss1 = server.rss_kib()
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    return {
        "connections": n,
        "registrations_per_s": n / elapsed,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "kib_per_connection": (rss1 - rss0) / n,
    }


async def roundtrip(server: ServerUnderTest, rate: float, seconds: float) -> dict[str, Any]:
    adapter = ADAPTERS[server.protocol]
    tally = Tally()
    clients = await connect_many(adapter, server.port, 2, ROOM, "r", tally)
    await asyncio.sleep(SETTLE)
    sender, receiver = clients
    receiver.checker = Checker(tally, 1, 1)
    assert sender.transport is not None
    count = int(rate * seconds)
    for seq in range(count):
        sender.transport.write(adapter.message(ROOM, payload(0, seq, time.time())))
        await asyncio.sleep(1 / rate)
    await wait_for(lambda: tally.checked >= count, 5)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    lat = tally.latencies
    return {
        "messages": count,
        "received": tally.checked,
        "order_errors": tally.order_errors,
        "latency_p50_ms": percentile(lat, 0.50) * 1e3,
        "latency_p99_ms": percentile(lat, 0.99) * 1e3,
        "latency_mean_ms": (statistics.fmean(lat) if lat else float("nan")) * 1e3,
    }
