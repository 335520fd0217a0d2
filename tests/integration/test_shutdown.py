"""Stopping the server with SIGINT/SIGTERM (PROTOCOL.md §7), on a real child process.

Every client gets ``BYE SERVER_SHUTDOWN`` as its last line and then EOF; lines
the server had already read are handled (their messages stored and delivered)
first; the process exits 0 within a few seconds and never with a traceback; a
second Ctrl+C skips the waits; the SQLite file is closed cleanly and keeps the
history for the next start.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tertulia.server.app import FLUSH_DEADLINE
from tests.integration.harness import Client, spawn_server
from tests.integration.helpers import StderrLines, json_client, say_burst, text_chat
from tests.timing import TIMEOUT

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def read_to_eof(client: Client, timeout: float = TIMEOUT) -> list[str]:
    """Every line until the server closes the connection; fails if it stays open."""
    if not client.closed(timeout):
        raise AssertionError(f"still open after {timeout:.1f} s (have {client.buf[-200:]!r})")
    data, client.buf = client.buf, b""
    assert data.endswith(b"\n") or not data, f"a partial last line: {data[-200:]!r}"
    return data.decode().splitlines()


def assert_text_bye(lines: list[str]) -> None:
    assert lines, "no line at all before EOF"
    assert lines[-1].startswith("@-> BYE SERVER_SHUTDOWN"), lines[-5:]
    assert not any(line.startswith("@-> BYE") for line in lines[:-1]), lines


def assert_json_bye(lines: list[str]) -> list[dict[str, Any]]:
    objs = [json.loads(line) for line in lines]
    assert objs, "no line at all before EOF"
    assert objs[-1]["type"] == "bye" and objs[-1]["code"] == "SERVER_SHUTDOWN", objs[-5:]
    assert not any(o["type"] == "bye" for o in objs[:-1]), objs
    return objs


def wait_exit(proc: subprocess.Popen[str], timeout: float = TIMEOUT) -> tuple[int, str]:
    """The exit status and the whole stderr after the process ends."""
    status = proc.wait(timeout)
    assert proc.stderr is not None
    return status, proc.stderr.read()


def stored_messages(port: int, name: str) -> list[dict[str, Any]]:
    """All of #general's stored messages, oldest first (JSON HISTORY pages of 500, ``before``)."""
    messages: list[dict[str, Any]] = []
    with json_client(port, name) as reader:
        while True:
            ask: dict[str, Any] = {"cmd": "history", "room": "#general", "limit": 500}
            if messages:
                ask["before"] = messages[0]["id"]
            reader.send_json(ask)
            ok = reader.json()
            assert ok["type"] == "ok" and ok["cmd"] == "history", ok
            messages[:0] = ok["messages"]
            if len(ok["messages"]) < 500:
                return messages


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_says_bye_to_every_client_and_exits_0(sig: signal.Signals, tmp_path: Path) -> None:
    """SIGINT/SIGTERM: text, JSON and unidentified clients all get BYE SERVER_SHUTDOWN, then EOF."""
    with spawn_server(tmp_path=tmp_path) as (proc, port):
        ana, bob = Client(port), Client(port)
        ana.identify("Ana")
        bob.identify("Bob")
        cleo, dan = json_client(port, "Cleo"), json_client(port, "Dan")
        stranger = Client(port)  # connected, never identified
        ana.until(r"^@-> JOIN #general Dan ")
        started = time.monotonic()
        proc.send_signal(sig)
        for client in (ana, bob, stranger):
            assert_text_bye(read_to_eof(client))
        for client in (cleo, dan):
            assert_json_bye(read_to_eof(client))
        status, stderr = wait_exit(proc)
        elapsed = time.monotonic() - started
        for client in (ana, bob, cleo, dan, stranger):
            client.close()
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert elapsed < TIMEOUT, f"took {elapsed:.1f} s to stop"


def wait_read_by_server(client: Client, port: int) -> None:
    """Wait until every byte ``client`` sent has been read by the server process.

    Linux only: in /proc/net/tcp the client's socket has nothing left to send
    and the server's end of it has an empty receive queue.
    """
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp to see what the server has read")
    mine = client.sock.getsockname()[1]

    def queues() -> tuple[int, int] | None:
        sent_left = unread = None
        for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = row.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            tx, rx = (int(q, 16) for q in fields[4].split(":"))
            if (local, remote) == (mine, port):
                sent_left = tx
            elif (local, remote) == (port, mine):
                unread = rx
        return None if sent_left is None or unread is None else (sent_left, unread)

    deadline = time.monotonic() + TIMEOUT
    while queues() != (0, 0):
        assert time.monotonic() < deadline, f"the server did not read in time: {queues()}"
        time.sleep(0.005)


@contextmanager
def store_write_lock(db: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock on ``db`` so the server's commits wait (its busy timeout)."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield con
    finally:
        if con.in_transaction:
            con.execute("ROLLBACK")
        con.close()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_lines_read_before_the_signal_are_delivered_before_bye(sig: signal.Signals,
                                                              tmp_path: Path) -> None:
    """Messages read but not yet stored at the signal reach everyone, in order, before BYE.

    The store is held busy (a write lock from this test) while the sender's
    burst is read, so those lines are surely in flight when the signal comes.
    The sender's acknowledgements, a text reader's chat lines, a JSON reader's
    messages and the history after a restart must all be the whole burst.
    """
    sent = [f"m{n}" for n in range(50)]
    db = tmp_path / "tertulia.db"
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (proc, port):
        err = StderrLines(proc)
        ana = Client(port)
        ana.identify("Ana")
        dan = json_client(port, "Dan")
        cleo = json_client(port, "Cleo")
        ana.until(r"^@-> JOIN #general Cleo ")
        assert dan.json()["type"] == "join"
        with store_write_lock(db):
            cleo.send_raw(say_burst(sent))
            wait_read_by_server(cleo, port)
            proc.send_signal(sig)
            err.wait_for(r"(?i)shutting down")
        # The lock is released: the store commits, and the shutdown delivers.
        cleo_objs = assert_json_bye(read_to_eof(cleo))
        ana_lines = read_to_eof(ana)
        dan_objs = assert_json_bye(read_to_eof(dan))
        status = proc.wait(TIMEOUT)
        stderr = "\n".join(err.rest())
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert_text_bye(ana_lines)
    assert [o for o in cleo_objs if o["type"] == "error"] == []
    assert [o["text"] for o in cleo_objs if o["type"] == "message" and "ref" in o] == sent
    assert text_chat(ana_lines, "Cleo") == sent
    assert [o["text"] for o in dan_objs if o["type"] == "message"] == sent
    assert_sqlite_sound(db)
    with spawn_server(tmp_path=tmp_path) as (_proc, port):
        assert [m["text"] for m in stored_messages(port, "Eve")] == sent


def stuck_client(port: int, lines: int) -> socket.socket:
    """A client that identifies, asks for ``lines`` HELP lists and never reads them.

    Its receive buffer is made small before connecting, so several MB of replies
    stay in the server's output for it: the first shutdown waits to flush them.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"@<- IDENTIFY Slow\n" + b"@<- HELP\n" * lines
                 + b"@<- SAY #general all asked\n")
    return sock


def test_second_sigint_skips_the_wait(tmp_path: Path) -> None:
    """A client that does not read holds the first shutdown; a second SIGINT ends it at once."""
    with spawn_server("--rate", "0", "--max-sendq", str(64 << 20), tmp_path=tmp_path) as (
            proc, port):
        bob = Client(port)
        bob.identify("Bob")
        slow = stuck_client(port, 6000)
        bob.until(r"> all asked$")  # every HELP of Slow was handled: its output is queued
        proc.send_signal(signal.SIGINT)
        assert_text_bye(read_to_eof(bob))  # the first shutdown is under way
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        status, stderr = wait_exit(proc)
        elapsed = time.monotonic() - started
        slow.close()
        bob.close()
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert elapsed < FLUSH_DEADLINE, f"the second SIGINT still waited {elapsed:.2f} s"


@pytest.mark.slow
def test_a_client_that_does_not_read_cannot_hold_shutdown(tmp_path: Path) -> None:
    """With one SIGINT only, the others get BYE at once and the process still exits 0 soon."""
    with spawn_server("--rate", "0", "--max-sendq", str(64 << 20), tmp_path=tmp_path) as (
            proc, port):
        bob = Client(port)
        bob.identify("Bob")
        slow = stuck_client(port, 6000)
        bob.until(r"> all asked$")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert_text_bye(read_to_eof(bob))
        bye_after = time.monotonic() - started
        status, stderr = wait_exit(proc, TIMEOUT * 2)
        slow.close()
        bob.close()
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert bye_after < FLUSH_DEADLINE, f"Bob waited {bye_after:.2f} s for Slow"


def test_second_sigint_while_lines_wait_for_the_store(tmp_path: Path) -> None:
    """Two SIGINTs while messages wait for a busy store: exit 0, no traceback, nothing torn.

    Whatever anyone saw is stored, and what is stored is a prefix of what was sent.
    """
    sent = [f"m{n}" for n in range(200)]
    db = tmp_path / "tertulia.db"
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (proc, port):
        err = StderrLines(proc)
        ana = Client(port)
        ana.identify("Ana")
        cleo = json_client(port, "Cleo")
        ana.until(r"^@-> JOIN #general Cleo ")
        with store_write_lock(db):
            cleo.send_raw(say_burst(sent))
            wait_read_by_server(cleo, port)
            proc.send_signal(signal.SIGINT)
            err.wait_for(r"(?i)shutting down")
            proc.send_signal(signal.SIGINT)
            err.wait_for(r"(?i)again")
        status = proc.wait(TIMEOUT)
        stderr = "\n".join(err.rest())
        seen = text_chat(read_to_eof(ana), "Cleo")
        cleo.close()
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert_sqlite_sound(db)
    with spawn_server(tmp_path=tmp_path) as (_proc, port):
        stored = [m["text"] for m in stored_messages(port, "Eve")]
    assert stored == sent[:len(stored)]
    assert seen == stored[:len(seen)]


def assert_sqlite_sound(db: Path) -> None:
    """The file passes SQLite's integrity check and left no unmerged write-ahead log."""
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the store was not closed cleanly"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_store_closed_cleanly_and_history_kept(sig: signal.Signals, tmp_path: Path) -> None:
    """After a signal the SQLite file is consistent, and the next start shows the history."""
    with spawn_server(tmp_path=tmp_path) as (proc, port):
        with Client(port) as ana:
            ana.identify("Ana")
            for n in range(5):
                ana.send(f"@<- SAY #general before {sig.name} {n}")
                ana.expect("@-> OK SAY #general")
            proc.send_signal(sig)
            assert_text_bye(read_to_eof(ana))
        status, stderr = wait_exit(proc)
    assert status == 0, stderr
    assert_sqlite_sound(tmp_path / "tertulia.db")
    with spawn_server(tmp_path=tmp_path) as (_proc, port), Client(port) as bob:
        bob.send("@<- IDENTIFY Bob")
        bob.expect("@-> OK IDENTIFY Bob ")
        history = bob.drain_history()
    assert [h.split(" Ana ", 1)[1] for h in history] == [
        f"before {sig.name} {n}" for n in range(5)], history
