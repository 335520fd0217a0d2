"""The hub with a shared bus: name claims, and the other nodes' users (core/cluster.py).

No NATS here: :class:`FakeBus` is the Bus port as a test double (like the
memory store), so each case is exact: a claim answered when the test says,
events from "another node" handed in by the test, and every event this node
announces recorded.  tests/cluster/ runs the same paths on real nodes.
"""

from __future__ import annotations

import random
from typing import Any

from tertulia.core.hub import Hub
from tertulia.core.ports import (
    JOINED,
    NODE_LOST,
    PRIVATE,
    RENAMED,
    USER_OFF,
    ClaimDone,
    ClusterEvent,
    ClusterListener,
    ClusterState,
    Snapshot,
    StoreUnavailable,
)
from tertulia.core.settings import CoreSettings
from tertulia.store.memory import MemoryStore
from tests.core.helpers import WALLCLOCK, FakeClock, FakeHasher, ManualScheduler, World


class FakeBus:
    """A shared Bus whose claims wait for the test and whose events are recorded."""

    shared = True
    description = "fake"

    def __init__(self) -> None:
        self.claims: list[tuple[str, ClaimDone]] = []
        self.released: list[str] = []
        self.announced: list[ClusterEvent] = []
        self.sent: list[tuple[str, ClusterEvent]] = []
        self.listener: ClusterListener | None = None
        self.state: ClusterState | None = None

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def claim(self, key: str, name: str, done: ClaimDone) -> None:
        self.claims.append((key, done))

    def answer(self, result: bool | StoreUnavailable) -> None:
        """Answer the oldest claim."""
        _, done = self.claims.pop(0)
        done(result)

    def release(self, key: str) -> None:
        self.released.append(key)

    def attach(self, listener: ClusterListener, state: ClusterState) -> None:
        self.listener, self.state = listener, state

    def announce(self, event: ClusterEvent) -> None:
        self.announced.append(event)

    def send(self, node: str, event: ClusterEvent) -> None:
        self.sent.append((node, event))

    def hear(self, kind: str, **fields: Any) -> None:
        """An event from node "n2"."""
        assert self.listener is not None
        self.listener(ClusterEvent(kind, node=fields.pop("node", "n2"), **fields))


def world(**settings: Any) -> tuple[World, FakeBus]:
    scheduler = ManualScheduler()
    store = MemoryStore(schedule=scheduler)
    bus = FakeBus()
    hub = Hub(
        CoreSettings(**settings),
        store,
        FakeHasher(scheduler),
        Snapshot(),
        clock=FakeClock(),
        wallclock=lambda: WALLCLOCK,
        rng=random.Random(1),
        bus=bus,
    )
    return World(hub, store, scheduler, hub.clock), bus  # type: ignore[arg-type]


def identified(w: World, bus: FakeBus, name: str) -> Any:
    client = w.connect()
    client.feed(f"@<- IDENTIFY {name}")
    bus.answer(True)
    w.run()
    assert client.session.name == name, client.take()
    w.drain()
    return client


def test_identify_waits_for_the_claim() -> None:
    w, bus = world()
    ana = w.connect()
    ana.take()  # WELCOME
    ana.feed("@<- IDENTIFY Ana", "@<- PING after")
    assert ana.take() == [] and [key for key, _ in bus.claims] == ["ana"]
    bus.answer(False)
    w.run()
    got = ana.take()
    assert got[0].startswith("@-> ERR NAME_IN_USE") and got[1] == "@-> OK PING after"
    ana.feed("@<- IDENTIFY Ana")
    bus.answer(StoreUnavailable("away"))
    w.run()
    assert ana.take()[0].startswith("@-> ERR STORE_UNAVAILABLE")
    ana.feed("@<- IDENTIFY Ana")
    bus.answer(True)
    w.run()
    assert ana.take()[0].startswith("@-> OK IDENTIFY Ana #")
    joined = [e for e in bus.announced if e.kind == JOINED]
    assert [(e.key, e.room) for e in joined] == [("ana", "#general")]


def test_a_claim_granted_after_the_client_left_is_released() -> None:
    w, bus = world()
    ana = w.connect()
    ana.feed("@<- IDENTIFY Ana")
    ana.session.connection_lost()
    bus.answer(True)
    assert bus.released == ["ana"]
    assert "ana" not in w.hub.users


def test_quit_and_nick_release_and_announce() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    ana.feed("@<- NICK Anita")
    bus.answer(True)
    w.run()
    assert ana.take() == ["@-> OK NICK Anita"]
    assert bus.released == ["ana"]
    assert bus.announced[-1] == ClusterEvent(RENAMED, key="ana", new_name="Anita")
    ana.feed("@<- QUIT bye")
    assert bus.released == ["ana", "anita"]
    assert bus.announced[-1] == ClusterEvent(USER_OFF, key="anita", text="bye")


def test_remote_users_in_lists_presence_and_private_messages() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#general")
    assert ana.take() == ["@-> JOIN #general Bo #123456"]
    assert ana.do("@<- USERS") == [
        "@-> USER * Ana " + ana.color,
        "@-> USER * Bo #123456",
        "@-> OK USERS 2",
    ]
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#tapas")
    assert ana.take() == []  # not in #tapas
    assert "@-> ROOM #tapas 1" in ana.do("@<- ROOMS")
    # MSG to Bo goes to node n2; Bo's to Ana arrives as a private line.
    assert ana.do("@<- MSG bo hola") == ["@-> OK MSG Bo"]
    node, event = bus.sent[-1]
    assert node == "n2" and event.kind == PRIVATE and event.key == "bo"
    assert event.text == "hola"
    bus.hear(PRIVATE, key="ana", name="Bo", color="#123456", text="qué tal", mid="p1", ts="t")
    assert ana.take()[0].endswith("qué tal")
    # Bo renames, then his node is lost: one QUIT line, though he was in two rooms.
    bus.hear(RENAMED, key="bo", new_name="Boris")
    assert ana.take() == ["@-> NICK Bo Boris"]
    ana.do("@<- JOIN #tapas")
    bus.hear(NODE_LOST)
    assert ana.take() == ["@-> QUIT Boris node lost"]
    assert ana.do("@<- USERS")[-1] == "@-> OK USERS 1"


def test_bad_or_stale_events_change_nothing() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    bus.hear(JOINED, key="zz", name="Zz", color="", room="#general")  # no colour
    bus.hear(JOINED, key="xx", name="Yy", color="#123456", room="#general")  # key mismatch
    bus.hear(JOINED, key="ww", name="Ww", color="#123456", room="general")  # bad room
    bus.hear(JOINED, key="ana", name="Ana", color="#123456", room="#general")  # held here
    bus.hear(USER_OFF, key="ana", text="spoof")
    bus.hear("nonsense", key="a")
    assert ana.take() == []
    assert ana.do("@<- USERS")[-1] == "@-> OK USERS 1"
    # A QUIT from a node that does not hold the name is ignored.
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#general")
    bus.hear(USER_OFF, key="bo", node="n3", text="spoof")
    assert ana.take() == ["@-> JOIN #general Bo #123456"]


def test_presence_limit_counts_every_node() -> None:
    w, bus = world(presence_limit=2)
    ana = identified(w, bus, "Ana")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#general")
    bus.hear(JOINED, key="cy", name="Cy", color="#123456", room="#general")
    assert ana.take() == ["@-> JOIN #general Bo #123456"]  # Cy makes three: quiet


def test_state_lists_this_nodes_users_and_rooms() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    ana.do("@<- JOIN #tapas")
    assert bus.state is not None

    def kinds(e: ClusterEvent) -> tuple[str, str, str]:
        return (e.kind, e.key, e.room)

    assert sorted(map(kinds, bus.state())) == [
        ("in-room", "ana", "#general"),
        ("in-room", "ana", "#tapas"),
        ("user", "ana", ""),
    ]
