"""Abuse limits over real sockets: connection rate per address, slowloris, running out of fds."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.harness import Client, ServerThread, spawn_server
from tests.integration.helpers import Dial, StderrLines, pair
from tests.timing import SCALE, TIMEOUT

BYE_TOO_MANY = "@-> BYE TOO_MANY_CONNECTIONS too many connections; try again later"


def test_connection_rate_per_address(make_server: Callable[..., ServerThread],
                                     dial: Dial) -> None:
    """Past --connect-burst new connections from one address are turned away; others are not."""
    server = make_server(connect_rate=0.1, connect_burst=3, connect_exempt=())
    kept = [dial(server, source="127.0.0.5") for _ in range(3)]
    assert all(c.welcome.startswith("@-> WELCOME ") for c in kept)
    for c in kept:
        c.close()  # closing does not give tokens back: the rate is of new connections
    refused = dial(server, source="127.0.0.5", read_welcome=False)
    assert refused.line() == BYE_TOO_MANY
    assert refused.closed()
    assert dial(server, source="127.0.0.6").welcome.startswith("@-> WELCOME ")
    ana, bob = pair(dial, server)  # 127.0.0.1 is a fresh address too
    ana.send("still chatting")
    assert bob.line().endswith("> still chatting")


def test_loopback_is_exempt_by_default(make_server: Callable[..., ServerThread],
                                       dial: Dial) -> None:
    """Local bots and a reverse proxy on the same host are not rate limited (--connect-exempt)."""
    server = make_server(connect_rate=0.5, connect_burst=1)
    clients = [dial(server, source="127.0.0.7") for _ in range(10)]
    assert all(c.welcome.startswith("@-> WELCOME ") for c in clients)


def test_slowloris_is_cut(make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A byte every 0.1 s that never ends a line: BYE PING_TIMEOUT after --line-timeout."""
    limit = 0.6 * SCALE
    server = make_server(line_timeout=limit, history_on_join=0)
    ana, bob = pair(dial, server)
    slow = dial(server)
    slow.identify("Slow")
    ana.until(r"^@-> JOIN #general Slow")
    bob.until(r"^@-> JOIN #general Slow")
    started = time.monotonic()
    slow.send_raw(b"@<- SAY #general ")
    bye = ""
    while time.monotonic() - started < TIMEOUT:
        try:
            slow.send_raw(b"x")
        except OSError:
            break
        slow.sock.settimeout(0.1)
        try:
            chunk = slow.sock.recv(4096)
        except TimeoutError:
            continue
        slow.buf += chunk
        if b"BYE" in slow.buf or not chunk:
            break
    bye = slow.line()
    assert bye.startswith("@-> BYE PING_TIMEOUT no end of line for "), bye
    assert time.monotonic() - started >= limit * 0.9
    assert ana.line().startswith("@-> QUIT Slow no end of line")
    ana.send("others go on")
    assert bob.until(r"others go on$")


def test_accepting_goes_on_after_running_out_of_file_descriptors(tmp_path: Path) -> None:
    """With RLIMIT_NOFILE small, fill every descriptor, let go, and a new client gets WELCOME."""
    with spawn_server("--max-per-ip", "1000", tmp_path=tmp_path, max_files=64) as (proc, port):
        log = StderrLines(proc)
        hogs: list[socket.socket] = []
        for _ in range(120):  # more than the server can hold open
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            hogs.append(sock)
        # The server has accepted what it could: every descriptor is in use.  (uvloop
        # accepts and closes at once what it has no descriptor for; plain asyncio
        # stops accepting for a second.  Either way the listener stays.)
        deadline = time.monotonic() + TIMEOUT
        held = 0  # the most seen at once (one may be free for an instant: accept, then close)
        while held < 64 and time.monotonic() < deadline:
            held = max(held, len(os.listdir(f"/proc/{proc.pid}/fd")))
            time.sleep(0.02)
        assert held == 64
        welcomed = 0
        for sock in hogs:
            sock.settimeout(0.05)
            try:
                if sock.recv(4096).startswith(b"@-> WELCOME"):
                    welcomed += 1
            except (TimeoutError, ConnectionError):
                pass
        assert 0 < welcomed < 120, welcomed
        for sock in hogs:
            sock.close()
        deadline = time.monotonic() + TIMEOUT * 2
        while True:  # descriptors come back as the server sees the closes
            try:
                with Client(port) as late:
                    late.identify("Late")
                    late.send("@<- PING back")
                    assert late.line() == "@-> OK PING back"
                    break
            except (AssertionError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
        assert proc.poll() is None, "the server died"
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
        lines = log.rest()
    assert not any("Traceback" in line for line in lines), lines
