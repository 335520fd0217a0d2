"""Client commands: the verb table, and parsing of text and JSON lines (PROTOCOL.md §2, §6).

Parsing is done in two steps so that the session can check its preconditions
in the order a user expects (an unknown verb first, then "identify first",
then the arguments):

1. :func:`split_text` / :func:`split_json` find the verb (``UNKNOWN_COMMAND``,
   ``BAD_JSON``);
2. :func:`text_args` / :func:`json_args` read and check its arguments
   (``MISSING_ARGUMENT``, ``BAD_ARGUMENT``, ``INVALID_NAME``, ``INVALID_ROOM``).

Both steps are pure and raise only :class:`ProtocolError`.  Texts that other
users will see are scrubbed here (:func:`~tertulia.protocol.names.clean_text`).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.messages import Ref
from tertulia.protocol.names import clean_text, scrub, validate_name, validate_room

PREFIX = "@<-"
HISTORY_MAX = 500
HISTORY_DEFAULT = 50


class Verb(StrEnum):
    IDENTIFY = "IDENTIFY"
    REGISTER = "REGISTER"
    PASSWORD = "PASSWORD"
    UNREGISTER = "UNREGISTER"
    NICK = "NICK"
    JOIN = "JOIN"
    LEAVE = "LEAVE"
    SAY = "SAY"
    ME = "ME"
    MSG = "MSG"
    USERS = "USERS"
    ROOMS = "ROOMS"
    TOPIC = "TOPIC"
    HISTORY = "HISTORY"
    COLOR = "COLOR"
    COLORS = "COLORS"
    PROTO = "PROTO"
    PING = "PING"
    PONG = "PONG"
    HELP = "HELP"
    QUIT = "QUIT"
    # Extensions (docs/reference/protocol.md, "Moderation").
    KICK = "KICK"
    BAN = "BAN"
    UNBAN = "UNBAN"
    BANS = "BANS"
    MUTE = "MUTE"
    UNMUTE = "UNMUTE"
    ANNOUNCE = "ANNOUNCE"
    MODE = "MODE"
    VOICE = "VOICE"
    DEVOICE = "DEVOICE"
    INVITE = "INVITE"


@dataclass(frozen=True, slots=True)
class VerbSpec:
    """What the session needs to know about a verb before running it."""

    usage: str
    before_identify: bool = False
    #: Only operators may use it; HELP lists it only to them.
    operator: bool = False


#: The verb table; HELP and the reference docs are generated from it.
VERBS: dict[Verb, VerbSpec] = {
    Verb.IDENTIFY: VerbSpec("IDENTIFY name [password] - take a name", True),
    Verb.REGISTER: VerbSpec("REGISTER password - protect your current name with a password"),
    Verb.PASSWORD: VerbSpec("PASSWORD old new - change the password of your registered name"),
    Verb.UNREGISTER: VerbSpec("UNREGISTER password - remove the account of your current name"),
    Verb.NICK: VerbSpec("NICK newname - change your name"),
    Verb.JOIN: VerbSpec("JOIN #room - join a room and make it your current room"),
    Verb.LEAVE: VerbSpec("LEAVE [#room] - leave a room (default: the current one)"),
    Verb.SAY: VerbSpec("SAY #room text - send text to a room you are in"),
    Verb.ME: VerbSpec("ME text - an action in the current room"),
    Verb.MSG: VerbSpec("MSG name text - a private message to one user"),
    Verb.USERS: VerbSpec("USERS [#room] - who is in a room, or everyone online"),
    Verb.ROOMS: VerbSpec("ROOMS - rooms that have members, with counts and topics"),
    Verb.TOPIC: VerbSpec("TOPIC #room [text] - read or set a room's topic"),
    Verb.HISTORY: VerbSpec(
        "HISTORY [#room] [n] [before ID | after ID] - past messages of a room (n up to 500)"
    ),
    Verb.COLOR: VerbSpec("COLOR [#RRGGBB] - a new random colour, or the one given"),
    Verb.COLORS: VerbSpec("COLORS on|off - ANSI colours in text mode", True),
    Verb.PROTO: VerbSpec("PROTO text|json - this connection's encoding", True),
    Verb.PING: VerbSpec("PING [token] - check that the server answers", True),
    Verb.PONG: VerbSpec("PONG token - answer the server's PING", True),
    Verb.HELP: VerbSpec("HELP [verb] - the command list, or one command's usage", True),
    Verb.QUIT: VerbSpec("QUIT [reason] - leave the chat", True),
    Verb.KICK: VerbSpec(
        "KICK #room name [reason] - put someone out of a room (#general: disconnect)"
    ),
    Verb.BAN: VerbSpec(
        "BAN name|address [duration] [reason] - keep a name or address out (10m, 2h, 1d)",
        operator=True,
    ),
    Verb.UNBAN: VerbSpec("UNBAN name|address - lift a ban", operator=True),
    Verb.BANS: VerbSpec("BANS - the bans in force", operator=True),
    Verb.MUTE: VerbSpec("MUTE #room name [duration] - stop someone speaking in a room"),
    Verb.UNMUTE: VerbSpec("UNMUTE #room name - let a muted user speak again"),
    Verb.ANNOUNCE: VerbSpec("ANNOUNCE text - a NOTICE to everyone connected", operator=True),
    Verb.MODE: VerbSpec("MODE #room [+m|-m|+i|-i] - read or set moderated (m), invite-only (i)"),
    Verb.VOICE: VerbSpec("VOICE #room name - give the right to speak in a moderated room"),
    Verb.DEVOICE: VerbSpec("DEVOICE #room name - take the right to speak back"),
    Verb.INVITE: VerbSpec("INVITE #room name - let someone join an invite-only room"),
}

#: The longest ban or mute: ten years (longer is written without a duration).
DURATION_MAX = 10 * 365 * 86400
_DURATION_RE = re.compile(r"([0-9]{1,9})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Room mode changes: + or - and the letters m (moderated) and i (invite-only).
_MODE_RE = re.compile(r"[+-][mi]+")

_VERB_BY_NAME = {verb.value: verb for verb in Verb}
_COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
_ID_RE = re.compile(r"[0-9a-f]{16}")
_INT_RE = re.compile(r"[+-]?[0-9]{1,9}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command.  Unused fields stay ``None``.

    ``plain`` marks a chat line that was not a command (text mode); ``ref``
    is the JSON ``ref`` to echo.  PASSWORD's old password is ``password``
    and its new one ``new_password``.
    """

    verb: Verb
    name: str | None = None
    password: str | None = None
    new_password: str | None = None
    room: str | None = None
    text: str | None = None
    limit: int | None = None
    before: str | None = None
    after: str | None = None
    color: str | None = None
    token: str | None = None
    reason: str | None = None
    mode: str | None = None
    #: A ban's target: a name (validated) or an address or network (normalized).
    target: str | None = None
    #: Seconds of a ban or mute; None means until lifted.
    duration: int | None = None
    plain: bool = False
    ref: str | int | float | None = None


# --------------------------------------------------------------------- text mode


def is_command(line: str) -> bool:
    """True when a text-mode line is a command rather than a chat message."""
    return line.startswith(PREFIX)


def split_text(line: str) -> tuple[Verb, str]:
    """Find the verb of a ``@<- VERB args`` line; return it and the rest.

    Raises:
        ProtocolError: ``UNKNOWN_COMMAND`` for a missing or unknown verb.
    """
    body = line[len(PREFIX) :].lstrip(" ")
    word, _, rest = body.partition(" ")
    verb = _VERB_BY_NAME.get(word.upper()) if word.isascii() else None
    if verb is None:
        if not word:
            raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, "no command after @<-; try @<- HELP")
        raise ProtocolError(
            ErrorCode.UNKNOWN_COMMAND, f"unknown command {scrub(word)[:32]}; try @<- HELP"
        )
    return verb, rest.lstrip(" ")


def _take(rest: str) -> tuple[str, str]:
    """Split off the first space-separated word of ``rest``."""
    word, _, tail = rest.partition(" ")
    return word, tail.lstrip(" ")


#: Verbs whose one optional or required argument is a single word.
_ONE_WORD = frozenset(
    {Verb.NICK, Verb.JOIN, Verb.LEAVE, Verb.USERS, Verb.COLOR, Verb.COLORS, Verb.PROTO, Verb.HELP}
)


def _extra_words(verb: Verb) -> ProtocolError:
    """Words after a one-word argument: a name or room with a space, or a typo."""
    usage = VERBS[verb].usage
    if verb is Verb.NICK:
        return ProtocolError(ErrorCode.INVALID_NAME, "a name has no spaces")
    if verb in (Verb.JOIN, Verb.LEAVE, Verb.USERS):
        return ProtocolError(ErrorCode.INVALID_ROOM, "a room name has no spaces")
    return ProtocolError(ErrorCode.BAD_ARGUMENT, f"too many arguments; usage: {usage}")


def _missing(what: str, verb: Verb) -> ProtocolError:
    return ProtocolError(ErrorCode.MISSING_ARGUMENT, f"{what} missing; usage: {VERBS[verb].usage}")


def is_duration(word: str) -> bool:
    """True when ``word`` is written as a duration (``30s``, ``10m``, ``2h``, ``1d``, ``1w``)."""
    return _DURATION_RE.fullmatch(word.lower()) is not None


def parse_duration(word: str) -> int:
    """Seconds of a duration such as ``10m``; at most :data:`DURATION_MAX`.

    Raises:
        ProtocolError: ``BAD_ARGUMENT`` for anything else, or for zero.
    """
    match = _DURATION_RE.fullmatch(word.lower())
    if match is None:
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            f"not a duration: {scrub(word)[:20]}; write 30s, 10m, 2h, 1d or 1w",
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, "a duration is longer than zero")
    return min(seconds, DURATION_MAX)


def parse_target(word: str) -> str:
    """A ban target: an IP address or network (normalized, ``203.0.113.0/24``) or a name.

    Names start with a letter and never contain ``:`` or ``/``, so an address
    is never mistaken for a name.

    Raises:
        ProtocolError: ``INVALID_NAME`` when it is neither.
    """
    if word[:1].isdigit() or ":" in word or "/" in word:
        try:
            network = ipaddress.ip_network(word, strict=False)
        except ValueError:
            raise ProtocolError(
                ErrorCode.BAD_ARGUMENT, f"not an address or network: {scrub(word)[:45]}"
            ) from None
        if network.num_addresses == 1:
            return str(network.network_address)
        return str(network)
    return validate_name(word)


def is_address(target: str) -> bool:
    """True for a target from :func:`parse_target` that is an address or network."""
    return not target[:1].isalpha()


def _room_mode(word: str) -> str:
    if not _MODE_RE.fullmatch(word):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"usage: {VERBS[Verb.MODE].usage}")
    return word


def _mode(value: str, allowed: tuple[str, str], verb: Verb) -> str:
    mode = value.lower()
    if mode not in allowed:
        raise ProtocolError(
            ErrorCode.BAD_ARGUMENT,
            f"expected {allowed[0]} or {allowed[1]}; usage: {VERBS[verb].usage}",
        )
    return mode


def _color(value: str) -> str:
    if not _COLOR_RE.fullmatch(value):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, "a colour is written #RRGGBB, as in #e06c75")
    return value.lower()


def _message_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"not a message id: {scrub(value)[:40]}")
    return value


def _limit(value: int) -> int:
    if value < 1:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, "the number of messages is at least 1")
    return min(value, HISTORY_MAX)


def text_args(verb: Verb, rest: str) -> Command:
    """Read the arguments of a text-mode command.

    Raises:
        ProtocolError: ``MISSING_ARGUMENT``, ``BAD_ARGUMENT``, ``INVALID_NAME``
            or ``INVALID_ROOM``.
    """
    first, tail = _take(rest)
    if tail and verb in _ONE_WORD:
        raise _extra_words(verb)
    if verb in (Verb.ROOMS, Verb.BANS) and rest:
        raise _extra_words(verb)
    if verb is Verb.IDENTIFY or verb is Verb.NICK:
        if not first:
            raise _missing("name", verb)
        password = tail or None if verb is Verb.IDENTIFY else None
        return Command(verb, name=validate_name(first), password=password)
    if verb is Verb.REGISTER or verb is Verb.UNREGISTER:
        if not rest:
            raise _missing("password", verb)
        return Command(verb, password=rest)
    if verb is Verb.PASSWORD:
        # The old password is one word, the new one the rest of the line; an
        # old password with spaces can be given in JSON mode ("old", "new").
        if not first:
            raise _missing("old password", verb)
        if not tail:
            raise _missing("new password", verb)
        return Command(verb, password=first, new_password=tail)
    if verb is Verb.JOIN:
        if not first:
            raise _missing("room", verb)
        return Command(verb, room=validate_room(first))
    if verb is Verb.LEAVE or verb is Verb.USERS:
        return Command(verb, room=validate_room(first) if first else None)
    if verb is Verb.SAY:
        if not first:
            raise _missing("room", verb)
        room = validate_room(first)
        if not tail:
            raise _missing("text", verb)
        return Command(verb, room=room, text=clean_text(tail))
    if verb is Verb.ME:
        if not rest:
            raise _missing("text", verb)
        return Command(verb, text=clean_text(rest))
    if verb is Verb.MSG:
        if not first:
            raise _missing("name", verb)
        if not tail:
            raise _missing("text", verb)
        return Command(verb, name=validate_name(first), text=clean_text(tail))
    if verb is Verb.TOPIC:
        if not first:
            raise _missing("room", verb)
        return Command(verb, room=validate_room(first), text=clean_text(tail) if tail else None)
    if verb is Verb.HISTORY:
        return _history_text(rest)
    if verb is Verb.COLOR:
        return Command(verb, color=_color(first) if first else None)
    if verb is Verb.COLORS or verb is Verb.PROTO:
        if not first:
            raise _missing("mode", verb)
        allowed = ("on", "off") if verb is Verb.COLORS else ("text", "json")
        return Command(verb, mode=_mode(first, allowed, verb))
    if verb is Verb.PING or verb is Verb.PONG:
        return Command(verb, token=scrub(rest) or None)
    if verb is Verb.HELP:
        return Command(verb, name=scrub(first) or None)
    if verb is Verb.ROOMS:
        return Command(verb)
    if verb is Verb.QUIT:
        return Command(verb, reason=scrub(rest) or None)
    return _moderation_text(verb, rest)


def _moderation_text(verb: Verb, rest: str) -> Command:
    """The arguments of the moderation verbs (text mode)."""
    if verb is Verb.ANNOUNCE:
        if not rest:
            raise _missing("text", verb)
        return Command(verb, text=clean_text(rest))
    if verb is Verb.BANS:
        return Command(verb)
    first, tail = _take(rest)
    if verb is Verb.BAN or verb is Verb.UNBAN:
        if not first:
            raise _missing("name or address", verb)
        target = parse_target(first)
        if verb is Verb.UNBAN:
            if tail:
                raise _extra_words(verb)
            return Command(verb, target=target)
        word, rest = _take(tail)
        duration = None
        if word and is_duration(word):
            duration, tail = parse_duration(word), rest
        return Command(verb, target=target, duration=duration, reason=scrub(tail) or None)
    if not first:
        raise _missing("room", verb)
    room = validate_room(first)
    word, rest = _take(tail)
    if verb is Verb.MODE:
        if rest:
            raise _extra_words(verb)
        return Command(verb, room=room, mode=_room_mode(word) if word else None)
    if not word:
        raise _missing("name", verb)
    name = validate_name(word)
    if verb is Verb.KICK:
        return Command(verb, room=room, name=name, reason=scrub(rest) or None)
    if verb is Verb.MUTE:
        duration = parse_duration(rest) if rest else None
        return Command(verb, room=room, name=name, duration=duration)
    if verb in (Verb.UNMUTE, Verb.VOICE, Verb.DEVOICE, Verb.INVITE):
        if rest:
            raise _extra_words(verb)
        return Command(verb, room=room, name=name)
    raise AssertionError(f"verb without a parser: {verb}")  # pragma: no cover


def _history_text(rest: str) -> Command:
    words = rest.split()
    room: str | None = None
    limit = HISTORY_DEFAULT
    before = after = None
    if words and words[0].startswith("#"):
        room = validate_room(words.pop(0))
    if words and words[0].lower() not in ("before", "after"):
        try:
            word = words.pop(0)
            if not _INT_RE.fullmatch(word):
                raise ValueError(word)
            limit = int(word)
        except ValueError:
            raise ProtocolError(
                ErrorCode.BAD_ARGUMENT, f"usage: {VERBS[Verb.HISTORY].usage}"
            ) from None
        limit = _limit(limit)
    if words:
        direction = words.pop(0).lower()
        if direction not in ("before", "after"):
            raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"usage: {VERBS[Verb.HISTORY].usage}")
        if not words:
            raise _missing("message id", Verb.HISTORY)
        mid = _message_id(words.pop(0))
        before, after = (mid, None) if direction == "before" else (None, mid)
    if words:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f"usage: {VERBS[Verb.HISTORY].usage}")
    return Command(Verb.HISTORY, room=room, limit=limit, before=before, after=after)


def chat_line(line: str) -> Command:
    """A plain text-mode line: a message to the current room.

    Raises:
        ProtocolError: ``BAD_ARGUMENT`` when nothing is left after scrubbing.
    """
    return Command(Verb.SAY, text=clean_text(line), plain=True)


# --------------------------------------------------------------------- JSON mode

Json = dict[str, Any]


def split_json(line: str) -> tuple[Verb, Json]:
    """Decode a JSON-mode line and find its verb.

    Raises:
        ProtocolError: ``BAD_JSON`` for anything but an object with a string
            ``cmd``; ``UNKNOWN_COMMAND`` for an unknown ``cmd``.
    """
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError(
            ErrorCode.BAD_JSON, "not valid JSON; send one object per line"
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "send one JSON object per line")
    if _SURROGATE_ESCAPE.search(line) and any(
        isinstance(v, str) and _SURROGATE.search(v) for v in obj.values()
    ):
        # A lone \ud800 escape decodes to a str that cannot be stored or sent as UTF-8.
        raise ProtocolError(ErrorCode.BAD_ENCODING, "a \\u escape of a lone surrogate is not text")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(ErrorCode.BAD_JSON, 'the object needs a "cmd" string')
    verb = _VERB_BY_NAME.get(cmd.upper()) if cmd.isascii() else None
    if verb is None:
        exc = ProtocolError(
            ErrorCode.UNKNOWN_COMMAND, f'unknown command {scrub(cmd)[:32]}; try {{"cmd": "help"}}'
        )
        exc.ref = json_ref(obj)  # the reply to this line, so it carries its ref (§6)
        raise exc
    return verb, obj


def json_ref(obj: Json) -> str | int | float | None:
    """The ``ref`` to echo, if it is a string or a number (anything else is dropped)."""
    ref = obj.get("ref")
    if isinstance(ref, float) and not math.isfinite(ref):
        return None  # NaN and Infinity could not be echoed as valid JSON
    if isinstance(ref, (str, int, float)) and not isinstance(ref, bool):
        return ref
    return None


def _str_field(obj: Json, key: str, verb: Verb, required: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key, verb)
        return None
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, f'"{key}" must be a string')
    if required and not value:
        raise _missing(key, verb)
    return value


def json_args(verb: Verb, obj: Json) -> Command:
    """Read the named fields of a JSON-mode command.

    Raises:
        ProtocolError: as :func:`text_args`.
    """
    ref = json_ref(obj)

    def field(key: str, required: bool = False) -> str | None:
        return _str_field(obj, key, verb, required)

    if verb is Verb.IDENTIFY or verb is Verb.NICK:
        name = validate_name(field("name", True) or "")
        password = field("password") if verb is Verb.IDENTIFY else None
        return Command(verb, name=name, password=password or None, ref=ref)
    if verb is Verb.REGISTER or verb is Verb.UNREGISTER:
        return Command(verb, password=field("password", True), ref=ref)
    if verb is Verb.PASSWORD:
        old = field("old", True)
        return Command(verb, password=old, new_password=field("new", True), ref=ref)
    if verb is Verb.JOIN:
        return Command(verb, room=validate_room(field("room", True) or ""), ref=ref)
    if verb in (Verb.LEAVE, Verb.USERS):
        room = field("room")
        return Command(verb, room=validate_room(room) if room else None, ref=ref)
    if verb is Verb.SAY or verb is Verb.ME:
        room = field("room")
        text = clean_text(field("text", True) or "")
        return Command(verb, room=validate_room(room) if room else None, text=text, ref=ref)
    if verb is Verb.MSG:
        to = validate_name(field("to", True) or "")
        return Command(verb, name=to, text=clean_text(field("text", True) or ""), ref=ref)
    if verb is Verb.TOPIC:
        room = validate_room(field("room", True) or "")
        topic = field("text")
        return Command(verb, room=room, text=clean_text(topic) if topic else None, ref=ref)
    if verb is Verb.HISTORY:
        return _history_json(obj, ref)
    if verb is Verb.COLOR:
        color = field("color")
        return Command(verb, color=_color(color) if color else None, ref=ref)
    if verb is Verb.COLORS or verb is Verb.PROTO:
        allowed = ("on", "off") if verb is Verb.COLORS else ("text", "json")
        return Command(verb, mode=_mode(field("mode", True) or "", allowed, verb), ref=ref)
    if verb is Verb.PING or verb is Verb.PONG:
        token = obj.get("token")
        if isinstance(token, (int, float)) and not isinstance(token, bool):
            token = str(token)
        if token is not None and not isinstance(token, str):
            raise ProtocolError(ErrorCode.BAD_ARGUMENT, '"token" must be a string')
        return Command(verb, token=scrub(token) if token else None, ref=ref)
    if verb is Verb.HELP:
        return Command(verb, name=scrub(field("verb") or "") or None, ref=ref)
    if verb is Verb.ROOMS:
        return Command(verb, ref=ref)
    if verb is Verb.QUIT:
        reason = field("reason")
        return Command(verb, reason=scrub(reason) if reason else None, ref=ref)
    return _moderation_json(verb, obj, ref)


def _json_duration(obj: Json, verb: Verb) -> int | None:
    """``duration``: a text such as ``"10m"``, or a whole number of seconds."""
    value = obj.get("duration")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ProtocolError(ErrorCode.BAD_ARGUMENT, "a duration is longer than zero")
        return min(value, DURATION_MAX)
    if isinstance(value, str):
        return parse_duration(value)
    raise ProtocolError(ErrorCode.BAD_ARGUMENT, '"duration" is a text such as "10m" or seconds')


def _moderation_json(verb: Verb, obj: Json, ref: Ref) -> Command:
    """The named fields of the moderation verbs (JSON mode)."""

    def field(key: str, required: bool = False) -> str | None:
        return _str_field(obj, key, verb, required)

    if verb is Verb.ANNOUNCE:
        return Command(verb, text=clean_text(field("text", True) or ""), ref=ref)
    if verb is Verb.BANS:
        return Command(verb, ref=ref)
    if verb is Verb.BAN or verb is Verb.UNBAN:
        target = parse_target(field("target", True) or "")
        if verb is Verb.UNBAN:
            return Command(verb, target=target, ref=ref)
        reason = field("reason")
        return Command(
            verb,
            target=target,
            duration=_json_duration(obj, verb),
            reason=scrub(reason) or None if reason else None,
            ref=ref,
        )
    room = validate_room(field("room", True) or "")
    if verb is Verb.MODE:
        mode = field("mode")
        return Command(verb, room=room, mode=_room_mode(mode) if mode else None, ref=ref)
    name = validate_name(field("name", True) or "")
    if verb is Verb.KICK:
        reason = field("reason")
        reason = scrub(reason) or None if reason else None
        return Command(verb, room=room, name=name, reason=reason, ref=ref)
    if verb is Verb.MUTE:
        return Command(verb, room=room, name=name, duration=_json_duration(obj, verb), ref=ref)
    if verb in (Verb.UNMUTE, Verb.VOICE, Verb.DEVOICE, Verb.INVITE):
        return Command(verb, room=room, name=name, ref=ref)
    raise AssertionError(f"verb without a parser: {verb}")  # pragma: no cover


def _history_json(obj: Json, ref: str | float | None) -> Command:
    room = obj.get("room")
    if room is not None and not isinstance(room, str):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, '"room" must be a string')
    limit = obj.get("limit", HISTORY_DEFAULT)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, '"limit" must be a whole number')
    before = _str_field(obj, "before", Verb.HISTORY, False)
    after = _str_field(obj, "after", Verb.HISTORY, False)
    if before is not None and after is not None:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, 'give "before" or "after", not both')
    return Command(
        Verb.HISTORY,
        room=validate_room(room) if room else None,
        limit=_limit(limit),
        before=_message_id(before) if before is not None else None,
        after=_message_id(after) if after is not None else None,
        ref=ref,
    )
