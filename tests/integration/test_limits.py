"""The limits of PROTOCOL.md §5 over real TCP.

Rate (``--rate``/``--burst``), ``--max-errors``, ``--identify-timeout``, the
ping timers, ``--max-connections``/``--max-per-ip``, ``--presence-limit`` and
the slow consumer cut (``--max-sendq``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import Dial, chat_of
from tests.timing import SCALE, TIMEOUT


def users(dial: Dial, server: ServerThread, *names: str) -> list[Client]:
    """Identify each name in turn (with history_on_join=0 nothing else is read)."""
    out = []
    for name in names:
        client = dial(server)
        client.identify(name)
        out.append(client)
    return out


def mark(sender: Client, receivers: list[Client], token: str) -> None:
    """SAY a marker in #general; it must be the very next line of the sender and every receiver.

    Proves that no other line (JOIN, LEAVE, QUIT...) reached them before it.
    """
    sender.send(f"@<- SAY #general {token}")
    assert sender.line() == "@-> OK SAY #general"
    for receiver in receivers:
        got = receiver.line()
        assert chat_of(got)[1] == token, f"expected marker {token!r}, got {got!r}"


# ---------------------------------------------------------------- rate

def test_flood_is_cut_at_the_burst_one_error_per_line(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Defaults 10/s burst 20: 40 chat lines at once, about 20 reach Bob, one ERR per other line."""
    server = make_server(history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.until(r"^@-> JOIN #general Bob ")
    started = time.monotonic()
    ana.send_raw(b"".join(b"m%d\n" % i for i in range(40)))
    elapsed = time.monotonic() - started
    time.sleep(0.25)  # let the bucket refill two or three tokens (10/s)
    ana.send("@<- PING end")
    ana.send("after")
    replies = ana.lines_until(r"^@-> OK PING end$")[:-1]
    assert all(r.startswith("@-> ERR RATE_LIMITED ") for r in replies), replies
    seen = [chat_of(line)[1] for line in bob.lines_until(r"> after$")[:-1]]
    assert seen[:20] == [f"m{i}" for i in range(20)]  # the burst passes, in order
    assert len(seen) <= 20 + 1 + int(elapsed * 10), (elapsed, seen)
    assert sorted(seen, key=lambda s: int(s[1:])) == seen
    assert len(seen) + len(replies) == 40  # nothing silently dropped


def test_line_over_the_rate_is_not_executed(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """20 PINGs spend the burst; the NICK right after them gets RATE_LIMITED and renames nobody."""
    server = make_server(history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.until(r"^@-> JOIN #general Bob ")
    ana.send_raw(b"".join(b"@<- PING %d\n" % i for i in range(20)) + b"@<- NICK Zed\n")
    for i in range(20):
        assert ana.line() == f"@-> OK PING {i}"
    assert ana.line().startswith("@-> ERR RATE_LIMITED ")
    time.sleep(0.25)  # let the bucket refill two or three tokens (10/s)
    ana.send("hola")
    assert chat_of(bob.line()) == ("Ana", "hola")  # no NICK line before it
    ana.send("@<- USERS")
    assert "@-> USER * Ana " in "\n".join(ana.lines_until(r"^@-> OK USERS"))


def test_rate_zero_turns_the_limit_off(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """With rate=0, 300 lines at once all go through, in order, with no ERR."""
    server = make_server(rate=0, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.until(r"^@-> JOIN #general Bob ")
    ana.send_raw(b"".join(b"n%d\n" % i for i in range(300)) + b"@<- PING end\n")
    assert ana.line() == "@-> OK PING end"
    assert [chat_of(bob.line())[1] for _ in range(300)] == [f"n{i}" for i in range(300)]


# ---------------------------------------------------------------- --max-errors

def test_max_errors_bad_lines_in_a_row_get_bye(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Three bad lines of any kind in a row: three ERRs, BYE PROTOCOL_ERRORS, close; later lines unrun."""
    server = make_server(max_errors=3, rate=0)
    client = dial(server)
    client.send_raw(b"@<- NOPE\n\xff\nhola\n@<- PING late\n")
    assert client.line().startswith("@-> ERR UNKNOWN_COMMAND ")
    assert client.line().startswith("@-> ERR BAD_ENCODING ")
    assert client.line().startswith("@-> ERR NOT_IDENTIFIED ")
    assert client.line().startswith("@-> BYE PROTOCOL_ERRORS ")
    assert client.closed()
    assert b"OK PING" not in client.buf


def test_good_line_resets_the_bad_line_count(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A good line, or an error that is not a bad line (INVALID_NAME), starts the count again."""
    server = make_server(max_errors=3, rate=0)
    client = dial(server)
    client.send_raw(b"@<- NOPE\nhola\n@<- PING ok\n@<- NOPE\n@<- NOPE\n"
                    b"@<- IDENTIFY 9bad\n@<- NOPE\n@<- NOPE\n@<- PING alive\n")
    codes = [client.line() for _ in range(9)]
    assert codes[0].startswith("@-> ERR UNKNOWN_COMMAND ")
    assert codes[1].startswith("@-> ERR NOT_IDENTIFIED ")
    assert codes[2] == "@-> OK PING ok"
    assert codes[5].startswith("@-> ERR INVALID_NAME ")
    assert codes[8] == "@-> OK PING alive"
    client.send_raw(b"@<- NOPE\n" * 3)
    for _ in range(3):
        assert client.line().startswith("@-> ERR UNKNOWN_COMMAND ")
    assert client.line().startswith("@-> BYE PROTOCOL_ERRORS ")
    assert client.closed()


def test_protocol_errors_bye_tells_the_others(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """An identified user cut for bad lines leaves: Bob sees QUIT, the name is free again."""
    server = make_server(max_errors=2, rate=0, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.until(r"^@-> JOIN #general Bob ")
    ana.send_raw(b"@<- JOIN\n@<- NOPE\n")
    assert ana.line().startswith("@-> ERR MISSING_ARGUMENT ")
    assert ana.line().startswith("@-> ERR UNKNOWN_COMMAND ")
    bye = ana.line()
    assert bye.startswith("@-> BYE PROTOCOL_ERRORS ")
    assert ana.closed()
    assert bob.line() == "@-> QUIT Ana " + bye.split(" ", 3)[3]  # DECISIONS 2
    users(dial, server, "Ana")


# ---------------------------------------------------------------- --identify-timeout

def test_identify_timeout(make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """No IDENTIFY within the timeout: BYE IDENTIFY_TIMEOUT (not before), even if PINGs were sent."""
    limit = 0.5 * SCALE
    server = make_server(identify_timeout=limit)
    started = time.monotonic()
    lazy = dial(server)
    lazy.send("@<- PING x")
    assert lazy.line() == "@-> OK PING x"
    quick = dial(server)
    quick.identify("Quick")
    bye = lazy.line()
    assert bye.startswith("@-> BYE IDENTIFY_TIMEOUT"), bye
    assert time.monotonic() - started >= limit * 0.9
    assert lazy.closed()
    quick.send("@<- PING y")  # an identified user is not cut
    assert quick.line() == "@-> OK PING y"
    quick.quiet(limit)


# ---------------------------------------------------------------- ping

def test_answering_pings_keeps_the_connection(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Quiet for the interval: @-> PING token; a PONG, or any bytes (half a line), keep it alive."""
    interval = 0.5 * SCALE  # longer than the QUIET of identify()
    server = make_server(ping_interval=interval, ping_timeout=interval)
    (ana,) = users(dial, server, "Ana")
    ping = ana.line()
    for _ in range(2):
        assert re.fullmatch(r"@-> PING \S+", ping), ping
        ana.send("@<- PONG " + ping.split()[2])  # PONG gets no reply
        answered = time.monotonic()
        ping = ana.line()  # not a BYE: the PONG counted
        assert time.monotonic() - answered >= interval * 0.9  # a whole quiet interval later
    assert ping.startswith("@-> PING ")
    ana.send_raw(b"half a li")  # bytes without an LF also count
    ana.expect("@-> PING ")
    ana.send_raw(b"ne\n@<- PING me\n")
    assert ana.line() == "@-> OK PING me"


def test_silence_after_ping_gets_ping_timeout(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Nothing received for interval + timeout: PING, then BYE PING_TIMEOUT; others see QUIT."""
    interval = 0.5 * SCALE  # longer than the QUIET of identify()
    server = make_server(ping_interval=interval, ping_timeout=interval, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.expect("@-> JOIN #general Bob ")
    ana.expect("@-> PING ")
    assert ana.line().startswith("@-> BYE PING_TIMEOUT ")
    assert ana.closed()
    while True:  # Bob answers his own PINGs while he waits
        got = bob.line()
        if got.startswith("@-> PING "):
            bob.send("@<- PONG " + got.split()[2])
            continue
        assert got.startswith("@-> QUIT Ana "), got
        break


# ---------------------------------------------------------------- connection limits

def _refused(client: Client) -> None:
    """The connection got one line, BYE TOO_MANY_CONNECTIONS, and was closed."""
    assert client.closed()
    lines = client.buf.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("@-> BYE TOO_MANY_CONNECTIONS"), lines


def test_max_connections(make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A third connection over max_connections=2 gets only BYE; once one leaves, there is room."""
    server = make_server(max_connections=2, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    _refused(dial(server, read_welcome=False))
    _refused(dial(server, source="127.0.0.2", read_welcome=False))
    ana.close()
    bob.until(r"^@-> QUIT Ana ")
    assert dial(server).welcome.startswith("@-> WELCOME ")


def test_max_per_ip(make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """max_per_ip=2 counts one address: 127.0.0.1 is full, 127.0.0.2 still gets in."""
    server = make_server(max_per_ip=2, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    _refused(dial(server, read_welcome=False))
    other = dial(server, source="127.0.0.2")
    assert other.welcome.startswith("@-> WELCOME ")
    other.identify("Cid")
    _refused(dial(server, source="127.0.0.1", read_welcome=False))
    ana.send("@<- QUIT")
    bob.until(r"^@-> QUIT Ana ")
    assert dial(server).welcome.startswith("@-> WELCOME ")


# ---------------------------------------------------------------- --presence-limit

def test_presence_lines_counted_with_the_joiner_and_leaver(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """presence_limit=2: JOIN/LEAVE/QUIT lines only while the room has at most 2 (with the actor)."""
    server = make_server(presence_limit=2, rate=0, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.expect("@-> JOIN #general Bob ")  # 2 members with Bob
    (cid,) = users(dial, server, "Cid")  # 3 members: nobody is told
    mark(cid, [ana, bob], "m1")
    for client in (ana, bob, cid):
        client.send("@<- JOIN #r")
        assert client.line() == "@-> OK JOIN #r"
    assert ana.line().startswith("@-> JOIN #r Bob ")  # #r had 2 with Bob; not Cid (3)
    mark(cid, [ana, bob], "m2")
    cid.send("@<- LEAVE #r")  # 3 with Cid: no LEAVE line
    assert cid.line() == "@-> OK LEAVE #r"
    mark(cid, [ana, bob], "m3")
    bob.send("@<- LEAVE #r")  # 2 with Bob: Ana is told
    assert bob.line() == "@-> OK LEAVE #r"
    assert ana.line() == "@-> LEAVE #r Bob left"
    cid.send("@<- QUIT")  # #general: 3 with Cid, no QUIT line
    cid.until(r"^@-> BYE QUIT")
    mark(bob, [ana], "m4")
    bob.send("@<- QUIT")  # #general: 2 with Bob
    assert ana.line().startswith("@-> QUIT Bob ")


def test_nick_and_topic_always_and_quit_through_a_small_room(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Over the presence limit NICK and TOPIC still reach everyone; a shared small room brings QUIT."""
    server = make_server(presence_limit=2, rate=0, history_on_join=0)
    ana, bob = users(dial, server, "Ana", "Bob")
    ana.expect("@-> JOIN #general Bob ")
    (cid,) = users(dial, server, "Cid")
    cid.send("@<- NICK Cy")
    assert cid.line() == "@-> OK NICK Cy"
    assert ana.line() == "@-> NICK Cid Cy"
    assert bob.line() == "@-> NICK Cid Cy"
    ana.send("@<- TOPIC #general charla")
    assert ana.line() == "@-> OK TOPIC #general charla"
    assert bob.line() == "@-> TOPIC #general Ana charla"
    assert cid.line() == "@-> TOPIC #general Ana charla"
    for client in (ana, cid):
        client.send("@<- JOIN #tiny")
        assert client.line() == "@-> OK JOIN #tiny"
    assert ana.line().startswith("@-> JOIN #tiny Cy ")
    cid.send("@<- QUIT adiós")
    assert ana.line() == "@-> QUIT Cy adiós"  # shares #tiny (2 members)
    mark(ana, [bob], "after")  # Bob shares only the big #general: no QUIT


# ---------------------------------------------------------------- --max-sendq

def _kernel_send_buffer_max() -> int:
    """The most a kernel send buffer may grow to (bytes the server cannot see as held)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


def test_slow_consumer_is_cut_and_nobody_waits(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A client that never reads is cut (BYE SLOW_CONSUMER, close); a reader gets every message.

    The volume is more than the kernel can buffer for the non-reader, so the
    server itself has to hold (and refuse to hold) its output.  The sender
    goes batch by batch, as fast as the reader reads, and must never stall.
    """
    server = make_server(rate=0, max_sendq=65536, history_on_join=0)
    slow = dial(server, rcvbuf=4096)
    slow.identify("Slow")
    reader, sender = users(dial, server, "Reader", "Sender")
    reader.expect("@-> JOIN #general Sender ")
    pad = "p" * 3900
    batch = 16
    count = (_kernel_send_buffer_max() * 3 // 2 + (2 << 20)) // len(pad) // batch * batch
    got: list[str] = []
    quits: list[str] = []
    started = time.monotonic()
    for first in range(0, count, batch):
        sender.send_raw("".join(f"{i} {pad}\n" for i in range(first, first + batch)).encode())
        while len(got) < first + batch:
            line = reader.line()
            if line.startswith("@-> QUIT "):
                quits.append(line)
            else:
                got.append(chat_of(line)[1])
    took = time.monotonic() - started
    assert got == [f"{i} {pad}" for i in range(count)]
    assert took < TIMEOUT, f"{count} messages took {took:.1f} s"
    # The slow client: what it was sent, then BYE SLOW_CONSUMER and close (or a reset).
    reset = False
    try:
        assert slow.closed(), "the slow consumer was not disconnected"
    except ConnectionResetError:
        reset = True
    data = slow.buf.decode(errors="replace")
    if not reset:
        assert data.splitlines()[-1].startswith("@-> BYE SLOW_CONSUMER"), data[-300:]
    assert data.count(pad) < count
    assert (quits or [reader.until(r"^@-> QUIT Slow ")]) == ["@-> QUIT Slow Slow consumer"]
    assert sender.until(r"^@-> QUIT Slow ") == "@-> QUIT Slow Slow consumer"


def test_burst_over_max_sendq_does_not_cut_a_reader(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """200 KB delivered at once to a client that reads is not "held": the kernel takes it."""
    server = make_server(rate=0, max_sendq=65536, history_on_join=0)
    reader, sender = users(dial, server, "Reader", "Sender")
    reader.expect("@-> JOIN #general Sender ")
    pad = "q" * 1000
    sender.send_raw("".join(f"{i} {pad}\n" for i in range(200)).encode())
    assert [chat_of(reader.line())[1] for _ in range(200)] == [f"{i} {pad}" for i in range(200)]
    sender.send("@<- PING end")
    assert sender.line() == "@-> OK PING end"
