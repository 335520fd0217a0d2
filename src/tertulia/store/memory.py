"""An in-memory store with the same contract as the SQLite one, for tests.

:class:`MemoryStore` implements :class:`tertulia.core.ports.Store` with dicts
and lists.  It keeps every promise of the port except durability:

* Each operation takes effect when it is submitted, and its ``done`` is
  *scheduled*, never called from inside the submitting call.  Completions
  are scheduled in submission order with one FIFO scheduler, so they run in
  that order (the threading rule of :mod:`tertulia.core.ports`).
* Ids are 16 lowercase hex digits from one counter that never goes back, as
  in :mod:`tertulia.store.sqlite`; ``history`` has the same semantics.
* By default the scheduler is the running loop's ``call_soon``.  Core tests
  can pass their own ``schedule`` (say, one that appends to a list they run
  when they choose) and drive the store with no event loop at all.

Unlike the SQLite store it may be reopened after :meth:`close` (it keeps its
data, as a file would across a restart), ``open()`` is optional, and setting
:attr:`MemoryStore.failing` makes every operation fail with
:class:`~tertulia.core.ports.StoreUnavailable`, to test the core's handling
of ``STORE_UNAVAILABLE`` (PROTOCOL.md §5).
"""

from __future__ import annotations

import asyncio
import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from tertulia.core.ports import (
    Account,
    AccountFeed,
    AppendDone,
    AuditDone,
    AuditEntry,
    Ban,
    BanFeed,
    Draft,
    Feed,
    HistoryDone,
    KeepDone,
    KeptDone,
    KeptPrivate,
    RoomRecord,
    Snapshot,
    StoredMessage,
    StoreUnavailable,
    WriteDone,
    format_id,
    parse_id,
)

#: Runs a callback later, on the loop thread, in the order it was given.
Schedule = Callable[[Callable[[], None]], None]

_T = TypeVar("_T")


class _Room:
    """One room's messages: ids and messages in parallel, ids ascending."""

    __slots__ = ("ids", "messages")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.messages: list[StoredMessage] = []


class MemoryStore:
    """The :class:`~tertulia.core.ports.Store` port in memory.

    Args:
        schedule: Called with each completion (a callable of no arguments),
            in submission order; it must run them later, in that order.
            ``None`` means ``asyncio.get_running_loop().call_soon``, looked
            up at each call.
    """

    description = "memory"

    def __init__(self, schedule: Schedule | None = None) -> None:
        self._schedule = schedule
        self._rooms: dict[str, RoomRecord] = {}
        self._accounts: dict[str, Account] = {}
        self._messages: dict[str, _Room] = {}
        self._kept: dict[str, list[KeptPrivate]] = {}
        self._bans: dict[tuple[str, str], Ban] = {}
        self._audit: list[AuditEntry] = []
        self._next_id = 1
        self._next_kept = 1
        self._closed = False
        #: Set to make every operation fail with StoreUnavailable (an outage).
        self.failing = False

    async def open(self) -> Snapshot:
        """Return the rooms and accounts held, sorted by key; (re)open."""
        self._closed = False
        return Snapshot(
            rooms=[self._rooms[key] for key in sorted(self._rooms)],
            accounts=[self._accounts[key] for key in sorted(self._accounts)],
            bans=[self._bans[key] for key in sorted(self._bans)],
        )

    def append(self, draft: Draft, done: AppendDone) -> None:
        """Store a message now; ``done`` gets it with its id, later."""
        if self._unavailable(done):
            return
        ident = self._next_id
        self._next_id = ident + 1
        message = StoredMessage(
            format_id(ident),
            draft.room,
            draft.sender,
            draft.color,
            draft.text,
            draft.kind,
            draft.ts,
        )
        room = self._messages.get(draft.room_key)
        if room is None:
            room = self._messages[draft.room_key] = _Room()
        room.ids.append(ident)
        room.messages.append(message)
        self._later(done, message)

    def history(
        self,
        room_key: str,
        limit: int,
        before: str | None,
        after: str | None,
        done: HistoryDone,
    ) -> None:
        """Read up to ``limit`` messages of a room now, oldest first.

        Same semantics as :meth:`tertulia.store.sqlite.SqliteStore.history`:
        the latest; with ``before`` the latest below it; with ``after`` the
        earliest above it; with both the earliest between them.

        Raises:
            ValueError: ``before`` or ``after`` is not 1 to 16 hex digits.
        """
        low = None if after is None else parse_id(after)
        high = None if before is None else parse_id(before)
        if self._unavailable(done):
            return
        room = self._messages.get(room_key)
        if room is None or limit < 1:
            self._later(done, [])
            return
        ids, messages = room.ids, room.messages
        if low is None:
            end = len(ids) if high is None else bisect_left(ids, high)
            result = messages[max(0, end - limit) : end]
        else:
            start = bisect_right(ids, low)
            end = len(ids) if high is None else bisect_left(ids, high)
            result = messages[start : min(end, start + limit)]
        self._later(done, result)

    def save_room(self, record: RoomRecord, done: WriteDone) -> None:
        """Remember a room and its topic (insert or replace)."""
        if self._unavailable(done):
            return
        self._rooms[record.key] = record
        self._later(done, None)

    def save_account(self, account: Account, done: WriteDone) -> None:
        """Create or replace an account."""
        if self._unavailable(done):
            return
        self._accounts[account.key] = account
        self._later(done, None)

    def follow(self, feed: Feed, accounts: AccountFeed, bans: BanFeed) -> bool:
        """One process, one order: nothing to follow (see Store.follow)."""
        del feed, accounts, bans
        return False

    def save_ban(self, ban: Ban, done: WriteDone) -> None:
        """Create or replace a ban."""
        if self._unavailable(done):
            return
        self._bans[ban.kind, ban.key] = ban
        self._later(done, None)

    def delete_ban(self, kind: str, key: str, done: WriteDone) -> None:
        """Forget a ban (no error if there is none)."""
        if self._unavailable(done):
            return
        self._bans.pop((kind, key), None)
        self._later(done, None)

    def audit(self, entry: AuditEntry, done: WriteDone) -> None:
        """Append one audit entry."""
        if self._unavailable(done):
            return
        self._audit.append(entry)
        self._later(done, None)

    def read_audit(self, limit: int, done: AuditDone) -> None:
        """The latest ``limit`` audit entries, oldest first."""
        if self._unavailable(done):
            return
        self._later(done, self._audit[-limit:] if limit > 0 else [])

    def delete_account(self, key: str, done: WriteDone) -> None:
        """Forget an account (no error if there is none)."""
        if self._unavailable(done):
            return
        self._accounts.pop(key, None)
        self._kept.pop(key, None)
        self._later(done, None)

    def keep_private(self, message: KeptPrivate, limit: int, done: KeepDone) -> None:
        """Keep a message unless ``limit`` already wait for its recipient."""
        if self._unavailable(done):
            return
        box = self._kept.setdefault(message.recipient_key, [])
        if len(box) >= limit:
            self._later(done, False)
            return
        box.append(replace(message, number=self._next_kept))
        self._next_kept += 1
        self._later(done, True)

    def kept_privates(self, recipient_key: str, done: KeptDone) -> None:
        """The messages kept for a user, oldest first."""
        if self._unavailable(done):
            return
        self._later(done, list(self._kept.get(recipient_key, ())))

    def drop_privates(self, recipient_key: str, up_to: int, done: WriteDone) -> None:
        """Forget a user's kept messages numbered ``up_to`` or less."""
        if self._unavailable(done):
            return
        box = [m for m in self._kept.get(recipient_key, ()) if m.number > up_to]
        if box:
            self._kept[recipient_key] = box
        else:
            self._kept.pop(recipient_key, None)
        self._later(done, None)

    async def close(self) -> None:
        """Refuse further operations.  Idempotent.

        With the default scheduler this yields once to the loop, so that
        completions scheduled before it have run when it returns, as with
        the SQLite store.  With a custom scheduler they run when it runs them.
        """
        self._closed = True
        if self._schedule is None:
            await asyncio.sleep(0)

    def _unavailable(self, done: Callable[[StoreUnavailable], None]) -> bool:
        """Schedule a failure and return True if the store cannot serve."""
        if self._closed:
            self._later(done, StoreUnavailable("memory store is closed"))
            return True
        if self.failing:
            self._later(done, StoreUnavailable("memory store is failing (test)"))
            return True
        return False

    def _later(self, done: Callable[[_T], None], result: _T) -> None:
        """Schedule ``done(result)``: never now, always in submission order."""
        if self._schedule is None:
            asyncio.get_running_loop().call_soon(done, result)
        else:
            self._schedule(functools.partial(done, result))
