"""Moderation and private messages across the nodes of a cluster (real nats-server).

Each user is put on a chosen node, so that every case crosses nodes: the
operator or creator on node a, the user acted upon on node b.  KICK, MUTE,
the NOTICEs of MODE, VOICE and INVITE, and bans travel in the stream's
order; ANNOUNCE and MSG are asked of the other nodes, and their OK waits
for the answer.
"""

from __future__ import annotations

import re
import threading

import pytest

from tests.cluster.helpers import Nodes, identify
from tests.integration.harness import Client, ServerThread

pytestmark = pytest.mark.slow

PASSWORD = "secreto1"


def operator(node: ServerThread) -> Client:
    """Root, registered and identified with its password on ``node`` (caller closes it)."""
    with Client(node.port) as first:
        identify(first, "Root")
        first.send(f"@<- REGISTER {PASSWORD}")
        assert first.until(r"^@-> (OK REGISTER|ERR)") == "@-> OK REGISTER Root"
        first.send("@<- QUIT")
        first.closed()
    root = Client(node.port)
    root.send(f"@<- IDENTIFY Root {PASSWORD}")
    assert root.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> OK IDENTIFY Root")
    return root


def plain(text: str) -> str:
    """Text without its colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def answer(c: Client, line: str, verb: str) -> str:
    """Send a command; its OK or ERR, skipping the presence lines before it."""
    c.send(line)
    return c.until(rf"^@-> (OK {verb}|ERR) ")


def test_kick_reaches_the_user_and_the_members_of_the_other_node(nodes: Nodes) -> None:
    a, b = nodes(2, operators=("Root",))
    root = operator(a)
    with root, Client(b.port) as ana, Client(a.port) as cy:
        identify(ana, "Ana")
        identify(cy, "Cy")
        for c in (root, ana, cy):
            assert answer(c, "@<- JOIN #club", "JOIN") == "@-> OK JOIN #club"
        assert answer(root, "@<- KICK #club Ana spam", "KICK") == "@-> OK KICK #club Ana"
        assert ana.until(r"^@-> LEAVE #club ") == "@-> LEAVE #club Ana kicked by Root: spam"
        assert cy.until(r"^@-> LEAVE #club ") == "@-> LEAVE #club Ana kicked by Root: spam"
        got = answer(ana, "@<- SAY #club still here?", "SAY")
        assert got.startswith("@-> ERR NOT_IN_ROOM"), got
        root.send("@<- PING k")  # the actor got only its OK: no LEAVE line
        assert root.lines_until(r"^@-> OK PING k$") == ["@-> OK PING k"]
        assert answer(root, "@<- KICK #general Ana", "KICK") == "@-> OK KICK #general Ana"
        bye = ana.until(r"^@-> BYE ")
        assert bye == "@-> BYE KICKED kicked by Root", bye
        assert ana.closed()
        assert cy.until(r"^@-> QUIT Ana ") == "@-> QUIT Ana kicked by Root"


def test_mute_voice_and_mode_cross_nodes_in_order(nodes: Nodes) -> None:
    """Ana (node a) creates #club; Bob (node b) is told, and refused, at once after each OK."""
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bob:
        identify(ana, "Ana")
        identify(bob, "Bob")
        assert answer(ana, "@<- JOIN #club", "JOIN") == "@-> OK JOIN #club"
        assert answer(bob, "@<- JOIN #club", "JOIN") == "@-> OK JOIN #club"
        assert answer(ana, "@<- MUTE #club Bob", "MUTE") == "@-> OK MUTE #club Bob"
        assert bob.until(r"^@-> NOTICE ") == "@-> NOTICE Ana muted you in #club"
        got = answer(bob, "@<- SAY #club hola", "SAY")
        assert got == "@-> ERR FORBIDDEN you are muted in #club", got
        assert answer(ana, "@<- UNMUTE #club Bob", "UNMUTE") == "@-> OK UNMUTE #club Bob"
        assert bob.until(r"^@-> NOTICE ") == "@-> NOTICE Ana lets you speak in #club again"
        assert answer(bob, "@<- SAY #club back", "SAY") == "@-> OK SAY #club"
        assert plain(ana.until(r"^#club ")) == "#club <Bob> back"
        assert answer(ana, "@<- MODE #club +m", "MODE") == "@-> OK MODE #club +m"
        notice = bob.until(r"^@-> NOTICE ")
        assert notice == "@-> NOTICE Ana set #club +m: moderated, anyone joins", notice
        got = answer(bob, "@<- SAY #club may I?", "SAY")
        assert got.startswith("@-> ERR FORBIDDEN #club is moderated"), got
        assert answer(ana, "@<- VOICE #club Bob", "VOICE") == "@-> OK VOICE #club Bob"
        assert bob.until(r"^@-> NOTICE ") == "@-> NOTICE you may speak in #club (voice from Ana)"
        assert answer(bob, "@<- SAY #club thanks", "SAY") == "@-> OK SAY #club"
        assert answer(ana, "@<- INVITE #den Bob", "INVITE").startswith("@-> ERR")  # no #den
        assert answer(ana, "@<- JOIN #den", "JOIN") == "@-> OK JOIN #den"
        assert answer(ana, "@<- INVITE #den Bob", "INVITE") == "@-> OK INVITE #den Bob"
        assert bob.until(r"^@-> NOTICE ") == "@-> NOTICE Ana invites you to #den: @<- JOIN #den"


def test_a_node_started_later_knows_the_mutes(nodes: Nodes) -> None:
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bob:
        identify(ana, "Ana")
        identify(bob, "Bob")
        assert answer(ana, "@<- JOIN #club", "JOIN") == "@-> OK JOIN #club"
        assert answer(ana, "@<- MUTE #club Cy 1h", "MUTE").startswith("@-> OK MUTE #club Cy ")
        (c,) = nodes(1)
        with Client(c.port) as cy:
            identify(cy, "Cy")
            assert answer(cy, "@<- JOIN #club", "JOIN") == "@-> OK JOIN #club"
            got = answer(cy, "@<- SAY #club hi", "SAY")
            assert re.fullmatch(r"@-> ERR FORBIDDEN you are muted in #club for \d+ s more", got)


def test_announce_counts_the_connections_of_every_node(nodes: Nodes) -> None:
    a, b = nodes(2, operators=("Root",))
    root = operator(a)
    with root, Client(b.port) as bob, Client(b.port) as anon, Client(a.port) as cy:
        identify(bob, "Bob")
        identify(cy, "Cy")
        got = answer(root, "@<- ANNOUNCE restart at 18:00", "ANNOUNCE")
        assert got == "@-> OK ANNOUNCE 3", got
        for c in (bob, anon, cy):
            assert c.until(r"^@-> NOTICE ") == "@-> NOTICE restart at 18:00"


def test_unban_on_one_node_lets_the_name_back_on_another(nodes: Nodes) -> None:
    a, b = nodes(2, operators=("Root",))
    root = operator(a)
    with root:
        assert answer(root, "@<- BAN troll", "BAN") == "@-> OK BAN troll"
        with Client(b.port) as troll:  # no wait: the ban is in the stream before the OK
            troll.send("@<- IDENTIFY Troll")
            assert troll.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> ERR FORBIDDEN")
        assert answer(root, "@<- UNBAN troll", "UNBAN") == "@-> OK UNBAN troll"
        with Client(b.port) as troll:
            troll.send("@<- IDENTIFY Troll")
            assert troll.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> OK IDENTIFY Troll")


def test_msg_ok_means_delivered_even_when_the_recipient_quits_at_once(nodes: Nodes) -> None:
    """MSG on node a while Bob QUITs on node b: OK only if Bob got it, else NO_SUCH_USER."""
    a, b = nodes(2)
    outcomes = set()
    with Client(a.port) as ana:
        identify(ana, "Ana")
        for i in range(15):
            bob = Client(b.port)
            identify(bob, "Bob")
            ana.send("@<- PING ready")  # Ana's node knows Bob now (the barrier)
            ana.until(r"^@-> OK PING ready$")
            go = threading.Barrier(2)

            def quit_bob(bob: Client = bob, go: threading.Barrier = go) -> None:
                go.wait()
                bob.send("@<- QUIT")

            quitter = threading.Thread(target=quit_bob)
            quitter.start()
            go.wait()
            got = answer(ana, f"@<- MSG Bob n{i}", "MSG")
            quitter.join()
            assert bob.closed()
            seen = plain(bob.buf.decode(errors="replace"))
            received = f"*Ana* n{i}\n" in seen
            if got == "@-> OK MSG Bob":
                assert received, (i, bob.buf[-300:])
                outcomes.add("delivered")
            else:
                assert got == "@-> ERR NO_SUCH_USER nobody called Bob is online", got
                assert not received
                outcomes.add("refused")
            bob.close()
    assert outcomes  # which of the two happened depends on the race; both are correct
