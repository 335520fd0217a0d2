"""The server: wires the store, the hub and the front ends, and shuts them down in order.

Task ownership: the event loop thread owns the hub, every session and every
connection.  The store owns its own thread; the password hasher owns a small
pool.  :class:`Server` owns the listening sockets and the timer task.

Shutdown order (PROTOCOL.md §7): stop accepting; stop reading; let every line
already read finish (its messages stored and delivered), up to
:data:`DRAIN_DEADLINE`; send ``BYE SERVER_SHUTDOWN``; let output drain; close
the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

from tertulia import __version__
from tertulia.core.hub import Hub
from tertulia.core.ports import Store, StoreUnavailable
from tertulia.frontends.outbox import Flusher
from tertulia.frontends.tcp import TcpConnection
from tertulia.server.config import Config
from tertulia.server.hashing import ThreadedHasher
from tertulia.store.sqlite import SqliteStore

logger = logging.getLogger(__name__)

DRAIN_DEADLINE = 3.0
FLUSH_DEADLINE = 2.0


def store_for(config: Config) -> Store:
    """The store the configuration asks for: NATS JetStream with ``--nats``, else SQLite.

    Raises:
        StoreUnavailable: ``--nats`` without nats-py installed.
    """
    if config.nats:
        try:
            from tertulia.store.nats import NatsStore
        except ImportError:
            raise StoreUnavailable("--nats needs nats-py: pip install 'tertulia[nats]'") from None
        return NatsStore(config.nats, prefix=config.nats_prefix)
    return SqliteStore(config.db_path)


class Server:
    """One Tertulia server process' worth of parts.

    Use ``await start()``, then ``await stop()``; :attr:`port` is the bound TCP
    port (useful with ``port=0``).
    """

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store: Store = store or store_for(config)
        self.hub: Hub | None = None
        self.connections: set[TcpConnection] = set()
        self._listener: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._hasher: ThreadedHasher | None = None
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind the port, open the store, then start accepting.

        The port is bound first so that "port in use" is said before anything
        else happens; connections wait in the backlog until the hub is ready.

        Raises:
            OSError: when the address cannot be bound (port in use, ...).
        """
        loop = asyncio.get_running_loop()
        flusher = Flusher(loop)
        max_sendq = self.config.max_sendq

        def factory() -> TcpConnection:
            assert self.hub is not None
            conn = TcpConnection(self.hub, flusher, max_sendq, self.connections.discard)
            self.connections.add(conn)
            return conn

        self._listener = await loop.create_server(
            factory,
            self.config.host or None,
            self.config.port,
            backlog=1024,
            reuse_address=True,
            start_serving=False,
        )
        try:
            snapshot = await self.store.open()
        except BaseException:
            self._listener.close()
            raise
        self._hasher = ThreadedHasher(loop)
        self.hub = Hub(self.config.core(__version__), self.store, self._hasher, snapshot)
        await self._listener.start_serving()
        self._ticker = asyncio.create_task(self._tick(), name="tertulia-timers")
        where = self.config.host or "*"
        logger.info(
            "tertulia %s listening on %s:%d (tcp), store: %s",
            __version__,
            where,
            self.port,
            self.store.description,
        )

    async def _tick(self) -> None:
        """Drive the hub's timeouts (identify, ping)."""
        c = self.config
        periods = [p for p in (c.identify_timeout, c.ping_interval, c.ping_timeout) if p > 0]
        period = min([1.0, *[p / 4 for p in periods]])
        assert self.hub is not None
        while True:
            await asyncio.sleep(period)
            self.hub.tick()

    async def stop(self, fast: asyncio.Event | None = None) -> None:
        """Shut down in the order of PROTOCOL.md §7; ``fast`` set skips the waits."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        fast = fast or asyncio.Event()
        if self._listener is not None:
            self._listener.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with suppress(asyncio.CancelledError):
                await self._ticker
        hub = self.hub
        if hub is not None:
            for conn in list(self.connections):
                conn.freeze()
            await _wait_until(lambda: not hub.busy(), DRAIN_DEADLINE, fast)
            hub.shutdown()
            await _wait_until(lambda: not self.connections, FLUSH_DEADLINE, fast)
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
        await self.store.close()
        if self._hasher is not None:
            self._hasher.close()
        logger.info("tertulia stopped")


async def _wait_until(condition: object, deadline: float, fast: asyncio.Event) -> None:
    assert callable(condition)
    end = time.monotonic() + deadline
    while not condition() and not fast.is_set() and time.monotonic() < end:
        await asyncio.sleep(0.01)
