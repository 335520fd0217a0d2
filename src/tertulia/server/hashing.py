"""Password hashing off the event loop (implements core.ports.PasswordHasher).

argon2id (argon2-cffi, RFC 9106's low-memory profile: 3 passes over 64 MiB,
4 lanes) in a small thread pool; answers come back on the loop with
``call_soon_threadsafe``.  Hashes are stored in argon2's PHC form
(``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``), never the password itself,
and no password is ever logged.

Hashes from before argon2 (``scrypt$n$r$p$salt$hash``, base64) are still
verified; :func:`needs_rehash` says so, and the core replaces such a hash by
an argon2id one when its owner next gives the right password.  The same path
upgrades argon2 hashes made with weaker parameters than today's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tertulia.core.ports import HashDone, VerifyDone

logger = logging.getLogger(__name__)

#: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile).
_ARGON2 = Argon2()
_SCRYPT = "scrypt$"

_T = TypeVar("_T")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` with a fresh random salt (slow: call off the loop)."""
    return _ARGON2.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """True if ``password`` matches ``encoded`` (argon2id, or a legacy scrypt hash).

    A malformed hash is logged (without the password) and never matches.
    """
    if encoded.startswith(_SCRYPT):
        return _verify_scrypt(encoded, password)
    try:
        return _ARGON2.verify(encoded, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        logger.error("an account has a malformed password hash")
        return False


def needs_rehash(encoded: str) -> bool:
    """True for a legacy scrypt hash, or an argon2 hash with other parameters than today's."""
    if encoded.startswith(_SCRYPT):
        return True
    try:
        return _ARGON2.check_needs_rehash(encoded)
    except (InvalidHashError, ValueError):
        return False  # verify_password never accepts it, so no rehash either


def _verify_scrypt(encoded: str, password: str) -> bool:
    """The scheme of Tertulia before argon2: ``scrypt$n$r$p$salt$hash`` (base64)."""
    try:
        _scheme, n, r, p, salt, digest = encoded.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=1 << 26,
            dklen=len(expected),
        )
    except ValueError:
        logger.error("an account has a malformed password hash")
        return False
    return hmac.compare_digest(got, expected)


class ThreadedHasher:
    """Runs :func:`hash_password` and :func:`verify_password` in worker threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int = 2) -> None:
        self._loop = loop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tertulia-hash")

    def hash(self, password: str, done: HashDone) -> None:
        future = self._pool.submit(hash_password, password)
        future.add_done_callback(lambda f: self._back(done, f))

    def verify(self, password_hash: str, password: str, done: VerifyDone) -> None:
        future = self._pool.submit(verify_password, password_hash, password)
        future.add_done_callback(lambda f: self._back(done, f))

    def needs_rehash(self, password_hash: str) -> bool:
        return needs_rehash(password_hash)

    def _back(self, done: object, future: Future[_T]) -> None:
        """Hand a result to the loop thread (from the worker thread)."""
        assert callable(done)
        if future.cancelled():
            return  # dropped by close(): the server is stopping
        try:
            self._loop.call_soon_threadsafe(done, future.result())
        except RuntimeError:
            logger.warning("event loop closed; a password check was dropped")

    def close(self) -> None:
        """Wait for the checks running now (at most one per worker) and drop the queued ones.

        Called at shutdown, after every connection has ended, so nobody waits
        for a dropped answer; dropping them keeps the exit within a few
        seconds however many checks were queued (PROTOCOL.md §7).
        """
        self._pool.shutdown(wait=True, cancel_futures=True)
