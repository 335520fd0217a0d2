"""Password hashing off the event loop (implements core.ports.PasswordHasher).

scrypt from the standard library, in a small thread pool; answers come back
on the loop with ``call_soon_threadsafe``.  Hashes are stored as
``scrypt$n$r$p$salt$hash`` (base64), never the password itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from tertulia.core.ports import HashDone, VerifyDone

logger = logging.getLogger(__name__)

N, R, P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(encoded: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
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
        future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(done, f.result()))

    def verify(self, password_hash: str, password: str, done: VerifyDone) -> None:
        future = self._pool.submit(verify_password, password_hash, password)
        future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(done, f.result()))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
