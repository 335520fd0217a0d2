"""The hub's routing, with fake peers and a store that answers when told.

Every test checks the exact lines each client gets (PROTOCOL.md §2, §3, §5
and docs/reference/protocol.md, choices), and where it matters, what the hub's tables
(users, rooms, colours) hold afterwards.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from tertulia.core.colors import PALETTE, ColorBook
from tertulia.core.ports import Account, RoomRecord, Snapshot
from tertulia.core.session import VARIANT_JSON, VARIANT_TEXT_COLOR, VARIANT_TEXT_PLAIN
from tertulia.protocol.names import fold
from tests.core.helpers import WELCOME, WIRE_TIME, Pair, World, paint

# ----------------------------------------------------------------- identify


def test_identify_replies_first_then_joins_general_when_the_store_answers() -> None:
    """OK IDENTIFY comes at once; #general membership (and others' JOIN) after the history read."""
    world = World.create()
    bob = world.user("bob")
    ana = world.connect()
    assert ana.take() == [WELCOME]
    ana.feed("@<- IDENTIFY Ana")
    assert ana.take() == [f"@-> OK IDENTIFY Ana {ana.color}"]
    assert "ana" not in world.hub.general.members
    assert bob.take() == []
    world.run()
    assert ana.take() == []  # empty history: no lines in text mode
    assert bob.take() == [f"@-> JOIN #general Ana {ana.color}"]
    assert world.hub.general.members["ana"] is ana.session
    assert world.hub.users["ana"] is ana.session
    assert ana.session.current is world.hub.general


def test_identify_sends_general_history_after_ok() -> None:
    """A newcomer gets OK IDENTIFY, then #general's recent messages as HISTORY lines."""
    world = World.create(history_on_join=2)
    bob = world.user("bob")
    bob.do("uno", "dos", "@<- ME tres")
    ana = world.connect()
    assert ana.do("@<- IDENTIFY ana") == [
        WELCOME,
        f"@-> OK IDENTIFY ana {ana.color}",
        f"@-> HISTORY #general {WIRE_TIME} bob dos",
        f"@-> HISTORY #general {WIRE_TIME} * bob tres",
    ]


def test_identify_refusals() -> None:
    """Names are unique after folding; a second IDENTIFY and commands before one are refused."""
    world = World.create()
    world.user("Ana")
    other = world.connect()
    other.take()
    assert other.do("hola", "@<- JOIN #x", "@<- IDENTIFY ANA", "@<- IDENTIFY ａｎａ") == [
        "@-> ERR NOT_IDENTIFIED identify first: @<- IDENTIFY name",
        "@-> ERR NOT_IDENTIFIED identify first: @<- IDENTIFY name",
        "@-> ERR NAME_IN_USE ANA is taken; choose another name",
        "@-> ERR NAME_IN_USE ａｎａ is taken; choose another name",
    ]
    assert other.do("@<- IDENTIFY Bea", "@<- IDENTIFY Cy") == [
        f"@-> OK IDENTIFY Bea {other.color}",
        "@-> ERR ALREADY_IDENTIFIED you are already Bea",
    ]
    assert set(world.hub.users) == {"ana", "bea"}


def test_registered_name_needs_its_password() -> None:
    """REGISTER stores a hash; IDENTIFY then needs the password, and keeps the account colour."""
    world = World.create()
    ana = world.user("ana")
    color = ana.color
    assert ana.do("@<- REGISTER abc") == [
        "@-> ERR BAD_ARGUMENT a password has at least 4 characters"
    ]
    assert ana.do("@<- REGISTER s3cret") == ["@-> OK REGISTER ana"]
    assert world.hub.accounts["ana"].password_hash == "plain$s3cret"
    assert ana.do("@<- REGISTER again") == ["@-> ERR FORBIDDEN ana is already registered"]
    bob = world.user("bob")
    assert bob.do("@<- NICK ANA") == ["@-> ERR NAME_IN_USE ANA is taken; choose another name"]
    assert ana.do("@<- QUIT") == ["@-> BYE QUIT Quit"]
    assert bob.take() == ["@-> QUIT ana Quit"]
    assert bob.do("@<- NICK Ana") == ["@-> ERR AUTH_REQUIRED Ana is registered to someone else"]
    new = world.connect()
    new.take()
    assert new.do("@<- IDENTIFY ana", "@<- IDENTIFY ana wrong", "@<- IDENTIFY ana s3cret") == [
        "@-> ERR AUTH_REQUIRED ana is registered; use @<- IDENTIFY ana password",
        "@-> ERR AUTH_FAILED wrong password for that name",
        f"@-> OK IDENTIFY ana {color}",
    ]


def test_accounts_from_the_snapshot_are_known() -> None:
    """Accounts and rooms the store held at start are in force at once."""
    snapshot = Snapshot(
        rooms=[RoomRecord("#old", "#Old", "the topic")],
        accounts=[Account("ana", "Ana", "plain$pw12", "#123456")],
    )
    world = World.create(snapshot=snapshot)
    ana = world.connect()
    ana.take()
    assert ana.do("@<- IDENTIFY ANA pw12", "@<- TOPIC #OLD", "@<- JOIN #old") == [
        "@-> OK IDENTIFY ANA #123456",
        "@-> OK TOPIC #Old the topic",
        "@-> OK JOIN #Old",
    ]


# ----------------------------------------------------------------- join / leave


def test_join_sends_history_before_ok_and_tells_members() -> None:
    """JOIN: the room's history, then OK JOIN; members get a JOIN line, the joiner does not."""
    pair = Pair()
    a, b = pair.a, pair.b
    assert a.do("@<- JOIN #Sala", "en la sala") == ["@-> OK JOIN #Sala"]
    assert b.take() == []  # not a member, so neither the JOIN nor the message
    assert b.do("@<- JOIN #sala") == [
        f"@-> HISTORY #Sala {WIRE_TIME} ana en la sala",
        "@-> OK JOIN #Sala",  # the room keeps the spelling it was created with
    ]
    assert a.take() == [f"@-> JOIN #Sala bob {b.color}"]
    assert set(pair.hub.rooms["#sala"].members) == {"ana", "bob"}
    assert b.session.current is pair.hub.rooms["#sala"]


def test_join_general_again_and_rejoin() -> None:
    """Joining a room one is in sends its history and OK again, with no JOIN line to others."""
    pair = Pair()
    assert pair.a.do("@<- JOIN #General") == ["@-> OK JOIN #general"]
    assert pair.a.do("@<- JOIN #x", "@<- JOIN #general", "@<- JOIN #x") == [
        "@-> OK JOIN #x", "@-> OK JOIN #general", "@-> OK JOIN #x",
    ]
    assert pair.b.take() == []
    assert pair.a.session.current is pair.hub.rooms["#x"]


def test_join_saves_a_new_room_once() -> None:
    """A room is remembered in the store the first time someone joins it."""
    pair = Pair()
    pair.a.do("@<- JOIN #x")
    pair.b.do("@<- JOIN #x")
    store_rooms = pair.world.store._rooms
    assert set(store_rooms) == {"#general", "#x"}
    assert pair.hub.rooms["#x"].stored


def test_leave() -> None:
    """LEAVE tells the other members; #general cannot be left; unknown rooms are NOT_IN_ROOM."""
    pair = Pair()
    a, b = pair.a, pair.b
    a.do("@<- JOIN #x")
    b.do("@<- JOIN #x")
    a.take()
    assert b.do("@<- LEAVE") == ["@-> OK LEAVE #x"]
    assert a.take() == ["@-> LEAVE #x bob left"]
    assert b.session.current is pair.hub.general
    assert "bob" not in pair.hub.rooms["#x"].members
    assert b.do("@<- LEAVE #x", "@<- LEAVE #nowhere", "@<- LEAVE #general", "@<- LEAVE") == [
        "@-> ERR NOT_IN_ROOM you are not in #x",
        "@-> ERR NOT_IN_ROOM you are not in #nowhere",
        "@-> ERR FORBIDDEN everyone stays in #general",
        "@-> ERR FORBIDDEN everyone stays in #general",
    ]
    b.do("hola")  # the current room is #general again
    assert a.take() == [f"#general <{paint('bob', b.color)}> hola"]


def test_leave_another_room_keeps_the_current_one() -> None:
    """Leaving a room that is not the current one does not change the current room."""
    pair = Pair()
    a, b = pair.a, pair.b
    b.do("@<- JOIN #x", "@<- JOIN #y")
    a.do("@<- JOIN #y")
    b.take()
    assert b.do("@<- LEAVE #x", "in y") == ["@-> OK LEAVE #x"]
    assert b.session.current is pair.hub.rooms["#y"]
    assert a.take() == [f"#y <{paint('bob', b.color)}> in y"]


# ----------------------------------------------------------------- nick


def test_nick_rekeys_users_and_every_room() -> None:
    """NICK moves the session to the new key everywhere and frees the old name."""
    pair = Pair()
    a, b = pair.a, pair.b
    hub = pair.hub
    a.do("@<- JOIN #x")
    b.do("@<- JOIN #x")
    a.take()
    assert b.do("@<- NICK Roberto") == ["@-> OK NICK Roberto"]
    assert a.take() == ["@-> NICK bob Roberto"]
    assert hub.users["roberto"] is b.session and "bob" not in hub.users
    for room in (hub.general, hub.rooms["#x"]):
        assert room.members["roberto"] is b.session and "bob" not in room.members
    b.do("hi")
    assert a.take() == [f"#x <{paint('Roberto', b.color)}> hi"]
    # The old name is free again, the new one is taken.
    c = pair.world.connect()
    c.take()
    assert c.do("@<- IDENTIFY ROBERTO", "@<- IDENTIFY Bob") == [
        "@-> ERR NAME_IN_USE ROBERTO is taken; choose another name",
        f"@-> OK IDENTIFY Bob {c.color}",
    ]
    # Leaving and quitting still work under the new key.
    b.take()
    assert b.do("@<- LEAVE #x", "@<- QUIT bye") == ["@-> OK LEAVE #x", "@-> BYE QUIT bye"]
    assert set(hub.users) == {"ana", "bob"}
    assert set(hub.general.members) == {"ana", "bob"}


def test_nick_case_change_and_same_name() -> None:
    """A NICK that changes only the case is allowed and shown; the same name is told to nobody."""
    pair = Pair()
    assert pair.b.do("@<- NICK BOB", "@<- NICK BOB") == ["@-> OK NICK BOB", "@-> OK NICK BOB"]
    assert pair.a.take() == ["@-> NICK bob BOB"]
    assert pair.hub.users["bob"].name == "BOB"
    assert pair.b.do("@<- NICK ana") == ["@-> ERR NAME_IN_USE ana is taken; choose another name"]


# ----------------------------------------------------------------- quit / part


def test_quit_frees_name_and_colour() -> None:
    """QUIT: BYE to the user, QUIT to those sharing a room, then name and colour are free."""
    pair = Pair()
    a, b = pair.a, pair.b
    hub = pair.hub
    color = b.color
    assert b.do("@<- QUIT see you") == ["@-> BYE QUIT see you"]
    assert b.peer.closed and b.session.closed
    assert a.take() == ["@-> QUIT bob see you"]
    assert "bob" not in hub.users and "bob" not in hub.general.members
    assert b.session.conn_id not in hub.sessions
    assert hub.colors._held[color] == 0
    assert b.do("still here?") == []  # a closed session takes no more lines
    c = pair.world.connect()
    assert c.do("@<- IDENTIFY Bob")[1:] == [f"@-> OK IDENTIFY Bob {c.color}"]
    assert set(hub.users) == {"ana", "bob"}


def test_connection_lost_tells_others_once() -> None:
    """A dropped connection leaves quietly for itself and with a QUIT line for others."""
    pair = Pair()
    pair.b.session.connection_lost()
    pair.b.session.connection_lost()
    pair.hub.part(pair.b.session, "again")
    assert pair.a.take() == ["@-> QUIT bob Connection closed"]
    assert pair.b.take() == []
    assert not pair.b.peer.closed  # the front end closes its own transport
    assert list(pair.hub.users) == ["ana"]


def test_quit_before_identify() -> None:
    """An unidentified connection may QUIT; nobody is told."""
    pair = Pair()
    c = pair.world.connect()
    assert c.do("@<- QUIT") == [WELCOME, "@-> BYE QUIT Quit"]
    assert pair.a.take() == [] and pair.b.take() == []
    assert c.session.conn_id not in pair.hub.sessions


def test_quit_while_join_history_is_pending() -> None:
    """A session that ends before its JOIN's history arrives never becomes a member."""
    pair = Pair()
    pair.b.feed("@<- JOIN #x")
    pair.b.session.connection_lost()
    pair.run()
    assert "#x" not in pair.hub.rooms or not pair.hub.rooms["#x"].members
    assert pair.a.take() == ["@-> QUIT bob Connection closed"]


def test_quit_reaches_each_sharing_user_once() -> None:
    """A user sharing several rooms with the one who quits gets one QUIT line."""
    pair = Pair()
    for room in ("#x", "#y"):
        pair.a.do(f"@<- JOIN {room}")
        pair.b.do(f"@<- JOIN {room}")
    pair.a.take()
    pair.b.do("@<- QUIT")
    assert pair.a.take() == ["@-> QUIT bob Quit"]


# ----------------------------------------------------------------- presence limit


def test_presence_limit() -> None:
    """JOIN/LEAVE/QUIT lines only for rooms of at most presence_limit members; NICK always."""
    world = World.create(presence_limit=2)
    a = world.user("ana")
    b = world.connect()
    b.do("@<- IDENTIFY bob")
    assert a.take() == [f"@-> JOIN #general bob {b.color}"]  # 2 members, counting bob
    c = world.connect()
    c.do("@<- IDENTIFY cy")
    assert a.take() == [] and b.take() == []  # 3 > 2
    # A small room still gets presence lines.
    a.do("@<- JOIN #small")
    c.do("@<- JOIN #small")
    assert a.take() == [f"@-> JOIN #small cy {c.color}"]
    # A big room: no JOIN for the third member, no LEAVE while it has 3.
    for client in (a, b, c):
        client.do("@<- JOIN #big")
    world.drain()
    assert world.hub.rooms["#big"].members.keys() == {"ana", "bob", "cy"}
    c.do("@<- LEAVE #big")
    assert a.take() == [] and b.take() == []
    b.do("@<- LEAVE #big")  # 2 members counting bob: a is told
    assert a.take() == ["@-> LEAVE #big bob left"]
    # NICK goes to everyone sharing a room, whatever its size.
    assert c.do("@<- NICK cyd") == ["@-> OK NICK cyd"]
    assert a.take() == ["@-> NICK cy cyd"] and b.take() == ["@-> NICK cy cyd"]
    # QUIT: a shares #small (2 members) with cyd; b shares only #general (3).
    c.do("@<- QUIT")
    assert a.take() == ["@-> QUIT cyd Quit"]
    assert b.take() == []


# ----------------------------------------------------------------- colours


@pytest.mark.parametrize("seed", range(5))
def test_colours_avoid_those_held_while_any_is_free(seed: int) -> None:
    """The first 20 users get 20 distinct colours; a newcomer gets the colour just freed."""
    world = World.create(seed=seed)
    clients = [world.user(f"u{i}") for i in range(len(PALETTE))]
    assert sorted(c.color for c in clients) == sorted(PALETTE)
    extra = world.user("extra")  # every colour taken: any palette colour
    assert extra.color in PALETTE
    gone = clients[7]
    freed = gone.color
    gone.do("@<- QUIT")
    extra.do("@<- QUIT")
    assert world.user("late").color == freed


def test_colour_book_draw_and_avoid() -> None:
    """draw() never returns a held colour while one is free, nor the one to avoid."""
    book = ColorBook(random.Random(3))
    for color in PALETTE[:-2]:
        book.hold(color)
    seen = {book.draw() for _ in range(200)}
    assert seen == set(PALETTE[-2:])
    assert {book.draw(avoid=PALETTE[-1]) for _ in range(50)} == {PALETTE[-2]}
    book.hold(PALETTE[-2])
    book.hold(PALETTE[-1])
    assert PALETTE[0] not in {book.draw(avoid=PALETTE[0]) for _ in range(200)}
    book.release(PALETTE[0])
    assert {book.draw() for _ in range(50)} == {PALETTE[0]}


def test_color_command() -> None:
    """COLOR draws a different colour or takes the one given (lower case); both update the book."""
    pair = Pair()
    a = pair.a
    hub = pair.hub
    old = a.color
    [line] = a.do("@<- COLOR")
    assert line == f"@-> OK COLOR {a.color}" and a.color != old and a.color in PALETTE
    assert a.do("@<- COLOR #ABCDEF") == ["@-> OK COLOR #abcdef"]
    assert a.color == "#abcdef"
    assert hub.colors._held["#abcdef"] == 1 and hub.colors._held[old] == 0
    assert sum(hub.colors._held.values()) == len(hub.users)
    a.do("hi")
    assert pair.b.take() == [f"#general <{paint('ana', '#abcdef')}> hi"]


# ----------------------------------------------------------------- messages


def test_chat_line_say_and_me() -> None:
    """A plain line gets no reply; SAY and ME get their OK; members get the chat lines."""
    pair = Pair()
    a, b = pair.a, pair.b
    assert a.do("hola") == []
    assert a.do("@<- SAY #general @<- not a command") == ["@-> OK SAY #general"]
    assert a.do("@<- ME waves") == ["@-> OK ME #general"]
    ana = paint("ana", a.color)
    assert b.take() == [
        f"#general <{ana}> hola",
        f"#general <{ana}> @<- not a command",
        f"#general * {ana} waves",
    ]
    assert a.do("@<- SAY #x hi", "@<- SAY #general") == [
        "@-> ERR NOT_IN_ROOM join #x first: @<- JOIN #x",
        (
            "@-> ERR MISSING_ARGUMENT text missing; usage: SAY #room text - send text to a room "
            "you are in"
        ),
    ]
    assert b.take() == []


def test_chat_line_is_not_delivered_before_the_store_answers() -> None:
    """PROTOCOL.md §4: a message reaches members only once stored."""
    pair = Pair()
    pair.a.feed("hola")
    assert pair.b.take() == []
    assert pair.world.scheduler.pending == 1
    pair.run()
    assert len(pair.b.take()) == 1
    [stored] = pair.world.store._messages["#general"].messages
    assert (stored.sender, stored.text, stored.ts) == ("ana", "hola", WIRE_TIME)


def test_colors_off_and_json_members() -> None:
    """Each member gets the message in its own variant."""
    pair = Pair()
    a, b = pair.a, pair.b
    assert b.do("@<- COLORS off") == ["@-> OK COLORS off"]
    j = pair.world.user("jo", json_mode=True)
    a.do("hola")
    assert b.take() == ["#general <ana> hola"]
    assert j.take_json() == [{
        "type": "message", "id": "0000000000000001", "room": "#general", "from": "ana",
        "color": a.color, "text": "hola", "kind": "say", "ts": WIRE_TIME,
    }]
    assert b.do("@<- COLORS on") == ["@-> OK COLORS on"]
    a.do("otra")
    assert b.take() == [f"#general <{paint('ana', a.color)}> otra"]


def test_deliver_encodes_once_per_variant() -> None:
    """Members of one variant receive the very same bytes object (PROTOCOL.md §4 hot path)."""
    world = World.create()
    sender = world.user("sender", json_mode=True)
    colour = [world.user(f"c{i}") for i in range(3)]
    plain = [world.user(f"p{i}") for i in range(2)]
    jsons = [world.user(f"j{i}", json_mode=True) for i in range(2)]
    for p in plain:
        p.do("@<- COLORS off")
    assert {c.session.variant for c in colour} == {VARIANT_TEXT_COLOR}
    assert {p.session.variant for p in plain} == {VARIANT_TEXT_PLAIN}
    assert {j.session.variant for j in jsons} == {VARIANT_JSON}
    world.drain()
    sender.send_json(cmd="say", text="hola", ref=7)
    world.run()
    for group in (colour, plain, jsons):
        first = group[0].peer.sent[-1]
        assert all(c.peer.sent[-1] is first for c in group)
        assert all(len(c.take()) == 1 for c in group)
    assert colour[0].peer.sent[-1] != plain[0].peer.sent[-1]
    [echo] = sender.take_json()
    assert echo["ref"] == 7 and echo["text"] == "hola"
    assert "ref" not in json.loads(jsons[0].peer.sent[-1])


def test_msg() -> None:
    """MSG: the target gets *name* text; the sender OK MSG; unknown names are NO_SUCH_USER."""
    pair = Pair()
    a, b = pair.a, pair.b
    assert a.do("@<- MSG BOB psst") == ["@-> OK MSG bob"]
    assert b.take() == [f"*{paint('ana', a.color)}* psst"]
    assert a.do("@<- MSG nadie hola") == ["@-> ERR NO_SUCH_USER nobody called nadie is online"]
    assert a.do("@<- MSG ana to me") == [f"*{paint('ana', a.color)}* to me", "@-> OK MSG ana"]
    assert pair.world.scheduler.pending == 0  # private messages are never stored


def test_msg_json_both_ends() -> None:
    """JSON MSG: both ends get a private object; only the sender's has the ref."""
    world = World.create()
    a = world.user("ana", json_mode=True)
    b = world.user("bob", json_mode=True)
    world.drain()
    a.send_json(cmd="msg", to="bob", text="psst", ref="r1")
    [mine] = a.take_json()
    [theirs] = b.take_json()
    assert mine.pop("ref") == "r1"
    assert mine == theirs
    assert theirs["type"] == "private" and theirs["from"] == "ana" and theirs["to"] == "bob"
    assert re.fullmatch(r"p[0-9a-f]+-1", theirs["id"])


def test_topic_goes_to_members_not_the_setter() -> None:
    """TOPIC set: OK to the setter, a TOPIC line to other members, and the store keeps it."""
    pair = Pair()
    assert pair.a.do("@<- TOPIC #general charla") == ["@-> OK TOPIC #general charla"]
    assert pair.b.take() == ["@-> TOPIC #general ana charla"]
    assert pair.world.store._rooms["#general"].topic == "charla"
    assert pair.b.do("@<- TOPIC #general") == ["@-> OK TOPIC #general charla"]


def test_json_identify_and_join_order() -> None:
    """JSON: ok then history on IDENTIFY; history then ok on JOIN (DECISIONS 20)."""
    world = World.create()
    j = world.connect(json_mode=True)
    j.send_json(cmd="identify", name="jo", ref=1)
    world.run()
    welcome, ok, history = j.take_json()
    assert welcome["type"] == "welcome"
    assert ok == {"type": "ok", "cmd": "identify", "ref": 1, "name": "jo", "color": j.color}
    assert history == {"type": "history", "room": "#general", "messages": []}
    j.send_json(cmd="join", room="#x", ref=2)
    world.run()
    assert j.take_json() == [
        {"type": "history", "room": "#x", "messages": []},
        {"type": "ok", "cmd": "join", "ref": 2, "room": "#x"},
    ]


# ----------------------------------------------------------------- timers


def test_identify_timeout() -> None:
    """BYE IDENTIFY_TIMEOUT once identify_timeout passes without IDENTIFY; identified users stay."""
    world = World.create(identify_timeout=30, ping_interval=0)
    ana = world.user("ana")
    slow = world.connect()
    world.clock.advance(29.9)
    world.hub.tick()
    assert slow.take() == [WELCOME] and not slow.peer.closed
    world.clock.advance(0.1)
    world.hub.tick()
    assert slow.take() == ["@-> BYE IDENTIFY_TIMEOUT no IDENTIFY in time"]
    assert slow.peer.closed and slow.session.conn_id not in world.hub.sessions
    world.clock.advance(1000)
    world.hub.tick()
    assert ana.take() == [] and not ana.peer.closed


def test_ping_then_ping_timeout() -> None:
    """No bytes for ping_interval: PING; none for ping_timeout more: BYE PING_TIMEOUT."""
    world = World.create(ping_interval=60, ping_timeout=30)
    a = world.user("ana")
    b = world.user("bob")
    world.drain()
    world.clock.advance(59)
    world.hub.tick()
    assert a.take() == []
    world.clock.advance(1)
    world.hub.tick()
    [ping] = a.take()
    assert re.fullmatch(r"@-> PING [0-9a-f]{8}", ping)
    [ping_b] = b.take()
    assert ping_b.startswith("@-> PING ")
    b.feed("@<- PONG x")  # bob answers, ana does not
    world.hub.tick()
    assert a.take() == []  # one PING per quiet spell
    world.clock.advance(29)
    world.hub.tick()
    assert a.take() == []
    world.clock.advance(1)
    world.hub.tick()
    assert a.take() == ["@-> BYE PING_TIMEOUT no answer for 90 s"]
    assert a.peer.closed
    assert b.take() == ["@-> QUIT ana no answer for 90 s"] and not b.peer.closed


def test_any_bytes_reset_the_ping_timer() -> None:
    """Receiving a line (a PONG, or anything) counts as life: no timeout, and a new PING later."""
    world = World.create(ping_interval=60, ping_timeout=30)
    a = world.user("ana")
    world.clock.advance(60)
    world.hub.tick()
    [ping] = a.take()
    world.clock.advance(29)
    assert a.do(f"@<- PONG {ping[-8:]}") == []
    world.clock.advance(59)
    world.hub.tick()
    assert a.take() == []
    world.clock.advance(1)
    world.hub.tick()
    [again] = a.take()
    assert again.startswith("@-> PING ")
    assert not a.peer.closed


def test_timers_off_with_zero() -> None:
    """identify_timeout=0 and ping_interval=0 turn the timers off."""
    world = World.create(identify_timeout=0, ping_interval=0)
    idle = world.connect()
    world.clock.advance(10**6)
    world.hub.tick()
    assert idle.take() == [WELCOME] and not idle.peer.closed


# ----------------------------------------------------------------- connection limits


def test_too_many_connections_per_address_and_in_all() -> None:
    """Over max_per_ip / max_connections: BYE TOO_MANY_CONNECTIONS is the only line."""
    world = World.create(max_per_ip=2, max_connections=3)
    first = world.connect("1.1.1.1")
    world.connect("1.1.1.1")
    refused = world.connect("1.1.1.1")
    assert refused.take() == ["@-> BYE TOO_MANY_CONNECTIONS too many connections; try again later"]
    assert refused.peer.closed and refused.session.conn_id not in world.hub.sessions
    third = world.connect("2.2.2.2")
    assert third.take() == [WELCOME]
    fourth = world.connect("3.3.3.3")
    assert fourth.take()[0].startswith("@-> BYE TOO_MANY_CONNECTIONS")
    first.do("@<- QUIT")
    assert world.connect("1.1.1.1").take() == [WELCOME]
    assert world.hub.per_address == {"1.1.1.1": 2, "2.2.2.2": 1}


def test_protocol_errors_in_a_row() -> None:
    """max_errors bad lines in a row end the connection; a good line resets the count."""
    world = World.create(max_errors=3)
    a = world.user("ana")
    a.do("@<- FOO", "@<- BAR", "@<- PING", "@<- BAZ", "@<- QUX")
    assert not a.peer.closed
    lines = a.do("@<- ZAP")
    assert lines[-1] == "@-> BYE PROTOCOL_ERRORS 3 bad lines in a row"
    assert a.peer.closed and "ana" not in world.hub.users


def test_shutdown_says_bye_to_everyone() -> None:
    """shutdown(): BYE SERVER_SHUTDOWN to every connection, identified or not."""
    pair = Pair()
    c = pair.world.connect()
    c.take()
    pair.hub.shutdown()
    for client in (pair.a, pair.b, c):
        # (Those told later may first see QUIT lines of those told before them.)
        assert client.take()[-1] == "@-> BYE SERVER_SHUTDOWN the server is shutting down"
        assert client.peer.closed
    assert not pair.hub.sessions and not pair.hub.users and not pair.hub.general.members


def test_users_and_rooms_listing() -> None:
    """USERS and ROOMS are sorted by folded name (DECISIONS 11)."""
    world = World.create()
    world.user("bob")
    c = world.user("Cy")
    a = world.user("ana")
    c.do("@<- JOIN #b", "@<- JOIN #A")
    assert a.do("@<- USERS") == [
        f"@-> USER * ana {a.color}",
        f"@-> USER * bob {world.hub.users['bob'].color}",
        f"@-> USER * Cy {c.color}",
        "@-> OK USERS 3",
    ]
    assert a.do("@<- ROOMS") == [
        "@-> ROOM #A 1", "@-> ROOM #b 1", "@-> ROOM #general 3", "@-> OK ROOMS 3",
    ]
    assert fold("#A") in world.hub.rooms
    j = world.user("jo", json_mode=True)
    j.send_json(cmd="rooms", ref="r")
    [ok] = j.take_json()
    assert ok == {"type": "ok", "cmd": "rooms", "ref": "r", "count": 3, "rooms": [
        {"room": "#A", "count": 1, "topic": ""},
        {"room": "#b", "count": 1, "topic": ""},
        {"room": "#general", "count": 4, "topic": ""},
    ]}
