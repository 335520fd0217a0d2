"""Coalesced output: each connection is flushed at most once per event-loop turn.

The naive way is one ``transport.write()`` per line delivered: for a room of
200 members that is 200 system calls per message.  Instead a connection
collects the lines of one loop turn in a list and asks the shared
:class:`Flusher` to flush it; the flusher runs once, after every callback of
the current turn, and each dirty connection does one ``write`` of the joined
bytes.  :class:`BufferedPeer` is that output half of a connection, shared by
the TCP and WebSocket front ends.  See docs/explanation/delivery.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from tertulia.protocol.errors import ByeCode

if TYPE_CHECKING:
    from tertulia.core.session import Session

logger = logging.getLogger(__name__)


class Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    """Runs ``flush()`` of every connection marked dirty, once per loop turn."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Flushable] = []
        self._scheduled = False

    def mark(self, conn: Flushable) -> None:
        """Flush ``conn`` at the end of this turn (call once per turn per connection)."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for conn in dirty:
            conn.flush()


#: Seconds a closing connection may take to drain before it is reset.
ABORT_AFTER = 5.0


class BufferedPeer:
    """The output half of a connection, the same for every front end.

    It implements :class:`~tertulia.core.ports.Peer`'s ``send`` the
    coalesced way: lines are appended to :attr:`out` and the connection is
    marked dirty once per loop turn; :meth:`flush` writes them all at once.
    Held output (unflushed bytes plus the transport's buffer) is checked
    against ``max_sendq``; past it the client gets ``BYE SLOW_CONSUMER`` and
    the connection is cut (PROTOCOL.md §5), without anyone else waiting.

    A front end sets :attr:`transport` and :attr:`session`, and says how a
    line goes on its wire (:meth:`_wire`) and how it cuts a connection
    (:meth:`_cut`).
    """

    __slots__ = (
        "buffered",
        "closing",
        "flusher",
        "frozen",
        "held",
        "max_sendq",
        "out",
        "session",
        "transport",
    )

    def __init__(self, flusher: Flusher, max_sendq: int) -> None:
        self.flusher = flusher
        self.max_sendq = max_sendq
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.out: list[bytes] = []
        self.held = 0  # bytes in self.out
        self.buffered = 0  # the transport's buffer at the last flush
        self.closing = False
        self.frozen = False  # set at shutdown: reading stays paused

    def send(self, data: bytes) -> None:
        """Queue bytes already in the wire's form (the hot path: keep it short)."""
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
        transport = self.transport
        if not out or self.closing or transport is None:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.held = 0
        if transport.is_closing():
            return
        transport.write(data)
        self.buffered = transport.get_write_buffer_size()
        if self.buffered > self.max_sendq:
            self._overflow()

    def statistics(self) -> dict[str, int]:
        return {"held": self.held, "buffered": self.buffered}

    def _overflow(self) -> None:
        """Held output passed ``max_sendq``: stop adding, say BYE, cut (PROTOCOL.md §5)."""
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
        bye = session.enc.bye(ByeCode.SLOW_CONSUMER.value, "you are not reading fast enough")
        self.transport.write(self._wire(bye))
        self._cut()
        # Never call back into the core synchronously (core.ports.Peer).
        asyncio.get_running_loop().call_soon(session.connection_lost, "Slow consumer")

    def _wire(self, line: bytes) -> bytes:
        """A line as the wire carries it (a WebSocket frames it)."""
        return line

    def _cut(self) -> None:
        """Close a connection that read too slowly."""
        raise NotImplementedError


def abort_if_open(transport: asyncio.Transport) -> None:
    """Reset a connection whose output did not drain in time (a no-op once it is closed)."""
    transport.abort()
