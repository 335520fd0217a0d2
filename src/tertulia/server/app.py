"""The server: wires the store, the hub and the front ends, and shuts them down in order.

Task ownership: the event loop thread owns the hub, every session and every
connection.  The store owns its own thread; the password hasher owns a small
pool.  :class:`Server` owns the listening sockets and the timer task; its
:class:`~tertulia.frontends.http.HttpFrontend` (when ``--http-port`` is on)
owns the aiohttp application and one reading task per WebSocket.

Shutdown order (PROTOCOL.md §7): stop accepting (TCP, TLS and HTTP); stop
reading (every connection, WebSockets too); let every line already read finish
(its messages stored and delivered), up to :data:`DRAIN_DEADLINE`; send
``BYE SERVER_SHUTDOWN`` (WebSockets then close with 1001); let output drain;
end the remaining HTTP connections; close the store.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from tertulia import __version__
from tertulia.bus.local import LocalBus
from tertulia.core.hub import Hub
from tertulia.core.ports import Bus, Store, StoreUnavailable
from tertulia.frontends.outbox import Flusher
from tertulia.frontends.tcp import TcpConnection
from tertulia.server.config import (
    Config,
    parse_origins,
    parse_web_servers,
    web_server_origins,
)
from tertulia.server.hashing import ThreadedHasher
from tertulia.server.tls import server_context
from tertulia.store.sqlite import SqliteStore

if TYPE_CHECKING:
    # Imported when HTTP is on: the server itself runs without aiohttp (Main.py
    # straight from a clone), only the web page needs it.
    from tertulia.frontends.http import HttpFrontend
    from tertulia.frontends.websocket import WebSocketConnection

logger = logging.getLogger(__name__)

DRAIN_DEADLINE = 3.0
#: Seconds a TLS client has to finish its handshake before it is cut.
TLS_HANDSHAKE_TIMEOUT = 10.0
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
        return NatsStore(config.nats, prefix=config.nats_prefix, replicas=config.nats_replicas)
    return SqliteStore(config.db_path)


def bus_for(config: Config) -> Bus:
    """What the nodes share: names on NATS with ``--nats``, else nothing (one node)."""
    if config.nats:
        try:
            from tertulia.bus.nats import NatsBus
        except ImportError:
            raise StoreUnavailable("--nats needs nats-py: pip install 'tertulia[nats]'") from None
        return NatsBus(config.nats, prefix=config.nats_prefix, replicas=config.nats_replicas)
    return LocalBus()


class ListenError(OSError):
    """A port could not be bound; ``flag`` says which option chose it."""

    def __init__(self, flag: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.flag, self.port = flag, port


class Server:
    """One Tertulia server process' worth of parts.

    Use ``await start()``, then ``await stop()``; :attr:`port` is the bound TCP
    port (useful with ``port=0``), :attr:`tls_port` the TLS one (None when
    off), :attr:`http_port` the HTTP one (None when off).

    Args:
        config: the options.
        store: the store (default: SQLite at ``config.db_path``).
        http_socket: serve HTTP on this bound socket, whatever
            ``config.http_port`` says (tests use it to get a free port).
    """

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        http_socket: socket.socket | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.config = config
        self.store: Store = store or store_for(config)
        self.bus: Bus = bus or bus_for(config)
        self.hub: Hub | None = None
        self.connections: set[TcpConnection] = set()
        self.web: HttpFrontend | None = None
        self._http_socket = http_socket
        self._listener: asyncio.base_events.Server | None = None
        self._tls_listener: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._hasher: ThreadedHasher | None = None
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def http_port(self) -> int | None:
        if self._http_socket is None:
            return None
        return int(self._http_socket.getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        """The bound TLS port, or None without ``--tls-port``."""
        if self._tls_listener is None:
            return None
        return int(self._tls_listener.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind the ports, open the store, then start accepting.

        The ports are bound first so that "port in use" is said before anything
        else happens; connections wait in the backlog until the hub is ready.

        Raises:
            ConfigError: the TLS certificate or key cannot be used.
            ListenError: an address cannot be bound (port in use, ...);
                ``flag`` and ``port`` say which.
        """
        tls = server_context(self.config)
        loop = asyncio.get_running_loop()
        flusher = Flusher(loop)
        max_sendq = self.config.max_sendq

        def factory() -> TcpConnection:
            assert self.hub is not None
            conn = TcpConnection(self.hub, flusher, max_sendq, self.connections.discard)
            self.connections.add(conn)
            return conn

        config = self.config
        try:
            self._listener = await loop.create_server(
                factory,
                self.config.host or None,
                self.config.port,
                backlog=1024,
                reuse_address=True,
                start_serving=False,
            )
        except OSError as exc:
            raise ListenError("--port", self.config.port, exc) from exc
        try:
            if self._http_socket is None and config.http_port and _have_aiohttp():
                from tertulia.frontends.http import bind_http

                try:
                    self._http_socket = bind_http(config.host, config.http_port)
                except OSError as exc:
                    raise ListenError("--http-port", config.http_port, exc) from exc
            if tls is not None:
                self._tls_listener = await self._bind_tls(factory, tls)
            snapshot = await self.store.open()
            try:
                await self.bus.open()
            except BaseException:
                await self.store.close()
                raise
            self._order_bus()
        except BaseException:
            self._close_listeners()
            raise
        self._hasher = ThreadedHasher(loop)
        self.hub = Hub(
            config.core(__version__),
            self.store,
            self._hasher,
            snapshot,
            later=loop.call_later,
            bus=self.bus,
        )
        await self._listener.start_serving()
        if self._http_socket is not None:
            from tertulia.frontends.http import HttpFrontend

            web_servers = parse_web_servers(config.web_servers)
            self.web = HttpFrontend(
                self.hub,
                flusher,
                max_sendq,
                # A node accepts the page of every node it lists (protocol.md, c36).
                parse_origins(config.allowed_origins) | web_server_origins(web_servers),
                config.max_connections,
                web_servers,
            )
            await self.web.start(self._http_socket)
        if self._tls_listener is not None:
            await self._tls_listener.start_serving()
        self._ticker = asyncio.create_task(self._tick(), name="tertulia-timers")
        where = self.config.host or "*"
        tls_where = "" if self.tls_port is None else f", {where}:{self.tls_port} (tls)"
        logger.info(
            "tertulia %s listening on %s:%d (tcp)%s, store: %s",
            __version__,
            where,
            self.port,
            tls_where,
            self.store.description,
        )
        if self.config.operators:
            logger.info("operators: %s", ", ".join(self.config.operators))
        for name in self.hub.operators_without_account():
            logger.warning("operator %s has no account, so no rights until it REGISTERs", name)
        if self.http_port is not None:
            logger.info(
                "web page on http://%s:%d/ (WebSocket at /ws)",
                config.host or "localhost",
                self.http_port,
            )

    async def _bind_tls(
        self, factory: Callable[[], TcpConnection], tls: ssl.SSLContext
    ) -> asyncio.base_events.Server:
        """Bind ``--tls-port`` (-1: any free port); same front end, over TLS."""
        port = self.config.tls_port
        try:
            return await asyncio.get_running_loop().create_server(
                factory,
                self.config.host or None,
                0 if port < 0 else port,
                ssl=tls,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
                backlog=1024,
                reuse_address=True,
                start_serving=False,
            )
        except OSError as exc:
            raise ListenError("--tls-port", port, exc) from exc

    def _close_listeners(self) -> None:
        for listener in (self._listener, self._tls_listener):
            if listener is not None:
                listener.close()
        if self.web is None and self._http_socket is not None:
            self._http_socket.close()  # bound, never served (the start failed)

    async def _tick(self) -> None:
        """Drive the hub's timeouts (identify, ping)."""
        c = self.config
        timers = (c.identify_timeout, c.ping_interval, c.ping_timeout, c.line_timeout)
        periods = [p for p in timers if p > 0]
        period = min([1.0, *[p / 4 for p in periods]])
        assert self.hub is not None
        while True:
            await asyncio.sleep(period)
            self.hub.tick()

    def _order_bus(self) -> None:
        """On NATS, room events travel in the history stream, in order with the messages."""
        if not self.config.nats:
            return
        from tertulia.bus.nats import NatsBus
        from tertulia.store.nats import NatsStore

        if isinstance(self.bus, NatsBus) and isinstance(self.store, NatsStore):
            self.bus.order_with(self.store)

    async def stop(self, fast: asyncio.Event | None = None) -> None:
        """Shut down in the order of PROTOCOL.md §7; ``fast`` set skips the waits."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        fast = fast or asyncio.Event()
        self._close_listeners()
        web = self.web
        if web is not None:
            await web.stop_accepting()
        if self._ticker is not None:
            self._ticker.cancel()
            with suppress(asyncio.CancelledError):
                await self._ticker
        hub = self.hub
        if hub is not None:
            web_connections: set[WebSocketConnection] = (
                web.connections if web is not None else set()
            )
            everyone: list[TcpConnection | WebSocketConnection] = [
                *self.connections,
                *web_connections,
            ]
            for conn in everyone:
                conn.freeze()
            await _wait_until(lambda: not hub.busy(), DRAIN_DEADLINE, fast)
            hub.shutdown()
            await _wait_until(
                lambda: not self.connections and not web_connections, FLUSH_DEADLINE, fast
            )
            leftover: list[TcpConnection | WebSocketConnection] = [
                *self.connections,
                *web_connections,
            ]
            for conn in leftover:
                if conn.transport is not None:
                    conn.transport.abort()
        if web is not None:
            await web.close()
        await self.bus.close()
        await self.store.close()
        if self._hasher is not None:
            self._hasher.close()
        logger.info("tertulia stopped")


def _have_aiohttp() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        logger.warning("no web page: it needs aiohttp (pip install aiohttp, or make run)")
        return False
    return True


async def _wait_until(condition: object, deadline: float, fast: asyncio.Event) -> None:
    assert callable(condition)
    end = time.monotonic() + deadline
    while not condition() and not fast.is_set() and time.monotonic() < end:
        await asyncio.sleep(0.01)
