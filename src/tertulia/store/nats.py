"""The NATS JetStream store: room history in a stream, rooms and accounts in KV buckets.

:class:`NatsStore` implements :class:`tertulia.core.ports.Store` on a NATS
server (or cluster) with JetStream, through nats-py.  Everything it keeps is
in JetStream, so several Tertulia nodes on the same NATS share it.  With the
default ``prefix`` ``tertulia`` the layout is:

* **Stream** ``TERTULIA_MSGS`` on subjects ``tertulia.msg.<room>``, where
  ``<room>`` is the room key's UTF-8 in lowercase hex (a subject token may not
  hold ``.``, ``*``, ``>`` or spaces).  Payload: compact JSON with ``room``,
  ``sender``, ``color``, ``text``, ``kind``, ``ts``.  Limits: at most
  ``history_per_room`` messages per room (``max_msgs_per_subject``) and
  ``max_bytes`` in all, the oldest discarded first; file storage,
  ``replicas`` copies, direct get allowed.
* **KV bucket** ``tertulia_rooms``: key = hex room key, value = JSON
  ``{"room", "topic"}``.  **KV bucket** ``tertulia_accounts``: key = hex
  account key, value = JSON ``{"name", "password_hash", "color"}``.

Invariants:

* **Ids are the stream's sequence numbers**, printed as 16 hex digits: one
  order for every room across every node, never reused (JetStream never goes
  back, even when limits discard old messages).
* **Submission order.**  One writer task publishes every write (messages and
  KV puts alike) in submission order, pipelined (``publish_async``); a
  history read runs once every append submitted before it is complete.
  Completions go through one FIFO of slots and run in submission order, on
  the loop thread, never from inside the submitting call.  (Once
  *followed*, appends leave the FIFO: see below.)
* **Stored, then seen.**  An append completes only when JetStream has acked
  the publish (it is stored, with the stream's replicas) *and* this store's
  own subscription to the stream has delivered it.  The subscription
  (an ordered consumer over the whole stream) is the only way a message
  enters the local index, so a history read submitted after an append sees
  it, and messages enter the index in stream order.  Each message carries
  ``Tertulia-Origin: <store id>.<number>``; when the stream delivers one of
  ours before its ack, it waits (and every later message with it) until
  the ack: nothing is delivered before JetStream acknowledged it.
* **Followed** (:meth:`NatsStore.follow`, what a cluster node does): an
  append completes at its place in the stream, as the subscription applies
  it, and another node's message goes to the feed at its place, so every
  node delivers one order.  A history read is then put together when its
  turn comes in the FIFO, from what was applied until then, so a joining
  user gets each message once: in the history, or live after it.  Account
  changes from every node come from a watcher of the accounts bucket.
* **History** comes from that index: per room, the stream sequences of its
  messages (trimmed to the stream's per-room limit) and the last
  :data:`TAIL` messages themselves.  Reads within the tail cost no round
  trip; older messages are fetched by sequence with JetStream's direct get
  (a message the limits have discarded is skipped).  At ``open()`` the store
  reads the stream once to build the index.
* **Failures.**  While NATS is known to be unreachable, operations fail at
  once with :class:`~tertulia.core.ports.StoreUnavailable`; one that gets no
  answer within ``ack_timeout`` seconds of being sent fails too.  The
  connection reconnects by itself.
* **A late message is void.**  nats-py keeps what it could not send and
  sends it after a reconnect, maybe long after its sender was told
  ``STORE_UNAVAILABLE``.  So each message carries a deadline header
  (``Tertulia-Expires``, epoch milliseconds: the time it is sent plus
  ``ack_timeout / 2``), and a message the stream stored after its deadline
  is ignored by every store: never indexed, never in history, and its own
  append fails.  A sender gives up at ``ack_timeout`` after sending, later
  than the deadline, so a message is never both given up and valid, except
  when its ack alone was lost (the sender then sees an error for a message
  that is in history).  This assumes clocks within ``ack_timeout / 2`` of
  the NATS servers' (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import json
import logging
import math
import secrets
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.kv import KeyValue

from tertulia.core.ports import (
    Account,
    AccountFeed,
    AppendDone,
    AuditDone,
    AuditEntry,
    Ban,
    BanFeed,
    Draft,
    Feed,
    HistoryDone,
    KeepDone,
    KeptDone,
    KeptPrivate,
    RoomRecord,
    Snapshot,
    StoredMessage,
    StoreUnavailable,
    WriteDone,
    format_id,
    parse_id,
)

logger = logging.getLogger(__name__)

#: Messages per room kept in memory for history reads without a round trip.
TAIL: Final = 256

#: Errors nats-py raises for a failed request (server away, timeout, refusal).
NATS_ERRORS: Final = (nats.errors.Error, OSError, asyncio.TimeoutError)

#: JetStream API refusals that a NATS cluster gives for a moment while it
#: forms or elects (seen under load just after its meta leader is elected):
#: no suitable peers for placement (10005), JetStream temporarily
#: unavailable (10008).
TRANSIENT: Final = frozenset({10005, 10008})
#: Seconds a node waits for a forming NATS cluster to create its stream and
#: buckets (creating one with three replicas waits for its RAFT group to
#: elect a leader: seconds on a loaded machine).
PATIENCE: Final = 20.0

_T = TypeVar("_T")


async def patiently(op: Callable[[], Awaitable[_T]], seconds: float = PATIENCE) -> _T:
    """``await op()`` (a creation, safe to repeat), again every quarter second
    while JetStream refuses it with a :data:`TRANSIENT` error or does not
    answer in time, for up to ``seconds``; then the error stands."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await op()
        except nats.js.errors.APIError as exc:
            if exc.err_code not in TRANSIENT or time.monotonic() >= deadline:
                raise
            logger.info("NATS: %s; trying again", exc.description)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            logger.info("NATS: no answer in time; trying again")
        await asyncio.sleep(0.25)

_Done = Callable[[Any], None]

#: The header that carries a message's deadline (epoch milliseconds).
EXPIRES: Final = "Tertulia-Expires"
#: The header naming the store that sent a message: ``<node>.<number>``.
ORIGIN: Final = "Tertulia-Origin"


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Kind(enum.Enum):
    APPEND = "append"
    PUT = "put"
    DELETE = "delete"
    STOP = "stop"


async def connect(
    servers: Sequence[str],
    timeout: float,
    name: str,
    *,
    disconnected_cb: Callable[[], Awaitable[None]] | None = None,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """A NATS connection that reconnects forever once made.

    The servers are tried in the order given, not shuffled: a node connects
    to the first one that answers (list the nearest first) and, when it
    fails, moves on to the next.

    Raises:
        StoreUnavailable: no server answered within ``timeout`` seconds (the
            message names the servers and the last error).
    """
    last_error = ""

    async def on_error(exc: Exception) -> None:
        nonlocal last_error
        last_error = str(exc) or type(exc).__name__
        if nc.is_connected or nc.is_reconnecting:
            logger.warning("NATS (%s): %s", name, last_error)

    nc = Client()
    try:
        await asyncio.wait_for(
            nc.connect(
                servers=list(servers),
                name=name,
                connect_timeout=max(1, int(timeout)),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                dont_randomize=True,
                error_cb=on_error,
                disconnected_cb=disconnected_cb,
                reconnected_cb=reconnected_cb,
            ),
            timeout,
        )
    except (*NATS_ERRORS, ValueError) as exc:
        with contextlib.suppress(Exception):  # nats-py may raise anything here
            await nc.close()
        reason = last_error or str(exc) or type(exc).__name__
        raise StoreUnavailable(f"cannot reach NATS at {','.join(servers)}: {reason}") from None
    return nc


def token(key: str) -> str:
    """A room or account key as one subject token / KV key: its UTF-8 in hex."""
    return key.encode().hex()


def untoken(text: str) -> str:
    """The key back from :func:`token`.

    Raises:
        ValueError: not the hex of UTF-8 text.
    """
    return bytes.fromhex(text).decode()


def encode_draft(draft: Draft) -> bytes:
    """A room message's payload in the stream (the id comes from the stream)."""
    return json.dumps(
        {
            "room": draft.room,
            "sender": draft.sender,
            "color": draft.color,
            "text": draft.text,
            "kind": draft.kind,
            "ts": draft.ts,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def room_record(key: str, v: dict[str, Any]) -> RoomRecord:
    """A room as the rooms bucket keeps it.

    Raises:
        KeyError, TypeError, ValueError: not one of ours.
    """
    return RoomRecord(
        key,
        str(v["room"]),
        str(v.get("topic", "")),
        str(v.get("creator", "")),
        bool(v.get("moderated", False)),
        bool(v.get("invite_only", False)),
        tuple(str(k) for k in v.get("voiced", ())),
        tuple(str(k) for k in v.get("invited", ())),
    )


def ban_record(kind: str, key: str, v: dict[str, Any]) -> Ban:
    """A ban as the bans bucket keeps it.

    Raises:
        KeyError, TypeError, ValueError: not one of ours.
    """
    expires = v.get("expires")
    return Ban(
        kind,
        key,
        str(v["target"]),
        str(v["operator"]),
        str(v["reason"]),
        float(v["created"]),
        None if expires is None else float(expires),
    )


def decode_message(seq: int, data: bytes) -> StoredMessage:
    """A stream message back as a stored message whose id is its sequence.

    Raises:
        ValueError: the payload is not one of ours.
    """
    fields = json.loads(data)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    values = [fields.get(k) for k in ("room", "sender", "color", "text", "kind", "ts")]
    if not all(isinstance(v, str) for v in values):
        raise ValueError("missing or non-text field")
    room, sender, color, text, kind, ts = (str(v) for v in values)
    return StoredMessage(format_id(seq), room, sender, color, text, kind, ts)


class _Slot:
    """One submitted operation, waiting for its turn to complete."""

    __slots__ = ("done", "fifo", "origin", "ready", "result", "seq", "since", "waiters")

    def __init__(self, done: _Done, fifo: bool = True) -> None:
        self.done = done
        self.fifo = fifo  # completes in submission order (else as soon as it settles)
        self.since = math.inf  # when it was sent to NATS
        self.seq = 0  # an append's stream sequence, once acked
        self.origin = 0  # an append's number in its Tertulia-Origin header
        self.ready = False
        self.result: object = None
        self.waiters: list[asyncio.Future[None]] | None = None

    async def wait(self) -> None:
        """Return once the slot has its result (used as a barrier by reads)."""
        if self.ready:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        await waiter


class _Finish:
    """A history read's last step, run when the read's turn comes (NatsStore._select)."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[], list[StoredMessage]]) -> None:
        self.run = run

    def __call__(self) -> list[StoredMessage]:
        return self.run()


class _RoomIndex:
    """One room's stream sequences (ascending) and its last messages."""

    __slots__ = ("seqs", "tail")

    def __init__(self, tail: int) -> None:
        self.seqs: list[int] = []
        self.tail: deque[StoredMessage] = deque(maxlen=tail)


class NatsStore:
    """The :class:`~tertulia.core.ports.Store` port on NATS JetStream.

    Args:
        servers: NATS URLs (``nats://host:port``), a list or one string with
            commas.
        prefix: names the stream, subjects and buckets, so that several
            deployments may share one NATS.  Letters, digits, ``_`` and ``-``.
        history_per_room: messages kept per room (the stream's
            ``max_msgs_per_subject``; older ones are discarded).
        max_bytes: the stream's size limit in bytes (``-1``: none).
        replicas: copies of each message in a NATS cluster (1 to 5).
        ack_timeout: seconds an operation may wait for JetStream.
        connect_timeout: seconds ``open()`` tries to reach NATS.
        tail: messages per room kept in memory (:data:`TAIL`).

    Raises:
        ValueError: a bad ``prefix`` or empty ``servers``.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        prefix: str = "tertulia",
        history_per_room: int = 10_000,
        max_bytes: int = -1,
        replicas: int = 1,
        ack_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        tail: int = TAIL,
    ) -> None:
        urls = servers.split(",") if isinstance(servers, str) else list(servers)
        self.servers = [u.strip() for u in urls if u.strip()]
        if not self.servers:
            raise ValueError("no NATS server given")
        if not prefix or not all(c.isascii() and (c.isalnum() or c in "_-") for c in prefix):
            raise ValueError(f"bad NATS prefix {prefix!r}: use letters, digits, _ and -")
        self.prefix = prefix
        self.stream = f"{prefix.upper()}_MSGS"
        self.subject_prefix = f"{prefix}.msg."
        #: The stream subject of cluster events kept in order with the messages.
        self.events_subject = f"{prefix}.msg.ev"
        self.rooms_bucket = f"{prefix}_rooms"
        self.accounts_bucket = f"{prefix}_accounts"
        self.bans_bucket = f"{prefix}_bans"
        self.audit_stream = f"{prefix.upper()}_AUDIT"
        self.audit_subject = f"{prefix}.audit"
        self.kept_stream = f"{prefix.upper()}_KEPT"
        self.kept_prefix = f"{prefix}.kept."
        self.description = f"nats {','.join(self.servers)} (stream {self.stream})"
        self._history_per_room = history_per_room
        self._max_bytes = max_bytes
        self._replicas = replicas
        self._ack_timeout = ack_timeout
        self._connect_timeout = connect_timeout
        self._tail = max(1, tail)
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._rooms_kv: KeyValue | None = None
        self._accounts_kv: KeyValue | None = None
        self._bans_kv: KeyValue | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        # Submission order: the FIFO of slots, and the writer's inbox.
        self._slots: deque[_Slot] = deque()
        self._outbox: deque[tuple[_Kind, _Slot | None, str, bytes, str]] = deque()
        self._wake = asyncio.Event()
        # Appends not complete yet, in submission order (history reads wait for them).
        self._appending: dict[_Slot, None] = {}
        self._flushing = False
        self._deferred: list[_Done] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        # The index, fed by the subscription only.
        self._index: dict[str, _RoomIndex] = {}
        self._applied = 0  # the last stream sequence the subscription delivered
        # What the subscription delivered and is not yet applied: a message
        # of ours waits there for its publish ack (stored before delivered).
        self._inbound: deque[tuple[int, str, bytes, dict[str, str], float]] = deque()
        # Our appends by origin number (the Tertulia-Origin header).
        self._node = secrets.token_hex(6)
        self._mine: dict[int, _Slot] = {}
        self._origins = itertools.count(1)
        self._feed: Feed | None = None
        self._hear: Callable[[bytes], None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._keep = history_per_room
        self._catching_up: tuple[int, asyncio.Future[None]] | None = None
        self._drained = asyncio.Event()

    # -- the port -------------------------------------------------------------

    async def open(self) -> Snapshot:
        """Connect, create the stream and buckets if new, read rooms, accounts and history.

        Raises:
            StoreUnavailable: NATS cannot be reached within ``connect_timeout``,
                has no JetStream, or refuses the stream's configuration.
            RuntimeError: ``open()`` was already called.
        """
        if self._state is not _State.NEW:
            raise RuntimeError("NatsStore.open() may be called only once")
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        where = ",".join(self.servers)
        nc = self._nc = await connect(
            self.servers,
            self._connect_timeout,
            "tertulia",
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        try:
            snapshot = await self._prepare(nc)
        except (*NATS_ERRORS, ValueError) as exc:
            await self._abandon()
            if isinstance(
                exc, nats.errors.NoRespondersError | nats.js.errors.ServiceUnavailableError
            ):
                reason = "JetStream is not enabled there (start nats-server with -js)"
            else:
                reason = str(exc) or type(exc).__name__
            raise StoreUnavailable(f"NATS at {where}: {reason}") from None
        self._state = _State.OPEN
        self._writer = asyncio.create_task(self._write(), name="tertulia-nats-writer")
        self._sweeper = asyncio.create_task(self._sweep(), name="tertulia-nats-sweeper")
        logger.info(
            "store %s open: %d rooms, %d accounts, up to sequence %d",
            self.description,
            len(snapshot.rooms),
            len(snapshot.accounts),
            self._applied,
        )
        return snapshot

    def append(self, draft: Draft, done: AppendDone) -> None:
        """Publish a message; ``done`` gets it with its id once stored and seen.

        When followed (see :meth:`follow`), ``done`` is called at the
        message's place in the stream, not in submission order.
        """
        slot = self._submit(done, fifo=self._feed is None)
        if slot is not None:
            subject = self.subject_prefix + token(draft.room_key)
            origin = slot.origin = next(self._origins)
            self._mine[origin] = slot
            self._outbox.append(
                (_Kind.APPEND, slot, subject, encode_draft(draft), f"{self._node}.{origin}")
            )
            self._appending[slot] = None
            self._wake.set()

    def publish_event(self, payload: bytes, done: _Done) -> None:
        """Put a cluster event in the stream, in order with the room messages.

        Events go on :attr:`events_subject` (``<prefix>.msg.ev``, not a room:
        ``ev`` is not hex), so they take their place in the one order of the
        stream without entering any history.  ``done`` gets None once the
        event is stored *and* this node's subscription has reached it (so
        every event and message stored before it, from any node, has been
        applied here: the cluster's barrier), or StoreUnavailable.
        """
        slot = self._submit(done, fifo=False)
        if slot is not None:
            origin = slot.origin = next(self._origins)
            self._mine[origin] = slot
            self._outbox.append(
                (_Kind.APPEND, slot, self.events_subject, payload, f"{self._node}.{origin}")
            )
            self._appending[slot] = None
            self._wake.set()

    def hear_events(self, hear: Callable[[bytes], None]) -> None:
        """Hand the other nodes' events of the stream to ``hear``, at their place."""
        self._hear = hear

    def follow(self, feed: Feed, accounts: AccountFeed, bans: BanFeed) -> bool:
        """Deliver every room message in the stream's order, on every node alike.

        From now on an append completes when the stream delivers it (after
        its publish ack), in stream order with the other nodes' messages,
        which go to ``feed``; and a history read completes in submission
        order after every append submitted before it, with exactly the
        messages completed or fed before it.  So a member of a room sees
        each message once, in history or live, in the one order.

        Accounts and bans come from watchers of their buckets (every node's
        writes, this one's included, in each bucket's order).

        Returns:
            True: this store has that order.
        """
        self._feed = feed
        assert self._accounts_kv is not None and self._bans_kv is not None

        def account(raw: str, value: bytes | None) -> None:
            key = untoken(raw)
            if value is None:
                accounts(key, None)
                return
            v = json.loads(value)
            accounts(key, Account(key, str(v["name"]), str(v["password_hash"]), str(v["color"])))

        def ban(raw: str, value: bytes | None) -> None:
            kind, _, hexkey = raw.partition(".")
            key = untoken(hexkey)
            bans(kind, key, None if value is None else ban_record(kind, key, json.loads(value)))

        self._watchers = [
            asyncio.create_task(
                self._watch(self._accounts_kv, self.accounts_bucket, account),
                name="tertulia-nats-accounts",
            ),
            asyncio.create_task(
                self._watch(self._bans_kv, self.bans_bucket, ban), name="tertulia-nats-bans"
            ),
        ]
        return True

    async def _watch(
        self, kv: KeyValue, name: str, apply: Callable[[str, bytes | None], None]
    ) -> None:
        """Hand every change of a bucket to ``apply(key, value or None)`` until closed."""
        watcher = await kv.watchall()
        try:
            while self._state is _State.OPEN:
                try:
                    entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                except nats.errors.TimeoutError:
                    continue
                if entry is None:
                    continue  # the end of the initial values
                deleted = entry.operation in ("DEL", "PURGE")
                try:
                    apply(str(entry.key), None if deleted else (entry.value or b""))
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    logger.warning("bucket %s: skipping bad entry %r", name, entry.key)
                except Exception:
                    logger.exception("bucket %s: feed failed on %r", name, entry.key)
        finally:
            with contextlib.suppress(*NATS_ERRORS):
                await watcher.stop()  # type: ignore[no-untyped-call]

    def history(
        self,
        room_key: str,
        limit: int,
        before: str | None,
        after: str | None,
        done: HistoryDone,
    ) -> None:
        """Read up to ``limit`` messages of a room, oldest first (as the SQLite store).

        Raises:
            ValueError: ``before`` or ``after`` is not 1 to 16 hex digits.
        """
        low = None if after is None else parse_id(after)
        high = None if before is None else parse_id(before)
        slot = self._submit(done)
        if slot is not None:
            prior = list(self._appending)
            cap = None if self._feed is not None else self._applied
            task = asyncio.create_task(self._read(slot, cap, prior, room_key, limit, low, high))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def save_room(self, record: RoomRecord, done: WriteDone) -> None:
        """Put a room (topic, creator, modes, lists) in the rooms bucket."""
        value = json.dumps(
            {
                "room": record.room,
                "topic": record.topic,
                "creator": record.creator,
                "moderated": record.moderated,
                "invite_only": record.invite_only,
                "voiced": list(record.voiced),
                "invited": list(record.invited),
            },
            ensure_ascii=False,
        )
        self._put(self.rooms_bucket, record.key, value.encode(), done)

    def save_ban(self, ban: Ban, done: WriteDone) -> None:
        """Put a ban in the bans bucket (key: kind, then the key in hex)."""
        value = json.dumps(
            {
                "target": ban.target,
                "operator": ban.operator,
                "reason": ban.reason,
                "created": ban.created,
                "expires": ban.expires,
            },
            ensure_ascii=False,
        )
        slot = self._submit(done)
        if slot is not None:
            subject = f"$KV.{self.bans_bucket}.{ban.kind}.{token(ban.key)}"
            self._outbox.append((_Kind.PUT, slot, subject, value.encode(), ""))
            self._wake.set()

    def delete_ban(self, kind: str, key: str, done: WriteDone) -> None:
        """Delete a ban from the bans bucket (no error if there is none)."""
        slot = self._submit(done)
        if slot is not None:
            subject = f"$KV.{self.bans_bucket}.{kind}.{token(key)}"
            self._outbox.append((_Kind.DELETE, slot, subject, b"", ""))
            self._wake.set()

    def audit(self, entry: AuditEntry, done: WriteDone) -> None:
        """Append an entry to the audit stream."""
        value = json.dumps(
            {
                "ts": entry.ts,
                "operator": entry.operator,
                "action": entry.action,
                "target": entry.target,
                "detail": entry.detail,
            },
            ensure_ascii=False,
        )
        slot = self._submit(done)
        if slot is not None:
            self._outbox.append((_Kind.PUT, slot, self.audit_subject, value.encode(), ""))
            self._wake.set()

    def read_audit(self, limit: int, done: AuditDone) -> None:
        """The latest ``limit`` audit entries, oldest first."""
        self._misc(done, functools.partial(self._read_audit, limit))

    async def _read_audit(self, limit: int) -> list[AuditEntry]:
        assert self._js is not None
        if limit < 1:
            return []
        state = (await self._js.stream_info(self.audit_stream)).state
        first, last = int(state.first_seq), int(state.last_seq)
        if not state.messages:
            return []
        seqs = range(max(first, last - limit + 1), last + 1)
        raws = await asyncio.gather(*(self._raw(self.audit_stream, seq) for seq in seqs))
        out: list[AuditEntry] = []
        for raw in raws:
            if raw is None:
                continue
            try:
                v = json.loads(raw)
                out.append(
                    AuditEntry(
                        str(v["ts"]),
                        str(v["operator"]),
                        str(v["action"]),
                        str(v["target"]),
                        str(v.get("detail", "")),
                    )
                )
            except (ValueError, KeyError, TypeError):
                logger.warning("stream %s: skipping a bad audit entry", self.audit_stream)
        return out

    def keep_private(self, message: KeptPrivate, limit: int, done: KeepDone) -> None:
        """Keep a private message for an offline user, unless ``limit`` already wait."""
        self._misc(done, functools.partial(self._keep_private, message, limit))

    async def _keep_private(self, message: KeptPrivate, limit: int) -> bool:
        assert self._js is not None
        subject = self.kept_prefix + token(message.recipient_key)
        info = await self._js.stream_info(self.kept_stream, subjects_filter=subject)
        waiting = (info.state.subjects or {}).get(subject, 0)
        if waiting >= limit:
            return False
        value = json.dumps(
            {
                "sender": message.sender,
                "color": message.color,
                "text": message.text,
                "ts": message.ts,
            },
            ensure_ascii=False,
        )
        await self._js.publish(subject, value.encode(), timeout=self._ack_timeout)
        return True

    def kept_privates(self, recipient_key: str, done: KeptDone) -> None:
        """Every message kept for a user, oldest first (they stay kept)."""
        self._misc(done, functools.partial(self._kept_privates, recipient_key))

    async def _kept_privates(self, recipient_key: str) -> list[KeptPrivate]:
        assert self._js is not None
        subject = self.kept_prefix + token(recipient_key)
        out: list[KeptPrivate] = []
        seq = 1
        while True:
            try:
                raw = await self._js.get_msg(
                    self.kept_stream, seq=seq, subject=subject, next=True, direct=True
                )
            except nats.js.errors.NotFoundError:
                return out
            seq = int(raw.seq or 0) + 1
            try:
                v = json.loads(raw.data or b"")
                out.append(
                    KeptPrivate(
                        recipient_key,
                        str(v["sender"]),
                        str(v["color"]),
                        str(v["text"]),
                        str(v["ts"]),
                        int(raw.seq or 0),
                    )
                )
            except (ValueError, KeyError, TypeError):
                logger.warning("stream %s: skipping a bad kept message", self.kept_stream)

    def drop_privates(self, recipient_key: str, up_to: int, done: WriteDone) -> None:
        """Forget the messages kept for a user up to number ``up_to``."""
        self._misc(done, functools.partial(self._drop_privates, recipient_key, up_to))

    async def _drop_privates(self, recipient_key: str, up_to: int) -> None:
        assert self._js is not None
        subject = self.kept_prefix + token(recipient_key)
        await self._js.purge_stream(self.kept_stream, seq=up_to + 1, subject=subject)

    def _misc(self, done: _Done, work: Callable[[], Awaitable[object]]) -> None:
        """An operation run once every operation submitted before it is complete."""
        slot = self._submit(done)
        if slot is None:
            return
        prior = [s for s in self._slots if not s.ready and s is not slot]
        prior += list(self._appending)
        task = asyncio.create_task(self._run_misc(slot, prior, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_misc(
        self, slot: _Slot, prior: list[_Slot], work: Callable[[], Awaitable[object]]
    ) -> None:
        for earlier in prior:
            await earlier.wait()
        slot.since = time.monotonic()
        try:
            result = await work()
        except NATS_ERRORS as exc:
            logger.warning("store %s: operation failed: %r", self.description, exc)
            result = StoreUnavailable(f"{self.description}: operation failed")
        except Exception:  # a bug; the caller still gets an answer, in order
            logger.exception("store %s: operation failed", self.description)
            result = StoreUnavailable(f"{self.description}: operation failed")
        self._settle(slot, result)

    async def _raw(self, stream: str, seq: int) -> bytes | None:
        """One message's payload by sequence, or None if it is gone."""
        assert self._js is not None
        try:
            raw = await self._js.get_msg(stream, seq=seq, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        return raw.data or b""

    def save_account(self, account: Account, done: WriteDone) -> None:
        """Put an account in the accounts bucket."""
        value = json.dumps(
            {"name": account.name, "password_hash": account.password_hash, "color": account.color},
            ensure_ascii=False,
        )
        self._put(self.accounts_bucket, account.key, value.encode(), done)

    def delete_account(self, key: str, done: WriteDone) -> None:
        """Delete an account and the private messages kept for it (no error if none)."""
        self._misc(done, functools.partial(self._delete_account, key))

    async def _delete_account(self, key: str) -> None:
        assert self._accounts_kv is not None and self._js is not None
        await self._accounts_kv.delete(token(key))
        subject = self.kept_prefix + token(key)
        await self._js.purge_stream(self.kept_stream, subject=subject)

    async def close(self) -> None:
        """Finish every submitted operation, then unsubscribe and close.  Idempotent."""
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            return
        if self._state is _State.OPEN:
            self._state = _State.CLOSING
            self._outbox.append((_Kind.STOP, None, "", b"", ""))
            self._wake.set()
            asyncio.create_task(self._finish(), name="tertulia-nats-close")  # noqa: RUF006
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    # -- submission and completion ------------------------------------------

    def _submit(self, done: _Done, fifo: bool = True) -> _Slot | None:
        """A new slot (in the FIFO if ``fifo``), or None when refused (done told later)."""
        state = self._state
        if state is _State.OPEN:
            slot = _Slot(done, fifo)
            if fifo:
                self._slots.append(slot)
            return slot
        if state is _State.NEW:
            raise RuntimeError("NatsStore: call open() first")
        if state is _State.CLOSING:
            self._deferred.append(done)
        else:
            assert self._loop is not None
            self._loop.call_soon(done, StoreUnavailable(f"{self.description} is closed"))
        return None

    def _put(self, bucket: str, key: str, value: bytes, done: WriteDone) -> None:
        slot = self._submit(done)
        if slot is not None:
            self._outbox.append((_Kind.PUT, slot, f"$KV.{bucket}.{token(key)}", value, ""))
            self._wake.set()

    def _settle(self, slot: _Slot, result: object) -> None:
        """Give a slot its result (once) and run every completion now due."""
        if slot.ready:
            return
        slot.ready = True
        slot.result = result
        self._appending.pop(slot, None)
        if slot.origin:
            self._mine.pop(slot.origin, None)
        if slot.waiters is not None:
            for waiter in slot.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if slot.fifo:
            self._flush()
            return
        try:
            slot.done(result)
        except Exception:
            logger.exception("store callback %r failed", slot.done)
        if not self._appending and self._state is _State.CLOSING and not self._slots:
            self._drained.set()

    def _flush(self) -> None:
        """Run the completions at the head of the FIFO that have their result."""
        if self._flushing:
            return
        self._flushing = True
        slots = self._slots
        try:
            while slots and slots[0].ready:
                slot = slots.popleft()
                result = slot.result
                try:
                    if isinstance(result, _Finish):
                        result = result()
                    slot.done(result)
                except Exception:
                    logger.exception("store callback %r failed", slot.done)
        finally:
            self._flushing = False
        if not slots and not self._appending and self._state is _State.CLOSING:
            self._drained.set()

    # -- the writer -----------------------------------------------------------

    async def _write(self) -> None:
        """Publish the outbox in order, pipelined; acks come back through _acked."""
        outbox, wake = self._outbox, self._wake
        assert self._nc is not None and self._js is not None
        nc, js = self._nc, self._js
        while True:
            if not outbox:
                wake.clear()
                await wake.wait()
                continue
            kind, slot, subject, payload, origin = outbox.popleft()
            if kind is _Kind.STOP or slot is None:
                return
            if slot.ready:  # timed out while waiting in the outbox
                continue
            if not nc.is_connected:
                self._settle(slot, StoreUnavailable(f"{self.description}: NATS is unreachable"))
                continue
            slot.since = time.monotonic()
            headers = None
            if kind is _Kind.DELETE:
                headers = {"KV-Operation": "DEL"}
            elif kind is _Kind.APPEND:
                expires = int((time.time() + self._ack_timeout / 2) * 1000)
                headers = {EXPIRES: str(expires), ORIGIN: origin}
            try:
                future = await js.publish_async(
                    subject, payload, wait_stall=self._ack_timeout, headers=headers
                )
            except (*NATS_ERRORS, RuntimeError) as exc:  # RuntimeError: a dead transport
                logger.warning("store %s: publish failed: %r", self.description, exc)
                self._settle(slot, StoreUnavailable(f"{self.description}: publish failed"))
                continue
            future.add_done_callback(functools.partial(self._acked, slot, kind))

    def _acked(self, slot: _Slot, kind: _Kind, future: asyncio.Future[Any]) -> None:
        """A publish was answered: a write is done; a message may now be applied."""
        if slot.ready:
            return
        if future.cancelled() or future.exception() is not None:
            error = "cancelled" if future.cancelled() else repr(future.exception())
            logger.warning("store %s: write refused: %s", self.description, error)
            self._settle(slot, StoreUnavailable(f"{self.description}: write refused"))
        elif kind is not _Kind.APPEND:
            self._settle(slot, None)
        else:
            slot.seq = int(future.result().seq)
        if self._inbound:
            self._apply()

    async def _sweep(self) -> None:
        """Fail operations sent longer than ``ack_timeout`` ago (NATS away, lost ack).

        Slots are sent roughly in FIFO order, so the scan stops at the first
        recent or unsent one.
        """
        period = max(0.05, self._ack_timeout / 4)
        while True:
            await asyncio.sleep(period)
            cutoff = time.monotonic() - self._ack_timeout
            late = []
            for queue in (self._slots, self._appending):
                for slot in queue:
                    if slot.since >= cutoff:
                        break
                    late.append(slot)
            for slot in late:
                if not slot.ready:
                    logger.warning("store %s: no answer in time", self.description)
                    self._settle(slot, StoreUnavailable(f"{self.description}: no answer in time"))
            if late and self._inbound:
                self._apply()  # a message of ours held for an ack that never came

    # -- the subscription and the index --------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        """Each stream message, in stream order: queue it, then apply what can be."""
        metadata = msg.metadata
        seq = int(metadata.sequence.stream)
        inbound = self._inbound
        if seq <= self._applied or (inbound and seq <= inbound[-1][0]):
            return  # replayed by a new consumer after a reconnect
        stored_ms = metadata.timestamp.timestamp() * 1000
        inbound.append((seq, msg.subject, msg.data, msg.headers or {}, stored_ms))
        self._apply()

    def _apply(self) -> None:
        """Index delivered messages in stream order and complete or feed them.

        A message of ours waits (and every later one with it) until its
        publish is acked: nothing is delivered that JetStream has not
        acknowledged.  A message whose append already gave up (no answer in
        time) is still a valid message of the stream: it is fed like another
        node's, as every other node delivers it.
        """
        inbound = self._inbound
        while inbound:
            seq, subject, data, headers, stored_ms = inbound[0]
            node, _, number = str(headers.get(ORIGIN, "")).partition(".")
            slot = None
            if node == self._node and number.isdigit():
                slot = self._mine.get(int(number))
                if slot is not None and not slot.ready and slot.seq == 0:
                    return  # stored before delivered: wait for the ack
            inbound.popleft()
            if subject == self.events_subject:
                self._event(seq, data, headers, stored_ms, slot)
                continue
            room_key, message = self._admit(seq, subject, data, headers, stored_ms)
            self._applied = seq
            self._caught_up(seq)
            if slot is not None and not slot.ready:
                if message is None:
                    self._settle(slot, StoreUnavailable(f"{self.description}: stored too late"))
                else:
                    self._settle(slot, message)
            elif message is not None and self._feed is not None:
                try:
                    self._feed(room_key, message)
                except Exception:
                    logger.exception("store feed %r failed", self._feed)

    def _caught_up(self, seq: int) -> None:
        catching_up = self._catching_up
        if catching_up is not None and seq >= catching_up[0] and not catching_up[1].done():
            catching_up[1].set_result(None)

    def _event(
        self,
        seq: int,
        data: bytes,
        headers: dict[str, str],
        stored_ms: float,
        slot: _Slot | None,
    ) -> None:
        """A cluster event at its place: complete ours, hand the others' to the bus."""
        self._applied = seq
        self._caught_up(seq)
        expires = headers.get(EXPIRES, "0")
        late = expires.isdigit() and int(expires) and stored_ms > int(expires)
        if slot is not None:
            if not slot.ready:
                self._settle(slot, StoreUnavailable("stored too late") if late else None)
            return
        if late or self._hear is None:
            return
        try:
            self._hear(data)
        except Exception:
            logger.exception("store event listener %r failed", self._hear)

    def _admit(
        self, seq: int, subject: str, data: bytes, headers: dict[str, str], stored_ms: float
    ) -> tuple[str, StoredMessage | None]:
        """Index one stream message; None for junk or a message stored past its deadline."""
        try:
            room_key = untoken(subject[len(self.subject_prefix) :])
            message = decode_message(seq, data)
            expires = int(headers.get(EXPIRES, "0"))
        except (ValueError, UnicodeDecodeError):
            logger.warning("store %s: skipping foreign message %d on %s", self.stream, seq, subject)
            return "", None
        if expires and stored_ms > expires:
            logger.warning("store %s: message %d stored too late; ignored", self.stream, seq)
            return room_key, None
        room = self._index.get(room_key)
        if room is None:
            room = self._index[room_key] = _RoomIndex(min(self._tail, self._keep))
        seqs = room.seqs
        seqs.append(seq)
        if len(seqs) > self._keep + self._keep // 4 + 16:
            del seqs[: len(seqs) - self._keep]
        room.tail.append(message)
        return room_key, message

    async def _read(
        self,
        slot: _Slot,
        cap: int | None,
        prior: list[_Slot],
        room_key: str,
        limit: int,
        low: int | None,
        high: int | None,
    ) -> None:
        """A history read, once every append submitted before it is complete.

        Messages older than the in-memory tail are fetched now; the result is
        put together when the read's turn comes in the FIFO (:class:`_Finish`).
        Not followed, it holds the stream up to ``cap`` (what was indexed when
        it was submitted) or the last of the appends before it, and nothing
        later, since those messages are delivered after it.  Followed, it
        holds everything completed or fed before its own completion.
        """
        for append in prior:
            await append.wait()
        slot.since = time.monotonic()
        if cap is not None:
            cap = max([cap, *(append.seq for append in prior)])
        try:
            fetched = await self._prefetch(room_key, limit, low, high, cap)
        except NATS_ERRORS as exc:
            logger.warning("store %s: history read failed: %r", self.description, exc)
            self._settle(slot, StoreUnavailable(f"{self.description}: history read failed"))
            return
        except Exception:  # a bug; the caller still gets an answer, in order
            logger.exception("store %s: history read failed", self.description)
            self._settle(slot, StoreUnavailable(f"{self.description}: history read failed"))
            return
        finish = functools.partial(self._select, room_key, limit, low, high, cap, fetched)
        self._settle(slot, _Finish(finish))

    def _range(
        self, room: _RoomIndex, limit: int, low: int | None, high: int | None, cap: int | None
    ) -> tuple[int, int]:
        """The positions in ``room.seqs`` a read wants: [start, end)."""
        seqs = room.seqs
        if cap is not None:
            high = cap + 1 if high is None else min(high, cap + 1)
        if limit < 1:
            return 0, 0
        if low is None:
            end = len(seqs) if high is None else bisect_left(seqs, high)
            return max(0, end - limit), end
        start = bisect_right(seqs, low)
        end = len(seqs) if high is None else bisect_left(seqs, high)
        return start, min(end, start + limit)

    async def _prefetch(
        self, room_key: str, limit: int, low: int | None, high: int | None, cap: int | None
    ) -> dict[int, StoredMessage]:
        """The wanted messages older than the tail, by direct get (skipping discarded ones)."""
        room = self._index.get(room_key)
        if room is None:
            return {}
        start, end = self._range(room, limit, low, high, cap)
        older = room.seqs[start : min(end, len(room.seqs) - len(room.tail))]
        if not older:
            return {}
        fetched = await asyncio.gather(*(self._fetch(seq) for seq in older))
        return {seq: m for seq, m in zip(older, fetched, strict=True) if m is not None}

    def _select(
        self,
        room_key: str,
        limit: int,
        low: int | None,
        high: int | None,
        cap: int | None,
        fetched: dict[int, StoredMessage],
    ) -> list[StoredMessage]:
        """A read's result from the index as it is now, plus what was fetched.

        A message that left the tail after the prefetch (more than
        :data:`TAIL` newer ones in the room meanwhile) is missing from it.
        """
        room = self._index.get(room_key)
        if room is None:
            return []
        start, end = self._range(room, limit, low, high, cap)
        seqs = room.seqs
        cached_from = len(seqs) - len(room.tail)
        out = [fetched[q] for q in seqs[start : min(end, cached_from)] if q in fetched]
        if end > cached_from:
            first = max(start, cached_from) - cached_from
            out.extend(itertools.islice(room.tail, first, end - cached_from))
        return out

    async def _fetch(self, seq: int) -> StoredMessage | None:
        """One old message by sequence (direct get), or None if the limits dropped it."""
        assert self._js is not None
        try:
            raw = await self._js.get_msg(self.stream, seq=seq, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        try:
            return decode_message(seq, raw.data or b"")
        except ValueError:
            return None

    # -- opening and closing --------------------------------------------------

    async def _prepare(self, nc: Client) -> Snapshot:
        """Create or check the stream and buckets; read them; start the subscription."""
        js = nc.jetstream(timeout=self._ack_timeout, publish_async_max_pending=4000)
        self._js = js
        config = StreamConfig(
            name=self.stream,
            subjects=[self.subject_prefix + "*"],
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_msgs_per_subject=self._history_per_room,
            max_bytes=self._max_bytes,
            num_replicas=self._replicas,
            allow_direct=True,
        )

        async def stream() -> StreamInfo:  # looked up, or made; both safe to repeat
            try:
                return await js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                return await js.add_stream(config)

        info = await patiently(stream)
        if info.config.max_msgs_per_subject != self._history_per_room:
            info = await js.update_stream(config)
        self._keep = max(1, int(info.config.max_msgs_per_subject or self._history_per_room))
        self._rooms_kv = await self._bucket(js, self.rooms_bucket)
        self._accounts_kv = await self._bucket(js, self.accounts_bucket)
        self._bans_kv = await self._bucket(js, self.bans_bucket)
        await self._ensure_stream(js, self.audit_stream, [self.audit_subject], max_msgs=100_000)
        await self._ensure_stream(js, self.kept_stream, [self.kept_prefix + "*"])
        rooms: list[RoomRecord] = []
        for raw, v in await self._read_bucket(self._rooms_kv, self.rooms_bucket):
            try:
                rooms.append(room_record(untoken(raw), v))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                logger.warning("bucket %s: skipping bad entry %r", self.rooms_bucket, raw)
        accounts: list[Account] = []
        for raw, v in await self._read_bucket(self._accounts_kv, self.accounts_bucket):
            try:
                key = untoken(raw)
                accounts.append(
                    Account(key, str(v["name"]), str(v["password_hash"]), str(v["color"]))
                )
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                logger.warning("bucket %s: skipping bad entry %r", self.accounts_bucket, raw)
        bans: list[Ban] = []
        for raw, v in await self._read_bucket(self._bans_kv, self.bans_bucket):
            try:
                kind, _, hexkey = raw.partition(".")
                bans.append(ban_record(kind, untoken(hexkey), v))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                logger.warning("bucket %s: skipping bad entry %r", self.bans_bucket, raw)
        last = int(info.state.last_seq)
        self._sub = await self._subscribe(1)
        # Wait until the index holds everything the stream held at start (the
        # limits discard a message only for a newer one, so ``last`` comes).
        if info.state.messages and self._applied < last:
            caught_up: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._catching_up = (last, caught_up)
            try:
                await asyncio.wait_for(caught_up, max(self._connect_timeout, 60.0))
            except TimeoutError:
                raise TimeoutError("reading the history stream took too long") from None
            finally:
                self._catching_up = None
        return Snapshot(
            rooms=sorted(rooms, key=lambda r: r.key),
            accounts=sorted(accounts, key=lambda a: a.key),
            bans=sorted(bans, key=lambda b: (b.kind, b.key)),
        )

    async def _ensure_stream(
        self, js: JetStreamContext, name: str, subjects: list[str], max_msgs: int = -1
    ) -> None:
        """Create a stream if it does not exist (file storage, direct get)."""
        config = StreamConfig(
            name=name,
            subjects=subjects,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_msgs=max_msgs,
            num_replicas=self._replicas,
            allow_direct=True,
        )

        async def stream() -> StreamInfo:  # looked up, or made; both safe to repeat
            try:
                return await js.stream_info(name)
            except nats.js.errors.NotFoundError:
                return await js.add_stream(config)

        await patiently(stream)

    async def _subscribe(self, start: int) -> JetStreamContext.PushSubscription:
        """An ordered consumer over the whole stream from sequence ``start``."""
        assert self._js is not None
        return await self._js.subscribe(
            self.subject_prefix + "*",
            stream=self.stream,
            cb=self._on_message,
            ordered_consumer=True,
            idle_heartbeat=1.0,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            ),
        )

    async def _resubscribe(self) -> None:
        """After a reconnect: a new consumer from the next sequence not yet seen.

        The old consumer may have died with the server; waiting for its
        heartbeats to be missed would leave appends unconfirmed meanwhile.
        """
        while self._state is _State.OPEN and self._nc is not None and self._nc.is_connected:
            old, self._sub = self._sub, None
            if old is not None:
                try:
                    await old.unsubscribe()
                except NATS_ERRORS:
                    pass
            try:
                self._sub = await self._subscribe(self._applied + 1)
                logger.info(
                    "store %s: following the stream from %d", self.stream, self._applied + 1
                )
                return
            except NATS_ERRORS as exc:  # JetStream may still be starting
                logger.info("store %s: cannot follow the stream yet: %r", self.stream, exc)
                await asyncio.sleep(0.25)

    async def _bucket(self, js: JetStreamContext, name: str) -> KeyValue:
        async def bucket() -> KeyValue:  # looked up, or made; both safe to repeat
            try:
                return await js.key_value(name)
            except nats.js.errors.BucketNotFoundError:
                return await js.create_key_value(
                    bucket=name, history=1, replicas=self._replicas, storage=StorageType.FILE
                )

        return await patiently(bucket)

    async def _read_bucket(self, kv: KeyValue, name: str) -> list[tuple[str, dict[str, Any]]]:
        """Every live key of a bucket with its JSON value (bad entries are logged, skipped)."""
        watcher = await kv.watchall(ignore_deletes=True)
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            while True:
                entry = await watcher.updates(timeout=self._ack_timeout)  # type: ignore[no-untyped-call]
                if entry is None:
                    break
                try:
                    value = json.loads(entry.value or b"")
                    if not isinstance(value, dict):
                        raise ValueError("not an object")
                    out.append((str(entry.key), value))
                except (ValueError, UnicodeDecodeError):
                    logger.warning("bucket %s: skipping bad entry %r", name, entry.key)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return out

    async def _finish(self) -> None:
        """The close sequence: drain the writer and the FIFO, then disconnect."""
        try:
            if self._writer is not None:
                await self._writer
            # Every slot completes: by its ack, its read or the sweeper.
            if self._slots:
                await self._drained.wait()
            for task in list(self._tasks):
                await task
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()
            for watcher in self._watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, *NATS_ERRORS):
                    await watcher
            await self._abandon()
            self._state = _State.CLOSED
            deferred, self._deferred = self._deferred, []
            for done in deferred:
                try:
                    done(StoreUnavailable(f"{self.description} is closed"))
                except Exception:
                    logger.exception("store callback %r failed", done)
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)

    async def _abandon(self) -> None:
        """Close the connection, whatever state it is in."""
        nc = self._nc
        if nc is None:
            return
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # nats-py may raise anything on a dead transport
                logger.debug("unsubscribing failed", exc_info=True)
            self._sub = None
        try:
            await nc.close()
        except Exception:  # nats-py may raise anything on a dead transport
            logger.debug("closing the NATS connection failed", exc_info=True)

    # -- connection events -----------------------------------------------------

    async def _on_disconnected(self) -> None:
        if self._state is _State.OPEN:
            logger.warning("store %s: disconnected from NATS; reconnecting", self.description)

    async def _on_reconnected(self) -> None:
        if self._state is _State.OPEN:
            logger.info("store %s: reconnected to NATS", self.description)
            task = asyncio.create_task(self._resubscribe(), name="tertulia-nats-resubscribe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
