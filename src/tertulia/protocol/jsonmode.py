"""JSON mode encoder: one object per line (PROTOCOL.md §6).

Same methods as :class:`~tertulia.protocol.textmode.TextEncoder`, so the
core never asks which mode a connection is in except to pick an encoder.
Output is compact UTF-8; ``json.dumps`` escapes control characters, so a
line never contains a raw LF.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from tertulia.protocol.messages import BanView, MessageView, Ref

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Field names of the ok reply of each verb, in the order of the text line.
OK_FIELDS: dict[str, tuple[str, ...]] = {
    "IDENTIFY": ("name", "color"),
    "REGISTER": ("name",),
    "PASSWORD": ("name",),
    "UNREGISTER": ("name",),
    "NICK": ("name",),
    "JOIN": ("room",),
    "LEAVE": ("room",),
    "SAY": ("room",),
    "ME": ("room",),
    "MSG": ("to",),
    "USERS": ("count",),
    "ROOMS": ("count",),
    "TOPIC": ("room", "text"),
    "HISTORY": ("room", "count"),
    "COLOR": ("color",),
    "COLORS": ("mode",),
    "PROTO": ("mode",),
    "PING": ("token",),
    "HELP": (),
    "KICK": ("room", "name"),
    "BAN": ("target", "until"),
    "UNBAN": ("target",),
    "BANS": ("count",),
    "MUTE": ("room", "name", "until"),
    "UNMUTE": ("room", "name"),
    "ANNOUNCE": ("count",),
    "MODE": ("room", "modes"),
    "VOICE": ("room", "name"),
    "DEVOICE": ("room", "name"),
    "INVITE": ("room", "name"),
}


def encode(obj: dict[str, Any]) -> bytes:
    """One JSON line."""
    return (_dumps(obj) + "\n").encode()


def message_object(m: MessageView) -> dict[str, Any]:
    return {
        "type": "message",
        "id": m.id,
        "room": m.room,
        "from": m.sender,
        "color": m.color,
        "text": m.text,
        "kind": m.kind,
        "ts": m.ts,
    }


def _with_ref(obj: dict[str, Any], ref: Ref) -> dict[str, Any]:
    if ref is not None:
        obj["ref"] = ref
    return obj


class JsonEncoder:
    """Builds JSON-mode lines."""

    mode = "json"

    # ---------------------------------------------------------------- replies
    def ok(self, verb: str, ref: Ref, *fields: object) -> bytes:
        obj: dict[str, Any] = {"type": "ok", "cmd": verb.lower()}
        _with_ref(obj, ref)
        obj.update(zip(OK_FIELDS[verb], fields, strict=False))
        return encode(obj)

    def error(self, code: str, message: str, verb: str | None, ref: Ref) -> bytes:
        obj: dict[str, Any] = {"type": "error", "cmd": verb.lower() if verb else None}
        _with_ref(obj, ref)
        obj["code"] = code
        obj["message"] = message
        return encode(obj)

    def users(self, room: str | None, users: Iterable[tuple[str, str]], ref: Ref) -> bytes:
        listed = [{"name": name, "color": color} for name, color in users]
        obj: dict[str, Any] = {"type": "ok", "cmd": "users"}
        _with_ref(obj, ref)
        if room is not None:
            obj["room"] = room
        obj["count"] = len(listed)
        obj["users"] = listed
        return encode(obj)

    def rooms(self, rooms: Sequence[tuple[str, int, str]], ref: Ref) -> bytes:
        obj: dict[str, Any] = {"type": "ok", "cmd": "rooms"}
        _with_ref(obj, ref)
        obj["count"] = len(rooms)
        obj["rooms"] = [{"room": r, "count": c, "topic": t} for r, c, t in rooms]
        return encode(obj)

    def bans(self, bans: Sequence[BanView], ref: Ref) -> bytes:
        obj: dict[str, Any] = {"type": "ok", "cmd": "bans"}
        _with_ref(obj, ref)
        obj["count"] = len(bans)
        obj["bans"] = [
            {"target": b.target, "until": b.until, "operator": b.operator, "reason": b.reason}
            for b in bans
        ]
        return encode(obj)

    def help(self, commands: Sequence[tuple[str, str]], ref: Ref) -> bytes:
        obj: dict[str, Any] = {"type": "ok", "cmd": "help"}
        _with_ref(obj, ref)
        obj["commands"] = [{"verb": v, "usage": u} for v, u in commands]
        return encode(obj)

    def history_reply(self, room: str, messages: Sequence[MessageView], ref: Ref) -> bytes:
        obj: dict[str, Any] = {"type": "ok", "cmd": "history"}
        _with_ref(obj, ref)
        obj["room"] = room
        obj["count"] = len(messages)
        obj["messages"] = [message_object(m) for m in messages]
        return encode(obj)

    # ---------------------------------------------------------------- events
    def history(self, room: str, messages: Sequence[MessageView]) -> bytes:
        return encode(
            {"type": "history", "room": room, "messages": [message_object(m) for m in messages]}
        )

    def welcome(self, server: str, version: str, text: str) -> bytes:
        return encode({"type": "welcome", "server": server, "version": version, "text": text})

    def join(self, room: str, name: str, color: str) -> bytes:
        return encode({"type": "join", "room": room, "name": name, "color": color})

    def leave(self, room: str, name: str, reason: str) -> bytes:
        return encode({"type": "leave", "room": room, "name": name, "reason": reason})

    def nick(self, old: str, new: str) -> bytes:
        return encode({"type": "nick", "old": old, "new": new})

    def quit(self, name: str, reason: str) -> bytes:
        return encode({"type": "quit", "name": name, "reason": reason})

    def topic(self, room: str, name: str, text: str) -> bytes:
        return encode({"type": "topic", "room": room, "name": name, "text": text})

    def notice(self, text: str) -> bytes:
        return encode({"type": "notice", "text": text})

    def ping(self, token: str) -> bytes:
        return encode({"type": "ping", "token": token})

    def bye(self, code: str, text: str, ref: Ref = None) -> bytes:
        """``ref`` is set when the bye is the reply to a quit (PROTOCOL.md §3, §6)."""
        return encode(_with_ref({"type": "bye", "code": code, "text": text}, ref))


def message_line(m: MessageView, ref: Ref = None) -> bytes:
    """A room message as every JSON-mode member gets it (with ``ref`` for its sender)."""
    return encode(_with_ref(message_object(m), ref))


def private_line(
    mid: str, sender: str, to: str, color: str, text: str, ts: str, ref: Ref = None
) -> bytes:
    """A private message, as both ends get it (with ``ref`` for the sender's copy)."""
    obj = {
        "type": "private",
        "id": mid,
        "from": sender,
        "to": to,
        "color": color,
        "text": text,
        "ts": ts,
    }
    return encode(_with_ref(obj, ref))
