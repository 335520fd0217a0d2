"""Chat over real TCP in text mode: plain lines, SAY, ME, MSG, scrubbing, errors, HELP, PING, COLOR(S).

PROTOCOL.md §1-§3.  Absence of a line is proved with :func:`sync`: a PING
sent after the action is answered after every line the action caused.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tertulia.core.colors import PALETTE
from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import (
    ALL_VERBS,
    COLOR_RE,
    ROOM_VERBS,
    err,
    ident,
    people,
    reply,
    sync,
)

ESC = "\x1b"

_STEPS = (0, 95, 135, 175, 215, 255)
_XTERM = [(16 + i, (_STEPS[i // 36], _STEPS[(i // 6) % 6], _STEPS[i % 6])) for i in range(216)] + [
    (232 + i, (8 + 10 * i,) * 3) for i in range(24)]


def nearest_xterm(color: str) -> set[int]:
    """The xterm-256 colours (cube and greys) nearest to ``#rrggbb``; several when tied."""
    rgb = (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
    dist = {n: sum((a - b) ** 2 for a, b in zip(rgb, c, strict=False)) for n, c in _XTERM}
    best = min(dist.values())
    return {n for n, d in dist.items() if d == best}


def painted(name: str, color: str) -> str:
    """A regex for ``name`` wrapped in the colour escape of §3."""
    numbers = "|".join(str(n) for n in sorted(nearest_xterm(color)))
    return rf"\x1b\[38;5;(?:{numbers})m{re.escape(name)}\x1b\[0m"


def colour_of(c: Client, name: str) -> str:
    """A user's colour, read with USERS."""
    c.send("@<- USERS")
    for line in c.lines_until(r"^@-> OK USERS "):
        parts = line.split()
        if parts[1] == "USER" and parts[3] == name:
            return parts[4]
    raise AssertionError(f"{name} is not online")


# ---------------------------------------------------------------- plain lines


def test_plain_line_reaches_room_not_sender(connect: Callable[..., Client]) -> None:
    """A plain line goes to every member of the current room, exactly; the sender gets nothing back."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    ana.send("hola a todos")
    assert bob.line() == "#general <Ana> hola a todos"
    assert cy.line() == "#general <Ana> hola a todos"
    assert sync(ana) == []
    for c in (bob, cy):
        assert reply(c, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(bob)
    cy.send("@<- LEAVE")
    assert cy.line() == "@-> OK LEAVE #tapas"
    bob.send("solo tapas")
    assert sync(cy) == []
    assert sync(ana) == []  # not in #tapas
    assert sync(bob) == ["@-> LEAVE #tapas Cy left"]  # and not its own line


def test_order_of_one_sender(make_server: Callable[..., ServerThread]) -> None:
    """One sender's lines arrive in the order sent, each exactly once."""
    server = make_server(rate=0)
    with Client(server.port) as ana, Client(server.port) as bob:
        assert reply(bob, "@<- COLORS off") == "@-> OK COLORS off"
        ident(bob, "Bob")
        ident(ana, "Ana")
        sync(bob)
        ana.send_raw("".join(f"line {i}\n" for i in range(100)).encode())
        assert [bob.line() for _ in range(100)] == [f"#general <Ana> line {i}" for i in range(100)]
        assert sync(bob) == []


def test_colour_escape_around_name_only(connect: Callable[..., Client]) -> None:
    """With colours on, the name (and only it) is wrapped in ESC[38;5;Nm … ESC[0m, N nearest to the colour."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    colour = colour_of(bob, "Ana")
    ana.send("hola")
    line = bob.line()
    assert re.fullmatch(rf"#general <{painted('Ana', colour)}> hola", line), repr(line)
    assert reply(ana, "@<- COLOR #ff0000") == "@-> OK COLOR #ff0000"
    ana.send("en rojo")
    assert bob.line() == "#general <\x1b[38;5;196mAna\x1b[0m> en rojo"
    assert reply(ana, "@<- COLOR #5F87AF") == "@-> OK COLOR #5f87af"
    ana.send("en azul")
    assert bob.line() == "#general <\x1b[38;5;67mAna\x1b[0m> en azul"
    assert reply(ana, "@<- ME waves") == "@-> OK ME #general"
    assert bob.line() == "#general * \x1b[38;5;67mAna\x1b[0m waves"
    assert reply(ana, "@<- MSG Bob psst") == "@-> OK MSG Bob"
    assert bob.line() == "*\x1b[38;5;67mAna\x1b[0m* psst"


def test_colors_off_and_on(connect: Callable[..., Client]) -> None:
    """COLORS off: chat lines without escapes; COLORS on brings them back; only the receiver's setting counts."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- COLOR #ff0000") == "@-> OK COLOR #ff0000"
    assert reply(bob, "@<- COLORS OFF") == "@-> OK COLORS off"
    ana.send("plain")
    assert bob.line() == "#general <Ana> plain"
    assert reply(ana, "@<- ME plain too") == "@-> OK ME #general"
    assert bob.line() == "#general * Ana plain too"
    assert reply(ana, "@<- MSG Bob private") == "@-> OK MSG Bob"
    assert bob.line() == "*Ana* private"
    assert reply(bob, "@<- COLORS on") == "@-> OK COLORS on"
    ana.send("coloured")
    assert bob.line() == "#general <\x1b[38;5;196mAna\x1b[0m> coloured"
    err(bob, "@<- COLORS maybe", "BAD_ARGUMENT")
    err(bob, "@<- COLORS", "MISSING_ARGUMENT")


def test_at_lines_never_coloured(connect: Callable[..., Client]) -> None:
    """`@->` lines (JOIN, USERS, HISTORY, NICK, QUIT…) never contain an escape, colours on or not."""
    ana, = people(connect, "Ana", colors=True)
    bob = connect()
    ident(bob, "Bob")
    bob.send("hola")
    seen = sync(ana)
    for line in ("@<- USERS", "@<- ROOMS", "@<- HISTORY", "@<- HELP"):
        ana.send(line)
        seen += ana.lines_until(r"^@-> OK ")
    assert reply(bob, "@<- NICK Roberto") == "@-> OK NICK Roberto"
    assert reply(bob, "@<- QUIT adios") == "@-> BYE QUIT adios"
    seen += sync(ana)
    at_lines = [line for line in seen if line.startswith("@->")]
    assert len(at_lines) >= 6 and any(line.startswith("@-> QUIT ") for line in at_lines)
    assert all(ESC not in line for line in at_lines), at_lines


# ---------------------------------------------------------------- SAY, ME, MSG


def test_say_sends_text_that_looks_like_a_command(connect: Callable[..., Client]) -> None:
    """SAY #room text: OK SAY #room to the sender; members get the text, even if it starts with @<-."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(ana, "@<- SAY #general @<- QUIT not really") == "@-> OK SAY #general"
    assert bob.line() == "#general <Ana> @<- QUIT not really"
    assert reply(ana, "@<- say #GENERAL @-> OK fake") == "@-> OK SAY #general"
    assert bob.line() == "#general <Ana> @-> OK fake"
    assert sync(ana) == []


def test_say_to_a_room_that_is_not_current(connect: Callable[..., Client]) -> None:
    """SAY reaches the named room even when another room is current."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert sync(bob)[0].startswith("@-> JOIN #tapas Ana ")
    assert reply(ana, "@<- SAY #general to everyone") == "@-> OK SAY #general"
    assert bob.line() == "#general <Ana> to everyone"
    ana.send("to tapas")
    assert bob.line() == "#tapas <Ana> to tapas"


def test_say_errors(connect: Callable[..., Client]) -> None:
    """SAY needs a room (MISSING_ARGUMENT/INVALID_ROOM), a text, and membership (NOT_IN_ROOM)."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    err(ana, "@<- SAY", "MISSING_ARGUMENT")
    err(ana, "@<- SAY #general", "MISSING_ARGUMENT")
    err(ana, "@<- SAY general hola", "INVALID_ROOM")
    err(ana, "@<- SAY #tapas hola", "NOT_IN_ROOM")
    err(ana, "@<- SAY #nowhere hola", "NOT_IN_ROOM")
    assert sync(bob) == []


def test_me_action(connect: Callable[..., Client]) -> None:
    """ME text: OK ME #current to the actor, `#room * name text` to members."""
    ana, bob = people(connect, "Ana", "Bob")
    assert reply(ana, "@<- ME waves at everyone") == "@-> OK ME #general"
    assert bob.line() == "#general * Ana waves at everyone"
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(bob)
    assert reply(ana, "@<- me dances") == "@-> OK ME #tapas"
    assert bob.line() == "#tapas * Ana dances"
    assert sync(ana) == []
    err(ana, "@<- ME", "MISSING_ARGUMENT")


def test_msg_private(connect: Callable[..., Client]) -> None:
    """MSG name text: OK MSG name (as the target typed it); the target gets `*sender* text`; nobody else."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy")
    assert reply(ana, "@<- MSG bob psst, tapas at 9") == "@-> OK MSG Bob"
    assert bob.line() == "*Ana* psst, tapas at 9"
    assert sync(cy) == []
    assert sync(ana) == []
    assert reply(bob, "@<- MSG \uff41\uff4e\uff41 ok") == "@-> OK MSG Ana"
    assert ana.line() == "*Bob* ok"


def test_msg_to_yourself(connect: Callable[..., Client]) -> None:
    """MSG to oneself: the private line, then OK MSG."""
    ana, = people(connect, "Ana")
    ana.send("@<- MSG ana note to self")
    assert ana.line() == "*Ana* note to self"
    assert ana.line() == "@-> OK MSG Ana"


def test_msg_errors(connect: Callable[..., Client]) -> None:
    """MSG to nobody online is NO_SUCH_USER, to an impossible name INVALID_NAME; missing parts MISSING_ARGUMENT."""
    ana, bob = people(connect, "Ana", "Bob")
    err(ana, "@<- MSG Zed hola", "NO_SUCH_USER")
    err(ana, "@<- MSG no!name hola", "INVALID_NAME")
    err(ana, "@<- MSG", "MISSING_ARGUMENT")
    err(ana, "@<- MSG Bob", "MISSING_ARGUMENT")
    bob.send("@<- QUIT")
    assert bob.closed()
    assert sync(ana) == ["@-> QUIT Bob Quit"]
    err(ana, "@<- MSG Bob still there?", "NO_SUCH_USER")


# ---------------------------------------------------------------- scrubbing

DIRTY = "a\x1b[2Jb\x07c\x00d\x08e\x0bf\x1fg\x7fh\x85i\x9bj\u202ak\u202el\u2066m\u2069n\x0co\rp"
CLEAN = "a[2Jbcdefghijklmnop"


def test_controls_removed_from_everything_others_see(connect: Callable[..., Client]) -> None:
    """C0/C1 controls, DEL and bidi characters are removed from messages, actions and private messages."""
    ana, bob = people(connect, "Ana", "Bob")
    ana.send(DIRTY)
    assert bob.line() == f"#general <Ana> {CLEAN}"
    assert reply(ana, f"@<- SAY #general {DIRTY}") == "@-> OK SAY #general"
    assert bob.line() == f"#general <Ana> {CLEAN}"
    assert reply(ana, f"@<- ME {DIRTY}") == "@-> OK ME #general"
    assert bob.line() == f"#general * Ana {CLEAN}"
    assert reply(ana, f"@<- MSG Bob {DIRTY}") == "@-> OK MSG Bob"
    assert bob.line() == f"*Ana* {CLEAN}"
    bob.send("@<- HISTORY 3")
    history = bob.lines_until(r"^@-> OK HISTORY ")
    assert [h.split(" ", 4)[4] for h in history[:-1]] == [f"Ana {CLEAN}", f"Ana {CLEAN}",
                                                         f"* Ana {CLEAN}"]


def test_controls_removed_with_colours_on(connect: Callable[..., Client]) -> None:
    """With colours on, the only escapes a receiver gets are the two around the sender's name."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    ana.send(DIRTY)
    line = bob.line()
    assert line.count(ESC) == 2
    assert re.fullmatch(rf"#general <{painted('Ana', colour_of(bob, 'Ana'))}> {re.escape(CLEAN)}", line)


def test_tab_kept_and_spaces_are_a_message(connect: Callable[..., Client]) -> None:
    """TAB is not in §1's list, so it is kept; a text of spaces is a message."""
    ana, bob = people(connect, "Ana", "Bob")
    ana.send("a\tb")
    assert bob.line() == "#general <Ana> a\tb"
    ana.send("   ")
    assert bob.line() == "#general <Ana>    "


def test_empty_after_scrub_is_bad_argument(connect: Callable[..., Client]) -> None:
    """A text that is empty once controls are removed gets BAD_ARGUMENT and reaches nobody."""
    ana, bob = people(connect, "Ana", "Bob")
    err(ana, "\x1b\x07\u202e", "BAD_ARGUMENT")
    err(ana, "@<- SAY #general \x1b", "BAD_ARGUMENT")
    err(ana, "@<- ME \u2066\u2069", "BAD_ARGUMENT")
    err(ana, "@<- MSG Bob \x00\x7f", "BAD_ARGUMENT")
    assert sync(bob) == []
    bob.send("@<- HISTORY")
    assert bob.lines_until(r"^@-> OK HISTORY ") == ["@-> OK HISTORY #general 0"]


def test_error_lines_carry_no_escapes(connect: Callable[..., Client]) -> None:
    """ERR lines that quote what the user typed quote it scrubbed: `@->` lines never hold an escape."""
    ana, = people(connect, "Ana")
    for line, code in (("@<- DANCE\x1b[31m", "UNKNOWN_COMMAND"),
                       ("@<- MSG \x1b[31mZed hola", "INVALID_NAME"),
                       ("@<- HELP \x1b[31mX", "BAD_ARGUMENT"),
                       ("@<- HISTORY before \x1b[31m", "BAD_ARGUMENT"),
                       ("@<- PING \x1b[31mtok", None)):
        got = reply(ana, line)
        assert ESC not in got, repr(got)
        if code:
            assert got.startswith(f"@-> ERR {code} "), got
        else:
            assert got == "@-> OK PING [31mtok"


# ---------------------------------------------------------------- errors and HELP


def test_unknown_command(connect: Callable[..., Client]) -> None:
    """An unknown verb, or none after @<-, is UNKNOWN_COMMAND (before and after IDENTIFY)."""
    ana = connect()
    err(ana, "@<- DANCE", "UNKNOWN_COMMAND")
    err(ana, "@<-", "UNKNOWN_COMMAND")
    ident(ana, "Ana")
    err(ana, "@<- DANCE salsa", "UNKNOWN_COMMAND")
    err(ana, "@<-   ", "UNKNOWN_COMMAND")
    err(ana, "@<- IDENTIFYX Ana", "UNKNOWN_COMMAND")


def test_missing_argument(connect: Callable[..., Client]) -> None:
    """Verbs whose arguments are required get MISSING_ARGUMENT without them."""
    ana, = people(connect, "Ana")
    for line in ("@<- JOIN", "@<- NICK", "@<- SAY", "@<- SAY #general", "@<- ME", "@<- MSG",
                 "@<- MSG Ana", "@<- TOPIC", "@<- REGISTER", "@<- COLORS", "@<- PROTO"):
        err(ana, line, "MISSING_ARGUMENT")


def test_help_lists_every_command(connect: Callable[..., Client]) -> None:
    """HELP: one `@-> HELP VERB @<- VERB …` line per command of §2, then OK HELP."""
    ana = connect()
    ana.send("@<- HELP")
    lines = ana.lines_until(r"^@-> OK HELP")
    assert lines[-1] == "@-> OK HELP"
    verbs = []
    for line in lines[:-1]:
        match = re.fullmatch(r"@-> HELP ([A-Z]+) @<- ([A-Z]+)\b.*\S", line)
        assert match and match.group(1) == match.group(2), line
        verbs.append(match.group(1))
    assert sorted(verbs) == sorted(ALL_VERBS + ROOM_VERBS)


def test_help_one_verb(connect: Callable[..., Client]) -> None:
    """HELP verb (any case): that command's usage only; an unknown verb is BAD_ARGUMENT."""
    ana, = people(connect, "Ana")
    ana.send("@<- HELP join")
    assert ana.line().startswith("@-> HELP JOIN @<- JOIN #room")
    assert ana.line() == "@-> OK HELP"
    ana.send("@<- help History")
    assert ana.line().startswith("@-> HELP HISTORY @<- HISTORY [#room] [n]")
    assert ana.line() == "@-> OK HELP"
    err(ana, "@<- HELP DANCE", "BAD_ARGUMENT")


# ---------------------------------------------------------------- PING, PONG, COLOR


def test_ping_and_pong(connect: Callable[..., Client]) -> None:
    """PING token: OK PING token; PING alone: OK PING; PONG: no reply at all."""
    ana = connect()
    assert reply(ana, "@<- PING 12345") == "@-> OK PING 12345"
    assert reply(ana, "@<- PING") == "@-> OK PING"
    ana.send("@<- PONG 12345")
    ident(ana, "Ana")
    ana.send("@<- PONG whatever")
    assert reply(ana, "@<- ping after-pong") == "@-> OK PING after-pong"


def test_color_random(connect: Callable[..., Client]) -> None:
    """COLOR alone: a new palette colour, different from the old one, seen by others in USERS."""
    ana, bob = people(connect, "Ana", "Bob")
    old = colour_of(ana, "Ana")
    for _ in range(5):
        got = reply(ana, "@<- COLOR")
        match = re.fullmatch(rf"@-> OK COLOR ({COLOR_RE})", got)
        assert match, got
        new = match.group(1)
        assert new in PALETTE and new != old
        assert colour_of(bob, "Ana") == new
        old = new


def test_color_given(connect: Callable[..., Client]) -> None:
    """COLOR #RRGGBB: that colour (shown in lower case) in USERS, JOIN lines and chat escapes."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- COLOR #A1B2C3") == "@-> OK COLOR #a1b2c3"
    assert colour_of(bob, "Ana") == "#a1b2c3"
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert sync(bob) == ["@-> JOIN #tapas Ana #a1b2c3"]
    ana.send("hola")
    assert re.fullmatch(rf"#tapas <{painted('Ana', '#a1b2c3')}> hola", bob.line())


def test_color_bad_argument(connect: Callable[..., Client]) -> None:
    """A colour not written #RRGGBB is BAD_ARGUMENT, and the colour stays."""
    ana, = people(connect, "Ana")
    before = colour_of(ana, "Ana")
    for bad in ("red", "#12345", "#1234567", "#gg0000", "112233", "#12 3456", "##123456"):
        err(ana, f"@<- COLOR {bad}", "BAD_ARGUMENT")
    assert colour_of(ana, "Ana") == before
