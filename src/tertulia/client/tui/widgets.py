"""The full-screen client's own widgets: the input line, the log, the name prompt."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, RichLog

from tertulia.client.i18n import _
from tertulia.client.tui.render import ERROR_STYLE


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


class ChatLog(RichLog):
    """The message log: lines wrap at its width, and wrap again when the width changes.

    A :class:`RichLog` keeps lines as drawn; on a resize the app draws the
    conversation again (:meth:`TertuliaApp.redraw`), so nothing is cut.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(wrap=True, markup=False, min_width=1, **kwargs)
        self._drawn_width = 0

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width and width != self._drawn_width:
            first = self._drawn_width == 0
            self._drawn_width = width
            if not first:
                redraw = getattr(self.app, "redraw", None)
                if redraw is not None:
                    self.call_after_refresh(redraw)


class NameScreen(Screen[None]):
    """Asks for a name until the server accepts one, and for the password of a
    registered name (masked; Esc goes back to choosing a name).

    What the user enters is the result of the app's ``name_wanted`` future: a
    name, a password, or None for "another name" (Esc at the password).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "another_name", show=False)]

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason
        #: The registered name whose password is asked for, or None when asking a name.
        self.asking_password: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="name-box"):
            yield Label(_("Tertulia: choose your name"), id="name-title")
            yield Label(Text(self.reason, style=ERROR_STYLE), id="name-reason")
            yield Input(placeholder=_("your name"), id="name-input")
            yield Input(placeholder=_("password"), password=True, id="password-input")

    def on_mount(self) -> None:
        self.query_one("#password-input", Input).display = False
        self.query_one("#name-input", Input).focus()

    def refuse(self, reason: str) -> None:
        """Ask for a name (again), saying why."""
        self.asking_password = None
        self.reason = reason
        self.query_one("#name-title", Label).update(_("Tertulia: choose your name"))
        self.query_one("#name-reason", Label).update(Text(reason, style=ERROR_STYLE))
        self.query_one("#password-input", Input).display = False
        field_ = self.query_one("#name-input", Input)
        field_.display = True
        field_.disabled = False
        field_.focus()

    def ask_password(self, name: str, reason: str) -> None:
        """Ask for the password of the registered ``name``, saying why."""
        self.asking_password = name
        self.reason = reason
        self.query_one("#name-title", Label).update(
            Text(_("The name {name} is registered: enter its password "
                   "(Esc: choose another name)").format(name=name)))
        self.query_one("#name-reason", Label).update(Text(reason, style=ERROR_STYLE))
        self.query_one("#name-input", Input).display = False
        field_ = self.query_one("#password-input", Input)
        field_.value = ""
        field_.display = True
        field_.disabled = False
        field_.focus()

    def _answer(self, value: str | None) -> None:
        from tertulia.client.tui.app import TertuliaApp  # the app imports this module

        app = self.app
        assert isinstance(app, TertuliaApp)
        if app.name_wanted is not None and not app.name_wanted.done():
            app.name_wanted.set_result(value)
            if value is not None:  # until the server answers (a password takes a while)
                self.query_one("#name-reason", Label).update(Text(_("checking...")))
                for field_ in self.query(Input):
                    field_.disabled = True

    @on(Input.Submitted, "#name-input")
    def submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if name:
            self._answer(name)

    @on(Input.Submitted, "#password-input")
    def password_submitted(self, event: Input.Submitted) -> None:
        if event.value:
            self._answer(event.value)

    def action_another_name(self) -> None:
        if self.asking_password is not None:
            self._answer(None)
