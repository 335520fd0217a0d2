"""Turning messages and notices into lines of :class:`rich.text.Text`.

Safety: every text that comes from other users (messages, names, topics,
reasons) is put on screen as plain :class:`rich.text.Text`, never interpreted
as markup, and the server has already removed control characters from it
(PROTOCOL.md §1).
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from rich.text import Text

from tertulia.client.connection import JsonObject
from tertulia.client.tui.model import Entry
from tertulia.protocol.names import fold

NOTICE_STYLE = "italic #a0a0a0"
ERROR_STYLE = "bold #e06c75"
MENTION_STYLE = "on #4a3b00"
MENTION_NOTICE_STYLE = "bold #e5c07b"
TIME_STYLE = "#808080"


def local_time(ts: str) -> str:
    """``2026-12-01T15:48:52.999Z`` as local ``HH:MM`` (``--:--`` when unreadable)."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return "--:--"
    return moment.astimezone().strftime("%H:%M")


def valid_color(value: object) -> str | None:
    """A ``#rrggbb`` colour from the server, or None when it is not one."""
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    return None


def mentions(text: str, name: str) -> bool:
    """True when ``text`` names ``name`` as a word (case-insensitive)."""
    if not name:
        return False
    pattern = r"(?<![\w])" + re.escape(fold(name)) + r"(?![\w])"
    return re.search(pattern, fold(text)) is not None


def for_me(msg: JsonObject, me: str) -> bool:
    """True for a message from someone else that is private or names ``me``."""
    who = str(msg.get("from", "?"))
    if fold(who) == fold(me):
        return False
    return msg.get("type") == "private" or mentions(str(msg.get("text", "")), me)


def render_message(msg: JsonObject, me: str) -> Text:
    """One room or private message as a line; the user's text stays plain."""
    who = str(msg.get("from", "?"))
    text = str(msg.get("text", ""))
    name_style = valid_color(msg.get("color")) or "bold"
    line = Text(local_time(str(msg.get("ts", ""))) + " ", style=TIME_STYLE)
    if msg.get("type") == "private":
        to = str(msg.get("to", "?"))
        line.append("*", style="magenta")
        line.append(who, style=name_style)
        if fold(who) == fold(me) and fold(to) != fold(me):
            line.append(" → " + to, style="magenta")
        line.append("* ", style="magenta")
    elif msg.get("kind") == "me":
        line.append("* ")
        line.append(who, style=name_style)
        line.append(" ")
    else:
        line.append("<")
        line.append(who, style=name_style)
        line.append("> ")
    line.append(Text(text))
    if for_me(msg, me):
        line.stylize(MENTION_STYLE)
    return line


def message_entry(msg: JsonObject, me: str) -> Entry:
    """A message as a conversation line, with its id and whether it is for ``me``."""
    return Entry(render_message(msg, me), str(msg.get("id")), for_me(msg, me))


def notice(text: str, style: str = NOTICE_STYLE) -> Text:
    """A line from the client or the server (not a chat message), with the time."""
    line = Text(time.strftime("%H:%M") + " ", style=TIME_STYLE)
    line.append(Text("-!- " + text, style=style))
    return line
