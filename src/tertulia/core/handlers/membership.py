"""IDENTIFY, NICK, JOIN, LEAVE and QUIT: who is who, and who is where (PROTOCOL.md §2, §3)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from tertulia.core.handlers import offline
from tertulia.core.handlers.accounts import check_password
from tertulia.core.handlers.moderation import check_invited
from tertulia.core.hub import ban_text
from tertulia.core.ports import Account, StoredMessage, StoreUnavailable
from tertulia.core.rooms import Room
from tertulia.core.session import Session
from tertulia.protocol.commands import Command, Verb
from tertulia.protocol.errors import ByeCode, ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref
from tertulia.protocol.names import fold

logger = logging.getLogger(__name__)


def identify(s: Session, cmd: Command) -> None:
    if s.name is not None:
        raise ProtocolError(ErrorCode.ALREADY_IDENTIFIED, f"you are already {s.name}")
    assert cmd.name is not None
    hub = s.hub
    key = fold(cmd.name)
    if key in hub.users:
        raise ProtocolError(ErrorCode.NAME_IN_USE, f"{cmd.name} is taken; choose another name")
    refuse_banned(s, cmd.name, key)
    account = hub.accounts.get(key)
    if account is None:
        take(s, cmd.name, key, None, cmd.ref)
        return
    if not cmd.password:
        raise ProtocolError(
            ErrorCode.AUTH_REQUIRED,
            f"{cmd.name} is registered; use @<- IDENTIFY {cmd.name} password",
        )
    password = cmd.password

    def verified() -> None:
        assert cmd.name is not None
        if account.key in s.hub.users:
            s.error(ErrorCode.NAME_IN_USE, f"{cmd.name} is in use", Verb.IDENTIFY, cmd.ref)
            return
        ban = s.hub.name_ban(account.key)
        if ban is not None:  # banned while the password was being checked
            s.error(ErrorCode.FORBIDDEN, f"{cmd.name} is {ban_text(ban)}", Verb.IDENTIFY, cmd.ref)
            return

        def logged_in() -> None:
            s.account = account.key
            s.verified = account.key

        def identified() -> None:
            offline.deliver(s)

        take(
            s, cmd.name, account.key, account.color, cmd.ref, before=logged_in, after=identified
        )
        if s.hub.hasher.needs_rehash(account.password_hash):
            rehash(s, account, password)

    check_password(s, account, password, Verb.IDENTIFY, cmd.ref, verified)


def take(
    s: Session,
    name: str,
    key: str,
    color: str | None,
    ref: Ref,
    before: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
) -> None:
    """Claim the name across the cluster first when names are shared, then :func:`claim`.

    ``before`` and ``after`` run just before and after :func:`claim`, only
    if the name is given (an account login sets the session's account).
    """
    taking = _Taking(name, key, color, ref, before, after)
    hub = s.hub
    if not hub.shared_names:
        taking.give(s)
        return
    assert hub.bus is not None
    s.hold()
    hub.bus.claim(key, name, partial(_taken, s, taking))


@dataclass(frozen=True, slots=True)
class _Taking:
    """An IDENTIFY that waits for its name (see :func:`take`)."""

    name: str
    key: str
    color: str | None
    ref: Ref
    before: Callable[[], None] | None
    after: Callable[[], None] | None

    def give(self, s: Session) -> None:
        if self.before is not None:
            self.before()
        claim(s, self.name, self.key, self.color, self.ref)
        if self.after is not None:
            self.after()


def _taken(s: Session, taking: _Taking, result: bool | StoreUnavailable) -> None:
    hub = s.hub
    assert hub.bus is not None
    name, ref = taking.name, taking.ref
    try:
        if s.closed or s.name is not None or taking.key in hub.users:
            if result is True:
                hub.bus.release(taking.key)
            if not s.closed:
                s.error(ErrorCode.NAME_IN_USE, f"{name} is taken", Verb.IDENTIFY, ref)
        elif result is True:
            taking.give(s)
        elif result is False:
            s.error(
                ErrorCode.NAME_IN_USE,
                f"{name} is taken; choose another name",
                Verb.IDENTIFY,
                ref,
            )
        else:
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the cluster could not check that name now; try again",
                Verb.IDENTIFY,
                ref,
            )
    finally:
        s.release()


def refuse_banned(s: Session, name: str, key: str) -> None:
    """Raise FORBIDDEN when the name is banned (IDENTIFY, NICK).

    Raises:
        ProtocolError: ``FORBIDDEN``.
    """
    ban = s.hub.name_ban(key)
    if ban is not None:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{name} is {ban_text(ban)}")


def rehash(s: Session, account: Account, password: str) -> None:
    """Replace an old-scheme hash (scrypt) by a new one, now that the password is known.

    The login has already succeeded with the old hash; the session is held
    until the new hash is saved (once per account, tens of milliseconds), so
    that a shutdown waits for it.  If the save fails the old hash still
    works, and is replaced next time.
    """
    hub = s.hub
    s.hold()

    def hashed(password_hash: str) -> None:
        current = hub.accounts.get(account.key)
        if current is None or current.password_hash != account.password_hash:
            s.release()  # changed or removed meanwhile: leave it alone
            return
        upgraded = replace(current, password_hash=password_hash)
        hub.accounts[account.key] = upgraded
        hub.store.save_account(upgraded, saved)

    def saved(result: StoreUnavailable | None) -> None:
        if isinstance(result, StoreUnavailable):
            logger.warning("could not save an upgraded password hash: %s", result)
        s.release()

    hub.hasher.hash(password, hashed)


def claim(s: Session, name: str, key: str, color: str | None, ref: Ref) -> None:
    """Give the session its name and colour, then put it in #general."""
    hub = s.hub
    s.name = name
    s.key = key
    s.set_color(color or hub.colors.draw())
    hub.colors.hold(s.color)
    hub.users[key] = s
    s.ok(Verb.IDENTIFY, ref, name, s.color)
    enter(s, hub.general, ref, reply=False)


def enter(s: Session, room: Room, ref: Ref, reply: bool) -> None:
    """Send a room's recent history, then make the session a member (PROTOCOL.md §4).

    Membership starts when the store answers, so every message reaches the
    newcomer exactly once: in the history, or live (see core.ports).
    """
    limit = s.hub.settings.history_on_join
    if limit <= 0:
        _entered(s, room, ref, reply, [], hold=False)
        return
    s.hold()
    s.hub.store.history(room.key, limit, None, None, partial(_entered, s, room, ref, reply))


def _entered(
    s: Session,
    room: Room,
    ref: Ref,
    reply: bool,
    result: list[StoredMessage] | StoreUnavailable,
    hold: bool = True,
) -> None:
    try:
        if s.closed:
            return
        if isinstance(result, StoreUnavailable):
            s.send(s.enc.notice(f"the history of {room.name} is not available now"))
            messages: list[StoredMessage] = []
        else:
            messages = result
        data = s.enc.history(room.name, messages)
        if data:  # text mode sends nothing for an empty history
            s.send(data)
        s.hub.add_member(room, s)
        s.current = room
        if reply:
            s.ok(Verb.JOIN, ref, room.name)
    finally:
        if hold:
            s.release()


def nick(s: Session, cmd: Command) -> None:
    assert cmd.name is not None and s.key is not None and s.name is not None
    hub = s.hub
    new, key = cmd.name, fold(cmd.name)
    if key != s.key:
        if key in hub.users:
            raise ProtocolError(ErrorCode.NAME_IN_USE, f"{new} is taken; choose another name")
        if key in hub.accounts and key != s.account:
            raise ProtocolError(ErrorCode.AUTH_REQUIRED, f"{new} is registered to someone else")
        refuse_banned(s, new, key)
        if hub.shared_names:
            assert hub.bus is not None
            s.hold()
            hub.bus.claim(key, new, partial(_nick_taken, s, new, key, cmd.ref))
            return
    rename(s, new, key, cmd.ref)


def _nick_taken(s: Session, new: str, key: str, ref: Ref, result: bool | StoreUnavailable) -> None:
    hub = s.hub
    assert hub.bus is not None
    try:
        if s.closed or s.key is None or key in hub.users:
            if result is True:
                hub.bus.release(key)
            if not s.closed:
                s.error(ErrorCode.NAME_IN_USE, f"{new} is taken", Verb.NICK, ref)
        elif result is True:
            old_key = s.key
            rename(s, new, key, ref)
            hub.bus.release(old_key)
        elif result is False:
            s.error(ErrorCode.NAME_IN_USE, f"{new} is taken; choose another name", Verb.NICK, ref)
        else:
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the cluster could not check that name now; try again",
                Verb.NICK,
                ref,
            )
    finally:
        s.release()


def rename(s: Session, new: str, key: str, ref: Ref) -> None:
    """Give a session a new name (checked free) and tell those who share a room with it."""
    assert s.key is not None and s.name is not None
    hub, old, old_key = s.hub, s.name, s.key
    if key != s.key:
        del hub.users[s.key]
        hub.users[key] = s
        for room in s.rooms.values():
            del room.members[s.key]
            room.members[key] = s
    s.name, s.key = new, key
    s.ok(Verb.NICK, ref, new)
    if new != old:
        hub.tell_sharing(s, lambda enc: enc.nick(old, new))
        if hub.cluster is not None:
            hub.cluster.renamed(old_key, s)


def join(s: Session, cmd: Command) -> None:
    assert cmd.room is not None
    existing = s.hub.find_room(cmd.room)
    limit = s.hub.settings.max_rooms
    if (existing is None or existing.key not in s.rooms) and len(s.rooms) >= limit:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you are in {limit} rooms; LEAVE one first")
    room = existing or s.hub.room(cmd.room, creator=s)
    if room.invite_only and s.key not in room.members:
        check_invited(s, room)
    enter(s, room, cmd.ref, reply=True)


def leave(s: Session, cmd: Command) -> None:
    hub = s.hub
    room = hub.find_room(cmd.room) if cmd.room else s.current
    if room is None or s.key not in room.members:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in {cmd.room or 'that room'}")
    if room is hub.general:
        raise ProtocolError(ErrorCode.FORBIDDEN, "everyone stays in #general")
    hub.remove_member(room, s, "left")
    if s.current is room:
        s.current = hub.general
    s.ok(Verb.LEAVE, cmd.ref, room.name)


def quit(s: Session, cmd: Command) -> None:
    s.end(ByeCode.QUIT, cmd.reason or "Quit", cmd.ref)
