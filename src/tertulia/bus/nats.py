"""The cluster bus on NATS JetStream: names unique across every node.

:class:`NatsBus` implements :class:`tertulia.core.ports.Bus`.  With the
default prefix, names live in the key-value bucket ``tertulia_names``: key =
the folded name's UTF-8 in hex, value = JSON ``{"name", "node"}``.

* **A claim is a KV create**: atomic in JetStream, so when several nodes
  claim one name at once exactly one succeeds (the others see
  ``KeyWrongLastSequenceError`` and answer ``NAME_IN_USE``).
* **Kept alive by its node.**  The bucket's entries expire ``ttl`` seconds
  after their last write (the bucket's ``max_age``); the node rewrites each
  of its claims every :data:`KEEP` seconds with a compare-and-set update on
  the revision it holds.  When it quits cleanly it deletes them at once;
  a dead node's claims are taken over at once (below), so the TTL is only
  the fallback, and long enough for a NATS cluster to elect a new leader of
  the bucket after one of its servers dies (several seconds without a
  keep-alive) without any claim lapsing.
* **A claim found gone at a keep-alive** (it lapsed: the node was cut off
  longer than the TTL) is claimed again if no one took it meanwhile; if
  someone did, the node lets it go and sends its user away (``NAME_LOST``).
* **One worker, one order.**  Claims, releases and keep-alives of a node go
  through one queue, so a release and a later claim of the same name by the
  same node happen in that order, and a keep-alive never races a release.
* **Presence** travels as JSON objects of
  :class:`~tertulia.core.ports.ClusterEvent` fields.  Once the bus is
  ordered with a store's stream (:meth:`NatsBus.order_with`, what a node
  does), the room-visible events (JOIN, LEAVE, QUIT, NICK, TOPIC, room
  modes) go into the history stream on ``tertulia.msg.ev``: every node
  hears them at their place among the room messages, so every member sees
  one order.  The rest (hello, want, beats, private messages) is on
  plain NATS subjects, not stored: ``tertulia.ev`` for everyone,
  ``tertulia.node.<node>`` for one node.  Every node says
  ``beat`` each :data:`BEAT` seconds; one silent for :data:`SILENCE` seconds,
  or that says ``bye``, is reported lost (its users quit).  A node that
  starts says ``hello`` and every other one answers with its state (its
  users and their rooms); a node heard from for the first time is asked
  for its state (``want``).  Once ordered, that answer goes into the
  stream too, addressed to the node that asked, so that it never overtakes
  the events the answering node stored before it (a JOIN known from a state
  would be taken for a repeat, and its line lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from tertulia.core.ports import (
    AUTH,
    BANNED,
    JOINED,
    KICKED,
    LEFT,
    MODES,
    MUTED,
    NAME_LOST,
    NODE_LOST,
    NOTICE,
    RECOLORED,
    RENAMED,
    TOPIC,
    UNBANNED,
    USER_OFF,
    Answered,
    ClaimDone,
    ClusterEvent,
    ClusterListener,
    ClusterState,
    StoreUnavailable,
)
from tertulia.store.nats import NATS_ERRORS, NatsStore, connect, patiently, token

logger = logging.getLogger(__name__)

#: Seconds a claim outlives the last keep-alive of its node (a NATS leader
#: election after a server's death must fit in it with room to spare).
NAME_TTL: Final = 15.0
#: Seconds between two keep-alives of a node's claims.
KEEP: Final = 2.0
#: Seconds between two beats of a node.
BEAT: Final = 1.0
#: Seconds of silence after which a node is taken for dead.
SILENCE: Final = 3.5
#: Seconds of silence after which a node that no longer answers (no subscriber
#: in NATS) is taken for gone, and its claims taken over: more than a beat, so
#: that a node moving to another NATS server (a fraction of a second) keeps them.
GONE_AFTER: Final = 1.5

# Bus-level kinds (never handed to the listener).
_HELLO, _WANT, _BEAT, _BYE = "hello", "want", "beat", "bye"
#: Asked of a node that holds a name's claim: does it still (``yes``/``no``)?
_HOLDS = "holds"
#: Seconds a node has to answer that.
HOLDS_TIMEOUT: Final = 1.0
#: A barrier's mark in the stream (see NatsBus.barrier); heard and dropped.
_MARK = "mark"
#: A node's state in the stream: up to STATE_BATCH events in one (``items``).
_STATE = "state"
STATE_BATCH: Final = 500
#: The kinds that go into the stream, in order with the room messages.
ORDERED: Final = frozenset(
    {
        JOINED,
        LEFT,
        USER_OFF,
        RENAMED,
        TOPIC,
        MODES,
        RECOLORED,
        KICKED,
        NOTICE,
        MUTED,
        BANNED,
        UNBANNED,
        AUTH,
    }
)
_FIELDS: Final = ("kind", "node", "key", "name", "color", "room", "text", "new_name", "mid", "ts")


class _Op(enum.Enum):
    CLAIM = "claim"
    RELEASE = "release"
    KEEP = "keep"
    STOP = "stop"


class NatsBus:
    """The :class:`~tertulia.core.ports.Bus` port on NATS JetStream.

    Args:
        servers: NATS URLs, a list or one string with commas.
        prefix: as for :class:`~tertulia.store.nats.NatsStore`.
        ttl: seconds before the claims of a dead node lapse.
        replicas: copies of the bucket in a NATS cluster.
        timeout: seconds one KV operation may take.
        connect_timeout: seconds ``open()`` tries to reach NATS.
    """

    shared = True

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        prefix: str = "tertulia",
        ttl: float = NAME_TTL,
        replicas: int = 1,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
    ) -> None:
        urls = servers.split(",") if isinstance(servers, str) else list(servers)
        self.servers = [u.strip() for u in urls if u.strip()]
        self.bucket = f"{prefix}_names"
        self.description = f"nats {','.join(self.servers)} (names in {self.bucket})"
        self.node = secrets.token_hex(6)
        self._ttl = ttl
        self._replicas = replicas
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._nc: Client | None = None
        self._kv: KeyValue | None = None
        #: The names this node holds: folded key -> (name, revision).
        self.owned: dict[str, tuple[str, int]] = {}
        self._queue: deque[tuple[_Op, str, str, ClaimDone | None]] = deque()
        #: The key of the claim being made now (held, as far as others ask).
        self._claiming: str | None = None
        #: Claims given up whose deletion is queued: key -> (name, revision).
        self._releasing: dict[str, tuple[str, int]] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False
        self.events_subject = f"{prefix}.ev"
        self.node_prefix = f"{prefix}.node."
        self._listener: ClusterListener | None = None
        self._state: ClusterState | None = None
        self._events: deque[tuple[str, bytes]] = deque()
        self._events_wake = asyncio.Event()
        self._announcer: asyncio.Task[None] | None = None
        self._beater: asyncio.Task[None] | None = None
        #: Other nodes heard from, with the monotonic time of their last word.
        self.nodes: dict[str, float] = {}
        self._stream: NatsStore | None = None
        self._asking: set[asyncio.Task[None]] = set()
        #: Barriers waiting for the next mark, and whether one is on its way.
        self._barriers: list[Callable[[], None]] = []
        self._marking = False

    def order_with(self, store: NatsStore) -> None:
        """Send room-visible events through ``store``'s stream, and hear them from it."""
        self._stream = store
        store.hear_events(self._hear_ordered)

    def _hear_ordered(self, data: bytes) -> None:
        """An event from the stream (never asked, so never answered)."""
        self.hear(data)

    async def open(self) -> None:
        """Connect and create the names bucket if it is new.

        Raises:
            StoreUnavailable: NATS cannot be reached or has no JetStream.
        """
        self._nc = await connect(self.servers, self._connect_timeout, "tertulia-bus")
        js = self._nc.jetstream(timeout=self._timeout)
        config = KeyValueConfig(
            bucket=self.bucket,
            history=1,
            ttl=self._ttl,
            storage=StorageType.FILE,
            replicas=self._replicas,
        )

        async def bucket() -> KeyValue:  # looked up, or made; both safe to repeat
            try:
                return await js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                return await js.create_key_value(config=config)

        try:
            self._kv = await patiently(bucket)
        except NATS_ERRORS as exc:
            with contextlib.suppress(Exception):
                await self._nc.close()
            raise StoreUnavailable(f"NATS names bucket {self.bucket}: {exc!r}") from None
        self._worker = asyncio.create_task(self._work(), name="tertulia-bus-worker")
        self._keeper = asyncio.create_task(self._keep(), name="tertulia-bus-keeper")
        logger.info("bus %s open (node %s)", self.description, self.node)

    def claim(self, key: str, name: str, done: ClaimDone) -> None:
        """Queue a claim; ``done`` gets True, False (taken) or StoreUnavailable."""
        if self._closed or self._worker is None:
            asyncio.get_running_loop().call_soon(
                done, StoreUnavailable("the cluster bus is closed")
            )
            return
        self._queue.append((_Op.CLAIM, key, name, done))
        self._wake.set()

    def attach(self, listener: ClusterListener, state: ClusterState) -> None:
        """Start hearing the other nodes; say hello so that they tell their state."""
        self._listener, self._state = listener, state
        self._announcer = asyncio.create_task(self._announce_loop(), name="tertulia-bus-events")

    def announce(self, event: ClusterEvent) -> None:
        """Queue an event for every other node (in the stream if it is ordered)."""
        if self._stream is not None and event.kind in ORDERED:
            if not self._closed:
                self._stream.publish_event(self._encode(event), _ignore)
            return
        self._emit(self.events_subject, event)

    def barrier(self, done: Callable[[], None]) -> None:
        """Call ``done`` once every event and message stored before now is applied here.

        A mark goes into the stream after this node's earlier events; when
        the subscription reaches it, everything stored before it, by any
        node, has been delivered here.  Marks are shared: while one is on
        its way, the barriers asked meanwhile wait for the next one, which
        is sent when it arrives, so a busy node writes about one mark per
        round trip to NATS rather than one per command.  Without a stream
        (or when it fails) ``done`` is called anyway, soon.
        """
        if self._stream is None or self._closed:
            asyncio.get_running_loop().call_soon(done)
            return
        self._barriers.append(done)
        if not self._marking:
            self._mark()

    def _mark(self) -> None:
        """Send one mark for every barrier waiting now."""
        assert self._stream is not None
        batch, self._barriers = self._barriers, []
        self._marking = True

        def reached(_result: object) -> None:
            self._marking = False
            for done in batch:
                try:
                    done()
                except Exception:
                    logger.exception("barrier callback %r failed", done)
            if self._barriers and not self._marking:
                if self._closed:
                    for done in self._barriers:
                        asyncio.get_running_loop().call_soon(done)
                    self._barriers = []
                else:
                    self._mark()

        self._stream.publish_event(self._encode(ClusterEvent(_MARK)), reached)

    def send(self, node: str, event: ClusterEvent) -> None:
        """Queue an event for one node."""
        self._emit(self.node_prefix + node, event)

    def _answer(self, node: str) -> None:
        """Tell ``node`` this node's state: its users and their rooms.

        Ordered with a stream, the answer goes into the stream, addressed to
        ``node`` (the others drop it): it comes there after every event this
        node put in the stream before, so ``node`` hears a user's JOIN
        before the state that holds its effect.  On a plain subject the
        answer could overtake that JOIN, and ``node`` would then take the
        JOIN for one it knew already and show its users no JOIN line.
        """
        items = self._state() if self._state is not None else []
        if self._stream is None:
            for item in items:
                self.send(node, item)
            return
        for first in range(0, len(items), STATE_BATCH):  # a few stream writes, not one each
            if self._closed:
                return
            batch = [_fields(item) for item in items[first : first + STATE_BATCH]]
            payload = {"kind": _STATE, "node": self.node, "to": node, "items": batch}
            self._stream.publish_event(json.dumps(payload, ensure_ascii=False).encode(), _ignore)

    def ask(self, node: str, event: ClusterEvent, done: Answered) -> None:
        """Send an event to one node as a request; ``done`` gets its answer or None."""
        if self._closed or self._nc is None:
            asyncio.get_running_loop().call_soon(done, None)
            return
        task = asyncio.create_task(self._ask(node, self._encode(event), done))
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def _ask(self, node: str, payload: bytes, done: Answered) -> None:
        assert self._nc is not None
        answer: str | None = None
        try:
            reply = await self._nc.request(self.node_prefix + node, payload, self._timeout)
            answer = reply.data.decode(errors="replace")
        except nats.errors.NoRespondersError:
            answer = ""  # no such node any more
        except (*NATS_ERRORS, RuntimeError) as exc:
            logger.info("bus %s: node %s did not answer: %r", self.description, node, exc)
        try:
            done(answer)
        except Exception:
            logger.exception("bus callback %r failed", done)

    def peers(self) -> list[str]:
        """The other nodes heard from lately (not yet reported lost)."""
        return list(self.nodes)

    def _emit(self, subject: str, event: ClusterEvent) -> None:
        if self._closed or self._announcer is None:
            return
        self._events.append((subject, self._encode(event)))
        self._events_wake.set()

    def _encode(self, event: ClusterEvent) -> bytes:
        fields = _fields(event)
        fields["node"] = self.node
        return json.dumps(fields, ensure_ascii=False).encode()

    async def _announce_loop(self) -> None:
        """Subscribe, say hello, then publish queued events in order."""
        assert self._nc is not None
        nc = self._nc
        await nc.subscribe(self.events_subject, cb=self._heard)
        await nc.subscribe(self.node_prefix + self.node, cb=self._heard)
        self._beater = asyncio.create_task(self._beat(), name="tertulia-bus-beat")
        self.announce(ClusterEvent(_HELLO))
        events = self._events
        while True:
            if not events:
                self._events_wake.clear()
                await self._events_wake.wait()
                continue
            subject, payload = events.popleft()
            if not subject:
                return
            try:
                await nc.publish(subject, payload)
            except (*NATS_ERRORS, RuntimeError) as exc:  # best effort; beats resync it
                logger.debug("bus %s: event lost: %r", self.description, exc)

    async def _heard(self, msg: Any) -> None:
        """An event from another node, on a plain subject; answered if it asks."""
        answer = self.hear(msg.data)
        if msg.reply:
            try:
                await msg.respond((answer or "").encode())
            except (*NATS_ERRORS, RuntimeError) as exc:
                logger.debug("bus %s: answer lost: %r", self.description, exc)

    def hear(self, data: bytes) -> str | None:
        """An event from another node (from a plain subject or the stream).

        Returns the listener's answer, for an event that was asked.
        """
        try:
            fields = json.loads(data)
            if not isinstance(fields, dict):
                raise TypeError("not an object")
            event = _event(fields, str(fields.get("node", "")))
        except (ValueError, TypeError):
            logger.warning("bus %s: bad event %r", self.description, data[:100])
            return None
        node = event.node
        if not node or node == self.node or fields.get("to", self.node) != self.node:
            return None
        kind = event.kind
        known = node in self.nodes
        self.nodes[node] = time.monotonic()
        if kind == _BYE:
            self._lost(node)
            return None
        if kind in (NODE_LOST, NAME_LOST):
            return None  # said by a bus of itself, never by another node
        if kind == _HOLDS:
            return "yes" if self.holds(event.key) else "no"
        if kind in (_HELLO, _WANT):
            self._answer(node)
            if kind == _WANT:
                return None
        if not known and kind != _HELLO:
            self.send(node, ClusterEvent(_WANT))
        if kind in (_HELLO, _BEAT, _WANT, _MARK):
            return None
        if kind == _STATE:
            items = fields.get("items")
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict):
                    self._tell(_event(item, node))
            return None
        return self._tell(event)

    def _tell(self, event: ClusterEvent) -> str | None:
        """Hand an event to the listener; a failure there is logged, not raised."""
        if self._listener is not None:
            try:
                return self._listener(event)
            except Exception:
                logger.exception("bus listener failed on %r", event)
        return None

    def _lost(self, node: str) -> None:
        self.nodes.pop(node, None)
        logger.info("bus %s: node %s is gone", self.description, node)
        if self._listener is not None:
            self._listener(ClusterEvent(NODE_LOST, node=node))

    async def _beat(self) -> None:
        """Beat, and report the nodes that fell silent."""
        while True:
            self.announce(ClusterEvent(_BEAT))
            await asyncio.sleep(BEAT)
            cutoff = time.monotonic() - SILENCE
            for node, seen in list(self.nodes.items()):
                if seen < cutoff:
                    self._lost(node)

    def release(self, key: str) -> None:
        """Give up a claim of this node (no-op for another's): at once, as far as
        other nodes ask (:meth:`holds`); its deletion is queued."""
        held = self.owned.pop(key, None)
        if held is not None and self._worker is not None:
            self._releasing[key] = held
            self._queue.append((_Op.RELEASE, key, "", None))
            self._wake.set()

    def holds(self, key: str) -> bool:
        """True while this node holds (or is making) the claim of a name key."""
        return key in self.owned or key == self._claiming

    async def close(self) -> None:
        """Release every claim, stop the worker, disconnect.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
        if self._beater is not None:
            self._beater.cancel()
        if self._announcer is not None:
            self._events.append(
                (self.events_subject, json.dumps({"kind": _BYE, "node": self.node}).encode())
            )
            self._events.append(("", b""))
            self._events_wake.set()
            try:
                await asyncio.wait_for(self._announcer, self._timeout)
            except (TimeoutError, *NATS_ERRORS):
                self._announcer.cancel()
        if self._worker is not None:
            if self._nc is not None and self._nc.is_connected:
                for key in list(self.owned):
                    self.release(key)
            # Else the claims lapse by themselves within the TTL.
            self._queue.append((_Op.STOP, "", "", None))
            self._wake.set()
            try:
                await asyncio.wait_for(self._worker, self._timeout)
            except TimeoutError:
                logger.warning("bus %s: names not all released; they lapse", self.description)
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:  # nats-py may raise anything on a dead transport
                logger.debug("closing the bus connection failed", exc_info=True)

    # -- the worker --------------------------------------------------------

    async def _work(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            op, key, name, done = queue.popleft()
            if op is _Op.STOP:
                return
            try:
                if op is _Op.CLAIM:
                    assert done is not None
                    result = await self._claim(key, name)
                    try:
                        done(result)
                    except Exception:
                        logger.exception("bus callback %r failed", done)
                elif op is _Op.RELEASE:
                    await self._release(key)
                else:
                    await self._refresh(key)
            except Exception:  # a bug must not stop the worker: later claims would hang
                logger.exception("bus %s: %s %r failed", self.description, op.value, key)
                if op is _Op.CLAIM and done is not None:
                    done(StoreUnavailable("the cluster bus failed"))

    async def _claim(self, key: str, name: str) -> bool | StoreUnavailable:
        assert self._kv is not None and self._nc is not None
        if not self._nc.is_connected:
            return StoreUnavailable("the cluster is unreachable")
        value = json.dumps({"name": name, "node": self.node}, ensure_ascii=False).encode()
        self._claiming = key
        try:
            try:
                revision = await self._kv.create(token(key), value)
            except nats.js.errors.KeyWrongLastSequenceError:
                taken = await self._take_over(key, value)
                if taken is None:
                    return False
                revision = taken
        except NATS_ERRORS as exc:
            logger.warning("bus %s: claim of %r failed: %r", self.description, name, exc)
            return StoreUnavailable("the cluster could not be asked")
        finally:
            self._claiming = None
        self.owned[key] = (name, revision)
        return True

    async def _take_over(self, key: str, value: bytes) -> int | None:
        """A claim found in place: take it if its node is gone or has let it go.

        The node named in the claim is asked (:data:`_HOLDS`).  No node to
        answer (NATS knows no subscriber: it died) and not heard from for
        :data:`GONE_AFTER` seconds, or ``no`` (its user quit and the deletion
        is on its way), makes the claim stale, and it is
        replaced with a compare-and-set on its revision, so that of several
        nodes taking it over at once exactly one wins.  Returns the new
        revision, or None when the name is in use.
        """
        assert self._kv is not None and self._nc is not None
        try:
            entry = await self._kv.get(token(key))
            holder = json.loads(entry.value or b"{}").get("node", "")
        except nats.js.errors.KeyNotFoundError:  # deleted meanwhile: claim it anew
            try:
                return await self._kv.create(token(key), value)
            except nats.js.errors.KeyWrongLastSequenceError:
                return None
        except (ValueError, AttributeError):
            return None
        if holder == self.node or await self._holder_keeps(str(holder), key):
            return None
        try:
            return await self._kv.update(token(key), value, last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # changed meanwhile: deleted by its node (then free), or taken
        try:
            return await self._kv.create(token(key), value)
        except nats.js.errors.KeyWrongLastSequenceError:
            return None

    async def _holder_keeps(self, holder: str, key: str) -> bool:
        """Ask the node that holds a claim whether it still does (True when unsure)."""
        assert self._nc is not None
        ask = json.dumps({"kind": _HOLDS, "node": self.node, "key": key}).encode()
        try:
            reply = await self._nc.request(self.node_prefix + holder, ask, HOLDS_TIMEOUT)
        except nats.errors.NoRespondersError:
            # No subscriber: the node is dead, or moving to another NATS
            # server.  Only one silent for a while is taken for dead.
            heard = self.nodes.get(holder)
            return heard is not None and time.monotonic() - heard < GONE_AFTER
        except NATS_ERRORS:
            return True
        return reply.data != b"no"

    async def _release(self, key: str) -> None:
        held = self._releasing.pop(key, None)
        if held is None:
            return
        assert self._kv is not None
        name, revision = held
        try:
            await self._kv.delete(token(key), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # taken over meanwhile by a node that asked (see _take_over)
        except NATS_ERRORS as exc:  # it lapses by itself within the TTL
            logger.warning("bus %s: release of %r failed: %r", self.description, name, exc)

    async def _refresh(self, key: str) -> None:
        held = self.owned.get(key)
        if held is None:
            return
        assert self._kv is not None
        name, revision = held
        value = json.dumps({"name": name, "node": self.node}, ensure_ascii=False).encode()
        try:
            renewed = await self._kv.update(token(key), value, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            again = await self._claim_again(key, name, value)
            if again is None:
                return
            renewed = again
        except NATS_ERRORS as exc:
            logger.warning("bus %s: keep-alive of %r failed: %r", self.description, name, exc)
            return
        # Given up while it was renewed: its deletion needs the new revision.
        table = self.owned if key in self.owned else self._releasing
        if key in table:
            table[key] = (name, renewed)

    async def _claim_again(self, key: str, name: str, value: bytes) -> int | None:
        """A claim found changed at a keep-alive: if it lapsed (this node was
        cut off longer than the TTL) and no one took it, claim it again and
        return the revision; if it was taken (over), let it go and send its
        user away; None but then."""
        assert self._kv is not None
        try:
            revision = await self._kv.create(token(key), value)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        except NATS_ERRORS as exc:  # tried again at the next keep-alive
            logger.warning("bus %s: claiming %r again failed: %r", self.description, name, exc)
            return None
        else:
            logger.warning("bus %s: the name %r had lapsed; claimed again", self.description, name)
            return revision
        self.owned.pop(key, None)
        logger.error("bus %s: the name %r lapsed while in use", self.description, name)
        if self._listener is not None:
            self._listener(ClusterEvent(NAME_LOST, node=self.node, key=key))
        return None

    async def _keep(self) -> None:
        """Every KEEP seconds (less with a TTL under three times that), queue a
        keep-alive of every claim held."""
        while True:
            await asyncio.sleep(min(KEEP, self._ttl / 3))
            for key in list(self.owned):
                self._queue.append((_Op.KEEP, key, "", None))
            self._wake.set()


def _fields(event: ClusterEvent) -> dict[str, Any]:
    """An event's non-empty fields, as JSON carries them."""
    return {f: getattr(event, f) for f in _FIELDS if getattr(event, f)}


def _event(fields: dict[str, Any], node: str) -> ClusterEvent:
    """An event from its JSON fields, said by ``node``."""
    return ClusterEvent(**{f: str(fields.get(f, "")) for f in _FIELDS if f != "node"}, node=node)


def _ignore(result: object) -> None:
    """An ordered event's completion: a failure was logged by the store."""
