"""``tertulia connect --plain``: a line mode for pipes, scripts and dumb terminals.

Each line of standard input is sent as in text mode (PROTOCOL.md §2): a plain
line is a chat message to the current room, a line that starts with ``@<-`` is
a command.  Everything the server sends is printed on standard output as its
text-mode line (PROTOCOL.md §3), except its ``PING``, answered here.  Colours
are on only when standard output is a terminal (``@<- COLORS on|off`` changes
that).

On the wire the client speaks JSON mode (§6), so that it knows the id of every
message, and writes each object back as the server's text line
(:mod:`tertulia.client.textlines`).  That is what lets it survive a lost
connection: it goes to the next server (``--server``, :class:`Rotation`),
identifies again with the same name (and password), joins the same rooms, and
prints, once each and in order, the room messages it missed (``HISTORY …
after`` the last id it saw).  Lines read meanwhile wait and are sent after.
Notes about all this go to standard error, one line each.

End of input: the client asks the server for a ``PING`` and waits for its
answer, so every reply to what was sent has been printed; then it says QUIT
and exits with status 0.  Exit status 1: no server could be reached within
``--retry`` seconds (on start or after a drop), the name given with
``--name`` was refused, or the server ended the connection for good (BYE
KICKED, PROTOCOL_ERRORS or IDENTIFY_TIMEOUT).  Ctrl+C exits with status 130,
quietly.

Lines are paced with a token bucket (``--rate``, default the server's default
of 10 per second with a burst of 20), so a file piped in is delivered whole
instead of being refused line by line with RATE_LIMITED.

The password of a registered ``--name`` comes from ``--password-file`` (its
first line) or the environment variable ``TERTULIA_PASSWORD``, never from the
command line, where other users of the machine could read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tertulia.client.connection import (
    Connection,
    ConnectionClosed,
    JsonObject,
    ServerRefused,
    command_fields,
    tls_context,
)
from tertulia.client.i18n import _
from tertulia.client.servers import (
    DEFAULT_PORT,
    DEFAULT_TLS_PORT,
    NAME_RETRY,
    NAME_WAIT,
    Address,
    Rotation,
    describe,
    failure,
    parse_address,
    parse_servers,
)
from tertulia.client.textlines import chat_line, ok_line, text_lines
from tertulia.protocol.errors import ProtocolError
from tertulia.protocol.names import fold

EOF_TOKEN = "tertulia-plain-eof"
#: Set when the last run ended because the server refused ``--name``.
LAST_NAME_REFUSED = False
#: Seconds to wait for the server's answer after the end of input.
EOF_WAIT = 30.0
#: Seconds to keep trying to (re)connect before giving up, by default.
RETRY = 10.0
#: Messages asked for at once when catching up after a reconnection.
CATCH_UP = 500
#: The environment variable that may hold the password of a registered name.
PASSWORD_VARIABLE = "TERTULIA_PASSWORD"
#: BYE codes after which reconnecting would be wrong: the server meant it.
FINAL_BYES = ("QUIT", "KICKED", "PROTOCOL_ERRORS", "IDENTIFY_TIMEOUT")
#: What a plain chat line, and the PING sent at the end of input, are called among
#: the commands waiting for an answer.
CHAT_LINE, EOF_PING = "line", "eof"
#: Errors to IDENTIFY that refuse the name itself (FORBIDDEN: a banned name).
NAME_REFUSALS = ("NAME_IN_USE", "INVALID_NAME", "AUTH_REQUIRED", "AUTH_FAILED", "FORBIDDEN")


@dataclass(frozen=True, slots=True)
class PlainOptions:
    host: str = "localhost"
    port: int = 3000
    name: str | None = None
    rate: float = 10.0
    burst: int = 20
    #: Several servers, tried in turn (when empty: ``host:port``).
    servers: tuple[Address, ...] = ()
    password: str | None = None
    retry: float = RETRY
    #: Reconnection delays: the first, and the most (seconds).
    backoff: float = 1.0
    backoff_max: float = 30.0
    #: The client SSL context with ``--tls``; None for plain TCP.
    tls: ssl.SSLContext | None = None

    @property
    def addresses(self) -> list[Address]:
        return list(self.servers) or [(self.host, self.port)]


__all__ = ["DEFAULT_PORT", "DEFAULT_TLS_PORT", "PlainClient", "PlainOptions", "TlsChoice",
           "main_from_args", "parse_address", "run", "untrusted"]


def untrusted(where: str, exc: ssl.SSLCertVerificationError) -> str:
    """The message for a server whose certificate is not trusted."""
    return _(
        "the certificate of {where} is not trusted ({why}); for a self-signed server "
        "use --ca with its certificate, or --insecure"
    ).format(where=where, why=exc.verify_message or exc)


@dataclass(frozen=True, slots=True)
class TlsChoice:
    """``tertulia connect --tls [--insecure] [--ca FILE]``, as given."""

    insecure: bool = False
    ca: str | None = None

    def context(self) -> ssl.SSLContext:
        """The client SSL context.

        Raises:
            OSError: with a message for the user, when ``--ca`` is unusable.
        """
        try:
            return tls_context(self.insecure, self.ca)
        except (OSError, ssl.SSLError) as exc:
            raise OSError(
                _("cannot use --ca {file}: {why}").format(
                    file=self.ca, why=getattr(exc, "strerror", None) or exc
                )
            ) from None


class Pacer:
    """A token bucket for outgoing lines (0 = no pacing)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(burst, 1)
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()

    def delay(self) -> float:
        """Take a token; return how long to wait before sending."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def wait(self) -> None:
        delay = self.delay()
        if delay:
            await asyncio.sleep(delay)


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Read standard input in a thread (works for terminals, pipes and files)."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, None)


class GiveUp(Exception):
    """The client stops with status 1; the reason was already said on stderr."""


class PlainClient:
    """One run of the line mode: connections come and go, the user's session stays."""

    def __init__(self, options: PlainOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.colors = self.out.isatty()
        # A margin below the server's limits: lines sent at exactly the rate
        # can arrive bunched together.
        self.pacer = Pacer(options.rate * 0.9, max(1, options.burst - 2))
        self.rotation = Rotation(options.addresses, options.backoff, options.backoff_max)
        self.conn: Connection | None = None
        #: The name the server accepted, and its password (to identify again).
        self.me: str | None = None
        self.password = options.password
        #: Rooms joined besides #general (folded -> as written), and the newest
        #: message id seen in each room (folded).
        self.rooms: dict[str, str] = {}
        self.newest: dict[str, str] = {}
        #: refs of the user's commands still waiting: ref -> verb (lower case).
        self.typed: dict[str, str] = {}
        #: Set while no command of the user waits for its answer.
        self.idle = asyncio.Event()
        self.idle.set()
        self._tasks: set[asyncio.Task[None]] = set()  # kept until done
        #: refs of the user's IDENTIFY, REGISTER and PASSWORD still waiting -> password.
        self.secrets: dict[str, str] = {}
        self._counter = 0
        self.eof_sent = False
        self.finished = asyncio.Event()  # the BYE of our QUIT came
        self.eof_answered = asyncio.Event()
        self.ready = asyncio.Event()  # connected, identified again, caught up
        self.final_bye: str | None = None
        #: History events still to come from a reconnection's IDENTIFY and JOINs,
        #: not printed (the catch-up printed what they hold).
        self.skip_histories = 0

    # ------------------------------------------------------------ output

    def show(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def problem(self, message: str) -> None:
        print(f"tertulia: {message}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------ the run

    async def run(self) -> int:
        global LAST_NAME_REFUSED  # noqa: PLW0603 -- read by tertulia.client.together
        LAST_NAME_REFUSED = False
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_stdin_lines, args=(asyncio.get_running_loop(), queue),
                         daemon=True, name="tertulia-stdin").start()
        sending = asyncio.create_task(self._send_input(queue))
        try:
            first = True
            while True:
                await self._connect(first)
                assert self.conn is not None
                if first and self.options.name:
                    await self._identify_first(self.options.name)
                elif not first:
                    await self._resume()
                first = False
                self.ready.set()
                printing = asyncio.create_task(self._print_events(self.conn))
                await asyncio.wait({printing, sending}, return_when=asyncio.FIRST_COMPLETED)
                if sending.done() and sending.exception() is not None:
                    printing.cancel()
                    raise GiveUp  # no answer after the end of input (said on stderr)
                await printing
                self.ready.clear()
                if self.finished.is_set():
                    return 0
                if self.final_bye is not None:
                    self.problem(_("the server ended the connection: {line}").format(
                        line=self.final_bye))
                    return 1
                lost = self.rotation.current
                wait = self.rotation.dropped()
                self.problem(_("the connection to {where} was lost; {next}").format(
                    where=describe(lost), next=self._next_try(wait)))
                await asyncio.sleep(wait)
        except GiveUp:
            return 1
        finally:
            if not sending.done():
                sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, GiveUp):
                await sending
            if self.conn is not None:
                await self.conn.close()

    def _next_try(self, wait: float) -> str:
        where = describe(self.rotation.current)
        if wait:
            return _("trying {where} in {s} s").format(where=where, s=f"{wait:g}")
        return _("trying {where}").format(where=where)

    async def _connect(self, first: bool) -> None:
        """Connect to the next server that answers, within ``--retry`` seconds.

        Raises:
            GiveUp: no server answered in time.
        """
        deadline = time.monotonic() + max(self.options.retry, 0.0)
        while True:
            address = self.rotation.current
            conn = Connection(*address, self.options.tls)
            try:
                await conn.connect()
            except ssl.SSLCertVerificationError as exc:
                # Trying again would not help: say so once, and stop.
                self.problem(untrusted(describe(address), exc))
                raise GiveUp from None
            except (OSError, ServerRefused, TimeoutError) as exc:
                why = failure(exc)
                wait = self.rotation.failed()
                if time.monotonic() + wait > deadline and self._round_done(wait):
                    self.problem(_("cannot connect to {where}: {why}").format(
                        where=describe(address), why=why))
                    raise GiveUp from None
                self.problem(_("cannot connect to {where}: {why}; {next}").format(
                    where=describe(address), why=why, next=self._next_try(wait)))
                await asyncio.sleep(wait)
                continue
            self.rotation.connected()
            self.conn = conn
            if not first:
                self.problem(_("connected to {where}").format(where=describe(address)))
            self.show(f"@-> WELCOME {conn.welcome}")
            return

    def _round_done(self, wait: float) -> bool:
        """True once every server was tried since the last wait (a wait ends a round)."""
        return wait > 0 or len(self.rotation.addresses) == 1

    async def _request(self, cmd: str, **fields: Any) -> JsonObject:
        """An internal command (not the user's): paced, its reply not printed."""
        assert self.conn is not None
        await self.pacer.wait()
        return await self.conn.request(cmd, **fields)

    async def _identify_first(self, name: str) -> None:
        """``--name``: IDENTIFY before any input is sent; a refusal ends the run."""
        try:
            reply = await self._request("identify", name=name, password=self.password)
        except (ConnectionClosed, TimeoutError):
            return  # the events end too; the main loop reconnects
        for line in text_lines(reply, self.colors):
            self.show(line)
        if reply.get("type") == "ok":
            self.me = str(reply.get("name", name))
            return
        if reply.get("code") in NAME_REFUSALS:
            global LAST_NAME_REFUSED  # noqa: PLW0603
            LAST_NAME_REFUSED = True
            self.problem(_("the name {name} was refused: {why}").format(
                name=name, why=reply.get("message", "")))
            raise GiveUp

    async def _identify_again(self, name: str) -> JsonObject:
        """IDENTIFY as before the lost connection, waiting a while for the name if the
        server still holds it for that connection (client.servers.NAME_WAIT)."""
        deadline = time.monotonic() + NAME_WAIT
        said = False
        while True:
            reply = await self._request("identify", name=name, password=self.password)
            if reply.get("code") != "NAME_IN_USE" or time.monotonic() >= deadline:
                return reply
            if not said:
                said = True
                self.problem(_("the name {name} is still held for the lost connection; "
                               "waiting for it").format(name=name))
            await asyncio.sleep(NAME_RETRY)

    async def _resume(self) -> None:
        """After a reconnection: the same name, the same rooms, the messages missed.

        The events wait in the connection's queue meanwhile, and are printed
        after: room messages already printed by the catch-up are skipped then
        (by id), and so are the histories sent on IDENTIFY and JOIN.
        """
        self.typed.clear()  # what was in flight on the old connection gets no answer
        self.secrets.clear()
        self.idle.set()
        try:
            if self.me is not None:
                reply = await self._identify_again(self.me)
                if reply.get("type") != "ok":
                    for line in text_lines(reply, self.colors):
                        self.show(line)
                    self.problem(_("the name {name} was refused: {why}").format(
                        name=self.me, why=reply.get("message", "")))
                    raise GiveUp
                self.skip_histories += 1
                for key, room in list(self.rooms.items()):
                    joined = await self._request("join", room=room)
                    if joined.get("type") == "ok":
                        self.skip_histories += 1
                    else:
                        self.rooms.pop(key, None)
                        for line in text_lines(joined, self.colors):
                            self.show(line)
                for room in ["#general", *self.rooms.values()]:
                    await self._catch_up(room)
                self.problem(_("back as {name}").format(name=self.me))
        except (ConnectionClosed, TimeoutError):
            return  # the events end too; the main loop reconnects
        if self.eof_answered.is_set() and not self.finished.is_set():
            self._send_typed({"cmd": "quit"})
        elif self.eof_sent and not self.eof_answered.is_set():
            await self._send_eof_ping()

    async def _catch_up(self, room: str) -> None:
        """Print the messages of ``room`` after the newest one seen, page by page."""
        while True:
            after = self.newest.get(fold(room))
            reply = await self._request("history", room=room, limit=CATCH_UP, after=after)
            if reply.get("type") != "ok":
                return
            messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
            for msg in messages:
                self._message({**msg, "type": "message"})
            if len(messages) < CATCH_UP or after is None:
                return

    # ------------------------------------------------------------ what the server sends

    async def _print_events(self, conn: Connection) -> None:
        async for obj in conn.events():
            self._event(obj)

    def _event(self, obj: JsonObject) -> None:
        kind = obj.get("type")
        ref = obj.get("ref")
        if kind == "error" and ref is None and self.typed:
            # A line error (RATE_LIMITED, LINE_TOO_LONG...) answers the oldest command
            # still waiting: replies come in order (PROTOCOL.md §1).
            ref = next(iter(self.typed))
        verb = self.typed.pop(ref, None) if isinstance(ref, str) else None
        if not self.typed:
            self.idle.set()
        secret = self.secrets.pop(ref, None) if isinstance(ref, str) else None
        if kind == "ok" and secret is not None:
            self.password = secret  # to identify again after a reconnection
        if kind in {"message", "private"}:
            self._message(obj, verb)
            return
        if kind == "history":
            if self.skip_histories > 0:
                self.skip_histories -= 1
                return
            self._seen(obj.get("messages"), str(obj.get("room", "")))
            for line in text_lines(obj, self.colors):
                self.show(line)
            return
        if verb == EOF_PING:
            if kind == "ok":
                self.eof_answered.set()
            else:  # refused (RATE_LIMITED after a flood): ask again a little later
                asyncio.get_running_loop().call_later(1.0, self._ask_again)
            return
        if kind == "ok":
            self._note_ok(obj)
            if obj.get("cmd") == "history":
                self._seen(obj.get("messages"), str(obj.get("room", "")))
        self._note_event(obj)
        if kind == "bye":
            code = str(obj.get("code", ""))
            if code == "QUIT" and verb == "quit":
                self.finished.set()
            elif code in FINAL_BYES:
                self.final_bye = f"@-> BYE {code} {obj.get('text', '')}".rstrip()
        for line in text_lines(obj, self.colors):
            self.show(line)

    def _message(self, obj: JsonObject, verb: str | None = None) -> None:
        """A room or private message: printed once, as others see it; our own copy
        is printed as the text-mode reply (``OK SAY``, ``OK ME``, ``OK MSG``) to
        an explicit command, and not at all for a plain line."""
        if obj.get("type") == "message":
            key = fold(str(obj.get("room", "")))
            mid = str(obj.get("id", ""))
            if mid and self.newest.get(key, "") >= mid:
                return  # already printed (a catch-up overlapping what came live)
            if mid:
                self.newest[key] = mid
        mine = self.me is not None and fold(str(obj.get("from", ""))) == fold(self.me)
        if not mine:
            self.show(chat_line(obj, self.colors))
        elif verb in ("say", "me"):
            self.show(ok_line(verb, obj.get("room", "")))
        elif verb == "msg":
            self.show(ok_line("msg", obj.get("to", "")))

    def _seen(self, messages: object, room: str) -> None:
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            mid = str(messages[-1].get("id", ""))
            key = fold(room)
            if mid > self.newest.get(key, ""):
                self.newest[key] = mid

    def _note_ok(self, obj: JsonObject) -> None:
        """Follow the user's session: their name, password and rooms."""
        cmd = obj.get("cmd")
        if cmd in ("identify", "nick"):
            self.me = str(obj.get("name", self.me))
        elif cmd == "join":
            room = str(obj.get("room", ""))
            if fold(room) != fold("#general"):
                self.rooms[fold(room)] = room
        elif cmd == "leave":
            self.rooms.pop(fold(str(obj.get("room", ""))), None)

    def _note_event(self, obj: JsonObject) -> None:
        """Put out of a room (a kick): not joined again after a reconnection."""
        if obj.get("type") == "leave" and self.me is not None and (
                fold(str(obj.get("name", ""))) == fold(self.me)):
            self.rooms.pop(fold(str(obj.get("room", ""))), None)

    # ------------------------------------------------------------ what the user types

    async def _send_input(self, queue: asyncio.Queue[str | None]) -> None:
        while True:
            line = await queue.get()
            if line is None:
                break
            if not line:
                continue
            await self.ready.wait()
            await self.pacer.wait()
            await self._send_line(line)
        self.eof_sent = True
        await self.ready.wait()
        await self._send_eof_ping()
        try:
            await asyncio.wait_for(self.eof_answered.wait(), EOF_WAIT)
        except TimeoutError:
            self.problem(_("no answer from the server after the end of input"))
            raise GiveUp from None
        if not self.finished.is_set() and self.conn is not None:
            await self.ready.wait()
            self._send_typed({"cmd": "quit"})

    def _ask_again(self) -> None:
        if not self.eof_answered.is_set():
            task = asyncio.ensure_future(self._send_eof_ping())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_eof_ping(self) -> None:
        await self.pacer.wait()
        self._send_typed({"cmd": "ping", "token": EOF_TOKEN}, kind=EOF_PING)

    async def _send_line(self, line: str) -> None:
        """One line of input, as the text mode would take it."""
        if not line.startswith("@<-"):
            # A chat line: no reply when it succeeds (text mode), hence its own kind.
            self._send_typed({"cmd": "say", "text": line}, kind=CHAT_LINE)
            return
        try:
            fields = command_fields(line)
        except ProtocolError as exc:
            await self._answered()
            self.show(f"@-> ERR {exc.code} {exc.message}")
            return
        cmd = fields["cmd"]
        if cmd == "colors":
            await self._answered()
            self.colors = fields.get("mode") == "on"
            self.show(ok_line("colors", fields.get("mode", "")))
        elif cmd == "proto":
            self.problem(_("the line mode speaks text; {line} was not sent").format(line=line))
        elif cmd == "pong":
            pass  # the client answers the server's pings itself
        else:
            self._send_typed(fields)

    async def _answered(self) -> None:
        """Wait until every command sent before has its answer printed, so that a line
        the client answers itself comes in its place among the server's."""
        while self.typed:
            await self.idle.wait()

    def _send_typed(self, fields: JsonObject, kind: str | None = None) -> None:
        """Send a command whose reply is printed, in order, by :meth:`_event`."""
        if self.conn is None:
            return
        self._counter += 1
        ref = f"t{self._counter}"
        self.typed[ref] = kind or str(fields["cmd"])
        self.idle.clear()
        # The password that identifies the user from now on, if this command succeeds.
        secret = fields.get("new") if fields["cmd"] == "password" else fields.get("password")
        if fields["cmd"] in ("identify", "register", "password") and secret:
            self.secrets[ref] = str(secret)
        with contextlib.suppress(ConnectionClosed):
            self.conn.send({**fields, "ref": ref})


def run(options: PlainOptions) -> int:
    """Run the line mode; return the exit status."""
    try:
        return asyncio.run(PlainClient(options).run())
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        return 130


def read_password(password_file: str | None) -> str | None:
    """The password from ``--password-file`` (its first line), else from the environment.

    Raises:
        ValueError: the file cannot be read (the message says why).
    """
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(_("cannot read the password file {file}: {why}").format(
                file=password_file, why=getattr(exc, "strerror", None) or exc)) from None
        return text.splitlines()[0] if text.splitlines() else ""
    return os.environ.get(PASSWORD_VARIABLE) or None


def main_from_args(addresses: list[str] | None, name: str | None, rate: float, burst: int,
                   tls: TlsChoice | None = None, *, password_file: str | None = None,
                   retry: float | None = None) -> int:
    try:
        servers = parse_servers(addresses, DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        password = read_password(password_file)
        context = tls.context() if tls else None
    except (ValueError, OSError) as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    host, port = servers[0]
    return run(PlainOptions(host, port, name, rate, burst, tuple(servers), password,
                            RETRY if retry is None else retry, tls=context))
