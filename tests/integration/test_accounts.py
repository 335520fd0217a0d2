"""Accounts over real TCP and a real SQLite file: REGISTER, PASSWORD, UNREGISTER,
NICK back to one's own account, and the colour an account keeps (PROTOCOL.md §2, §5;
PASSWORD and UNREGISTER are extensions, docs/reference/protocol.md)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.harness import Client, ServerThread
from tests.integration.helpers import err_explained, ident, people, reply, sync


def _register(connect: Callable[..., Client], name: str, password: str) -> Client:
    client = connect()
    ident(client, name)
    assert reply(client, f"@<- REGISTER {password}") == f"@-> OK REGISTER {name}"
    return client


def _leave(client: Client) -> None:
    assert reply(client, "@<- QUIT") == "@-> BYE QUIT Quit"
    assert client.closed()


def test_password_changes_the_password(connect: Callable[..., Client]) -> None:
    """PASSWORD old new: afterwards only the new password identifies."""
    ana = _register(connect, "Ana", "first-pw")
    assert reply(ana, "@<- PASSWORD first-pw second pw") == "@-> OK PASSWORD Ana"
    _leave(ana)
    again = connect()
    err_explained(again, "@<- IDENTIFY Ana first-pw", "AUTH_FAILED")
    ident(again, "Ana", "second pw")


def test_password_errors(connect: Callable[..., Client]) -> None:
    """Wrong old password AUTH_FAILED, short new one BAD_ARGUMENT, no account FORBIDDEN."""
    bob = connect()
    ident(bob, "Bob")
    err_explained(bob, "@<- PASSWORD abcd efgh", "FORBIDDEN")
    err_explained(bob, "@<- UNREGISTER abcd", "FORBIDDEN")
    ana = _register(connect, "Ana", "s3cret")
    err_explained(ana, "@<- PASSWORD", "MISSING_ARGUMENT")
    err_explained(ana, "@<- PASSWORD s3cret", "MISSING_ARGUMENT")
    err_explained(ana, "@<- PASSWORD wrong newpass", "AUTH_FAILED")
    err_explained(ana, "@<- PASSWORD s3cret abc", "BAD_ARGUMENT")
    _leave(ana)
    ident(connect(), "Ana", "s3cret")  # nothing changed


def test_unregister_frees_the_name(connect: Callable[..., Client]) -> None:
    """UNREGISTER password: a wrong one AUTH_FAILED; the right one frees the name for anyone."""
    ana = _register(connect, "Ana", "s3cret")
    err_explained(ana, "@<- UNREGISTER", "MISSING_ARGUMENT")
    err_explained(ana, "@<- UNREGISTER nope", "AUTH_FAILED")
    assert reply(ana, "@<- UNREGISTER s3cret") == "@-> OK UNREGISTER Ana"
    err_explained(ana, "@<- PASSWORD s3cret other", "FORBIDDEN")
    _leave(ana)
    anyone = connect()
    ident(anyone, "Ana")  # no password needed any more
    assert reply(anyone, "@<- REGISTER mine-now") == "@-> OK REGISTER Ana"


def test_unregister_survives_restart(make_server: Callable[..., ServerThread]) -> None:
    """The account is deleted from the store, not only from memory."""
    first = make_server()
    with Client(first.port) as ana:
        ident(ana, "Ana")
        assert reply(ana, "@<- REGISTER s3cret") == "@-> OK REGISTER Ana"
        assert reply(ana, "@<- UNREGISTER s3cret") == "@-> OK UNREGISTER Ana"
    first.stop()
    second = make_server()
    with Client(second.port) as ana:
        ident(ana, "Ana")


def test_json_password_and_unregister(connect: Callable[..., Client]) -> None:
    """JSON fields: password's "old" and "new"; unregister's "password"; ok carries "name"."""
    ana = _register(connect, "Ana", "one two")
    assert reply(ana, "@<- PROTO json") == "@-> OK PROTO json"
    ana.send_json({"cmd": "password", "old": "one two", "new": "three four", "ref": 1})
    assert ana.json() == {"type": "ok", "cmd": "password", "ref": 1, "name": "Ana"}
    ana.send_json({"cmd": "password", "old": "one two", "new": "five six", "ref": 2})
    got = ana.json()
    assert (got["type"], got["code"], got["ref"]) == ("error", "AUTH_FAILED", 2)
    ana.send_json({"cmd": "unregister", "password": "three four", "ref": 3})
    assert ana.json() == {"type": "ok", "cmd": "unregister", "ref": 3, "name": "Ana"}


def test_color_is_kept_for_the_account(connect: Callable[..., Client]) -> None:
    """COLOR by a registered user changes its account: the next IDENTIFY gets that colour."""
    ana = _register(connect, "Ana", "s3cret")
    assert reply(ana, "@<- COLOR #123456") == "@-> OK COLOR #123456"
    _leave(ana)
    assert ident(connect(), "Ana", "s3cret") == "#123456"


def test_color_of_an_unregistered_user_is_not_kept(connect: Callable[..., Client]) -> None:
    """Without an account a colour lasts one session (the palette draws a new one)."""
    bob = connect()
    ident(bob, "Bob")
    assert reply(bob, "@<- COLOR #123456") == "@-> OK COLOR #123456"
    _leave(bob)
    assert ident(connect(), "Bob") != "#123456"


def test_nick_back_to_own_account(connect: Callable[..., Client]) -> None:
    """A connection that proved an account may NICK away and back; others may not take it."""
    ana = _register(connect, "Ana", "s3cret")
    bob, = people(connect, "Bob")
    sync(ana)
    assert reply(ana, "@<- NICK Anita") == "@-> OK NICK Anita"
    assert bob.line() == "@-> NICK Ana Anita"
    err_explained(bob, "@<- NICK Ana", "AUTH_REQUIRED")
    assert reply(ana, "@<- NICK ana") == "@-> OK NICK ana"
    assert reply(ana, "@<- PASSWORD s3cret other-pw") == "@-> OK PASSWORD ana"


def test_password_never_stored_in_clear(server: ServerThread, connect: Callable[..., Client]) -> None:
    """The database holds an argon2id hash, not the password."""
    ana = _register(connect, "Ana", "very-secret-words")
    assert reply(ana, "@<- PASSWORD very-secret-words other-secret") == "@-> OK PASSWORD Ana"
    sync(ana)
    db = Path(server.config.db_path)
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$")
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"very-secret-words" not in raw and b"other-secret" not in raw


def test_legacy_scrypt_hash_is_upgraded_on_login(make_server: Callable[..., ServerThread],
                                                  tmp_path: Path) -> None:
    """A database from before argon2: its scrypt hash still works, and is replaced on login."""
    from tests.server.test_hashing import scrypt_hash

    first = make_server()  # creates the schema
    first.stop()
    db = tmp_path / "tertulia.db"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO accounts VALUES ('ana', 'Ana', ?, '#abcdef')",
                     (scrypt_hash("old-pw"),))
    conn.close()
    second = make_server()
    with Client(second.port) as ana:
        err_explained(ana, "@<- IDENTIFY Ana wrong", "AUTH_FAILED")
        assert ident(ana, "Ana", "old-pw") == "#abcdef"
        assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"
    second.stop()
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM accounts").fetchone()
    conn.close()
    assert stored.startswith("$argon2id$")
    third = make_server()
    with Client(third.port) as ana:
        ident(ana, "Ana", "old-pw")


def test_passwords_never_reach_the_log(make_server: Callable[..., ServerThread],
                                       caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG, no password appears in any record."""
    caplog.set_level(logging.DEBUG)
    server = make_server(log_level="debug")
    with Client(server.port) as ana:
        ident(ana, "Ana")
        assert reply(ana, "@<- REGISTER first-Secret-1") == "@-> OK REGISTER Ana"
        assert reply(ana, "@<- PASSWORD first-Secret-1 second-Secret-2") == "@-> OK PASSWORD Ana"
        assert reply(ana, "@<- PASSWORD wrong-Secret-3 x-Secret-4").startswith("@-> ERR ")
        ana.send("@<- QUIT")  # the name is free once the server has seen this
        assert ana.closed()
    with Client(server.port) as again:
        err_explained(again, "@<- IDENTIFY Ana wrong-Secret-5", "AUTH_FAILED")
        ident(again, "Ana", "second-Secret-2")
        assert reply(again, "@<- UNREGISTER second-Secret-2") == "@-> OK UNREGISTER Ana"
    server.stop()
    assert caplog.records, "nothing was logged at all"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Secret-" not in logged
