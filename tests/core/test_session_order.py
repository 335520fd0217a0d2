"""Line order within one connection while the store has not answered (PROTOCOL.md §1, §4).

The store here answers only when a test runs the scheduler, so each test can
look at the session between "handed to the store" and "answered": chat
lines are pipelined, every other command waits for the chat lines before it,
and every reply comes in command order.
"""

from __future__ import annotations

import pytest

from tertulia.core.session import BACKLOG_PAUSE
from tertulia.protocol.lines import TOO_LONG
from tests.core.helpers import WIRE_TIME, Client, Pair, World, paint

# ----------------------------------------------------------------- text mode


def test_history_after_a_chat_line_waits_and_includes_it() -> None:
    """A HISTORY after a pending chat line is not even sent to the store until the line is stored."""
    pair = Pair()
    pair.a.feed("hola", "@<- HISTORY")
    assert pair.world.scheduler.pending == 1  # only the append
    assert pair.a.take() == []
    pair.world.scheduler.step()  # the append is answered; now the HISTORY runs
    assert pair.world.scheduler.pending == 1
    assert pair.a.take() == []
    pair.run()
    assert pair.a.take() == [
        f"@-> HISTORY #general {WIRE_TIME} ana hola",
        "@-> OK HISTORY #general 1",
    ]


def test_chat_lines_are_pipelined_and_a_command_after_them_waits() -> None:
    """Consecutive chat lines all reach the store before the first answer; PING waits for them."""
    pair = Pair()
    a = pair.a
    a.feed("uno", "@<- SAY #general dos", "@<- ME tres", "cuatro", "@<- PING t")
    assert pair.world.scheduler.pending == 4
    assert a.session.inflight == 4 and a.session.holds == 0
    assert len(a.session.backlog or ()) == 1
    assert a.take() == []
    pair.world.scheduler.step()
    pair.world.scheduler.step()
    assert a.take() == ["@-> OK SAY #general"]
    pair.run()
    assert a.take() == ["@-> OK ME #general", "@-> OK PING t"]
    ana = paint("ana", a.color)
    assert pair.b.take() == [
        f"#general <{ana}> uno",
        f"#general <{ana}> dos",
        f"#general * {ana} tres",
        f"#general <{ana}> cuatro",
    ]
    assert a.session.backlog is None and a.session.inflight == 0


def test_chat_line_after_a_held_command_waits() -> None:
    """While a non-chat operation holds the session, even chat lines wait for it."""
    pair = Pair()
    a = pair.a
    a.feed("@<- HISTORY", "hola")
    assert pair.world.scheduler.pending == 1  # the history read only
    assert pair.b.take() == []
    pair.run()
    assert a.take() == ["@-> OK HISTORY #general 0"]
    assert pair.b.take() == [f"#general <{paint('ana', a.color)}> hola"]


def test_register_holds_until_hashed_and_saved() -> None:
    """REGISTER waits for the hasher and then the store; later lines wait for both."""
    pair = Pair()
    a = pair.a
    a.feed("@<- REGISTER secreto", "@<- SAY #general luego")
    sched = pair.world.scheduler
    assert sched.pending == 1  # the hash
    sched.step()
    assert sched.pending == 1 and a.take() == []  # the account save
    sched.step()
    assert a.take() == ["@-> OK REGISTER ana"]
    assert sched.pending == 1  # now the SAY is handed to the store
    pair.run()
    assert a.take() == ["@-> OK SAY #general"]


def test_errors_come_after_the_replies_before_them() -> None:
    """RATE_LIMITED and parse errors after a pending chat line come after its OK."""
    world = World.create(rate=0.001, burst=4)  # the fake clock never refills the bucket
    a = world.user("ana")  # one token spent
    a.feed("@<- SAY #general uno", "@<- FOO", "@<- SAY #general dos", "@<- PING")
    assert a.take() == []
    world.run()
    assert a.take() == [
        "@-> OK SAY #general",
        "@-> ERR UNKNOWN_COMMAND unknown command FOO; try @<- HELP",
        "@-> OK SAY #general",
        "@-> ERR RATE_LIMITED too many lines; slow down",
    ]


def test_bad_lines_after_a_pending_chat_line() -> None:
    """LINE_TOO_LONG, BAD_ENCODING and a missing argument wait for the chat line before them."""
    pair = Pair()
    a = pair.a
    a.feed("@<- SAY #general uno", TOO_LONG, b"\xff", "@<- JOIN")
    assert a.take() == []
    pair.run()
    assert a.take() == [
        "@-> OK SAY #general",
        "@-> ERR LINE_TOO_LONG a line has at most 4096 bytes; it was not run",
        "@-> ERR BAD_ENCODING lines must be UTF-8",
        (
            "@-> ERR MISSING_ARGUMENT room missing; usage: JOIN #room - join a room and make it "
            "your current room"
        ),
    ]


def test_handler_error_after_a_pending_chat_line() -> None:
    """A SAY refused by its handler (NOT_IN_ROOM) still answers after the SAY before it."""
    pair = Pair()
    a = pair.a
    a.feed("@<- SAY #general uno", "@<- SAY #nowhere dos", "@<- SAY #general tres")
    assert a.take() == []
    pair.run()
    assert a.take() == [
        "@-> OK SAY #general",
        "@-> ERR NOT_IN_ROOM join #nowhere first: @<- JOIN #nowhere",
        "@-> OK SAY #general",
    ]


def test_nick_after_a_message_is_seen_after_it() -> None:
    """Others see the message under the old name, then the NICK line."""
    pair = Pair()
    pair.a.feed("hola", "@<- NICK anita", "adios")
    assert pair.a.take() == []
    pair.run()
    assert pair.a.take() == ["@-> OK NICK anita"]
    color = pair.a.color
    assert pair.b.take() == [
        f"#general <{paint('ana', color)}> hola",
        "@-> NICK ana anita",
        f"#general <{paint('anita', color)}> adios",
    ]


def test_quit_after_messages_runs_after_them_and_ends_the_backlog() -> None:
    """QUIT waits for the chat lines before it; lines after it never run."""
    pair = Pair()
    a = pair.a
    a.feed("@<- SAY #general uno", "@<- QUIT chao", "tarde")
    assert not a.peer.closed
    pair.run()
    assert a.take() == ["@-> OK SAY #general", "@-> BYE QUIT chao"]
    assert a.peer.closed
    assert pair.b.take() == [f"#general <{paint('ana', a.color)}> uno", "@-> QUIT ana chao"]
    assert [m.text for m in pair.world.store._messages["#general"].messages] == ["uno"]


def test_one_order_per_room_for_everyone() -> None:
    """Interleaved senders: every member sees the room's messages in the store's order."""
    world = World.create()
    a, b, c = world.user("ana"), world.user("bob"), world.user("cy")
    world.drain()
    a.feed("1")
    b.feed("2")
    a.feed("3")
    c.feed("4")
    world.run()

    def texts(client: Client) -> list[str]:
        return [line.rsplit(" ", 1)[1] for line in client.take()]

    assert texts(a) == ["2", "4"]
    assert texts(b) == ["1", "3", "4"]
    assert texts(c) == ["1", "2", "3"]
    stored = world.store._messages["#general"].messages
    assert [m.text for m in stored] == ["1", "2", "3", "4"]
    assert [m.id for m in stored] == sorted(m.id for m in stored)


# ----------------------------------------------------------------- JSON mode


def test_json_echo_is_the_reply_and_comes_before_the_next() -> None:
    """JSON: the sender's own message (with its ref) answers say, before the next command's reply."""
    world = World.create()
    j = world.user("jo", json_mode=True)
    j.send_json(cmd="say", text="hola", ref="s1")
    j.send_json(cmd="me", text="baila", ref="s2")
    j.send_json(cmd="ping", token="t", ref="p1")
    assert j.take_json() == []
    world.run()
    echo1, echo2, pong = j.take_json()
    assert echo1 == {
        "type": "message", "id": "0000000000000001", "room": "#general", "from": "jo",
        "color": j.color, "text": "hola", "kind": "say", "ts": WIRE_TIME, "ref": "s1",
    }
    assert (echo2["kind"], echo2["ref"], echo2["id"]) == ("me", "s2", "0000000000000002")
    assert pong == {"type": "ok", "cmd": "ping", "ref": "p1", "token": "t"}


def test_json_errors_after_a_pending_say() -> None:
    """JSON: BAD_JSON, NOT_IN_ROOM and RATE_LIMITED after a pending say come after its echo."""
    world = World.create(rate=0.001, burst=5)
    j = world.user("jo", json_mode=True)  # one token spent
    j.send_json(cmd="say", text="uno", ref=1)
    j.feed("not json")
    j.send_json(cmd="say", room="#nowhere", text="dos", ref=2)
    j.send_json(cmd="say", text="tres", ref=3)
    j.send_json(cmd="say", text="cuatro", ref=4)  # over the rate
    assert j.take_json() == []
    world.run()
    out = j.take_json()
    assert [(o["type"], o.get("ref"), o.get("code")) for o in out] == [
        ("message", 1, None),
        ("error", None, "BAD_JSON"),
        ("error", 2, "NOT_IN_ROOM"),
        ("message", 3, None),
        ("error", None, "RATE_LIMITED"),
    ]
    assert out[4]["cmd"] is None  # never parsed (DECISIONS 13)


def test_json_history_after_say_includes_it() -> None:
    """JSON: history right after say sees the message (PROTOCOL.md §1)."""
    world = World.create()
    j = world.user("jo", json_mode=True)
    j.send_json(cmd="say", text="hola", ref=1)
    j.send_json(cmd="history", limit=5, ref=2)
    world.run()
    echo, reply = j.take_json()
    assert echo["ref"] == 1
    assert reply["type"] == "ok" and reply["ref"] == 2 and reply["count"] == 1
    assert reply["messages"][0]["id"] == echo["id"]


# ----------------------------------------------------------------- JOIN exactly once


@pytest.mark.parametrize("json_mode", [False, True])
def test_join_gets_each_message_exactly_once(json_mode: bool) -> None:
    """A message stored before the JOIN's history read is in the history only; one after, live only."""
    world = World.create()
    a = world.user("ana")
    b = world.user("bob", json_mode=json_mode)
    a.do("@<- JOIN #x")
    world.drain()
    a.feed("antes")  # append submitted before the history read
    if json_mode:
        b.send_json(cmd="join", room="#x", ref="j")
    else:
        b.feed("@<- JOIN #x")
    a.feed("despues")  # submitted after it
    assert b.take() == []
    world.run()
    if json_mode:
        history, ok, live = b.take_json()
        assert [m["text"] for m in history["messages"]] == ["antes"]
        assert ok == {"type": "ok", "cmd": "join", "ref": "j", "room": "#x"}
        assert (live["type"], live["text"]) == ("message", "despues")
    else:
        assert b.take() == [
            f"@-> HISTORY #x {WIRE_TIME} ana antes",
            "@-> OK JOIN #x",
            f"#x <{paint('ana', a.color)}> despues",
        ]


def test_identify_gets_each_general_message_exactly_once() -> None:
    """The same holds for #general on IDENTIFY."""
    world = World.create()
    a = world.user("ana")
    a.feed("antes")
    b = world.connect()
    b.feed("@<- IDENTIFY bob")
    a.feed("despues")
    world.run()
    assert b.take()[1:] == [
        f"@-> OK IDENTIFY bob {b.color}",
        f"@-> HISTORY #general {WIRE_TIME} ana antes",
        f"#general <{paint('ana', a.color)}> despues",
    ]


# ----------------------------------------------------------------- backlog and flow control


def test_backlog_pauses_reading_and_resumes_after_drain() -> None:
    """Past BACKLOG_PAUSE queued lines the peer is paused; it resumes once all have run."""
    world = World.create(rate=0)
    a = world.user("ana")
    a.feed("@<- HISTORY")  # holds the session
    a.feed(*[f"@<- PING {i}" for i in range(BACKLOG_PAUSE - 1)])
    assert a.peer.pauses == 0 and len(a.session.backlog or ()) == BACKLOG_PAUSE - 1
    a.feed(f"@<- PING {BACKLOG_PAUSE - 1}")
    assert a.peer.pauses == 1 and not a.peer.reading
    a.feed("@<- PING late")  # a front end may still hand over a line it had split
    assert a.peer.pauses == 1
    world.run()
    assert a.peer.resumes == 1 and a.peer.reading
    assert a.take() == ["@-> OK HISTORY #general 0"] + [
        f"@-> OK PING {i}" for i in range(BACKLOG_PAUSE)
    ] + ["@-> OK PING late"]
    assert a.session.backlog is None and not a.session.paused


def test_backlog_resumes_only_when_fully_drained() -> None:
    """A backlog that stops at another held command stays paused until that one is answered."""
    world = World.create(rate=0)
    a = world.user("ana")
    a.feed("@<- HISTORY")
    a.feed(*["@<- PING"] * (BACKLOG_PAUSE - 1), "@<- HISTORY", "@<- PING last")
    assert a.peer.pauses == 1
    world.scheduler.step()  # the first HISTORY; the drain stops at the second
    assert not a.peer.reading and a.session.backlog is not None
    world.run()
    assert a.peer.reading and a.peer.resumes == 1
    assert a.take()[-1] == "@-> OK PING last"


def test_closed_session_is_not_resumed() -> None:
    """A session that ends with a backlog is not resumed and runs nothing more."""
    world = World.create(rate=0)
    a = world.user("ana")
    a.feed("@<- HISTORY", *["@<- PING"] * BACKLOG_PAUSE)
    assert not a.peer.reading
    a.session.connection_lost()
    world.run()
    assert a.peer.resumes == 0 and a.take() == []


def test_hub_busy_while_lines_wait() -> None:
    """hub.busy() is true while any session waits for the store or has queued lines."""
    pair = Pair()
    assert not pair.hub.busy()
    pair.a.feed("hola", "@<- PING")
    assert pair.hub.busy()
    pair.run()
    assert not pair.hub.busy()


# ----------------------------------------------------------------- store outage


def test_store_unavailable_delivers_nothing() -> None:
    """A message the store refuses gets ERR STORE_UNAVAILABLE and reaches nobody."""
    pair = Pair()
    a, b = pair.a, pair.b
    pair.world.store.failing = True
    text = "@-> ERR STORE_UNAVAILABLE the message could not be stored, so it was not delivered; try again"
    assert a.do("hola", "@<- SAY #general hi", "@<- ME waves", "@<- PING") == [
        text, text, text, "@-> OK PING",
    ]
    assert b.take() == []
    assert a.do("@<- HISTORY") == [
        "@-> ERR STORE_UNAVAILABLE history is not available now; try again"
    ]
    pair.world.store.failing = False
    a.do("ya")
    assert b.take() == [f"#general <{paint('ana', a.color)}> ya"]


def test_store_unavailable_json() -> None:
    """JSON: the error names the command and carries its ref; no message object is sent."""
    world = World.create()
    j = world.user("jo", json_mode=True)
    other = world.user("ana", json_mode=True)
    world.drain()
    world.store.failing = True
    j.send_json(cmd="say", text="hola", ref="x")
    world.run()
    [err] = j.take_json()
    assert err == {
        "type": "error", "cmd": "say", "ref": "x", "code": "STORE_UNAVAILABLE",
        "message": "the message could not be stored, so it was not delivered; try again",
    }
    assert other.take() == []
