"""JSON mode over real TCP (PROTOCOL.md §6), and text and JSON users side by side.

Absence of an object is proved with :func:`jsync`: a ping sent after the
action is answered after every object the action caused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tertulia.core.colors import PALETTE
from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import ALL_VERBS, COLOR_RE, ROOM_VERBS, TIME_RE, sync

MESSAGE_KEYS = {"type", "id", "room", "from", "color", "text", "kind", "ts"}

Obj = dict[str, Any]


# ---------------------------------------------------------------- helpers


@pytest.fixture
def fast(make_server: Callable[..., ServerThread]) -> Iterator[Callable[[], Client]]:
    """Like ``connect``, on a server without a rate limit (for tests that send many lines)."""
    server = make_server(rate=0)
    clients: list[Client] = []

    def open_client() -> Client:
        clients.append(Client(server.port))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close()


def to_json(c: Client) -> Client:
    """Switch a connection to JSON mode (the OK comes in text)."""
    c.send("@<- PROTO json")
    assert c.line() == "@-> OK PROTO json"
    return c


def ask(c: Client, obj: Obj) -> Obj:
    """Send one JSON command and return the next object."""
    c.send_json(obj)
    return c.json()


def jsync(c: Client, token: str = "sync") -> list[Obj]:
    """Every object that arrives before the reply to a ping sent now."""
    c.send_json({"cmd": "ping", "token": token, "ref": "sync"})
    out: list[Obj] = []
    while True:
        obj = c.json()
        if obj == {"type": "ok", "cmd": "ping", "ref": "sync", "token": token}:
            return out
        out.append(obj)


def jident(c: Client, name: str) -> tuple[str, list[Obj]]:
    """Identify in JSON mode; check the ok and history objects; return (colour, messages)."""
    ok = ask(c, {"cmd": "identify", "name": name, "ref": "id"})
    assert set(ok) == {"type", "cmd", "ref", "name", "color"}, ok
    assert ok["type"] == "ok" and ok["cmd"] == "identify" and ok["ref"] == "id", ok
    assert ok["name"] == name and re.fullmatch(COLOR_RE, ok["color"]), ok
    history = c.json()
    assert history["type"] == "history" and history["room"] == "#general", history
    assert set(history) == {"type", "room", "messages"}
    return ok["color"], history["messages"]


def tident(c: Client, name: str, colors: bool = False) -> str:
    """Text mode: (COLORS off and) IDENTIFY, read through the history; return the colour."""
    if not colors:
        c.send("@<- COLORS off")
        assert c.line() == "@-> OK COLORS off"
    c.send(f"@<- IDENTIFY {name}")
    match = re.fullmatch(rf"@-> OK IDENTIFY {re.escape(name)} ({COLOR_RE})", c.line())
    assert match
    sync(c)
    return match.group(1)


def check_message(obj: Obj, **fields: Any) -> Obj:
    """A message object: exactly the keys of §6 (plus ref if given), with these values."""
    keys = MESSAGE_KEYS | ({"ref"} if "ref" in fields else set())
    assert set(obj) == keys, obj
    assert obj["type"] == "message" and isinstance(obj["id"], str) and obj["id"], obj
    assert re.fullmatch(TIME_RE, obj["ts"]), obj
    for key, value in fields.items():
        assert obj[key] == value, (key, obj)
    return obj


def drain(clients: list[Client]) -> None:
    """Read whatever each client has been sent so far (JOIN lines/objects of later users)."""
    for c in clients:
        c.send_json({"cmd": "ping", "token": "drain", "ref": "sync"})
        c.until(r'"token":"drain"')


# ---------------------------------------------------------------- switching modes


def test_proto_json_is_answered_in_text(connect: Callable[..., Client]) -> None:
    """PROTO json gets `@-> OK PROTO json` in text; from then on every reply is one JSON object."""
    ana = connect()
    ana.send("@<- proto JSON")
    assert ana.line() == "@-> OK PROTO json"
    assert ask(ana, {"cmd": "ping", "token": "t1", "ref": 1}) == \
        {"type": "ok", "cmd": "ping", "ref": 1, "token": "t1"}
    assert ask(ana, {"cmd": "PING", "token": "t2"}) == {"type": "ok", "cmd": "ping", "token": "t2"}


def test_proto_text_switches_back(connect: Callable[..., Client]) -> None:
    """PROTO text (in JSON) is answered in JSON; then lines are text again, chat lines included."""
    ana, bob = connect(), connect()
    to_json(ana)
    jident(ana, "Ana")
    tident(bob, "Bob")
    assert jsync(ana)[0]["type"] == "join"
    assert ask(ana, {"cmd": "proto", "mode": "text", "ref": "p"}) == \
        {"type": "ok", "cmd": "proto", "ref": "p", "mode": "text"}
    ana.send("@<- PING back")
    assert ana.line() == "@-> OK PING back"
    bob.send("hola")
    assert ana.line().startswith("#general <")
    ana.send("text again")
    assert bob.line() == "#general <Ana> text again"
    assert sync(ana) == []


def test_refs_are_echoed_as_given(connect: Callable[..., Client]) -> None:
    """A string or number ref is echoed unchanged; any other ref is dropped."""
    ana = to_json(connect())
    for ref in ("abc", 7, 1.5, -3, "", "\u00f1"):
        assert ask(ana, {"cmd": "ping", "token": "x", "ref": ref}) == \
            {"type": "ok", "cmd": "ping", "ref": ref, "token": "x"}
    for junk in (None, True, [1], {"a": 1}):
        assert ask(ana, {"cmd": "ping", "token": "x", "ref": junk}) == \
            {"type": "ok", "cmd": "ping", "token": "x"}


# ---------------------------------------------------------------- identify and history objects


def test_identify_ok_then_empty_history(connect: Callable[..., Client]) -> None:
    """identify: ok with name and palette colour, then a history object for #general even when empty."""
    ana = to_json(connect())
    ok = ask(ana, {"cmd": "identify", "name": "Ana", "ref": "c1"})
    assert ok == {"type": "ok", "cmd": "identify", "ref": "c1", "name": "Ana", "color": ok["color"]}
    assert ok["color"] in PALETTE
    assert ana.json() == {"type": "history", "room": "#general", "messages": []}
    assert jsync(ana) == []


def test_identify_history_object_with_messages(connect: Callable[..., Client]) -> None:
    """The history object on identify holds #general's recent messages as message objects, oldest first."""
    bob = connect()
    colour = tident(bob, "Bob")
    bob.send("uno")
    bob.send("@<- ME baila")
    assert bob.line() == "@-> OK ME #general"
    ana = to_json(connect())
    _, messages = jident(ana, "Ana")
    assert len(messages) == 2
    check_message(messages[0], room="#general", **{"from": "Bob"}, color=colour, text="uno",
                  kind="say")
    check_message(messages[1], room="#general", **{"from": "Bob"}, color=colour, text="baila",
                  kind="me")
    assert messages[0]["id"] < messages[1]["id"]


def test_join_history_object_then_ok(connect: Callable[..., Client]) -> None:
    """join: a history object (even when empty) then the ok; members get a join object, the actor none."""
    ana, bob = to_json(connect()), to_json(connect())
    jident(ana, "Ana")
    bob_colour, _ = jident(bob, "Bob")
    jsync(ana)
    ana.send_json({"cmd": "join", "room": "#Tapas", "ref": "j1"})
    assert ana.json() == {"type": "history", "room": "#Tapas", "messages": []}
    assert ana.json() == {"type": "ok", "cmd": "join", "ref": "j1", "room": "#Tapas"}
    ana.send_json({"cmd": "say", "text": "hay tapas"})
    check_message(ana.json(), room="#Tapas", text="hay tapas")
    bob.send_json({"cmd": "join", "room": "#TAPAS", "ref": "j2"})
    history = bob.json()
    assert history["type"] == "history" and history["room"] == "#Tapas"
    assert [m["text"] for m in history["messages"]] == ["hay tapas"]
    assert bob.json() == {"type": "ok", "cmd": "join", "ref": "j2", "room": "#Tapas"}
    assert jsync(bob) == []
    assert jsync(ana) == [{"type": "join", "room": "#Tapas", "name": "Bob", "color": bob_colour}]


# ---------------------------------------------------------------- ok objects


def test_ok_objects_for_each_verb(fast: Callable[[], Client]) -> None:
    """Each verb's ok carries §2's reply fields, named; lists sit inside the ok."""
    ana, bob = to_json(fast()), to_json(fast())
    ana_colour, _ = jident(ana, "Ana")
    bob_colour, _ = jident(bob, "Bob")
    drain([ana, bob])

    def ok(cmd: Obj, **fields: Any) -> None:
        got = ask(ana, {**cmd, "ref": "r"})
        assert got == {"type": "ok", "cmd": cmd["cmd"], "ref": "r", **fields}, got

    ok({"cmd": "register", "password": "s3cret"}, name="Ana")
    ok({"cmd": "nick", "name": "Anita"}, name="Anita")
    ana.send_json({"cmd": "join", "room": "#tapas", "ref": "r"})
    assert ana.json()["type"] == "history"
    assert ana.json() == {"type": "ok", "cmd": "join", "ref": "r", "room": "#tapas"}
    ok({"cmd": "topic", "room": "#tapas", "text": "olives"}, room="#tapas", text="olives")
    ok({"cmd": "topic", "room": "#tapas"}, room="#tapas", text="olives")
    ok({"cmd": "topic", "room": "#general"}, room="#general", text="")
    ok({"cmd": "rooms"}, count=2, rooms=[{"room": "#general", "count": 2, "topic": ""},
                                         {"room": "#tapas", "count": 1, "topic": "olives"}])
    users = ask(ana, {"cmd": "users", "ref": "r"})
    users.pop("room", None)
    assert users == {"type": "ok", "cmd": "users", "ref": "r", "count": 2,
                     "users": [{"name": "Anita", "color": ana_colour},
                               {"name": "Bob", "color": bob_colour}]}
    ok({"cmd": "users", "room": "#TAPAS"}, room="#tapas", count=1,
       users=[{"name": "Anita", "color": ana_colour}])
    ok({"cmd": "history", "room": "#tapas"}, room="#tapas", count=0, messages=[])
    ok({"cmd": "leave", "room": "#tapas"}, room="#tapas")
    ok({"cmd": "color", "color": "#A1B2C3"}, color="#a1b2c3")
    random_colour = ask(ana, {"cmd": "color", "ref": "r"})
    assert random_colour["color"] in PALETTE and random_colour["color"] != "#a1b2c3"
    ok({"cmd": "colors", "mode": "off"}, mode="off")
    ok({"cmd": "ping", "token": "tok"}, token="tok")
    ok({"cmd": "proto", "mode": "json"}, mode="json")
    one = ask(ana, {"cmd": "help", "verb": "join", "ref": "r"})
    assert one["type"] == "ok" and one["cmd"] == "help" and one["ref"] == "r"
    assert [c["verb"] for c in one["commands"]] == ["JOIN"]
    assert one["commands"][0]["usage"].startswith("@<- JOIN #room")
    every = ask(ana, {"cmd": "help"})
    assert sorted(c["verb"] for c in every["commands"]) == sorted(ALL_VERBS + ROOM_VERBS)
    assert all(set(c) == {"verb", "usage"} for c in every["commands"])
    ana.send_json({"cmd": "pong", "token": "x", "ref": "r"})
    assert jsync(ana) == []  # pong has no reply


def test_history_command_in_json(connect: Callable[..., Client]) -> None:
    """history: ok with room, count and the messages; limit, before and after as named fields."""
    ana = to_json(connect())
    jident(ana, "Ana")
    sent = []
    for i in range(6):
        sent.append(check_message(ask(ana, {"cmd": "say", "text": f"m{i}", "ref": i}), ref=i))
    ids = [m["id"] for m in sent]
    got = ask(ana, {"cmd": "history", "limit": 2, "ref": "h"})
    assert got == {"type": "ok", "cmd": "history", "ref": "h", "room": "#general", "count": 2,
                   "messages": [{k: v for k, v in m.items() if k != "ref"} for m in sent[4:]]}
    got = ask(ana, {"cmd": "history", "room": "#general", "limit": 2, "before": ids[3]})
    assert [m["text"] for m in got["messages"]] == ["m1", "m2"]
    got = ask(ana, {"cmd": "history", "limit": 2, "after": ids[1]})
    assert [m["text"] for m in got["messages"]] == ["m2", "m3"] and got["count"] == 2
    for bad in ({"limit": 0}, {"limit": "5"}, {"before": "xyz"}):
        err = ask(ana, {"cmd": "history", "ref": "e", **bad})
        assert err["type"] == "error" and err["code"] == "BAD_ARGUMENT" and err["ref"] == "e", err


# ---------------------------------------------------------------- errors


def test_error_objects(fast: Callable[[], Client]) -> None:
    """Errors are objects with type, cmd, code, message, and the command's ref when it had one."""
    ana, bob = to_json(fast()), to_json(fast())
    got = ask(ana, {"cmd": "join", "room": "#x", "ref": 7})
    assert isinstance(got.get("message"), str) and got["message"]
    assert got == {"type": "error", "cmd": "join", "ref": 7, "code": "NOT_IDENTIFIED",
                   "message": got["message"]}
    jident(ana, "Ana")
    jident(bob, "Bob")
    drain([ana, bob])
    cases: list[tuple[Obj, str]] = [
        ({"cmd": "identify", "name": "Ana2"}, "ALREADY_IDENTIFIED"),
        ({"cmd": "join", "room": "tapas"}, "INVALID_ROOM"),
        ({"cmd": "join"}, "MISSING_ARGUMENT"),
        ({"cmd": "join", "room": 5}, "BAD_ARGUMENT"),
        ({"cmd": "nick", "name": "bob"}, "NAME_IN_USE"),
        ({"cmd": "nick", "name": "1x"}, "INVALID_NAME"),
        ({"cmd": "leave", "room": "#general"}, "FORBIDDEN"),
        ({"cmd": "leave", "room": "#nowhere"}, "NOT_IN_ROOM"),
        ({"cmd": "say", "room": "#nowhere", "text": "x"}, "NOT_IN_ROOM"),
        ({"cmd": "say", "text": "\u001b\u202e"}, "BAD_ARGUMENT"),
        ({"cmd": "say"}, "MISSING_ARGUMENT"),
        ({"cmd": "me", "text": ""}, "MISSING_ARGUMENT"),
        ({"cmd": "msg", "to": "Zed", "text": "x"}, "NO_SUCH_USER"),
        ({"cmd": "msg", "to": "Bob"}, "MISSING_ARGUMENT"),
        ({"cmd": "topic", "room": "#nowhere"}, "NO_SUCH_ROOM"),
        ({"cmd": "users", "room": "#nowhere"}, "NO_SUCH_ROOM"),
        ({"cmd": "color", "color": "red"}, "BAD_ARGUMENT"),
        ({"cmd": "colors", "mode": "maybe"}, "BAD_ARGUMENT"),
        ({"cmd": "proto", "mode": "xml"}, "BAD_ARGUMENT"),
        ({"cmd": "help", "verb": "dance"}, "BAD_ARGUMENT"),
        ({"cmd": "register", "password": "abc"}, "BAD_ARGUMENT"),
    ]
    for i, (cmd, code) in enumerate(cases):
        got = ask(ana, {**cmd, "ref": f"e{i}"})
        assert set(got) == {"type", "cmd", "ref", "code", "message"}, (cmd, got)
        assert (got["type"], got["cmd"], got["ref"], got["code"]) == \
            ("error", cmd["cmd"], f"e{i}", code), (cmd, got)
        assert isinstance(got["message"], str) and got["message"], got
    no_ref = ask(ana, {"cmd": "join"})
    assert set(no_ref) == {"type", "cmd", "code", "message"} and no_ref["cmd"] == "join"
    assert jsync(bob) == []


def test_unknown_command_echoes_ref(connect: Callable[..., Client]) -> None:
    """An unknown cmd is UNKNOWN_COMMAND (cmd null), with the line's ref so a client can match it."""
    ana = to_json(connect())
    got = ask(ana, {"cmd": "dance", "ref": "d1"})
    assert set(got) == {"type", "cmd", "ref", "code", "message"}, got
    assert (got["type"], got["cmd"], got["ref"], got["code"]) == \
        ("error", None, "d1", "UNKNOWN_COMMAND")


def test_bad_json(connect: Callable[..., Client]) -> None:
    """Anything but a JSON object with a string cmd is BAD_JSON (cmd null), text commands included."""
    ana = to_json(connect())
    for line in ("hola", "[1, 2]", '"cmd"', "42", "null", "{}", '{"cmd": 5}', '{"cmd": null}',
                 '{"cmd": ["ping"]}', '{"text": "x"}', "{bad", '{"cmd": "ping"', "@<- PING x"):
        ana.send(line)
        got = ana.json()
        assert got.get("type") == "error" and got.get("code") == "BAD_JSON", (line, got)
        assert got["cmd"] is None and isinstance(got["message"], str), (line, got)
    jident(ana, "Ana")  # still usable


def test_every_verb_needs_identify_in_json(connect: Callable[..., Client]) -> None:
    """In JSON mode too, only identify, help, ping, pong, proto, colors and quit work before identify."""
    ana = to_json(connect())
    for cmd in ({"cmd": "register", "password": "secret"}, {"cmd": "nick", "name": "X"},
                {"cmd": "join", "room": "#a"}, {"cmd": "leave"}, {"cmd": "say", "text": "x"},
                {"cmd": "me", "text": "x"}, {"cmd": "msg", "to": "X", "text": "x"},
                {"cmd": "users"}, {"cmd": "rooms"}, {"cmd": "topic", "room": "#general"},
                {"cmd": "history"}, {"cmd": "color"}):
        got = ask(ana, cmd)
        assert (got["type"], got["cmd"], got["code"]) == ("error", cmd["cmd"], "NOT_IDENTIFIED"), got
    assert ask(ana, {"cmd": "colors", "mode": "on"}) == {"type": "ok", "cmd": "colors", "mode": "on"}
    assert ask(ana, {"cmd": "help", "verb": "ping"})["commands"][0]["verb"] == "PING"
    ana.send_json({"cmd": "pong", "token": "x"})
    assert ask(ana, {"cmd": "ping", "token": "y"}) == {"type": "ok", "cmd": "ping", "token": "y"}
    assert ask(ana, {"cmd": "quit", "reason": "later"})["type"] == "bye"
    assert ana.closed()


# ---------------------------------------------------------------- messages


def test_message_objects_and_senders_copy(connect: Callable[..., Client]) -> None:
    """say/me: every member gets a message object; the sender's copy has its ref and is the only reply."""
    ana, bob, cy = to_json(connect()), to_json(connect()), connect()
    ana_colour, _ = jident(ana, "Ana")
    jident(bob, "Bob")
    tident(cy, "Cy")
    drain([ana, bob])
    mine = check_message(ask(ana, {"cmd": "say", "text": "@<- hola", "ref": "s1"}), ref="s1",
                         room="#general", color=ana_colour, text="@<- hola", kind="say",
                         **{"from": "Ana"})
    theirs = check_message(bob.json(), room="#general", color=ana_colour, text="@<- hola",
                           kind="say", **{"from": "Ana"})
    assert theirs["id"] == mine["id"] and theirs["ts"] == mine["ts"]
    assert cy.line() == "#general <Ana> @<- hola"
    action = check_message(ask(ana, {"cmd": "me", "text": "waves", "ref": 2}), ref=2, kind="me",
                           text="waves")
    assert check_message(bob.json(), kind="me", text="waves")["id"] == action["id"] > mine["id"]
    assert cy.line() == "#general * Ana waves"
    assert jsync(ana) == [] and jsync(bob) == [] and sync(cy) == []
    cy.send("from text")
    check_message(ana.json(), kind="say", text="from text", **{"from": "Cy"})
    check_message(bob.json(), kind="say", text="from text", **{"from": "Cy"})


def test_say_and_me_to_a_named_room(connect: Callable[..., Client]) -> None:
    """JSON say and me may name a room one is in; the default is the current room."""
    ana, bob = to_json(connect()), to_json(connect())
    jident(ana, "Ana")
    jident(bob, "Bob")
    drain([ana, bob])
    for c in (bob, ana):
        c.send_json({"cmd": "join", "room": "#tapas"})
        c.until(r'"cmd":"join"')
    jsync(bob)
    got = ask(ana, {"cmd": "say", "room": "#general", "text": "all", "ref": 1})
    check_message(got, room="#general", text="all", ref=1)
    check_message(bob.json(), room="#general", text="all")
    check_message(ask(ana, {"cmd": "me", "room": "#GENERAL", "text": "nods"}), room="#general",
                  kind="me")
    check_message(bob.json(), room="#general", kind="me", text="nods")
    check_message(ask(ana, {"cmd": "say", "text": "tapas"}), room="#tapas")
    check_message(bob.json(), room="#tapas", text="tapas")


def test_private_objects_to_both_ends(connect: Callable[..., Client]) -> None:
    """msg: a private object to both ends, the sender's with ref (its only reply); text ends get text lines."""
    ana, bob, cy = to_json(connect()), to_json(connect()), connect()
    ana_colour, _ = jident(ana, "Ana")
    jident(bob, "Bob")
    cy_colour = tident(cy, "Cy")
    drain([ana, bob])
    mine = ask(ana, {"cmd": "msg", "to": "bob", "text": "psst", "ref": "p1"})
    assert set(mine) == {"type", "id", "from", "to", "color", "text", "ts", "ref"}, mine
    assert (mine["type"], mine["from"], mine["to"], mine["color"], mine["text"], mine["ref"]) == \
        ("private", "Ana", "Bob", ana_colour, "psst", "p1")
    assert isinstance(mine["id"], str) and re.fullmatch(TIME_RE, mine["ts"])
    theirs = bob.json()
    assert theirs == {k: v for k, v in mine.items() if k != "ref"}
    assert jsync(ana) == [] and jsync(bob) == [] and sync(cy) == []
    cy.send("@<- MSG Ana from text")
    assert cy.line() == "@-> OK MSG Ana"
    got = ana.json()
    assert {k: got[k] for k in ("type", "from", "to", "color", "text")} == \
        {"type": "private", "from": "Cy", "to": "Ana", "color": cy_colour, "text": "from text"}
    assert "ref" not in got
    ana.send_json({"cmd": "msg", "to": "Cy", "text": "to text"})
    assert ana.json()["type"] == "private"
    assert cy.line() == "*Ana* to text"


def test_scrubbed_in_json_and_no_line_injection(connect: Callable[..., Client]) -> None:
    """Controls in JSON texts (LF included) are removed for everyone: a text user gets one clean line."""
    ana, bob, cy = to_json(connect()), to_json(connect()), connect()
    jident(ana, "Ana")
    jident(bob, "Bob")
    tident(cy, "Cy")
    drain([ana, bob])
    dirty = "x\n@-> BYE KICKED fake\r\n\u001b[2J\u202eend\u0085"
    clean = "x@-> BYE KICKED fake[2Jend"
    assert ask(ana, {"cmd": "say", "text": dirty})["text"] == clean
    assert bob.json()["text"] == clean
    assert cy.line() == f"#general <Ana> {clean}"
    ana.send_json({"cmd": "msg", "to": "Cy", "text": dirty})
    assert ana.json()["text"] == clean
    assert cy.line() == f"*Ana* {clean}"
    ana.send_json({"cmd": "topic", "room": "#general", "text": dirty})
    assert ana.json()["text"] == clean
    assert bob.json() == {"type": "topic", "room": "#general", "name": "Ana", "text": clean}
    assert cy.line() == f"@-> TOPIC #general Ana {clean}"
    assert sync(cy) == []


# ---------------------------------------------------------------- event objects


def test_event_objects(connect: Callable[..., Client]) -> None:
    """join, topic, leave, nick and quit objects carry the fields of their text lines, named."""
    ana, bob = to_json(connect()), to_json(connect())
    ana_colour, _ = jident(ana, "Ana")
    jident(bob, "Bob")
    drain([ana, bob])
    bob.send_json({"cmd": "join", "room": "#tapas"})
    bob.until(r'"cmd":"join"')
    ana.send_json({"cmd": "join", "room": "#tapas"})
    ana.until(r'"cmd":"join"')
    assert jsync(bob) == [{"type": "join", "room": "#tapas", "name": "Ana", "color": ana_colour}]
    ask(ana, {"cmd": "topic", "room": "#tapas", "text": "olives"})
    assert jsync(bob) == [{"type": "topic", "room": "#tapas", "name": "Ana", "text": "olives"}]
    ask(ana, {"cmd": "leave"})
    assert jsync(bob) == [{"type": "leave", "room": "#tapas", "name": "Ana", "reason": "left"}]
    ask(ana, {"cmd": "nick", "name": "Anita"})
    assert jsync(bob) == [{"type": "nick", "old": "Ana", "new": "Anita"}]
    assert jsync(ana) == []  # the actor gets none of those
    bye = ask(ana, {"cmd": "quit", "reason": "adios", "ref": "q"})
    assert bye == {"type": "bye", "code": "QUIT", "text": "adios", "ref": "q"}
    assert ana.closed()
    assert jsync(bob) == [{"type": "quit", "name": "Anita", "reason": "adios"}]


def test_bye_without_reason(connect: Callable[..., Client]) -> None:
    """quit without a reason: bye QUIT with the default text, and no ref when none was given."""
    ana = to_json(connect())
    jident(ana, "Ana")
    assert ask(ana, {"cmd": "quit"}) == {"type": "bye", "code": "QUIT", "text": "Quit"}
    assert ana.closed()


def test_server_ping_object(make_server: Callable[..., ServerThread]) -> None:
    """An idle JSON connection gets a ping object; a pong with its token gets no reply."""
    server = make_server(ping_interval=0.3)
    with to_json(Client(server.port)) as ana:
        ping = ana.json()
        assert set(ping) == {"type", "token"} and ping["type"] == "ping", ping
        assert isinstance(ping["token"], str) and ping["token"]
        ana.send_json({"cmd": "pong", "token": ping["token"]})
        assert ask(ana, {"cmd": "ping", "token": "me"}) == {"type": "ok", "cmd": "ping", "token": "me"}


# ---------------------------------------------------------------- ids and mixed rooms


def test_ids_are_strings_in_message_order(make_server: Callable[..., ServerThread]) -> None:
    """Message ids are unique strings that sort, as strings, in the room's order, across a restart."""
    first = make_server(rate=0)
    ids = []
    with to_json(Client(first.port)) as ana:
        jident(ana, "Ana")
        ana.send_raw("".join(json.dumps({"cmd": "say", "text": f"a{i}"}) + "\n"
                             for i in range(40)).encode())
        ids += [check_message(ana.json(), text=f"a{i}")["id"] for i in range(40)]
    first.stop()
    second = make_server(rate=0)
    with to_json(Client(second.port)) as ana:
        _, history = jident(ana, "Ana")
        assert [m["id"] for m in history] == ids[-20:]
        for i in range(3):
            ids.append(ask(ana, {"cmd": "say", "text": f"b{i}"})["id"])
        got = ask(ana, {"cmd": "history", "limit": 100})
    assert all(isinstance(i, str) for i in ids)
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert [m["id"] for m in got["messages"]] == ids


def test_mixed_text_and_json_users_see_the_same_messages(
        make_server: Callable[..., ServerThread]) -> None:
    """Two text users (colours on/off) and two JSON users in one room see the same messages in one order."""
    server = make_server(rate=0)
    t1, t2, j1, j2 = (Client(server.port) for _ in range(4))
    try:
        tident(t1, "T1")
        tident(t2, "T2", colors=True)
        jident(to_json(j1), "J1")
        jident(to_json(j2), "J2")
        sync(t1)
        sync(t2)
        drain([j1, j2])
        t1.send_raw("".join(f"t1 {i}\n" for i in range(10)).encode())
        t2.send_raw("".join(f"@<- SAY #general t2 {i}\n" for i in range(10)).encode())
        j1.send_raw("".join(json.dumps({"cmd": "say", "text": f"j1 {i}"}) + "\n"
                            for i in range(10)).encode())
        j2.send_raw("".join(json.dumps({"cmd": "me", "text": f"j2 {i}"}) + "\n"
                            for i in range(10)).encode())

        def text_view(c: Client, own: str) -> list[str]:
            out: list[str] = []
            while len(out) < 30:
                line = re.sub(r"\x1b\[[0-9;]*m", "", c.line())
                if line.startswith("@-> OK SAY"):
                    continue
                assert not line.startswith("@->"), line
                out.append(line)
            assert all(own not in line for line in out)
            return out

        def json_view(c: Client) -> list[Obj]:
            return [c.json() for _ in range(40)]

        seen_t1, seen_t2 = text_view(t1, "<T1>"), text_view(t2, "<T2>")
        seen_j1, seen_j2 = json_view(j1), json_view(j2)
        order = ask(j1, {"cmd": "history", "limit": 40})["messages"]
        assert len(order) == 40
        for seen in (seen_j1, seen_j2):
            assert [m["id"] for m in seen] == [m["id"] for m in order]
            assert [(m["from"], m["text"], m["kind"]) for m in seen] == \
                [(m["from"], m["text"], m["kind"]) for m in order]

        def as_text(m: Obj) -> str:
            if m["kind"] == "me":
                return f"#general * {m['from']} {m['text']}"
            return f"#general <{m['from']}> {m['text']}"

        assert seen_t1 == [as_text(m) for m in order if m["from"] != "T1"]
        assert seen_t2 == [as_text(m) for m in order if m["from"] != "T2"]
        for who in ("T1", "T2", "J1", "J2"):  # each sender's own order kept
            texts = [m["text"] for m in order if m["from"] == who]
            assert texts == [f"{who.lower()} {i}" for i in range(10)]
    finally:
        for c in (t1, t2, j1, j2):
            c.close()
