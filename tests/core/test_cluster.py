"""The hub with a shared bus: name claims, and the other nodes' users (core/cluster.py).

No NATS here: :class:`FakeBus` is the Bus port as a test double (like the
memory store), so each case is exact: a claim answered when the test says,
events from "another node" handed in by the test, and every event this node
announces recorded.  tests/cluster/ runs the same paths on real nodes.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from tertulia.core.colors import PALETTE
from tertulia.core.hub import Hub
from tertulia.core.ports import (
    ANNOUNCED,
    AUTH,
    BAN_NAME,
    BANNED,
    DELIVERED,
    GONE,
    JOINED,
    KICKED,
    MUTED,
    NAME_LOST,
    NODE_LOST,
    NOTICE,
    PRIVATE,
    RECOLORED,
    RENAMED,
    UNBANNED,
    USER_OFF,
    Account,
    Answered,
    Ban,
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
        self.asked: list[tuple[str, ClusterEvent, Answered]] = []
        self.nodes = ["n2"]
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

    def ask(self, node: str, event: ClusterEvent, done: Answered) -> None:
        self.asked.append((node, event, done))

    def reply(self, answer: str | None) -> None:
        """Answer the oldest asked event."""
        _, _, done = self.asked.pop(0)
        done(answer)

    def peers(self) -> list[str]:
        return list(self.nodes)

    def barrier(self, done: Callable[[], None]) -> None:
        """Nothing stored elsewhere in this double: reached at once."""
        done()

    def hear(self, kind: str, **fields: Any) -> str | None:
        """An event from node "n2"; what this node answers."""
        assert self.listener is not None
        return self.listener(ClusterEvent(kind, node=fields.pop("node", "n2"), **fields))


def world(snapshot: Snapshot | None = None, **settings: Any) -> tuple[World, FakeBus]:
    scheduler = ManualScheduler()
    store = MemoryStore(schedule=scheduler)
    bus = FakeBus()
    hub = Hub(
        CoreSettings(**settings),
        store,
        FakeHasher(scheduler),
        snapshot or Snapshot(),
        clock=FakeClock(),
        wallclock=lambda: WALLCLOCK,
        rng=random.Random(1),
        bus=bus,
    )
    return World(hub, store, scheduler, hub.clock), bus  # type: ignore[arg-type]


def identified(w: World, bus: FakeBus, name: str, password: str = "") -> Any:
    client = w.connect()
    client.feed(f"@<- IDENTIFY {name} {password}".rstrip())
    w.run()  # the password check, if any
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
    assert ana.do("@<- MSG bo hola", "@<- PING after") == []  # waits for Bo's node
    node, event, _ = bus.asked[0]
    assert node == "n2" and event.kind == PRIVATE and event.key == "bo"
    assert event.text == "hola"
    bus.reply(DELIVERED)
    w.run()
    assert ana.take() == ["@-> OK MSG Bo", "@-> OK PING after"]
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


def test_a_private_message_to_someone_gone_meanwhile_is_not_lost_silently() -> None:
    """Bo's node answers GONE (or is gone): NO_SUCH_USER, or kept if Bo has an account."""
    w, bus = world()
    ana = identified(w, bus, "Ana")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#general")
    ana.take()
    ana.feed("@<- MSG Bo hola")
    bus.reply(GONE)
    w.run()
    assert ana.take() == ["@-> ERR NO_SUCH_USER nobody called Bo is online"]
    ana.feed("@<- MSG Bo hola")
    bus.reply("")  # no such node any more
    w.run()
    assert ana.take() == ["@-> ERR NO_SUCH_USER nobody called Bo is online"]
    ana.feed("@<- MSG Bo hola")
    bus.reply(None)  # the node did not answer in time
    w.run()
    got = ana.take()
    assert got[0].startswith("@-> ERR STORE_UNAVAILABLE Bo's server could not be reached"), got
    w.hub.accounts["bo"] = Account("bo", "Bo", "plain$pw", "#123456")
    ana.feed("@<- MSG Bo hola")
    bus.reply(GONE)
    w.run()
    got = ana.take()
    assert got[0].startswith("@-> NOTICE Bo is offline; your message was kept"), got
    assert got[1] == "@-> OK MSG Bo"


def test_private_message_asked_of_this_node() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    answer = bus.hear(PRIVATE, key="ana", name="Bo", color="#123456", text="hi", mid="p", ts="t")
    assert answer == DELIVERED and plain(ana.take()) == ["*Bo* hi"]
    assert bus.hear(PRIVATE, key="cy", name="Bo", color="#123456", text="x", mid="p", ts="t") == GONE


def plain(lines: list[str]) -> list[str]:
    """Lines without their colour codes."""
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def operator_world() -> tuple[World, FakeBus, Any]:
    accounts = [Account("root", "Root", "plain$pw", "#e06c75")]
    w, bus = world(Snapshot(accounts=accounts), operators=("Root",))
    root = identified(w, bus, "Root", "pw")
    assert w.hub.is_operator(root.session)
    return w, bus, root


def test_kick_of_a_user_of_another_node() -> None:
    """The members here see Bo leave (the actor only its OK); Bo's node is told in order."""
    w, bus, root = operator_world()
    ana = identified(w, bus, "Ana")
    root.do("@<- JOIN #club")
    ana.do("@<- JOIN #club")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#general")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#club")
    w.drain()
    assert root.do("@<- KICK #club Bo spam") == ["@-> OK KICK #club Bo"]
    assert ana.take() == ["@-> LEAVE #club Bo kicked by Root: spam"]
    event = bus.announced[-1]
    assert (event.kind, event.key, event.room) == (KICKED, "bo", "#club")
    assert "bo" not in w.hub.rooms["#club"].remote
    assert root.do("@<- KICK #club Bo")[0].startswith("@-> ERR NOT_IN_ROOM")
    # Out of #general: only the event; Bo's QUIT comes from its node.
    assert root.do("@<- KICK #general Bo") == ["@-> OK KICK #general Bo"]
    assert bus.announced[-1].kind == KICKED and ana.take() == []
    assert root.do("@<- KICK #general Nobody")[0].startswith("@-> ERR NO_SUCH_USER")


def test_a_kick_heard_from_another_node() -> None:
    w, bus = world()
    ana = identified(w, bus, "Ana")
    cy = identified(w, bus, "Cy")
    ana.do("@<- JOIN #club")
    cy.do("@<- JOIN #club")
    bus.hear(JOINED, key="dee", name="Dee", color="#123456", room="#club")
    w.drain()
    announced = len(bus.announced)
    bus.hear(KICKED, key="ana", room="#club", name="Root", text="kicked by Root")
    assert ana.take() == ["@-> LEAVE #club Ana kicked by Root"]
    assert cy.take() == ["@-> LEAVE #club Ana kicked by Root"]
    assert len(bus.announced) == announced  # the others heard the KICK already
    assert ana.do("hola") == [] and plain(cy.take()) == ["#general <Ana> hola"]  # in #general
    bus.hear(KICKED, key="dee", room="#club", name="Root", text="kicked by Root")
    assert cy.take() == ["@-> LEAVE #club Dee kicked by Root"]
    bus.hear(KICKED, key="cy", room="#general", name="Root", text="kicked by Root")
    assert cy.take()[-1] == "@-> BYE KICKED kicked by Root"


def test_moderation_notices_mutes_and_bans_across_nodes() -> None:
    w, bus, root = operator_world()
    ana = identified(w, bus, "Ana")
    ana.do("@<- JOIN #club")
    bus.hear(JOINED, key="bo", name="Bo", color="#123456", room="#club")
    w.drain()
    # This node's actions that reach a user or members elsewhere go in the stream.
    root.do("@<- JOIN #club")
    root.do("@<- VOICE #club Bo")
    assert bus.announced[-1] == ClusterEvent(
        NOTICE, key="bo", text="you may speak in #club (voice from Root)"
    )
    root.do("@<- MODE #club +m")
    assert bus.announced[-1] == ClusterEvent(
        NOTICE, room="#club", text="Root set #club +m: moderated, anyone joins"
    )
    root.do("@<- MUTE #club Bo 60s")
    mute, notice = bus.announced[-2:]
    assert (mute.kind, mute.key, mute.room, notice.key) == (MUTED, "bo", "#club", "bo")
    assert float(mute.ts) == WALLCLOCK + 60
    w.drain()
    # And the others' are applied here.
    bus.hear(NOTICE, room="#club", text="Bo set #club -m")
    assert ana.take() == ["@-> NOTICE Bo set #club -m"]
    bus.hear(NOTICE, key="ana", text="you may speak")
    assert ana.take() == ["@-> NOTICE you may speak"]
    bus.hear(MUTED, key="ana", room="#club", ts=repr(WALLCLOCK + 30))
    assert ana.do("@<- SAY #club hola")[0].startswith("@-> ERR FORBIDDEN you are muted")
    w.clock.advance(31)
    bus.hear(MUTED, key="ana", room="#club", text="off")
    bus.hear(MUTED, key="ana", room="#club", ts="")
    assert ana.do("@<- SAY #club hola")[0].startswith("@-> ERR FORBIDDEN you are muted in #club")
    bus.hear(MUTED, key="ana", room="#club", text="off")
    assert ana.do("@<- SAY #club hola")[-1] == "@-> OK SAY #club"
    ban = Ban(BAN_NAME, "ana", "Ana", "Root", "spam", WALLCLOCK, None)
    bus.hear(BANNED, text=json.dumps(asdict(ban)))
    assert ana.take()[-1] == "@-> BYE KICKED banned by Root: spam"
    assert w.hub.bans[BAN_NAME, "ana"] == ban
    bus.hear(UNBANNED, text=json.dumps({"kind": BAN_NAME, "key": "ana"}))
    assert w.hub.bans == {}
    bus.hear(BANNED, text="{not json")  # dropped, nothing breaks
    assert w.hub.bans == {}


def test_announce_waits_for_every_node_and_counts_theirs() -> None:
    w, bus, root = operator_world()
    ana = identified(w, bus, "Ana")
    bus.nodes = ["n2", "n3"]
    root.feed("@<- ANNOUNCE restart")
    assert ana.take() == ["@-> NOTICE restart"] and root.take() == []
    assert [(n, e.kind, e.text) for n, e, _ in bus.asked] == [
        ("n2", ANNOUNCED, "restart"),
        ("n3", ANNOUNCED, "restart"),
    ]
    bus.reply("3")
    bus.reply(None)  # n3 did not answer: not counted
    w.run()
    assert root.take() == ["@-> OK ANNOUNCE 4"]
    assert bus.hear(ANNOUNCED, text="from n2") == "2"  # Root and Ana here
    assert ana.take() == ["@-> NOTICE from n2"]


def test_remote_users_colours_are_not_drawn_while_free() -> None:
    w, bus = world()
    palette = set(PALETTE)
    for i, color in enumerate(sorted(palette)[:-1]):
        bus.hear(JOINED, key=f"u{i}", name=f"U{i}", color=color, room="#general")
    ana = identified(w, bus, "Ana")
    assert ana.session.color == sorted(palette)[-1]  # the one colour nobody holds
    bus.hear(RECOLORED, key="u0", color=sorted(palette)[-1])
    bus.hear(NODE_LOST)
    assert w.hub.colors.draw() in palette


def test_a_name_lost_by_this_node_sends_its_user_away() -> None:
    """The bus found this node's claim taken (it was cut off from NATS): the user goes."""
    w, bus = world()
    ana = identified(w, bus, "Ana")
    bus.hear(NAME_LOST, key="ana")
    assert ana.take()[-1].startswith("@-> BYE SERVER_SHUTDOWN this server was cut off")
    assert "ana" not in w.hub.users


def test_a_name_taken_over_from_a_dead_node_is_not_reported_quitting_later() -> None:
    """Ana's node died; she is back here before it is reported lost: no QUIT for her then."""
    w, bus = world()
    bo = identified(w, bus, "Bo")
    bus.hear(JOINED, key="ana", name="Ana", color="#123456", room="#general")
    assert bo.take() == ["@-> JOIN #general Ana #123456"]
    identified(w, bus, "Ana")  # the claim was taken over (the bus's affair)
    bus.hear(NODE_LOST)
    assert bo.take() == []
    assert bo.do("@<- USERS")[-1] == "@-> OK USERS 2"


def test_password_verdicts_travel_and_count_on_every_node() -> None:
    accounts = [Account("ana", "Ana", "plain$pw", "#e06c75")]
    w, bus = world(Snapshot(accounts=accounts), auth_lock_after=2, auth_exempt=())
    guesser = w.connect("10.0.0.7")
    guesser.take()
    guesser.feed("@<- IDENTIFY Ana nope")
    w.run()
    assert guesser.take() == ["@-> ERR AUTH_FAILED wrong password for that name"]
    assert bus.announced[-1] == ClusterEvent(AUTH, key="ana", text="10.0.0.7", ts="fail")
    bus.hear(AUTH, key="ana", text="10.0.0.8", ts="fail")  # a second guess, on n2
    got = guesser.do("@<- IDENTIFY Ana pw")
    assert got[0].startswith("@-> ERR AUTH_FAILED too many wrong passwords"), got
