"""One client connection in JSON mode (PROTOCOL.md §6), with no user interface.

:class:`Connection` opens the TCP connection, reads the text ``WELCOME``,
switches to JSON with ``@<- PROTO json`` and then speaks one JSON object per
line.  :meth:`Connection.request` sends a command with its own ``ref`` and
waits for its reply: the ``ok`` or ``error`` carrying that ``ref``, the
sender's copy of a ``message`` (``say``, ``me``) or ``private`` (``msg``), or
the ``bye`` of a ``quit``.  Everything else the server sends is an event,
read with :meth:`Connection.events`; the sender's copies of messages are
events too, so a user interface can show every message from one place.

Invariants:

* Replies come in command order (PROTOCOL.md §1), so an ``error`` without a
  ``ref`` (``RATE_LIMITED``, ``LINE_TOO_LONG``, ``BAD_JSON``…) answers the
  oldest command still waiting.
* The server's ``ping`` is answered here and never reaches the events.
* When the connection ends, every waiting request fails with
  :class:`ConnectionClosed` and the events end (the iterator stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from tertulia.protocol.commands import Command, Verb, split_text, text_args

JsonObject = dict[str, Any]

#: How long a request waits for its reply by default (seconds).
REQUEST_TIMEOUT = 30.0
#: How long :meth:`Connection.connect` waits for WELCOME and ``OK PROTO json``.
HANDSHAKE_TIMEOUT = 10.0


class ConnectionClosed(ConnectionError):
    """The connection ended before the reply came."""


class ServerRefused(ConnectionError):
    """The server did not accept the connection (a BYE instead of WELCOME, or no JSON)."""


def tls_context(insecure: bool = False, ca: str | None = None) -> ssl.SSLContext:
    """A client SSL context: TLS 1.2 or later, the server's certificate checked.

    Args:
        insecure: accept any certificate (a self-signed one, for tests); the
            connection is encrypted but nobody vouches for the server.
        ca: a PEM file of certificates to trust instead of the system's (a
            self-signed server's own ``cert.pem``).

    Raises:
        OSError: ``ca`` cannot be read.
        ssl.SSLError: ``ca`` holds no certificate.
    """
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Connection:
    """A JSON-mode connection to a Tertulia server (over TLS when ``tls`` is given)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.tls = tls
        self.welcome = ""
        #: Why the connection ended: the ``bye`` object, when there was one.
        self.bye: JsonObject | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: OrderedDict[str, asyncio.Future[JsonObject]] = OrderedDict()
        self._events: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        self._counter = 0
        self._reading: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    async def connect(self, timeout: float = HANDSHAKE_TIMEOUT) -> None:
        """Connect, read WELCOME, switch to JSON mode, start reading.

        Raises:
            OSError: the connection could not be made (``ssl.SSLError``, an
                OSError, when the TLS handshake fails or the certificate is
                not trusted).
            ServerRefused: the server sent a BYE, or did not switch to JSON.
            TimeoutError: no WELCOME or no ``OK PROTO json`` in time.
        """
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host,
                self.port,
                limit=1 << 22,
                ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None,
            ),
            timeout,
        )
        self._reader, self._writer = reader, writer
        try:
            first = await asyncio.wait_for(reader.readline(), timeout)
            line = first.decode(errors="replace").rstrip("\r\n")
            if not line.startswith("@-> WELCOME "):
                raise ServerRefused(line or "connection closed")
            self.welcome = line[len("@-> WELCOME ") :]
            writer.write(b"@<- PROTO json\n")
            while True:
                raw = await asyncio.wait_for(reader.readline(), timeout)
                line = raw.decode(errors="replace").rstrip("\r\n")
                if not raw:
                    raise ServerRefused("connection closed")
                if line == "@-> OK PROTO json":
                    break
                if line.startswith("@-> PING "):
                    writer.write(f"@<- PONG {line[9:]}\n".encode())
                elif line.startswith(("@-> BYE ", "@-> ERR ")):
                    raise ServerRefused(line[4:])
        except BaseException:
            writer.close()
            self.closed.set()
            raise
        self._reading = asyncio.create_task(self._read(), name="tertulia-client-read")

    async def close(self) -> None:
        """Close the connection (without QUIT) and wait for the reader to stop."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._reading is not None:
            if not self._reading.done():
                self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        self._finish()

    async def quit(self, reason: str | None = None, timeout: float = 2.0) -> None:
        """Say QUIT, wait a little for the BYE, then close."""
        if not self.closed.is_set():
            fields = {"reason": reason} if reason else {}
            with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
                await self.request("quit", timeout=timeout, **fields)
        await self.close()

    # ------------------------------------------------------------ sending

    def send(self, obj: JsonObject) -> None:
        """Send one JSON object as it is (no ``ref``, no waiting).

        Raises:
            ConnectionClosed: the connection has ended.
        """
        if self._writer is None or self.closed.is_set() or self._writer.is_closing():
            raise ConnectionClosed("not connected")
        self._writer.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    async def request(
        self, cmd: str, *, timeout: float | None = REQUEST_TIMEOUT, **fields: Any
    ) -> JsonObject:
        """Send ``{"cmd": cmd, **fields}`` with a fresh ``ref``; return its reply.

        The reply is an ``ok`` or ``error`` object, a ``message``/``private``
        (the sender's copy, for say/me/msg) or the ``bye`` of a quit.

        Raises:
            ConnectionClosed: the connection ended first.
            TimeoutError: no reply within ``timeout`` seconds.
        """
        self._counter += 1
        ref = f"c{self._counter}"
        future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            self.send({"cmd": cmd, **{k: v for k, v in fields.items() if v is not None},
                       "ref": ref})
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._pending.pop(ref, None)

    # ------------------------------------------------------------ receiving

    async def events(self) -> AsyncIterator[JsonObject]:
        """Every object that is not a reply, in order; ends with the connection."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    return
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue  # not ours to show: the server only sends JSON here
                if isinstance(obj, dict):
                    self._dispatch(obj)
        except (OSError, ValueError):
            return  # connection lost, or a line over the reader's limit
        finally:
            self._finish()

    def _dispatch(self, obj: JsonObject) -> None:
        kind = obj.get("type")
        if kind == "ping":
            with contextlib.suppress(ConnectionClosed):
                self.send({"cmd": "pong", "token": obj.get("token", "")})
            return
        if kind == "bye":
            self.bye = obj
        ref = obj.get("ref")
        future = self._pending.get(ref) if isinstance(ref, str) else None
        if future is None and kind == "error" and "ref" not in obj and self._pending:
            # A line error answers the oldest command still waiting (§1: replies in order).
            future = next((f for f in self._pending.values() if not f.done()), None)
        if future is not None and not future.done():
            future.set_result(obj)
            if kind in ("ok", "error"):
                return
        self._events.put_nowait(obj)

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed("the connection ended"))
        self._pending.clear()
        self._events.put_nowait(None)


# ------------------------------------------------------------------ raw lines


def command_fields(line: str) -> JsonObject:
    """Translate a text-mode ``@<- VERB args`` line into a JSON request (no ``ref``).

    Raises:
        ProtocolError: the line is not a valid command (``UNKNOWN_COMMAND``,
            ``MISSING_ARGUMENT``, ``BAD_ARGUMENT``, ``INVALID_NAME``…).
    """
    verb, rest = split_text(line)
    return _fields(text_args(verb, rest))


def _fields(command: Command) -> JsonObject:
    verb = command.verb
    out: JsonObject = {"cmd": verb.value.lower()}
    if verb is Verb.PASSWORD:
        return {"cmd": "password", "old": command.password, "new": command.new_password}
    if verb is Verb.MSG:
        out["to"] = command.name
    elif verb is Verb.HELP:
        out["verb"] = command.name
    else:
        out["name"] = command.name
    for key in ("password", "room", "text", "color", "token", "reason", "mode", "before",
                "after"):
        out[key] = getattr(command, key)
    if verb is Verb.HISTORY:
        out["limit"] = command.limit
    out["target"] = command.target  # BAN, UNBAN
    out["duration"] = command.duration  # BAN, MUTE: seconds
    return {key: value for key, value in out.items() if value is not None}
