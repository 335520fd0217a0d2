"""REGISTER: protect a name with a password (PROTOCOL.md §2).

The password goes to the :class:`~tertulia.core.ports.PasswordHasher` (off
the event loop) and only its hash reaches the store.  IDENTIFY's password
check lives with IDENTIFY in :mod:`membership`.
"""

from __future__ import annotations

from functools import partial

from tertulia.core.ports import Account, StoreUnavailable
from tertulia.core.session import Session
from tertulia.protocol.commands import Command, Verb
from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref

MIN_PASSWORD = 4


def register(s: Session, cmd: Command) -> None:
    assert cmd.password is not None and s.key is not None
    if s.key in s.hub.accounts:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{s.name} is already registered")
    if len(cmd.password) < MIN_PASSWORD:
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENT, f"a password has at least {MIN_PASSWORD} characters"
        )
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
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the account could not be saved; try again",
                Verb.REGISTER,
                ref,
            )
            return
        s.hub.accounts[account.key] = account
        s.ok(Verb.REGISTER, ref, account.name)
    finally:
        s.release()
