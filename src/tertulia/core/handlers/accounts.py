"""REGISTER, PASSWORD, UNREGISTER, and the colour of an account (PROTOCOL.md §2).

An account protects one name with a password.  Passwords go to the
:class:`~tertulia.core.ports.PasswordHasher` (off the event loop); only
their hashes reach the store, and none is ever logged or sent.

Every password check (IDENTIFY's, in :mod:`membership`, and PASSWORD's and
UNREGISTER's here) goes through :func:`check_password`, which asks the hub's
:class:`~tertulia.core.throttle.Throttle` first: a check may wait, or be
refused while a name or an address is locked.

PASSWORD and UNREGISTER are extensions (docs/reference/protocol.md): both
act on the account of the session's current name, and both need its
password.  While a command waits for the throttle, the hasher or the store
the session is held, so its later lines wait too (core.session).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from tertulia.core.ports import Account, StoreUnavailable
from tertulia.core.session import Session
from tertulia.core.throttle import Locked
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


def check_password(
    s: Session,
    account: Account,
    password: str,
    verb: Verb,
    ref: Ref,
    on_ok: Callable[[], None],
) -> None:
    """Check ``password`` for ``account``, slowed down by the hub's throttle.

    Holds the session until the verdict.  A wrong password is answered
    ``AUTH_FAILED``; a right one calls ``on_ok()``, still holding the session
    (``on_ok`` may hold it again for more work; this releases its own hold
    afterwards).  Nothing happens after the session has closed.

    Raises:
        ProtocolError: ``AUTH_FAILED`` at once while the name or the address
            is locked (core.throttle); the password is not even looked at.
    """
    throttle = s.hub.throttle
    admitted = throttle.admit(account.key, s.address)
    if isinstance(admitted, Locked):
        raise _locked(admitted)
    ticket = admitted.ticket
    s.hold()

    def start() -> None:
        if s.closed:
            throttle.finish(ticket, None)
            s.release()
            return
        locked = throttle.still_locked(ticket)
        if locked is not None:
            throttle.finish(ticket, None)
            exc = _locked(locked)
            s.error(exc.code, exc.message, verb, ref)
            s.release()
            return
        s.hub.hasher.verify(account.password_hash, password, verdict)

    def verdict(ok: bool) -> None:
        throttle.finish(ticket, ok)
        if s.hub.cluster is not None:
            s.hub.cluster.checked(account.key, s.address, ok)
        try:
            if s.closed:
                return
            if ok:
                on_ok()
            else:
                s.error(ErrorCode.AUTH_FAILED, WRONG_PASSWORD[verb], verb, ref)
        finally:
            s.release()

    if admitted.wait > 0:
        s.hub.later(admitted.wait, start)
    else:
        start()


#: The text of AUTH_FAILED for a wrong password, per command.
WRONG_PASSWORD = {
    Verb.IDENTIFY: "wrong password for that name",
    Verb.PASSWORD: "wrong password",
    Verb.UNREGISTER: "wrong password",
}


def _locked(locked: Locked) -> ProtocolError:
    seconds = max(1, math.ceil(locked.retry_after))
    return ProtocolError(
        ErrorCode.AUTH_FAILED, f"too many wrong passwords; try again in {seconds} s"
    )


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
        s.hub.throttle.trust(account.key, s.address)
        if s.hub.cluster is not None:
            s.hub.cluster.checked(account.key, s.address, True)
        s.account = account.key
        s.ok(Verb.REGISTER, ref, account.name)
    finally:
        s.release()


# ------------------------------------------------------------------ PASSWORD


def password(s: Session, cmd: Command) -> None:
    assert cmd.password is not None and cmd.new_password is not None
    account = _own_account(s)
    new = cmd.new_password
    check_new_password(new)

    def hash_new() -> None:
        s.hold()
        s.hub.hasher.hash(new, partial(_new_hashed, s, account, cmd.ref))

    check_password(s, account, cmd.password, Verb.PASSWORD, cmd.ref, hash_new)


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

    def delete() -> None:
        s.hold()
        s.hub.store.delete_account(account.key, partial(_deleted, s, account, cmd.ref))

    check_password(s, account, cmd.password, Verb.UNREGISTER, cmd.ref, delete)


def _deleted(s: Session, account: Account, ref: Ref, result: StoreUnavailable | None) -> None:
    try:
        if isinstance(result, StoreUnavailable):
            _store_failed(s, Verb.UNREGISTER, ref)
            return
        s.hub.accounts.pop(account.key, None)
        s.hub.throttle.forget_name(account.key)
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
