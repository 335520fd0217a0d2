"""USERS, ROOMS, TOPIC, HISTORY, HELP, PING, PONG, COLOR, COLORS and PROTO (PROTOCOL.md §2)."""

from __future__ import annotations

from functools import partial

from tertulia.core.handlers import accounts
from tertulia.core.ports import StoredMessage, StoreUnavailable
from tertulia.core.rooms import Room
from tertulia.core.session import Session
from tertulia.protocol.commands import VERBS, Command, Verb
from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref


def _known_room(s: Session, name: str) -> Room:
    room = s.hub.find_room(name)
    if room is None:
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {name}; ROOMS lists them")
    return room


def users(s: Session, cmd: Command) -> None:
    cluster = s.hub.cluster
    if cmd.room is None:
        people = s.hub.users
        others = cluster.users if cluster is not None else {}
        room_name = None
    else:
        room = _known_room(s, cmd.room)
        people, others, room_name = room.members, room.remote, room.name
    listed = {k: (people[k].name or "", people[k].color) for k in people}
    for k, user in others.items():
        listed.setdefault(k, (user.name, user.color))
    s.send(s.enc.users(room_name, [listed[k] for k in sorted(listed)], cmd.ref))


def rooms(s: Session, cmd: Command) -> None:
    listed = [
        (room.name, len(room.members) + len(room.remote), room.topic)
        for key, room in sorted(s.hub.rooms.items())
        if room.members or room.remote
    ]
    s.send(s.enc.rooms(listed, cmd.ref))


def topic(s: Session, cmd: Command) -> None:
    assert cmd.room is not None
    room = _known_room(s, cmd.room)
    if cmd.text is None:
        s.ok(Verb.TOPIC, cmd.ref, room.name, room.topic)
        return
    if s.key not in room.members:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"join {room.name} to set its topic")
    s.hold()
    record = room.record(topic=cmd.text)
    s.hub.store.save_room(record, partial(_topic_saved, s, room, cmd.text, cmd.ref))


def _topic_saved(
    s: Session, room: Room, text: str, ref: Ref, result: StoreUnavailable | None
) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the topic could not be saved; try again",
                Verb.TOPIC,
                ref,
            )
            return
        room.topic = text
        s.ok(Verb.TOPIC, ref, room.name, text)
        name = s.name or ""
        s.hub._tell(room.members.values(), s, lambda enc: enc.topic(room.name, name, text))
        if s.hub.cluster is not None:
            s.hub.cluster.topic(room, s, text)
    finally:
        s.release()


def history(s: Session, cmd: Command) -> None:
    assert cmd.limit is not None
    if cmd.room is None:
        assert s.current is not None
        room = s.current
    else:
        room = _known_room(s, cmd.room)
    s.hold()
    s.hub.store.history(
        room.key, cmd.limit, cmd.before, cmd.after, partial(_history_read, s, room, cmd.ref)
    )


def _history_read(
    s: Session, room: Room, ref: Ref, result: list[StoredMessage] | StoreUnavailable
) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "history is not available now; try again",
                Verb.HISTORY,
                ref,
            )
        else:
            s.send(s.enc.history_reply(room.name, result, ref))
    finally:
        s.release()


def help(s: Session, cmd: Command) -> None:
    if cmd.name:
        wanted = [v for v in VERBS if v.value == cmd.name.upper()]
        if not wanted:
            raise ProtocolError(
                ErrorCode.BAD_ARGUMENT, f"no command {cmd.name[:32]}; HELP lists them"
            )
    else:
        # Operator verbs are listed only to operators; HELP BAN still explains BAN.
        operator = s.hub.is_operator(s)
        wanted = [v for v, spec in VERBS.items() if operator or not spec.operator]
    s.send(s.enc.help([(v.value, "@<- " + VERBS[v].usage) for v in wanted], cmd.ref))


def ping(s: Session, cmd: Command) -> None:
    s.ok(Verb.PING, cmd.ref, cmd.token or "")


def pong(s: Session, cmd: Command) -> None:
    """No reply: receiving any bytes already counts as a sign of life."""


def color(s: Session, cmd: Command) -> None:
    """A registered user's colour is kept in its account (see handlers.accounts)."""
    new = cmd.color or s.hub.colors.draw(avoid=s.color)
    if not accounts.save_color(s, new, cmd.ref):
        accounts.apply_color(s, new, cmd.ref)


def colors(s: Session, cmd: Command) -> None:
    s.set_colors(cmd.mode == "on")
    s.ok(Verb.COLORS, cmd.ref, cmd.mode)


def proto(s: Session, cmd: Command) -> None:
    s.ok(Verb.PROTO, cmd.ref, cmd.mode)  # in the old mode (PROTOCOL.md §6)
    s.set_mode(cmd.mode == "json")
