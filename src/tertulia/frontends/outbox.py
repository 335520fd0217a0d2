"""Coalesced output: each connection is flushed at most once per event-loop turn.

The naive way is one ``transport.write()`` per line delivered: for a room of
200 members that is 200 system calls per message.  Instead a connection
collects the lines of one loop turn in a list and asks the shared
:class:`Flusher` to flush it; the flusher runs once, after every callback of
the current turn, and each dirty connection does one ``write`` of the joined
bytes.  See docs/explanation/delivery.md.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


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
