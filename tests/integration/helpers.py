"""Helpers and patterns shared by the integration tests (the fixtures are in conftest.py).

* Patterns: :data:`COLOR_RE`, :data:`TIME_RE`, :data:`ALL_VERBS` (:data:`ROOM_VERBS`,
  :data:`OPERATOR_VERBS`), and the chat
  line patterns :data:`CHAT_RE` (colours stripped) and :data:`GENERAL_CHAT_RE`
  (as sent, for one sender's #general lines).
* Text mode, with a ``connect`` fixture: :func:`sync`, :func:`ident`,
  :func:`people`, :func:`reply`, :func:`err`, :func:`err_explained`.
* Text mode, with a ``dial`` fixture (type :data:`Dial`): :func:`pair`; reading chat
  lines: :func:`strip_colors`, :func:`chat_of`, :func:`text_chat`; a client bound to a
  chosen source address: :class:`SourceClient`.
* JSON mode on a child server: :func:`json_client`, :func:`say_burst`.
* Child processes: :class:`StderrLines`.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.timing import TIMEOUT

#: ``dial(server, **kwargs)``: the type of the ``dial`` fixture.
Dial = Callable[..., Client]

#: A colour as the protocol writes it (``#rrggbb``).
COLOR_RE = r"#[0-9a-f]{6}"
#: A timestamp as the protocol writes it (UTC, milliseconds).
TIME_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
#: Every command verb of the protocol.
ALL_VERBS = ["IDENTIFY", "REGISTER", "PASSWORD", "UNREGISTER", "NICK", "JOIN", "LEAVE", "SAY", "ME", "MSG", "USERS", "ROOMS",
             "TOPIC", "HISTORY", "COLOR", "COLORS", "PROTO", "PING", "PONG", "HELP", "QUIT"]
#: The extensions anyone may use (room moderation), listed by HELP with the protocol's verbs.
ROOM_VERBS = ["KICK", "MUTE", "UNMUTE", "MODE", "VOICE", "DEVOICE", "INVITE"]
#: The operators' own verbs, listed by HELP to operators only.
OPERATOR_VERBS = ["BAN", "UNBAN", "BANS", "ANNOUNCE"]

#: Any colour (SGR) escape sequence, as stripped by :func:`strip_colors`.
SGR_RE = re.compile(r"\x1b\[[0-9;]*m")
#: A text-mode room line with its colours already stripped: (room, name, text).
CHAT_RE = re.compile(r"^(#\S+) <([^>]+)> (.*)$")
#: A text-mode #general line as sent, the name perhaps wrapped in its colour: (name, text).
GENERAL_CHAT_RE = re.compile(r"^#general <(?:\x1b\[[0-9;]*m)?(\S+?)(?:\x1b\[0m)?> (.*)$")


# ---------------------------------------------------------------- text mode, ``connect``


def sync(c: Client, token: str = "sync") -> list[str]:
    """Every line that arrives before the reply to a PING sent now.

    Proves the absence of a line: a PING sent after an action is answered
    after every line the action caused.
    """
    c.send(f"@<- PING {token}")
    return c.lines_until(rf"^@-> OK PING {re.escape(token)}$")[:-1]


def ident(c: Client, name: str, password: str = "") -> str:
    """IDENTIFY (with ``password`` if given), check the exact OK line, read through the history.

    Returns the colour of the OK line.
    """
    c.send(f"@<- IDENTIFY {name} {password}".rstrip())
    ok = c.line()
    match = re.fullmatch(rf"@-> OK IDENTIFY {re.escape(name)} ({COLOR_RE})", ok)
    assert match, ok
    assert all(line.startswith("@-> HISTORY ") for line in sync(c))
    return match.group(1)


def people(connect: Callable[..., Client], *names: str, colors: bool = False) -> list[Client]:
    """Connect and identify each name in turn, then read the JOIN lines they caused.

    Each connection sends ``COLORS off`` first unless ``colors`` is true (then
    colours stay as the server starts them: on).
    """
    clients = []
    for name in names:
        client = connect()
        if not colors:
            assert reply(client, "@<- COLORS off") == "@-> OK COLORS off"
        ident(client, name)
        clients.append(client)
    for client in clients:
        assert all(line.startswith("@-> JOIN #general ") for line in sync(client))
    return clients


def reply(c: Client, line: str) -> str:
    """Send one command and return its single reply line."""
    c.send(line)
    return c.line()


def err(c: Client, line: str, code: str) -> str:
    """Send a command that must fail with ``code``; return the whole ERR line."""
    got = reply(c, line)
    assert got.startswith(f"@-> ERR {code} "), f"{line!r} -> {got!r}"
    return got


def err_explained(c: Client, line: str, code: str) -> str:
    """:func:`err`, and the ERR line must also carry an explanation after the code."""
    got = err(c, line, code)
    assert len(got) > len(f"@-> ERR {code} "), "an ERR line has an explanation"
    return got


# ---------------------------------------------------------------- text mode, ``dial``


def pair(dial: Dial, server: ServerThread) -> tuple[Client, Client]:
    """Ana and Bob, identified, Bob's arrival already seen by Ana."""
    ana, bob = dial(server), dial(server)
    ana.identify("Ana")
    bob.identify("Bob")
    ana.until(r"^@-> JOIN #general Bob ")
    return ana, bob


def strip_colors(line: str) -> str:
    """``line`` without any colour escape sequence."""
    return SGR_RE.sub("", line)


def chat_of(line: str) -> tuple[str, str]:
    """(name, text) of a text-mode room line, colours stripped; fails on any other line."""
    match = CHAT_RE.match(strip_colors(line))
    assert match, f"not a chat line: {line!r}"
    return match.group(2), match.group(3)


def text_chat(lines: list[str], sender: str) -> list[str]:
    """The texts of ``sender``'s #general chat lines among text-mode ``lines``."""
    out = []
    for line in lines:
        match = GENERAL_CHAT_RE.match(line)
        if match and match.group(1) == sender:
            out.append(match.group(2))
    return out


class SourceClient(Client):
    """A client whose socket is bound to a given local address (and receive buffer)."""

    def __init__(self, port: int, *, source: str = "127.0.0.1", rcvbuf: int = 0,
                 read_welcome: bool = True) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.buf = b""
        self.welcome = self.line() if read_welcome else ""


# ---------------------------------------------------------------- JSON mode, child server


def json_client(port: int, name: str) -> Client:
    """A client switched to JSON mode and identified as ``name`` (its history read)."""
    client = Client(port)
    client.send("@<- PROTO json")
    client.expect("@-> OK PROTO json")
    client.send_json({"cmd": "identify", "name": name, "ref": "id"})
    ok = client.json()
    assert ok["type"] == "ok" and ok["name"] == name, ok
    history = client.json()
    assert history["type"] == "history", history
    return client


def say_burst(texts: list[str]) -> bytes:
    """JSON ``say`` commands for ``texts`` (``ref`` = index), as one block of bytes."""
    return "".join(json.dumps({"cmd": "say", "text": t, "ref": n}) + "\n"
                   for n, t in enumerate(texts)).encode()


# ---------------------------------------------------------------- child processes


class StderrLines:
    """Reads a child's stderr in a thread so the pipe never fills; wait for lines by regex."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """The next line matching ``pattern`` (lines before it are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no stderr line matching {pattern!r}: {self.lines}") from None
            if line is None:
                raise AssertionError(f"stderr closed before {pattern!r}: {self.lines}")
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def rest(self) -> list[str]:
        """Every line up to EOF (call after the process has exited)."""
        self._thread.join(TIMEOUT)
        while not self._new.empty():
            line = self._new.get()
            if line is not None:
                self.lines.append(line)
        return self.lines
