"""Delivery and order over real TCP (PROTOCOL.md §4).

One order per room for every member, each sender's messages in send order,
nothing lost or duplicated, in text and JSON mode, and a broadcast that
reaches 500 clients that connected at once.
"""

from __future__ import annotations

import itertools
import json
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable

import pytest

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import CHAT_RE, Dial, strip_colors
from tests.timing import TIMEOUT


def _text_message(line: str) -> str | None:
    """``sender:text`` of a text-mode #general line, None for any other line."""
    match = CHAT_RE.match(strip_colors(line))
    return f"{match.group(2)}:{match.group(3)}" if match and match.group(1) == "#general" else None


def _json_message(line: str) -> str | None:
    obj = json.loads(line)
    if obj.get("type") != "message":
        return None
    assert obj["room"] == "#general", obj
    return f"{obj['from']}:{obj['text']}"


def _collect(client: Client, parse: Callable[[str], str | None], count: int,
             out: list[str], ids: list[str] | None = None) -> None:
    """Read until ``count`` room messages are in ``out`` (run in a thread)."""
    deadline = time.monotonic() + TIMEOUT * 3
    while len(out) < count:
        line = client.line(max(0.0, deadline - time.monotonic()))
        got = parse(line)
        if got is not None:
            out.append(got)
            if ids is not None:
                ids.append(json.loads(line)["id"])


@pytest.mark.parametrize("senders", [2, 4])
def test_concurrent_senders_every_member_sees_one_order(
        make_server: Callable[..., ServerThread], dial: Dial, senders: int) -> None:
    """Senders at once: all members (text, plain, JSON, senders too) get the same complete order."""
    server = make_server(rate=0, history_on_join=0)
    per_sender = 1200 // senders
    total = per_sender * senders
    names = [f"S{k}" for k in range(senders)]
    sending: list[Client] = []
    for name in names:  # senders in JSON mode get their own messages too
        client = dial(server)
        client.identify(name)
        client.send("@<- PROTO json")
        client.until(r"^@-> OK PROTO json$")
        sending.append(client)
    color, plain, js = dial(server), dial(server), dial(server)
    color.identify("Rc")
    plain.identify("Rp")
    plain.send("@<- COLORS off")
    plain.until(r"^@-> OK COLORS off$")
    js.identify("Rj")
    js.send("@<- PROTO json")
    js.until(r"^@-> OK PROTO json$")

    streams: dict[str, list[str]] = {n: [] for n in ["Rc", "Rp", "Rj", *names]}
    ids: dict[str, list[str]] = {n: [] for n in ["Rj", *names]}
    readers = [
        threading.Thread(target=_collect, args=(color, _text_message, total, streams["Rc"])),
        threading.Thread(target=_collect, args=(plain, _text_message, total, streams["Rp"])),
        threading.Thread(target=_collect, args=(js, _json_message, total, streams["Rj"],
                                                ids["Rj"])),
    ]
    step = threading.Barrier(senders)  # chunk k of every sender before chunk k+1 of any

    def send_all(client: Client, name: str) -> None:
        """Send in chunks of 10, each once the previous chunk came back (so senders overlap)."""
        stream, got_ids = streams[name], ids[name]
        for first in range(0, per_sender, 10):
            step.wait(TIMEOUT)
            last = min(first + 10, per_sender)
            client.send_raw("".join(json.dumps({"cmd": "say", "text": f"{i}"}) + "\n"
                                    for i in range(first, last)).encode())
            while f"{name}:{last - 1}" not in stream[-total:]:
                _collect(client, _json_message, len(stream) + 1, stream, got_ids)
        _collect(client, _json_message, total, stream, got_ids)

    writers = [threading.Thread(target=send_all, args=(c, n)) for n, c in zip(names, sending, strict=True)]
    for thread in readers + writers:
        thread.daemon = True
        thread.start()
    for thread in writers + readers:
        thread.join(TIMEOUT * 4)
        assert not thread.is_alive(), {n: len(s) for n, s in streams.items()}

    reference = streams["Rc"]
    assert len(reference) == total and len(set(reference)) == total  # nothing lost or doubled
    for name, stream in streams.items():
        assert stream == reference, f"{name} saw another order"
    for name in names:
        mine = [m.split(":", 1)[1] for m in reference if m.startswith(name + ":")]
        assert mine == [str(i) for i in range(per_sender)], f"{name}'s messages out of order"
    interleaved = sum(1 for a, b in itertools.pairwise(reference)
                      if a.split(":")[0] != b.split(":")[0])
    assert interleaved >= 10, "the senders hardly overlapped"
    for name, got in ids.items():  # ids sort as strings in the room's order (§6)
        assert got == ids["Rj"], name
        assert got == sorted(got) and len(set(got)) == total


def test_one_sender_burst_arrives_complete_and_in_order(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """2000 lines in one write: the other member gets all of them, in order, once."""
    server = make_server(rate=0, history_on_join=0)
    ana, bob = dial(server), dial(server)
    ana.identify("Ana")
    bob.identify("Bob")
    ana.expect("@-> JOIN #general Bob ")
    ana.send_raw(b"".join(b"line %d\n" % i for i in range(2000)))
    got = [_text_message(bob.line()) for _ in range(2000)]
    assert got == [f"Ana:line {i}" for i in range(2000)]
    ana.send("@<- PING end")
    assert ana.line() == "@-> OK PING end"  # plain lines got no reply
    bob.quiet()


# ---------------------------------------------------------------- 500 at once

CLIENTS = 500


def _pump(sel: selectors.BaseSelector, bufs: dict[socket.socket, bytearray],
          done: Callable[[socket.socket, bytes], bool], pending: set[socket.socket],
          timeout: float) -> None:
    """Read every socket until ``done(sock, line)`` has been true once for each in ``pending``."""
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        assert left > 0, f"{len(pending)} clients still waiting"
        for key, _ in sel.select(min(left, 1.0)):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            assert chunk, "a client was disconnected"
            buf = bufs[sock]
            buf += chunk
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                if sock in pending and done(sock, line):
                    pending.discard(sock)


def test_500_clients_connect_at_once_and_all_get_a_broadcast(
        make_server: Callable[..., ServerThread]) -> None:
    """500 sockets connect and IDENTIFY together; each gets the one broadcast (mark slow if > 3 s)."""
    server = make_server(max_per_ip=CLIENTS + 10)
    started = time.monotonic()
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(CLIENTS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            socks.append(sock)
        for sock in socks:  # wait until each is connected, then identify
            sel.register(sock, selectors.EVENT_WRITE)
        connected: set[socket.socket] = set()
        deadline = time.monotonic() + TIMEOUT * 2
        while len(connected) < CLIENTS:
            assert time.monotonic() < deadline, f"only {len(connected)} connected"
            for key, _ in sel.select(1.0):
                done = key.fileobj
                assert isinstance(done, socket.socket)
                assert done.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                sel.unregister(done)
                connected.add(done)
        names = {sock: f"u{i}" for i, sock in enumerate(socks)}
        for sock in socks:
            sock.setblocking(True)
            sock.sendall(f"@<- IDENTIFY {names[sock]}\n@<- PING ready\n".encode())
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        bufs = {sock: bytearray() for sock in socks}
        welcomed: set[socket.socket] = set()

        def ready(sock: socket.socket, line: bytes) -> bool:
            if line.startswith(b"@-> WELCOME "):
                welcomed.add(sock)
            assert not line.startswith((b"@-> ERR", b"@-> BYE")), line
            return line == b"@-> OK PING ready"

        _pump(sel, bufs, ready, set(socks), TIMEOUT * 4)
        assert len(welcomed) == CLIENTS
        sender = socks[0]
        sender.setblocking(True)
        sender.sendall(b"hello everyone\n")
        sender.setblocking(False)

        def got_it(sock: socket.socket, line: bytes) -> bool:
            return re.sub(rb"\x1b\[[0-9;]*m", b"", line) == b"#general <u0> hello everyone"

        _pump(sel, bufs, got_it, set(socks[1:]), TIMEOUT * 4)
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    assert time.monotonic() - started < TIMEOUT * 4
