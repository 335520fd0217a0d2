"""Hostile and broken clients over real TCP (PROTOCOL.md §1, §5).

Huge lines leave memory flat, random bytes never crash the server, abrupt
disconnects are cleaned up, escape sequences never reach anyone, and a
client sending bad lines as fast as it can does not stall the others.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import Dial, chat_of, pair
from tests.timing import SCALE, TIMEOUT


def still_chatting(ana: Client, bob: Client, token: str) -> None:
    """Ana and Bob can still talk both ways (skipping presence lines)."""
    ana.send(f"{token} from Ana")
    assert chat_of(bob.until(re.escape(f"{token} from Ana") + "$")) == ("Ana", f"{token} from Ana")
    bob.send(f"{token} from Bob")
    assert chat_of(ana.until(re.escape(f"{token} from Bob") + "$")) == ("Bob", f"{token} from Bob")


# ---------------------------------------------------------------- memory

def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def test_20_mb_line_leaves_memory_flat(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A 20 MB line without LF, then one with: one ERR each; the in-process server's memory stays flat."""
    server = make_server(rate=0)
    ana, bob = pair(dial, server)
    chunk = b"x" * 65536
    size = 20 << 20
    # Warm up the read path so its buffers are already allocated.
    for _ in range(32):
        ana.sock.sendall(chunk)
    ana.send_raw(b"\n@<- PING warm\n")
    assert ana.line().startswith("@-> ERR LINE_TOO_LONG ")
    assert ana.line() == "@-> OK PING warm"
    peak = _reset_peak()
    before = _status_kb("VmRSS")
    results = []
    for end in (b"", b"\n"):  # no LF yet (still in the line), then a complete line
        for _ in range(size // len(chunk)):
            ana.sock.sendall(chunk)
        ana.send_raw(end)
        if not end:
            # Same line continued, then ended: still exactly one ERR for it.
            ana.send_raw(b"more of the same line\n")
        ana.send("@<- PING done")
        assert ana.line().startswith("@-> ERR LINE_TOO_LONG ")
        assert ana.line() == "@-> OK PING done"  # every byte was read by now
        after = _status_kb("VmHWM" if peak else "VmRSS")  # the peak, where Linux can reset it
        results.append(after - before)
    assert max(results) < 8 * 1024, f"memory grew by {results} kB for {size >> 20} MB lines"
    still_chatting(ana, bob, "after 40 MB")


# ---------------------------------------------------------------- random bytes

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_never_crash_the_server(
        make_server: Callable[..., ServerThread], dial: Dial, seed: int) -> None:
    """Seeded random bytes from an anonymous and an identified client; others keep chatting."""
    server = make_server(rate=0, max_errors=0, max_line=512)
    ana, bob = pair(dial, server)
    anon, named = dial(server), dial(server)
    named.identify("Rnd")
    rng = random.Random(seed)
    for rogue in (anon, named):
        data = rng.randbytes(200_000)
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 5000)
            rogue.send_raw(data[pos:pos + step])
            pos += step
        rogue.send_raw(b"\n@<- PING survived\n")
        rogue.until(r"^@-> OK PING survived$", TIMEOUT * 2)
    still_chatting(ana, bob, "after the noise")
    late = dial(server)
    late.identify("Late")


# ---------------------------------------------------------------- abrupt ends

def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("how", ["fin", "rst", "rst-unread"])
def test_abrupt_disconnect_mid_line_is_cleaned_up(
        make_server: Callable[..., ServerThread], dial: Dial, how: str) -> None:
    """Closing mid-line (FIN, or RST via SO_LINGER 0): others get QUIT, the half line is not sent, the name is free."""
    server = make_server(rate=0)
    ana, bob = pair(dial, server)
    ana.send_raw(b"half a li")
    if how == "rst-unread":
        bob.send("unread by Ana")  # data waiting in Ana's socket makes close() reset too
        bob.send("@<- PING sync")
        assert bob.line() == "@-> OK PING sync"
    if how == "fin":
        ana.sock.close()
    else:
        _rst(ana.sock)
    quit_line = bob.line()
    assert re.fullmatch(r"@-> QUIT Ana Connection (closed|lost)", quit_line), quit_line
    again = dial(server)
    again.identify("Ana")
    bob.until(r"^@-> JOIN #general Ana ")
    still_chatting(again, bob, "new Ana")


def test_many_clients_vanishing_at_once(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """30 identified clients reset at the same moment: Bob gets 30 QUITs and the names are free."""
    server = make_server(rate=0, history_on_join=0)
    bob = dial(server)
    bob.identify("Bob")
    gone = []
    for i in range(30):
        client = Client(server.port)
        client.send(f"@<- IDENTIFY g{i}")
        client.expect(f"@-> OK IDENTIFY g{i} ")
        gone.append(client)
    for i in range(30):
        bob.until(rf"^@-> JOIN #general g{i} ")
    for i, client in enumerate(gone):  # some mid-line, some with a reset
        if i % 2:
            client.send_raw(b"partial")
        if i % 3:
            _rst(client.sock)
        else:
            client.sock.close()
    quits = {bob.until(r"^@-> QUIT ").split()[2] for _ in range(30)}
    assert quits == {f"g{i}" for i in range(30)}
    bob.send("@<- USERS")
    assert bob.lines_until(r"^@-> OK USERS")[-1] == "@-> OK USERS 1"
    for i in range(0, 30, 7):
        dial(server).identify(f"g{i}")


# ---------------------------------------------------------------- escape sequences

#: Terminal-driving characters (PROTOCOL.md §1): none may reach a client.
NEVER = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: The one escape sequence text mode may send: a name's colour in a chat line.
NAME_COLOR_ESCAPE_RE = re.compile(r"\x1b\[38;5;\d{1,3}m[^\x1b]*\x1b\[0m")

NASTY = [
    "\x1b[31mred\x1b[0m text",
    "\x1b]0;pwned\x07 title",
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "\x1bP+q544e\x1b\\ dcs",
    "\x1b[2J\x1b[H clear",
    "\x9b31m C1 CSI \x9d0;t\x9c OSC \x85 NEL \x8d RI",
    "abc\u202edcba \u202a\u202b\u202c\u202d \u2066iso\u2067\u2068\u2069",
    "bell\x07 bs\x08 nul\x00 vt\x0b ff\x0c del\x7f cr\r so\x0e mid",
    "fake\r@-> NOTICE spoofed",
]


def _check_text_stream(raw: bytes, colors: bool) -> list[str]:
    """Every line of a text-mode stream: no forbidden character outside a chat line's name colour."""
    text = raw.decode()  # the server only sends UTF-8
    lines = text.split("\n")
    for line in lines:
        rest = line
        if colors and "\x1b" in line:
            assert re.match(r"^(#\S+ (<|\* )|\*)\x1b\[38;5;\d{1,3}m", line), repr(line)
            rest = NAME_COLOR_ESCAPE_RE.sub("", line, count=1)
        assert not NEVER.search(rest), f"forbidden character in {line!r}"
        assert "spoofed" not in line or not line.startswith("@-> NOTICE"), line
    return lines


def _check_json_stream(raw: bytes) -> list[dict[str, Any]]:
    """A stream in text mode up to ``OK PROTO json``, then one JSON object a line: all clean."""
    head, switch, tail = raw.partition(b"@-> OK PROTO json\n")
    assert switch, "the client never switched to JSON"
    _check_text_stream(head, colors=True)
    objs = []
    for line in tail.decode().splitlines():
        assert not NEVER.search(line), f"forbidden character in {line!r}"
        obj = json.loads(line)
        for value in obj.values():
            if isinstance(value, str):
                assert not NEVER.search(value), f"forbidden character in {obj!r}"
        objs.append(obj)
    return objs


class _Tap:
    """A socket stand-in that keeps a copy of every byte received."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.record = bytearray()

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self.record += data
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _tapped(client: Client) -> Client:
    client.sock = _Tap(client.sock)  # type: ignore[assignment]
    return client


def _record(client: Client) -> bytes:
    assert isinstance(client.sock, _Tap)
    return bytes(client.sock.record)


def _json_client(dial: Dial, server: ServerThread, name: str) -> Client:
    client = _tapped(dial(server))
    client.identify(name)
    client.send("@<- PROTO json")
    client.until(r"^@-> OK PROTO json$")
    return client


def test_escape_sequences_never_reach_another_client(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """ESC, CSI, OSC, DCS, C1, bidi and other controls, in every kind of text, in both modes."""
    server = make_server(rate=0)
    ana, bob, cid = (_tapped(dial(server)) for _ in range(3))
    ana.identify("Ana")
    bob.identify("Bob")
    cid.identify("Cid")
    cid.send("@<- COLORS off")
    cid.until(r"^@-> OK COLORS off$")
    dan = _json_client(dial, server, "Dan")
    eve = _json_client(dial, server, "Eve")

    for text in NASTY:
        for line in (text, f"@<- SAY #general {text}", f"@<- ME {text}", f"@<- MSG Bob {text}",
                     f"@<- MSG Cid {text}", f"@<- MSG Dan {text}", f"@<- TOPIC #general {text}"):
            ana.send_raw(line.encode() + b"\n")
        for obj in ({"cmd": "say", "text": text}, {"cmd": "me", "text": text},
                    {"cmd": "msg", "to": "Cid", "text": f"{text}\n@-> NOTICE spoofed"},
                    {"cmd": "msg", "to": "Dan", "text": text},
                    {"cmd": "topic", "room": "#general", "text": text},
                    {"cmd": "say", "text": "x\n@-> NOTICE spoofed\n#general <Bob> fake"}):
            eve.send_json(obj)
    eve.send_json({"cmd": "ping", "token": "eve-done"})
    eve.until(r'"token":"eve-done"')  # all of Eve's lines were handled and delivered
    # Texts that are nothing but controls are refused, never sent empty.
    for bad in ("\x1b", "\x1b\x07\u202e", "\x0b\x0c\x7f"):
        ana.send_raw(f"@<- SAY #general {bad}\n".encode())
        ana.until(r"^@-> ERR BAD_ARGUMENT ")
    # Names and rooms with them are refused.
    for bad in ("@<- NICK A\x1bna", "@<- NICK An\u202ea", "@<- JOIN #r\x1b[31m",
                "@<- JOIN #\u2066x", "@<- MSG B\x1bob hi"):
        ana.send_raw(bad.encode() + b"\n")
        ana.until(r"^@-> ERR (INVALID_NAME|INVALID_ROOM|NO_SUCH_USER) ")
    ana.send_raw(b"@<- \x1b[31mVERB\x07\n")
    ana.until(r"^@-> ERR UNKNOWN_COMMAND ")
    ana.send("@<- QUIT \x1b]0;bye\x07 \u202eadiós \x9b")
    ana.until(r"^@-> BYE QUIT ")
    assert ana.closed()
    for client in (bob, cid):
        client.until(r"^@-> QUIT Ana ")
    for client in (dan, eve):
        client.until(r'"type":"quit"')

    # Every byte each one received, from WELCOME on, is checked.
    _check_text_stream(_record(ana), colors=True)  # the sender's own replies too
    _check_text_stream(_record(bob), colors=True)
    plain = _check_text_stream(_record(cid), colors=False)
    assert "\x1b" not in "".join(plain)
    for client in (dan, eve):
        _check_json_stream(_record(client))
    # The scrubbed texts did arrive (nothing silently dropped), and no line was forged.
    n = len(NASTY)
    assert sum(line.startswith("#general <Ana> ") for line in plain) == 2 * n
    assert sum(line.startswith("#general * Ana ") for line in plain) == n
    assert sum(line.startswith("*Ana* ") for line in plain) == n
    assert sum(line.startswith("#general <Eve> ") for line in plain) == 2 * n
    assert sum(line.startswith("*Eve* ") for line in plain) == n
    assert sum(line.startswith("@-> TOPIC #general Ana ") for line in plain) == n
    assert "#general <Ana> [31mred[0m text" in plain
    assert not any(line.startswith(("@-> NOTICE", "#general <Bob>")) for line in plain)
    assert "@-> QUIT Ana ]0;bye adiós " in plain


# ---------------------------------------------------------------- bad lines vs. others

def test_flood_of_bad_lines_does_not_stall_other_users(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """One client sends 30,000 bad lines as fast as it can; Ana and Bob's round trips stay quick."""
    server = make_server(rate=0, max_errors=0, max_line=200)
    ana, bob = pair(dial, server)
    rogue = dial(server)
    kinds = [b"@<- NOPE\n", b"\xff\xfe\n", b"z" * 300 + b"\n", b"hola\n", b"@<-\n"]
    total = 30_000
    errors = 0

    def flood() -> None:
        for first in range(0, total, 500):
            rogue.send_raw(b"".join(kinds[i % len(kinds)] for i in range(first, first + 500)))

    def drain() -> None:
        nonlocal errors
        while errors < total:
            assert rogue.line(TIMEOUT * 3).startswith("@-> ERR ")
            errors += 1

    threads = [threading.Thread(target=flood, daemon=True),
               threading.Thread(target=drain, daemon=True)]
    for thread in threads:
        thread.start()
    worst = 0.0
    rounds = 0
    while threads[1].is_alive() or rounds < 5:
        started = time.monotonic()
        still_chatting(ana, bob, f"r{rounds}")
        worst = max(worst, time.monotonic() - started)
        rounds += 1
    for thread in threads:
        thread.join(TIMEOUT)
    assert errors == total
    assert worst < 1.0 * SCALE, f"a round trip took {worst:.2f} s during the flood"
