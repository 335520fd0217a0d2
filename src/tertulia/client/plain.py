"""``tertulia connect --plain``: a line mode for pipes, scripts and dumb terminals.

Each line of standard input is sent as it is, in text mode (PROTOCOL.md §2):
a plain line is a chat message to the current room, a line that starts with
``@<-`` is a command.  Every line the server sends is printed on standard
output as it arrives, except the server's ``PING``, which is answered here.
Colours stay on only when standard output is a terminal.

End of input: the client asks the server for a ``PING`` and waits for its
answer, so every reply to what was sent has been printed; then it says QUIT
and exits with status 0.  Exit status 1: the connection could not be made, the
name given with ``--name`` was refused, or the server ended the connection
(its BYE line says why).  Ctrl+C exits with status 130, quietly.

Lines are paced with a token bucket (``--rate``, default the server's default
of 10 per second with a burst of 20), so a file piped in is delivered whole
instead of being refused line by line with RATE_LIMITED.
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
from typing import TextIO

from tertulia.client.connection import tls_context
from tertulia.client.i18n import _

EOF_TOKEN = "tertulia-plain-eof"
#: Set when the last run ended because the server refused ``--name``.
LAST_NAME_REFUSED = False
#: Seconds to wait for the server's answer after the end of input.
EOF_WAIT = 30.0
DEFAULT_PORT = 3000
#: The port ``--tls`` connects to when the address has none (docs/howto/tls.md).
DEFAULT_TLS_PORT = 3001


@dataclass(frozen=True, slots=True)
class PlainOptions:
    host: str = "localhost"
    port: int = DEFAULT_PORT
    name: str | None = None
    rate: float = 10.0
    burst: int = 20
    tls: ssl.SSLContext | None = None


def parse_address(text: str | None, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``:PORT`` or ``[v6]:PORT``; default localhost:3000.

    Raises:
        ValueError: with a message for the user.
    """
    if not text:
        return "localhost", default_port
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(_("unclosed [ in the address"))
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(_("expected :PORT after ]"))
            port = _port(rest[1:])
    elif text.count(":") == 1:
        host, _sep, raw = text.partition(":")
        port = _port(raw)
    return host or "localhost", port


def untrusted(where: str, exc: ssl.SSLCertVerificationError) -> str:
    """The message for a server whose certificate is not trusted."""
    return _(
        "the certificate of {where} is not trusted ({why}); for a self-signed server "
        "use --ca with its certificate, or --insecure"
    ).format(where=where, why=exc.verify_message or exc)


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(_("the port is a number from 1 to 65535"))
    return int(raw)


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


class PlainClient:
    def __init__(self, options: PlainOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout
        self.status = 0
        self.identified = asyncio.Event()
        self.eof_answered = asyncio.Event()
        self.closed = asyncio.Event()

    def show(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def problem(self, message: str) -> None:
        print(f"tertulia: {message}", file=sys.stderr, flush=True)

    async def run(self) -> int:
        o = self.options
        try:
            reader, writer = await asyncio.open_connection(
                o.host,
                o.port,
                limit=1 << 20,
                ssl=o.tls,
                server_hostname=o.host if o.tls is not None else None,
            )
        except ssl.SSLCertVerificationError as exc:
            self.problem(untrusted(f"{o.host}:{o.port}", exc))
            return 1
        except OSError as exc:
            self.problem(
                _("cannot connect to {where}: {why}").format(
                    where=f"{o.host}:{o.port}", why=exc.strerror or exc
                )
            )
            return 1
        reading = asyncio.create_task(self._read(reader, writer))
        # A margin below the server's limits: lines sent at exactly the rate
        # can arrive bunched together.
        pacer = Pacer(o.rate * 0.9, max(1, o.burst - 2))
        try:
            if not sys.stdout.isatty():
                pacer.delay()  # every line counts against the server's rate
                writer.write(b"@<- COLORS off\n")
            if o.name:
                pacer.delay()
                writer.write(f"@<- IDENTIFY {o.name}\n".encode())
                waiting = asyncio.create_task(self.identified.wait())
                await asyncio.wait({waiting, reading}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if not self.identified.is_set():
                    return self.status or 1
            await self._send_input(writer, reading, pacer)
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return self.status

    async def _send_input(
        self, writer: asyncio.StreamWriter, reading: asyncio.Task[None], pacer: Pacer
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(
            target=_stdin_lines, args=(loop, queue), daemon=True, name="tertulia-stdin"
        ).start()
        while True:
            getting = asyncio.create_task(queue.get())
            await asyncio.wait({getting, reading}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():  # the server ended the connection
                getting.cancel()
                return
            line = getting.result()
            if line is None:
                break
            if not line:
                continue
            wait = pacer.delay()
            if wait:
                await asyncio.sleep(wait)
            writer.write(line.encode() + b"\n")
        wait = pacer.delay()  # the PING counts against the server's rate too
        if wait:
            await asyncio.sleep(wait)
        writer.write(f"@<- PING {EOF_TOKEN}\n".encode())
        answered = asyncio.create_task(self.eof_answered.wait())
        await asyncio.wait(
            {answered, reading}, timeout=EOF_WAIT, return_when=asyncio.FIRST_COMPLETED
        )
        answered.cancel()
        if not self.eof_answered.is_set() and not reading.done():
            self.problem(_("no answer from the server after the end of input"))
            self.status = 1
        if self.eof_answered.is_set():
            writer.write(b"@<- QUIT\n")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), 5)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        quitting = False
        while True:
            try:
                raw = await reader.readline()
            except (OSError, ValueError) as exc:
                self.problem(_("connection lost: {why}").format(why=exc))
                self.status = 1
                return
            if not raw:
                if not quitting:
                    self.problem(_("the server closed the connection"))
                    self.status = 1
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line.startswith("@-> PING "):
                writer.write(f"@<- PONG {line[9:]}\n".encode())
                continue
            if line == f"@-> OK PING {EOF_TOKEN}":
                self.eof_answered.set()
                quitting = True
                continue
            if line.startswith("@-> OK COLORS "):
                continue  # our own setting, not the user's
            self.show(line)
            if line.startswith("@-> OK IDENTIFY "):
                self.identified.set()
            elif (
                line.startswith(
                    (
                        "@-> ERR NAME_IN_USE",
                        "@-> ERR INVALID_NAME",
                        "@-> ERR AUTH_REQUIRED",
                        "@-> ERR AUTH_FAILED",
                    )
                )
                and not self.identified.is_set()
                and self.options.name
            ):
                self.problem(
                    _("the name {name} was refused: {why}").format(
                        name=self.options.name, why=line.split(" ", 3)[-1]
                    )
                )
                self.status = 1
                return
            elif line.startswith("@-> BYE "):
                code = line.split(" ", 3)[2] if line.count(" ") >= 2 else ""
                if code != "QUIT":
                    self.problem(_("the server ended the connection: {line}").format(line=line))
                    self.status = 1
                quitting = True


def run(options: PlainOptions) -> int:
    """Run the line mode; return the exit status."""
    try:
        return asyncio.run(PlainClient(options).run())
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        return 130


def main_from_args(
    address: str | None,
    name: str | None,
    rate: float,
    burst: int,
    tls: TlsChoice | None = None,
) -> int:
    try:
        host, port = parse_address(address, DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        context = tls.context() if tls else None
    except (ValueError, OSError) as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    return run(PlainOptions(host, port, name, rate, burst, context))


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
