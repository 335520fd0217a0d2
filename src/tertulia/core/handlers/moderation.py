"""KICK, BAN, UNBAN, BANS, MUTE, UNMUTE, ANNOUNCE, MODE, VOICE, DEVOICE and INVITE.

These verbs extend PROTOCOL.md (docs/reference/protocol.md, "Moderation").
Who may do what:

* an **operator**, a name listed under ``operators`` in the configuration
  and identified with its account's password (:meth:`Hub.is_operator`): every
  verb, in every room;
* a room's **creator** (:func:`has_rights`): KICK, MUTE, UNMUTE, MODE, VOICE,
  DEVOICE and INVITE in that room, but never against an operator;
* anyone: MODE without a change, which reads a room's modes.

Anything else is ``FORBIDDEN``.  Every action of an operator goes to the
store's audit log and to the server log; an action of a creator who is not an
operator only to the server log, so that nobody but the trusted few can make
the audit table grow.

Rights checks come first, then the arguments' targets, so a user without
rights learns nothing about who is where.  A change that must be stored (a
ban, a room's modes and lists) holds the session until the store answers;
a refused room change is undone in memory, so memory and store agree.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tertulia.core.hub import covers, wire_time
from tertulia.core.ports import (
    BAN_ADDRESS,
    BAN_NAME,
    AuditEntry,
    Ban,
    RoomRecord,
    StoreUnavailable,
)
from tertulia.core.rooms import MAX_LISTED, Room
from tertulia.core.session import Session
from tertulia.protocol.commands import Command, Verb, is_address
from tertulia.protocol.errors import ByeCode, ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref
from tertulia.protocol.names import fold

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- rights


def has_rights(s: Session, room: Room) -> bool:
    """True when ``s`` may moderate ``room``: an operator, or the room's creator.

    A creator with an account must have identified with its password; a
    creator without one keeps the rights only on the connection that created
    the room (anyone could take the name after it leaves).
    """
    if s.hub.is_operator(s):
        return True
    if not room.creator or s.key != room.creator:
        return False
    return s.verified == s.key or room.creator_conn == s.conn_id


def check_speak(s: Session, room: Room) -> None:
    """Refuse a message to a room where ``s`` is muted, or may not speak (+m).

    Raises:
        ProtocolError: ``FORBIDDEN``.
    """
    if not room.muted and not room.moderated:
        return
    assert s.key is not None
    until = room.muted_until(s.key, s.hub.clock())
    if until is not False and not s.hub.is_operator(s):
        when = "" if until is None else f" for {max(1, int(until - s.hub.clock()))} s more"
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you are muted in {room.name}{when}")
    if room.moderated and s.key not in room.voiced and not has_rights(s, room):
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"{room.name} is moderated: only voiced users speak"
        )


def check_invited(s: Session, room: Room) -> None:
    """Refuse a JOIN of an invite-only room without an invitation.

    Raises:
        ProtocolError: ``FORBIDDEN``.
    """
    if s.key not in room.invited and not has_rights(s, room):
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"{room.name} is invite-only; ask its creator for an INVITE"
        )


def _need_operator(s: Session, verb: Verb) -> None:
    if not s.hub.is_operator(s):
        logger.warning("refused %s from %s (%s): not an operator", verb, s.name, s.address)
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only operators may {verb.value}")


def _room_with_rights(s: Session, cmd: Command) -> Room:
    assert cmd.room is not None
    room = s.hub.find_room(cmd.room)
    if room is None or not has_rights(s, room):
        if room is not None or not s.hub.is_operator(s):
            logger.warning("refused %s %s from %s: no rights", cmd.verb, cmd.room, s.name)
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"only operators and its creator may moderate {cmd.room}"
            )
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {cmd.room}")
    return room


def _not_an_operator(s: Session, key: str, name: str) -> None:
    """Only an operator may act against an operator."""
    if key in s.hub.operators and not s.hub.is_operator(s):
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{name} is an operator")


def _audit(s: Session, action: Verb, target: str, detail: str = "") -> None:
    """Log an action; an operator's also goes to the store's audit log."""
    hub = s.hub
    name = s.name or "-"
    if hub.is_operator(s):
        logger.info("audit: operator %s %s %s %s", name, action.value, target, detail)
        entry = AuditEntry(hub.now_text(), name, action.value, target, detail)
        hub.store.audit(entry, _audit_written)
    else:
        logger.info("moderation: %s %s %s %s", name, action.value, target, detail)


def _audit_written(result: StoreUnavailable | None) -> None:
    if isinstance(result, StoreUnavailable):
        logger.error("audit entry not stored: %s", result)


# ---------------------------------------------------------------- operators


def announce(s: Session, cmd: Command) -> None:
    """A NOTICE to every connection but the sender's (identified or not), on every node.

    The OK counts the connections told; on a cluster it waits for the other
    nodes' counts (a node that does not answer in time is not counted).
    """
    _need_operator(s, Verb.ANNOUNCE)
    assert cmd.text is not None
    text = cmd.text
    hub = s.hub
    others = [other for other in hub.sessions.values() if other is not s]
    hub._tell(others, s, lambda enc: enc.notice(text))
    _audit(s, Verb.ANNOUNCE, "*", text)
    if hub.cluster is None:
        s.ok(Verb.ANNOUNCE, cmd.ref, len(others))
        return
    s.hold()

    def told(elsewhere: int) -> None:
        try:
            s.ok(Verb.ANNOUNCE, cmd.ref, len(others) + elsewhere)
        finally:
            s.release()

    hub.cluster.tell_everyone(text, told)


def ban(s: Session, cmd: Command) -> None:
    _need_operator(s, Verb.BAN)
    assert cmd.target is not None
    hub = s.hub
    target = cmd.target
    if is_address(target):
        kind, key = BAN_ADDRESS, target
        if _own_address(s, key):
            raise ProtocolError(ErrorCode.BAD_ARGUMENT, "that ban would cover your own address")
    else:
        kind, key = BAN_NAME, fold(target)
        if key in hub.operators:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"{target} is an operator; take it out of the configuration"
            )
    now = hub.wallclock()
    expires = now + cmd.duration if cmd.duration else None
    record = Ban(kind, key, target, s.name or "", cmd.reason or "", now, expires)
    s.hold()
    hub.store.save_ban(record, partial(_ban_saved, s, record, cmd.ref))


def _own_address(s: Session, network: str) -> bool:
    try:
        return covers(network, ipaddress.ip_address(s.address))
    except ValueError:
        return False


def _ban_saved(s: Session, record: Ban, ref: Ref, result: StoreUnavailable | None) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            s.error(ErrorCode.STORE_UNAVAILABLE, "the ban could not be saved", Verb.BAN, ref)
            return
        hub = s.hub
        hub.bans[record.kind, record.key] = record
        if hub.cluster is not None:
            hub.cluster.banned(record)
        until = wire_time(record.expires) if record.expires is not None else ""
        s.ok(Verb.BAN, ref, record.target, until)
        cut = hub.enforce(record)
        detail = (f"until {until} " if until else "") + f"({cut} cut) {record.reason}"
        _audit(s, Verb.BAN, record.target, detail.strip())
    finally:
        s.release()


def unban(s: Session, cmd: Command) -> None:
    _need_operator(s, Verb.UNBAN)
    assert cmd.target is not None
    hub = s.hub
    target = cmd.target
    ident = (BAN_ADDRESS, target) if is_address(target) else (BAN_NAME, fold(target))
    found = hub.bans.get(ident)
    if found is None or not found.active(hub.wallclock()):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"{target} is not banned")
    s.hold()
    hub.store.delete_ban(*ident, partial(_unbanned, s, ident, target, cmd.ref))


def _unbanned(
    s: Session, ident: tuple[str, str], target: str, ref: Ref, result: StoreUnavailable | None
) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            s.error(ErrorCode.STORE_UNAVAILABLE, "the ban could not be lifted", Verb.UNBAN, ref)
            return
        s.hub.bans.pop(ident, None)
        if s.hub.cluster is not None:
            s.hub.cluster.unbanned(*ident)
        s.ok(Verb.UNBAN, ref, target)
        _audit(s, Verb.UNBAN, target)
    finally:
        s.release()


@dataclass(frozen=True, slots=True)
class _Listed:
    """A ban as BANS shows it (a :class:`~tertulia.protocol.messages.BanView`)."""

    target: str
    until: str
    operator: str
    reason: str


def bans(s: Session, cmd: Command) -> None:
    """The bans in force, names first, each kind sorted."""
    _need_operator(s, Verb.BANS)
    hub = s.hub
    now = hub.wallclock()
    listed = [
        _Listed(
            b.target, wire_time(b.expires) if b.expires is not None else "", b.operator, b.reason
        )
        for _, b in sorted(hub.bans.items(), key=lambda item: (item[0][0] != BAN_NAME, item[0]))
        if b.active(now)
    ]
    s.send(s.enc.bans(listed, cmd.ref))


# ---------------------------------------------------------------- operators and creators


def kick(s: Session, cmd: Command) -> None:
    """Out of a room; out of ``#general`` means out of the server (``BYE KICKED``).

    A kick also takes back the user's invitation and voice in that room.  A
    user on another node of a cluster is sent away by its node.
    """
    room = _room_with_rights(s, cmd)
    assert cmd.name is not None
    hub = s.hub
    key = fold(cmd.name)
    target = hub.users.get(key)
    remote = hub.cluster.users.get(key) if hub.cluster is not None and target is None else None
    if target is None and remote is None:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"nobody called {cmd.name} is online")
    name = target.name if target is not None else remote.name if remote is not None else ""
    assert name is not None
    if key not in room.members and key not in room.remote:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"{name} is not in {room.name}")
    _not_an_operator(s, key, name)
    reason = f"kicked by {s.name}" + (f": {cmd.reason}" if cmd.reason else "")

    def apply(r: Room) -> None:
        r.invited.discard(key)
        r.voiced.discard(key)

    def done() -> None:
        s.ok(Verb.KICK, cmd.ref, room.name, name)
        if target is None:
            user = hub.cluster.users.get(key) if hub.cluster is not None else None
            if user is not None and hub.cluster is not None and key in room.remote:
                hub.cluster.kicked(room, user, s, reason)
        elif target.closed or target.key != key or key not in room.members:
            pass  # gone, or renamed, while the store worked
        elif room is hub.general:
            target.end(ByeCode.KICKED, reason)
        else:
            hub.kick_out(room, target, reason, actor=s)
        _audit(s, Verb.KICK, f"{room.name} {name}", cmd.reason or "")

    if key in room.invited or key in room.voiced:
        _change_room(s, room, Verb.KICK, cmd.ref, apply, done)
    else:
        done()


def mute(s: Session, cmd: Command) -> None:
    room = _room_with_rights(s, cmd)
    assert cmd.name is not None
    key = fold(cmd.name)
    _not_an_operator(s, key, cmd.name)
    now = s.hub.clock()
    room.purge_mutes(now)
    if key not in room.muted and len(room.muted) >= MAX_LISTED:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"{room.name} has {MAX_LISTED} mutes already")
    room.muted[key] = now + cmd.duration if cmd.duration else None
    end = s.hub.wallclock() + cmd.duration if cmd.duration else None
    until = wire_time(end) if end is not None else ""
    s.ok(Verb.MUTE, cmd.ref, room.name, cmd.name, until)
    if s.hub.cluster is not None:
        s.hub.cluster.muted(room, key, end)
    when = f" until {until}" if until else ""
    _tell_user(s, key, f"{s.name} muted you in {room.name}{when}")
    _audit(s, Verb.MUTE, f"{room.name} {cmd.name}", f"until {until}" if until else "")


def unmute(s: Session, cmd: Command) -> None:
    room = _room_with_rights(s, cmd)
    assert cmd.name is not None
    key = fold(cmd.name)
    if room.muted_until(key, s.hub.clock()) is False:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"{cmd.name} is not muted in {room.name}")
    del room.muted[key]
    s.ok(Verb.UNMUTE, cmd.ref, room.name, cmd.name)
    if s.hub.cluster is not None:
        s.hub.cluster.muted(room, key, None, on=False)
    _tell_user(s, key, f"{s.name} lets you speak in {room.name} again")
    _audit(s, Verb.UNMUTE, f"{room.name} {cmd.name}")


def mode(s: Session, cmd: Command) -> None:
    """Read a room's modes (anyone), or change them (rights): ``+m``, ``-i``, ``+mi``."""
    assert cmd.room is not None
    if cmd.mode is None:
        room = s.hub.find_room(cmd.room)
        if room is None:
            raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {cmd.room}")
        s.ok(Verb.MODE, cmd.ref, room.name, room.modes())
        return
    room = _room_with_rights(s, cmd)
    change = cmd.mode
    on = change[0] == "+"

    def apply(r: Room) -> None:
        if "m" in change:
            r.moderated = on
        if "i" in change:
            r.invite_only = on

    def done() -> None:
        s.ok(Verb.MODE, cmd.ref, room.name, room.modes())
        text = f"{s.name} set {room.name} {change}: {_describe(room)}"
        s.hub._tell(room.members.values(), s, lambda enc: enc.notice(text))
        if s.hub.cluster is not None and room.remote:
            s.hub.cluster.notice(text, room=room)
        _audit(s, Verb.MODE, room.name, change)

    _change_room(s, room, Verb.MODE, cmd.ref, apply, done)


def _describe(room: Room) -> str:
    parts = ["moderated" if room.moderated else "everyone speaks"]
    parts.append("invite-only" if room.invite_only else "anyone joins")
    return ", ".join(parts)


def voice(s: Session, cmd: Command) -> None:
    _listed(s, cmd, "voiced", add=True, told="you may speak in {room} (voice from {by})")


def devoice(s: Session, cmd: Command) -> None:
    _listed(s, cmd, "voiced", add=False, told="{by} took your voice in {room}")


def invite(s: Session, cmd: Command) -> None:
    _listed(s, cmd, "invited", add=True, told="{by} invites you to {room}: @<- JOIN {room}")


def _listed(s: Session, cmd: Command, which: str, add: bool, told: str) -> None:
    """VOICE, DEVOICE and INVITE: add a name key to, or take it from, a room's list."""
    room = _room_with_rights(s, cmd)
    assert cmd.name is not None
    key = fold(cmd.name)
    names: set[str] = getattr(room, which)
    if add and key not in names and len(names) >= MAX_LISTED:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"{room.name} lists {MAX_LISTED} names already")
    if not add and key not in names:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"{cmd.name} has no voice in {room.name}")

    def apply(r: Room) -> None:
        target_set: set[str] = getattr(r, which)
        if add:
            target_set.add(key)
        else:
            target_set.discard(key)

    def done() -> None:
        s.ok(cmd.verb, cmd.ref, room.name, cmd.name)
        _tell_user(s, key, told.format(room=room.name, by=s.name))
        _audit(s, cmd.verb, f"{room.name} {cmd.name}")

    _change_room(s, room, cmd.verb, cmd.ref, apply, done)


def _tell_user(s: Session, key: str, text: str) -> None:
    """A NOTICE to the user with that name key, on this node or another (not to ``s``)."""
    hub = s.hub
    target = hub.users.get(key)
    if target is not None:
        if target is not s:
            target.send(target.enc.notice(text))
    elif hub.cluster is not None and key in hub.cluster.users:
        hub.cluster.notice(text, key=key)


def _change_room(
    s: Session,
    room: Room,
    verb: Verb,
    ref: Ref,
    apply: Callable[[Room], None],
    done: Callable[[], None],
) -> None:
    """Change a room's stored state: in memory now, undone if the store refuses it."""
    before = room.record()
    apply(room)
    room.stored = True
    s.hold()
    s.hub.store.save_room(room.record(), partial(_room_saved, s, room, before, verb, ref, done))


def _room_saved(
    s: Session,
    room: Room,
    before: RoomRecord,
    verb: Verb,
    ref: Ref,
    done: Callable[[], None],
    result: StoreUnavailable | None,
) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            room.load(before)
            s.error(ErrorCode.STORE_UNAVAILABLE, f"{room.name} could not be saved", verb, ref)
            return
        if s.hub.cluster is not None:
            s.hub.cluster.room_changed(room)
        done()
    finally:
        s.release()
