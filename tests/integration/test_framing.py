"""Framing over real TCP (PROTOCOL.md §1): how bytes become lines, whatever the split.

Covers: the same replies for any split of the byte stream, CRLF, empty lines,
``--max-line`` (exactly at, one over, in pieces, before its LF), invalid UTF-8,
and that none of it disturbs other connections.
"""

from __future__ import annotations

import random
import re
import socket
from collections.abc import Callable

import pytest

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import Dial, chat_of, pair

MAX_LINE = 100


def marker_sync(sender: Client, receiver: Client, token: str) -> None:
    """Send a marker chat line and require it to be the receiver's very next line.

    Proves that nothing else reached the receiver before it.
    """
    sender.send(token)
    got = receiver.line()
    assert chat_of(got)[1] == token, f"expected marker {token!r}, got {got!r}"


# ---------------------------------------------------------------- any split, same replies

SCRIPT: list[bytes] = [
    b"@<- PING one\r\n",
    b"\n",
    b"\r\n",
    b"@<- IDENTIFY Ana\n",
    b"@<- COLOR #112233\n",
    b"@<- JOIN #sala\n",
    "@<- TOPIC #sala café ☕ ñandú\n".encode(),
    b"@<- USERS #sala\n",
    b"@<- HELP PING\n",
    b"@<- NOPE\n",
    "hola 😀 señor\r\n".encode(),
    b"@<- LEAVE #sala\n",
    b"@<- PING two\r\n",
    "@<- QUIT adiós\n".encode(),
]

EXPECTED_PREFIXES = [
    "@-> OK PING one",
    "@-> OK IDENTIFY Ana #",
    "@-> OK COLOR #112233",
    "@-> OK JOIN #sala",
    "@-> OK TOPIC #sala café ☕ ñandú",
    "@-> USER #sala Ana #112233",
    "@-> OK USERS 1",
    "@-> HELP PING ",
    "@-> OK HELP",
    "@-> ERR UNKNOWN_COMMAND ",
    "@-> OK LEAVE #sala",
    "@-> OK PING two",
    "@-> BYE QUIT adiós",
]


def _chunks(data: bytes, how: str, seed: int) -> list[bytes]:
    if how == "all":
        return [data]
    if how == "lines":
        return list(SCRIPT)
    if how == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), 25))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _run_script(server: ServerThread, how: str, seed: int = 0) -> list[str]:
    data = b"".join(SCRIPT)
    with Client(server.port) as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in _chunks(data, how, seed):
            client.sock.sendall(chunk)
        replies = client.lines_until(r"^@-> BYE ")
        assert client.closed(), "the server did not close after QUIT"
    # The colour drawn on IDENTIFY is random; everything else is fixed.
    return [re.sub(r"^(@-> OK IDENTIFY Ana) #[0-9a-f]{6}$", r"\1 #c", r) for r in replies]


def test_any_split_of_the_stream_gives_the_same_replies(
        make_server: Callable[..., ServerThread]) -> None:
    """Whole, line by line, byte by byte and random splits (UTF-8 cut too) all reply alike."""
    server = make_server(history_on_join=0)
    reference = _run_script(server, "all")
    assert len(reference) == len(EXPECTED_PREFIXES), reference
    for got, prefix in zip(reference, EXPECTED_PREFIXES, strict=True):
        assert got.startswith(prefix), (got, prefix)
    assert reference[0] == "@-> OK PING one"  # the CR before LF is dropped
    for how, seed in [("lines", 0), ("bytes", 0), ("random", 1), ("random", 2), ("random", 3)]:
        assert _run_script(server, how, seed) == reference, (how, seed)


# ---------------------------------------------------------------- CRLF and empty lines

def test_crlf_is_accepted_and_the_cr_never_relayed(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A CR right before LF is dropped, in commands and in chat text."""
    server = make_server()
    ana, bob = pair(dial, server)
    ana.send_raw(b"@<- PING tok\r\n")
    assert ana.line() == "@-> OK PING tok"
    ana.send_raw(b"hola\r\n")
    got = bob.line()
    assert chat_of(got)[1] == "hola" and "\r" not in got
    ana.send_raw(b"@<- NICK Anita\r\n")
    assert ana.line() == "@-> OK NICK Anita"
    assert bob.line() == "@-> NICK Ana Anita"


def test_empty_lines_are_ignored_without_reply(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """LF and CRLF alone get nothing back, count neither as bad lines nor against the rate."""
    server = make_server(max_errors=2)  # default rate 10/s, burst 20
    ana, bob = pair(dial, server)
    ana.send_raw(b"\n\r\n" * 100)
    ana.quiet()
    bob.quiet(0.05)
    # Twenty lines are still in the burst: the empty ones did not spend it.
    ana.send_raw(b"".join(b"@<- PING %d\n" % i for i in range(20)))
    for i in range(20):
        assert ana.line() == f"@-> OK PING {i}"
    ana.send_raw(b"\n\n")
    ana.quiet()


# ---------------------------------------------------------------- --max-line

def test_line_of_exactly_max_line_bytes_is_accepted(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """MAX_LINE bytes (with LF, with CRLF, as 2-byte characters) are ordinary lines."""
    server = make_server(max_line=MAX_LINE, rate=0)
    ana, bob = pair(dial, server)
    text = "x" * MAX_LINE
    ana.send(text)
    assert chat_of(bob.line())[1] == text
    ana.send_raw(text.encode() + b"\r\n")
    assert chat_of(bob.line())[1] == text
    wide = "é" * (MAX_LINE // 2)
    assert len(wide.encode()) == MAX_LINE
    ana.send(wide)
    assert chat_of(bob.line())[1] == wide
    ping = "@<- PING "
    token = "t" * (MAX_LINE - len(ping))
    ana.send(ping + token)
    assert ana.line() == f"@-> OK PING {token}"
    ana.quiet()


@pytest.mark.parametrize("line", [
    b"y" * (MAX_LINE + 1),
    b"y" * MAX_LINE + b"\rz",
    "é".encode() * (MAX_LINE // 2) + b"a",
    b"y" * (MAX_LINE * 50),
], ids=["one-more", "cr-not-before-lf", "multibyte", "much-longer"])
def test_line_over_max_line_gets_one_error_and_is_not_run(
        make_server: Callable[..., ServerThread], dial: Dial, line: bytes) -> None:
    """One byte over (counted in bytes) is one LINE_TOO_LONG, nothing relayed, the connection goes on."""
    server = make_server(max_line=MAX_LINE, rate=0)
    ana, bob = pair(dial, server)
    ana.send_raw(line + b"\n")
    assert ana.line().startswith("@-> ERR LINE_TOO_LONG ")
    ana.send("@<- PING after")
    assert ana.line() == "@-> OK PING after"  # exactly one ERR came before it
    marker_sync(ana, bob, "marker")  # and Bob got nothing of the long line


def test_over_long_command_is_not_executed(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A TOPIC line one byte too long sets no topic and tells nobody."""
    server = make_server(max_line=MAX_LINE, rate=0)
    ana, bob = pair(dial, server)
    head = "@<- TOPIC #general "
    ana.send(head + "t" * (MAX_LINE + 1 - len(head)))
    assert ana.line().startswith("@-> ERR LINE_TOO_LONG ")
    ana.send("@<- TOPIC #general")
    assert ana.line() == "@-> OK TOPIC #general"  # still empty (DECISIONS 1)
    marker_sync(ana, bob, "marker")


def test_over_long_line_in_pieces_is_reported_before_its_lf(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """The ERR comes as soon as MAX_LINE+1 bytes are in (DECISIONS 15), once, and the rest is dropped."""
    server = make_server(max_line=MAX_LINE, rate=0)
    ana, bob = pair(dial, server)
    ana.send_raw(b"a" * 60)
    ana.quiet()
    ana.send_raw(b"a" * (MAX_LINE - 60))
    ana.quiet()  # exactly MAX_LINE so far: still a possible line
    ana.send_raw(b"\r")
    ana.quiet()  # MAX_LINE + CR: still a possible line (if LF follows)
    ana.send_raw(b"b")
    assert ana.line().startswith("@-> ERR LINE_TOO_LONG ")  # no LF sent yet
    for _ in range(30):  # lots more of the same line, then its end
        ana.send_raw(b"c" * 333)
    ana.send_raw(b"d\n")
    ana.send("@<- PING next")
    assert ana.line() == "@-> OK PING next"
    marker_sync(ana, bob, "marker")


def test_crlf_right_at_the_limit_in_pieces(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """MAX_LINE bytes, then CR, then LF in separate segments: accepted as one line."""
    server = make_server(max_line=MAX_LINE, rate=0)
    ana, bob = pair(dial, server)
    ana.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ana.send_raw(b"z" * MAX_LINE)
    ana.send_raw(b"\r")
    ana.quiet()
    ana.send_raw(b"\n")
    assert chat_of(bob.line())[1] == "z" * MAX_LINE
    ana.quiet()


# ---------------------------------------------------------------- UTF-8

BAD_UTF8 = [
    b"\xff\xfe hola",
    b"caf\xc3",  # truncated sequence
    b"\xc0\xaf overlong",
    b"\xed\xa0\x80 surrogate",
    b"\xf4\x90\x80\x80 beyond U+10FFFF",
    b"\x9b31m lone C1 byte",
    b"@<- NICK B\xffb",
]


def test_invalid_utf8_gets_bad_encoding_and_the_connection_goes_on(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """Each invalid line: one BAD_ENCODING, nothing relayed or run; then the next line works."""
    server = make_server(rate=0)
    ana, bob = pair(dial, server)
    for raw in BAD_UTF8:
        ana.send_raw(raw + b"\n")
        assert ana.line().startswith("@-> ERR BAD_ENCODING "), raw
    ana.send("@<- PING still")
    assert ana.line() == "@-> OK PING still"
    marker_sync(ana, bob, "after the bad bytes")
    ana.send("@<- USERS")
    assert ana.lines_until(r"^@-> OK USERS")[-1] == "@-> OK USERS 2"


def test_invalid_utf8_before_identify_is_bad_encoding(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """The encoding is checked before anything else, identified or not."""
    server = make_server()
    client = dial(server)
    client.send_raw(b"\xff\n")
    assert client.line().startswith("@-> ERR BAD_ENCODING ")
    client.identify("Ana")


def test_bad_framing_does_not_disturb_other_users(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """While one client sends long, broken and partial lines, two others chat normally."""
    server = make_server(max_line=MAX_LINE, rate=0, max_errors=0)
    bob, cid = dial(server), dial(server)
    bob.identify("Bob")
    cid.identify("Cid")
    bob.until(r"^@-> JOIN #general Cid ")
    rogue = dial(server)
    rogue.send_raw(b"\xff\xff\n" + b"q" * 5000 + b"\n" + b"half a line")
    bob.send("hola Cid")
    assert chat_of(cid.line())[1] == "hola Cid"
    cid.send("hola Bob")
    assert chat_of(bob.line())[1] == "hola Bob"
    assert rogue.line().startswith("@-> ERR BAD_ENCODING ")
    assert rogue.line().startswith("@-> ERR LINE_TOO_LONG ")
    rogue.quiet()  # the half line waits for its LF
    rogue.send_raw(b" done\n")
    assert rogue.line().startswith("@-> ERR NOT_IDENTIFIED ")
    bob.quiet(0.05)
    cid.quiet(0.05)
