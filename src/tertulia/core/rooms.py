"""Rooms: who is in them, and their topics.

A :class:`Room` exists for every room the server knows: those with members,
and those the store remembers (a topic, or past messages).  ``members`` maps
a user's name key to its session; the hub changes it, never a session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tertulia.core.cluster import RemoteUser
    from tertulia.core.session import Session


class Room:
    __slots__ = ("key", "members", "name", "remote", "stored", "topic")

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

    def __repr__(self) -> str:
        return f"Room({self.name!r}, {len(self.members)} members)"
