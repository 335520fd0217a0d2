"""Rooms over real TCP in text mode: JOIN, LEAVE, USERS, ROOMS, TOPIC, HISTORY (PROTOCOL.md §2-§4).

Absence of a line is proved with :func:`sync`: a PING sent after the action
is answered after every line the action caused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import COLOR_RE, TIME_RE, err, ident, people, reply, sync


def listing(c: Client, line: str, ok: str) -> list[str]:
    """Send a listing command; return its lines, the last being the exact ``ok``."""
    c.send(line)
    got = c.lines_until(r"^@-> (OK|ERR) ")
    assert got[-1] == ok, got
    return got[:-1]


def chat(c: Client, *texts: str) -> None:
    """Send chat lines and wait until they are stored and delivered."""
    c.send_raw("".join(f"{t}\n" for t in texts).encode())
    assert sync(c) == []


def history_texts(lines: list[str], room: str) -> list[str]:
    """The texts of HISTORY lines, checking their fixed fields."""
    out = []
    for line in lines:
        match = re.fullmatch(rf"@-> HISTORY {re.escape(room)} {TIME_RE} (.*)", line)
        assert match, line
        out.append(match.group(1))
    return out


# ---------------------------------------------------------------- JOIN and LEAVE


def test_identify_joins_general(connect: Callable[..., Client]) -> None:
    """IDENTIFY puts the user in #general, its current room, and others see the JOIN."""
    ana, = people(connect, "Ana")
    bob = connect()
    colour = ident(bob, "Bob")
    assert sync(ana) == [f"@-> JOIN #general Bob {colour}"]
    users = listing(ana, "@<- USERS #general", "@-> OK USERS 2")
    assert [u.rsplit(" ", 1)[0] for u in users] == ["@-> USER #general Ana", "@-> USER #general Bob"]
    bob.send("hola")
    assert ana.line() == "#general <Bob> hola"


def test_join_creates_room_and_tells_members_only(connect: Callable[..., Client]) -> None:
    """JOIN: OK JOIN to the actor only; a JOIN line to the room's other members, not to outsiders."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert sync(ana) == []
    assert sync(bob) == [] and sync(cy) == []
    bob_colour = listing(bob, "@<- USERS", "@-> OK USERS 3")[1].split()[-1]
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert sync(bob) == []
    assert sync(ana) == [f"@-> JOIN #tapas Bob {bob_colour}"]
    assert sync(cy) == []


def test_join_makes_room_current(connect: Callable[..., Client]) -> None:
    """After JOIN, plain lines go to the new room only."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    for c in (ana, bob):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(ana)
    ana.send("a la mesa")
    assert bob.line() == "#tapas <Ana> a la mesa"
    assert sync(cy) == []
    assert sync(ana) == []


def test_leave_current_room_goes_back_to_general(connect: Callable[..., Client]) -> None:
    """LEAVE without a room leaves the current one; members see LEAVE with reason `left`; #general is current."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    for c in (ana, bob):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(ana)
    assert reply(ana, "@<- LEAVE") == "@-> OK LEAVE #tapas"
    assert sync(ana) == []
    assert sync(bob) == ["@-> LEAVE #tapas Ana left"]
    assert sync(cy) == []
    ana.send("back in general")
    assert bob.line() == "#general <Ana> back in general"
    assert cy.line() == "#general <Ana> back in general"


def test_leave_other_room_keeps_current(connect: Callable[..., Client]) -> None:
    """LEAVE of a room that is not the current one leaves the current room as it was."""
    ana, bob = people(connect, "Ana", "Bob")
    for c in (bob, ana):
        assert reply(c, "@<- JOIN #uno") == "@-> OK JOIN #uno"
        assert reply(c, "@<- JOIN #dos") == "@-> OK JOIN #dos"
    sync(bob)
    assert reply(ana, "@<- LEAVE #uno") == "@-> OK LEAVE #uno"
    assert sync(bob) == ["@-> LEAVE #uno Ana left"]
    ana.send("still in dos")
    assert bob.line() == "#dos <Ana> still in dos"


def test_leave_errors(connect: Callable[..., Client]) -> None:
    """LEAVE #general (named or current) is FORBIDDEN; a room one is not in NOT_IN_ROOM; a bad name INVALID_ROOM."""
    ana, bob = people(connect, "Ana", "Bob")
    err(ana, "@<- LEAVE #general", "FORBIDDEN")
    err(ana, "@<- LEAVE #GENERAL", "FORBIDDEN")
    err(ana, "@<- LEAVE", "FORBIDDEN")  # current room is #general
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    err(ana, "@<- LEAVE #tapas", "NOT_IN_ROOM")
    err(ana, "@<- LEAVE #nowhere", "NOT_IN_ROOM")
    err(ana, "@<- LEAVE tapas", "INVALID_ROOM")
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(ana, "@<- LEAVE #tapas") == "@-> OK LEAVE #tapas"
    err(ana, "@<- LEAVE #tapas", "NOT_IN_ROOM")
    assert sync(bob) == [f"@-> JOIN #tapas Ana {ana_colour(bob)}", "@-> LEAVE #tapas Ana left"]
    assert listing(ana, "@<- USERS #general", "@-> OK USERS 2")


def ana_colour(c: Client, name: str = "Ana") -> str:
    """The colour of ``name`` (default Ana), read with USERS (two users online)."""
    for line in listing(c, "@<- USERS", "@-> OK USERS 2"):
        if line.split()[3] == name:
            return line.split()[4]
    raise AssertionError("Ana is not online")


def test_join_errors(connect: Callable[..., Client]) -> None:
    """JOIN without a room is MISSING_ARGUMENT; names outside §2's rules are INVALID_ROOM."""
    ana, = people(connect, "Ana")
    err(ana, "@<- JOIN", "MISSING_ARGUMENT")
    for room in ("tapas", "#", "#" + "a" * 51, "#\u0301cafe", "#ta\x1bpas", "#ta\u202epas",
                 "#ta!pas", "##tapas", "#ta/pas"):
        err(ana, f"@<- JOIN {room}", "INVALID_ROOM")
    assert listing(ana, "@<- ROOMS", "@-> OK ROOMS 1") == ["@-> ROOM #general 1"]


def test_valid_room_names(connect: Callable[..., Client]) -> None:
    """A digit may start a room name; marks, `_-.` and any script are allowed; 50 characters fit."""
    ana, = people(connect, "Ana")
    for room in ("#1st", "#" + "a" * 50, "#cafe\u0301", "#\u00f1o\u00f1o_-.", "#\u6771\u4eac",
                 "#\u0661\u0662"):
        assert reply(ana, f"@<- JOIN {room}") == f"@-> OK JOIN {room}"


def test_room_keeps_first_spelling(connect: Callable[..., Client]) -> None:
    """Rooms compare like names (case, width); a room keeps the spelling it was created with."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(ana, "@<- JOIN #Tapas") == "@-> OK JOIN #Tapas"
    assert reply(bob, "@<- JOIN #TAPAS") == "@-> OK JOIN #Tapas"
    assert reply(bob, "@<- JOIN #\uff54\uff41\uff50\uff41\uff53") == "@-> OK JOIN #Tapas"
    assert reply(bob, "@<- JOIN #GENERAL") == "@-> OK JOIN #general"
    bob.send("@<- SAY #tapas hola")
    assert bob.line() == "@-> OK SAY #Tapas"


def test_room_spelling_in_join_line(connect: Callable[..., Client]) -> None:
    """Members see the room as created, whatever spelling the newcomer typed."""
    ana, bob = people(connect, "Ana", "Bob")
    bob_colour = listing(ana, "@<- USERS", "@-> OK USERS 2")[1].split()[-1]
    assert reply(ana, "@<- JOIN #Tapas") == "@-> OK JOIN #Tapas"
    assert reply(bob, "@<- JOIN #TAPAS") == "@-> OK JOIN #Tapas"
    assert sync(ana) == [f"@-> JOIN #Tapas Bob {bob_colour}"]


def test_join_again_resends_history_without_join_line(connect: Callable[..., Client]) -> None:
    """JOIN of a room one is in: its history again, then OK JOIN, no JOIN line for others; it becomes current."""
    ana, bob = people(connect, "Ana", "Bob")
    for c in (ana, bob):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(ana)
    chat(bob, "uno")
    assert ana.line() == "#tapas <Bob> uno"
    assert reply(ana, "@<- JOIN #other") == "@-> OK JOIN #other"
    ana.send("@<- JOIN #tapas")
    got = ana.lines_until(r"^@-> OK JOIN ")
    assert history_texts(got[:-1], "#tapas") == ["Bob uno"]
    assert got[-1] == "@-> OK JOIN #tapas"
    assert sync(bob) == []
    ana.send("current again")
    assert bob.line() == "#tapas <Ana> current again"


# ---------------------------------------------------------------- USERS and ROOMS


def test_users_everyone_and_per_room(connect: Callable[..., Client]) -> None:
    """USERS: everyone online as `USER * name colour`; USERS #room its members; sorted by name."""
    cy, ana, bob = people(connect, "cy", "Ana", "Bob")
    colours = {}
    for line in listing(ana, "@<- USERS", "@-> OK USERS 3"):
        match = re.fullmatch(rf"@-> USER \* (\S+) ({COLOR_RE})", line)
        assert match, line
        colours[match.group(1)] = match.group(2)
    assert list(colours) == ["Ana", "Bob", "cy"]
    for c in (bob, cy):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert listing(ana, "@<- USERS #TAPAS", "@-> OK USERS 2") == [
        f"@-> USER #tapas Bob {colours['Bob']}", f"@-> USER #tapas cy {colours['cy']}"]
    err(ana, "@<- USERS #nowhere", "NO_SUCH_ROOM")
    err(ana, "@<- USERS nowhere", "INVALID_ROOM")


def test_rooms_counts_and_topics(connect: Callable[..., Client]) -> None:
    """ROOMS: one ROOM line per room with members (count, topic), sorted by name, then OK ROOMS n."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    for c in (bob, ana):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(cy, "@<- JOIN #Bar") == "@-> OK JOIN #Bar"
    assert reply(ana, "@<- TOPIC #tapas Spanish snacks, tonight") == \
        "@-> OK TOPIC #tapas Spanish snacks, tonight"
    assert reply(ana, "@<- JOIN #empty") == "@-> OK JOIN #empty"
    assert reply(ana, "@<- LEAVE #empty") == "@-> OK LEAVE #empty"
    assert listing(cy, "@<- ROOMS", "@-> OK ROOMS 3") == [
        "@-> ROOM #Bar 1",
        "@-> ROOM #general 3",
        "@-> ROOM #tapas 2 Spanish snacks, tonight",
    ]


# ---------------------------------------------------------------- TOPIC


def test_topic_read_and_set(connect: Callable[..., Client]) -> None:
    """TOPIC: read by anyone; set by a member (OK to the actor, TOPIC line to the other members only)."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    for c in (ana, bob):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(ana)
    assert reply(cy, "@<- TOPIC #tapas") == "@-> OK TOPIC #tapas"  # no topic yet
    assert reply(ana, "@<- TOPIC #tapas Tapas night \U0001f377") == \
        "@-> OK TOPIC #tapas Tapas night \U0001f377"
    assert sync(ana) == []
    assert sync(bob) == ["@-> TOPIC #tapas Ana Tapas night \U0001f377"]
    assert sync(cy) == []
    assert reply(cy, "@<- TOPIC #TAPAS") == "@-> OK TOPIC #tapas Tapas night \U0001f377"
    assert reply(bob, "@<- TOPIC #tapas two  spaces ") == "@-> OK TOPIC #tapas two  spaces "
    assert sync(ana) == ["@-> TOPIC #tapas Bob two  spaces "]


def test_topic_errors(connect: Callable[..., Client]) -> None:
    """Setting a topic needs membership (NOT_IN_ROOM); unknown rooms are NO_SUCH_ROOM; empty after scrub BAD_ARGUMENT."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    err(ana, "@<- TOPIC #tapas mine now", "NOT_IN_ROOM")
    err(ana, "@<- TOPIC #nowhere", "NO_SUCH_ROOM")
    err(ana, "@<- TOPIC #nowhere hello", "NO_SUCH_ROOM")
    err(ana, "@<- TOPIC", "MISSING_ARGUMENT")
    err(ana, "@<- TOPIC tapas", "INVALID_ROOM")
    err(bob, "@<- TOPIC #tapas \x1b\x07\u202e", "BAD_ARGUMENT")
    assert reply(ana, "@<- TOPIC #tapas") == "@-> OK TOPIC #tapas"
    assert sync(bob) == []


def test_topic_is_scrubbed(connect: Callable[..., Client]) -> None:
    """Escape and bidi characters are removed from a topic, for the setter, members and readers."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(ana, "@<- TOPIC #general a\x1b[31mb\u202ec\x9bd") == "@-> OK TOPIC #general a[31mbcd"
    assert sync(bob) == ["@-> TOPIC #general Ana a[31mbcd"]
    assert listing(bob, "@<- ROOMS", "@-> OK ROOMS 1") == ["@-> ROOM #general 2 a[31mbcd"]


# ---------------------------------------------------------------- history on JOIN and IDENTIFY


def test_history_on_join_last_20(make_server: Callable[..., ServerThread]) -> None:
    """JOIN sends the room's last 20 messages, oldest first, as HISTORY lines before OK JOIN."""
    server = make_server(rate=0)
    with Client(server.port) as ana, Client(server.port) as bob:
        ident(ana, "Ana")
        assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
        chat(ana, *[f"msg {i}" for i in range(1, 26)])
        ana.send("@<- ME waves")
        assert ana.line() == "@-> OK ME #tapas"
        ident(bob, "Bob")
        bob.send("@<- JOIN #tapas")
        got = bob.lines_until(r"^@-> OK JOIN ")
        assert got[-1] == "@-> OK JOIN #tapas"
        texts = history_texts(got[:-1], "#tapas")
        assert texts == [f"Ana msg {i}" for i in range(7, 26)] + ["* Ana waves"]


def test_history_on_join_option(make_server: Callable[..., ServerThread]) -> None:
    """--history-on-join sets how many messages JOIN sends (0: none)."""
    server = make_server(rate=0, history_on_join=3)
    with Client(server.port) as ana, Client(server.port) as bob:
        ident(ana, "Ana")
        assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
        chat(ana, "a", "b", "c", "d", "e")
        ident(bob, "Bob")
        bob.send("@<- JOIN #tapas")
        got = bob.lines_until(r"^@-> OK JOIN ")
        assert history_texts(got[:-1], "#tapas") == ["Ana c", "Ana d", "Ana e"]


def test_no_history_on_join_when_zero(make_server: Callable[..., ServerThread]) -> None:
    """With --history-on-join 0, JOIN and IDENTIFY send no HISTORY lines."""
    server = make_server(history_on_join=0)
    with Client(server.port) as ana, Client(server.port) as bob:
        ident(ana, "Ana")
        chat(ana, "hola")
        assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
        chat(ana, "tapas")
        bob.send("@<- IDENTIFY Bob")
        assert re.fullmatch(rf"@-> OK IDENTIFY Bob {COLOR_RE}", bob.line())
        assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"


def test_history_on_identify_comes_after_ok(make_server: Callable[..., ServerThread]) -> None:
    """IDENTIFY: OK IDENTIFY first, then #general's last 20 messages as HISTORY lines."""
    server = make_server(rate=0)
    with Client(server.port) as ana, Client(server.port) as bob:
        ident(ana, "Ana")
        chat(ana, *[f"m{i}" for i in range(22)])
        bob.send("@<- IDENTIFY Bob")
        bob.send("@<- PING end")
        assert re.fullmatch(rf"@-> OK IDENTIFY Bob {COLOR_RE}", bob.line())
        got = bob.lines_until(r"^@-> OK PING end$")[:-1]
        assert history_texts(got, "#general") == [f"Ana m{i}" for i in range(2, 22)]


# ---------------------------------------------------------------- the HISTORY command


def test_history_command_default_and_n(make_server: Callable[..., ServerThread]) -> None:
    """HISTORY: current room, latest 50 by default; HISTORY n the latest n; a room may be named."""
    server = make_server(rate=0)
    with Client(server.port) as ana, Client(server.port) as bob:
        ident(ana, "Ana")
        chat(ana, *[f"g{i}" for i in range(60)])
        assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
        chat(ana, "t0", "t1", "t2")
        ident(bob, "Bob")
        sync(ana)
        got = listing(ana, "@<- HISTORY", "@-> OK HISTORY #tapas 3")
        assert history_texts(got, "#tapas") == ["Ana t0", "Ana t1", "Ana t2"]
        got = listing(bob, "@<- HISTORY", "@-> OK HISTORY #general 50")
        assert history_texts(got, "#general") == [f"Ana g{i}" for i in range(10, 60)]
        got = listing(bob, "@<- HISTORY 2", "@-> OK HISTORY #general 2")
        assert history_texts(got, "#general") == ["Ana g58", "Ana g59"]
        got = listing(bob, "@<- HISTORY #TAPAS 2", "@-> OK HISTORY #tapas 2")  # not a member
        assert history_texts(got, "#tapas") == ["Ana t1", "Ana t2"]
        got = listing(bob, "@<- history #tapas", "@-> OK HISTORY #tapas 3")
        assert len(got) == 3


def test_history_limit_is_capped_at_500(make_server: Callable[..., ServerThread]) -> None:
    """HISTORY n with n above 500 counts as 500."""
    server = make_server(rate=0)
    with Client(server.port) as ana:
        ident(ana, "Ana")
        chat(ana, *[f"n{i}" for i in range(505)])
        got = listing(ana, "@<- HISTORY 100000", "@-> OK HISTORY #general 500")
        assert history_texts(got, "#general") == [f"Ana n{i}" for i in range(5, 505)]
        got = listing(ana, "@<- HISTORY #general 501", "@-> OK HISTORY #general 500")
        assert len(got) == 500


def test_history_errors(connect: Callable[..., Client]) -> None:
    """HISTORY with n < 1 or junk is BAD_ARGUMENT; an unknown room NO_SUCH_ROOM; `before` alone MISSING_ARGUMENT."""
    ana, = people(connect, "Ana")
    for line in ("@<- HISTORY 0", "@<- HISTORY -5", "@<- HISTORY #general 0", "@<- HISTORY lots",
                 "@<- HISTORY 5 since 0000000000000001", "@<- HISTORY before xyz",
                 "@<- HISTORY 5 after 0000000000000001 extra"):
        err(ana, line, "BAD_ARGUMENT")
    err(ana, "@<- HISTORY before", "MISSING_ARGUMENT")
    err(ana, "@<- HISTORY #nowhere", "NO_SUCH_ROOM")
    err(ana, "@<- HISTORY #no!where", "INVALID_ROOM")
    assert listing(ana, "@<- HISTORY", "@-> OK HISTORY #general 0") == []


def test_history_shows_actions_with_star(connect: Callable[..., Client]) -> None:
    """In HISTORY an action has `*` before the name; the time is UTC with milliseconds."""
    ana, = people(connect, "Ana")
    ana.send("@<- ME baila")
    assert ana.line() == "@-> OK ME #general"
    chat(ana, "hola")
    got = listing(ana, "@<- HISTORY", "@-> OK HISTORY #general 2")
    assert re.fullmatch(rf"@-> HISTORY #general {TIME_RE} \* Ana baila", got[0]), got[0]
    assert re.fullmatch(rf"@-> HISTORY #general {TIME_RE} Ana hola", got[1]), got[1]


def test_history_after_chat_line_includes_it(connect: Callable[..., Client]) -> None:
    """A HISTORY right after a chat line (same packet) already includes that line."""
    ana, = people(connect, "Ana")
    ana.send_raw(b"uno\ndos\n@<- HISTORY 2\n")
    got = ana.lines_until(r"^@-> OK HISTORY ")
    assert got[-1] == "@-> OK HISTORY #general 2"
    assert history_texts(got[:-1], "#general") == ["Ana uno", "Ana dos"]


def test_history_before_and_after_ids(make_server: Callable[..., ServerThread]) -> None:
    """HISTORY n before ID scrolls back; HISTORY n after ID catches up (earliest n after it)."""
    server = make_server(rate=0)
    with Client(server.port) as ana, Client(server.port) as ids:
        ident(ana, "Ana")
        chat(ana, *[f"m{i}" for i in range(10)])
        ident(ids, "Ids")
        assert sync(ana) == [f"@-> JOIN #general Ids {ana_colour(ana, 'Ids')}"]
        assert reply(ids, "@<- PROTO json") == "@-> OK PROTO json"
        ids.send_json({"cmd": "history", "room": "#general", "limit": 10})
        reply_obj = json.loads(ids.line())
        msg_ids = [m["id"] for m in reply_obj["messages"]]
        assert [m["text"] for m in reply_obj["messages"]] == [f"m{i}" for i in range(10)]

        got = listing(ana, f"@<- HISTORY 3 before {msg_ids[5]}", "@-> OK HISTORY #general 3")
        assert history_texts(got, "#general") == ["Ana m2", "Ana m3", "Ana m4"]
        got = listing(ana, f"@<- HISTORY #general before {msg_ids[2]}", "@-> OK HISTORY #general 2")
        assert history_texts(got, "#general") == ["Ana m0", "Ana m1"]
        got = listing(ana, f"@<- HISTORY 3 after {msg_ids[5]}", "@-> OK HISTORY #general 3")
        assert history_texts(got, "#general") == ["Ana m6", "Ana m7", "Ana m8"]
        got = listing(ana, f"@<- HISTORY AFTER {msg_ids[7]}", "@-> OK HISTORY #general 2")
        assert history_texts(got, "#general") == ["Ana m8", "Ana m9"]
        assert listing(ana, f"@<- HISTORY after {msg_ids[9]}", "@-> OK HISTORY #general 0") == []
        assert listing(ana, f"@<- HISTORY before {msg_ids[0]}", "@-> OK HISTORY #general 0") == []
