"""Server addresses for the clients, and the order and pace of connection attempts.

``tertulia connect`` takes one or several addresses (positional, or ``--server
a:3000,b:3000``); both clients go through them with a :class:`Rotation`:

* on start, after a failed attempt, and after a connection drops, the next
  address is tried (at once: the one that failed is likely down);
* once every address has failed in a row, the client waits before the next
  round: 1 s, then doubling up to 30 s;
* a connection that drops counts as a failure, unless it stayed up for
  :data:`STABLE` seconds: then the count and the delay start again.  So
  servers that accept and drop at once are tried once a round, not hammered;
* back on a server, the name of the lost connection may still be held for
  it a few seconds (the server has not noticed yet, or on a cluster the dead
  node's claim has not lapsed): ``NAME_IN_USE`` is tried again every
  :data:`NAME_RETRY` seconds for :data:`NAME_WAIT` seconds before it counts.

Pure: no I/O; the caller sleeps the waits it is given.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Sequence

from tertulia.client.i18n import _

DEFAULT_PORT = 3000
#: The port ``--tls`` connects to when the address has none (docs/howto/tls.md).
DEFAULT_TLS_PORT = 3001
#: Seconds a connection must stay up for the reconnection delay to start again.
STABLE = 10.0
#: After a reconnection, seconds during which NAME_IN_USE for one's own name is
#: tried again (every NAME_RETRY seconds): the lost connection may still hold it.
NAME_WAIT = 10.0
NAME_RETRY = 1.0

Address = tuple[str, int]


def parse_address(text: str | None, default_port: int = DEFAULT_PORT) -> Address:
    """``HOST``, ``HOST:PORT``, ``:PORT`` or ``[v6]:PORT``; default localhost:3000.

    Raises:
        ValueError: with a message for the user.
    """
    text = (text or "").strip()
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


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(_("the port is a number from 1 to 65535"))
    return int(raw)


def parse_servers(texts: Sequence[str] | None,
                  default_port: int = DEFAULT_PORT) -> list[Address]:
    """Every address in ``texts`` (each may hold several, separated by commas), in
    order, each once; ``[localhost:default_port]`` when there is none.

    Raises:
        ValueError: an address is not valid (the message names it).
    """
    found: list[Address] = []
    for text in texts or ():
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                address = parse_address(part, default_port)
            except ValueError as exc:
                raise ValueError(f"{part.strip()}: {exc}") from None
            if address not in found:
                found.append(address)
    return found or [("localhost", default_port)]


def describe(address: Address) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def failure(exc: BaseException) -> str:
    """Why a connection attempt failed, in a few words ("Connection refused")."""
    if isinstance(exc, ssl.SSLError):
        return str(getattr(exc, "reason", None) or exc)  # errno: the TLS library's
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, TimeoutError):
        return _("no answer in time")
    return str(exc) or type(exc).__name__


class Rotation:
    """Which address to try next, and how long to wait before trying it."""

    def __init__(self, addresses: Sequence[Address], first: float = 1.0,
                 most: float = 30.0, stable_after: float = STABLE) -> None:
        if not addresses:
            raise ValueError("no address")
        self.addresses = list(addresses)
        self.first, self.most, self.stable_after = first, most, stable_after
        self.index = 0
        self.delay = first
        self._failures = 0
        self._up_since = 0.0

    @property
    def current(self) -> Address:
        """The address to try now (or connected to)."""
        return self.addresses[self.index]

    def _backoff(self) -> float:
        wait, self.delay = self.delay, min(self.delay * 2, self.most)
        return wait

    def failed(self) -> float:
        """An attempt on :attr:`current` failed; move on.  Returns the wait before the next."""
        self.index = (self.index + 1) % len(self.addresses)
        self._failures += 1
        return self._backoff() if self._failures % len(self.addresses) == 0 else 0.0

    def connected(self) -> None:
        """The connection to :attr:`current` is made."""
        self._up_since = time.monotonic()

    def dropped(self) -> float:
        """The connection to :attr:`current` ended.  Returns the wait before the next try.

        A connection that did not stay up :attr:`stable_after` seconds counts as a
        failed attempt, so servers that accept and drop at once are tried once
        per round, with the backoff between rounds.
        """
        if time.monotonic() - self._up_since >= self.stable_after:
            self.delay = self.first
            self._failures = 0
        return self.failed()
