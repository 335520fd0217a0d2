"""What the full-screen client knows about each conversation: no Textual here.

A :class:`Conversation` is a room or a private conversation: the lines shown
in it (messages kept in id order, each once), its unread count, whether the
user was mentioned, its topic and its members.  The app owns a dict of them,
keyed by the folded title (:func:`tertulia.protocol.names.fold`).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from rich.text import Text

from tertulia.protocol.names import fold

GENERAL = "#general"


@dataclass
class Entry:
    """One line of a conversation; ``id`` for messages, ``mention`` when it is for the user."""

    text: Text
    id: str | None = None
    mention: bool = False


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

    def add(self, entry: Entry) -> str:
        """Add a line (messages in id order, once each).

        Returns ``"end"`` when it went at the end, ``"inside"`` when before
        newer messages (an older page, or a catch-up), ``"known"`` when that
        message was already there (nothing added).
        """
        if entry.id is None:
            self.entries.append(entry)
            return "end"
        where = bisect_left(self.ids, entry.id)
        if where < len(self.ids) and self.ids[where] == entry.id:
            return "known"
        self.ids.insert(where, entry.id)
        if where == len(self.ids) - 1:
            self.entries.append(entry)
            return "end"
        following = self.ids[where + 1]
        at = next(i for i, e in enumerate(self.entries) if e.id == following)
        self.entries.insert(at, entry)
        return "inside"

    @property
    def oldest(self) -> str | None:
        return self.ids[0] if self.ids else None

    @property
    def newest(self) -> str | None:
        return self.ids[-1] if self.ids else None
