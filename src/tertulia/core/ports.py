"""The ports of the core: what it needs from a store and from a connection.

Everything here is a ``typing.Protocol`` or a plain value, so the core never
imports a socket, sqlite3 or asyncio stream.  Implementations live in
``tertulia.store`` and ``tertulia.frontends``.

Threading rule for every callback port: callbacks are called **on the event
loop thread**, never from inside the call that registered them, and for a
given store **in the order the operations were submitted**, whatever their
kind.  The core relies on that order: a JOIN whose history read was submitted
after a message's append sees that message in its history and not live, and
one submitted before sees it live and not in its history, so every message
reaches a joining user exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: Wire ids: 16 lowercase hex digits, so they sort as strings (PROTOCOL.md §6).
_ID_RE = re.compile(r"[0-9a-fA-F]{1,16}")


def format_id(number: int) -> str:
    """The wire form of a store's message number."""
    return f"{number:016x}"


def parse_id(message_id: str) -> int:
    """Turn a wire id back into the store's message number.

    Raises:
        ValueError: ``message_id`` is not 1 to 16 hex digits.
    """
    if _ID_RE.fullmatch(message_id) is None:
        raise ValueError(f"not a message id: {message_id!r}")
    return int(message_id, 16)


#: Message kinds (PROTOCOL.md §6 ``kind``).
SAY = "say"
ME = "me"


@dataclass(frozen=True, slots=True)
class Draft:
    """A room message as the core hands it to the store, before it has an id."""

    room_key: str
    room: str
    sender: str
    color: str
    text: str
    kind: str
    ts: str


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A room message once the store has made it durable.

    ``id`` is 16 lowercase hex digits; ids sort as strings in the order of
    the room's messages, across restarts (PROTOCOL.md §6).
    """

    id: str
    room: str
    sender: str
    color: str
    text: str
    kind: str
    ts: str


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """What the store remembers of a room between runs.

    ``creator`` is the name key of the user who created the room ("" for
    ``#general`` and rooms older than this field); ``voiced`` and ``invited``
    are name keys, sorted.
    """

    key: str
    room: str
    topic: str = ""
    creator: str = ""
    moderated: bool = False
    invite_only: bool = False
    voiced: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()


#: Kinds of ban: of a name (its key) or of an address or network.
BAN_NAME = "name"
BAN_ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Ban:
    """A ban that holds across reconnects and restarts.

    ``key`` is the name key (``kind`` ``name``) or the normalized address or
    network (``kind`` ``address``); ``target`` is as the operator wrote it.
    Times are epoch seconds; ``expires`` None means until UNBAN.
    """

    kind: str
    key: str
    target: str
    operator: str
    reason: str
    created: float
    expires: float | None = None

    def active(self, now: float) -> bool:
        return self.expires is None or self.expires > now


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action, as the audit log keeps it."""

    ts: str
    operator: str
    action: str
    target: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """A registered name: its password hash (never the password) and colour."""

    key: str
    name: str
    password_hash: str
    color: str


@dataclass(frozen=True, slots=True)
class KeptPrivate:
    """A private message kept for a registered user who was offline.

    ``number`` is 0 in what the core hands to the store, and the store's own
    increasing number in what it gives back.
    """

    recipient_key: str
    sender: str
    color: str
    text: str
    ts: str
    number: int = 0


@dataclass(slots=True)
class Snapshot:
    """What a store knows at start: rooms (with topics), accounts and bans."""

    rooms: list[RoomRecord] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    bans: list[Ban] = field(default_factory=list)


class StoreUnavailable(Exception):
    """The store could not do what was asked (disk full, closed, cluster away)."""


AppendDone = Callable[[StoredMessage | StoreUnavailable], None]
HistoryDone = Callable[[list[StoredMessage] | StoreUnavailable], None]
WriteDone = Callable[[StoreUnavailable | None], None]
#: Where a shared store hands room messages that this process did not append
#: (another node's), with the room key, in the one order (see Store.follow).
Feed = Callable[[str, StoredMessage], None]
#: Where a shared store reports an account written or deleted (None) by any
#: node, by its key (see Store.follow).
AccountFeed = Callable[[str, "Account | None"], None]
#: Where a shared store reports a ban written or deleted (None) by any node,
#: by its kind and key (see Store.follow).
BanFeed = Callable[[str, str, "Ban | None"], None]
#: True: kept; False: the recipient already has ``limit`` messages waiting.
KeepDone = Callable[[bool | StoreUnavailable], None]
KeptDone = Callable[[list[KeptPrivate] | StoreUnavailable], None]
AuditDone = Callable[[list[AuditEntry] | StoreUnavailable], None]


class Store(Protocol):
    """Durable rooms, messages and accounts.

    Call :meth:`open` once before anything else and :meth:`close` once at the
    end; in between the other methods never block: each queues an operation
    and calls ``done`` later on the loop thread, in submission order (see the
    module docstring).  A failed operation gets a :class:`StoreUnavailable`.
    """

    #: A short description for the start-up log line, e.g. ``sqlite /path/tertulia.db``.
    description: str

    async def open(self) -> Snapshot:
        """Open or create the store and return what it holds."""
        ...

    def append(self, draft: Draft, done: AppendDone) -> None:
        """Make a room message durable and give it an id.

        ``done`` gets the stored message only after it is committed.
        """
        ...

    def history(
        self,
        room_key: str,
        limit: int,
        before: str | None,
        after: str | None,
        done: HistoryDone,
    ) -> None:
        """Read up to ``limit`` messages of a room, oldest first.

        Without ``before``/``after``: the latest.  With ``before``: the latest
        with an id below it.  With ``after``: the earliest with an id above it.
        """
        ...

    def save_room(self, record: RoomRecord, done: WriteDone) -> None:
        """Remember a room and its topic (insert or replace)."""
        ...

    def save_account(self, account: Account, done: WriteDone) -> None:
        """Create or replace an account."""
        ...

    def follow(self, feed: Feed, accounts: AccountFeed, bans: BanFeed) -> bool:
        """Ask for every room message in the one order shared by every node.

        A store shared by several processes (NATS) returns True: from then
        on its appends complete in that order, interleaved with the other
        processes' messages, which it hands to ``feed``, and a history read
        holds exactly the messages completed or fed before its own
        completion; every account written or deleted by any process goes
        to ``accounts``, every ban to ``bans``.  A store of one process (SQLite, memory) returns
        False and keeps the submission-order rule of this module.
        """
        ...

    def save_ban(self, ban: Ban, done: WriteDone) -> None:
        """Create or replace the ban of (``ban.kind``, ``ban.key``)."""
        ...

    def delete_ban(self, kind: str, key: str, done: WriteDone) -> None:
        """Forget a ban (no error if there is none)."""
        ...

    def audit(self, entry: AuditEntry, done: WriteDone) -> None:
        """Append one entry to the audit log."""
        ...

    def read_audit(self, limit: int, done: AuditDone) -> None:
        """Read the latest ``limit`` audit entries, oldest first."""
        ...

    def delete_account(self, key: str, done: WriteDone) -> None:
        """Forget an account and the private messages kept for it (no error if none)."""
        ...

    def keep_private(self, message: KeptPrivate, limit: int, done: KeepDone) -> None:
        """Keep a private message for an offline user, unless ``limit`` already wait.

        ``done`` gets True when it was kept, False when the recipient already
        had ``limit`` messages waiting (nothing is kept then).
        """
        ...

    def kept_privates(self, recipient_key: str, done: KeptDone) -> None:
        """Read every message kept for a user, oldest first (they stay kept)."""
        ...

    def drop_privates(self, recipient_key: str, up_to: int, done: WriteDone) -> None:
        """Forget the messages kept for a user whose ``number`` is at most ``up_to``."""
        ...

    async def close(self) -> None:
        """Finish every queued operation, then close.  Idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """Something a node tells the others (or its bus tells it) about users.

    ``kind`` is one of the constants below; the other fields are those the
    kind needs (``node`` is filled in by the bus).  A remote user is known
    by its name key, as a local one.
    """

    kind: str
    node: str = ""
    key: str = ""
    name: str = ""
    color: str = ""
    room: str = ""
    text: str = ""
    new_name: str = ""
    mid: str = ""
    ts: str = ""


#: A user identified on a node (name, colour).
USER_ON = "user"
#: A user joined a room (name, colour, room).
JOINED = "join"
#: A user is in a room, from a node's state (told to nobody: not news).
IN_ROOM = "in-room"
#: A user left a room (room, text = reason).
LEFT = "leave"
#: A user is gone (text = reason).
USER_OFF = "quit"
#: A user changed name (name -> new_name).
RENAMED = "nick"
#: A room's topic changed (room, name = who, text).
TOPIC = "topic"
#: A user changed colour.
RECOLORED = "color"
#: A room's modes and lists changed (room; text = JSON of creator, moderated,
#: invite_only, voiced, invited).
MODES = "modes"
#: A private message to ``key`` (name and colour of the sender, text, mid, ts),
#: asked of the recipient's node, which answers :data:`DELIVERED` or :data:`GONE`.
PRIVATE = "private"
#: An operator's NOTICE to every connection (text), asked of every node, which
#: answers how many connections it told.
ANNOUNCED = "announce"
#: A user kicked out of a room (key, room, name = who kicked, text = reason);
#: out of ``#general``, out of the server.
KICKED = "kick"
#: A NOTICE (text) to one user (key), or to the members of a room (room).
NOTICE = "notice"
#: A mute in a room (room, key, ts = its end in epoch seconds or "" for none;
#: text = "off" lifts it).
MUTED = "mute"
#: A ban given (text = JSON of the :class:`Ban`).
BANNED = "ban"
#: A ban lifted (text = JSON ``{"kind", "key"}``).
UNBANNED = "unban"
#: A password check's verdict (key = the name key, text = the client's address,
#: ts = "ok" or "fail"), for every node's throttle.
AUTH = "auth"
#: (from the bus itself) a node stopped or went silent: its users are gone.
NODE_LOST = "node-lost"
#: (from the bus itself) this node's claim of a name (key) lapsed, or was taken
#: over while this node was cut off from NATS: its user must go.
NAME_LOST = "name-lost"

#: A node's answers to :data:`PRIVATE`.
DELIVERED, GONE = "delivered", "gone"

#: Hears another node's event; returns the answer to an asked one (else None).
ClusterListener = Callable[[ClusterEvent], str | None]
ClusterState = Callable[[], list[ClusterEvent]]
#: Gets a node's answer to an asked event: "" when there is no such node any
#: more, None when it could not be asked or did not answer in time.
Answered = Callable[[str | None], None]


#: The answer to a name claim: True (it is yours), False (someone has it),
#: or StoreUnavailable (the cluster could not be asked).
ClaimDone = Callable[[bool | StoreUnavailable], None]


class Bus(Protocol):
    """What the nodes of a cluster share besides the store: names and presence.

    With one node (``shared`` False) the hub decides by itself and never
    calls :meth:`claim` or :meth:`release`.  With several, a name is given
    only once the bus has claimed it for this node, atomically across the
    cluster; the node keeps its claims alive, and they lapse within seconds
    when it dies.  ``done`` is called later, on the loop thread.  Presence
    (who is on which node, in which rooms) travels as :class:`ClusterEvent`;
    a node that stops or falls silent is reported as :data:`NODE_LOST`.
    """

    #: True when names are shared with other nodes.
    shared: bool
    #: A short description for the start-up log line.
    description: str

    async def open(self) -> None:
        """Connect.

        Raises:
            StoreUnavailable: the cluster cannot be reached.
        """
        ...

    def claim(self, key: str, name: str, done: ClaimDone) -> None:
        """Claim a name (by its folded key) for this node."""
        ...

    def release(self, key: str) -> None:
        """Give up a name this node claimed (fire and forget; idempotent)."""
        ...

    def attach(self, listener: ClusterListener, state: ClusterState) -> None:
        """Hand the other nodes' events to ``listener`` from now on.

        ``state`` gives this node's users and rooms as events, for a node
        that starts (or comes back) and asks.
        """
        ...

    def announce(self, event: ClusterEvent) -> None:
        """Tell every other node (in the order announced)."""
        ...

    def send(self, node: str, event: ClusterEvent) -> None:
        """Tell one node (its state, for a node that asked)."""
        ...

    def ask(self, node: str, event: ClusterEvent, done: Answered) -> None:
        """Tell one node and get its listener's answer (see :data:`Answered`)."""
        ...

    def peers(self) -> list[str]:
        """The other nodes heard from lately."""
        ...

    def barrier(self, done: Callable[[], None]) -> None:
        """Call ``done`` (later) once every room event and message that any node
        had stored before this call has been delivered on this node."""
        ...

    async def close(self) -> None:
        """Release every claim and disconnect.  Idempotent."""
        ...


class Peer(Protocol):
    """One client connection as the core sees it (implemented by a front end).

    ``send`` never blocks and never fails: a front end buffers, coalesces one
    write per loop turn, and itself handles a peer whose held output passes
    ``--max-sendq`` (PROTOCOL.md §5).  No method calls back into the core
    synchronously: the core may call them while iterating over a room.
    """

    def send(self, data: bytes) -> None:
        """Queue bytes (one or more complete lines) for this client."""
        ...

    def close(self) -> None:
        """Close after flushing what was queued (used after a BYE line)."""
        ...

    def pause_reading(self) -> None:
        """Stop taking lines from this client until :meth:`resume_reading`."""
        ...

    def resume_reading(self) -> None: ...


HashDone = Callable[[str], None]
VerifyDone = Callable[[bool], None]


class PasswordHasher(Protocol):
    """Slow password hashing, done off the event loop.

    Like the store, it calls ``done`` later on the loop thread.
    """

    def hash(self, password: str, done: HashDone) -> None:
        """Hash a new password; ``done`` gets the encoded hash."""
        ...

    def verify(self, password_hash: str, password: str, done: VerifyDone) -> None:
        """Check a password against a hash; ``done`` gets the verdict."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when a hash that just verified should be replaced (old scheme or
        weaker parameters); cheap, called on the loop."""
        ...
