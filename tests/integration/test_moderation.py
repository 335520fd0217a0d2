"""Operators over real sockets: KICK, BAN, UNBAN, ANNOUNCE, the audit log, bans across restarts.

The server runs with ``operators = ["Root"]``.  Root's rights need Root's
account *and* its password at IDENTIFY; everyone else gets ``FORBIDDEN``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.harness import Client, ClusterThread, ServerThread, spawn_server
from tests.integration.helpers import (
    OPERATOR_VERBS,
    Dial,
    SourceClient,
    StderrLines,
    err,
    reply,
    sync,
)
from tests.timing import TIMEOUT

PASSWORD = "s3cret-root"


def operator(dial: Callable[..., Client], server: ServerThread | int, name: str = "Root"
             ) -> Client:
    """Register ``name`` on a first connection, then identify with the password on a second."""
    first = dial(server) if isinstance(server, ServerThread) else Client(server)
    first.identify(name)
    assert reply(first, f"@<- REGISTER {PASSWORD}") == f"@-> OK REGISTER {name}"
    first.send("@<- QUIT")
    assert first.closed()
    root = dial(server) if isinstance(server, ServerThread) else Client(server)
    root.send("@<- COLORS off")
    root.expect("@-> OK COLORS off")
    root.send(f"@<- IDENTIFY {name} {PASSWORD}")
    root.expect(f"@-> OK IDENTIFY {name} ")
    sync(root)
    return root


def user(dial: Dial, server: ServerThread, name: str, **kwargs: object) -> Client:
    client = dial(server, **kwargs)
    client.send("@<- COLORS off")
    client.expect("@-> OK COLORS off")
    client.identify(name)
    return client


def settle(*clients: Client) -> None:
    """Read every line already on its way (the JOIN lines of those who came after)."""
    for client in clients:
        sync(client)


@pytest.fixture
def mod_server(make_server: Callable[..., ServerThread]) -> ServerThread:
    return make_server(operators=("Root",), history_on_join=0, rate=0)


def test_others_get_forbidden_and_an_operator_needs_its_password(
        mod_server: ServerThread, dial: Dial) -> None:
    """A plain user, and Root before it has an account or without its password, are refused."""
    bob = user(dial, mod_server, "Bob")
    root = user(dial, mod_server, "Root")  # no account yet: no rights
    settle(bob, root)
    for client in (bob, root):
        for line in ("@<- BAN Eva", "@<- UNBAN Eva", "@<- BANS", "@<- ANNOUNCE hi",
                     "@<- KICK #general Bob",
                     "@<- MUTE #general Bob", "@<- MODE #general +m"):
            err(client, line, "FORBIDDEN")
    assert reply(root, f"@<- REGISTER {PASSWORD}") == "@-> OK REGISTER Root"
    err(root, "@<- ANNOUNCE still no", "FORBIDDEN")  # registered now, but no password given
    root.send("@<- QUIT")
    assert root.closed()
    root = dial(mod_server)
    root.send(f"@<- IDENTIFY Root {PASSWORD}")
    root.expect("@-> OK IDENTIFY Root ")
    sync(root)
    bob.until(r"^@-> JOIN #general Root ")
    assert reply(root, "@<- ANNOUNCE now yes") == "@-> OK ANNOUNCE 1"
    assert bob.line() == "@-> NOTICE now yes"
    root.send("@<- NICK Rooty")  # another name: the rights stay with Root
    root.expect("@-> OK NICK Rooty")
    err(root, "@<- ANNOUNCE as Rooty", "FORBIDDEN")
    assert reply(root, "@<- NICK Root") == "@-> OK NICK Root"  # its own account: back
    assert bob.until(r"^@-> NICK Rooty ") == "@-> NICK Rooty Root"
    assert reply(root, "@<- ANNOUNCE back as Root") == "@-> OK ANNOUNCE 1"


def test_help_lists_operator_verbs_to_operators_only(
        mod_server: ServerThread, dial: Dial) -> None:
    bob = user(dial, mod_server, "Bob")
    root = operator(dial, mod_server)

    def verbs(client: Client) -> set[str]:
        client.send("@<- HELP")
        return {line.split()[2] for line in client.lines_until(r"^@-> OK HELP")[:-1]}

    assert not verbs(bob) & set(OPERATOR_VERBS)
    assert set(OPERATOR_VERBS) <= verbs(root)
    bob.send("@<- HELP ban")  # explained to anyone who asks
    assert bob.line().startswith("@-> HELP BAN @<- BAN name|address")


def test_kick_from_a_room_and_from_general(mod_server: ServerThread, dial: Dial) -> None:
    """KICK #room: a LEAVE line with the reason; KICK #general: BYE KICKED, others see QUIT."""
    root = operator(dial, mod_server)
    bob = user(dial, mod_server, "Bob")
    eva = user(dial, mod_server, "Eva")
    settle(root, bob, eva)
    for client in (bob, eva):
        client.send("@<- JOIN #tapas")
        client.expect("@-> OK JOIN #tapas")
    settle(root, bob, eva)
    err(root, "@<- KICK #tapas Nobody", "NO_SUCH_USER")
    err(root, "@<- KICK #nowhere Bob", "NO_SUCH_ROOM")
    err(root, "@<- KICK #tapas Root", "NOT_IN_ROOM")
    assert reply(root, "@<- KICK #tapas Bob calm down") == "@-> OK KICK #tapas Bob"
    assert bob.line() == "@-> LEAVE #tapas Bob kicked by Root: calm down"
    assert eva.line() == "@-> LEAVE #tapas Bob kicked by Root: calm down"
    assert sync(root) == []  # the one who acts gets only its OK
    bob.send("back in general")  # #tapas was Bob's current room: now #general is
    assert root.line() == "#general <Bob> back in general"
    assert reply(root, "@<- KICK #general Bob") == "@-> OK KICK #general Bob"
    assert bob.line() == "@-> BYE KICKED kicked by Root"
    assert bob.closed()
    assert eva.until(r"^@-> QUIT ") == "@-> QUIT Bob kicked by Root"
    again = user(dial, mod_server, "Bob")  # a kick is not a ban
    again.send("@<- PING ok")
    assert again.line() == "@-> OK PING ok"


def test_ban_name_cuts_refuses_identify_and_nick_until_unban(
        mod_server: ServerThread, dial: Dial) -> None:
    root = operator(dial, mod_server)
    troll = user(dial, mod_server, "Troll")
    eva = user(dial, mod_server, "Eva")
    settle(root, troll, eva)
    assert reply(root, "@<- BAN troll flooding") == "@-> OK BAN troll"
    assert troll.line() == "@-> BYE KICKED banned by Root: flooding"
    assert troll.closed()
    assert eva.until(r"^@-> QUIT Troll") == "@-> QUIT Troll banned by Root: flooding"
    if isinstance(mod_server, ClusterThread):
        # Troll's node sends it away when the ban reaches it, and its QUIT reaches
        # Root's node after that, in its own time (docs/explanation/cluster.md).
        assert root.until(r"^@-> QUIT ") == "@-> QUIT Troll banned by Root: flooding"
    else:
        assert sync(root) == ["@-> QUIT Troll banned by Root: flooding"]  # after the OK
    back = dial(mod_server)
    got = err(back, "@<- IDENTIFY TROLL", "FORBIDDEN")
    assert got == "@-> ERR FORBIDDEN TROLL is banned by Root: flooding"
    err(eva, "@<- NICK Troll", "FORBIDDEN")
    err(root, "@<- BAN Root", "FORBIDDEN")  # operators are not banned
    err(root, "@<- UNBAN Nobody", "BAD_ARGUMENT")
    assert reply(root, "@<- BAN 203.0.113.0/24 1d bots").startswith("@-> OK BAN 203.0.113.0/24 ")
    root.send("@<- BANS")
    listed = root.lines_until(r"^@-> OK BANS ")
    assert listed[0] == "@-> BAN troll * Root flooding"  # names first; * = no end
    assert re.fullmatch(r"@-> BAN 203\.0\.113\.0/24 \S+Z Root bots", listed[1]), listed
    assert listed[2] == "@-> OK BANS 2"
    assert reply(root, "@<- UNBAN Troll") == "@-> OK UNBAN Troll"
    back.identify("Troll")


def test_ban_address_and_network(mod_server: ServerThread, dial: Dial) -> None:
    """An address ban cuts the connections from it and turns new ones away; not your own."""
    root = operator(dial, mod_server)  # from 127.0.0.1
    troll = user(dial, mod_server, "Troll", source="127.0.0.2")
    fresh = dial(mod_server, source="127.0.0.2", read_welcome=False)
    fresh.line()  # WELCOME: not identified, still cut by the ban
    settle(root, troll)
    err(root, "@<- BAN 127.0.0.1", "BAD_ARGUMENT")
    err(root, "@<- BAN 127.0.0.0/8", "BAD_ARGUMENT")
    ok = reply(root, "@<- BAN 127.0.0.2 1h bots")
    match = re.fullmatch(r"@-> OK BAN 127\.0\.0\.2 (\S+)", ok)
    assert match and match.group(1).endswith("Z"), ok
    bye = f"@-> BYE KICKED banned by Root until {match.group(1)}: bots"
    assert troll.line() == bye
    assert fresh.line() == bye
    assert sync(root) == [f"@-> QUIT Troll {bye[len('@-> BYE KICKED '):]}"]
    late = dial(mod_server, source="127.0.0.2", read_welcome=False)
    assert late.line() == f"@-> BYE KICKED this address is {bye[len('@-> BYE KICKED '):]}"
    assert late.closed()
    other = dial(mod_server, source="127.0.0.3")  # the ban is of one address
    assert other.welcome.startswith("@-> WELCOME ")
    assert reply(root, "@<- UNBAN 127.0.0.2") == "@-> OK UNBAN 127.0.0.2"
    assert dial(mod_server, source="127.0.0.2").welcome.startswith("@-> WELCOME ")


def test_ban_expires(mod_server: ServerThread, dial: Dial) -> None:
    root = operator(dial, mod_server)
    assert reply(root, "@<- BAN Troll 1s").startswith("@-> OK BAN Troll ")
    early = dial(mod_server)
    err(early, "@<- IDENTIFY Troll", "FORBIDDEN")
    time.sleep(1.1)
    early.identify("Troll")
    settle(root)
    err(root, "@<- UNBAN Troll", "BAD_ARGUMENT")  # nothing left to lift


def test_announce_reaches_every_connection(mod_server: ServerThread, dial: Dial) -> None:
    """A NOTICE to every connection, identified or not; the operator gets OK with the count."""
    root = operator(dial, mod_server)
    bob = user(dial, mod_server, "Bob")
    anon = dial(mod_server)
    sync(root)
    assert reply(root, "@<- ANNOUNCE restart at 18:00 \x1b[2J") == "@-> OK ANNOUNCE 2"
    assert bob.line() == "@-> NOTICE restart at 18:00 [2J"
    assert anon.line() == "@-> NOTICE restart at 18:00 [2J"
    assert sync(root) == []


def test_json_mode_replies(mod_server: ServerThread, dial: Dial) -> None:
    root = operator(dial, mod_server)
    root.send("@<- PROTO json")
    root.expect("@-> OK PROTO json")
    root.send_json({"cmd": "ban", "target": "Troll", "duration": 60, "ref": 1})
    ok = root.json()
    assert ok["type"] == "ok" and ok["cmd"] == "ban" and ok["ref"] == 1, ok
    assert ok["target"] == "Troll" and ok["until"].endswith("Z")
    root.send_json({"cmd": "unban", "target": "Troll", "ref": 2})
    assert root.json() == {"type": "ok", "cmd": "unban", "ref": 2, "target": "Troll"}
    root.send_json({"cmd": "ban", "target": "Troll", "ref": 3})
    assert root.json() == {"type": "ok", "cmd": "ban", "ref": 3, "target": "Troll", "until": ""}
    root.send_json({"cmd": "kick", "room": "#general", "name": "Nobody", "ref": 4})
    assert root.json()["code"] == "NO_SUCH_USER"
    root.send_json({"cmd": "bans", "ref": 5})
    assert root.json() == {"type": "ok", "cmd": "bans", "ref": 5, "count": 1, "bans": [
        {"target": "Troll", "until": "", "operator": "Root", "reason": ""}]}


def test_bans_and_audit_survive_a_restart(tmp_path: Path) -> None:
    """Bans hold after the server process is stopped and started again; the audit log is kept."""
    args = ("--operators", "Root,Ghost", "--history-on-join", "0")
    with spawn_server(*args, tmp_path=tmp_path) as (proc, port):
        root = operator(Client, port)
        assert reply(root, "@<- BAN Troll spam") == "@-> OK BAN Troll"
        assert reply(root, "@<- BAN 127.0.0.2").startswith("@-> OK BAN 127.0.0.2")
        assert reply(root, "@<- KICK #general Root") == "@-> OK KICK #general Root"
        root.close()
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
    with spawn_server(*args, tmp_path=tmp_path) as (proc, port):
        assert proc.stderr is not None
        log = StderrLines(proc)
        troll = Client(port)
        assert err(troll, "@<- IDENTIFY Troll", "FORBIDDEN").endswith("banned by Root: spam")
        banned = SourceClient(port, source="127.0.0.2", read_welcome=False)
        assert banned.line().startswith("@-> BYE KICKED this address is banned by Root")
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
        lines = log.rest()
    assert any("operator Ghost has no account" in line for line in lines), lines
    assert not any("operator Root has no account" in line for line in lines), lines
    conn = sqlite3.connect(tmp_path / "tertulia.db")
    try:
        rows = conn.execute("SELECT operator, action, target FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows == [("Root", "BAN", "Troll"), ("Root", "BAN", "127.0.0.2"),
                    ("Root", "KICK", "#general Root")]
