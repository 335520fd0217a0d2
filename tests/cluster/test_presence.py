"""Presence and private messages across the nodes of a cluster.

Real nodes on the session's nats-server, text-mode clients on each: JOIN,
LEAVE, TOPIC, NICK and QUIT lines cross nodes; USERS and ROOMS count
everyone; MSG reaches a user of another node; a node started later learns
who is already there; the users of a killed node quit for the others.
Presence travels apart from messages, so tests wait for its lines (bounded)
rather than assume an order with other traffic.
"""

from __future__ import annotations

import signal
import time

import pytest

from tertulia.bus.nats import SILENCE
from tertulia.server.nats_server import NatsServer
from tests.cluster.helpers import Nodes, identify
from tests.integration.harness import Client
from tests.integration.test_cli import serve
from tests.timing import TIMEOUT

pytestmark = pytest.mark.slow




def users(c: Client, room: str = "") -> list[str]:
    """The names USERS lists (for a room, or everyone)."""
    c.send(f"@<- USERS {room}".rstrip())
    lines = c.lines_until(r"^@-> OK USERS ")
    return [line.split()[3] for line in lines if line.startswith("@-> USER ")]


def eventually_users(c: Client, want: list[str], room: str = "") -> None:
    """USERS until it lists exactly ``want`` (presence is asynchronous)."""
    deadline = time.monotonic() + TIMEOUT + SILENCE
    while (got := users(c, room)) != want:
        assert time.monotonic() < deadline, (got, want)
        time.sleep(0.2)  # under the default --rate of 10 lines a second


def test_presence_lines_and_lists_cross_nodes(nodes: Nodes) -> None:
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bo:
        identify(ana, "Ana")
        identify(bo, "Bo")
        assert ana.until(r"^@-> JOIN #general Bo ").startswith("@-> JOIN #general Bo #")
        eventually_users(bo, ["Ana", "Bo"])
        eventually_users(ana, ["Ana", "Bo"], "#general")
        # JOIN and TOPIC in another room.
        ana.send("@<- JOIN #tapas")
        ana.until(r"^@-> OK JOIN #tapas")
        bo.send("@<- JOIN #tapas")
        bo.until(r"^@-> OK JOIN #tapas")
        assert ana.until(r"^@-> JOIN #tapas ").startswith("@-> JOIN #tapas Bo ")
        eventually_users(bo, ["Ana", "Bo"], "#tapas")
        bo.send("@<- ROOMS")
        rooms = bo.lines_until(r"^@-> OK ROOMS ")
        assert any(line.startswith("@-> ROOM #tapas 2") for line in rooms), rooms
        ana.send("@<- TOPIC #tapas bravas")
        ana.until(r"^@-> OK TOPIC")
        assert bo.until(r"^@-> TOPIC ") == "@-> TOPIC #tapas Ana bravas"
        # NICK, LEAVE, MSG, QUIT.
        bo.send("@<- NICK Boris")
        bo.until(r"^@-> OK NICK")
        assert ana.until(r"^@-> NICK ") == "@-> NICK Bo Boris"
        bo.send("@<- LEAVE #tapas")
        bo.until(r"^@-> OK LEAVE")
        assert ana.until(r"^@-> LEAVE ").startswith("@-> LEAVE #tapas Boris")
        ana.send("@<- MSG boris ¿vienes?")
        assert ana.until(r"^@-> (OK MSG|ERR)") == "@-> OK MSG Boris"
        assert bo.until(r"^\*.*Ana.*\* ¿vienes\?$")
        bo.send("@<- QUIT adiós")
        assert ana.until(r"^@-> QUIT ") == "@-> QUIT Boris adiós"
        eventually_users(ana, ["Ana"])


def test_a_node_started_later_knows_who_is_there(nodes: Nodes) -> None:
    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bo:
        identify(ana, "Ana")
        identify(bo, "Bo")
        (c,) = nodes(1)
        with Client(c.port) as cy:
            identify(cy, "Cy")
            eventually_users(cy, ["Ana", "Bo", "Cy"])
            eventually_users(cy, ["Ana", "Bo", "Cy"], "#general")
            cy.send("@<- MSG Ana hola")
            assert cy.until(r"^@-> (OK MSG|ERR)") == "@-> OK MSG Ana"
            assert ana.until(r"^\*.*Cy.*\* hola$")


def test_users_of_a_killed_node_quit_for_the_others(
    nodes: Nodes, nats_server: NatsServer, nats_prefix: str
) -> None:
    (b,) = nodes(1)
    args = ("--nats", nats_server.url, "--nats-prefix", nats_prefix)
    with Client(b.port) as watcher:
        identify(watcher, "Watcher")
        with serve(*args) as (proc, port, _, _), Client(port) as zed:
            identify(zed, "Zed")
            watcher.until(r"^@-> JOIN #general Zed ")
            proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            proc.wait()
            line = watcher.until(r"^@-> QUIT Zed", timeout=SILENCE + TIMEOUT)
            assert line == "@-> QUIT Zed node lost"
            assert time.monotonic() - killed < SILENCE + 3
        eventually_users(watcher, ["Watcher"])


def test_junk_on_the_presence_subjects_is_ignored(
    nodes: Nodes, nats_server: NatsServer, nats_prefix: str
) -> None:
    import asyncio

    import nats

    a, b = nodes(2)
    with Client(a.port) as ana, Client(b.port) as bo:
        identify(ana, "Ana")
        identify(bo, "Bo")

        async def spray() -> None:
            nc = await nats.connect(nats_server.url)
            try:
                for payload in [
                    b"not json",
                    b"[]",
                    b'{"kind": "join"}',
                    b'{"kind": "join", "node": "x", "key": "zz", "name": "Zz", "room": "bad room"}',
                    b'{"kind": "private", "node": "x", "key": "ana", "name": "Evil"}',
                    b'{"kind": "quit", "node": "x", "key": "ana"}',
                    b'{"kind": "nick", "node": "x", "key": "bo", "new_name": ""}',
                    b'{"kind": "what", "node": "x", "extra": 1}',
                    b'{"kind": "color", "node": "x", "key": "ana", "color": 5}',
                ]:
                    await nc.publish(f"{nats_prefix}.ev", payload)
                await nc.flush()
            finally:
                await nc.close()

        asyncio.run(spray())
        # Both nodes still serve, and still see each other.
        ana.send("@<- MSG Bo still here")
        assert ana.until(r"^@-> (OK MSG|ERR)") == "@-> OK MSG Bo"
        assert bo.until(r"^\*.*Ana.*\* still here$")
        eventually_users(ana, ["Ana", "Bo"])
