"""Rooms: who is in them, their topics, and their moderation state.

A :class:`Room` exists for every room the server knows: those with members,
and those the store remembers (a topic, or past messages).  ``members`` maps
a user's name key to its session; the hub changes it, never a session.

Moderation state (docs/reference/protocol.md, "Moderation"): the name key of
the room's ``creator``, the modes ``moderated`` (+m: only voiced users speak)
and ``invite_only`` (+i: only invited users join), and the sets ``voiced``
and ``invited`` of name keys, all kept in the store through
:meth:`Room.record`.  ``muted`` (name key -> monotonic end, or None for
"until UNMUTE") lives in memory only.  Each of the three sets holds at most
:data:`MAX_LISTED` keys, so no user can grow a room without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tertulia.core.ports import RoomRecord

if TYPE_CHECKING:
    from tertulia.core.cluster import RemoteUser
    from tertulia.core.session import Session

#: The most names a room keeps in each of ``voiced``, ``invited`` and ``muted``.
MAX_LISTED = 1000


class Room:
    __slots__ = (
        "creator",
        "creator_conn",
        "invite_only",
        "invited",
        "key",
        "members",
        "moderated",
        "muted",
        "name",
        "remote",
        "stored",
        "topic",
        "voiced",
    )

    def __init__(self, key: str, name: str, topic: str = "", stored: bool = False) -> None:
        self.key = key
        #: The name as first created; shown to everyone (``#General`` stays so).
        self.name = name
        self.topic = topic
        self.members: dict[str, Session] = {}
        #: Members on other nodes of a cluster (see core.cluster), by name key.
        self.remote: dict[str, RemoteUser] = {}
        #: True once the store has a record of this room.
        self.stored = stored
        #: Name key of the user who created the room ("" for none).
        self.creator = ""
        #: The connection that created it, while the process lives: a creator
        #: without an account has the room's rights only on that connection.
        self.creator_conn = 0
        self.moderated = False
        self.invite_only = False
        self.voiced: set[str] = set()
        self.invited: set[str] = set()
        self.muted: dict[str, float | None] = {}

    @classmethod
    def from_record(cls, record: RoomRecord) -> Room:
        room = cls(record.key, record.room, record.topic, stored=True)
        room.creator = record.creator
        room.load(record)
        return room

    def load(self, record: RoomRecord) -> None:
        """Take the modes and lists of a record (used to undo a change the store refused)."""
        self.moderated = record.moderated
        self.invite_only = record.invite_only
        self.voiced = set(record.voiced)
        self.invited = set(record.invited)

    def record(self, topic: str | None = None) -> RoomRecord:
        """What the store keeps of this room (with a new ``topic`` if given)."""
        return RoomRecord(
            self.key,
            self.name,
            self.topic if topic is None else topic,
            self.creator,
            self.moderated,
            self.invite_only,
            tuple(sorted(self.voiced)),
            tuple(sorted(self.invited)),
        )

    def modes(self) -> str:
        """``+m``, ``+i``, ``+mi``, or "" for none."""
        letters = ("m" if self.moderated else "") + ("i" if self.invite_only else "")
        return "+" + letters if letters else ""

    def muted_until(self, key: str, now: float) -> float | bool | None:
        """False if ``key`` may speak as far as mutes go; else the end (None: no end)."""
        if key not in self.muted:
            return False
        until = self.muted[key]
        if until is not None and until <= now:
            del self.muted[key]
            return False
        return until

    def purge_mutes(self, now: float) -> None:
        """Forget mutes that have ended."""
        for key, until in list(self.muted.items()):
            if until is not None and until <= now:
                del self.muted[key]

    def __repr__(self) -> str:
        return f"Room({self.name!r}, {len(self.members)} members)"
