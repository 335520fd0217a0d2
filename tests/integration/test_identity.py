"""IDENTIFY, NICK, REGISTER and QUIT over real TCP, in text mode (PROTOCOL.md §2, §3, §5).

Absence of a line is proved with :func:`sync`: a PING sent after the action
is answered after every line the action caused, so "nothing before OK PING"
means "nothing at all", without sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tertulia.core.colors import PALETTE
from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import COLOR_RE, err_explained, ident, people, reply, sync

# ---------------------------------------------------------------- IDENTIFY


def test_welcome_then_identify_exact_ok_line(connect: Callable[..., Client]) -> None:
    """WELCOME is the first line; OK IDENTIFY carries the name and a palette colour, nothing else."""
    ana = connect()
    assert re.fullmatch(r"@-> WELCOME tertulia \S+ \S.*", ana.welcome), ana.welcome
    ana.send("@<- IDENTIFY Ana")
    ok = ana.line()
    match = re.fullmatch(rf"@-> OK IDENTIFY Ana ({COLOR_RE})", ok)
    assert match, ok
    assert match.group(1) in PALETTE
    assert sync(ana) == []  # #general is empty: no HISTORY lines, and no JOIN line to oneself


def test_verb_is_case_insensitive(connect: Callable[..., Client]) -> None:
    """`@<- identify` works like `@<- IDENTIFY`."""
    ana = connect()
    assert re.fullmatch(rf"@-> OK IDENTIFY Ana {COLOR_RE}", reply(ana, "@<- identify Ana"))


NEED_IDENTIFY = [
    "@<- REGISTER secret",
    "@<- NICK Bob",
    "@<- JOIN #tapas",
    "@<- LEAVE #tapas",
    "@<- LEAVE",
    "@<- SAY #general hola",
    "@<- ME waves",
    "@<- MSG Bob hola",
    "@<- USERS",
    "@<- USERS #general",
    "@<- ROOMS",
    "@<- TOPIC #general",
    "@<- TOPIC #general new topic",
    "@<- HISTORY",
    "@<- HISTORY #general 5",
    "@<- COLOR",
    "@<- COLOR #112233",
    "hola a todos",
]


def test_every_other_verb_needs_identify(connect: Callable[..., Client]) -> None:
    """Before IDENTIFY, every verb but HELP/PING/PONG/PROTO/COLORS/QUIT (and chat) is NOT_IDENTIFIED."""
    ana, bob = connect(), connect()
    ident(bob, "Bob")
    for line in NEED_IDENTIFY:
        err_explained(ana, line, "NOT_IDENTIFIED")
    assert sync(bob) == [], "nothing an unidentified user sent reached anyone"
    ident(ana, "Ana")  # the connection is still usable


def test_verbs_allowed_before_identify(connect: Callable[..., Client]) -> None:
    """HELP, PING, PONG, PROTO, COLORS work before IDENTIFY; QUIT ends the connection."""
    ana = connect()
    ana.send("@<- HELP PING")
    assert ana.line().startswith("@-> HELP PING @<- PING")
    assert ana.line() == "@-> OK HELP"
    assert reply(ana, "@<- PING abc") == "@-> OK PING abc"
    ana.send("@<- PONG abc")
    assert reply(ana, "@<- COLORS off") == "@-> OK COLORS off"  # PONG had no reply
    assert reply(ana, "@<- COLORS on") == "@-> OK COLORS on"
    assert reply(ana, "@<- PROTO text") == "@-> OK PROTO text"
    ident(ana, "Ana")
    assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"
    assert ana.closed()


def test_quit_before_identify(connect: Callable[..., Client]) -> None:
    """QUIT works before IDENTIFY: BYE QUIT, then the server closes."""
    ana = connect()
    assert reply(ana, "@<- QUIT not today") == "@-> BYE QUIT not today"
    assert ana.closed()


def test_already_identified(connect: Callable[..., Client]) -> None:
    """A second IDENTIFY, with the same name or another, is ALREADY_IDENTIFIED and changes nothing."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    err_explained(ana, "@<- IDENTIFY Ana", "ALREADY_IDENTIFIED")
    err_explained(ana, "@<- IDENTIFY Carla", "ALREADY_IDENTIFIED")
    assert sync(bob) == []
    carla = connect()
    ident(carla, "Carla")  # the name was not taken by the refused IDENTIFY


BAD_NAMES = [
    "1ana",            # starts with a digit
    "_ana",            # starts with _
    "-ana",
    ".ana",
    "\u0301ana",       # starts with a combining mark
    "ana!",
    "an#a",
    "ana@home",
    "a" * 33,          # too long
    "\ufb01" * 17,     # 17 characters typed, 34 in NFKC form: too long
    "ana\x1b[31m",     # escape sequence
    "ana\x07",
    "ana\u202e",       # bidi override
    "ana\u2066",
    "ana\x7f",
    "\u2460ana",       # circled digit one: NFKC is "1ana"
]


def test_invalid_names(connect: Callable[..., Client]) -> None:
    """Names break the rules of §2 (on their NFKC form) get INVALID_NAME; the user stays unnamed."""
    ana = connect()
    for name in BAD_NAMES:
        err_explained(ana, f"@<- IDENTIFY {name}", "INVALID_NAME")
    err_explained(ana, "@<- IDENTIFY", "MISSING_ARGUMENT")
    err_explained(ana, "@<- USERS", "NOT_IDENTIFIED")
    ident(ana, "Ana")


GOOD_NAMES = [
    "a" * 32,              # longest
    "Z",                   # shortest
    "Ana_B-2.x",
    "Jos\u00e9",
    "Zoe\u0308",           # combining diaeresis after the first letter
    "\u03a9\u03bc\u03ad\u03b3\u03b1",  # Greek
    "\u674e\u5c0f\u9f99",  # CJK
    "a\u0661\u0662",       # Arabic-Indic digits (Nd)
    "\ufb01x",             # ligature fi: NFKC "fix"; shown as typed
    "\ufb01" * 16,         # 16 typed, 32 in NFKC form: just fits
    "\u2170van",           # small roman numeral one (Nl): NFKC "ivan" starts with a letter
]


def test_valid_names_shown_as_typed(connect: Callable[..., Client]) -> None:
    """Every name of §2's alphabet is accepted and echoed exactly as typed, in OK and in USERS."""
    clients = people(connect, *GOOD_NAMES, colors=True)
    clients[0].send("@<- USERS")
    listed = clients[0].lines_until(r"^@-> OK USERS ")
    assert listed[-1] == f"@-> OK USERS {len(GOOD_NAMES)}"
    names = {line.split(" ")[3] for line in listed[:-1]}
    assert names == set(GOOD_NAMES)


@pytest.mark.parametrize("first,second", [
    ("Ana", "ANA"), ("Ana", "ana"), ("Ana", "\uff41\uff4e\uff41"), ("\uff41\uff4e\uff41", "Ana"),
    ("ANA", "\uff21\uff4e\uff41"), ("Stra\u00dfe", "STRASSE"), ("Jos\u00e9", "Jose\u0301"),
])
def test_name_in_use_case_and_width(connect: Callable[..., Client], first: str, second: str) -> None:
    """Names collide after NFKC and casefolding (`Ana`, `ANA`, `ａｎａ`); the first keeps its spelling."""
    one, two = connect(), connect()
    ident(one, first)
    err_explained(two, f"@<- IDENTIFY {second}", "NAME_IN_USE")
    err_explained(two, "@<- USERS", "NOT_IDENTIFIED")  # still nobody
    one.send("@<- USERS")
    listed = one.lines_until(r"^@-> OK USERS ")
    assert listed == [f"@-> USER * {first} {listed[0].split()[-1]}", "@-> OK USERS 1"]


def test_name_free_again_after_quit(connect: Callable[..., Client]) -> None:
    """Once its holder quits, a name (in any spelling) can be taken again."""
    ana, bob = connect(), connect()
    ident(ana, "Ana")
    err_explained(bob, "@<- IDENTIFY aNA", "NAME_IN_USE")
    ana.send("@<- QUIT")
    assert ana.closed()
    ident(bob, "aNA")


def test_distinct_colours_while_free(connect: Callable[..., Client]) -> None:
    """The first users get distinct palette colours; a colour freed by a QUIT goes to the next user."""
    clients = [connect() for _ in PALETTE]
    colours = [ident(c, f"user{i}") for i, c in enumerate(clients)]
    assert len(set(colours)) == len(PALETTE)
    assert set(colours) == set(PALETTE)
    clients[5].send("@<- QUIT")
    assert clients[5].closed()
    late = connect()
    sync(clients[0])  # the QUIT has been handled by now
    assert ident(late, "late") == colours[5], "the only free colour"
    extra = connect()
    assert ident(extra, "extra") in PALETTE  # every colour held: any palette colour will do


# ---------------------------------------------------------------- NICK


def test_nick_seen_by_room_sharers_not_by_actor(connect: Callable[..., Client]) -> None:
    """NICK: the actor gets only OK NICK; everyone sharing a room gets one NICK line, even if sharing two."""
    ana, bob, cy = people(connect, "Ana", "Bob", "Cy", colors=True)
    assert reply(ana, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    assert reply(bob, "@<- JOIN #tapas") == "@-> OK JOIN #tapas"
    sync(ana)
    sync(cy)
    assert reply(ana, "@<- NICK Anita") == "@-> OK NICK Anita"
    assert sync(ana) == []
    assert sync(bob) == ["@-> NICK Ana Anita"]  # shares #general and #tapas: one line
    assert sync(cy) == ["@-> NICK Ana Anita"]
    bob.send("@<- USERS #tapas")
    listed = bob.lines_until(r"^@-> OK USERS ")
    assert [line.split()[3] for line in listed[:-1]] == ["Anita", "Bob"]
    ident(connect(), "Ana")  # the old name is free


def test_nick_case_change_of_own_name(connect: Callable[..., Client]) -> None:
    """Changing only the case of one's own name is allowed and announced."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- NICK ANA") == "@-> OK NICK ANA"
    assert sync(bob) == ["@-> NICK Ana ANA"]
    assert reply(ana, "@<- NICK ANA") == "@-> OK NICK ANA"
    assert sync(bob) == [], "no NICK line when nothing changed"


def test_nick_errors(connect: Callable[..., Client]) -> None:
    """NICK to a name in use (any case/width) is NAME_IN_USE; bad names INVALID_NAME; none MISSING_ARGUMENT."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    for name in ("Bob", "BOB", "\uff42\uff4f\uff42"):
        err_explained(ana, f"@<- NICK {name}", "NAME_IN_USE")
    for name in ("1bob", "b!ob", "b\x1bob", "a" * 33):
        err_explained(ana, f"@<- NICK {name}", "INVALID_NAME")
    err_explained(ana, "@<- NICK", "MISSING_ARGUMENT")
    assert sync(bob) == []
    ana.send("@<- USERS")
    assert [line.split()[3] for line in ana.lines_until(r"^@-> OK USERS ")[:-1]] == ["Ana", "Bob"]


# ---------------------------------------------------------------- REGISTER and passwords


def test_register_then_identify_with_password(connect: Callable[..., Client]) -> None:
    """REGISTER protects a name: no password is AUTH_REQUIRED, a wrong one AUTH_FAILED, the right one works."""
    ana = connect()
    colour = ident(ana, "Ana")
    assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
    assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"
    assert ana.closed()
    again = connect()
    err_explained(again, "@<- IDENTIFY Ana", "AUTH_REQUIRED")
    err_explained(again, "@<- IDENTIFY ana", "AUTH_REQUIRED")
    err_explained(again, "@<- IDENTIFY Ana wrong", "AUTH_FAILED")
    err_explained(again, "@<- IDENTIFY Ana S3CRET", "AUTH_FAILED")
    err_explained(again, "@<- USERS", "NOT_IDENTIFIED")
    assert ident(again, "aNa", "s3cret") == colour  # shown as typed, same colour


def test_registered_name_keeps_its_colour(connect: Callable[..., Client]) -> None:
    """A registered user gets its own colour back, even after others came and went."""
    ana = connect()
    colour = ident(ana, "Ana")
    assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
    ana.send("@<- QUIT")
    assert ana.closed()
    others = people(connect, "other0", "other1", "other2", colors=True)
    assert reply(others[0], f"@<- COLOR {colour}") == f"@-> OK COLOR {colour}"
    back = connect()
    assert ident(back, "Ana", "s3cret") == colour
    back.send("@<- USERS")
    assert f"@-> USER * Ana {colour}" in back.lines_until(r"^@-> OK USERS ")


def test_registered_account_survives_restart(make_server: Callable[..., ServerThread]) -> None:
    """Accounts are kept in the store: after a restart the name still needs its password."""
    first = make_server()
    with Client(first.port) as ana:
        colour = ident(ana, "Ana")
        assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
    first.stop()
    second = make_server()
    with Client(second.port) as ana:
        err_explained(ana, "@<- IDENTIFY Ana", "AUTH_REQUIRED")
        assert ident(ana, "Ana", "s3cret") == colour


def test_password_with_spaces_and_ignored_password(connect: Callable[..., Client]) -> None:
    """IDENTIFY's password is the rest of the line; a password for an unregistered name is ignored."""
    ana = connect()
    ident(ana, "Ana", "whatever it is")  # no account: ignored
    assert reply(ana, "@<- REGISTER my long pass phrase") == "@-> OK REGISTER Ana"
    ana.send("@<- QUIT")
    assert ana.closed()
    again = connect()
    err_explained(again, "@<- IDENTIFY Ana my long", "AUTH_FAILED")
    ident(again, "Ana", "my long pass phrase")


def test_register_errors(connect: Callable[..., Client]) -> None:
    """REGISTER without password is MISSING_ARGUMENT, a short one BAD_ARGUMENT, twice FORBIDDEN."""
    ana = connect()
    ident(ana, "Ana")
    err_explained(ana, "@<- REGISTER", "MISSING_ARGUMENT")
    err_explained(ana, "@<- REGISTER abc", "BAD_ARGUMENT")
    assert reply(ana, "@<- REGISTER abcd") == "@-> OK REGISTER Ana"
    err_explained(ana, "@<- REGISTER other", "FORBIDDEN")


def test_registered_name_in_use_while_online(connect: Callable[..., Client]) -> None:
    """While a registered user is online its name is NAME_IN_USE, even with the right password."""
    ana, bob = connect(), connect()
    ident(ana, "Ana")
    assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
    err_explained(bob, "@<- IDENTIFY Ana", "NAME_IN_USE")
    err_explained(bob, "@<- IDENTIFY Ana s3cret", "NAME_IN_USE")


def test_nick_to_registered_name_needs_auth(connect: Callable[..., Client]) -> None:
    """NICK to someone else's registered name (any case) is AUTH_REQUIRED; the owner may change case."""
    ana = connect()
    ident(ana, "Ana")
    assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
    assert reply(ana, "@<- NICK ANA") == "@-> OK NICK ANA"
    ana.send("@<- QUIT")
    assert ana.closed()
    bob, watcher = people(connect, "Bob", "Watcher", colors=True)
    err_explained(bob, "@<- NICK Ana", "AUTH_REQUIRED")
    err_explained(bob, "@<- NICK \uff41\uff4e\uff41", "AUTH_REQUIRED")
    assert sync(watcher) == []
    assert reply(bob, "@<- NICK Roberto") == "@-> OK NICK Roberto"


# ---------------------------------------------------------------- QUIT


def test_quit_with_reason(connect: Callable[..., Client]) -> None:
    """QUIT reason: BYE QUIT reason to the actor, then close; QUIT name reason to everyone sharing a room."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- QUIT see you later") == "@-> BYE QUIT see you later"
    assert ana.closed()
    assert sync(bob) == ["@-> QUIT Ana see you later"]
    bob.send("@<- USERS")
    assert bob.lines_until(r"^@-> OK USERS ")[-1] == "@-> OK USERS 1"


def test_quit_without_reason(connect: Callable[..., Client]) -> None:
    """QUIT alone: BYE QUIT Quit, others see QUIT name Quit."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- quit") == "@-> BYE QUIT Quit"
    assert ana.closed()
    assert sync(bob) == ["@-> QUIT Ana Quit"]


def test_quit_reason_is_scrubbed(connect: Callable[..., Client]) -> None:
    """Escape and bidi characters are removed from a QUIT reason, for the actor and for others."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    assert reply(ana, "@<- QUIT bye\x1b[2J\u202e now\x07") == "@-> BYE QUIT bye[2J now"
    assert ana.closed()
    assert sync(bob) == ["@-> QUIT Ana bye[2J now"]


def test_dropped_connection_is_a_quit(connect: Callable[..., Client]) -> None:
    """A connection closed without QUIT frees the name; others see QUIT name Connection closed."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    ana.close()
    assert bob.line() == "@-> QUIT Ana Connection closed"
    ident(connect(), "Ana")


def test_commands_after_quit_are_not_run(connect: Callable[..., Client]) -> None:
    """Lines sent after QUIT in the same packet are not run: BYE is the last line."""
    ana, bob = people(connect, "Ana", "Bob", colors=True)
    ana.send_raw(b"@<- QUIT\nhello after quit\n@<- PING x\n")
    assert ana.line() == "@-> BYE QUIT Quit"
    assert ana.closed()
    assert ana.buf == b""
    assert sync(bob) == ["@-> QUIT Ana Quit"]
