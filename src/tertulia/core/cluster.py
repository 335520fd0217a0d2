"""The users of the other nodes of a cluster, as this node knows them.

The hub owns one :class:`Cluster` when its bus is shared (``--nats``).  It
sends this node's presence changes to the others through the bus, and keeps
what the others send: :attr:`Cluster.users` (by name key) and each room's
``remote`` members.  Remote users appear in USERS and ROOMS, their JOIN,
LEAVE, QUIT, NICK and TOPIC lines reach the local members as local ones do
(PROTOCOL.md §3, with the same ``--presence-limit``), and MSG reaches them
on their node.

Moderation crosses nodes too: a KICK, a MUTE, a ban and the NOTICEs of
MODE, VOICE and INVITE go in the stream, so each node applies them at their
place in the order; an ANNOUNCE and a private message are asked of the
nodes that hold their recipients, and the sender's reply waits for their
answers.  A node that stops or falls silent is reported by the bus
(NODE_LOST): its users quit.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from tertulia.core.colors import xterm256
from tertulia.core.ports import (
    ANNOUNCED,
    AUTH,
    BANNED,
    DELIVERED,
    GONE,
    IN_ROOM,
    JOINED,
    KICKED,
    LEFT,
    MODES,
    MUTED,
    NAME_LOST,
    NODE_LOST,
    NOTICE,
    PRIVATE,
    RECOLORED,
    RENAMED,
    TOPIC,
    UNBANNED,
    USER_OFF,
    USER_ON,
    Answered,
    Ban,
    Bus,
    ClusterEvent,
)
from tertulia.core.rooms import MAX_LISTED, Room
from tertulia.core.session import VARIANT_JSON, VARIANT_TEXT_COLOR
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.errors import ByeCode, ProtocolError
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
        #: How many room events (ordered with the messages) this node has announced.
        self.ordered = 0
        bus.attach(self.receive, self.state)

    # ------------------------------------------------------------ this node's changes

    def joined(self, room: Room, s: Session) -> None:
        if s.key in self.users:  # the name moved here (its node died): forget it quietly
            self._forget(self.users[s.key])
        self.ordered += 1
        self.bus.announce(
            ClusterEvent(JOINED, key=s.key or "", name=s.name or "", color=s.color, room=room.name)
        )

    def left(self, room: Room, s: Session, reason: str) -> None:
        self.ordered += 1
        self.bus.announce(ClusterEvent(LEFT, key=s.key or "", room=room.name, text=reason))

    def quit(self, key: str, reason: str) -> None:
        self.ordered += 1
        self.bus.announce(ClusterEvent(USER_OFF, key=key, text=reason))

    def renamed(self, old_key: str, s: Session) -> None:
        if s.key in self.users:
            self._forget(self.users[s.key])
        self.ordered += 1
        self.bus.announce(ClusterEvent(RENAMED, key=old_key, new_name=s.name or ""))

    def topic(self, room: Room, s: Session, text: str) -> None:
        self.ordered += 1
        self.bus.announce(ClusterEvent(TOPIC, room=room.name, name=s.name or "", text=text))

    def room_changed(self, room: Room) -> None:
        """A room's modes or lists changed here (stored): the other nodes take them."""
        self.ordered += 1
        state = {
            "creator": room.creator,
            "moderated": room.moderated,
            "invite_only": room.invite_only,
            "voiced": sorted(room.voiced),
            "invited": sorted(room.invited),
        }
        self.bus.announce(ClusterEvent(MODES, room=room.name, text=json.dumps(state)))

    def recolored(self, s: Session) -> None:
        self.ordered += 1
        self.bus.announce(ClusterEvent(RECOLORED, key=s.key or "", color=s.color))

    def private(
        self, to: RemoteUser, s: Session, text: str, mid: str, ts: str, done: Answered
    ) -> None:
        """Ask ``to``'s node to deliver a private message: ``done`` gets DELIVERED or not."""
        event = ClusterEvent(
            PRIVATE, key=to.key, name=s.name or "", color=s.color, text=text, mid=mid, ts=ts
        )
        self.bus.ask(to.node, event, done)

    # ------------------------------------------------------------ moderation

    def kicked(self, room: Room, user: RemoteUser, actor: Session, reason: str) -> None:
        """A user of another node is kicked from ``room``: its node sends it away.

        The members here, but not ``actor``, see it leave now; out of
        ``#general`` the user's QUIT comes later from its node.
        """
        self.ordered += 1
        self.bus.announce(
            ClusterEvent(KICKED, key=user.key, room=room.name, name=actor.name or "", text=reason)
        )
        if room is not self.hub.general:
            self._drop(room, user, reason, actor)

    def notice(self, text: str, *, key: str = "", room: Room | None = None) -> None:
        """A NOTICE for a user (by name key) or a room's members, on the other nodes."""
        self.ordered += 1
        self.bus.announce(ClusterEvent(NOTICE, key=key, room=room.name if room else "", text=text))

    def muted(self, room: Room, key: str, until: float | None, on: bool = True) -> None:
        """A mute given (``until``: its end in epoch seconds, None for none) or lifted."""
        self.ordered += 1
        self.bus.announce(self._mute_event(room, key, until, on))

    @staticmethod
    def _mute_event(room: Room, key: str, until: float | None, on: bool) -> ClusterEvent:
        ts = "" if until is None else repr(until)
        return ClusterEvent(MUTED, key=key, room=room.name, ts=ts, text="" if on else "off")

    def banned(self, ban: Ban) -> None:
        """A ban given here: the other nodes take it, and send away whom it covers."""
        self.ordered += 1
        self.bus.announce(ClusterEvent(BANNED, text=json.dumps(asdict(ban), ensure_ascii=False)))

    def unbanned(self, kind: str, key: str) -> None:
        self.ordered += 1
        self.bus.announce(ClusterEvent(UNBANNED, text=json.dumps({"kind": kind, "key": key})))

    def checked(self, key: str, address: str, ok: bool) -> None:
        """A password check's verdict here: every node's throttle counts it."""
        self.ordered += 1
        self.bus.announce(ClusterEvent(AUTH, key=key, text=address, ts="ok" if ok else "fail"))

    def tell_everyone(self, text: str, done: Callable[[int], None]) -> None:
        """ANNOUNCE on every other node; ``done`` gets how many connections they told."""
        nodes = self.bus.peers()
        if not nodes:
            done(0)
            return
        waiting, told = len(nodes), 0

        def answered(answer: str | None) -> None:
            nonlocal waiting, told
            waiting -= 1
            if answer is not None and answer.isdigit():
                told += int(answer)
            if waiting == 0:
                done(told)

        for node in nodes:
            self.bus.ask(node, ClusterEvent(ANNOUNCED, text=text), answered)

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
        clock, wall = self.hub.clock(), self.hub.wallclock()
        for room in self.hub.rooms.values():
            for key, until in room.muted.items():
                end = None if until is None else wall + (until - clock)
                out.append(self._mute_event(room, key, end, True))
        return out

    # ------------------------------------------------------------ the others' changes

    def receive(self, ev: ClusterEvent) -> str | None:
        """An event from another node (or NODE_LOST from the bus); the answer if asked.

        Events that do not hold what their kind needs (a valid name, room or
        colour) are logged and dropped: another node's bug must not put
        broken lines on this node's connections.
        """
        if not _sound(ev):
            logger.warning("dropping a malformed cluster event %r", ev)
            return None
        kind = ev.kind
        if kind == PRIVATE:
            return self._private(ev)
        if kind == ANNOUNCED:
            return str(self._announced(ev.text))
        self._apply(ev)
        return None

    def _apply(self, ev: ClusterEvent) -> None:
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
        elif kind == NAME_LOST:
            holder = self.hub.users.get(ev.key)
            if holder is not None:
                holder.end(
                    ByeCode.SERVER_SHUTDOWN,
                    "this server was cut off from the cluster and your name was taken "
                    "meanwhile; connect again",
                )
        elif kind == USER_ON:
            self._user(ev)
        elif kind == RENAMED:
            self._renamed(ev)
        elif kind == TOPIC:
            room = self.hub.room(ev.room)
            room.topic = ev.text
            self._tell(room.members.values(), lambda enc: enc.topic(room.name, ev.name, ev.text))
        elif kind == MODES:
            self._modes(ev)
        elif kind == RECOLORED:
            user = self.users.get(ev.key)
            if user is not None and user.node == ev.node:
                self._recolor(user, ev.color)
        elif kind == KICKED:
            self._kicked(ev)
        elif kind == NOTICE:
            self._notice(ev)
        elif kind == MUTED:
            self._muted(ev)
        elif kind in (BANNED, UNBANNED):
            self._ban(ev)
        elif kind == AUTH:
            self.hub.throttle.heard(ev.key, ev.text, ev.ts == "ok")
        else:
            logger.debug("unknown cluster event %r", ev)

    def _user(self, ev: ClusterEvent) -> RemoteUser:
        user = self.users.get(ev.key)
        if user is None or user.node != ev.node:
            if user is not None:  # the name moved to another node: the old holder is gone
                self._gone(user, "Quit")
            user = self.users[ev.key] = RemoteUser(ev.key, ev.name, ev.color, ev.node)
            self.hub.colors.hold(user.color)
        elif ev.color:
            self._recolor(user, ev.color)
        return user

    def _recolor(self, user: RemoteUser, color: str) -> None:
        """Keep the colours of remote users held, so that new users draw others."""
        if color != user.color:
            self.hub.colors.release(user.color)
            self.hub.colors.hold(color)
            user.color = color

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
        if user is not None and room is not None:
            self._drop(room, user, ev.text)

    def _drop(
        self, room: Room, user: RemoteUser, reason: str, actor: Session | None = None
    ) -> None:
        """A remote user is out of a room: the members here (but ``actor``) see it leave."""
        if room.remote.pop(user.key, None) is None:
            return
        user.rooms.pop(room.key, None)
        if self.count(room) + 1 <= self.hub.settings.presence_limit:
            self.hub._tell(
                room.members.values(), actor, lambda enc: enc.leave(room.name, user.name, reason)
            )

    def _forget(self, user: RemoteUser) -> None:
        """A remote user whose name a local user now holds: gone, without a QUIT line."""
        del self.users[user.key]
        self.hub.colors.release(user.color)
        for room in user.rooms.values():
            room.remote.pop(user.key, None)
        user.rooms.clear()

    def _gone(self, user: RemoteUser, reason: str) -> None:
        """A remote user quit (or its node was lost): tell who shared a room with it."""
        if self.users.get(user.key) is user:
            del self.users[user.key]
            self.hub.colors.release(user.color)
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

    def _modes(self, ev: ClusterEvent) -> None:
        """Another node changed a room's modes or lists: take them (bad ones are dropped)."""
        try:
            v = json.loads(ev.text)
            moderated, invite_only = bool(v["moderated"]), bool(v["invite_only"])
            voiced = {str(k) for k in v["voiced"]}
            invited = {str(k) for k in v["invited"]}
            creator = str(v.get("creator", ""))
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping bad room modes %r", ev.text[:200])
            return
        room = self.hub.room(ev.room)
        room.stored = True
        room.moderated, room.invite_only = moderated, invite_only
        room.voiced, room.invited = voiced, invited
        if creator:
            room.creator = creator

    def _kicked(self, ev: ClusterEvent) -> None:
        """A KICK from another node: send the user away if it is here, else drop it."""
        room = self.hub.find_room(ev.room)
        if room is None:
            return
        target = self.hub.users.get(ev.key)
        if target is not None:
            if target.closed or ev.key not in room.members:
                return
            if room is self.hub.general:
                target.end(ByeCode.KICKED, ev.text)
            else:
                self.hub.kick_out(room, target, ev.text, tell_cluster=False)
            return
        user = self.users.get(ev.key)
        if user is not None and room is not self.hub.general:
            self._drop(room, user, ev.text)

    def _notice(self, ev: ClusterEvent) -> None:
        if ev.key:
            target = self.hub.users.get(ev.key)
            if target is not None:
                target.send(target.enc.notice(ev.text))
        elif ev.room:
            room = self.hub.find_room(ev.room)
            if room is not None:
                self._tell(room.members.values(), lambda enc: enc.notice(ev.text))

    def _muted(self, ev: ClusterEvent) -> None:
        room = self.hub.room(ev.room)
        if ev.text == "off":
            room.muted.pop(ev.key, None)
            return
        if ev.key not in room.muted and len(room.muted) >= MAX_LISTED:
            logger.warning("dropping a mute in %s: %d already", room.name, MAX_LISTED)
            return
        try:
            end = float(ev.ts) if ev.ts else None
        except ValueError:
            logger.warning("dropping a mute with a bad end %r", ev.ts[:40])
            return
        clock = self.hub.clock()
        room.muted[ev.key] = None if end is None else clock + (end - self.hub.wallclock())

    def _ban(self, ev: ClusterEvent) -> None:
        try:
            v = json.loads(ev.text)
            if ev.kind == UNBANNED:
                self.hub.ban_changed(str(v["kind"]), str(v["key"]), None)
                return
            expires = v["expires"]
            ban = Ban(
                str(v["kind"]),
                str(v["key"]),
                str(v["target"]),
                str(v["operator"]),
                str(v["reason"]),
                float(v["created"]),
                None if expires is None else float(expires),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping a bad ban %r", ev.text[:200])
            return
        self.hub.ban_changed(ban.kind, ban.key, ban)
        if ban.active(self.hub.wallclock()):
            cut = self.hub.enforce(ban)
            if cut:
                logger.info("ban of %s from another node: %d cut here", ban.target, cut)

    def _announced(self, text: str) -> int:
        """An operator's ANNOUNCE from another node: every connection here is told."""
        sessions = list(self.hub.sessions.values())
        self._tell(sessions, lambda enc: enc.notice(text))
        return len(sessions)

    def _private(self, ev: ClusterEvent) -> str:
        target = self.hub.users.get(ev.key)
        if target is None or target.name is None or target.closed:
            return GONE  # gone meanwhile: the sender's node says so
        if target.variant == VARIANT_JSON:
            target.send(
                jsonmode.private_line(ev.mid, ev.name, target.name, ev.color, ev.text, ev.ts)
            )
        else:
            xterm = textmode_xterm(ev.color) if target.variant == VARIANT_TEXT_COLOR else None
            target.send(textmode.private_line(ev.name, ev.text, xterm))
        return DELIVERED

    # ------------------------------------------------------------ helpers

    @staticmethod
    def count(room: Room) -> int:
        """Members on every node."""
        return len(room.members) + len(room.remote)

    def _tell(self, members: Iterable[Session], build: Build) -> None:
        """One line to members, built once per encoder (the hub's way; no actor to skip)."""
        self.hub._tell(members, None, build)


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _sound(ev: ClusterEvent) -> bool:
    """True if ``ev`` has valid fields for its kind."""
    try:
        if ev.kind in (USER_ON, JOINED, IN_ROOM, PRIVATE):
            validate_name(ev.name)
            if _COLOR.fullmatch(ev.color) is None:
                return False
        if ev.kind in (JOINED, IN_ROOM, LEFT, TOPIC, MODES, KICKED, MUTED) or (
            ev.kind == NOTICE and ev.room
        ):
            validate_room(ev.room)
        if ev.kind == RENAMED:
            validate_name(ev.new_name)
        if ev.kind == RECOLORED and _COLOR.fullmatch(ev.color) is None:
            return False
    except ProtocolError:
        return False
    if ev.kind in (USER_ON, JOINED, IN_ROOM) and ev.key != fold(ev.name):
        return False
    if ev.kind in (NOTICE, ANNOUNCED, AUTH) and not ev.text:
        return False
    keyless = (TOPIC, MODES, NOTICE, ANNOUNCED, BANNED, UNBANNED)
    return ev.kind == NODE_LOST or bool(ev.node and (ev.key or ev.kind in keyless))


def textmode_xterm(color: str) -> int | None:
    """The xterm-256 colour of a ``#rrggbb`` colour from another node (None if bad)."""
    try:
        return xterm256(color)
    except ValueError:
        return None
