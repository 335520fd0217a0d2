"""Parsing of the moderation verbs: durations, ban targets, room modes, and their errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tertulia.protocol.commands import (
    DURATION_MAX,
    VERBS,
    Command,
    Verb,
    is_address,
    json_args,
    parse_duration,
    parse_target,
    split_json,
    split_text,
    text_args,
)
from tertulia.protocol.errors import ErrorCode, ProtocolError


def parse_text(line: str) -> Command:
    verb, rest = split_text(line)
    return text_args(verb, rest)


def parse_json(obj: dict[str, Any]) -> Command:
    verb, fields = split_json(json.dumps(obj))
    return json_args(verb, fields)


@pytest.mark.parametrize(
    ("word", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("10M", 600),
     ("999999999d", DURATION_MAX)],
)
def test_durations(word: str, seconds: int) -> None:
    """Durations are a number and a unit; the longest is ten years."""
    assert parse_duration(word) == seconds


@pytest.mark.parametrize("word", ["0m", "10", "m", "1.5h", "-1h", "1y", "１h", "10 m", ""])
def test_bad_durations(word: str) -> None:
    """Anything else, and zero, is BAD_ARGUMENT."""
    with pytest.raises(ProtocolError) as err:
        parse_duration(word)
    assert err.value.code is ErrorCode.BAD_ARGUMENT


@pytest.mark.parametrize(
    ("word", "target", "address"),
    [
        ("Troll", "Troll", False),
        ("a.b", "a.b", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7/32", "203.0.113.7", True),
        ("203.0.113.9/24", "203.0.113.0/24", True),
        ("2001:DB8::1", "2001:db8::1", True),
        ("2001:db8::/32", "2001:db8::/32", True),
    ],
)
def test_ban_targets(word: str, target: str, address: bool) -> None:
    """A target is a name, or an address or network, normalized; the two never mix."""
    assert parse_target(word) == target
    assert is_address(target) is address


@pytest.mark.parametrize(
    ("word", "code"),
    [("300.1.1.1", ErrorCode.BAD_ARGUMENT), ("1.2.3.4/40", ErrorCode.BAD_ARGUMENT),
     ("_x", ErrorCode.INVALID_NAME), ("a:b", ErrorCode.BAD_ARGUMENT)],
)
def test_bad_ban_targets(word: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_target(word)
    assert err.value.code is code


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("@<- KICK", ErrorCode.MISSING_ARGUMENT),
        ("@<- KICK #r", ErrorCode.MISSING_ARGUMENT),
        ("@<- KICK r Bob", ErrorCode.INVALID_ROOM),
        ("@<- KICK #r 9x", ErrorCode.INVALID_NAME),
        ("@<- BAN", ErrorCode.MISSING_ARGUMENT),
        ("@<- UNBAN", ErrorCode.MISSING_ARGUMENT),
        ("@<- UNBAN Troll now", ErrorCode.BAD_ARGUMENT),
        ("@<- BANS all", ErrorCode.BAD_ARGUMENT),
        ("@<- MUTE #r Bob forever", ErrorCode.BAD_ARGUMENT),
        ("@<- MUTE #r Bob 0s", ErrorCode.BAD_ARGUMENT),
        ("@<- MUTE #r", ErrorCode.MISSING_ARGUMENT),
        ("@<- UNMUTE #r Bob x", ErrorCode.BAD_ARGUMENT),
        ("@<- ANNOUNCE", ErrorCode.MISSING_ARGUMENT),
        ("@<- ANNOUNCE \x1b\x07", ErrorCode.BAD_ARGUMENT),
        ("@<- MODE", ErrorCode.MISSING_ARGUMENT),
        ("@<- MODE #r m", ErrorCode.BAD_ARGUMENT),
        ("@<- MODE #r +x", ErrorCode.BAD_ARGUMENT),
        ("@<- MODE #r +m -i", ErrorCode.BAD_ARGUMENT),
        ("@<- VOICE #r", ErrorCode.MISSING_ARGUMENT),
        ("@<- INVITE #r Bob Eva", ErrorCode.BAD_ARGUMENT),
    ],
)
def test_text_errors(line: str, code: ErrorCode) -> None:
    """Each mistake gets its code and a message that says what to do."""
    with pytest.raises(ProtocolError) as err:
        parse_text(line)
    assert err.value.code is code
    assert err.value.message


def test_ban_reason_is_scrubbed_and_a_non_duration_starts_the_reason() -> None:
    cmd = parse_text("@<- BAN Troll flood\x1b[2J of \u202elinks")
    assert cmd.duration is None
    assert cmd.reason == "flood[2J of links"


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ({"cmd": "ban"}, ErrorCode.MISSING_ARGUMENT),
        ({"cmd": "ban", "target": "Troll", "duration": 0}, ErrorCode.BAD_ARGUMENT),
        ({"cmd": "ban", "target": "Troll", "duration": True}, ErrorCode.BAD_ARGUMENT),
        ({"cmd": "ban", "target": "Troll", "duration": "soon"}, ErrorCode.BAD_ARGUMENT),
        ({"cmd": "kick", "room": "#r"}, ErrorCode.MISSING_ARGUMENT),
        ({"cmd": "mode", "room": "#r", "mode": "+q"}, ErrorCode.BAD_ARGUMENT),
        ({"cmd": "announce", "text": 3}, ErrorCode.BAD_ARGUMENT),
        ({"cmd": "invite", "name": "Bob"}, ErrorCode.MISSING_ARGUMENT),
    ],
)
def test_json_errors(obj: dict[str, Any], code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_json(obj)
    assert err.value.code is code


def test_operator_verbs_are_marked() -> None:
    """BAN, UNBAN, BANS and ANNOUNCE are the operators' own; HELP hides them from others."""
    assert {v for v, spec in VERBS.items() if spec.operator} == {
        Verb.BAN, Verb.UNBAN, Verb.BANS, Verb.ANNOUNCE}
