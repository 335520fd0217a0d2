"""The read-only view of a chat message that both encoders need.

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
