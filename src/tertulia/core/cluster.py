"""The users of the other nodes of a cluster, as this node knows them.

The hub owns one :class:`Cluster` when its bus is shared (``--nats``).  It
sends this node's presence changes to the others through the bus, and keeps
what the others send: :attr:`Cluster.users` (by name key) and each room's
``remote`` members.  Remote users appear in USERS and ROOMS, their JOIN,
LEAVE, QUIT, NICK and TOPIC lines reach the local members as local ones do
(PROTOCOL.md §3, with the same ``--presence-limit``), and MSG reaches them
on their node.

Presence is best effort and not ordered with room messages: a JOIN line
may come just before or after the first message of its sender.  A node that
stops or falls silent is reported by the bus (NODE_LOST): its users quit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tertulia.core.colors import xterm256
from tertulia.core.ports import (
    IN_ROOM,
    JOINED,
    LEFT,
    NODE_LOST,
    PRIVATE,
    RECOLORED,
    RENAMED,
    TOPIC,
    USER_OFF,
    USER_ON,
    Bus,
    ClusterEvent,
)
from tertulia.core.rooms import Room
from tertulia.core.session import VARIANT_JSON, VARIANT_TEXT_COLOR
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.errors import ProtocolError
from tertulia.protocol.names import fold, validate_name, validate_room

if TYPE_CHECKING:
    from tertulia.core.hub import Hub
    from tertulia.core.session import Session

logger = logging.getLogger(__name__)

Build = Callable[[textmode.TextEncoder | jsonmode.JsonEncoder], bytes]


@dataclass(slots=True, eq=False)
class RemoteUser:
    """A user identified on another node."""

    key: str
    name: str
    color: str
    node: str
    rooms: dict[str, Room] = field(default_factory=dict)


class Cluster:
    """Presence shared with the other nodes through the bus."""

    def __init__(self, hub: Hub, bus: Bus) -> None:
        self.hub = hub
        self.bus = bus
        self.users: dict[str, RemoteUser] = {}
        bus.attach(self.receive, self.state)

    # ------------------------------------------------------------ this node's changes

    def joined(self, room: Room, s: Session) -> None:
        self.bus.announce(
            ClusterEvent(JOINED, key=s.key or "", name=s.name or "", color=s.color, room=room.name)
        )

    def left(self, room: Room, s: Session, reason: str) -> None:
        self.bus.announce(ClusterEvent(LEFT, key=s.key or "", room=room.name, text=reason))

    def quit(self, key: str, reason: str) -> None:
        self.bus.announce(ClusterEvent(USER_OFF, key=key, text=reason))

    def renamed(self, old_key: str, s: Session) -> None:
        self.bus.announce(ClusterEvent(RENAMED, key=old_key, new_name=s.name or ""))

    def topic(self, room: Room, s: Session, text: str) -> None:
        self.bus.announce(ClusterEvent(TOPIC, room=room.name, name=s.name or "", text=text))

    def recolored(self, s: Session) -> None:
        self.bus.announce(ClusterEvent(RECOLORED, key=s.key or "", color=s.color))

    def private(self, to: RemoteUser, s: Session, text: str, mid: str, ts: str) -> None:
        event = ClusterEvent(
            PRIVATE, key=to.key, name=s.name or "", color=s.color, text=text, mid=mid, ts=ts
        )
        self.bus.send(to.node, event)

    def state(self) -> list[ClusterEvent]:
        """This node's users and their rooms, for a node that asks."""
        out: list[ClusterEvent] = []
        for s in list(self.hub.users.values()):
            if s.key is None or s.name is None:
                continue
            out.append(ClusterEvent(USER_ON, key=s.key, name=s.name, color=s.color))
            for room in s.rooms.values():
                out.append(
                    ClusterEvent(IN_ROOM, key=s.key, name=s.name, color=s.color, room=room.name)
                )
        return out

    # ------------------------------------------------------------ the others' changes

    def receive(self, ev: ClusterEvent) -> None:
        """An event from another node (or NODE_LOST from the bus).

        Events that do not hold what their kind needs (a valid name, room or
        colour) are logged and dropped: another node's bug must not put
        broken lines on this node's connections.
        """
        if not _sound(ev):
            logger.warning("dropping a malformed cluster event %r", ev)
            return
        kind = ev.kind
        if kind in (JOINED, IN_ROOM):
            self._joined(ev, tell=kind == JOINED)
        elif kind == LEFT:
            self._left(ev)
        elif kind == USER_OFF:
            user = self.users.get(ev.key)
            if user is not None and user.node == ev.node:
                self._gone(user, ev.text or "Quit")
        elif kind == NODE_LOST:
            for user in [u for u in self.users.values() if u.node == ev.node]:
                self._gone(user, "node lost")
        elif kind == USER_ON:
            self._user(ev)
        elif kind == RENAMED:
            self._renamed(ev)
        elif kind == TOPIC:
            room = self.hub.room(ev.room)
            room.topic = ev.text
            self._tell(room.members.values(), lambda enc: enc.topic(room.name, ev.name, ev.text))
        elif kind == RECOLORED:
            user = self.users.get(ev.key)
            if user is not None and user.node == ev.node:
                user.color = ev.color
        elif kind == PRIVATE:
            self._private(ev)
        else:
            logger.debug("unknown cluster event %r", ev)

    def _user(self, ev: ClusterEvent) -> RemoteUser:
        user = self.users.get(ev.key)
        if user is None or user.node != ev.node:
            if user is not None:  # the name moved to another node: the old holder is gone
                self._gone(user, "Quit")
            user = self.users[ev.key] = RemoteUser(ev.key, ev.name, ev.color, ev.node)
        elif ev.color:
            user.color = ev.color
        return user

    def _joined(self, ev: ClusterEvent, tell: bool) -> None:
        if ev.key in self.hub.users:  # a stale event about a name now held here
            return
        user = self._user(ev)
        room = self.hub.room(ev.room)
        if user.key in room.remote:
            return
        room.remote[user.key] = user
        user.rooms[room.key] = room
        if tell and self.count(room) <= self.hub.settings.presence_limit:
            self._tell(
                room.members.values(), lambda enc: enc.join(room.name, user.name, user.color)
            )

    def _left(self, ev: ClusterEvent) -> None:
        user = self.users.get(ev.key)
        room = self.hub.find_room(ev.room)
        if user is None or room is None or room.remote.pop(user.key, None) is None:
            return
        user.rooms.pop(room.key, None)
        if self.count(room) + 1 <= self.hub.settings.presence_limit:
            self._tell(room.members.values(), lambda enc: enc.leave(room.name, user.name, ev.text))

    def _gone(self, user: RemoteUser, reason: str) -> None:
        """A remote user quit (or its node was lost): tell who shared a room with it."""
        if self.users.get(user.key) is user:
            del self.users[user.key]
        told: dict[int, Session] = {}
        limit = self.hub.settings.presence_limit
        for room in user.rooms.values():
            small = self.count(room) <= limit
            room.remote.pop(user.key, None)
            if small:
                for member in room.members.values():
                    told[member.conn_id] = member
        user.rooms.clear()
        self._tell(told.values(), lambda enc: enc.quit(user.name, reason))

    def _renamed(self, ev: ClusterEvent) -> None:
        user = self.users.get(ev.key)
        if user is None or user.node != ev.node:
            return
        old, new_key = user.name, fold(ev.new_name)
        if new_key != user.key:
            del self.users[user.key]
            self.users[new_key] = user
            for room in user.rooms.values():
                room.remote.pop(user.key, None)
                room.remote[new_key] = user
        user.key, user.name = new_key, ev.new_name
        told: dict[int, Session] = {}
        for room in user.rooms.values():
            for member in room.members.values():
                told[member.conn_id] = member
        self._tell(told.values(), lambda enc: enc.nick(old, ev.new_name))

    def _private(self, ev: ClusterEvent) -> None:
        target = self.hub.users.get(ev.key)
        if target is None or target.name is None:
            return  # gone meanwhile: like a local message to someone who just left
        if target.variant == VARIANT_JSON:
            target.send(
                jsonmode.private_line(ev.mid, ev.name, target.name, ev.color, ev.text, ev.ts)
            )
        else:
            xterm = textmode_xterm(ev.color) if target.variant == VARIANT_TEXT_COLOR else None
            target.send(textmode.private_line(ev.name, ev.text, xterm))

    # ------------------------------------------------------------ helpers

    @staticmethod
    def count(room: Room) -> int:
        """Members on every node."""
        return len(room.members) + len(room.remote)

    @staticmethod
    def _tell(members: Iterable[Session], build: Build) -> None:
        cache: dict[bool, bytes] = {}
        for member in members:
            json_mode = member.variant == VARIANT_JSON
            data = cache.get(json_mode)
            if data is None:
                data = cache[json_mode] = build(member.enc)
            member.send(data)


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _sound(ev: ClusterEvent) -> bool:
    """True if ``ev`` has valid fields for its kind."""
    try:
        if ev.kind in (USER_ON, JOINED, IN_ROOM, PRIVATE):
            validate_name(ev.name)
            if _COLOR.fullmatch(ev.color) is None:
                return False
        if ev.kind in (JOINED, IN_ROOM, LEFT, TOPIC):
            validate_room(ev.room)
        if ev.kind == RENAMED:
            validate_name(ev.new_name)
        if ev.kind == RECOLORED and _COLOR.fullmatch(ev.color) is None:
            return False
    except ProtocolError:
        return False
    if ev.kind in (USER_ON, JOINED, IN_ROOM) and ev.key != fold(ev.name):
        return False
    return ev.kind == NODE_LOST or bool(ev.node and (ev.key or ev.kind == TOPIC))


def textmode_xterm(color: str) -> int | None:
    """The xterm-256 colour of a ``#rrggbb`` colour from another node (None if bad)."""
    try:
        return xterm256(color)
    except ValueError:
        return None
