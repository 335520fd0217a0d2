"""JSON-mode objects written back as the text-mode lines a server would have sent.

The line mode (``tertulia connect --plain``) speaks JSON on the wire, to know
the id of every message, and prints text mode (PROTOCOL.md §3) for its user.
This module makes one from the other with the server's own text encoder
(:class:`tertulia.protocol.textmode.TextEncoder`) and its table of reply fields
(:data:`tertulia.protocol.jsonmode.OK_FIELDS`), so the lines are the server's,
byte for byte, colours included.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tertulia.core.colors import xterm256
from tertulia.core.ports import StoredMessage
from tertulia.protocol import textmode
from tertulia.protocol.jsonmode import OK_FIELDS

_TEXT = textmode.TextEncoder()


def _message(obj: dict[str, Any], room: str = "") -> StoredMessage:
    """A message object from the server, in the shape the text encoder reads."""
    return StoredMessage(str(obj.get("id", "")), str(obj.get("room", room)),
                    str(obj.get("from", "?")), str(obj.get("color", "")),
                    str(obj.get("text", "")), str(obj.get("kind", "say")),
                    str(obj.get("ts", "")))


def _messages(items: object, room: str) -> list[StoredMessage]:
    if not isinstance(items, list):
        return []
    return [_message(m, room) for m in items if isinstance(m, dict)]


def _split(data: bytes) -> list[str]:
    return data.decode().splitlines()


def _xterm(color: object, colors: bool) -> int | None:
    if colors and isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        return xterm256(color.lower())
    return None


def chat_line(obj: dict[str, Any], colors: bool) -> str:
    """A room message or a private message as its receiver reads it in text mode."""
    xterm = _xterm(obj.get("color"), colors)
    if obj.get("type") == "private":
        return _split(textmode.private_line(str(obj.get("from", "?")),
                                            str(obj.get("text", "")), xterm))[0]
    return _split(textmode.chat_line(_message(obj), xterm))[0]


def text_lines(obj: dict[str, Any], colors: bool = False) -> list[str]:
    """The text-mode lines for one JSON object from the server (none for a ``ping``).

    A message is written as others receive it; the reply that a ``say``,
    ``me`` or ``msg`` got in text mode is :func:`ok_line`'s.
    """
    kind = obj.get("type")
    if kind == "ok":
        return _ok_lines(obj)
    if kind == "error":
        return _split(_TEXT.error(str(obj.get("code", "")), str(obj.get("message", "")),
                                  None, None))
    if kind in ("message", "private"):
        return [chat_line(obj, colors)]
    if kind == "history":
        room = str(obj.get("room", ""))
        return _split(_TEXT.history(room, _messages(obj.get("messages"), room)))
    fields: dict[str, tuple[str, ...]] = {
        "welcome": ("server", "version", "text"),
        "join": ("room", "name", "color"),
        "leave": ("room", "name", "reason"),
        "nick": ("old", "new"),
        "quit": ("name", "reason"),
        "topic": ("room", "name", "text"),
        "notice": ("text",),
        "bye": ("code", "text"),
    }
    if isinstance(kind, str) and kind in fields:
        encode = getattr(_TEXT, kind)
        return _split(encode(*(str(obj.get(f, "")) for f in fields[kind])))
    return []


def ok_line(cmd: str, *fields: object) -> str:
    """``@-> OK VERB fields``: the text-mode reply to a command."""
    return _split(_TEXT.ok(cmd.upper(), None, *fields))[0]


def _ok_lines(obj: dict[str, Any]) -> list[str]:
    cmd = str(obj.get("cmd", ""))
    if cmd == "users":
        users = [(str(u.get("name", "")), str(u.get("color", "")))
                 for u in _dicts(obj.get("users"))]
        room = obj.get("room")
        return _split(_TEXT.users(str(room) if room else None, users, None))
    if cmd == "rooms":
        rooms = [(str(r.get("room", "")), int(r.get("count", 0) or 0), str(r.get("topic") or ""))
                 for r in _dicts(obj.get("rooms"))]
        return _split(_TEXT.rooms(rooms, None))
    if cmd == "help":
        commands = [(str(c.get("verb", "")), str(c.get("usage", "")))
                    for c in _dicts(obj.get("commands"))]
        return _split(_TEXT.help(commands, None))
    if cmd == "history":
        room = str(obj.get("room", ""))
        return _split(_TEXT.history_reply(room, _messages(obj.get("messages"), room), None))
    names = OK_FIELDS.get(cmd.upper(), ())
    values = (obj.get(name) for name in names)
    return [ok_line(cmd, *("" if v is None else v for v in values))]


def _dicts(items: object) -> Iterable[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
