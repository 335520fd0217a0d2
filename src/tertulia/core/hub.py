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

import heapq
import ipaddress
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial

from tertulia.core.cluster import Cluster
from tertulia.core.colors import ColorBook, xterm256
from tertulia.core.ports import (
    BAN_ADDRESS,
    BAN_NAME,
    Account,
    Ban,
    Bus,
    Draft,
    PasswordHasher,
    Peer,
    Snapshot,
    Store,
    StoredMessage,
    StoreUnavailable,
)
from tertulia.core.ratelimit import ConnectionRateLimiter
from tertulia.core.rooms import Room
from tertulia.core.session import (
    VARIANT_JSON,
    VARIANT_TEXT_COLOR,
    Session,
)
from tertulia.core.settings import CoreSettings
from tertulia.core.throttle import Throttle, ThrottlePolicy
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import Verb
from tertulia.protocol.errors import ByeCode, ErrorCode
from tertulia.protocol.messages import Ref
from tertulia.protocol.names import GENERAL, fold

logger = logging.getLogger(__name__)

Handler = Callable[[Session, "object"], None]

#: ``later(seconds, callback)``: run ``callback`` on the loop thread after a delay.
Later = Callable[[float, Callable[[], None]], object]


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
        later: runs a callback after a delay (the server passes the loop's
            ``call_later``); without it, :meth:`tick` runs the callbacks
            that are due, which is what core tests use with a fake clock.
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
        later: Later | None = None,
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
        self.throttle = Throttle(
            ThrottlePolicy(
                delay=settings.auth_delay,
                lock_after=settings.auth_lock_after,
                lock_for=settings.auth_lock_for,
                exempt=settings.auth_exempt,
            ),
            clock,
        )
        self._later = later
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.stopping = False
        self._next_conn = 0
        self._private_seq = 0
        self._boot = f"{int(wallclock() * 1000):x}"
        for record in snapshot.rooms:
            self.rooms[record.key] = Room.from_record(record)
        self.general = self.room(GENERAL)
        self.bus = bus
        #: True when a name must be claimed across the cluster before it is given.
        self.shared_names = bus is not None and bus.shared
        #: The users of the other nodes, when there are other nodes.
        self.cluster: Cluster | None = None
        if bus is not None and bus.shared:
            self.cluster = Cluster(self, bus)
        #: True when the store has one order across nodes and feeds us theirs.
        self.followed = store.follow(self.fed, self.account_changed, self.ban_changed)
        #: Name keys of the operators (their rights need the account's password).
        self.operators = frozenset(fold(name) for name in settings.operators)
        #: Bans by (kind, key); expired ones are dropped by :meth:`tick`.
        self.bans: dict[tuple[str, str], Ban] = {(b.kind, b.key): b for b in snapshot.bans}
        self._next_purge = 0.0
        self.connect_limiter = ConnectionRateLimiter(
            settings.connect_rate, settings.connect_burst, settings.connect_exempt
        )

    # ------------------------------------------------------------ connections

    def connect(self, peer: Peer, address: str, json_mode: bool = False) -> Session:
        """Register a new connection and greet it (or turn it away, PROTOCOL.md §5)."""
        self._next_conn += 1
        session = Session(self, peer, address, self._next_conn, json_mode)
        s = self.settings
        ban = self.address_ban(address)
        if ban is not None:
            session.send(session.enc.bye(ByeCode.KICKED.value, "this address is " + ban_text(ban)))
            session.closed = True
            peer.close()
            return session
        too_often = not self.connect_limiter.allow(address, self.clock())
        if (
            too_often
            or len(self.sessions) >= s.max_connections
            or self.per_address[address] >= s.max_per_ip
        ):
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

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``delay`` seconds (at once, but never now, when 0)."""
        if self._later is not None:
            self._later(max(0.0, delay), callback)
        else:
            heapq.heappush(self._due, (self.clock() + delay, next(self._seq), callback))

    def tick(self) -> None:
        """Enforce the identify and ping timeouts; call about once a second or faster.

        Without a ``later`` (core tests), also runs the delayed callbacks now due.
        About once a minute it also forgets bans and mutes that have ended.
        """
        now = self.clock()
        while self._due and self._due[0][0] <= now:
            heapq.heappop(self._due)[2]()
        s = self.settings
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self.purge_expired(now)
        for session in list(self.sessions.values()):
            if session.closed:
                continue
            if session.name is None and now - session.connected_at >= s.identify_timeout > 0:
                session.end(ByeCode.IDENTIFY_TIMEOUT, "no IDENTIFY in time")
                continue
            since = session.partial_since
            if since is not None and not session.paused and now - since >= s.line_timeout > 0:
                # Slowloris: bytes trickle in (so the ping timer never fires)
                # but a line never ends.  Cut it like a peer that went quiet.
                session.end(ByeCode.PING_TIMEOUT, f"no end of line for {int(now - since)} s")
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

    def room(self, name: str, creator: Session | None = None) -> Room:
        """The room of that name, created if new (``name`` already validated).

        A new room records ``creator`` as its creator (docs: "Moderation").
        """
        key = fold(name)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(key, name)
            if creator is not None and creator.key is not None:
                room.creator = creator.key
                room.creator_conn = creator.conn_id
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
            self.store.save_room(room.record(), _ignore_write)
        if len(room.members) <= self.settings.presence_limit:
            self._tell(
                room.members.values(),
                session,
                lambda enc: enc.join(room.name, session.name or "", session.color),
            )
        if self.cluster is not None:
            self.cluster.joined(room, session)

    def remove_member(
        self,
        room: Room,
        session: Session,
        reason: str,
        actor: Session | None = None,
        tell_cluster: bool = True,
    ) -> None:
        """Take a session out of a room and tell the members (but not ``actor``).

        ``tell_cluster`` False: the other nodes know already (a KICK they heard).
        """
        assert session.key is not None and session.name is not None
        small = len(room.members) <= self.settings.presence_limit
        room.members.pop(session.key, None)
        session.rooms.pop(room.key, None)
        if small:
            name = session.name
            self._tell(
                room.members.values(),
                actor or session,
                lambda enc: enc.leave(room.name, name, reason),
            )
        if self.cluster is not None and tell_cluster:
            self.cluster.left(room, session, reason)

    def kick_out(
        self,
        room: Room,
        target: Session,
        reason: str,
        actor: Session | None = None,
        tell_cluster: bool = True,
    ) -> None:
        """Take a user out of a room for a KICK: the members and the user see it leave."""
        name = target.name or ""
        self.remove_member(room, target, reason, actor, tell_cluster)
        if target is not actor:
            target.send(target.enc.leave(room.name, name, reason))
        if target.current is room:
            target.current = self.general

    # ------------------------------------------------------------ moderation

    def operators_without_account(self) -> list[str]:
        """Configured operators that have no account yet, hence no rights."""
        return [name for name in self.settings.operators if fold(name) not in self.accounts]

    def is_operator(self, session: Session) -> bool:
        """True for an operator's name identified with its account's password."""
        key = session.key
        return (
            key is not None
            and key in self.operators
            and session.verified == key
            and key in self.accounts
        )

    def name_ban(self, key: str) -> Ban | None:
        """The active ban of a name key, if any."""
        ban = self.bans.get((BAN_NAME, key))
        return ban if ban is not None and ban.active(self.wallclock()) else None

    def address_ban(self, address: str) -> Ban | None:
        """The active ban of an address, or of a network that holds it, if any."""
        if not self.bans:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None  # not an IP peer (a Unix socket): address bans do not apply
        now = self.wallclock()
        for (kind, key), ban in self.bans.items():
            if kind == BAN_ADDRESS and ban.active(now) and covers(key, ip):
                return ban
        return None

    def enforce(self, ban: Ban) -> int:
        """Disconnect (``BYE KICKED``) every session a new ban covers; return how many."""
        text = ban_text(ban)
        cut = 0
        for session in list(self.sessions.values()):
            if session.closed or self.is_operator(session):
                continue
            if ban.kind == BAN_NAME:
                hit = session.key == ban.key
            else:
                try:
                    hit = covers(ban.key, ipaddress.ip_address(session.address))
                except ValueError:
                    hit = False
            if hit:
                session.end(ByeCode.KICKED, text)
                cut += 1
        return cut

    def purge_expired(self, now: float) -> None:
        """Forget ended bans (in the store too) and ended mutes."""
        wall = self.wallclock()
        for ident, ban in list(self.bans.items()):
            if not ban.active(wall):
                del self.bans[ident]
                self.store.delete_ban(ban.kind, ban.key, _ignore_write)
        for room in self.rooms.values():
            if room.muted:
                room.purge_mutes(now)

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
            self.throttle.forget_name(key)
        else:
            self.accounts[key] = account

    def ban_changed(self, kind: str, key: str, ban: Ban | None) -> None:
        """A ban written (or lifted: None) on any node of a cluster, from the store.

        It holds here for whoever identifies or connects from now on.  Who
        is online is sent away by the BAN's node and by each node when the
        ban reaches it in the stream's order (:meth:`enforce`), not here:
        the store may tell of a write before the writer hears it is done.
        """
        if ban is None:
            self.bans.pop((kind, key), None)
        else:
            self.bans[kind, key] = ban

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


#: Seconds between two purges of ended bans and mutes.
PURGE_EVERY = 60.0


def covers(network: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when the address or network ``network`` (as normalized) holds ``ip``."""
    try:
        return ip in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def ban_text(ban: Ban) -> str:
    """How a ban is explained to the one it keeps out: ``banned by Op until T: reason``."""
    text = f"banned by {ban.operator}"
    if ban.expires is not None:
        text += f" until {wire_time(ban.expires)}"
    return text + (f": {ban.reason}" if ban.reason else "")


def _ignore_write(result: StoreUnavailable | None) -> None:
    if isinstance(result, StoreUnavailable):
        logger.warning("could not save to the store: %s", result)
