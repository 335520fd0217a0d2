"""Private messages to registered users who are offline: kept, then delivered once.

A MSG to a name that has an account but nobody online is handed to the store
(:meth:`~tertulia.core.ports.Store.keep_private`) instead of being refused.
The sender gets ``@-> NOTICE`` saying so, then the usual reply (text: ``OK
MSG name``; JSON: the sender's copy, a ``private`` object).  At most
``--offline-limit`` messages wait for one user; past that the sender gets
``ERR FORBIDDEN`` and nothing is kept, so nothing is dropped silently.

When the owner next identifies with the password, after ``OK IDENTIFY`` and
the history of ``#general``, it gets a NOTICE with the count, then the
messages, oldest first, as ordinary private messages (text: ``*name* text``;
JSON: ``private`` objects with their original ``ts``).  Only once they have
been handed to the connection are they dropped from the store: a connection
that closes before that leaves them for next time, and none is delivered
twice (the store runs the read, the drop and any later read in order).
"""

from __future__ import annotations

import logging
from functools import partial

from tertulia.core.colors import xterm256
from tertulia.core.ports import Account, KeptPrivate, StoreUnavailable
from tertulia.core.session import VARIANT_JSON, VARIANT_TEXT_COLOR, Session
from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import Command, Verb
from tertulia.protocol.errors import ErrorCode
from tertulia.protocol.messages import Ref

logger = logging.getLogger(__name__)


def keep(s: Session, account: Account, cmd: Command) -> None:
    """MSG to ``account``'s owner, who is offline: keep it for later."""
    assert s.name is not None and cmd.text is not None
    hub = s.hub
    message = KeptPrivate(account.key, s.name, s.color, cmd.text, hub.now_text())
    s.hold()
    hub.store.keep_private(
        message, hub.settings.offline_limit, partial(_kept, s, account, message, cmd.ref)
    )


def _kept(
    s: Session, account: Account, message: KeptPrivate, ref: Ref, result: bool | StoreUnavailable
) -> None:
    try:
        if s.closed:
            return
        if isinstance(result, StoreUnavailable):
            s.error(
                ErrorCode.STORE_UNAVAILABLE,
                "the message could not be kept, so it was not delivered; try again",
                Verb.MSG,
                ref,
            )
            return
        if not result:
            limit = s.hub.settings.offline_limit
            s.error(
                ErrorCode.FORBIDDEN,
                f"{account.name} is offline and already has {limit} messages waiting; "
                "try again when they are back",
                Verb.MSG,
                ref,
            )
            return
        s.send(
            s.enc.notice(
                f"{account.name} is offline; your message was kept and will be delivered "
                "when they next identify"
            )
        )
        if s.variant == VARIANT_JSON:
            s.send(
                jsonmode.private_line(
                    s.hub.private_id(),
                    message.sender,
                    account.name,
                    message.color,
                    message.text,
                    message.ts,
                    ref,
                )
            )
        else:
            s.ok(Verb.MSG, ref, account.name)
    finally:
        s.release()


def deliver(s: Session) -> None:
    """After an IDENTIFY with a password: hand over the messages kept for this user."""
    if s.hub.settings.offline_limit <= 0 or s.key is None:
        return
    s.hold()
    s.hub.store.kept_privates(s.key, partial(_read, s, s.key))


def _read(s: Session, key: str, result: list[KeptPrivate] | StoreUnavailable) -> None:
    try:
        if s.closed:
            return  # left before they could be handed over: they stay kept
        if isinstance(result, StoreUnavailable):
            s.send(s.enc.notice("messages kept for you cannot be read now; they will come later"))
            return
        if not result:
            return
        count = len(result)
        plural = "message" if count == 1 else "messages"
        s.send(s.enc.notice(f"{count} private {plural} came while you were away:"))
        name = s.name or ""
        for m in result:
            if s.variant == VARIANT_JSON:
                s.send(
                    jsonmode.private_line(s.hub.private_id(), m.sender, name, m.color, m.text, m.ts)
                )
            else:
                xterm = xterm256(m.color) if s.variant == VARIANT_TEXT_COLOR else None
                s.send(textmode.private_line(m.sender, m.text, xterm))
        s.hub.store.drop_privates(key, result[-1].number, _dropped)
    finally:
        s.release()


def _dropped(result: StoreUnavailable | None) -> None:
    if isinstance(result, StoreUnavailable):
        # They were delivered; failing to drop them would deliver them twice.
        logger.error("kept private messages were delivered but could not be dropped: %s", result)
