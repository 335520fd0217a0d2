"""The SQLite store: one file, one writer thread, group commit (PROTOCOL.md §4).

:class:`SqliteStore` implements :class:`tertulia.core.ports.Store`.  Its
invariants:

* **One thread touches SQLite.**  ``open()`` starts a thread that owns the
  connection; nothing on the event loop ever calls sqlite3, so a slow disk
  stalls the store's callbacks, never the loop.
* **Group commit.**  The thread takes every operation queued so far (at most
  :data:`MAX_BATCH`), runs them in submission order inside one transaction,
  commits once, and posts all their completions back to the loop with one
  ``call_soon_threadsafe``.  A chat message is acknowledged only after the
  commit that holds it, so a ``kill -9`` never loses a message anyone saw.
  With ``synchronous=NORMAL`` in WAL mode a commit survives the death of the
  process (not a power cut: use ``synchronous="FULL"`` for that).
* **Order.**  Completions run on the loop thread in submission order, whatever
  the kind of operation, and never from inside the submitting call (the
  threading rule of :mod:`tertulia.core.ports`).  A history read runs in the
  same transaction after the appends submitted before it, so it sees them.
* **Failures are per batch.**  If any operation or the commit fails, the
  batch is rolled back and every operation in it gets
  :class:`~tertulia.core.ports.StoreUnavailable`.  The thread logs the error
  and keeps serving later operations.
* **Ids.**  A message's id is its integer primary key, printed as 16
  lowercase hex digits, so ids sort as strings (PROTOCOL.md §6).  The thread
  assigns them itself (the table is ``AUTOINCREMENT`` and the next id starts
  above ``sqlite_sequence``), so an id is never reused, even after deletions
  and restarts, and no row is read back after an insert.  This assumes that
  this store is the only writer of the file.

Why not ``aiosqlite`` or ``asyncio.to_thread`` per call: both pay a thread
hop and a commit per operation.  One commit per batch is what lets the
store keep up with a busy server (a commit costs far more than an insert).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any, Final

from tertulia.core import ports
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
)

logger = logging.getLogger(__name__)

#: The most operations run in one transaction.  Bigger batches commit less
#: often but hold back the first completion of the batch for longer.
MAX_BATCH: Final = 1024

#: The schema version kept in ``PRAGMA user_version``.
SCHEMA_VERSION: Final = 3

_SYNCHRONOUS_MODES: Final = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_MAX_ROWID: Final = 2**63 - 1

#: The schema of version 1, for a new file; _MIGRATIONS take it to SCHEMA_VERSION.
_SCHEMA: Final = """
BEGIN;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_key TEXT NOT NULL,
    room TEXT NOT NULL,
    sender TEXT NOT NULL,
    color TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room_key, id);
CREATE TABLE IF NOT EXISTS rooms (
    key TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    color TEXT NOT NULL
);
PRAGMA user_version = 1;
COMMIT;
"""

#: Schema changes, applied in order to a file of an older version: each
#: script takes the schema from the version before it to its own.
_MIGRATIONS: Final = {
    # 2: moderation: room creators and modes, bans, the audit log.
    2: """
BEGIN;
ALTER TABLE rooms ADD COLUMN creator TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN moderated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN invite_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN voiced TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN invited TEXT NOT NULL DEFAULT '';
CREATE TABLE bans (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    target TEXT NOT NULL,
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
PRAGMA user_version = 2;
COMMIT;
""",
    # 3: private messages kept for offline registered users.
    3: """
BEGIN;
CREATE TABLE IF NOT EXISTS kept_privates (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_key TEXT NOT NULL,
    sender TEXT NOT NULL,
    color TEXT NOT NULL,
    text TEXT NOT NULL,
    ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kept_privates_recipient ON kept_privates (recipient_key, number);
PRAGMA user_version = 3;
COMMIT;
""",
}

_INSERT_MESSAGE: Final = (
    "INSERT INTO messages (id, room_key, room, sender, color, text, kind, ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS: Final = "id, room, sender, color, text, kind, ts"
_LATEST: Final = f"SELECT {_COLUMNS} FROM messages WHERE room_key = ? ORDER BY id DESC LIMIT ?"
_BEFORE: Final = (
    f"SELECT {_COLUMNS} FROM messages WHERE room_key = ? AND id < ? ORDER BY id DESC LIMIT ?"
)
_AFTER: Final = (
    f"SELECT {_COLUMNS} FROM messages WHERE room_key = ? AND id > ? ORDER BY id ASC LIMIT ?"
)
_BETWEEN: Final = (
    f"SELECT {_COLUMNS} FROM messages WHERE room_key = ? AND id > ? AND id < ?"
    " ORDER BY id ASC LIMIT ?"
)
_KEPT: Final = (
    "SELECT recipient_key, sender, color, text, ts, number FROM kept_privates"
    " WHERE recipient_key = ? ORDER BY number"
)
_UPSERT_ROOM: Final = (
    "INSERT INTO rooms (key, room, topic, creator, moderated, invite_only, voiced, invited)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET room = excluded.room, topic = excluded.topic,"
    " creator = excluded.creator, moderated = excluded.moderated,"
    " invite_only = excluded.invite_only, voiced = excluded.voiced, invited = excluded.invited"
)
_ROOM_COLUMNS: Final = "key, room, topic, creator, moderated, invite_only, voiced, invited"
_UPSERT_BAN: Final = (
    "INSERT INTO bans (kind, key, target, operator, reason, created, expires)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (kind, key) DO UPDATE SET target = excluded.target,"
    " operator = excluded.operator, reason = excluded.reason, created = excluded.created,"
    " expires = excluded.expires"
)
_DELETE_BAN: Final = "DELETE FROM bans WHERE kind = ? AND key = ?"
_INSERT_AUDIT: Final = (
    "INSERT INTO audit (ts, operator, action, target, detail) VALUES (?, ?, ?, ?, ?)"
)
_LATEST_AUDIT: Final = (
    "SELECT ts, operator, action, target, detail FROM audit ORDER BY id DESC LIMIT ?"
)


def _room_row(r: RoomRecord) -> tuple[object, ...]:
    return (
        r.key,
        r.room,
        r.topic,
        r.creator,
        int(r.moderated),
        int(r.invite_only),
        " ".join(r.voiced),
        " ".join(r.invited),
    )


def _room_record(row: tuple[Any, ...]) -> RoomRecord:
    key, room, topic, creator, moderated, invite_only, voiced, invited = row
    return RoomRecord(
        key,
        room,
        topic,
        creator,
        bool(moderated),
        bool(invite_only),
        tuple(voiced.split()),
        tuple(invited.split()),
    )
_UPSERT_ACCOUNT: Final = (
    "INSERT INTO accounts (key, name, password_hash, color) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET name = excluded.name,"
    " password_hash = excluded.password_hash, color = excluded.color"
)


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"  # the stop marker is queued; the thread is finishing
    CLOSED = "closed"


class _Kind(enum.Enum):
    APPEND = "append"
    HISTORY = "history"
    ROOM = "room"
    ACCOUNT = "account"
    BAN = "ban"
    UNBAN = "unban"
    AUDIT = "audit"
    READ_AUDIT = "read_audit"
    DELETE_ACCOUNT = "delete_account"
    KEEP = "keep"
    KEPT = "kept"
    DROP = "drop"
    STOP = "stop"


# Inside this module only: an operation is (kind, done, payload), and a
# completion is (done, result).  The payload's type follows from the kind.
_Done = Any  # a Callable[[result | StoreUnavailable], None] of the matching kind
_Op = tuple[_Kind, _Done, Any]
_Completion = tuple[_Done, object]

_APPEND: Final = _Kind.APPEND
_STOP_OP: Final[_Op] = (_Kind.STOP, None, None)


def parse_id(message_id: str) -> int:
    """A wire id as a row id, clamped to SQLite's largest (see core.ports.parse_id).

    Raises:
        ValueError: ``message_id`` is not 1 to 16 hex digits.
    """
    return min(ports.parse_id(message_id), _MAX_ROWID)


def _deliver(completions: list[_Completion]) -> None:
    """Run one batch's callbacks on the loop thread, in order.

    A callback that raises is a bug in the caller; it is logged so that the
    callbacks after it still run (skipping them would break the order rule).
    """
    for done, result in completions:
        try:
            done(result)
        except Exception:
            logger.exception("store callback %r failed", done)


def _settle(future: asyncio.Future[Snapshot], result: Snapshot | BaseException) -> None:
    """Resolve ``open()``'s future from the thread, unless it was cancelled."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class SqliteStore:
    """The default store: a SQLite file in WAL mode behind one writer thread.

    Args:
        path: The database file; it and its parent directories are created.
        synchronous: SQLite's ``PRAGMA synchronous``.  ``NORMAL`` (the
            default) survives ``kill -9`` of the process; ``FULL`` also
            survives a power cut, at the price of an fsync per commit.

    Raises:
        ValueError: ``synchronous`` is not one of SQLite's modes.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL") -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS_MODES)}")
        self._path = os.fspath(path)
        self._synchronous = mode
        self.description = f"sqlite {self._path}"
        #: Transactions committed so far (read it from any thread; the store
        #: thread is its only writer).  With group commit it grows far
        #: slower than the number of operations under load.
        self.commits = 0
        self._state = _State.NEW
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        # Completions of operations submitted while closing: they must come
        # after those still in the thread, so they wait for it to stop.
        self._deferred: list[_Done] = []
        # Owned by the store thread.
        self._conn: sqlite3.Connection | None = None
        self._next_id = 1

    # -- the port, on the loop thread -------------------------------------

    async def open(self) -> Snapshot:
        """Open or create the database, start the store thread, and read it.

        Returns:
            Every room (with its topic) and every account.

        Raises:
            StoreUnavailable: the file cannot be opened or created, or its
                schema is newer than this code.
            RuntimeError: ``open()`` was already called.
        """
        if self._state is not _State.NEW:
            raise RuntimeError("SqliteStore.open() may be called only once")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopped = loop.create_future()
        opened: asyncio.Future[Snapshot] = loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(opened,), name="tertulia-store", daemon=True
        )
        self._state = _State.OPEN
        self._thread.start()
        try:
            snapshot = await opened
        except BaseException:
            await self.close()
            raise
        logger.info(
            "store %s open: %d rooms, %d accounts",
            self._path,
            len(snapshot.rooms),
            len(snapshot.accounts),
        )
        return snapshot

    def append(self, draft: Draft, done: AppendDone) -> None:
        """Queue a message; ``done`` gets it with its id after the commit."""
        if self._state is _State.OPEN:
            self._queue.put((_APPEND, done, draft))
        else:
            self._reject(done)

    def history(
        self,
        room_key: str,
        limit: int,
        before: str | None,
        after: str | None,
        done: HistoryDone,
    ) -> None:
        """Queue a read of up to ``limit`` messages of a room, oldest first.

        Without ``before``/``after``: the latest.  With ``before``: the
        latest with an id below it.  With ``after``: the earliest with an id
        above it.  With both: the earliest strictly between them.  A
        ``limit`` below 1 reads nothing.

        Raises:
            ValueError: ``before`` or ``after`` is not 1 to 16 hex digits
                (checked here, before anything is queued).
        """
        low = None if after is None else parse_id(after)
        high = None if before is None else parse_id(before)
        if self._state is _State.OPEN:
            self._queue.put((_Kind.HISTORY, done, (room_key, limit, low, high)))
        else:
            self._reject(done)

    def save_room(self, record: RoomRecord, done: WriteDone) -> None:
        """Queue an insert-or-replace of a room and its topic."""
        if self._state is _State.OPEN:
            self._queue.put((_Kind.ROOM, done, record))
        else:
            self._reject(done)

    def save_account(self, account: Account, done: WriteDone) -> None:
        """Queue an insert-or-replace of an account."""
        self._submit(_Kind.ACCOUNT, done, account)

    def save_ban(self, ban: Ban, done: WriteDone) -> None:
        """Queue an insert-or-replace of a ban."""
        self._submit(_Kind.BAN, done, ban)

    def delete_ban(self, kind: str, key: str, done: WriteDone) -> None:
        """Queue the removal of a ban."""
        self._submit(_Kind.UNBAN, done, (kind, key))

    def audit(self, entry: AuditEntry, done: WriteDone) -> None:
        """Queue one audit log entry."""
        self._submit(_Kind.AUDIT, done, entry)

    def read_audit(self, limit: int, done: AuditDone) -> None:
        """Queue a read of the latest ``limit`` audit entries (oldest first)."""
        self._submit(_Kind.READ_AUDIT, done, limit)

    def follow(self, feed: Feed, accounts: AccountFeed, bans: BanFeed) -> bool:
        """One process, one order: nothing to follow (see Store.follow)."""
        del feed, accounts, bans
        return False

    def delete_account(self, key: str, done: WriteDone) -> None:
        """Queue the removal of an account and of its kept messages."""
        self._submit(_Kind.DELETE_ACCOUNT, done, key)

    def keep_private(self, message: KeptPrivate, limit: int, done: KeepDone) -> None:
        """Queue keeping a private message, unless ``limit`` already wait."""
        self._submit(_Kind.KEEP, done, (message, limit))

    def kept_privates(self, recipient_key: str, done: KeptDone) -> None:
        """Queue a read of the messages kept for a user, oldest first."""
        self._submit(_Kind.KEPT, done, recipient_key)

    def drop_privates(self, recipient_key: str, up_to: int, done: WriteDone) -> None:
        """Queue forgetting a user's kept messages numbered ``up_to`` or less."""
        self._submit(_Kind.DROP, done, (recipient_key, up_to))

    def _submit(self, kind: _Kind, done: _Done, payload: object) -> None:
        if self._state is _State.OPEN:
            self._queue.put((kind, done, payload))
        else:
            self._reject(done)

    async def close(self) -> None:
        """Finish every queued operation, deliver its callback, then close.

        Idempotent, and safe to call concurrently: every caller returns once
        the thread has checkpointed the WAL and closed the file.  Operations
        submitted from now on complete with :class:`StoreUnavailable`.
        """
        if self._state is _State.NEW:
            self._state = _State.CLOSED
            return
        if self._state is _State.OPEN:
            self._state = _State.CLOSING
            # Nothing is queued after this marker: the state check in every
            # submitting method now sends operations to _reject().
            self._queue.put(_STOP_OP)
        if self._stopped is not None:
            # Shielded: a cancelled close() must not cancel the shared future.
            await asyncio.shield(self._stopped)
        if self._thread is not None:
            self._thread.join()  # it has already posted its last callback

    def _reject(self, done: _Done) -> None:
        """Complete an operation submitted when the store is not open."""
        if self._state is _State.NEW:
            raise RuntimeError("SqliteStore: call open() first")
        if self._state is _State.CLOSING:
            self._deferred.append(done)
            return
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        loop.call_soon(done, StoreUnavailable(f"{self.description} is closed"))

    def _on_stopped(self) -> None:
        """Runs on the loop after the thread's last batch was delivered."""
        self._state = _State.CLOSED
        deferred, self._deferred = self._deferred, []
        _deliver([(done, StoreUnavailable(f"{self.description} is closed")) for done in deferred])
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    # -- the store thread ---------------------------------------------------

    def _run(self, opened: asyncio.Future[Snapshot]) -> None:
        """The thread's body: open, serve batches until the stop marker, close."""
        try:
            snapshot: Snapshot | BaseException = self._connect()
        except (OSError, sqlite3.Error) as exc:  # the user's to fix: no traceback
            logger.debug("cannot open store %s", self._path, exc_info=True)
            self._disconnect()
            snapshot = StoreUnavailable(f"cannot open {self._path}: {exc}")
        except Exception as exc:
            logger.exception("cannot open store %s", self._path)
            self._disconnect()
            snapshot = StoreUnavailable(f"cannot open {self._path}: {exc}")
        self._post(_settle, opened, snapshot)
        try:
            self._serve()
        finally:
            self._disconnect()
            self._post(self._on_stopped)

    def _post(self, callback: Any, *args: object) -> None:
        """Hand something to the loop thread (the only way results go back)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            # The loop is closed: someone forgot to await close().
            logger.warning("event loop closed; store results dropped")

    def _connect(self) -> Snapshot:
        """Open the file, apply pragmas and schema, and read the snapshot."""
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: the batch loop writes its own BEGIN and COMMIT.
        conn = sqlite3.connect(self._path, isolation_level=None)
        self._conn = conn
        conn.execute("PRAGMA busy_timeout = 5000")
        (journal,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(journal).lower() != "wal":
            logger.warning("store %s: journal_mode is %s, not wal", self._path, journal)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")  # checked in __init__
        conn.execute("PRAGMA foreign_keys = OFF")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{self._path} has schema version {version}; this server knows {SCHEMA_VERSION}"
            )
        new_file = version == 0
        if new_file:
            conn.executescript(_SCHEMA)
            version = 1
        for step in range(version + 1, SCHEMA_VERSION + 1):
            if not new_file:
                logger.info("store %s: upgrading the schema to version %d", self._path, step)
            conn.executescript(_MIGRATIONS[step])
        (seq,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'messages'"
        ).fetchone()
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        self._next_id = max(int(seq), int(top)) + 1
        rooms = [
            _room_record(row)
            for row in conn.execute(f"SELECT {_ROOM_COLUMNS} FROM rooms ORDER BY key")
        ]
        bans = [
            Ban(*row)
            for row in conn.execute(
                "SELECT kind, key, target, operator, reason, created, expires FROM bans"
                " ORDER BY kind, key"
            )
        ]
        accounts = [
            Account(*row)
            for row in conn.execute(
                "SELECT key, name, password_hash, color FROM accounts ORDER BY key"
            )
        ]
        return Snapshot(rooms=rooms, accounts=accounts, bans=bans)

    def _disconnect(self) -> None:
        """Checkpoint the WAL into the main file and close the connection."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            logger.exception("store %s: checkpoint at close failed", self._path)
        try:
            conn.close()
        except sqlite3.Error:
            logger.exception("store %s: close failed", self._path)

    def _serve(self) -> None:
        """Run batches until the stop marker.  Never raises for a bad batch."""
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            batch = [get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            # The stop marker is the last thing ever queued, so if this
            # batch holds it, it is the batch's last operation.
            stopping = batch[-1][0] is _Kind.STOP
            if stopping:
                batch.pop()
            if batch:
                self._post(_deliver, self._execute(batch))
            if stopping:
                return

    def _execute(self, batch: list[_Op]) -> list[_Completion]:
        """Run a batch in one transaction; return its completions in order."""
        conn = self._conn
        if conn is None:  # open() failed
            failure = f"{self.description} is not open"
            return [(done, StoreUnavailable(failure)) for _, done, _ in batch]
        out: list[_Completion] = []
        try:
            conn.execute("BEGIN")
            i, n = 0, len(batch)
            while i < n:
                kind, done, payload = batch[i]
                if kind is _APPEND:
                    # A run of appends becomes one executemany; ids are
                    # assigned here, so nothing is read back.
                    rows = []
                    next_id = self._next_id
                    while i < n and batch[i][0] is _APPEND:
                        _, done, d = batch[i]
                        rows.append(
                            (next_id, d.room_key, d.room, d.sender, d.color, d.text, d.kind, d.ts)
                        )
                        message = StoredMessage(
                            format_id(next_id), d.room, d.sender, d.color, d.text, d.kind, d.ts
                        )
                        out.append((done, message))
                        next_id += 1
                        i += 1
                    # Advanced before the insert: after a failure the ids of
                    # the failed batch are skipped, never handed out twice.
                    self._next_id = next_id
                    conn.executemany(_INSERT_MESSAGE, rows)
                    continue
                if kind is _Kind.HISTORY:
                    out.append((done, self._read_history(conn, *payload)))
                elif kind is _Kind.ROOM:
                    conn.execute(_UPSERT_ROOM, _room_row(payload))
                    out.append((done, None))
                elif kind is _Kind.ACCOUNT:
                    a = payload
                    conn.execute(_UPSERT_ACCOUNT, (a.key, a.name, a.password_hash, a.color))
                    out.append((done, None))
                elif kind is _Kind.BAN:
                    b = payload
                    row = (b.kind, b.key, b.target, b.operator, b.reason, b.created, b.expires)
                    conn.execute(_UPSERT_BAN, row)
                    out.append((done, None))
                elif kind is _Kind.UNBAN:
                    conn.execute(_DELETE_BAN, payload)
                    out.append((done, None))
                elif kind is _Kind.AUDIT:
                    e = payload
                    conn.execute(_INSERT_AUDIT, (e.ts, e.operator, e.action, e.target, e.detail))
                    out.append((done, None))
                elif kind is _Kind.READ_AUDIT:
                    entries = conn.execute(_LATEST_AUDIT, (max(0, payload),)).fetchall()
                    entries.reverse()
                    out.append((done, [AuditEntry(*e) for e in entries]))
                elif kind is _Kind.DELETE_ACCOUNT:
                    conn.execute("DELETE FROM accounts WHERE key = ?", (payload,))
                    conn.execute("DELETE FROM kept_privates WHERE recipient_key = ?", (payload,))
                    out.append((done, None))
                elif kind is _Kind.KEEP:
                    out.append((done, self._keep(conn, *payload)))
                elif kind is _Kind.KEPT:
                    kept = conn.execute(_KEPT, (payload,)).fetchall()
                    out.append((done, [KeptPrivate(*row) for row in kept]))
                elif kind is _Kind.DROP:
                    conn.execute(
                        "DELETE FROM kept_privates WHERE recipient_key = ? AND number <= ?",
                        payload,
                    )
                    out.append((done, None))
                else:  # pragma: no cover - the marker is removed by _serve
                    raise AssertionError(f"unexpected operation {kind}")
                i += 1
            conn.execute("COMMIT")
        except Exception:
            # sqlite3.Error (disk full, I/O error, locked, schema changed)
            # is the expected case; anything else is a bug, but it must not
            # kill the thread either, or every later caller would hang.
            logger.exception(
                "store %s: batch of %d operations failed; all get StoreUnavailable",
                self._path,
                len(batch),
            )
            self._rollback(conn)
            failure = f"{self.description}: write failed"
            return [(done, StoreUnavailable(failure)) for _, done, _ in batch]
        self.commits += 1
        return out

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """Undo a failed batch, if a transaction is still open."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.exception("store %s: rollback failed", self._path)

    @staticmethod
    def _keep(conn: sqlite3.Connection, message: KeptPrivate, limit: int) -> bool:
        """Insert a kept message unless ``limit`` already wait (same transaction)."""
        (waiting,) = conn.execute(
            "SELECT count(*) FROM kept_privates WHERE recipient_key = ?",
            (message.recipient_key,),
        ).fetchone()
        if waiting >= limit:
            return False
        m = message
        conn.execute(
            "INSERT INTO kept_privates (recipient_key, sender, color, text, ts)"
            " VALUES (?, ?, ?, ?, ?)",
            (m.recipient_key, m.sender, m.color, m.text, m.ts),
        )
        return True

    @staticmethod
    def _read_history(
        conn: sqlite3.Connection,
        room_key: str,
        limit: int,
        low: int | None,
        high: int | None,
    ) -> list[StoredMessage]:
        """One history query (see :meth:`history`), oldest first."""
        if limit < 1:
            return []
        if low is None:
            if high is None:
                rows = conn.execute(_LATEST, (room_key, limit)).fetchall()
            else:
                rows = conn.execute(_BEFORE, (room_key, high, limit)).fetchall()
            rows.reverse()
        elif high is None:
            rows = conn.execute(_AFTER, (room_key, low, limit)).fetchall()
        else:
            rows = conn.execute(_BETWEEN, (room_key, low, high, limit)).fetchall()
        return [
            StoredMessage(format_id(ident), room, sender, color, text, kind, ts)
            for ident, room, sender, color, text, kind, ts in rows
        ]
