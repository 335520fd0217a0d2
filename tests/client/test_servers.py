"""Server addresses and the order and pace of connection attempts (pure, no sockets)."""

from __future__ import annotations

import time

import pytest

from tertulia.client.servers import Rotation, describe, parse_address, parse_servers
from tertulia.client.textlines import ok_line, text_lines


def test_addresses_are_parsed_split_on_commas_and_kept_once_in_order() -> None:
    assert parse_servers(None) == [("localhost", 3000)]
    assert parse_servers([]) == [("localhost", 3000)]
    assert parse_servers(["a:1,b", " c:3 ", "a:1"]) == [("a", 1), ("b", 3000), ("c", 3)]
    assert parse_servers(["[::1]:4000,:5"]) == [("::1", 4000), ("localhost", 5)]
    assert parse_address("example.org") == ("example.org", 3000)
    assert describe(("::1", 4000)) == "[::1]:4000"
    assert describe(("a", 1)) == "a:1"
    with pytest.raises(ValueError, match="b:99999"):
        parse_servers(["a:1,b:99999"])
    with pytest.raises(ValueError, match=r"\["):
        parse_servers(["[::1"])


def test_rotation_tries_each_address_then_waits_doubling_up_to_the_most() -> None:
    r = Rotation([("a", 1), ("b", 2), ("c", 3)], first=1.0, most=4.0)
    assert r.current == ("a", 1)
    waits = []
    seen = []
    for _ in range(12):
        seen.append(r.current[0])
        waits.append(r.failed())
    assert seen == list("abc" * 4)
    assert waits == [0, 0, 1, 0, 0, 2, 0, 0, 4, 0, 0, 4]


def test_a_drop_moves_on_and_counts_as_a_failure_unless_the_connection_was_stable() -> None:
    r = Rotation([("a", 1), ("b", 2)], first=1.0, most=30.0, stable_after=0.05)
    r.connected()
    assert r.dropped() == 0 and r.current == ("b", 2)  # at once to the other one
    r.connected()
    assert r.dropped() == 1.0 and r.current == ("a", 1)  # both dropped at once: wait
    r.connected()
    assert r.dropped() == 0
    assert r.failed() == 2.0
    r.connected()
    time.sleep(0.06)
    assert r.dropped() == 0 and r.delay == 1.0  # stable: the count starts again
    assert r.failed() == 1.0

    single = Rotation([("a", 1)], first=0.5, most=30.0, stable_after=60)
    single.connected()
    assert [single.dropped(), single.failed(), single.failed()] == [0.5, 1.0, 2.0]


def test_json_objects_become_the_servers_text_lines() -> None:
    """The line mode prints what a text-mode connection would have received."""
    msg = {"type": "message", "id": "1", "room": "#general", "from": "Bob", "color": "#e06c75",
           "text": "hola", "kind": "say", "ts": "2026-12-01T10:00:00.000Z"}
    assert text_lines(msg) == ["#general <Bob> hola"]
    assert text_lines(msg, colors=True) == ["#general <\x1b[38;5;168mBob\x1b[0m> hola"]
    assert text_lines({**msg, "kind": "me"}) == ["#general * Bob hola"]
    assert text_lines({"type": "private", "from": "Bob", "to": "Ana", "text": "psst"}) == [
        "*Bob* psst"]
    assert text_lines({"type": "history", "room": "#general", "messages": [msg]}) == [
        "@-> HISTORY #general 2026-12-01T10:00:00.000Z Bob hola"]
    assert text_lines({"type": "ok", "cmd": "identify", "name": "Ana", "color": "#123456"}) == [
        "@-> OK IDENTIFY Ana #123456"]
    assert text_lines({"type": "ok", "cmd": "topic", "room": "#a", "text": ""}) == [
        "@-> OK TOPIC #a"]
    assert text_lines({"type": "ok", "cmd": "users", "room": "#a", "count": 1,
                       "users": [{"name": "Ana", "color": "#123456"}]}) == [
        "@-> USER #a Ana #123456", "@-> OK USERS 1"]
    assert text_lines({"type": "ok", "cmd": "rooms", "count": 1,
                       "rooms": [{"room": "#a", "count": 2, "topic": "t t"}]}) == [
        "@-> ROOM #a 2 t t", "@-> OK ROOMS 1"]
    assert text_lines({"type": "error", "code": "NOT_IN_ROOM", "message": "no"}) == [
        "@-> ERR NOT_IN_ROOM no"]
    assert text_lines({"type": "bye", "code": "QUIT", "text": "bye"}) == ["@-> BYE QUIT bye"]
    assert text_lines({"type": "nick", "old": "a", "new": "b"}) == ["@-> NICK a b"]
    assert text_lines({"type": "ping", "token": "x"}) == []
    assert ok_line("say", "#a") == "@-> OK SAY #a"


def test_failures_are_said_in_a_few_words() -> None:
    import errno
    import ssl

    from tertulia.client.servers import failure

    assert failure(OSError(errno.ECONNREFUSED, "Connect call failed ('::1', 1)")) == (
        "Connection refused")
    assert failure(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")) != (
        "Operation not permitted")
    assert failure(ConnectionError("@-> BYE TOO_MANY_CONNECTIONS full")) == (
        "@-> BYE TOO_MANY_CONNECTIONS full")
    assert failure(TimeoutError()) == "no answer in time"
