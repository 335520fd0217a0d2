"""Private messages to a registered user who is offline: kept, then delivered once at the
next IDENTIFY, over real TCP and a real SQLite file (docs/reference/protocol.md, choice 24)."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import err_explained, ident, people, reply, sync

KEPT = "@-> NOTICE Ana is offline; your message was kept and will be delivered when they next identify"


def register_and_leave(client: Client, name: str = "Ana", password: str = "s3cret") -> None:
    assert reply(client, "@<- COLORS off") == "@-> OK COLORS off"
    ident(client, name)
    assert reply(client, f"@<- REGISTER {password}") == f"@-> OK REGISTER {name}"
    assert reply(client, "@<- QUIT") == "@-> BYE QUIT Quit"


def login(client: Client, name: str, password: str) -> list[str]:
    """IDENTIFY with the password; the lines after OK IDENTIFY that are not HISTORY."""
    client.send(f"@<- IDENTIFY {name} {password}")
    assert re.fullmatch(rf"@-> OK IDENTIFY {name} #[0-9a-f]{{6}}", client.line())
    return [line for line in sync(client) if not line.startswith("@-> HISTORY ")]


def test_kept_then_delivered_once(connect: Callable[..., Client]) -> None:
    register_and_leave(connect())
    bob, = people(connect, "Bob")
    bob.send("@<- MSG Ana hola, ¿estás?")
    assert bob.line() == KEPT
    assert bob.line() == "@-> OK MSG Ana"
    bob.send("@<- MSG ana second one")
    assert bob.lines_until(r"^@-> OK MSG ") == [KEPT, "@-> OK MSG Ana"]
    ana = connect()
    assert reply(ana, "@<- COLORS off") == "@-> OK COLORS off"
    assert login(ana, "Ana", "s3cret") == [
        "@-> NOTICE 2 private messages came while you were away:",
        "*Bob* hola, ¿estás?",
        "*Bob* second one",
    ]
    assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"
    again = connect()
    ident(again, "Ana", "s3cret")
    assert sync(again) == []  # delivered once


def test_kept_messages_survive_a_restart(make_server: Callable[..., ServerThread]) -> None:
    first = make_server()
    with Client(first.port) as ana:
        register_and_leave(ana)
    with Client(first.port) as bob:
        ident(bob, "Bob")
        bob.send("@<- MSG Ana antes del reinicio")
        assert bob.lines_until(r"^@-> OK MSG ")[-2:] == [KEPT, "@-> OK MSG Ana"]
    first.stop()
    second = make_server()
    with Client(second.port) as ana:
        assert reply(ana, "@<- COLORS off") == "@-> OK COLORS off"
        assert login(ana, "Ana", "s3cret")[-1] == "*Bob* antes del reinicio"


def test_json_mode_kept_and_delivered(connect: Callable[..., Client]) -> None:
    register_and_leave(connect())
    bob = connect()
    ident(bob, "Bob")
    assert reply(bob, "@<- PROTO json") == "@-> OK PROTO json"
    bob.send_json({"cmd": "msg", "to": "ana", "text": "por json", "ref": 7})
    notice = bob.json()
    assert notice == {"type": "notice", "text": KEPT[len("@-> NOTICE "):]}
    copy = bob.json()
    assert (copy["type"], copy["ref"], copy["to"], copy["from"], copy["text"]) == (
        "private", 7, "Ana", "Bob", "por json")
    ana = connect()
    assert reply(ana, "@<- PROTO json") == "@-> OK PROTO json"
    ana.send_json({"cmd": "identify", "name": "Ana", "password": "s3cret"})
    assert ana.json()["type"] == "ok"
    assert ana.json()["type"] == "history"
    assert ana.json()["type"] == "notice"
    got = ana.json()
    assert (got["type"], got["from"], got["to"], got["text"], got["ts"]) == (
        "private", "Bob", "Ana", "por json", copy["ts"])


def test_mailbox_is_bounded(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(offline_limit=2)
    with Client(server.port) as ana:
        register_and_leave(ana)
    with Client(server.port) as bob:
        ident(bob, "Bob")
        for text in ("one", "two"):
            bob.send(f"@<- MSG Ana {text}")
            assert bob.lines_until(r"^@-> OK MSG ") == [KEPT, "@-> OK MSG Ana"]
        full = err_explained(bob, "@<- MSG Ana three", "FORBIDDEN")
        assert "2 messages waiting" in full
    with Client(server.port) as ana:
        assert reply(ana, "@<- COLORS off") == "@-> OK COLORS off"
        assert login(ana, "Ana", "s3cret")[-2:] == ["*Bob* one", "*Bob* two"]


def test_unregistered_or_turned_off_is_no_such_user(make_server: Callable[..., ServerThread]
                                                     ) -> None:
    server = make_server(offline_limit=0)
    with Client(server.port) as ana:
        register_and_leave(ana)
    with Client(server.port) as bob:
        ident(bob, "Bob")
        err_explained(bob, "@<- MSG Ana hola", "NO_SUCH_USER")
        err_explained(bob, "@<- MSG Nadie hola", "NO_SUCH_USER")


def test_unregister_drops_kept_messages(connect: Callable[..., Client]) -> None:
    """Messages kept for a name whose owner is away under another name go with the account."""
    register_and_leave(connect())
    ana = connect()
    assert login(ana, "Ana", "s3cret") == []
    assert reply(ana, "@<- NICK Anita") == "@-> OK NICK Anita"
    bob = connect()
    ident(bob, "Bob")
    bob.send("@<- MSG Ana kept for the account")
    assert bob.lines_until(r"^@-> OK MSG ") == [KEPT, "@-> OK MSG Ana"]
    sync(ana)
    assert reply(ana, "@<- NICK Ana") == "@-> OK NICK Ana"
    assert reply(ana, "@<- UNREGISTER s3cret") == "@-> OK UNREGISTER Ana"
    assert reply(ana, "@<- REGISTER again-pw") == "@-> OK REGISTER Ana"
    assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"
    assert login(connect(), "Ana", "again-pw") == []
