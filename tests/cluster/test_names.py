"""Names are unique across the nodes of a cluster (a KV create in NATS JetStream).

Three real nodes on the session's nats-server: the same name IDENTIFY'd on
all three at once is given to exactly one, fifty times over; a name is free
again as soon as its user quits, and within seconds when its node is killed
(kill -9 of a real ``tertulia serve --nats`` process); NICK obeys the same
rule.
"""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from tertulia.bus.nats import BEAT, GONE_AFTER
from tertulia.server.nats_server import NatsServer
from tests.cluster.helpers import Nodes, identify
from tests.integration.harness import Client
from tests.integration.test_cli import serve

pytestmark = pytest.mark.slow

ANSWER = re.compile(r"^@-> (OK IDENTIFY|ERR NAME_IN_USE)")




def answer(c: Client) -> str:
    """The answer to an IDENTIFY (skipping nothing else: it is the first line)."""
    return c.until(ANSWER.pattern)


def test_same_name_on_three_nodes_exactly_one_wins(nodes: Nodes) -> None:
    three = nodes(3)
    for round_ in range(50):
        name = f"N{round_}"
        clients = [Client(node.port) for node in three]
        try:
            barrier = threading.Barrier(len(clients))

            def go(c: Client, barrier: threading.Barrier, name: str) -> None:
                barrier.wait()
                c.send(f"@<- IDENTIFY {name}")

            senders = [threading.Thread(target=go, args=(c, barrier, name)) for c in clients]
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            answers = [answer(c) for c in clients]
            winners = [a for a in answers if a.startswith("@-> OK IDENTIFY")]
            assert len(winners) == 1, (round_, answers)
        finally:
            for c in clients:
                c.close()


def test_quit_frees_the_name_at_once_nick_is_checked_too(nodes: Nodes) -> None:
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as other:
        identify(ana, "Ana")
        other.send("@<- IDENTIFY ana")
        assert answer(other).startswith("@-> ERR NAME_IN_USE")
        identify(other, "Bo")
        # NICK to a name held on another node is refused; to a free one, granted.
        ana.send("@<- NICK BO")
        assert ana.until(r"^@-> (OK NICK|ERR)").startswith("@-> ERR NAME_IN_USE")
        ana.send("@<- NICK Ana2")
        assert ana.until(r"^@-> (OK NICK|ERR)") == "@-> OK NICK Ana2"
        # The old name was released, the new one is held.
        with Client(b.port) as third:
            third.send("@<- IDENTIFY Ana")
            assert answer(third).startswith("@-> OK IDENTIFY Ana")
        with Client(b.port) as fourth:
            fourth.send("@<- IDENTIFY ANA2")
            assert answer(fourth).startswith("@-> ERR NAME_IN_USE")
        ana.send("@<- QUIT")
        ana.closed()
    with Client(b.port) as again:
        again.send("@<- IDENTIFY Ana2")
        assert answer(again).startswith("@-> OK IDENTIFY Ana2")


def test_names_of_a_killed_node_are_free_at_once(
    nodes: Nodes, nats_server: NatsServer, nats_prefix: str
) -> None:
    """kill -9 of Zed's node: IDENTIFY Zed elsewhere wins once the node has been silent
    for GONE_AFTER seconds (a beat and a half), long before the claim's TTL."""
    (b,) = nodes(1)
    args = ("--nats", nats_server.url, "--nats-prefix", nats_prefix)
    with serve(*args) as (proc, port, _, _):
        with Client(port) as zed:
            identify(zed, "Zed")
            with Client(b.port) as rival:
                rival.send("@<- IDENTIFY Zed")
                assert answer(rival).startswith("@-> ERR NAME_IN_USE")
                proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                proc.wait()
                while True:  # as a client does when its own name is still held
                    rival.send("@<- IDENTIFY Zed")
                    got = answer(rival)
                    if got.startswith("@-> OK IDENTIFY Zed"):
                        break
                    assert got.startswith("@-> ERR NAME_IN_USE"), got
                    assert time.monotonic() - killed < GONE_AFTER + BEAT + 1, got
                    time.sleep(0.1)
                assert time.monotonic() - killed < GONE_AFTER + BEAT + 1


def test_a_name_just_quit_claimed_on_two_nodes_at_once_exactly_one_wins(nodes: Nodes) -> None:
    """Its claim is stale but maybe not yet deleted: of two claims, one wins, 20 times over."""
    a, b, c = nodes(3)
    for round_ in range(20):
        name = f"Q{round_}"
        holder = Client(a.port)
        identify(holder, name)
        rivals = [Client(b.port), Client(c.port)]
        try:
            go = threading.Barrier(3)

            def claim(rival: Client, go: threading.Barrier = go, name: str = name) -> None:
                go.wait()
                rival.send(f"@<- IDENTIFY {name}")

            threads = [threading.Thread(target=claim, args=(r,)) for r in rivals]
            for t in threads:
                t.start()
            go.wait()
            holder.send("@<- QUIT")
            for t in threads:
                t.join()
            holder.closed()
            answers = [answer(r) for r in rivals]
            winners = [x for x in answers if x.startswith("@-> OK IDENTIFY")]
            assert len(winners) <= 1, (round_, answers)
            if not winners:  # both came before the QUIT: now one of them gets it
                rivals[0].send(f"@<- IDENTIFY {name}")
                assert answer(rivals[0]).startswith("@-> OK IDENTIFY"), round_
        finally:
            holder.close()
            for r in rivals:
                r.close()


def test_an_account_registered_on_one_node_holds_on_the_others(nodes: Nodes) -> None:
    a, b = nodes(2)
    with Client(a.port) as ana:
        identify(ana, "Ana")
        ana.send("@<- REGISTER secreto1")
        assert ana.until(r"^@-> (OK REGISTER|ERR)") == "@-> OK REGISTER Ana"
        ana.send("@<- QUIT")
        ana.closed()
    deadline = time.monotonic() + 5
    while True:  # the account reaches node b through the bucket's watcher
        with Client(b.port) as other:
            other.send("@<- IDENTIFY Ana")
            got = other.until(r"^@-> (OK IDENTIFY|ERR)")
            if got.startswith("@-> ERR AUTH_REQUIRED"):
                other.send("@<- IDENTIFY Ana secreto1")
                assert other.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> OK IDENTIFY Ana")
                return
        assert time.monotonic() < deadline, got
        time.sleep(0.1)


def test_a_ban_given_on_one_node_holds_on_the_others(nodes: Nodes) -> None:
    a, b = nodes(2, operators=("Root",))
    with Client(a.port) as first:
        identify(first, "Root")
        first.send("@<- REGISTER secreto1")
        assert first.until(r"^@-> (OK REGISTER|ERR)") == "@-> OK REGISTER Root"
        first.send("@<- QUIT")
        first.closed()
    with Client(a.port) as root:
        root.send("@<- IDENTIFY Root secreto1")
        assert root.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> OK IDENTIFY Root")
        root.send("@<- BAN troll flooding")
        assert root.until(r"^@-> (OK BAN|ERR)") == "@-> OK BAN troll"
    with Client(b.port) as troll:  # no wait: the ban is in the stream before the OK
        troll.send("@<- IDENTIFY Troll")
        got = troll.until(r"^@-> (OK IDENTIFY|ERR)")
        assert got.startswith("@-> ERR FORBIDDEN") and "flooding" in got, got


def test_a_ban_sends_away_the_users_of_every_node(nodes: Nodes) -> None:
    """BAN on node a: Troll, online on node b, gets BYE KICKED with the reason; Bob stays."""
    a, b = nodes(2, operators=("Root",))
    with Client(a.port) as first:
        identify(first, "Root")
        first.send("@<- REGISTER secreto1")
        assert first.until(r"^@-> (OK REGISTER|ERR)") == "@-> OK REGISTER Root"
        first.send("@<- QUIT")
        first.closed()
    with Client(b.port) as troll, Client(b.port) as bob, Client(a.port) as root:
        identify(troll, "Troll")
        identify(bob, "Bob")
        root.send("@<- IDENTIFY Root secreto1")
        assert root.until(r"^@-> (OK IDENTIFY|ERR)").startswith("@-> OK IDENTIFY Root")
        root.send("@<- BAN troll flooding")
        assert root.until(r"^@-> (OK BAN|ERR)") == "@-> OK BAN troll"
        bye = troll.until(r"^@-> BYE ")
        assert bye.startswith("@-> BYE KICKED ") and "flooding" in bye, bye
        troll.closed()
        assert bob.until(r"^@-> QUIT Troll ").startswith("@-> QUIT Troll")
        bob.send("@<- PING still")
        assert bob.until(r"^@-> OK PING") == "@-> OK PING still"


def test_room_modes_set_on_one_node_hold_on_the_others(nodes: Nodes) -> None:
    """MODE +i on node a: Bob on node b is refused; MODE -i: he gets in (in the stream's order)."""
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bob:
        identify(ana, "Ana")
        identify(bob, "Bob")
        ana.send("@<- JOIN #den")
        assert ana.until(r"^@-> (OK JOIN|ERR)") == "@-> OK JOIN #den"
        ana.send("@<- MODE #den +i")
        assert ana.until(r"^@-> (OK MODE|ERR)") == "@-> OK MODE #den +i"
        bob.send("@<- JOIN #den")  # no wait: the barrier orders it after the MODE
        got = bob.until(r"^@-> (OK JOIN|ERR)")
        assert got == "@-> ERR FORBIDDEN #den is invite-only; ask its creator for an INVITE", got
        ana.send("@<- MODE #den -i")
        assert ana.until(r"^@-> (OK MODE|ERR)") == "@-> OK MODE #den"
        bob.send("@<- JOIN #den")
        assert bob.until(r"^@-> (OK JOIN|ERR)") == "@-> OK JOIN #den"
