"""Password hashing: argon2id, legacy scrypt hashes, and answers off the event loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import time

import pytest

from tertulia.server.hashing import (
    ThreadedHasher,
    hash_password,
    needs_rehash,
    verify_password,
)


def scrypt_hash(password: str) -> str:
    """A hash as Tertulia wrote them before argon2 (``scrypt$n$r$p$salt$hash``)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${2**14}$8$1${b64(salt).decode()}${b64(digest).decode()}"


def test_argon2id_hash_and_verify() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$v=19$")
    assert "correct horse" not in encoded
    assert hash_password("correct horse") != encoded  # a fresh salt each time
    assert verify_password(encoded, "correct horse")
    assert not verify_password(encoded, "correct Horse")
    assert not needs_rehash(encoded)


def test_legacy_scrypt_still_verifies_and_needs_rehash() -> None:
    encoded = scrypt_hash("old secret")
    assert verify_password(encoded, "old secret")
    assert not verify_password(encoded, "old secreT")
    assert needs_rehash(encoded)


def test_malformed_hashes_never_match() -> None:
    for bad in ("", "plain", "scrypt$x$y", "$argon2id$garbage", "scrypt$16384$8$1$!!$!!"):
        assert not verify_password(bad, "anything")
        assert not needs_rehash(bad) or bad.startswith("scrypt$")


def test_threaded_hasher_answers_on_the_loop_thread() -> None:
    """The work runs in the pool; ``done`` runs on the loop thread, later."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        hasher = ThreadedHasher(loop)
        threads: list[str] = []
        hashed: asyncio.Future[str] = loop.create_future()

        def on_hash(result: str) -> None:
            threads.append(threading.current_thread().name)
            hashed.set_result(result)

        hasher.hash("pa55word", on_hash)
        assert not hashed.done()  # never from inside the call
        encoded = await hashed
        verdicts: asyncio.Future[bool] = loop.create_future()
        hasher.verify(encoded, "pa55word", verdicts.set_result)
        assert await verdicts
        assert threads == [threading.current_thread().name]
        hasher.close()

    asyncio.run(body())


def test_close_drops_queued_checks_quickly(caplog: pytest.LogCaptureFixture) -> None:
    """At shutdown, 200 queued hashes do not hold the exit: only the running ones finish."""

    async def body() -> float:
        loop = asyncio.get_running_loop()
        hasher = ThreadedHasher(loop)
        answers: list[str] = []
        for _ in range(200):
            hasher.hash("pa55word", answers.append)
        start = time.monotonic()
        hasher.close()
        took = time.monotonic() - start
        await asyncio.sleep(0.1)
        assert len(answers) <= 4, len(answers)  # the two running, perhaps two more
        return took

    took = asyncio.run(body())
    assert took < 5.0, took  # all 200 would take 10 s or more
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
