"""What the user types: /commands, raw ``@<-`` commands, messages, and Tab completion.

:func:`run_line` decides what a submitted line is; :func:`slash` turns a
/command into a protocol command; :func:`command` sends it and shows the
reply.  :func:`complete` completes the word before the cursor (a /command, a
room, or a name), and cycles through the choices on further Tabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tertulia.client.connection import command_fields
from tertulia.client.i18n import _
from tertulia.client.tui import session
from tertulia.client.tui.model import GENERAL, Entry
from tertulia.client.tui.render import ERROR_STYLE, message_entry, valid_color
from tertulia.protocol.errors import ProtocolError
from tertulia.protocol.names import fold

if TYPE_CHECKING:
    from tertulia.client.tui.app import TertuliaApp
    from tertulia.client.tui.widgets import ChatInput

#: /commands that are a protocol verb as it is (the web page has the same ones).
AS_IS = ("register", "password", "unregister", "ban", "unban", "bans", "announce")
#: /commands that are a room verb, with the room on screen first when none is typed.
ROOM_FIRST = ("kick", "mute", "unmute", "mode", "voice", "devoice", "invite")

COMMANDS = ("/join", "/leave", "/msg", "/me", "/nick", "/topic", "/users", "/rooms",
            "/history", "/color", *(f"/{verb}" for verb in AS_IS + ROOM_FIRST), "/help",
            "/quit")


def slash_line(verb: str, rest: str, room: str | None) -> str | None:
    """The ``@<- VERB args`` line of a /command of :data:`AS_IS` or :data:`ROOM_FIRST`.

    ``/kick bob spam`` in #x is ``@<- KICK #x bob spam``; None for other /commands.
    """
    if verb in AS_IS:
        return f"@<- {verb.upper()} {rest}".rstrip()
    if verb not in ROOM_FIRST:
        return None
    args = rest if rest.startswith("#") or room is None else f"{room} {rest}"
    return f"@<- {verb.upper()} {args}".rstrip()


def help_lines() -> list[str]:
    return [
        _("/join #room - join a room and switch to it"),
        _("/leave [#room] - leave a room (default: this one)"),
        _("/msg name text - a private message"),
        _("/me text - an action"),
        _("/nick name - change your name"),
        _("/topic [text] - read or set this room's topic"),
        _("/users - who is in this room"),
        _("/rooms - the rooms with members"),
        _("/history [n] - the last n messages of this room"),
        _("/color [#RRGGBB] - a new colour"),
        _("/register password - protect your name; /password old new - change it; "
          "/unregister password - remove it"),
        _("/kick name [reason], /mute name [duration], /unmute, /voice, /devoice, /invite name, "
          "/mode [+m|-m|+i|-i] - this room (its creator, operators)"),
        _("/ban name|address [duration] [reason], /unban name|address, /bans, "
          "/announce text - operators"),
        _("/quit [reason] - leave the chat"),
        _("@<- VERB args - any protocol command; //text sends a line starting with /"),
        _("Keys: Ctrl+N/Ctrl+P or Alt+1..9 switch, PageUp older messages, "
          "Tab completes (again: the next choice, Shift+Tab: the one before), Ctrl+C twice quits"),
    ]


def show_help(app: TertuliaApp) -> None:
    for text in help_lines():
        app.tell(text)


async def run_line(app: TertuliaApp, line: str) -> None:
    """What the user typed: a /command, a raw ``@<-`` command or a message."""
    conv = app.here
    if line.startswith("@<-"):
        await raw(app, line)
        return
    if line.startswith("/") and not line.startswith("//"):
        await slash(app, line)
        return
    text = line[1:] if line.startswith("//") else line
    if conv.private:
        await session.request(app, "msg", to=conv.title, text=text)
    else:
        await session.request(app, "say", room=conv.title, text=text)


async def raw(app: TertuliaApp, line: str) -> None:
    """A raw ``@<- VERB args`` line: sent as its JSON request, its reply shown."""
    try:
        fields = command_fields(line)
    except ProtocolError as exc:
        app.tell(f"{exc.message} ({exc.code})", ERROR_STYLE)
        if str(exc.code) == "UNKNOWN_COMMAND":
            show_help(app)
        return
    if fields["cmd"] in ("proto", "identify", "pong"):
        app.tell(_("{cmd} is managed by this client").format(cmd=fields["cmd"]))
        return
    cmd = fields.pop("cmd")
    if cmd in ("me", "leave", "history") and "room" not in fields and not app.here.private:
        fields["room"] = app.here.title  # the room on screen, as the web page does
    await command(app, cmd, **fields)


async def slash(app: TertuliaApp, line: str) -> None:
    """A /command (``/join``, ``/msg``...): run it, or explain and show the help."""
    word, _sep, rest = line.partition(" ")
    verb = word[1:].lower()
    rest = rest.strip()
    conv = app.here
    room = None if conv.private else conv.title
    if verb == "join" and rest:
        await command(app, "join", room=rest if rest.startswith("#") else "#" + rest)
    elif verb in ("leave", "part"):
        if conv.private and not rest:
            del app.conversations[conv.key]
            app.switch_to(fold(GENERAL))
        else:
            await command(app, "leave", room=rest or room)
    elif verb in ("msg", "query") and rest:
        to, _sep, text = rest.partition(" ")
        if text.strip():
            await command(app, "msg", to=to, text=text)
        else:
            app.switch_to(app.conversation(to, private=True).key)
    elif verb == "me" and rest:
        if conv.private:
            await command(app, "msg", to=conv.title, text=f"* {app.me} {rest}")
        else:
            await command(app, "me", room=room, text=rest)
    elif verb == "nick" and rest:
        await command(app, "nick", name=rest)
    elif verb == "topic" and room:
        await command(app, "topic", room=room, text=rest or None)
    elif verb in ("users", "who"):
        await command(app, "users", room=rest or room)
    elif verb in ("rooms", "list"):
        await command(app, "rooms")
    elif verb == "history" and room:
        limit = int(rest) if rest.isdigit() else session.PAGE
        await command(app, "history", room=room, limit=limit)
    elif verb in ("color", "colour"):
        await command(app, "color", color=rest or None)
    elif verb == "quit":
        await app.quit_chat(rest or None)
    elif (raw_line := slash_line(verb, rest, room)) is not None:
        await raw(app, raw_line)
    else:
        if verb != "help":
            app.tell(_("unknown or incomplete command: {line}").format(line=line),
                     ERROR_STYLE)
        show_help(app)


async def command(app: TertuliaApp, cmd: str, **fields: Any) -> None:
    """Run a command and show its result."""
    if cmd == "quit":
        await app.quit_chat(fields.get("reason"))
        return
    reply = await session.request(app, cmd, **fields)
    if reply is None or reply.get("type") != "ok":
        return
    if cmd in ("register", "password"):
        # The password that identifies the user from now on (kept for reconnecting).
        app.password = fields.get("new" if cmd == "password" else "password") or app.password
    if cmd == "join":
        conv = app.conversation(str(reply.get("room")))
        app.switch_to(conv.key)
        app.spawn(session.members(app, conv.title))
    elif cmd == "leave":
        key = fold(str(reply.get("room")))
        app.conversations.pop(key, None)
        app.switch_to(fold(GENERAL) if key == app.current or
                      app.current not in app.conversations else app.current)
        app.refresh_sidebar()
    elif cmd == "msg":
        pass
    elif cmd == "nick":
        app.me = str(reply.get("name", app.me))
        app.tell(_("you are now {name}").format(name=app.me))
    elif cmd == "users":
        if reply.get("room"):
            session.set_members(app, str(reply["room"]), reply)
        users = Text(_("{count} users: ").format(count=reply.get("count", 0)))
        for i, user in enumerate(reply.get("users", [])):
            users.append(", " if i else "")
            users.append(str(user.get("name")), style=valid_color(user.get("color")) or "")
        app.show(app.here, Entry(users))
    elif cmd == "rooms":
        for room in reply.get("rooms", []):
            app.tell(f"{room.get('room')} ({room.get('count')}) {room.get('topic', '')}")
        app.tell(_("{count} rooms").format(count=reply.get("count", 0)))
    elif cmd == "topic":
        conv = app.conversation(str(reply.get("room")))
        conv.topic = str(reply.get("text", ""))
        app.refresh_members()
        app.tell(_("topic of {room}: {text}").format(room=conv.title, text=conv.topic))
    elif cmd == "history":
        # Each message in its place among those already shown, once.
        conv = app.conversation(str(reply.get("room")))
        for msg in reply.get("messages", []):
            if isinstance(msg, dict):
                app.show(conv, message_entry(msg, app.me), count=False)
        app.tell(_("{count} messages of {room}, each in its place").format(
            count=reply.get("count", 0), room=conv.title))
    elif cmd == "color":
        app.my_color = str(reply.get("color", ""))
        me = fold(app.me)
        for conv in app.conversations.values():  # our own entry in every members list
            if me in conv.members:
                conv.members[me] = (conv.members[me][0], app.my_color)
        app.refresh_members()
        app.tell(_("your colour is now {color}").format(color=app.my_color))
    elif cmd == "help":
        for item in reply.get("commands", []):
            app.tell(str(item.get("usage", "")))
    elif cmd == "kick":
        # The one who kicks gets only its OK, no LEAVE (protocol.md, choice 26).
        room_key = fold(str(reply.get("room")))
        if room_key in app.conversations:
            app.conversations[room_key].members.pop(fold(str(reply.get("name"))), None)
            app.refresh_members()
        app.tell(f"OK KICK {reply.get('room')} {reply.get('name')}")
    elif cmd == "bans":
        for ban in reply.get("bans", []):
            app.tell(_("ban: {target} until {until}, by {operator} {reason}").format(
                target=ban.get("target"), until=ban.get("until") or _("lifted"),
                operator=ban.get("operator"), reason=ban.get("reason") or "").rstrip())
        app.tell(_("{count} bans in force").format(count=reply.get("count", 0)))
    elif cmd not in ("say", "me"):
        fields_ = {k: v for k, v in reply.items() if k not in ("type", "cmd", "ref")}
        app.tell(f"OK {cmd.upper()} " + " ".join(str(v) for v in fields_.values()))


@dataclass
class Completion:
    """A Tab completion in progress: the choices, the one shown, and where it goes."""

    before: str  # the input up to the completed word
    after: str  # the input after the cursor
    choices: list[str]
    index: int
    suffix: str  # put after the choice: ": " after a name at the start, else " "
    value: str = ""  # what the input held after the last Tab, to see if it changed

    def apply(self, field_: ChatInput) -> None:
        choice = self.choices[self.index] + self.suffix
        field_.value = self.before + choice + self.after
        field_.cursor_position = len(self.before) + len(choice)
        self.value = field_.value


def complete(app: TertuliaApp, field_: ChatInput, step: int = 1) -> None:
    """Tab: complete the word before the cursor; Tab again cycles, Shift+Tab goes back.

    A command when the line starts with ``/``, a room for a word starting with
    ``#``, otherwise a member of the room on screen or a private conversation
    (followed by ``: `` at the start of the line).  With several choices the
    first is put in and all are listed in the status line, as in irssi.
    """
    state = app.completion
    if state is not None and field_.value == state.value and len(state.choices) > 1:
        state.index = (state.index + step) % len(state.choices)
        state.apply(field_)
        _list_choices(app, state)
        return
    app.completion = None
    value, cursor = field_.value, field_.cursor_position
    start = max(value.rfind(" ", 0, cursor) + 1, 0)
    word = value[start:cursor]
    if not word:
        return
    if start == 0 and word.startswith("/"):
        choices = list(COMMANDS)
    elif word.startswith("#"):
        choices = [c.title for c in app.ordered() if not c.private]
    else:
        choices = [n for n, _c in app.here.members.values()]
        choices += [c.title for c in app.ordered() if c.private]
    found = sorted({c for c in choices if fold(c).startswith(fold(word))}, key=fold)
    if not found:
        return
    suffix = ": " if start == 0 and not word.startswith(("/", "#")) else " "
    if value[cursor:].startswith(" "):
        suffix = suffix.rstrip()
    state = Completion(value[:start], value[cursor:], found,
                       0 if step > 0 else len(found) - 1, suffix)
    state.apply(field_)
    if len(found) > 1:
        app.completion = state
        _list_choices(app, state)


def _list_choices(app: TertuliaApp, state: Completion) -> None:
    """The choices in the status line, the one in the input between brackets."""
    shown = [f"[{c}]" if i == state.index else c for i, c in enumerate(state.choices)]
    app.status("  ".join(shown))
