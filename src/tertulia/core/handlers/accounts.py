"""REGISTER, PASSWORD, UNREGISTER, and the colour of an account (PROTOCOL.md §2).

An account protects one name with a password.  Passwords go to the
:class:`~tertulia.core.ports.PasswordHasher` (off the event loop); only
their hashes reach the store, and none is ever logged or sent.  IDENTIFY's
password check lives with IDENTIFY in :mod:`membership`.

PASSWORD and UNREGISTER are extensions (docs/reference/protocol.md): both
act on the account of the session's current name, and both need its
password, checked like IDENTIFY's.  While a command waits for the hasher or
the store the session is held, so its later lines wait too (core.session).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from tertulia.core.ports import Account, StoreUnavailable
from tertulia.core.session import Session
from tertulia.protocol.commands import Command, Verb
from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref

#: The shortest password accepted (characters).
MIN_PASSWORD = 4


def check_new_password(password: str) -> None:
    """Refuse a password too short to protect anything.

    Raises:
        ProtocolError: ``BAD_ARGUMENT``.
    """
    if len(password) < MIN_PASSWORD:
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENT, f"a password has at least {MIN_PASSWORD} characters"
        )


def _own_account(s: Session) -> Account:
    """The account of the session's current name.

    Raises:
        ProtocolError: ``FORBIDDEN`` when the name has no account.
    """
    assert s.key is not None
    account = s.hub.accounts.get(s.key)
    if account is None:
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"{s.name} is not registered; use @<- REGISTER password"
        )
    return account


def _store_failed(s: Session, verb: Verb, ref: Ref) -> None:
    s.error(ErrorCode.STORE_UNAVAILABLE, "the account could not be saved; try again", verb, ref)


# ------------------------------------------------------------------ REGISTER


def register(s: Session, cmd: Command) -> None:
    assert cmd.password is not None and s.key is not None
    if s.key in s.hub.accounts:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{s.name} is already registered")
    check_new_password(cmd.password)
    s.hold()
    s.hub.hasher.hash(cmd.password, partial(_hashed, s, cmd.ref))


def _hashed(s: Session, ref: Ref, password_hash: str) -> None:
    if s.closed or s.key is None or s.name is None:
        s.release()
        return
    account = Account(s.key, s.name, password_hash, s.color)
    s.hub.store.save_account(account, partial(_saved, s, account, ref))


def _saved(s: Session, account: Account, ref: Ref, result: StoreUnavailable | None) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            _store_failed(s, Verb.REGISTER, ref)
            return
        s.hub.accounts[account.key] = account
        s.account = account.key
        s.ok(Verb.REGISTER, ref, account.name)
    finally:
        s.release()


# ------------------------------------------------------------------ PASSWORD


def password(s: Session, cmd: Command) -> None:
    assert cmd.password is not None and cmd.new_password is not None
    account = _own_account(s)
    check_new_password(cmd.new_password)
    s.hold()
    s.hub.hasher.verify(
        account.password_hash, cmd.password, partial(_old_checked, s, cmd, account)
    )


def _old_checked(s: Session, cmd: Command, account: Account, ok: bool) -> None:
    assert cmd.new_password is not None
    if s.closed:
        s.release()
        return
    if not ok:
        s.error(ErrorCode.AUTH_FAILED, "wrong password", Verb.PASSWORD, cmd.ref)
        s.release()
        return
    s.hub.hasher.hash(cmd.new_password, partial(_new_hashed, s, account, cmd.ref))


def _new_hashed(s: Session, account: Account, ref: Ref, password_hash: str) -> None:
    if s.closed:
        s.release()
        return
    changed = replace(account, password_hash=password_hash)
    s.hub.store.save_account(changed, partial(_password_saved, s, changed, ref))


def _password_saved(
    s: Session, changed: Account, ref: Ref, result: StoreUnavailable | None
) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            _store_failed(s, Verb.PASSWORD, ref)
            return
        s.hub.accounts[changed.key] = changed
        s.ok(Verb.PASSWORD, ref, s.name or changed.name)
    finally:
        s.release()


# ------------------------------------------------------------------ UNREGISTER


def unregister(s: Session, cmd: Command) -> None:
    assert cmd.password is not None
    account = _own_account(s)
    s.hold()
    s.hub.hasher.verify(
        account.password_hash, cmd.password, partial(_unregister_checked, s, cmd.ref, account)
    )


def _unregister_checked(s: Session, ref: Ref, account: Account, ok: bool) -> None:
    if s.closed:
        s.release()
        return
    if not ok:
        s.error(ErrorCode.AUTH_FAILED, "wrong password", Verb.UNREGISTER, ref)
        s.release()
        return
    s.hub.store.delete_account(account.key, partial(_deleted, s, account, ref))


def _deleted(s: Session, account: Account, ref: Ref, result: StoreUnavailable | None) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            _store_failed(s, Verb.UNREGISTER, ref)
            return
        s.hub.accounts.pop(account.key, None)
        if s.account == account.key:
            s.account = None
        s.ok(Verb.UNREGISTER, ref, s.name or account.name)
    finally:
        s.release()


# ------------------------------------------------------------------ COLOR


def save_color(s: Session, color: str, ref: Ref) -> bool:
    """Keep a registered user's new colour in its account (COLOR).

    Returns False when the current name has no account (nothing to save).
    Otherwise the session is held until the store answers, and then
    :func:`apply_color` runs (or the store's error is the reply), so the
    account and the session never disagree.
    """
    assert s.key is not None
    account = s.hub.accounts.get(s.key)
    if account is None:
        return False
    changed = replace(account, color=color)
    s.hold()
    s.hub.store.save_account(changed, partial(_color_saved, s, changed, ref))
    return True


def _color_saved(s: Session, changed: Account, ref: Ref, result: StoreUnavailable | None) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            _store_failed(s, Verb.COLOR, ref)
            return
        s.hub.accounts[changed.key] = changed
        if not s.closed:
            apply_color(s, changed.color, ref)
    finally:
        s.release()


def apply_color(s: Session, color: str, ref: Ref) -> None:
    """Give the session its new colour and reply ``OK COLOR``."""
    book = s.hub.colors
    book.release(s.color)
    book.hold(color)
    s.set_color(color)
    s.ok(Verb.COLOR, ref, color)
    if s.hub.cluster is not None:
        s.hub.cluster.recolored(s)
