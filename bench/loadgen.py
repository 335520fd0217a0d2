"""The load generator: raw asyncio protocols (uvloop when present), no task per client.

Most receivers only count newlines (``bytes.count``, at C speed), so the
generator is not the bottleneck it measures; a few *checking* receivers parse
every line, check that each sender's sequence numbers arrive once and in
order, and sample latency.  One of them is the *witness*: a sender's window
(messages in flight) is what it sent minus what the witness has seen, so the
same flow control works for a protocol with acknowledgements (Tertulia) and
one without (IRC).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.adapters import PAYLOAD_RE, Adapter, payload

ROOM = "#bench"
CONNECT_WINDOW = 8  # registrations in flight: below ngircd's listen backlog of 10, so
# neither server's accept queue overflows (an overflow costs seconds of SYN backoff)


@dataclass
class Tally:
    lines: int = 0
    order_errors: int = 0
    checked: int = 0
    latencies: list[float] = field(default_factory=list)


class Client(asyncio.Protocol):
    """One connection: registers, then counts or checks what it receives."""

    def __init__(self, marker: bytes, tally: Tally) -> None:
        self.marker = marker
        self.tally = tally
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.setup_buf = b""
        self.counting = False
        self.checker: Checker | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            # Keep only a marker's length of the past: registration can bring
            # megabytes (a JOIN line per member), and rescanning it all is
            # quadratic.
            window = self.setup_buf + data
            if self.marker in window:
                self.setup_buf = b""
                self.ready.set_result(None)
            else:
                self.setup_buf = window[-len(self.marker) :]
            return
        if self.checker is not None:
            self.checker.feed(data)
        elif self.counting:
            self.tally.lines += data.count(b"\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed while registering"))
        if not self.closed.done():
            self.closed.set_result(None)


class Checker:
    """Parses every line: per-sender order, and latency of one line in ``sample``."""

    def __init__(self, tally: Tally, senders: int, sample: int, on_seen: object = None) -> None:
        self.tally = tally
        self.last = [-1] * senders
        self.buf = b""
        self.sample = sample
        self.n = 0
        self.on_seen = on_seen

    def feed(self, data: bytes) -> None:
        now = time.time()
        tally = self.tally
        tally.lines += data.count(b"\n")
        text = self.buf + data if self.buf else data
        cut = text.rfind(b"\n") + 1
        self.buf = text[cut:]
        last = self.last
        for m in PAYLOAD_RE.finditer(text, 0, cut):
            s, seq = int(m.group(1)), int(m.group(2))
            if seq != last[s] + 1:
                tally.order_errors += 1
            last[s] = seq
            tally.checked += 1
            self.n += 1
            if self.n % self.sample == 0:
                tally.latencies.append(now - float(m.group(3)))
            if self.on_seen is not None:
                self.on_seen(s, seq)  # type: ignore[operator]


async def connect_many(
    adapter: Adapter, port: int, count: int, room: str | None, prefix: str, tally: Tally
) -> list[Client]:
    """Connect and register ``count`` clients, ``CONNECT_WINDOW`` at a time."""
    loop = asyncio.get_running_loop()
    marker = adapter.ready_marker(room)
    clients: list[Client] = []
    gate = asyncio.Semaphore(CONNECT_WINDOW)

    async def one(i: int) -> None:
        async with gate:
            _, client = await loop.create_connection(
                lambda: Client(marker, tally), "127.0.0.1", port
            )
            assert client.transport is not None
            client.transport.write(adapter.register(f"{prefix}{i}", room))
            await asyncio.wait_for(client.ready, 300)
            clients.append(client)

    await asyncio.gather(*(one(i) for i in range(count)))
    clients.sort(key=id)
    return clients


class Sender:
    """Keeps ``window`` messages in flight, as counted by the witness."""

    def __init__(self, index: int, client: Client, adapter: Adapter, window: int) -> None:
        self.index = index
        self.client = client
        self.adapter = adapter
        self.window = window
        self.sent = 0
        self.seen = 0
        self.running = False

    def pump(self) -> None:
        if not self.running:
            return
        room, adapter, transport = ROOM, self.adapter, self.client.transport
        assert transport is not None
        chunks = []
        now = time.time()
        while self.sent - self.seen < self.window:
            chunks.append(adapter.message(room, payload(self.index, self.sent, now)))
            self.sent += 1
        if chunks:
            transport.write(b"".join(chunks))

    def witnessed(self, seq: int) -> None:
        self.seen = seq + 1
        self.pump()


async def wait_for(condition: object, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(step)
    return bool(condition())  # type: ignore[operator]
