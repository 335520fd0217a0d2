"""The Textual app: the layout, the conversation on screen, and the keys.

Owned by the app's event loop: :attr:`TertuliaApp.conversations` and the
current connection.  One task (:func:`session.run_connection`) connects,
identifies, pumps events and reconnects with backoff; user commands run as
workers that await their reply (:mod:`tertulia.client.tui.commands`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Input, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from tertulia.client.connection import Connection, ConnectionClosed
from tertulia.client.i18n import _
from tertulia.client.servers import Address
from tertulia.client.tui import commands, session
from tertulia.client.tui.model import GENERAL, Conversation, Entry
from tertulia.client.tui.render import (
    ERROR_STYLE,
    MENTION_NOTICE_STYLE,
    NOTICE_STYLE,
    TIME_STYLE,
    notice,
    valid_color,
)
from tertulia.client.tui.widgets import ChatInput, ChatLog, NameScreen
from tertulia.protocol.names import fold

#: Seconds between the two Ctrl+C presses that quit.
QUIT_WINDOW = 2.0
#: Below these widths the side lists shrink, the members list is hidden, the
#: conversations list shrinks more.
MEDIUM, NARROW, TINY = 100, 70, 45


class TertuliaApp(App[int]):
    """The full-screen client."""

    CSS = """
    #topic { height: 1; background: $boost; padding: 0 1; }
    #rooms { width: 22; border: none; }
    #log { width: 1fr; border-left: solid $panel; border-right: solid $panel; }
    #members { width: 20; padding: 0 1; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    #input { border: none; height: 1; padding: 0 1; }
    NameScreen { align: center middle; }
    #name-box { width: 100%; max-width: 64; height: auto; padding: 0 2; }
    #name-box Label { width: 100%; }  /* long reasons wrap instead of being cut */
    /* Smaller terminals: the side lists shrink, then the members go. */
    .medium #rooms { width: 16; }
    .medium #members { width: 14; }
    .narrow #members { display: none; }
    .tiny #rooms { width: 12; }
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
        Binding("tab", "complete(1)", show=False, priority=True),
        Binding("shift+tab", "complete(-1)", show=False, priority=True),
        *[Binding(f"alt+{n}", f"go({n})", show=False, priority=True) for n in range(1, 10)],
    ]

    def __init__(self, host: str, port: int, name: str | None = None,
                 backoff: float = session.BACKOFF_FIRST,
                 tls: ssl.SSLContext | None = None, *,
                 servers: Sequence[Address] | None = None,
                 backoff_max: float = session.BACKOFF_MAX) -> None:
        """Chat on ``host:port``, or on the first of ``servers`` that answers."""
        super().__init__()
        self.servers = list(servers) if servers else [(host, port)]
        #: The server connected to (or tried last).
        self.host, self.port = self.servers[0]
        #: The client SSL context with ``--tls``; None for plain TCP.
        self.tls = tls
        self.backoff, self.backoff_max = backoff, backoff_max
        #: The password of a registered name, once the user gave it (kept for reconnecting).
        self.password: str | None = None
        self.me = name or ""
        self.my_color = ""
        self.conn: Connection | None = None
        self.conversations: dict[str, Conversation] = {}
        self.current = ""
        self.quitting = False
        self.identified = False
        #: True once identified on some connection (then a name refused may be our own).
        self.was_identified = False
        self.name_wanted: asyncio.Future[str | None] | None = None
        self.name_screen: NameScreen | None = None
        self._ctrl_c_at = -1e9
        #: What the members list and the topic line show (for tests and screen readers).
        self.members_view, self.topic_view = Text(), Text()
        self.status_view = ""
        #: False while the terminal window is not focused (AppBlur), for the bell.
        self.window_focused = True
        #: The Tab completion being cycled through, if any.
        self.completion: commands.Completion | None = None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="topic")
        with Horizontal():
            yield OptionList(id="rooms")
            yield ChatLog(id="log")
            yield Static("", id="members")
        yield Static("", id="status")
        yield ChatInput(id="input", placeholder=_("type a message, or /help"))

    def on_mount(self) -> None:
        self.query_one("#rooms", OptionList).can_focus = False
        self.query_one("#log", RichLog).can_focus = False
        self.query_one("#input", ChatInput).focus()
        self.spawn(session.run_connection(self))

    def spawn(self, coro: Any) -> None:
        """Run a coroutine as a worker: cancelled at exit, and an error is not hidden.

        The one error let go is a missing widget: the main screen's widgets exist
        for as long as the app runs, so a worker that finds none is finishing
        while the app closes, and has nothing left to show.
        """

        async def guarded() -> None:
            try:
                await coro
            except NoMatches:
                pass

        self.run_worker(guarded(), exit_on_error=True)

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

    def rename_private(self, old: str, new: str) -> None:
        """The private conversation with ``old`` goes on, in place, as ``new``."""
        conv = self.conversations.get(fold(old))
        if conv is None or not conv.private or fold(new) in self.conversations:
            if conv is not None and conv.private:
                conv.title = new  # only the case changed
            return
        was_current = self.current == conv.key
        conv.title = new
        self.conversations = {
            (conv.key if key == fold(old) else key): c for key, c in self.conversations.items()
        }
        if was_current:
            self.current = conv.key

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

    def show(self, conv: Conversation, entry: Entry, count: bool = True) -> bool:
        """Add a line to a conversation; draw it if it is the one on screen.

        A message not on screen counts as unread when ``count``.  Returns False
        when the message was already there (nothing changed).
        """
        where = conv.add(entry)
        if where == "known":
            return False
        if conv.key == self.current:
            if where == "end":
                self.query_one("#log", RichLog).write(entry.text)
            else:
                self.redraw()
        elif count and entry.id is not None:
            conv.unread += 1
            conv.mentioned = conv.mentioned or entry.mention
            self.refresh_sidebar()
        return True

    def alert(self, conv: Conversation, who: str, text: str) -> None:
        """A message for the user (private, or naming them) has just arrived.

        When it is in another conversation, a notice in the one on screen and in
        the status line says where; the bell rings then, and whenever the
        terminal window is not focused (for terminals that report focus).
        """
        elsewhere = conv.key != self.current
        if elsewhere:
            number = next((i for i, c in enumerate(self.ordered(), 1) if c is conv), 0)
            where = _(" (Alt+{n})").format(n=number) if 0 < number < 10 else ""
            if conv.private:
                said = _("private message from {name}{where}: {text}")
            else:
                said = _("{name} mentioned you in {room}{where}: {text}")
            line = said.format(name=who, room=conv.title, where=where, text=text)
            self.tell(line, MENTION_NOTICE_STYLE)
            self.status(line)
        if elsewhere or not self.window_focused:
            self.bell()

    def on_app_focus(self) -> None:
        self.window_focused = True

    def on_app_blur(self) -> None:
        self.window_focused = False

    def on_resize(self, event: events.Resize) -> None:
        """Smaller terminals shrink the side lists, then hide the members."""
        width = event.size.width
        self.set_class(width < MEDIUM, "medium")
        self.set_class(width < NARROW, "narrow")
        self.set_class(width < TINY, "tiny")
        if self.current:
            self.call_after_refresh(self.refresh_sidebar)

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
            if rooms.content_size.width > 4:  # one line each, cut with "…"
                label.truncate(rooms.content_size.width - 3, overflow="ellipsis")
            options.append(Option(label, id=conv.key))
        rooms.clear_options()
        rooms.add_options(options)
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
                members.append(name + "\n", style=valid_color(color) or "")
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

    # ------------------------------------------------------------ input and keys

    @on(Input.Submitted, "#input")
    def submitted(self, event: Input.Submitted) -> None:
        line = event.value
        if not line.strip():
            return
        local = line.split(" ", 1)[0].lower() in ("/help", "/quit")
        if not self.identified and not local:
            # Nothing is sent while disconnected: the line waits where it is.
            self.tell(_("not connected: your line is kept; send it again once connected"),
                      ERROR_STYLE)
            return
        self.chat_input.remember(line)
        self.chat_input.value = ""
        self.spawn(commands.run_line(self, line))

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
            self.spawn(self.quit_chat())
            return
        self._ctrl_c_at = now
        self.status(_("press Ctrl+C again to quit"))

    def action_ctrl_d(self) -> None:
        field_ = self._focused_input()
        if field_ is not None and field_.value:
            field_.action_delete_right()
            return
        self.spawn(self.quit_chat())

    def action_complete(self, step: int) -> None:
        field_ = self._focused_input()
        if isinstance(field_, ChatInput):
            commands.complete(self, field_, step)

    def action_older(self) -> None:
        log = self.query_one("#log", RichLog)
        conv = self.here
        if log.scroll_y > 0:
            log.scroll_page_up()
            return
        if not conv.private and conv.oldest is not None:
            self.spawn(session.history(self, conv.title, before=conv.oldest,
                                       limit=session.PAGE))

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
