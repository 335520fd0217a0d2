"""``tertulia connect``: the full-screen terminal client (Textual), in JSON mode.

The screen: the current room's topic on top; the conversations on the left
(rooms, then private conversations, with unread counts); the messages in the
middle; the members of the current room, in their colours, on the right; a
status line; the input line at the bottom.  Incoming messages never touch the
input line.

Safety: every text that comes from other users (messages, names, topics,
reasons) is put on screen as plain :class:`rich.text.Text`, never interpreted
as markup, and the server has already removed control characters from it
(PROTOCOL.md §1).

Owned by the app's event loop: :attr:`TertuliaApp.conversations` and the
current connection.  One task (``_run_connection``) connects, identifies,
pumps events and reconnects with backoff; user commands run as workers that
await their reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from tertulia.client.connection import (
    Connection,
    ConnectionClosed,
    JsonObject,
    ServerRefused,
    command_fields,
)
from tertulia.client.i18n import _
from tertulia.protocol.errors import ProtocolError
from tertulia.protocol.names import fold

#: Seconds between the two Ctrl+C presses that quit.
QUIT_WINDOW = 2.0
#: Reconnection delays: the first, and the most.
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
#: Messages asked for when scrolling back (PageUp) and when catching up.
PAGE = 50
CATCH_UP = 500
GENERAL = "#general"

COMMANDS = ("/join", "/leave", "/msg", "/me", "/nick", "/topic", "/users", "/rooms",
            "/history", "/color", "/help", "/quit")

NOTICE_STYLE = "italic #a0a0a0"
ERROR_STYLE = "bold #e06c75"
MENTION_STYLE = "on #4a3b00"
TIME_STYLE = "#808080"


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
        _("/quit [reason] - leave the chat"),
        _("@<- VERB args - any protocol command; //text sends a line starting with /"),
        _("Keys: Ctrl+N/Ctrl+P or Alt+1..9 switch, PageUp older messages, "
          "Tab completes, Ctrl+C twice quits"),
    ]


def local_time(ts: str) -> str:
    """``2026-12-01T15:48:52.999Z`` as local ``HH:MM`` (empty when unreadable)."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return "--:--"
    return moment.astimezone().strftime("%H:%M")


def _color(value: object) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    return None


def mentions(text: str, name: str) -> bool:
    """True when ``text`` names ``name`` as a word (case-insensitive)."""
    if not name:
        return False
    pattern = r"(?<![\w])" + re.escape(fold(name)) + r"(?![\w])"
    return re.search(pattern, fold(text)) is not None


def render_message(msg: JsonObject, me: str) -> Text:
    """One room or private message as a line; the user's text stays plain."""
    who = str(msg.get("from", "?"))
    text = str(msg.get("text", ""))
    name_style = _color(msg.get("color")) or "bold"
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
    if fold(who) != fold(me) and (msg.get("type") == "private" or mentions(text, me)):
        line.stylize(MENTION_STYLE)
    return line


def notice(text: str, style: str = NOTICE_STYLE) -> Text:
    line = Text(time.strftime("%H:%M") + " ", style=TIME_STYLE)
    line.append(Text("-!- " + text, style=style))
    return line


@dataclass
class Entry:
    text: Text
    id: str | None = None


@dataclass
class Conversation:
    """A room or a private conversation, with what was shown in it."""

    title: str
    private: bool = False
    entries: list[Entry] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # sorted ids of the messages shown
    unread: int = 0
    mentioned: bool = False
    topic: str = ""
    members: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (name, colour)

    @property
    def key(self) -> str:
        return fold(self.title)

    def add(self, entry: Entry) -> bool:
        """Add a line (messages in id order, once each); False if it was not at the end."""
        if entry.id is None:
            self.entries.append(entry)
            return True
        if entry.id in self.ids:
            return True
        where = bisect_right(self.ids, entry.id)
        self.ids.insert(where, entry.id)
        if where == len(self.ids) - 1:
            self.entries.append(entry)
            return True
        # Before the message that now follows it (an older page, or a catch-up).
        following = self.ids[where + 1]
        at = next(i for i, e in enumerate(self.entries) if e.id == following)
        self.entries.insert(at, entry)
        return False

    @property
    def oldest(self) -> str | None:
        return self.ids[0] if self.ids else None

    @property
    def newest(self) -> str | None:
        return self.ids[-1] if self.ids else None


class ChatInput(Input):
    """The input line, with a history of what was sent (Up/Down)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", show=False),
        Binding("down", "history(1)", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[str] = []
        self._at = 0
        self._draft = ""

    def remember(self, line: str) -> None:
        if line and (not self.sent or self.sent[-1] != line):
            self.sent.append(line)
        self._at = len(self.sent)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.sent:
            return
        if self._at == len(self.sent):
            self._draft = self.value
        self._at = max(0, min(len(self.sent), self._at + step))
        self.value = self.sent[self._at] if self._at < len(self.sent) else self._draft
        self.cursor_position = len(self.value)


class NameScreen(Screen[None]):
    """Asks for a name until the server accepts one."""

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="name-box"):
            yield Label(_("Tertulia: choose your name"), id="name-title")
            yield Label(Text(self.reason, style=ERROR_STYLE), id="name-reason")
            yield Input(placeholder=_("your name"), id="name-input")

    def on_mount(self) -> None:
        self.query_one("#name-input", Input).focus()

    def refuse(self, reason: str) -> None:
        self.reason = reason
        self.query_one("#name-reason", Label).update(Text(reason, style=ERROR_STYLE))
        field_ = self.query_one("#name-input", Input)
        field_.disabled = False
        field_.focus()

    @on(Input.Submitted, "#name-input")
    def submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            return
        app = self.app
        assert isinstance(app, TertuliaApp)
        if app.name_wanted is not None and not app.name_wanted.done():
            app.name_wanted.set_result(name)


class TertuliaApp(App[int]):
    """The full-screen client."""

    CSS = """
    #topic { height: 1; background: $boost; padding: 0 1; }
    #rooms { width: 22; border: none; }
    #log { width: 1fr; border-left: solid $panel; border-right: solid $panel; }
    #members { width: 20; padding: 0 1; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    #input { border: none; height: 1; padding: 0 1; }
    #name-box { align: center middle; width: 60; height: auto; margin: 4 8; }
    """
    TITLE = "Tertulia"
    ENABLE_COMMAND_PALETTE = False  # Ctrl+P is "previous conversation" here
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "ctrl_c", show=False, priority=True),
        Binding("ctrl+d", "ctrl_d", show=False, priority=True),
        Binding("ctrl+n", "switch(1)", show=False, priority=True),
        Binding("ctrl+p", "switch(-1)", show=False, priority=True),
        Binding("pageup", "older", show=False, priority=True),
        Binding("pagedown", "newer", show=False, priority=True),
        Binding("tab", "complete", show=False, priority=True),
        *[Binding(f"alt+{n}", f"go({n})", show=False, priority=True) for n in range(1, 10)],
    ]

    def __init__(self, host: str, port: int, name: str | None = None,
                 backoff: float = BACKOFF_FIRST) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.backoff = backoff
        self.me = name or ""
        self.my_color = ""
        self.conn: Connection | None = None
        self.conversations: dict[str, Conversation] = {}
        self.current = ""
        self.quitting = False
        self.identified = False
        self.name_wanted: asyncio.Future[str] | None = None
        self._name_screen: NameScreen | None = None
        self._ctrl_c_at = -1e9
        #: What the members list and the topic line show (for tests and screen readers).
        self.members_view, self.topic_view = Text(), Text()
        self.status_view = ""

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="topic")
        with Horizontal():
            yield OptionList(id="rooms")
            yield RichLog(id="log", wrap=True, markup=False)
            yield Static("", id="members")
        yield Static("", id="status")
        yield ChatInput(id="input", placeholder=_("type a message, or /help"))

    def on_mount(self) -> None:
        self.query_one("#rooms", OptionList).can_focus = False
        self.query_one("#log", RichLog).can_focus = False
        self.query_one("#input", ChatInput).focus()
        self._spawn(self._run_connection())

    def _spawn(self, coro: Any) -> None:
        """Run a coroutine as a worker: cancelled at exit, and an error is not hidden."""
        self.run_worker(coro, exit_on_error=True)

    async def on_unmount(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    @property
    def chat_input(self) -> ChatInput:
        return self.query_one("#input", ChatInput)

    def status(self, text: str) -> None:
        self.status_view = text
        self.query_one("#status", Static).update(Text(text))

    # ------------------------------------------------------------ conversations

    def conversation(self, title: str, private: bool = False) -> Conversation:
        key = fold(title)
        conv = self.conversations.get(key)
        if conv is None:
            conv = self.conversations[key] = Conversation(title, private)
            self.refresh_sidebar()
        return conv

    @property
    def here(self) -> Conversation:
        if self.current not in self.conversations:
            self.current = fold(GENERAL)
            return self.conversation(GENERAL)
        return self.conversations[self.current]

    def ordered(self) -> list[Conversation]:
        rooms = [c for c in self.conversations.values() if not c.private]
        people = [c for c in self.conversations.values() if c.private]
        return rooms + people

    def show(self, conv: Conversation, entry: Entry, count: bool = True) -> None:
        """Add a line to a conversation; draw it if it is the one on screen."""
        at_end = conv.add(entry)
        if conv.key == self.current:
            if at_end:
                self.query_one("#log", RichLog).write(entry.text)
            else:
                self.redraw()
        elif count and entry.id is not None:
            conv.unread += 1
            if entry.text.spans and any(str(s.style) == MENTION_STYLE for s in entry.text.spans):
                conv.mentioned = True
            self.refresh_sidebar()

    def tell(self, text: str, style: str = NOTICE_STYLE) -> None:
        """A line from the client or the server, in the current conversation."""
        self.show(self.here, Entry(notice(text, style)))

    def redraw(self, top: bool = False) -> None:
        """Draw the current conversation again; at its end, or at its top."""
        log = self.query_one("#log", RichLog)
        log.clear()
        for entry in self.here.entries:
            log.write(entry.text, scroll_end=not top)
        if top:
            log.scroll_home(animate=False, immediate=True)

    def refresh_sidebar(self) -> None:
        rooms = self.query_one("#rooms", OptionList)
        options = []
        for i, conv in enumerate(self.ordered(), 1):
            label = Text(f"{i} " if i < 10 else "  ", style=TIME_STYLE)
            label.append(Text(conv.title if not conv.private else "*" + conv.title,
                              style="bold" if conv.key == self.current else ""))
            if conv.unread:
                label.append(f" ({conv.unread})", style="bold yellow" if conv.mentioned
                             else "yellow")
            options.append(Option(label, id=conv.key))
        rooms.set_options(options)
        for i, conv in enumerate(self.ordered()):
            if conv.key == self.current:
                rooms.highlighted = i
        self.refresh_members()

    def refresh_members(self) -> None:
        conv = self.conversations.get(self.current)
        members = Text()
        topic = Text()
        if conv is not None and not conv.private:
            for name, color in sorted(conv.members.values(), key=lambda m: fold(m[0])):
                members.append(name + "\n", style=_color(color) or "")
            topic.append(conv.title + ": ", style="bold")
            topic.append(Text(conv.topic))
        elif conv is not None:
            topic.append(_("private conversation with {name}").format(name=conv.title))
        self.members_view, self.topic_view = members, topic
        self.query_one("#members", Static).update(members)
        self.query_one("#topic", Static).update(topic)

    def switch_to(self, key: str) -> None:
        if key not in self.conversations:
            return
        self.current = key
        conv = self.conversations[key]
        conv.unread, conv.mentioned = 0, False
        self.redraw()
        self.refresh_sidebar()

    def action_switch(self, step: int) -> None:
        order = [c.key for c in self.ordered()]
        if not order:
            return
        at = order.index(self.current) if self.current in order else 0
        self.switch_to(order[(at + step) % len(order)])

    def action_go(self, number: int) -> None:
        order = self.ordered()
        if 0 < number <= len(order):
            self.switch_to(order[number - 1].key)

    @on(OptionList.OptionSelected, "#rooms")
    def picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.switch_to(event.option.id)
        self.chat_input.focus()

    # ------------------------------------------------------------ connection

    async def _run_connection(self) -> None:
        delay = self.backoff
        while not self.quitting:
            conn = Connection(self.host, self.port)
            try:
                await conn.connect()
            except (OSError, ServerRefused, TimeoutError) as exc:
                self.tell(_("cannot connect to {where}: {why}; trying again in {s} s").format(
                    where=f"{self.host}:{self.port}", why=exc, s=f"{delay:g}"), ERROR_STYLE)
                self.status(_("not connected"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.conn = conn
            pump = asyncio.create_task(self._pump(conn))
            try:
                if await self._login(conn):
                    delay = self.backoff
            except ConnectionClosed:
                pass
            await pump
            self.conn = None
            self.identified = False
            if self.quitting:
                return
            bye = conn.bye
            why = f"{bye.get('code')} {bye.get('text', '')}" if bye else _("connection lost")
            self.tell(_("disconnected ({why}); reconnecting in {s} s").format(
                why=why, s=f"{delay:g}"), ERROR_STYLE)
            self.status(_("reconnecting..."))
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _pump(self, conn: Connection) -> None:
        async for event in conn.events():
            self.on_server_event(event)

    async def _login(self, conn: Connection) -> bool:
        """IDENTIFY (asking for a name as needed), then rejoin and catch up."""
        # What we had before this connection: the history sent on IDENTIFY and JOIN
        # (the latest 20) may skip some, so we ask for everything after these.
        known = {conv.key: conv.newest for conv in self.conversations.values()
                 if not conv.private}
        reason = ""
        name = self.me or None
        while True:
            if name is None:
                name = await self._ask_name(reason)
            reply = await conn.request("identify", name=name)
            if reply.get("type") == "ok":
                break
            reason = self._refusal(name, reply)
            name = None
        self.me = str(reply.get("name", name))
        self.my_color = str(reply.get("color", ""))
        self.identified = True
        if self._name_screen is not None:
            self._name_screen = None
            self.pop_screen()
            self.chat_input.focus()
        self.status(_("connected to {where} as {name}").format(
            where=f"{self.host}:{self.port}", name=self.me))
        general = self.conversation(GENERAL)
        if not self.current:
            self.current = general.key
            self.redraw()
        self.refresh_sidebar()
        # Rejoin the rooms of an earlier connection, then fetch what was missed.
        for conv in list(self.conversations.values()):
            if conv.private or conv.key == general.key:
                continue
            joined = await conn.request("join", room=conv.title)
            if joined.get("type") == "error":
                self.show(conv, Entry(notice(str(joined.get("message")), ERROR_STYLE)))
        for conv in list(self.conversations.values()):
            if conv.private:
                continue
            self._spawn(self._members(conv.title))
            newest = known.get(conv.key)
            if newest is not None:
                self._spawn(self._catch_up(conv.title, newest))
        return True

    def _refusal(self, name: str, reply: JsonObject) -> str:
        code = str(reply.get("code", ""))
        message = str(reply.get("message", ""))
        if code == "NAME_IN_USE":
            return _("The name {name} is taken: {why}. Choose another.").format(
                name=name, why=message)
        if code == "INVALID_NAME":
            return _("The name {name} is not valid: {why}. Choose another.").format(
                name=name, why=message)
        return _("The name {name} was refused: {why}").format(name=name, why=message)

    async def _ask_name(self, reason: str) -> str:
        self.name_wanted = asyncio.get_running_loop().create_future()
        if self._name_screen is None:
            self._name_screen = NameScreen(reason)
            await self.push_screen(self._name_screen)
        else:
            self._name_screen.refuse(reason)
        return await self.name_wanted

    async def _members(self, room: str) -> None:
        reply = await self._request("users", room=room)
        if reply is not None and reply.get("type") == "ok":
            self._set_members(room, reply)

    def _set_members(self, room: str, reply: JsonObject) -> None:
        conv = self.conversations.get(fold(room))
        if conv is None:
            return
        conv.members = {
            fold(str(u.get("name"))): (str(u.get("name")), str(u.get("color", "")))
            for u in reply.get("users", []) if isinstance(u, dict)
        }
        if conv.key == self.current:
            self.refresh_members()

    async def _history(self, room: str, **fields: Any) -> None:
        reply = await self._request("history", room=room, **fields)
        if reply is not None and reply.get("type") == "ok":
            conv = self.conversation(str(reply.get("room", room)))
            messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
            if "before" in fields:
                # An older page: added above, drawn once, and the view stays at the top.
                for msg in messages:
                    conv.add(Entry(render_message(msg, self.me), str(msg.get("id"))))
                if not messages:
                    self.show(conv, Entry(notice(_("no older messages"))))
                elif conv.key == self.current:
                    self.redraw(top=True)
                return
            for msg in messages:
                self.show(conv, Entry(render_message(msg, self.me), str(msg.get("id"))),
                          count=False)

    async def _catch_up(self, room: str, after: str) -> None:
        """HISTORY after the last message seen, page by page, until nothing is missing."""
        while True:
            reply = await self._request("history", room=room, after=after, limit=CATCH_UP)
            if reply is None or reply.get("type") != "ok":
                return
            conv = self.conversation(str(reply.get("room", room)))
            messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
            for msg in messages:
                self.show(conv, Entry(render_message(msg, self.me), str(msg.get("id"))),
                          count=False)
            if len(messages) < CATCH_UP:
                return
            after = str(messages[-1].get("id"))

    async def _request(self, cmd: str, **fields: Any) -> JsonObject | None:
        """Send a command; show an error reply; None when not connected."""
        conn = self.conn
        if conn is None or conn.closed.is_set():
            self.tell(_("not connected; try again in a moment"), ERROR_STYLE)
            return None
        try:
            reply = await conn.request(cmd, **fields)
        except (ConnectionClosed, TimeoutError):
            self.tell(_("no answer from the server for {cmd}").format(cmd=cmd), ERROR_STYLE)
            return None
        if reply.get("type") == "error":
            self.tell(f"{reply.get('message', '')} ({reply.get('code', '')})", ERROR_STYLE)
        return reply

    # ------------------------------------------------------------ server events

    def on_server_event(self, event: JsonObject) -> None:
        kind = event.get("type")
        me = self.me
        if kind == "message":
            conv = self.conversation(str(event.get("room", GENERAL)))
            self.show(conv, Entry(render_message(event, me), str(event.get("id"))))
        elif kind == "private":
            who, to = str(event.get("from", "")), str(event.get("to", ""))
            peer = to if fold(who) == fold(me) else who
            conv = self.conversation(peer, private=True)
            self.show(conv, Entry(render_message(event, me), str(event.get("id"))))
        elif kind == "history":
            conv = self.conversation(str(event.get("room", GENERAL)))
            for msg in event.get("messages", []):
                if isinstance(msg, dict):
                    self.show(conv, Entry(render_message(msg, me), str(msg.get("id"))),
                              count=False)
        elif kind == "join":
            conv = self.conversation(str(event.get("room")))
            name = str(event.get("name"))
            conv.members[fold(name)] = (name, str(event.get("color", "")))
            self.show(conv, Entry(notice(_("{name} joined {room}").format(
                name=name, room=conv.title))), count=False)
            self.refresh_members()
        elif kind == "leave":
            conv = self.conversation(str(event.get("room")))
            name = str(event.get("name"))
            conv.members.pop(fold(name), None)
            self.show(conv, Entry(notice(_("{name} left {room} ({why})").format(
                name=name, room=conv.title, why=event.get("reason", "")))), count=False)
            self.refresh_members()
        elif kind == "quit":
            name = str(event.get("name"))
            for conv in self.conversations.values():
                if conv.members.pop(fold(name), None) is not None or (
                        conv.private and conv.key == fold(name)):
                    self.show(conv, Entry(notice(_("{name} quit ({why})").format(
                        name=name, why=event.get("reason", "")))), count=False)
            self.refresh_members()
        elif kind == "nick":
            old, new = str(event.get("old")), str(event.get("new"))
            for conv in list(self.conversations.values()):
                member = conv.members.pop(fold(old), None)
                if member is not None:
                    conv.members[fold(new)] = (new, member[1])
                if member is not None or (conv.private and conv.key == fold(old)):
                    self.show(conv, Entry(notice(_("{old} is now {new}").format(
                        old=old, new=new))), count=False)
            self.refresh_members()
        elif kind == "topic":
            conv = self.conversation(str(event.get("room")))
            conv.topic = str(event.get("text", ""))
            self.show(conv, Entry(notice(_("{name} set the topic: {text}").format(
                name=event.get("name"), text=conv.topic))), count=False)
            self.refresh_members()
        elif kind == "notice":
            self.tell(str(event.get("text", "")))
        elif kind == "error":
            self.tell(f"{event.get('message', '')} ({event.get('code', '')})", ERROR_STYLE)
        elif kind == "bye":
            self.tell(f"{event.get('code', '')} {event.get('text', '')}", ERROR_STYLE)

    # ------------------------------------------------------------ input

    @on(Input.Submitted, "#input")
    def submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if not line.strip():
            return
        self.chat_input.remember(line)
        self.chat_input.value = ""
        self._spawn(self.run_line(line))

    async def run_line(self, line: str) -> None:
        """What the user typed: a /command, a raw ``@<-`` command or a message."""
        conv = self.here
        if line.startswith("@<-"):
            try:
                fields = command_fields(line)
            except ProtocolError as exc:
                self.tell(f"{exc.message} ({exc.code})", ERROR_STYLE)
                if str(exc.code) == "UNKNOWN_COMMAND":
                    self._show_help()
                return
            if fields["cmd"] in ("proto", "identify", "pong"):
                self.tell(_("{cmd} is managed by this client").format(cmd=fields["cmd"]))
                return
            cmd = fields.pop("cmd")
            await self._command(cmd, **fields)
            return
        if line.startswith("/") and not line.startswith("//"):
            await self._slash(line)
            return
        text = line[1:] if line.startswith("//") else line
        if conv.private:
            await self._request("msg", to=conv.title, text=text)
        else:
            await self._request("say", room=conv.title, text=text)

    async def _slash(self, line: str) -> None:
        word, _sep, rest = line.partition(" ")
        verb = word[1:].lower()
        rest = rest.strip()
        conv = self.here
        room = None if conv.private else conv.title
        if verb == "join" and rest:
            await self._command("join", room=rest if rest.startswith("#") else "#" + rest)
        elif verb in ("leave", "part"):
            if conv.private and not rest:
                del self.conversations[conv.key]
                self.switch_to(fold(GENERAL))
            else:
                await self._command("leave", room=rest or room)
        elif verb in ("msg", "query") and rest:
            to, _sep, text = rest.partition(" ")
            if text.strip():
                await self._command("msg", to=to, text=text)
            else:
                self.switch_to(self.conversation(to, private=True).key)
        elif verb == "me" and rest:
            if conv.private:
                await self._command("msg", to=conv.title, text=f"* {self.me} {rest}")
            else:
                await self._command("me", room=room, text=rest)
        elif verb == "nick" and rest:
            await self._command("nick", name=rest)
        elif verb == "topic" and room:
            await self._command("topic", room=room, text=rest or None)
        elif verb in ("users", "who"):
            await self._command("users", room=rest or room)
        elif verb in ("rooms", "list"):
            await self._command("rooms")
        elif verb == "history" and room:
            limit = int(rest) if rest.isdigit() else PAGE
            await self._command("history", room=room, limit=limit)
        elif verb in ("color", "colour"):
            await self._command("color", color=rest or None)
        elif verb == "quit":
            await self.quit_chat(rest or None)
        else:
            if verb != "help":
                self.tell(_("unknown or incomplete command: {line}").format(line=line),
                          ERROR_STYLE)
            self._show_help()

    def _show_help(self) -> None:
        for text in help_lines():
            self.tell(text)

    async def _command(self, cmd: str, **fields: Any) -> None:
        """Run a command and show its result."""
        if cmd == "quit":
            await self.quit_chat(fields.get("reason"))
            return
        reply = await self._request(cmd, **fields)
        if reply is None or reply.get("type") != "ok":
            return
        if cmd == "join":
            conv = self.conversation(str(reply.get("room")))
            self.switch_to(conv.key)
            self._spawn(self._members(conv.title))
        elif cmd == "leave":
            key = fold(str(reply.get("room")))
            self.conversations.pop(key, None)
            self.switch_to(fold(GENERAL) if key == self.current or
                           self.current not in self.conversations else self.current)
            self.refresh_sidebar()
        elif cmd == "msg":
            pass
        elif cmd == "nick":
            self.me = str(reply.get("name", self.me))
            self.tell(_("you are now {name}").format(name=self.me))
        elif cmd == "users":
            if reply.get("room"):
                self._set_members(str(reply["room"]), reply)
            users = Text(_("{count} users: ").format(count=reply.get("count", 0)))
            for i, user in enumerate(reply.get("users", [])):
                users.append(", " if i else "")
                users.append(str(user.get("name")), style=_color(user.get("color")) or "")
            self.show(self.here, Entry(users))
        elif cmd == "rooms":
            for room in reply.get("rooms", []):
                self.tell(f"{room.get('room')} ({room.get('count')}) {room.get('topic', '')}")
            self.tell(_("{count} rooms").format(count=reply.get("count", 0)))
        elif cmd == "topic":
            conv = self.conversation(str(reply.get("room")))
            conv.topic = str(reply.get("text", ""))
            self.refresh_members()
            self.tell(_("topic of {room}: {text}").format(room=conv.title, text=conv.topic))
        elif cmd == "history":
            conv = self.conversation(str(reply.get("room")))
            for msg in reply.get("messages", []):
                if isinstance(msg, dict):
                    self.show(conv, Entry(render_message(msg, self.me), str(msg.get("id"))),
                              count=False)
        elif cmd == "color":
            self.my_color = str(reply.get("color", ""))
            self.tell(_("your colour is now {color}").format(color=self.my_color))
        elif cmd == "help":
            for item in reply.get("commands", []):
                self.tell(str(item.get("usage", "")))
        elif cmd not in ("say", "me"):
            fields_ = {k: v for k, v in reply.items() if k not in ("type", "cmd", "ref")}
            self.tell(f"OK {cmd.upper()} " + " ".join(str(v) for v in fields_.values()))

    # ------------------------------------------------------------ keys

    def _focused_input(self) -> Input | None:
        focused = self.focused
        return focused if isinstance(focused, Input) else None

    def action_ctrl_c(self) -> None:
        """With text: clear it (kept in the input history); empty: press twice to quit."""
        field_ = self._focused_input()
        if field_ is not None and field_.value:
            if isinstance(field_, ChatInput):
                field_.remember(field_.value)
            field_.value = ""
            return
        now = time.monotonic()
        if now - self._ctrl_c_at <= QUIT_WINDOW:
            self._spawn(self.quit_chat())
            return
        self._ctrl_c_at = now
        self.status(_("press Ctrl+C again to quit"))

    def action_ctrl_d(self) -> None:
        field_ = self._focused_input()
        if field_ is not None and field_.value:
            field_.action_delete_right()
            return
        self._spawn(self.quit_chat())

    def action_complete(self) -> None:
        field_ = self._focused_input()
        if not isinstance(field_, ChatInput):
            return
        value, cursor = field_.value, field_.cursor_position
        start = max(value.rfind(" ", 0, cursor) + 1, 0)
        word = value[start:cursor]
        if not word:
            return
        if start == 0 and word.startswith("/"):
            choices = list(COMMANDS)
        elif word.startswith("#"):
            choices = [c.title for c in self.ordered() if not c.private]
        else:
            choices = [n for n, _c in self.here.members.values()]
            choices += [c.title for c in self.ordered() if c.private]
        found = sorted({c for c in choices if fold(c).startswith(fold(word))}, key=fold)
        if not found:
            return
        done = found[0] if len(found) == 1 else _common_prefix(found, word)
        suffix = (": " if start == 0 and not word.startswith(("/", "#")) else " "
                  ) if len(found) == 1 else ""
        field_.value = value[:start] + done + suffix + value[cursor:]
        field_.cursor_position = start + len(done) + len(suffix)
        if len(found) > 1:
            self.status("  ".join(found[:20]))

    def action_older(self) -> None:
        log = self.query_one("#log", RichLog)
        conv = self.here
        if log.scroll_y > 0:
            log.scroll_page_up()
            return
        if not conv.private and conv.oldest is not None:
            self._spawn(self._history(conv.title, before=conv.oldest, limit=PAGE))

    def action_newer(self) -> None:
        self.query_one("#log", RichLog).scroll_page_down()

    async def quit_chat(self, reason: str | None = None) -> None:
        """Say QUIT (the server answers BYE), then leave the app."""
        if self.quitting:
            return
        self.quitting = True
        self.status(_("quitting..."))
        if self.name_wanted is not None and not self.name_wanted.done():
            self.name_wanted.cancel()
        conn = self.conn
        if conn is not None:
            with contextlib.suppress(OSError, ConnectionClosed):
                await conn.quit(reason)
        self.exit(0)


def _common_prefix(words: list[str], typed: str) -> str:
    first = words[0]
    size = len(typed)
    while size < len(first) and all(
            len(w) > size and fold(w[: size + 1]) == fold(first[: size + 1]) for w in words):
        size += 1
    return first[:size] if size > len(typed) else typed


def run(host: str, port: int, name: str | None = None) -> int:
    """Run the full-screen client; return the exit status."""
    app = TertuliaApp(host, port, name)
    result = app.run()
    return result if isinstance(result, int) else 0


def main_from_args(address: str | None, name: str | None) -> int:
    """``tertulia connect [HOST[:PORT]] [--name NAME]``."""
    from tertulia.client.plain import parse_address

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    return run(host, port, name)
