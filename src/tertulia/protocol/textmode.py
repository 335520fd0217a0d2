"""Text mode encoder: server lines as a person at ``nc`` reads them (PROTOCOL.md §3).

Every ``@->`` line is a keyword, a fixed number of fields, then free text.
The encoder trusts its inputs to be clean already: names and rooms are
validated and texts scrubbed by :mod:`tertulia.protocol.names`, so no line
built here can contain an LF or an escape sequence, except the one colour
sequence around a name in a chat line (PROTOCOL.md §3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tertulia.protocol.messages import BanView, MessageView, Ref

RESET = "\x1b[0m"


def colored(name: str, xterm: int | None) -> str:
    """A name wrapped in its xterm-256 colour, or as it is when colours are off."""
    if xterm is None:
        return name
    return f"\x1b[38;5;{xterm}m{name}{RESET}"


def _line(*parts: object) -> bytes:
    return ("@-> " + " ".join(str(p) for p in parts if p != "") + "\n").encode()


class TextEncoder:
    """Builds text-mode lines.  ``ref`` arguments are accepted and ignored."""

    mode = "text"

    # ---------------------------------------------------------------- replies
    def ok(self, verb: str, ref: Ref, *fields: object) -> bytes:
        return _line("OK", verb, *fields)

    def error(self, code: str, message: str, verb: str | None, ref: Ref) -> bytes:
        return _line("ERR", code, message)

    def users(self, room: str | None, users: Iterable[tuple[str, str]], ref: Ref) -> bytes:
        where = room or "*"
        lines = [f"@-> USER {where} {name} {color}\n" for name, color in users]
        lines.append(f"@-> OK USERS {len(lines)}\n")
        return "".join(lines).encode()

    def rooms(self, rooms: Sequence[tuple[str, int, str]], ref: Ref) -> bytes:
        lines = [_room_line(room, count, topic) for room, count, topic in rooms]
        lines.append(f"@-> OK ROOMS {len(rooms)}\n")
        return "".join(lines).encode()

    def bans(self, bans: Sequence[BanView], ref: Ref) -> bytes:
        """``@-> BAN target until operator reason`` per ban (``*``: no end), then the OK."""
        lines = [
            f"@-> BAN {b.target} {b.until or '*'} {b.operator} {b.reason}".rstrip(" ") + "\n"
            for b in bans
        ]
        lines.append(f"@-> OK BANS {len(bans)}\n")
        return "".join(lines).encode()

    def help(self, commands: Sequence[tuple[str, str]], ref: Ref) -> bytes:
        lines = [f"@-> HELP {verb} {usage}\n" for verb, usage in commands]
        lines.append("@-> OK HELP\n")
        return "".join(lines).encode()

    def history_reply(self, room: str, messages: Sequence[MessageView], ref: Ref) -> bytes:
        return self.history(room, messages) + f"@-> OK HISTORY {room} {len(messages)}\n".encode()

    # ---------------------------------------------------------------- events
    def history(self, room: str, messages: Sequence[MessageView]) -> bytes:
        out = []
        for m in messages:
            who = f"* {m.sender}" if m.kind == "me" else m.sender
            out.append(f"@-> HISTORY {room} {m.ts} {who} {m.text}\n")
        return "".join(out).encode()

    def welcome(self, server: str, version: str, text: str) -> bytes:
        return _line("WELCOME", server, version, text)

    def join(self, room: str, name: str, color: str) -> bytes:
        return _line("JOIN", room, name, color)

    def leave(self, room: str, name: str, reason: str) -> bytes:
        return _line("LEAVE", room, name, reason)

    def nick(self, old: str, new: str) -> bytes:
        return _line("NICK", old, new)

    def quit(self, name: str, reason: str) -> bytes:
        return _line("QUIT", name, reason)

    def topic(self, room: str, name: str, text: str) -> bytes:
        return _line("TOPIC", room, name, text)

    def notice(self, text: str) -> bytes:
        return _line("NOTICE", text)

    def ping(self, token: str) -> bytes:
        return _line("PING", token)

    def bye(self, code: str, text: str, ref: Ref = None) -> bytes:
        return _line("BYE", code, text)


def _room_line(room: str, count: int, topic: str) -> str:
    return f"@-> ROOM {room} {count} {topic}\n" if topic else f"@-> ROOM {room} {count}\n"


def chat_line(m: MessageView, xterm: int | None) -> bytes:
    """A room message or action as members see it: ``#room <name> text``."""
    name = colored(m.sender, xterm)
    if m.kind == "me":
        return f"{m.room} * {name} {m.text}\n".encode()
    return f"{m.room} <{name}> {m.text}\n".encode()


def private_line(sender: str, text: str, xterm: int | None) -> bytes:
    """A private message as its recipient sees it: ``*name* text``."""
    return f"*{colored(sender, xterm)}* {text}\n".encode()
