"""The hub: every session, user and room of one server, and the routing between them.

The hub is owned by the event loop thread and has no locks: no method awaits,
so each multi-step change (a rename, a join) is atomic.  It never touches a
socket; it calls the :class:`~tertulia.core.ports.Peer` of each session, and
reaches the disk only through the :class:`~tertulia.core.ports.Store` port.

Delivery path (PROTOCOL.md §4): a room message goes to the store first; when
the store answers (in submission order, on the loop thread) the hub encodes
the message once per wire variant and hands the same bytes to every member.
Because the store answers in order, every member sees one order per room.
A store shared by several nodes (NATS) is *followed*: it completes appends
in the order of its stream and hands the other nodes' messages to
:meth:`Hub.fed`, which delivers them the same way, so the members on every
node see the room in that one order.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial

from tertulia.core.cluster import Cluster
from tertulia.core.colors import ColorBook, xterm256
from tertulia.core.ports import (
    Account,
    Bus,
    Draft,
    PasswordHasher,
    Peer,
    RoomRecord,
    Snapshot,
    Store,
    StoredMessage,
    StoreUnavailable,
)
from tertulia.core.rooms import Room
from tertulia.core.session import (
    VARIANT_JSON,
    VARIANT_TEXT_COLOR,
    Session,
)
from tertulia.core.settings import CoreSettings
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import Verb
from tertulia.protocol.errors import ByeCode, ErrorCode
from tertulia.protocol.messages import Ref
from tertulia.protocol.names import GENERAL, fold

logger = logging.getLogger(__name__)

Handler = Callable[[Session, "object"], None]


def wire_time(epoch: float) -> str:
    """PROTOCOL.md §3 time: UTC, ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    seconds = int(epoch)
    ms = int((epoch - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


class Hub:
    """Users, rooms and routing for one server process.

    Args:
        settings: the limits of PROTOCOL.md §5.
        store: where room messages, rooms and accounts are kept.
        hasher: password hashing off the loop.
        snapshot: what the store held at start.
        clock: monotonic seconds (timers, rate limits).
        wallclock: epoch seconds (message times).
        rng: random source for colours and ping tokens.
        bus: what is shared with other nodes (None or a local bus: nothing).
    """

    def __init__(
        self,
        settings: CoreSettings,
        store: Store,
        hasher: PasswordHasher,
        snapshot: Snapshot,
        *,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        bus: Bus | None = None,
    ) -> None:
        from tertulia.core.handlers import HANDLERS

        self.settings = settings
        self.store = store
        self.hasher = hasher
        self.clock = clock
        self.wallclock = wallclock
        self.rng = rng or random.Random()
        self.handlers = HANDLERS
        self.colors = ColorBook(self.rng)
        self.sessions: dict[int, Session] = {}
        self.users: dict[str, Session] = {}
        self.rooms: dict[str, Room] = {}
        self.accounts: dict[str, Account] = {a.key: a for a in snapshot.accounts}
        self.per_address: Counter[str] = Counter()
        self.stopping = False
        self._next_conn = 0
        self._private_seq = 0
        self._boot = f"{int(wallclock() * 1000):x}"
        for record in snapshot.rooms:
            self.rooms[record.key] = Room(record.key, record.room, record.topic, stored=True)
        self.general = self.room(GENERAL)
        self.bus = bus
        #: True when a name must be claimed across the cluster before it is given.
        self.shared_names = bus is not None and bus.shared
        #: The users of the other nodes, when there are other nodes.
        self.cluster: Cluster | None = None
        if bus is not None and bus.shared:
            self.cluster = Cluster(self, bus)
        #: True when the store has one order across nodes and feeds us theirs.
        self.followed = store.follow(self.fed, self.account_changed)

    # ------------------------------------------------------------ connections

    def connect(self, peer: Peer, address: str, json_mode: bool = False) -> Session:
        """Register a new connection and greet it (or turn it away, PROTOCOL.md §5)."""
        self._next_conn += 1
        session = Session(self, peer, address, self._next_conn, json_mode)
        s = self.settings
        if len(self.sessions) >= s.max_connections or self.per_address[address] >= s.max_per_ip:
            session.send(
                session.enc.bye(
                    ByeCode.TOO_MANY_CONNECTIONS.value, "too many connections; try again later"
                )
            )
            session.closed = True
            peer.close()
            return session
        self.sessions[session.conn_id] = session
        self.per_address[address] += 1
        session.send(
            session.enc.welcome(
                s.server_name, s.version, "Welcome to Tertulia! Identify with: @<- IDENTIFY name"
            )
        )
        return session

    def part(self, session: Session, reason: str) -> None:
        """Forget a session that has ended: free its name, leave its rooms, tell others."""
        if self.sessions.pop(session.conn_id, None) is None:
            return
        self.per_address[session.address] -= 1
        if self.per_address[session.address] <= 0:
            del self.per_address[session.address]
        key = session.key
        if key is None or session.name is None:
            return
        if self.stopping:  # everyone is getting BYE SERVER_SHUTDOWN: no QUIT lines
            for room in session.rooms.values():
                room.members.pop(key, None)
            session.rooms.clear()
            del self.users[key]
            self.colors.release(session.color)
            self._release_name(key)
            if self.cluster is not None:
                self.cluster.quit(key, "server shutdown")
            return
        limit = self.settings.presence_limit
        told: dict[int, Session] = {}
        for room in session.rooms.values():
            small = len(room.members) <= limit
            del room.members[key]
            if small:
                for member in room.members.values():
                    told[member.conn_id] = member
        session.rooms.clear()
        if told:
            lines: dict[int, bytes] = {}
            for member in told.values():
                data = lines.get(member.variant)
                if data is None:
                    data = lines[member.variant] = member.enc.quit(session.name, reason)
                member.send(data)
        del self.users[key]
        self.colors.release(session.color)
        self._release_name(key)
        if self.cluster is not None:
            self.cluster.quit(key, reason)

    def _release_name(self, key: str) -> None:
        if self.shared_names:
            assert self.bus is not None
            self.bus.release(key)

    def pause_reading(self, session: Session) -> None:
        session.peer.pause_reading()

    def resume_reading(self, session: Session) -> None:
        session.peer.resume_reading()

    # ------------------------------------------------------------ timers

    def tick(self) -> None:
        """Enforce the identify and ping timeouts; call about once a second or faster."""
        now = self.clock()
        s = self.settings
        for session in list(self.sessions.values()):
            if session.closed:
                continue
            if session.name is None and now - session.connected_at >= s.identify_timeout > 0:
                session.end(ByeCode.IDENTIFY_TIMEOUT, "no IDENTIFY in time")
                continue
            if s.ping_interval <= 0:
                continue
            quiet = now - session.last_rx
            if session.pinged:
                if quiet >= s.ping_interval + s.ping_timeout:
                    session.end(ByeCode.PING_TIMEOUT, f"no answer for {int(quiet)} s")
            elif quiet >= s.ping_interval:
                session.pinged = True
                session.send(session.enc.ping(f"{self.rng.getrandbits(32):08x}"))

    # ------------------------------------------------------------ rooms

    def room(self, name: str) -> Room:
        """The room of that name, created if new (``name`` already validated)."""
        key = fold(name)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(key, name)
        return room

    def find_room(self, name: str) -> Room | None:
        return self.rooms.get(fold(name))

    def add_member(self, room: Room, session: Session) -> None:
        """Put a session in a room and tell the members (PROTOCOL.md §3 presence)."""
        assert session.key is not None and session.name is not None
        if session.key in room.members:
            return
        room.members[session.key] = session
        session.rooms[room.key] = room
        if not room.stored:
            room.stored = True
            self.store.save_room(RoomRecord(room.key, room.name, room.topic), _ignore_write)
        if len(room.members) <= self.settings.presence_limit:
            self._tell(
                room.members.values(),
                session,
                lambda enc: enc.join(room.name, session.name or "", session.color),
            )
        if self.cluster is not None:
            self.cluster.joined(room, session)

    def remove_member(self, room: Room, session: Session, reason: str) -> None:
        assert session.key is not None and session.name is not None
        small = len(room.members) <= self.settings.presence_limit
        room.members.pop(session.key, None)
        session.rooms.pop(room.key, None)
        if small:
            name = session.name
            self._tell(
                room.members.values(), session, lambda enc: enc.leave(room.name, name, reason)
            )
        if self.cluster is not None:
            self.cluster.left(room, session, reason)

    def _tell(
        self,
        members: Iterable[Session],
        actor: Session | None,
        build: Callable[[textmode.TextEncoder | jsonmode.JsonEncoder], bytes],
    ) -> None:
        """Send one event line to members, built once per encoder, skipping the actor."""
        cache: dict[int, bytes] = {}
        for member in members:
            if member is actor:
                continue
            mode = 1 if member.variant == VARIANT_JSON else 0
            data = cache.get(mode)
            if data is None:
                data = cache[mode] = build(member.enc)
            member.send(data)

    def sharing(self, session: Session) -> dict[int, Session]:
        """Every other session that shares a room with this one."""
        out: dict[int, Session] = {}
        for room in session.rooms.values():
            for member in room.members.values():
                if member is not session:
                    out[member.conn_id] = member
        return out

    def tell_sharing(
        self,
        session: Session,
        build: Callable[[textmode.TextEncoder | jsonmode.JsonEncoder], bytes],
    ) -> None:
        self._tell(self.sharing(session).values(), session, build)

    # ------------------------------------------------------------ messages

    def now_text(self) -> str:
        return wire_time(self.wallclock())

    def post(
        self, room: Room, sender: Session, text: str, kind: str, ref: Ref, reply: Verb | None
    ) -> None:
        """Store a room message, then deliver it (PROTOCOL.md §4).

        ``reply`` is the verb whose OK the text-mode sender gets (None for a
        plain chat line, which gets no reply).
        """
        assert sender.name is not None
        draft = Draft(room.key, room.name, sender.name, sender.color, text, kind, self.now_text())
        sender.pipeline()
        self.store.append(draft, partial(self._stored, room, sender, ref, reply))

    def _stored(
        self,
        room: Room,
        sender: Session,
        ref: Ref,
        reply: Verb | None,
        result: StoredMessage | StoreUnavailable,
    ) -> None:
        if isinstance(result, StoreUnavailable):
            sender.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the message could not be stored, so it was not delivered; try again",
                reply or Verb.SAY,
                ref,
            )
        else:
            self.deliver(room, result, sender, ref, reply)
        sender.settle()

    def deliver(
        self, room: Room, msg: StoredMessage, sender: Session | None, ref: Ref, reply: Verb | None
    ) -> None:
        """Hand a stored message to every member, encoded once per variant (hot path)."""
        variants: list[bytes | None] = [None, None, None]
        for member in room.members.values():
            if member is sender:
                continue
            v = member.variant
            data = variants[v]
            if data is None:
                data = variants[v] = self._encode_message(msg, v)
            member.peer.send(data)
        if sender is not None and not sender.closed:
            if sender.variant == VARIANT_JSON:
                sender.peer.send(jsonmode.message_line(msg, ref))
            elif reply is not None:
                sender.ok(reply, ref, msg.room)

    def account_changed(self, key: str, account: Account | None) -> None:
        """An account written (or deleted: None) on any node of a cluster."""
        if account is None:
            self.accounts.pop(key, None)
        else:
            self.accounts[key] = account

    def fed(self, room_key: str, msg: StoredMessage) -> None:
        """A room message from another node, at its place in the shared order."""
        room = self.rooms.get(room_key)
        if room is not None and room.members:
            self.deliver(room, msg, None, None, None)

    @staticmethod
    def _encode_message(msg: StoredMessage, variant: int) -> bytes:
        if variant == VARIANT_JSON:
            return jsonmode.message_line(msg)
        xterm = xterm256(msg.color) if variant == VARIANT_TEXT_COLOR else None
        return textmode.chat_line(msg, xterm)

    def private_id(self) -> str:
        """Ids of private messages: ``p`` + boot time + counter (unique, never stored)."""
        self._private_seq += 1
        return f"p{self._boot}-{self._private_seq:x}"

    # ------------------------------------------------------------ shutdown

    def busy(self) -> bool:
        """True while some session waits for the store or has queued lines."""
        return any(s.inflight or s.backlog for s in self.sessions.values())

    def shutdown(self, text: str = "the server is shutting down") -> None:
        """Say BYE SERVER_SHUTDOWN to every connection and close them."""
        self.stopping = True
        for session in list(self.sessions.values()):
            session.end(ByeCode.SERVER_SHUTDOWN, text)


def _ignore_write(result: StoreUnavailable | None) -> None:
    if isinstance(result, StoreUnavailable):
        logger.warning("could not save a room record: %s", result)
