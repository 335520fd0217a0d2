"""One client connection's state, and the order in which its lines run.

Theory of operation
-------------------
A front end feeds every line it splits to :meth:`Session.receive`.  Lines of
one connection run strictly in arrival order and every command sees the
effect of the lines before it (PROTOCOL.md §1).  Most commands finish at
once.  A few wait for the store or the password hasher; they *hold* the
session, and later lines queue in ``backlog`` until the answer comes back.

Chat messages are the exception that keeps the hot path fast: consecutive
chat lines are *pipelined*: each is handed to the store at once, and the
store answers in submission order, so a sender with 16 messages in flight
gets them committed in one batch.  Any other command waits until the chat
messages before it have been delivered, so its reply still comes after
theirs.

The rate limit is applied when a line arrives (it is about the peer's pace),
but its ``RATE_LIMITED`` reply takes the line's place in the order.

Invariants:
  * ``inflight`` counts store/hasher operations not yet answered;
  * ``holds`` counts the non-chat operations among them;
  * ``backlog`` is None or a non-empty queue of (line, over_rate) pairs.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

from tertulia.core.colors import xterm256
from tertulia.core.ratelimit import TokenBucket
from tertulia.protocol.commands import (
    VERBS,
    Command,
    Verb,
    chat_line,
    is_command,
    json_args,
    json_ref,
    split_json,
    split_text,
    text_args,
)
from tertulia.protocol.errors import BAD_LINE_CODES, ByeCode, ErrorCode, ProtocolError
from tertulia.protocol.jsonmode import JsonEncoder
from tertulia.protocol.lines import Line, _NotText, _TooLong
from tertulia.protocol.messages import Ref
from tertulia.protocol.textmode import TextEncoder

if TYPE_CHECKING:
    from tertulia.core.cluster import Cluster
    from tertulia.core.hub import Hub
    from tertulia.core.ports import Bus, Peer
    from tertulia.core.rooms import Room

logger = logging.getLogger(__name__)

TEXT_ENCODER = TextEncoder()
JSON_ENCODER = JsonEncoder()

#: Encodings a room message is built in, once each per message.
VARIANT_TEXT_COLOR = 0
VARIANT_TEXT_PLAIN = 1
VARIANT_JSON = 2

Encoder = TextEncoder | JsonEncoder

#: Past this many queued lines the front end is asked to stop reading.
BACKLOG_PAUSE = 64


class Session:
    """State of one connection, identified or not."""

    __slots__ = (
        "account",
        "address",
        "backlog",
        "bad_in_row",
        "bucket",
        "closed",
        "color",
        "colors_on",
        "conn_id",
        "connected_at",
        "current",
        "enc",
        "gate",
        "holds",
        "hub",
        "inflight",
        "key",
        "last_rx",
        "name",
        "partial_since",
        "paused",
        "peer",
        "pinged",
        "rooms",
        "synced",
        "variant",
        "verified",
        "xterm",
    )

    def __init__(self, hub: Hub, peer: Peer, address: str, conn_id: int, json_mode: bool) -> None:
        now = hub.clock()
        self.hub = hub
        self.peer = peer
        self.address = address
        self.conn_id = conn_id
        self.enc: Encoder = JSON_ENCODER if json_mode else TEXT_ENCODER
        self.variant = VARIANT_JSON if json_mode else VARIANT_TEXT_COLOR
        self.colors_on = True
        self.name: str | None = None
        self.key: str | None = None
        #: The key of the account this connection proved it owns (by its
        #: password or by registering it); NICK back to it is allowed.
        self.account: str | None = None
        #: The key of the account whose password this connection gave at
        #: IDENTIFY (operator rights need it; registering is not enough).
        self.verified: str | None = None
        self.color = ""
        self.xterm = 0
        self.rooms: dict[str, Room] = {}
        self.current: Room | None = None
        s = hub.settings
        self.bucket = TokenBucket(s.rate, s.burst, now)
        self.bad_in_row = 0
        self.backlog: deque[tuple[Line | str, bool]] | None = None
        self.inflight = 0
        self.holds = 0
        #: On a cluster node: the cluster's barrier was reached for the line
        #: about to run (see :meth:`_run`).
        self.synced = False
        #: On a cluster node: what the running command sends is held here.
        self.gate: _Gate | None = None
        self.closed = False
        self.connected_at = now
        self.last_rx = now
        self.pinged = False
        self.paused = False
        #: When the unfinished line the front end holds began (None: none).
        self.partial_since: float | None = None

    def __repr__(self) -> str:
        return f"Session(#{self.conn_id} {self.name or '-'} {self.address})"

    # ------------------------------------------------------------------ sending

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.peer.send(data)

    def ok(self, verb: Verb, ref: Ref, *fields: object) -> None:
        self.send(self.enc.ok(verb.value, ref, *fields))

    def error(
        self, code: ErrorCode, message: str, verb: Verb | None = None, ref: Ref = None
    ) -> None:
        self.send(self.enc.error(code.value, message, verb.value if verb else None, ref))

    def set_mode(self, json_mode: bool) -> None:
        self.enc = JSON_ENCODER if json_mode else TEXT_ENCODER
        self._set_variant()

    def set_colors(self, on: bool) -> None:
        self.colors_on = on
        self._set_variant()

    def _set_variant(self) -> None:
        if self.enc is JSON_ENCODER:
            self.variant = VARIANT_JSON
        else:
            self.variant = VARIANT_TEXT_COLOR if self.colors_on else VARIANT_TEXT_PLAIN

    def set_color(self, color: str) -> None:
        self.color = color
        self.xterm = xterm256(color)

    # ------------------------------------------------------------------ intake

    def touch(self) -> None:
        """The front end received bytes (a whole line or not): the peer is alive."""
        self.last_rx = self.hub.clock()
        self.pinged = False

    def unfinished(self, pending: bool, completed: bool) -> None:
        """After a chunk: does a line remain unfinished, did the chunk end any line?

        The hub cuts a connection whose unfinished line is older than
        ``--line-timeout`` (a slowloris trickles bytes that never end a line).
        """
        if not pending:
            self.partial_since = None
        elif completed or self.partial_since is None:
            self.partial_since = self.last_rx

    def receive(self, line: Line | str) -> None:
        """Take one line from the front end: bytes, a ``str``, TOO_LONG or NOT_TEXT (WebSocket)."""
        if self.closed:
            return
        over_rate = not self.bucket.take(self.hub.clock())
        if self.backlog is not None:
            self.backlog.append((line, over_rate))
            if len(self.backlog) >= BACKLOG_PAUSE and not self.paused:
                self.paused = True
                self.hub.pause_reading(self)
            return
        if not self._run(line, over_rate):
            self.backlog = deque([(line, over_rate)])

    def hold(self) -> None:
        """A command starts an operation that later lines must wait for."""
        self.inflight += 1
        self.holds += 1

    def release(self) -> None:
        """The operation started by :meth:`hold` is answered."""
        self.inflight -= 1
        self.holds -= 1
        if not self.holds and self.gate is not None:
            self._ungate()
        if self.inflight == 0:
            self._drain()

    def pipeline(self) -> None:
        """A chat message was handed to the store."""
        self.inflight += 1

    def settle(self) -> None:
        """The store answered a chat message."""
        self.inflight -= 1
        if self.inflight == 0:
            self._drain()

    def _drain(self) -> None:
        backlog = self.backlog
        while backlog and not self.closed:
            line, over_rate = backlog[0]
            if not self._run(line, over_rate):
                return
            backlog.popleft()
        self.backlog = None
        if self.paused and not self.closed:
            self.paused = False
            self.hub.resume_reading(self)

    def _run(self, line: Line | str, over_rate: bool) -> bool:
        """Run one line now if its turn has come; False means it must wait."""
        if self.holds:
            return False
        try:
            if over_rate:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many lines; slow down")
            command = self._parse(line)
            verb = command.verb
        except ProtocolError as exc:
            if self.inflight:
                return False  # its ERR must come after the replies before it
            self._bad(exc, exc.verb, exc.ref)
            return True
        if self.inflight and verb is not Verb.SAY and verb is not Verb.ME:
            return False  # wait for the chat messages before it
        cluster = self.hub.cluster
        if cluster is not None and verb is not Verb.SAY and verb is not Verb.ME:
            # A command sees what every node did before it (choice 31): wait
            # for the cluster's barrier, then run the line from the backlog.
            if not self.synced and not self._barrier(cluster.bus):
                return False
            self.synced = False
            self._gated(cluster, command)
            return True
        self.bad_in_row = 0
        handler = self.hub.handlers[verb]
        synced, self.synced = self.synced, False
        try:
            handler(self, command)
        except ProtocolError as exc:
            if self.inflight:
                # A SAY/ME refused before it posted (NOT_IN_ROOM): nothing changed,
                # so run it again after the chat lines before it, for its ERR's turn.
                self.synced = synced
                return False
            if cluster is not None and not synced and exc.code is ErrorCode.FORBIDDEN:
                # A room's +m or a mute may have been lifted on another node just
                # before this line: refuse it only once the cluster's barrier is
                # passed (a chat line that goes through never waits for it).
                return self._barrier(cluster.bus) and self._run(line, over_rate)
            self.error(exc.code, exc.message, verb, command.ref)
        return True

    def _gated(self, cluster: Cluster, command: Command) -> None:
        """Run a command on a cluster node; its lines go out once its room events are stored.

        What the connection is sent from the start of the command to its end
        (its last :meth:`release`, for a command that waits: IDENTIFY, NICK)
        is held by a :class:`_Gate` in front of the peer.  If room events
        were put in the cluster's stream meanwhile (JOIN, LEAVE, NICK, TOPIC,
        QUIT), the held lines go out only once the barrier after them is
        reached: a client told OK knows that every node shows its event
        before anything stored later (choice 31).
        """
        self.bad_in_row = 0
        self.gate = _Gate(self.peer, cluster.ordered)
        self.peer = self.gate
        try:
            self.hub.handlers[command.verb](self, command)
        except ProtocolError as exc:
            self.error(exc.code, exc.message, command.verb, command.ref)
        if not self.holds:
            self._ungate()

    def _ungate(self) -> None:
        """The gated command is over: send what it held, after the barrier if needed."""
        gate = self.gate
        cluster = self.hub.cluster
        assert gate is not None and cluster is not None
        self.gate = None
        if cluster.ordered == gate.mark:
            self.peer = gate.open()
            return
        self.hold()

        def stored() -> None:
            self.peer = gate.open()
            self.release()

        cluster.bus.barrier(stored)

    def _barrier(self, bus: Bus) -> bool:
        """Wait for the cluster's barrier; True if it was reached at once (run now)."""
        self.synced = True
        inside, at_once = True, False

        def reached() -> None:
            nonlocal at_once
            if inside:
                at_once = True
            else:
                self.release()  # runs the line again, from the backlog

        self.hold()
        bus.barrier(reached)
        inside = False
        if at_once:
            self.inflight -= 1
            self.holds -= 1
        return at_once

    def _parse(self, line: Line | str) -> Command:
        """Decode and parse a line in the connection's current mode.

        Raises:
            ProtocolError: with ``verb`` and ``ref`` attributes set when known.
        """
        verb: Verb | None = None
        ref: Ref = None
        try:
            if isinstance(line, _TooLong):
                raise ProtocolError(
                    ErrorCode.LINE_TOO_LONG,
                    f"a line has at most {self.hub.settings.max_line} bytes; it was not run",
                )
            if isinstance(line, _NotText):
                raise ProtocolError(
                    ErrorCode.BAD_ENCODING, "send text frames of UTF-8; a binary frame is not run"
                )
            if isinstance(line, bytes):
                try:
                    text = line.decode()
                except UnicodeDecodeError:
                    raise ProtocolError(ErrorCode.BAD_ENCODING, "lines must be UTF-8") from None
            else:
                text = line
            if self.enc is JSON_ENCODER:
                verb, obj = split_json(text)
                ref = json_ref(obj)
                self._check_identified(verb)
                return json_args(verb, obj)
            if is_command(text):
                verb, rest = split_text(text)
                self._check_identified(verb)
                return text_args(verb, rest)
            verb = Verb.SAY
            self._check_identified(verb)
            return chat_line(text)
        except ProtocolError as exc:
            exc.verb, exc.ref = verb, ref if ref is not None else exc.ref
            raise

    def _check_identified(self, verb: Verb) -> None:
        if self.name is None and not VERBS[verb].before_identify:
            raise ProtocolError(ErrorCode.NOT_IDENTIFIED, "identify first: @<- IDENTIFY name")

    def _bad(self, exc: ProtocolError, verb: Verb | None, ref: Ref) -> None:
        self.error(exc.code, exc.message, verb, ref)
        if exc.code in BAD_LINE_CODES:
            self.bad_in_row += 1
            if self.bad_in_row >= self.hub.settings.max_errors > 0:
                self.end(ByeCode.PROTOCOL_ERRORS, f"{self.bad_in_row} bad lines in a row")
        else:
            self.bad_in_row = 0

    # ------------------------------------------------------------------ ending

    def end(self, code: ByeCode, text: str, ref: Ref = None) -> None:
        """Send ``@-> BYE CODE text``, close the connection, and leave every room."""
        if self.closed:
            return
        self.send(self.enc.bye(code.value, text, ref))
        self.closed = True
        self.backlog = None
        self.peer.close()
        self.hub.part(self, text)

    def connection_lost(self, reason: str = "Connection closed") -> None:
        """The front end lost the connection (or cut it): leave quietly."""
        if self.closed:
            return
        self.closed = True
        self.backlog = None
        self.hub.part(self, reason)


class _Gate:
    """A peer stand-in that holds what is sent until :meth:`open` (see Session._gated)."""

    __slots__ = ("closing", "held", "mark", "peer")

    def __init__(self, peer: Peer, mark: int) -> None:
        self.peer = peer
        self.mark = mark  # the cluster's count of room events when the command began
        self.held: list[bytes] = []
        self.closing = False

    def send(self, data: bytes) -> None:
        self.held.append(data)

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.peer.pause_reading()

    def resume_reading(self) -> None:
        self.peer.resume_reading()

    def open(self) -> Peer:
        """Send what was held (then close, if asked meanwhile); return the real peer."""
        for data in self.held:
            self.peer.send(data)
        self.held.clear()
        if self.closing:
            self.peer.close()
        return self.peer
