"""The native protocol over WebSocket: ``/ws`` on the HTTP port, JSON mode (PROTOCOL.md §1, §6).

aiohttp does the handshake (in :mod:`tertulia.frontends.http`) and reads
frames; one :class:`WebSocketConnection` per upgraded request then does what
:class:`~tertulia.frontends.tcp.TcpConnection` does for a socket, and
implements the core's :class:`~tertulia.core.ports.Peer` the same way:

* **In.**  One text frame is one line (:func:`~tertulia.protocol.lines.frame_line`):
  the same ``--max-line``, UTF-8, empty-line, rate-limit and bad-line rules
  as TCP, so a browser gets the same errors as ``nc``.  Text frames reach us
  as bytes (``decode_text=False``) so that invalid UTF-8 is ``ERR
  BAD_ENCODING`` like on TCP, not a closed connection.  A binary frame is
  ``ERR BAD_ENCODING`` and is not run.  A frame over :func:`max_frame` bytes
  is not read at all: aiohttp closes with 1009 (RFC 6455 §7.4.1).
* **Out.**  ``send`` frames the lines (one text frame per line) and appends
  them to a list; the shared :class:`~tertulia.frontends.outbox.Flusher`
  flushes once per loop turn, in one ``transport.write``.  A room message
  is framed once for all its members (:class:`Framer`).
  We frame server messages ourselves (unmasked, uncompressed: RFC 6455 §5.2);
  the response is made with ``compress=False``, so aiohttp's writer keeps no
  state that our writes could disturb, and both write whole frames only.
* **Slow readers.**  Held output (unflushed bytes plus the transport's
  buffer) is checked against ``--max-sendq``; past it the client gets ``BYE
  SLOW_CONSUMER`` and close code 1008, and the connection is reset if it has
  not drained within :data:`ABORT_AFTER` seconds.  Nobody else waits.
* **Flow control.**  ``pause_reading`` stops this connection's task from
  taking frames; aiohttp stops reading the socket once its small queue is
  full.  ``freeze`` (shutdown) pauses for good.

Close codes: 1000 after a BYE, 1001 at shutdown, 1008 for a slow consumer,
1009 for a frame over the size limit (see docs/reference/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType

from tertulia.frontends.outbox import ABORT_AFTER, BufferedPeer, Flusher, abort_if_open
from tertulia.protocol.lines import NOT_TEXT, frame_line

if TYPE_CHECKING:
    from aiohttp import web

    from tertulia.core.hub import Hub

logger = logging.getLogger(__name__)


_LEN16 = struct.Struct("!BBH").pack
_LEN64 = struct.Struct("!BBQ").pack
_TEXT = 0x81  # FIN + opcode 1 (RFC 6455 §5.2)


def max_frame(max_line: int) -> int:
    """Largest frame read whole: a longer one closes the connection (1009).

    Frames from ``max_line`` bytes up to this size get ``ERR LINE_TOO_LONG``
    and the connection goes on, as on TCP.  The bound exists because aiohttp
    holds a whole message in memory before handing it over, where the TCP
    front end keeps at most ``max_line`` bytes of any line.
    """
    return max(1 << 20, 2 * max_line + 2)


def text_frames(data: bytes) -> bytes:
    """One unmasked text frame per line of ``data`` (lines end in LF; the LF is not sent)."""
    parts: list[bytes] = []
    start = 0
    end = len(data)
    while start < end:
        nl = data.find(b"\n", start)
        if nl < 0:
            nl = end
        n = nl - start
        if n < 126:
            parts.append(bytes((_TEXT, n)))
        elif n < 65536:
            parts.append(_LEN16(_TEXT, 126, n))
        else:
            parts.append(_LEN64(_TEXT, 127, n))
        parts.append(data[start:nl])
        start = nl + 1
    return b"".join(parts)


class Framer:
    """:func:`text_frames` with a one-entry cache: the last ``bytes`` object framed.

    The hub hands the same ``bytes`` object to every member of a room in a
    row, so a room message is framed once, not once per member.  One per
    server (its loop thread owns it): a cache shared between servers running
    in several threads of one process would hand one server's frames to
    another's clients.
    """

    __slots__ = ("_data", "_frames")

    def __init__(self) -> None:
        self._data = b""
        self._frames = b""

    def __call__(self, data: bytes) -> bytes:
        if data is not self._data:
            self._frames = text_frames(data)
            self._data = data
        return self._frames


class WebSocketConnection(BufferedPeer):
    """One ``/ws`` client: a :class:`~tertulia.core.ports.Peer` fed by :meth:`run`.

    Its output half is a :class:`~tertulia.frontends.outbox.BufferedPeer`
    that holds frames, not lines.
    """

    __slots__ = (
        "_close_task",
        "_on_close",
        "_readable",
        "address",
        "framer",
        "hub",
        "max_line",
        "ws",
    )

    def __init__(
        self,
        hub: Hub,
        flusher: Flusher,
        max_sendq: int,
        ws: web.WebSocketResponse[Any],
        transport: asyncio.Transport,
        address: str,
        on_close: Callable[[WebSocketConnection], None],
        framer: Framer | None = None,
    ) -> None:
        BufferedPeer.__init__(self, flusher, max_sendq)
        self.hub = hub
        self.framer = framer or Framer()
        self.max_line = hub.settings.max_line
        self.ws = ws
        self.transport: asyncio.Transport = transport
        self.address = address
        self._readable = asyncio.Event()
        self._readable.set()
        self._close_task: asyncio.Task[bool] | None = None
        self._on_close = on_close

    # ------------------------------------------------------------ the reading task

    async def run(self) -> None:
        """Greet the client, then hand it every frame until the connection ends.

        This is the connection's task: it owns the reading side, and its one
        broad ``except`` logs an internal error and resets the connection.
        """
        session = self.session = self.hub.connect(self, self.address, json_mode=True)
        logger.info("connect #%d from %s (websocket)", session.conn_id, self.address)
        reason = "Connection closed"
        try:
            while not session.closed:
                if not self._readable.is_set():
                    await self._readable.wait()
                    continue
                msg = await self.ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT:
                    session.touch()
                    line = frame_line(msg.data, self.max_line)
                    if line is not None:
                        session.receive(line)
                elif kind is WSMsgType.BINARY:
                    session.touch()
                    session.receive(NOT_TEXT)
                else:  # CLOSE, CLOSING, CLOSED or ERROR: the connection is over
                    if kind is WSMsgType.ERROR:
                        reason = "Connection lost"
                        logger.info(
                            "websocket #%d ended: %s", session.conn_id, msg.data or "error"
                        )
                    break
        except Exception:
            logger.exception("internal error on connection #%d; closing it", session.conn_id)
            self.transport.abort()
            reason = "Internal error"
        finally:
            self.closing = True
            self.out.clear()
            if self._close_task is not None and not self._close_task.done():
                # The close handshake runs on; the connection is over for us.
                await asyncio.wait([self._close_task], timeout=ABORT_AFTER)
            self._on_close(self)
            logger.info("disconnect #%d %s (%s)", session.conn_id, session.name or "-", reason)
            session.connection_lost(reason)

    # ------------------------------------------------------------ Peer

    def send(self, data: bytes) -> None:
        if not self.closing:
            BufferedPeer.send(self, self.framer(data))

    def close(self) -> None:
        """Flush what is queued, then close (after a BYE line): 1000, or 1001 at shutdown."""
        if self.closing:
            return
        self.flush()
        self._close_soon(WSCloseCode.GOING_AWAY if self.frozen else WSCloseCode.OK)

    def pause_reading(self) -> None:
        self._readable.clear()

    def resume_reading(self) -> None:
        if not self.frozen:
            self._readable.set()

    def freeze(self) -> None:
        """Stop reading for good (shutdown): frames already read still run."""
        self.frozen = True
        self._readable.clear()

    # ------------------------------------------------------------ internals

    def _close_soon(self, code: int) -> None:
        self.closing = True
        # The close handshake needs the loop; run it as a task we keep.
        self._close_task = asyncio.get_running_loop().create_task(
            self.ws.close(code=code, drain=False), name="tertulia-ws-close"
        )
        self._readable.set()  # a paused reader wakes up and sees the end
        asyncio.get_running_loop().call_later(ABORT_AFTER, abort_if_open, self.transport)

    def _wire(self, line: bytes) -> bytes:
        return text_frames(line)

    def _cut(self) -> None:
        self._close_soon(WSCloseCode.POLICY_VIOLATION)
