"""A hypothesis state machine: many sessions, identify/join/leave/nick/say/quit, against a dict model.

After every step the store's answers are run, then the hub's tables are
checked against the model and against each other (STYLE.md §5): names are
unique by key, every identified user is in #general, rooms and users agree,
no closed session lingers, and the colours held match the users online.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tertulia.protocol.names import GENERAL, fold
from tests.core.helpers import Client, World

NAMES = ["ana", "Ana", "ANA", "bob", "Bob", "cy", "eva", "ｅｖａ", "Dee-1"]
ROOMS = ["#general", "#General", "#x", "#X", "#y", "#zz"]
MAX_CLIENTS = 6


@dataclass
class Model:
    """What one connection should be, as far as the model knows."""

    name: str | None = None
    rooms: set[str] = field(default_factory=set)
    current: str = GENERAL
    closed: bool = False

    @property
    def online(self) -> bool:
        return self.name is not None and not self.closed


class ChatMachine(RuleBasedStateMachine):
    clients = Bundle("clients")

    def __init__(self) -> None:
        super().__init__()
        self.world = World.create(rate=0, seed=7)
        self.models: list[Model] = []
        self.sessions: list[Client] = []

    # ------------------------------------------------------------ helpers

    def _online_keys(self) -> dict[str, int]:
        return {fold(m.name): i for i, m in enumerate(self.models) if m.online and m.name}

    def _do(self, i: int, line: str) -> list[str]:
        self.world.drain()
        return self.sessions[i].do(line)

    # ------------------------------------------------------------ rules

    @initialize(target=clients)
    def first(self) -> int:
        return self.connect_new()

    @precondition(lambda self: len(self.models) < MAX_CLIENTS)
    @rule(target=clients)
    def connect(self) -> int:
        return self.connect_new()

    def connect_new(self) -> int:
        client = self.world.connect(address=f"10.0.0.{len(self.models)}")
        self.sessions.append(client)
        self.models.append(Model())
        return len(self.models) - 1

    @rule(i=clients, name=st.sampled_from(NAMES))
    def identify(self, i: int, name: str) -> None:
        m = self.models[i]
        out = self._do(i, f"@<- IDENTIFY {name}")
        if m.closed:
            assert out == []
        elif m.name is not None:
            assert out == [f"@-> ERR ALREADY_IDENTIFIED you are already {m.name}"]
        elif fold(name) in self._online_keys():
            assert out == [f"@-> ERR NAME_IN_USE {name} is taken; choose another name"]
        else:
            assert out[0].startswith(f"@-> OK IDENTIFY {name} #")
            m.name, m.rooms, m.current = name, {GENERAL}, GENERAL

    @rule(i=clients, room=st.sampled_from(ROOMS))
    def join(self, i: int, room: str) -> None:
        m = self.models[i]
        out = self._do(i, f"@<- JOIN {room}")
        if m.closed:
            assert out == []
        elif m.name is None:
            assert out[0].startswith("@-> ERR NOT_IDENTIFIED")
        else:
            shown = self.world.hub.rooms[fold(room)].name
            assert out[-1] == f"@-> OK JOIN {shown}"
            m.rooms.add(fold(room))
            m.current = fold(room)

    @rule(i=clients, room=st.sampled_from(ROOMS))
    def leave(self, i: int, room: str) -> None:
        m = self.models[i]
        out = self._do(i, f"@<- LEAVE {room}")
        key = fold(room)
        if m.closed:
            assert out == []
        elif m.name is None:
            assert out[0].startswith("@-> ERR NOT_IDENTIFIED")
        elif key not in m.rooms:
            assert out == [f"@-> ERR NOT_IN_ROOM you are not in {room}"]
        elif key == GENERAL:
            assert out == ["@-> ERR FORBIDDEN everyone stays in #general"]
        else:
            assert out == [f"@-> OK LEAVE {self.world.hub.rooms[key].name}"]
            m.rooms.discard(key)
            if m.current == key:
                m.current = GENERAL

    @rule(i=clients, name=st.sampled_from(NAMES))
    def nick(self, i: int, name: str) -> None:
        m = self.models[i]
        out = self._do(i, f"@<- NICK {name}")
        if m.closed:
            assert out == []
        elif m.name is None:
            assert out[0].startswith("@-> ERR NOT_IDENTIFIED")
        elif fold(name) != fold(m.name) and fold(name) in self._online_keys():
            assert out == [f"@-> ERR NAME_IN_USE {name} is taken; choose another name"]
        else:
            old = m.name
            assert out == [f"@-> OK NICK {name}"]
            m.name = name
            if name != old:
                for j in self._sharing(i):
                    assert self.sessions[j].take() == [f"@-> NICK {old} {name}"]

    @rule(i=clients, text=st.sampled_from(["hola", "qué tal", "@", "* x"]))
    def say(self, i: int, text: str) -> None:
        m = self.models[i]
        out = self._do(i, text)
        if m.closed:
            assert out == []
            return
        if m.name is None:
            assert out[0].startswith("@-> ERR NOT_IDENTIFIED")
            return
        assert out == []
        room = self.world.hub.rooms[m.current].name
        for j, other in enumerate(self.models):
            got = self.sessions[j].take()
            if j != i and other.online and m.current in other.rooms:
                assert len(got) == 1 and got[0].startswith(f"{room} <")
                assert got[0].endswith(f"{m.name}\x1b[0m> {text}")
            else:
                assert got == []

    @rule(i=clients, given=st.sampled_from([None, "#E06C75", "#000001"]))
    def color(self, i: int, given: str | None) -> None:
        m = self.models[i]
        session = self.sessions[i].session
        old = session.color
        out = self._do(i, "@<- COLOR" + (f" {given}" if given else ""))
        if m.closed:
            assert out == []
        elif m.name is None:
            assert out[0].startswith("@-> ERR NOT_IDENTIFIED")
        else:
            assert out == [f"@-> OK COLOR {session.color}"]
            assert session.color == (given.lower() if given else session.color)
            assert given or session.color != old

    @rule(i=clients, by_quit=st.booleans())
    def quit(self, i: int, by_quit: bool) -> None:
        m = self.models[i]
        sharing = self._sharing(i) if m.online else []
        self.world.drain()
        client = self.sessions[i]
        if by_quit:
            out = client.do("@<- QUIT bye")
            assert out == ([] if m.closed else ["@-> BYE QUIT bye"])
            reason = "bye"
        else:
            client.session.connection_lost()
            self.world.run()
            assert client.take() == []
            reason = "Connection closed"
        if not m.closed:
            for j in sharing:
                assert self.sessions[j].take() == [f"@-> QUIT {m.name} {reason}"]
        m.closed = True

    def _sharing(self, i: int) -> list[int]:
        rooms = self.models[i].rooms
        return [
            j for j, other in enumerate(self.models)
            if j != i and other.online and rooms & other.rooms
        ]

    # ------------------------------------------------------------ invariants

    @invariant()
    def store_has_answered(self) -> None:
        assert self.world.scheduler.pending == 0
        assert not self.world.hub.busy()

    @invariant()
    def names_unique_by_key(self) -> None:
        users = self.world.hub.users
        for key, session in users.items():
            assert session.name is not None and fold(session.name) == key == session.key
        assert len({id(s) for s in users.values()}) == len(users)

    @invariant()
    def users_match_model(self) -> None:
        hub = self.world.hub
        expected = self._online_keys()
        assert set(hub.users) == set(expected)
        for key, i in expected.items():
            session = hub.users[key]
            assert session is self.sessions[i].session
            assert session.name == self.models[i].name

    @invariant()
    def every_identified_user_is_in_general(self) -> None:
        hub = self.world.hub
        assert set(hub.general.members) == set(hub.users)
        for key, session in hub.users.items():
            assert hub.general.members[key] is session

    @invariant()
    def rooms_match_model_and_sessions(self) -> None:
        hub = self.world.hub
        for room in hub.rooms.values():
            expected = {
                fold(m.name) for m in self.models
                if m.online and m.name and room.key in m.rooms
            }
            assert set(room.members) == expected, room
            for key, session in room.members.items():
                assert hub.users[key] is session
                assert session.rooms[room.key] is room
        for i, m in enumerate(self.models):
            session = self.sessions[i].session
            if m.online:
                assert set(session.rooms) == m.rooms
                assert session.current is hub.rooms[m.current]

    @invariant()
    def closed_sessions_are_gone(self) -> None:
        hub = self.world.hub
        for i, m in enumerate(self.models):
            session = self.sessions[i].session
            assert session.closed == m.closed
            if m.closed:
                assert session.conn_id not in hub.sessions
                assert all(session not in r.members.values() for r in hub.rooms.values())
            else:
                assert hub.sessions[session.conn_id] is session
        assert sum(hub.per_address.values()) == len(hub.sessions)

    @invariant()
    def colours_held_match_users_online(self) -> None:
        hub = self.world.hub
        held = hub.colors._held
        assert sum(held.values()) == len(hub.users)
        for color, count in held.items():
            assert count == sum(1 for s in hub.users.values() if s.color == color)


ChatMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None
)
TestChatMachine = ChatMachine.TestCase
