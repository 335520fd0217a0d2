"""SAY, ME, MSG and plain chat lines (PROTOCOL.md §2, §3, §4).

A MSG to a registered user who is offline is kept (:mod:`.offline`).
"""

from __future__ import annotations

from functools import partial

from tertulia.core.cluster import RemoteUser
from tertulia.core.handlers import offline
from tertulia.core.handlers.moderation import check_speak
from tertulia.core.ports import DELIVERED, ME, SAY
from tertulia.core.session import VARIANT_JSON, VARIANT_TEXT_COLOR, Session
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import Command, Verb
from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.names import fold


def say(s: Session, cmd: Command) -> None:
    assert cmd.text is not None
    if cmd.room is None:
        room = s.current
        reply = None if cmd.plain else Verb.SAY
    else:
        room = s.hub.find_room(cmd.room)
        reply = Verb.SAY
    if room is None or s.key not in room.members:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"join {cmd.room} first: @<- JOIN {cmd.room}")
    check_speak(s, room)
    s.hub.post(room, s, cmd.text, SAY, cmd.ref, reply)


def me(s: Session, cmd: Command) -> None:
    assert cmd.text is not None
    room = s.hub.find_room(cmd.room) if cmd.room else s.current
    if room is None or s.key not in room.members:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"join {cmd.room} first")
    check_speak(s, room)
    s.hub.post(room, s, cmd.text, ME, cmd.ref, Verb.ME)


def msg(s: Session, cmd: Command) -> None:
    assert cmd.name is not None and cmd.text is not None and s.name is not None
    hub = s.hub
    key = fold(cmd.name)
    target = hub.users.get(key)
    if target is None and hub.cluster is not None:
        remote = hub.cluster.users.get(key)
        if remote is not None:
            _msg_remote(s, cmd, remote)
            return
    if target is None:
        account = hub.accounts.get(key)
        if account is not None and hub.settings.offline_limit > 0:
            offline.keep(s, account, cmd)
            return
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"nobody called {cmd.name} is online")
    assert target.name is not None
    mid, ts = hub.private_id(), hub.now_text()
    if target is not s:
        if target.variant == VARIANT_JSON:
            target.send(jsonmode.private_line(mid, s.name, target.name, s.color, cmd.text, ts))
        else:
            xterm = s.xterm if target.variant == VARIANT_TEXT_COLOR else None
            target.send(textmode.private_line(s.name, cmd.text, xterm))
    if s.variant == VARIANT_JSON:
        s.send(jsonmode.private_line(mid, s.name, target.name, s.color, cmd.text, ts, cmd.ref))
    else:
        if target is s:
            xterm = s.xterm if s.variant == VARIANT_TEXT_COLOR else None
            s.send(textmode.private_line(s.name, cmd.text, xterm))
        s.ok(Verb.MSG, cmd.ref, target.name)


def _msg_remote(s: Session, cmd: Command, to: RemoteUser) -> None:
    """MSG to a user of another node: answered once that node says it delivered it.

    If the user left meanwhile (or its node is gone), the message is kept as
    for any offline registered user, or refused with ``NO_SUCH_USER``; if the
    node could not be asked, ``STORE_UNAVAILABLE``: never lost silently.
    """
    hub, cluster = s.hub, s.hub.cluster
    assert cmd.text is not None and s.name is not None and cluster is not None
    mid, ts = hub.private_id(), hub.now_text()
    s.hold()
    cluster.private(to, s, cmd.text, mid, ts, partial(_answered, s, cmd, to.name, mid, ts))


def _answered(s: Session, cmd: Command, name: str, mid: str, ts: str, answer: str | None) -> None:
    try:
        if s.closed:
            return
        assert cmd.text is not None and s.name is not None
        if answer == DELIVERED:
            if s.variant == VARIANT_JSON:
                s.send(jsonmode.private_line(mid, s.name, name, s.color, cmd.text, ts, cmd.ref))
            else:
                s.ok(Verb.MSG, cmd.ref, name)
            return
        if answer is None:
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                f"{name}'s server could not be reached, so the message was not delivered; "
                "try again",
                Verb.MSG,
                cmd.ref,
            )
            return
        account = s.hub.accounts.get(fold(name))
        if account is not None and s.hub.settings.offline_limit > 0:
            offline.keep(s, account, cmd)
        else:
            s.error(ErrorCode.NO_SUCH_USER, f"nobody called {name} is online", Verb.MSG, cmd.ref)
    finally:
        s.release()
