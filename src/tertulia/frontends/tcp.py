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

from tertulia.frontends.outbox import Flusher
from tertulia.protocol.errors import ByeCode
from tertulia.protocol.lines import LineSplitter

if TYPE_CHECKING:
    from tertulia.core.hub import Hub
    from tertulia.core.session import Session

logger = logging.getLogger(__name__)

#: Seconds a closing connection may take to drain before it is reset.
ABORT_AFTER = 5.0


class TcpConnection(asyncio.Protocol):
    """One client socket."""

    __slots__ = (
        "_on_close",
        "address",
        "buffered",
        "closing",
        "flusher",
        "frozen",
        "held",
        "hub",
        "max_sendq",
        "out",
        "session",
        "splitter",
        "transport",
    )

    def __init__(
        self, hub: Hub, flusher: Flusher, max_sendq: int, on_close: Callable[[TcpConnection], None]
    ) -> None:
        self.hub = hub
        self.flusher = flusher
        self.max_sendq = max_sendq
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.splitter = LineSplitter(hub.settings.max_line)
        self.out: list[bytes] = []
        self.held = 0  # bytes in self.out
        self.buffered = 0  # the transport's buffer at the last flush
        self.closing = False
        self.frozen = False  # set at shutdown: reading stays paused
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

    def send(self, data: bytes) -> None:
        if self.closing:
            return
        if not self.out:
            self.flusher.mark(self)
        self.out.append(data)
        self.held += len(data)
        if self.held + self.buffered > self.max_sendq:
            # Hand it to the socket now: only what the kernel does not take
            # is held output, and flush() cuts the connection past the limit.
            self.flush()

    def flush(self) -> None:
        out = self.out
        if not out or self.closing or self.transport is None:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.held = 0
        self.transport.write(data)
        self.buffered = self.transport.get_write_buffer_size()
        if self.buffered > self.max_sendq:
            self._overflow()

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
        loop.call_later(ABORT_AFTER, _abort_if_open, transport)

    def _overflow(self) -> None:
        """Held output passed --max-sendq: stop adding, say BYE, close (PROTOCOL.md §5)."""
        session = self.session
        assert session is not None and self.transport is not None
        self.out.clear()
        self.held = 0
        logger.info(
            "slow consumer #%d %s: over %d bytes held",
            session.conn_id,
            session.name or "-",
            self.max_sendq,
        )
        self.transport.write(
            session.enc.bye(ByeCode.SLOW_CONSUMER.value, "you are not reading fast enough")
        )
        self._close_soon()
        # Never call back into the core synchronously (core.ports.Peer).
        asyncio.get_running_loop().call_soon(session.connection_lost, "Slow consumer")

    def statistics(self) -> dict[str, int]:
        return {"held": self.held, "buffered": self.buffered}


def _abort_if_open(transport: asyncio.Transport) -> None:
    """Reset a connection whose output did not drain in time (a no-op once it is closed)."""
    transport.abort()
