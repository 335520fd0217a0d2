"""Command handlers, split by family; :data:`HANDLERS` maps each verb to one.

A handler gets the session and its parsed :class:`~tertulia.protocol.commands.Command`,
and either replies itself or raises :class:`~tertulia.protocol.errors.ProtocolError`,
which the session turns into ``@-> ERR``.  Preconditions common to all verbs
(identified or not, arity) are checked before a handler runs.
"""

from __future__ import annotations

from collections.abc import Callable

from tertulia.core.handlers import accounts, info, membership, messaging, moderation
from tertulia.core.session import Session
from tertulia.protocol.commands import Command, Verb

Handler = Callable[[Session, Command], None]

HANDLERS: dict[Verb, Handler] = {
    Verb.IDENTIFY: membership.identify,
    Verb.NICK: membership.nick,
    Verb.JOIN: membership.join,
    Verb.LEAVE: membership.leave,
    Verb.QUIT: membership.quit,
    Verb.SAY: messaging.say,
    Verb.ME: messaging.me,
    Verb.MSG: messaging.msg,
    Verb.USERS: info.users,
    Verb.ROOMS: info.rooms,
    Verb.TOPIC: info.topic,
    Verb.HISTORY: info.history,
    Verb.HELP: info.help,
    Verb.PING: info.ping,
    Verb.PONG: info.pong,
    Verb.COLOR: info.color,
    Verb.COLORS: info.colors,
    Verb.PROTO: info.proto,
    Verb.REGISTER: accounts.register,
    Verb.KICK: moderation.kick,
    Verb.BAN: moderation.ban,
    Verb.UNBAN: moderation.unban,
    Verb.BANS: moderation.bans,
    Verb.MUTE: moderation.mute,
    Verb.UNMUTE: moderation.unmute,
    Verb.ANNOUNCE: moderation.announce,
    Verb.MODE: moderation.mode,
    Verb.VOICE: moderation.voice,
    Verb.DEVOICE: moderation.devoice,
    Verb.INVITE: moderation.invite,
    Verb.PASSWORD: accounts.password,
    Verb.UNREGISTER: accounts.unregister,
}

assert set(HANDLERS) == set(Verb), "every verb needs a handler"
