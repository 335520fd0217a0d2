"""Adversarial clients against a real server process.

Each case starts ``tertulia serve`` as a child, connects two ordinary users,
attacks, and then checks three things (:func:`victim`):

* the server is still up, and exits cleanly (status 0, no traceback) on SIGTERM;
* the ordinary users still chat, during the attack where it lasts and after it;
* the server's resident memory (``VmRSS`` of ``/proc/<pid>/status``) grew by
  less than the case's bound, so nothing the attacker sent is kept.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import Client, spawn_server
from tests.integration.helpers import StderrLines
from tests.timing import TIMEOUT

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """Resident memory of a process in bytes, from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@dataclass
class Victim:
    pid: int
    port: int
    ana: Client
    bob: Client
    baseline: int
    sent: int = 0

    def chat(self) -> None:
        """Ana says a fresh line; Bob must get it (other lines may come first)."""
        self.sent += 1
        token = f"still here {self.sent}"
        self.ana.send(f"@<- SAY #general {token}")
        self.ana.until(r"^@-> OK SAY #general$")
        self.bob.until(f"> {token}$")

    def growth(self) -> int:
        return rss(self.pid) - self.baseline


@contextmanager
def victim(tmp_path: Path, *args: str, max_growth: int = 16 * MIB) -> Iterator[Victim]:
    """A server child with Ana and Bob chatting; checked after the attack (module docstring)."""
    with spawn_server("--history-on-join", "0", *args, tmp_path=tmp_path) as (proc, port):
        log = StderrLines(proc)
        ana, bob = Client(port), Client(port)
        for client, name in ((ana, "Ana"), (bob, "Bob")):
            client.send("@<- COLORS off")
            client.expect("@-> OK COLORS off")
            client.identify(name)
        ana.until(r"^@-> JOIN #general Bob ")
        v = Victim(proc.pid, port, ana, bob, rss(proc.pid))
        v.chat()
        yield v
        assert proc.poll() is None, "the server died"
        v.chat()
        grown = v.growth()
        assert grown < max_growth, f"RSS grew by {grown / MIB:.1f} MiB"
        ana.close()
        bob.close()
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
        lines = log.rest()
    assert not any("Traceback" in line for line in lines), "\n".join(lines)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


# ---------------------------------------------------------------- the cases


def test_slowloris(tmp_path: Path) -> None:
    """50 connections trickle a byte every 0.1 s and never end a line: all are cut."""
    with victim(tmp_path, "--line-timeout", "1") as v:
        slow = [connect(v.port) for _ in range(50)]
        started = time.monotonic()
        while time.monotonic() - started < 1.6:
            for sock in slow:
                try:
                    sock.send(b"x")
                except OSError:
                    pass
            v.chat()  # nobody else waits for them
            time.sleep(0.1)
        for sock in slow:
            data = read_until_closed(sock)
            assert b"@-> BYE PING_TIMEOUT no end of line for " in data, data[-200:]
            sock.close()


def test_connection_storm_from_one_address(tmp_path: Path) -> None:
    """3000 connections from one address as fast as possible: past the burst, one BYE each."""
    with victim(tmp_path, "--connect-exempt", "", "--connect-burst", "20",
                "--connect-rate", "1") as v:
        refused = welcomed = 0
        for n in range(3000):
            sock = connect(v.port, "127.0.0.9")
            first = sock.recv(200)
            if first.startswith(b"@-> BYE TOO_MANY_CONNECTIONS"):
                refused += 1
            elif first.startswith(b"@-> WELCOME"):
                welcomed += 1
            sock.close()
            if n % 500 == 0:
                v.chat()
        assert refused > 2500 and 20 <= welcomed < 100, (refused, welcomed)
        other = Client(v.port)  # ordinary users from elsewhere still get in
        assert other.welcome.startswith("@-> WELCOME ")
        other.close()


def test_half_open_and_silent_connections(tmp_path: Path) -> None:
    """300 connections half-closed mid-line and 300 that say nothing: all are let go."""
    with victim(tmp_path, "--identify-timeout", "1", "--max-per-ip", "1000") as v:
        half = [connect(v.port) for _ in range(300)]
        silent = [connect(v.port) for _ in range(300)]
        for sock in half:
            sock.send(b"@<- IDENTIFY Hal")  # no LF, then our side stops sending
            sock.shutdown(socket.SHUT_WR)
        v.chat()
        for sock in half:
            assert read_until_closed(sock).startswith(b"@-> WELCOME")
            sock.close()
        for sock in silent:
            assert b"@-> BYE IDENTIFY_TIMEOUT" in read_until_closed(sock)
            sock.close()


def test_ten_megabytes_without_a_newline(tmp_path: Path) -> None:
    """One LINE_TOO_LONG, nothing kept, and the same connection goes on after its LF."""
    with victim(tmp_path, max_growth=8 * MIB) as v:
        flood = Client(v.port)
        chunk = b"a" * 65536
        for n in range(160):  # 10 MiB
            flood.send_raw(chunk)
            if n % 40 == 0:
                v.chat()
        flood.send_raw(b"\n@<- PING after\n")
        assert flood.line().startswith("@-> ERR LINE_TOO_LONG ")
        assert flood.line() == "@-> OK PING after"
        flood.close()


def test_random_bytes(tmp_path: Path) -> None:
    """Five connections send 256 KiB of random bytes each; each is answered or cut, never more."""
    with victim(tmp_path) as v:
        noisy = [connect(v.port) for _ in range(5)]
        for sock in noisy:
            try:
                sock.sendall(os.urandom(256 * 1024))
                sock.shutdown(socket.SHUT_WR)  # then the server ends it
            except OSError:
                pass  # cut already (PROTOCOL_ERRORS)
            v.chat()
        for sock in noisy:
            data = read_until_closed(sock)
            assert b"@-> BYE PROTOCOL_ERRORS" in data or b"@-> ERR" in data
            sock.close()


@pytest.mark.parametrize("max_line", [4096, 1 << 20])
def test_json_nesting_bomb(tmp_path: Path, max_line: int) -> None:
    """Deep nesting, huge numbers and long keys get BAD_JSON; the server does not recurse away."""
    with victim(tmp_path, "--max-line", str(max_line), "--rate", "0") as v:
        bomb = Client(v.port)
        bomb.send("@<- PROTO json")
        bomb.expect("@-> OK PROTO json")
        room = max_line - 100
        lines = [
            '{"cmd": "ping", "x": ' + "[" * (room // 2) + "]" * (room // 2) + "}",
            '{"cmd": "ping", "x": ' + '{"a":' * (room // 6) + "1" + "}" * (room // 6) + "}",
            '{"cmd": "ping", "x": ' + "[" * room,
            '{"cmd": "ping", "x": ' + "9" * room + "}",
        ]
        for line in lines:
            assert len(line.encode()) <= max_line
            bomb.send(line)
            got = bomb.json()
            assert got["type"] in ("error", "ok"), got  # refused, or (shallow enough) parsed
            if got["type"] == "error":
                assert got["code"] == "BAD_JSON", got
        bomb.send_json({"cmd": "ping", "token": "alive"})
        assert bomb.json() == {"type": "ok", "cmd": "ping", "token": "alive"}
        v.chat()
        bomb.close()


def test_confusable_and_invisible_names(tmp_path: Path) -> None:
    """Lookalikes of Ana and names that show nothing are refused; Ana and Bob are not disturbed."""
    tricks = [
        ("\u0410na", "INVALID_NAME"),  # Cyrillic А
        ("Ana\u034f", "INVALID_NAME"),  # combining grapheme joiner
        ("Ana\u200b", "INVALID_NAME"),  # zero-width space
        ("\u3164", "INVALID_NAME"),  # Hangul filler
        ("An\u202ea", "INVALID_NAME"),  # bidi override
        ("ＡＮＡ", "NAME_IN_USE"),  # fullwidth: the same name as Ana
        ("ana", "NAME_IN_USE"),
        ("A\u0301na", None),  # a real accent is fine: another name
    ]
    with victim(tmp_path, "--rate", "0") as v:
        for name, code in tricks:
            client = Client(v.port)
            client.send(f"@<- IDENTIFY {name}")
            got = client.line()
            if code is None:
                assert got.startswith(f"@-> OK IDENTIFY {name} "), got
            else:
                assert got.startswith(f"@-> ERR {code} "), (name, got)
            client.close()
        v.chat()
        v.ana.send("@<- JOIN #g\u0435neral")  # Cyrillic е in a room name
        assert v.ana.line().startswith("@-> ERR INVALID_ROOM ")


@pytest.mark.slow
def test_ten_thousand_joins_of_distinct_rooms(tmp_path: Path) -> None:
    """10,000 JOINs at once: --max-rooms are joined, the rest FORBIDDEN; memory stays bounded."""
    with victim(tmp_path, "--rate", "0", max_growth=32 * MIB) as v:
        joiner = Client(v.port)
        joiner.identify("Joiner")
        joiner.send_raw(b"".join(b"@<- JOIN #r%d\n" % n for n in range(10_000)))
        joiner.send("@<- PING done")
        joined = refused = 0
        while True:
            line = joiner.line()
            if line == "@-> OK PING done":
                break
            if line.startswith("@-> OK JOIN "):
                joined += 1
            elif line.startswith("@-> ERR FORBIDDEN you are in 200 rooms"):
                refused += 1
        assert (joined, refused) == (199, 9801)
        v.chat()
        joiner.send("@<- ROOMS")
        assert joiner.until(r"^@-> OK ROOMS ") == "@-> OK ROOMS 200"
        joiner.close()


def test_json_lines_stay_json(tmp_path: Path) -> None:
    """A JSON bomb's error names no part of the input (nothing echoed back grows with it)."""
    with victim(tmp_path) as v:
        c = Client(v.port)
        c.send("@<- PROTO json")
        c.expect("@-> OK PROTO json")
        c.send('{"cmd": "' + "x" * 3000 + '"}')
        got = c.json()
        assert got["code"] == "UNKNOWN_COMMAND" and len(json.dumps(got)) < 200, got
        c.close()
