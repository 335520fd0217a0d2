"""The native protocol over TCP (and, with an SSL context, TLS).

One :class:`TcpConnection` per socket, as an ``asyncio.Protocol``: no task
per connection, no thread.  It feeds received bytes to a
:class:`~tertulia.protocol.lines.LineSplitter` and the lines to its session,
and implements the core's :class:`~tertulia.core.ports.Peer`:

* ``send`` appends to a list and marks the connection dirty; the shared
  :class:`~tertulia.frontends.outbox.Flusher` writes once per loop turn.
* Held output (unflushed bytes plus the transport's buffer) is checked
  against ``--max-sendq``.  Past it the client gets ``BYE SLOW_CONSUMER``,
  the connection is closed, and aborted if it has not drained within
  :data:`ABORT_AFTER` seconds.  Nobody else waits for it (PROTOCOL.md §5).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from tertulia.frontends.outbox import ABORT_AFTER, BufferedPeer, Flusher, abort_if_open
from tertulia.protocol.lines import LineSplitter

if TYPE_CHECKING:
    from tertulia.core.hub import Hub

logger = logging.getLogger(__name__)

__all__ = ["ABORT_AFTER", "TcpConnection"]


class TcpConnection(BufferedPeer, asyncio.Protocol):
    """One client socket (its output half: :class:`~tertulia.frontends.outbox.BufferedPeer`)."""

    __slots__ = ("_on_close", "address", "hub", "splitter")

    def __init__(
        self, hub: Hub, flusher: Flusher, max_sendq: int, on_close: Callable[[TcpConnection], None]
    ) -> None:
        BufferedPeer.__init__(self, flusher, max_sendq)
        self.hub = hub
        self.splitter = LineSplitter(hub.settings.max_line)
        self.address = "?"
        self._on_close = on_close

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else "local"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.session = self.hub.connect(self, self.address)
        logger.info("connect #%d from %s", self.session.conn_id, self.address)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closed:
            return
        try:
            session.touch()
            lines = self.splitter.feed(data)
            session.unfinished(self.splitter.pending, bool(lines))
            for line in lines:
                session.receive(line)
                if session.closed:
                    break
        except Exception:
            logger.exception("internal error on connection #%d; closing it", session.conn_id)
            if self.transport is not None:
                self.transport.abort()
            session.connection_lost("Internal error")

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        self.closing = True
        self.out.clear()
        self._on_close(self)
        if session is not None:
            reason = "Connection closed" if exc is None else "Connection lost"
            logger.info("disconnect #%d %s (%s)", session.conn_id, session.name or "-", reason)
            session.connection_lost(reason)

    # ------------------------------------------------------------ Peer

    def close(self) -> None:
        """Flush what is queued, then close (after a BYE line)."""
        if self.closing or self.transport is None:
            return
        self.flush()
        self._close_soon()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closing and not self.frozen:
            self.transport.resume_reading()

    def freeze(self) -> None:
        """Stop reading for good (shutdown): lines already read still run."""
        self.frozen = True
        self.pause_reading()

    # ------------------------------------------------------------ internals

    def _close_soon(self) -> None:
        transport = self.transport
        assert transport is not None
        self.closing = True
        transport.close()
        loop = asyncio.get_running_loop()
        loop.call_later(ABORT_AFTER, abort_if_open, transport)

    def _cut(self) -> None:
        self._close_soon()
