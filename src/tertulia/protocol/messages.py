"""The read-only views of a chat message and of a ban that both encoders need.

Any object with these attributes will do (the store's ``StoredMessage`` has
them), so the protocol layer does not import the core.
"""

from __future__ import annotations

from typing import Protocol

#: A JSON ``ref``: echoed in the reply to the command that carried it.
Ref = str | int | float | None


class MessageView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def color(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def ts(self) -> str: ...


class BanView(Protocol):
    """A ban as BANS lists it: ``until`` is a wire time, or "" for no end."""

    @property
    def target(self) -> str: ...
    @property
    def until(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def reason(self) -> str: ...
