"""Room moderation over real sockets: MODE +m/+i, VOICE, DEVOICE, INVITE, MUTE, UNMUTE.

A room's creator (the user whose JOIN created it) and operators may
moderate it; everyone else gets ``FORBIDDEN``.  Modes, voices, invitations
and the creator are stored, so they hold across a restart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import Dial, err, reply, sync
from tests.integration.test_moderation import PASSWORD, operator, settle, user


@pytest.fixture
def mod_server(make_server: Callable[..., ServerThread]) -> ServerThread:
    return make_server(operators=("Root",), history_on_join=0, rate=0)


def join(client: Client, room: str) -> None:
    assert reply(client, f"@<- JOIN {room}") == f"@-> OK JOIN {room}"


def test_moderated_room_and_voices(mod_server: ServerThread, dial: Dial) -> None:
    ana = user(dial, mod_server, "Ana")
    bob = user(dial, mod_server, "Bob")
    settle(ana, bob)
    join(ana, "#club")  # Ana creates #club
    join(bob, "#club")
    settle(ana, bob)
    assert reply(bob, "@<- MODE #club") == "@-> OK MODE #club"  # anyone reads the modes
    err(bob, "@<- MODE #club +m", "FORBIDDEN")
    err(bob, "@<- VOICE #club Bob", "FORBIDDEN")
    assert reply(ana, "@<- MODE #club +m") == "@-> OK MODE #club +m"
    assert bob.line() == "@-> NOTICE Ana set #club +m: moderated, anyone joins"
    got = err(bob, "@<- SAY #club hola", "FORBIDDEN")
    assert got == "@-> ERR FORBIDDEN #club is moderated: only voiced users speak"
    err(bob, "hola", "FORBIDDEN")  # a plain line to the current room too
    err(bob, "@<- ME waves", "FORBIDDEN")
    bob.send("@<- SAY #general still fine")  # other rooms are not affected
    assert bob.line() == "@-> OK SAY #general"
    assert ana.line() == "#general <Bob> still fine"
    ana.send("@<- SAY #club the creator speaks")
    assert ana.line() == "@-> OK SAY #club"
    assert bob.line() == "#club <Ana> the creator speaks"
    assert reply(ana, "@<- VOICE #club Bob") == "@-> OK VOICE #club Bob"
    assert bob.line() == "@-> NOTICE you may speak in #club (voice from Ana)"
    bob.send("voiced now")
    assert ana.line() == "#club <Bob> voiced now"
    assert reply(ana, "@<- DEVOICE #club Bob") == "@-> OK DEVOICE #club Bob"
    assert bob.line() == "@-> NOTICE Ana took your voice in #club"
    err(bob, "silenced again", "FORBIDDEN")
    err(ana, "@<- DEVOICE #club Bob", "BAD_ARGUMENT")
    assert reply(ana, "@<- MODE #club -m") == "@-> OK MODE #club"
    bob.send("free again")
    assert ana.until(r"^#club ") == "#club <Bob> free again"


def test_invite_only_room(mod_server: ServerThread, dial: Dial) -> None:
    ana = user(dial, mod_server, "Ana")
    bob = user(dial, mod_server, "Bob")
    settle(ana, bob)
    join(ana, "#den")
    assert reply(ana, "@<- MODE #den +mi") == "@-> OK MODE #den +mi"
    got = err(bob, "@<- JOIN #den", "FORBIDDEN")
    assert got == "@-> ERR FORBIDDEN #den is invite-only; ask its creator for an INVITE"
    assert reply(ana, "@<- INVITE #den bob") == "@-> OK INVITE #den bob"
    assert bob.line() == "@-> NOTICE Ana invites you to #den: @<- JOIN #den"
    join(bob, "#den")
    settle(ana)
    assert reply(ana, "@<- KICK #den Bob") == "@-> OK KICK #den Bob"  # takes the invitation back
    assert bob.line() == "@-> LEAVE #den Bob kicked by Ana"
    err(bob, "@<- JOIN #den", "FORBIDDEN")


def test_mute_unmute_and_expiry(mod_server: ServerThread, dial: Dial) -> None:
    ana = user(dial, mod_server, "Ana")
    bob = user(dial, mod_server, "Bob")
    settle(ana, bob)
    join(ana, "#club")
    join(bob, "#club")
    settle(ana, bob)
    err(bob, "@<- MUTE #club Ana", "FORBIDDEN")
    err(ana, "@<- UNMUTE #club Bob", "BAD_ARGUMENT")
    assert reply(ana, "@<- MUTE #club Bob") == "@-> OK MUTE #club Bob"
    assert bob.line() == "@-> NOTICE Ana muted you in #club"
    assert err(bob, "muted", "FORBIDDEN") == "@-> ERR FORBIDDEN you are muted in #club"
    bob.send("@<- SAY #general elsewhere")
    assert bob.line() == "@-> OK SAY #general"
    assert ana.line() == "#general <Bob> elsewhere"
    assert reply(ana, "@<- UNMUTE #club Bob") == "@-> OK UNMUTE #club Bob"
    assert bob.line() == "@-> NOTICE Ana lets you speak in #club again"
    bob.send("back")
    assert ana.line() == "#club <Bob> back"
    ok = reply(ana, "@<- MUTE #club Bob 1s")
    assert re.fullmatch(r"@-> OK MUTE #club Bob \d{4}-\d\d-\d\dT\S+Z", ok), ok
    assert bob.line().startswith("@-> NOTICE Ana muted you in #club until ")
    got = err(bob, "still muted", "FORBIDDEN")
    assert re.fullmatch(r"@-> ERR FORBIDDEN you are muted in #club for \d+ s more", got), got
    time.sleep(1.1)
    bob.send("the mute is over")
    assert ana.line() == "#club <Bob> the mute is over"


def test_guest_creator_rights_last_one_connection(mod_server: ServerThread, dial: Dial) -> None:
    """A creator without an account moderates only from the connection that created the room."""
    ana = user(dial, mod_server, "Ana")
    join(ana, "#club")
    ana.send("@<- QUIT")
    assert ana.closed()
    again = user(dial, mod_server, "Ana")  # the same name, another connection
    err(again, "@<- MODE #club +m", "FORBIDDEN")


def test_operators_moderate_every_room_and_creators_cannot_touch_them(
        mod_server: ServerThread, dial: Dial) -> None:
    root = operator(dial, mod_server)
    ana = user(dial, mod_server, "Ana")
    settle(root, ana)
    join(ana, "#club")
    join(root, "#club")
    settle(root, ana)
    err(ana, "@<- MUTE #club Root", "FORBIDDEN")
    err(ana, "@<- KICK #club Root", "FORBIDDEN")
    assert reply(root, "@<- MODE #club +m") == "@-> OK MODE #club +m"
    assert ana.line().startswith("@-> NOTICE Root set #club +m")
    root.send("@<- SAY #club an operator speaks anywhere")
    assert root.line() == "@-> OK SAY #club"
    assert ana.line() == "#club <Root> an operator speaks anywhere"
    err(root, "@<- MODE #nowhere +m", "NO_SUCH_ROOM")
    err(ana, "@<- MODE #nowhere +m", "FORBIDDEN")  # no rights: nothing learnt


def test_creator_modes_and_lists_survive_a_restart(
        make_server: Callable[..., ServerThread], dial: Dial) -> None:
    """A registered creator keeps its rights, and the room its modes and lists, after a restart."""
    first = make_server(history_on_join=0, rate=0)
    zoe = user(dial, first, "Zoe")
    assert reply(zoe, f"@<- REGISTER {PASSWORD}") == "@-> OK REGISTER Zoe"
    join(zoe, "#den")
    assert reply(zoe, "@<- MODE #den +i") == "@-> OK MODE #den +i"
    assert reply(zoe, "@<- INVITE #den Bob") == "@-> OK INVITE #den Bob"
    first.stop()
    second = make_server(history_on_join=0, rate=0)
    bob = user(dial, second, "Bob")
    eva = user(dial, second, "Eva")
    settle(bob, eva)
    err(eva, "@<- JOIN #den", "FORBIDDEN")
    join(bob, "#den")
    zoe = dial(second)
    zoe.send(f"@<- IDENTIFY Zoe {PASSWORD}")
    zoe.expect("@-> OK IDENTIFY Zoe ")
    sync(zoe)
    assert reply(zoe, "@<- MODE #den") == "@-> OK MODE #den +i"
    assert reply(zoe, "@<- INVITE #den Eva") == "@-> OK INVITE #den Eva"
    settle(eva)
    join(eva, "#den")
    err(eva, "@<- INVITE #den Ana", "FORBIDDEN")  # an invited member has no rights


def test_json_mode_room_verbs(mod_server: ServerThread, dial: Dial) -> None:
    """The ok objects carry the named fields; refusals are error objects with the codes."""
    ana = user(dial, mod_server, "Ana")
    bob = user(dial, mod_server, "Bob")
    settle(ana, bob)
    ana.send("@<- PROTO json")
    ana.expect("@-> OK PROTO json")

    def ask(**obj: object) -> dict[str, object]:
        ana.send_json({**obj, "ref": "r"})
        while True:
            got = ana.json()
            if got.get("ref") == "r":
                return got

    ask(cmd="join", room="#club")
    assert ask(cmd="mode", room="#club") == {
        "type": "ok", "cmd": "mode", "ref": "r", "room": "#club", "modes": ""}
    assert ask(cmd="mode", room="#club", mode="+m")["modes"] == "+m"
    assert ask(cmd="voice", room="#club", name="Bob") == {
        "type": "ok", "cmd": "voice", "ref": "r", "room": "#club", "name": "Bob"}
    assert ask(cmd="devoice", room="#club", name="Bob")["cmd"] == "devoice"
    assert ask(cmd="invite", room="#club", name="Bob")["name"] == "Bob"
    muted = ask(cmd="mute", room="#club", name="Bob", duration="5m")
    assert muted["cmd"] == "mute" and str(muted["until"]).endswith("Z"), muted
    assert ask(cmd="unmute", room="#club", name="Bob")["cmd"] == "unmute"
    assert ask(cmd="mute", room="#club", name="Bob")["until"] == ""
    refused = ask(cmd="ban", target="Bob")
    assert (refused["type"], refused["code"]) == ("error", "FORBIDDEN")
    refused = ask(cmd="mode", room="#club", mode="+z")
    assert (refused["type"], refused["code"]) == ("error", "BAD_ARGUMENT")
    bob.send("@<- JOIN #club")
    bob.until(r"^@-> OK JOIN #club$")  # after the NOTICEs of voice, invitation and mutes
    assert ask(cmd="kick", room="#club", name="Bob", reason="bye") == {
        "type": "ok", "cmd": "kick", "ref": "r", "room": "#club", "name": "Bob"}
