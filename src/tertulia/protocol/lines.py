"""Framing: bytes in, lines out (PROTOCOL.md §1).

:class:`LineSplitter` turns an arbitrary split of a byte stream into the same
sequence of lines.  Its invariants:

* Lines end in LF; a CR right before the LF is dropped.  Empty lines are
  dropped here (the protocol ignores them with no reply).
* A line longer than ``max_line`` bytes (not counting the LF or a CR right
  before it) yields exactly one :data:`TOO_LONG` marker, as soon as the
  excess is certain and at the latest when its LF arrives.  The rest of that
  line is discarded up to the LF, so memory stays at ``max_line + 1`` bytes
  per connection whatever the peer sends.
* Work is O(n) in the bytes fed: the buffer is scanned once with
  ``bytes.find`` and never re-scanned from the start.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    """Marker for a line that was longer than the limit (one per such line)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()


class _NotText:
    """Marker for a WebSocket frame that is not a text frame (binary)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_TEXT"


NOT_TEXT: Final = _NotText()

#: What :meth:`LineSplitter.feed` and :func:`frame_line` yield: a line without
#: its end, or a marker (:data:`NOT_TEXT` only from a WebSocket front end).
Line = bytes | _TooLong | _NotText


def frame_line(payload: bytes, max_line: int) -> Line | None:
    """The line carried by one WebSocket text frame (PROTOCOL.md §1: one frame = one line).

    The same rules as :class:`LineSplitter`, so a WebSocket client gets the
    same errors as a TCP one: one LF at the end, and a CR right before it, are
    dropped; an empty line is ignored (None); more than ``max_line`` bytes is
    :data:`TOO_LONG`.  An LF inside the frame is left in place: the frame is
    one line, and the JSON decoder takes such an LF as whitespace.
    """
    if payload.endswith(b"\n"):
        payload = payload[:-1]
    if payload.endswith(b"\r"):
        payload = payload[:-1]
    if len(payload) > max_line:
        return TOO_LONG
    return payload or None


class LineSplitter:
    """Split a byte stream into lines of at most ``max_line`` bytes.

    Call :meth:`feed` with every chunk received, in order; it returns the
    lines completed by that chunk.
    """

    __slots__ = ("_buf", "_discarding", "max_line")

    def __init__(self, max_line: int = 4096) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished line (never more than ``max_line + 1``)."""
        return len(self._buf)

    @property
    def pending(self) -> bool:
        """True while a line has begun and not ended (kept, or being discarded)."""
        return bool(self._buf) or self._discarding

    def feed(self, data: bytes) -> list[Line]:
        """Take the next chunk of the stream; return the lines it completes."""
        out: list[Line] = []
        start = 0
        end = len(data)
        limit = self.max_line
        while start < end:
            nl = data.find(b"\n", start)
            if self._discarding:
                if nl < 0:
                    return out
                self._discarding = False
                start = nl + 1
                continue
            if nl < 0:
                self._buf += data[start:]
                # max_line + 1 bytes may still be a full line plus its CR.
                if len(self._buf) > limit + 1 or (
                    len(self._buf) == limit + 1 and self._buf[-1] != 0x0D
                ):
                    out.append(TOO_LONG)
                    self._buf.clear()
                    self._discarding = True
                return out
            if self._buf:
                self._buf += data[start:nl]
                line = bytes(self._buf)
                self._buf.clear()
            else:
                line = data[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > limit:
                out.append(TOO_LONG)
            elif line:
                out.append(line)
        return out
