"""commands.py: text and JSON command parsing (PROTOCOL.md §2, §6, DECISIONS #8, #14)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from tertulia.protocol.commands import (
    HISTORY_DEFAULT,
    HISTORY_MAX,
    VERBS,
    Command,
    Verb,
    chat_line,
    is_command,
    json_args,
    json_ref,
    split_json,
    split_text,
    text_args,
)
from tertulia.protocol.errors import ErrorCode, ProtocolError

ID = "000000000000002a"
ID2 = "00000000000000ff"


def parse_text(line: str) -> Command:
    verb, rest = split_text(line)
    return text_args(verb, rest)


def parse_json(obj: Any) -> Command:
    line = obj if isinstance(obj, str) else json.dumps(obj)
    verb, fields = split_json(line)
    return json_args(verb, fields)


def code(fn: Any, arg: Any) -> ErrorCode:
    with pytest.raises(ProtocolError) as err:
        fn(arg)
    assert err.value.message, "every error says what to do"
    return err.value.code


def fields(cmd: Command) -> dict[str, Any]:
    """The fields of a command that are set (for compact expectations)."""
    return {k: v for k, v in asdict(cmd).items() if v not in (None, False) and k != "verb"}


# ------------------------------------------------------------------ the table


def test_every_verb_is_in_the_table() -> None:
    """Every verb has a usage line (HELP is generated from it)."""
    assert set(VERBS) == set(Verb)
    for verb, spec in VERBS.items():
        assert spec.usage.startswith(verb.value)


def test_verbs_allowed_before_identify() -> None:
    """§2: only HELP, PING, PONG, PROTO, COLORS, QUIT (and IDENTIFY) work before IDENTIFY."""
    allowed = {v for v, spec in VERBS.items() if spec.before_identify}
    assert allowed == {
        Verb.IDENTIFY, Verb.HELP, Verb.PING, Verb.PONG, Verb.PROTO, Verb.COLORS, Verb.QUIT,
    }


# ------------------------------------------------------------------ text mode


@pytest.mark.parametrize(
    ("line", "expected"),
    [("@<- HELP", True), ("@<-HELP", True), ("@<-", True), ("hello", False),
     (" @<- HELP", False), ("@< HELP", False), ("@-> OK", False), ("", False)],
)
def test_is_command(line: str, expected: bool) -> None:
    """Only lines starting with @<- are commands; anything else is chat."""
    assert is_command(line) is expected


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("spell", [str.upper, str.lower, str.title])
def test_text_verbs_are_case_insensitive(verb: Verb, spell: Any) -> None:
    """The verb is case-insensitive (§2)."""
    found, rest = split_text(f"@<- {spell(verb.value)} x y")
    assert found is verb
    assert rest == "x y"


@pytest.mark.parametrize("line", ["@<- DANCE", "@<- SAYX #a hi", "@<- J0IN #a", "@<- #a"])
def test_unknown_text_verb(line: str) -> None:
    """An unknown verb is UNKNOWN_COMMAND."""
    assert code(split_text, line) is ErrorCode.UNKNOWN_COMMAND


@pytest.mark.parametrize("line", ["@<-", "@<- ", "@<-    "])
def test_no_verb_at_all(line: str) -> None:
    """@<- with nothing after it is UNKNOWN_COMMAND."""
    assert code(split_text, line) is ErrorCode.UNKNOWN_COMMAND


def test_unknown_verb_message_is_scrubbed() -> None:
    """The echoed unknown verb cannot carry an escape sequence into the ERR line."""
    with pytest.raises(ProtocolError) as err:
        split_text("@<- \x1b[2J\x1b]0;pwned\x07")
    assert "\x1b" not in err.value.message and "\x07" not in err.value.message


@pytest.mark.parametrize(
    ("line", "verb", "expected"),
    [
        ("@<- IDENTIFY Ana", Verb.IDENTIFY, {"name": "Ana"}),
        ("@<- identify ＡＮＡ", Verb.IDENTIFY, {"name": "ＡＮＡ"}),
        ("@<- IDENTIFY Ana  ", Verb.IDENTIFY, {"name": "Ana"}),
        ("@<- IDENTIFY Ana s3cret", Verb.IDENTIFY, {"name": "Ana", "password": "s3cret"}),
        ("@<- IDENTIFY Ana two words", Verb.IDENTIFY, {"name": "Ana", "password": "two words"}),
        ("@<- REGISTER hunter2", Verb.REGISTER, {"password": "hunter2"}),
        ("@<- REGISTER pass phrase", Verb.REGISTER, {"password": "pass phrase"}),
        ("@<- PASSWORD old new", Verb.PASSWORD, {"password": "old", "new_password": "new"}),
        ("@<- PASSWORD old  new pass phrase", Verb.PASSWORD,
         {"password": "old", "new_password": "new pass phrase"}),
        ("@<- UNREGISTER hunter2", Verb.UNREGISTER, {"password": "hunter2"}),
        ("@<- unregister pass phrase", Verb.UNREGISTER, {"password": "pass phrase"}),
        ("@<- NICK Bob", Verb.NICK, {"name": "Bob"}),
        ("@<- JOIN #room", Verb.JOIN, {"room": "#room"}),
        ("@<-   join    #Room", Verb.JOIN, {"room": "#Room"}),
        ("@<- JOIN #2024", Verb.JOIN, {"room": "#2024"}),
        ("@<- LEAVE", Verb.LEAVE, {}),
        ("@<- LEAVE #room", Verb.LEAVE, {"room": "#room"}),
        ("@<- SAY #room hello world", Verb.SAY, {"room": "#room", "text": "hello world"}),
        ("@<- SAY #room @<- HELP", Verb.SAY, {"room": "#room", "text": "@<- HELP"}),
        ("@<- SAY #r a\tb", Verb.SAY, {"room": "#r", "text": "a\tb"}),
        ("@<- ME waves", Verb.ME, {"text": "waves"}),
        ("@<- ME waves at  everyone", Verb.ME, {"text": "waves at  everyone"}),
        ("@<- MSG Bob hi there", Verb.MSG, {"name": "Bob", "text": "hi there"}),
        ("@<- USERS", Verb.USERS, {}),
        ("@<- USERS #room", Verb.USERS, {"room": "#room"}),
        ("@<- ROOMS", Verb.ROOMS, {}),
        ("@<- TOPIC #room", Verb.TOPIC, {"room": "#room"}),
        ("@<- TOPIC #room new topic", Verb.TOPIC, {"room": "#room", "text": "new topic"}),
        ("@<- HISTORY", Verb.HISTORY, {"limit": HISTORY_DEFAULT}),
        ("@<- COLOR", Verb.COLOR, {}),
        ("@<- COLOR #E06C75", Verb.COLOR, {"color": "#e06c75"}),
        ("@<- COLORS on", Verb.COLORS, {"mode": "on"}),
        ("@<- colors OFF", Verb.COLORS, {"mode": "off"}),
        ("@<- PROTO json", Verb.PROTO, {"mode": "json"}),
        ("@<- proto TEXT", Verb.PROTO, {"mode": "text"}),
        ("@<- PING", Verb.PING, {}),
        ("@<- PING abc", Verb.PING, {"token": "abc"}),
        ("@<- PING abc def", Verb.PING, {"token": "abc def"}),
        ("@<- PONG tok-1", Verb.PONG, {"token": "tok-1"}),
        ("@<- HELP", Verb.HELP, {}),
        ("@<- HELP join", Verb.HELP, {"name": "join"}),
        ("@<- QUIT", Verb.QUIT, {}),
        ("@<- QUIT see you soon", Verb.QUIT, {"reason": "see you soon"}),
        ("@<- KICK #r Bob", Verb.KICK, {"room": "#r", "name": "Bob"}),
        ("@<- KICK #r Bob go away", Verb.KICK, {"room": "#r", "name": "Bob", "reason": "go away"}),
        ("@<- BAN Troll", Verb.BAN, {"target": "Troll"}),
        ("@<- BAN Troll 2h spam", Verb.BAN, {"target": "Troll", "duration": 7200,
                                            "reason": "spam"}),
        ("@<- BAN 203.0.113.7 1d", Verb.BAN, {"target": "203.0.113.7", "duration": 86400}),
        ("@<- UNBAN Troll", Verb.UNBAN, {"target": "Troll"}),
        ("@<- BANS", Verb.BANS, {}),
        ("@<- MUTE #r Bob", Verb.MUTE, {"room": "#r", "name": "Bob"}),
        ("@<- MUTE #r Bob 10m", Verb.MUTE, {"room": "#r", "name": "Bob", "duration": 600}),
        ("@<- UNMUTE #r Bob", Verb.UNMUTE, {"room": "#r", "name": "Bob"}),
        ("@<- ANNOUNCE restart at  noon", Verb.ANNOUNCE, {"text": "restart at  noon"}),
        ("@<- MODE #r", Verb.MODE, {"room": "#r"}),
        ("@<- MODE #r +mi", Verb.MODE, {"room": "#r", "mode": "+mi"}),
        ("@<- VOICE #r Bob", Verb.VOICE, {"room": "#r", "name": "Bob"}),
        ("@<- DEVOICE #r Bob", Verb.DEVOICE, {"room": "#r", "name": "Bob"}),
        ("@<- INVITE #r Bob", Verb.INVITE, {"room": "#r", "name": "Bob"}),
    ],
)
def test_text_valid_forms(line: str, verb: Verb, expected: dict[str, Any]) -> None:
    """Each verb's documented forms parse to the expected fields."""
    cmd = parse_text(line)
    assert cmd.verb is verb
    assert fields(cmd) == expected


def test_every_verb_has_a_text_test() -> None:
    """The table above covers every verb (a new verb needs a test)."""
    covered = {case.values[1] for case in _marks(test_text_valid_forms)}
    assert covered == set(Verb)


def _marks(fn: Any) -> list[Any]:
    return [p for m in fn.pytestmark if m.name == "parametrize" for p in _params(m)]


def _params(mark: Any) -> list[Any]:
    return [pytest.param(*v) if isinstance(v, tuple) else v for v in mark.args[1]]


@pytest.mark.parametrize(
    "line",
    [
        "@<- IDENTIFY",
        "@<- IDENTIFY   ",
        "@<- NICK",
        "@<- REGISTER",
        "@<- PASSWORD",
        "@<- PASSWORD old",
        "@<- PASSWORD old   ",
        "@<- UNREGISTER",
        "@<- JOIN",
        "@<- SAY",
        "@<- SAY #room",
        "@<- SAY #room   ",
        "@<- ME",
        "@<- MSG",
        "@<- MSG Bob",
        "@<- TOPIC",
        "@<- COLORS",
        "@<- PROTO",
        "@<- HISTORY before",
        "@<- HISTORY #room 5 after",
    ],
)
def test_text_missing_argument(line: str) -> None:
    """A required argument left out is MISSING_ARGUMENT, with the usage."""
    with pytest.raises(ProtocolError) as err:
        parse_text(line)
    assert err.value.code is ErrorCode.MISSING_ARGUMENT
    assert "usage" in err.value.message


@pytest.mark.parametrize(
    "line",
    [
        "@<- COLORS maybe",
        "@<- COLORS 1",
        "@<- PROTO xml",
        "@<- COLOR red",
        "@<- COLOR e06c75",
        "@<- COLOR #12345",
        "@<- COLOR #1234567",
        "@<- COLOR #GGGGGG",
        "@<- COLOR #１２３４５６",  # fullwidth digits are not hex
        "@<- SAY #room \x1b\x07",
        "@<- ME \x00",
        "@<- MSG Bob \x1b\x07",
        "@<- TOPIC #room \u202e",
    ],
)
def test_text_bad_argument(line: str) -> None:
    """A malformed argument, or a text empty after scrubbing, is BAD_ARGUMENT."""
    assert code(parse_text, line) is ErrorCode.BAD_ARGUMENT


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("@<- IDENTIFY 1abc", ErrorCode.INVALID_NAME),
        ("@<- IDENTIFY " + "a" * 33, ErrorCode.INVALID_NAME),
        ("@<- IDENTIFY a\x1bb", ErrorCode.INVALID_NAME),
        ("@<- IDENTIFY #ana", ErrorCode.INVALID_NAME),
        ("@<- NICK _x", ErrorCode.INVALID_NAME),
        ("@<- NICK a\u202eb", ErrorCode.INVALID_NAME),
        ("@<- MSG a\x1b[2Jb hi", ErrorCode.INVALID_NAME),
        ("@<- MSG 1abc hi", ErrorCode.INVALID_NAME),
        ("@<- JOIN general", ErrorCode.INVALID_ROOM),
        ("@<- JOIN #", ErrorCode.INVALID_ROOM),
        ("@<- JOIN #a\x07", ErrorCode.INVALID_ROOM),
        ("@<- JOIN #" + "r" * 51, ErrorCode.INVALID_ROOM),
        ("@<- LEAVE general", ErrorCode.INVALID_ROOM),
        ("@<- USERS #\u0301x", ErrorCode.INVALID_ROOM),
        ("@<- SAY room hi", ErrorCode.INVALID_ROOM),
        ("@<- SAY room", ErrorCode.INVALID_ROOM),  # the room is checked before the text
        ("@<- TOPIC nope text", ErrorCode.INVALID_ROOM),
        ("@<- HISTORY #bad\x01", ErrorCode.INVALID_ROOM),
    ],
)
def test_text_invalid_names_and_rooms(line: str, expected: ErrorCode) -> None:
    """Names and rooms that break the §2 rules are INVALID_NAME / INVALID_ROOM."""
    assert code(parse_text, line) is expected


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("@<- SAY #r a\x1b[31mb\x1b[0m", "text", "a[31mb[0m"),
        ("@<- ME \u202eevil", "text", "evil"),
        ("@<- MSG Bob \x9b2Jhi", "text", "2Jhi"),
        ("@<- TOPIC #r the\x07 topic", "text", "the topic"),
        ("@<- QUIT bye\x1b", "reason", "bye"),
        ("@<- QUIT \x1b", "reason", None),
        ("@<- PING a\x1bb", "token", "ab"),
        ("@<- PING \x07", "token", None),
        ("@<- HELP \x1b[2Jjoin", "name", "[2Jjoin"),
    ],
)
def test_text_fields_others_see_are_scrubbed(line: str, field: str, value: str | None) -> None:
    """Texts, reasons and tokens lose the never-relayed characters at parse time."""
    assert getattr(parse_text(line), field) == value


# ------------------------------------------------------------- text HISTORY


@pytest.mark.parametrize(
    ("args", "room", "limit", "before", "after"),
    [
        ("", None, 50, None, None),
        ("#room", "#room", 50, None, None),
        ("10", None, 10, None, None),
        ("1", None, 1, None, None),
        ("#room 10", "#room", 10, None, None),
        ("500", None, 500, None, None),
        ("501", None, HISTORY_MAX, None, None),
        ("100000", None, HISTORY_MAX, None, None),
        ("before " + ID, None, 50, ID, None),
        ("after " + ID, None, 50, None, ID),
        ("#room before " + ID, "#room", 50, ID, None),
        ("#room 20 after " + ID, "#room", 20, None, ID),
        ("20 BEFORE " + ID, None, 20, ID, None),
        ("#room 7 After " + ID, "#room", 7, None, ID),
        ("   #room    20   before   " + ID + "   ", "#room", 20, ID, None),
    ],
)
def test_history_text_grammar(
    args: str, room: str | None, limit: int, before: str | None, after: str | None
) -> None:
    """HISTORY [#room] [n] [before ID | after ID]; n above 500 counts as 500."""
    cmd = parse_text(f"@<- HISTORY {args}")
    assert (cmd.room, cmd.limit, cmd.before, cmd.after) == (room, limit, before, after)


@pytest.mark.parametrize(
    "args",
    [
        "0",
        "-1",
        "-500",
        "abc",
        "ten",
        "1.5",
        "1e3",
        "0x10",
        "9" * 5000,  # beyond Python's int-from-string limit: still only BAD_ARGUMENT
        "#room x",
        "#room #other",
        "#room 10 sideways " + ID,
        "before xyz",
        "before 000000000000002A",  # ids are lowercase hex
        "before 2a",
        "before 0000000000000002a",
        "after p18c2-1",  # private ids are not in history
        "#room 10 before " + ID + " extra",
        "before " + ID + " after " + ID2,
        "10 20",
    ],
)
def test_history_text_bad_arguments(args: str) -> None:
    """n < 1, a non-number, a bad id or extra words are BAD_ARGUMENT."""
    assert code(parse_text, f"@<- HISTORY {args}") is ErrorCode.BAD_ARGUMENT


# ------------------------------------------------------------ plain chat lines


def test_chat_line_is_a_plain_say() -> None:
    """A non-command line is SAY to the current room, scrubbed, marked plain."""
    cmd = chat_line("hola \x1b[5mtodos")
    assert cmd == Command(Verb.SAY, text="hola [5mtodos", plain=True)


def test_chat_line_of_spaces_is_a_message() -> None:
    """Only the §1 characters are removed: spaces are a message (DECISIONS #16)."""
    assert chat_line("   ").text == "   "


def test_chat_line_empty_after_scrub_is_bad_argument() -> None:
    """A chat line of only control characters is BAD_ARGUMENT (§1)."""
    assert code(chat_line, "\x1b\x1b\x07") is ErrorCode.BAD_ARGUMENT


# ------------------------------------------------------------------ JSON mode


@pytest.mark.parametrize(
    "line",
    [
        "",
        " ",
        "not json",
        "{'cmd': 'ping'}",
        '{"cmd": "ping"',
        '{"cmd": "ping"} {"cmd": "ping"}',
        "[1, 2]",
        '["cmd", "ping"]',
        '"cmd"',
        "42",
        "null",
        "true",
        "{}",
        '{"command": "ping"}',
        '{"cmd": 5}',
        '{"cmd": null}',
        '{"cmd": true}',
        '{"cmd": ["ping"]}',
        '{"cmd": {"verb": "ping"}}',
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000,
        '{"cmd": "ping", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"cmd": "ping", "x": 1' + "0" * 5000 + "}",  # int too long to convert
    ],
)
def test_bad_json(line: str) -> None:
    """Not an object, no "cmd", "cmd" not a string, or a nesting bomb: BAD_JSON, no crash."""
    assert code(split_json, line) is ErrorCode.BAD_JSON


@pytest.mark.parametrize("cmd", ["dance", "", "say ", "PRIVMSG"])
def test_unknown_json_cmd(cmd: str) -> None:
    """A "cmd" that is no verb is UNKNOWN_COMMAND."""
    assert code(split_json, json.dumps({"cmd": cmd})) is ErrorCode.UNKNOWN_COMMAND


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title])
def test_json_cmd_is_case_insensitive(verb: Verb, spell: Any) -> None:
    """"cmd" is the verb in lower case, but any case is accepted."""
    found, obj = split_json(json.dumps({"cmd": spell(verb.value), "x": 1}))
    assert found is verb
    assert obj["x"] == 1


@pytest.mark.parametrize(
    ("ref", "echoed"),
    [
        ("c1", "c1"),
        ("", ""),
        (7, 7),
        (0, 0),
        (-3, -3),
        (1.5, 1.5),
        (True, None),
        (False, None),
        ([1], None),
        ({"a": 1}, None),
        (None, None),
    ],
)
def test_json_ref_types(ref: Any, echoed: Any) -> None:
    """A string or number ref is echoed; booleans, lists, objects and null are dropped."""
    cmd = parse_json({"cmd": "ping", "ref": ref})
    assert cmd.ref == echoed
    assert type(cmd.ref) is type(echoed)


def test_missing_ref_is_none() -> None:
    """Without "ref" nothing is echoed."""
    assert json_ref({"cmd": "ping"}) is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_ref_is_dropped(literal: str) -> None:
    """A ref that is not a finite number could not be echoed as valid JSON: it is dropped."""
    verb, obj = split_json('{"cmd": "ping", "ref": ' + literal + "}")
    assert json_ref(obj) is None
    assert json_args(verb, obj).ref is None


@pytest.mark.parametrize(
    ("obj", "verb", "expected"),
    [
        ({"cmd": "identify", "name": "Ana"}, Verb.IDENTIFY, {"name": "Ana"}),
        ({"cmd": "identify", "name": "Ana", "password": "p w"}, Verb.IDENTIFY,
         {"name": "Ana", "password": "p w"}),
        ({"cmd": "identify", "name": "Ana", "password": ""}, Verb.IDENTIFY, {"name": "Ana"}),
        ({"cmd": "identify", "name": "Ana", "password": None}, Verb.IDENTIFY, {"name": "Ana"}),
        ({"cmd": "register", "password": "hunter2"}, Verb.REGISTER, {"password": "hunter2"}),
        ({"cmd": "password", "old": "a b", "new": "c d"}, Verb.PASSWORD,
         {"password": "a b", "new_password": "c d"}),
        ({"cmd": "unregister", "password": "p w"}, Verb.UNREGISTER, {"password": "p w"}),
        ({"cmd": "nick", "name": "Bob"}, Verb.NICK, {"name": "Bob"}),
        ({"cmd": "nick", "name": "Bob", "password": "x"}, Verb.NICK, {"name": "Bob"}),
        ({"cmd": "join", "room": "#room"}, Verb.JOIN, {"room": "#room"}),
        ({"cmd": "leave"}, Verb.LEAVE, {}),
        ({"cmd": "leave", "room": "#room"}, Verb.LEAVE, {"room": "#room"}),
        ({"cmd": "say", "room": "#r", "text": "hi"}, Verb.SAY, {"room": "#r", "text": "hi"}),
        ({"cmd": "say", "text": "hi"}, Verb.SAY, {"text": "hi"}),
        ({"cmd": "say", "text": "multi\nline"}, Verb.SAY, {"text": "multiline"}),
        ({"cmd": "me", "text": "waves"}, Verb.ME, {"text": "waves"}),
        ({"cmd": "me", "room": "#r", "text": "waves"}, Verb.ME, {"room": "#r", "text": "waves"}),
        ({"cmd": "msg", "to": "Bob", "text": "hi"}, Verb.MSG, {"name": "Bob", "text": "hi"}),
        ({"cmd": "users"}, Verb.USERS, {}),
        ({"cmd": "users", "room": "#r"}, Verb.USERS, {"room": "#r"}),
        ({"cmd": "rooms"}, Verb.ROOMS, {}),
        ({"cmd": "topic", "room": "#r"}, Verb.TOPIC, {"room": "#r"}),
        ({"cmd": "topic", "room": "#r", "text": "t"}, Verb.TOPIC, {"room": "#r", "text": "t"}),
        ({"cmd": "history"}, Verb.HISTORY, {"limit": 50}),
        ({"cmd": "history", "room": "#r", "limit": 10, "before": ID}, Verb.HISTORY,
         {"room": "#r", "limit": 10, "before": ID}),
        ({"cmd": "history", "after": ID}, Verb.HISTORY, {"limit": 50, "after": ID}),
        ({"cmd": "history", "limit": 500}, Verb.HISTORY, {"limit": 500}),
        ({"cmd": "history", "limit": 501}, Verb.HISTORY, {"limit": 500}),
        ({"cmd": "history", "limit": 10**30}, Verb.HISTORY, {"limit": 500}),
        ({"cmd": "history", "limit": 1}, Verb.HISTORY, {"limit": 1}),
        ({"cmd": "color"}, Verb.COLOR, {}),
        ({"cmd": "color", "color": "#ABCDEF"}, Verb.COLOR, {"color": "#abcdef"}),
        ({"cmd": "colors", "mode": "ON"}, Verb.COLORS, {"mode": "on"}),
        ({"cmd": "colors", "mode": "off"}, Verb.COLORS, {"mode": "off"}),
        ({"cmd": "proto", "mode": "text"}, Verb.PROTO, {"mode": "text"}),
        ({"cmd": "proto", "mode": "json"}, Verb.PROTO, {"mode": "json"}),
        ({"cmd": "ping"}, Verb.PING, {}),
        ({"cmd": "ping", "token": "abc def"}, Verb.PING, {"token": "abc def"}),
        ({"cmd": "ping", "token": 42}, Verb.PING, {"token": "42"}),
        ({"cmd": "ping", "token": "a\u001bb"}, Verb.PING, {"token": "ab"}),
        ({"cmd": "pong", "token": "x"}, Verb.PONG, {"token": "x"}),
        ({"cmd": "help"}, Verb.HELP, {}),
        ({"cmd": "help", "verb": "join"}, Verb.HELP, {"name": "join"}),
        ({"cmd": "quit"}, Verb.QUIT, {}),
        ({"cmd": "quit", "reason": "bye\u202e now"}, Verb.QUIT, {"reason": "bye now"}),
        ({"cmd": "kick", "room": "#r", "name": "Bob", "reason": "x"}, Verb.KICK,
         {"room": "#r", "name": "Bob", "reason": "x"}),
        ({"cmd": "ban", "target": "Troll", "duration": "1h"}, Verb.BAN,
         {"target": "Troll", "duration": 3600}),
        ({"cmd": "ban", "target": "10.0.0.0/8", "duration": 90, "reason": "r"}, Verb.BAN,
         {"target": "10.0.0.0/8", "duration": 90, "reason": "r"}),
        ({"cmd": "unban", "target": "::1"}, Verb.UNBAN, {"target": "::1"}),
        ({"cmd": "bans"}, Verb.BANS, {}),
        ({"cmd": "mute", "room": "#r", "name": "Bob"}, Verb.MUTE, {"room": "#r", "name": "Bob"}),
        ({"cmd": "unmute", "room": "#r", "name": "Bob"}, Verb.UNMUTE,
         {"room": "#r", "name": "Bob"}),
        ({"cmd": "announce", "text": "hi"}, Verb.ANNOUNCE, {"text": "hi"}),
        ({"cmd": "mode", "room": "#r", "mode": "-m"}, Verb.MODE, {"room": "#r", "mode": "-m"}),
        ({"cmd": "voice", "room": "#r", "name": "Bob"}, Verb.VOICE, {"room": "#r", "name": "Bob"}),
        ({"cmd": "devoice", "room": "#r", "name": "Bob"}, Verb.DEVOICE,
         {"room": "#r", "name": "Bob"}),
        ({"cmd": "invite", "room": "#r", "name": "Bob"}, Verb.INVITE,
         {"room": "#r", "name": "Bob"}),
    ],
)
def test_json_valid_forms(obj: dict[str, Any], verb: Verb, expected: dict[str, Any]) -> None:
    """Each verb's named fields parse to the expected command."""
    cmd = parse_json(obj)
    assert cmd.verb is verb
    assert fields(cmd) == expected


def test_every_verb_has_a_json_test() -> None:
    """The JSON table covers every verb."""
    covered = {case.values[1] for case in _marks(test_json_valid_forms)}
    assert covered == set(Verb)


@pytest.mark.parametrize("verb", list(Verb))
def test_json_ref_reaches_every_command(verb: Verb) -> None:
    """The ref of any command, success or not, is in the parsed command."""
    minimal: dict[Verb, dict[str, Any]] = {
        Verb.IDENTIFY: {"name": "Ana"}, Verb.REGISTER: {"password": "x"},
        Verb.PASSWORD: {"old": "x", "new": "y"}, Verb.UNREGISTER: {"password": "x"},
        Verb.NICK: {"name": "Ana"}, Verb.JOIN: {"room": "#r"}, Verb.SAY: {"text": "x"},
        Verb.ME: {"text": "x"}, Verb.MSG: {"to": "Ana", "text": "x"},
        Verb.TOPIC: {"room": "#r"}, Verb.COLORS: {"mode": "on"}, Verb.PROTO: {"mode": "json"},
        Verb.KICK: {"room": "#r", "name": "Bob"}, Verb.BAN: {"target": "Bob"},
        Verb.UNBAN: {"target": "Bob"}, Verb.MUTE: {"room": "#r", "name": "Bob"},
        Verb.UNMUTE: {"room": "#r", "name": "Bob"}, Verb.ANNOUNCE: {"text": "x"},
        Verb.MODE: {"room": "#r"}, Verb.VOICE: {"room": "#r", "name": "Bob"},
        Verb.DEVOICE: {"room": "#r", "name": "Bob"}, Verb.INVITE: {"room": "#r", "name": "Bob"},
    }
    cmd = parse_json({"cmd": verb.value.lower(), "ref": "r-1", **minimal.get(verb, {})})
    assert cmd.ref == "r-1"


@pytest.mark.parametrize(
    "obj",
    [
        {"cmd": "identify"},
        {"cmd": "identify", "name": ""},
        {"cmd": "identify", "name": None},
        {"cmd": "identify", "password": "x"},
        {"cmd": "register"},
        {"cmd": "register", "password": ""},
        {"cmd": "password", "old": "x"},
        {"cmd": "password", "new": "x"},
        {"cmd": "password", "old": "", "new": "x"},
        {"cmd": "unregister"},
        {"cmd": "nick"},
        {"cmd": "join"},
        {"cmd": "join", "room": ""},
        {"cmd": "say"},
        {"cmd": "say", "room": "#r"},
        {"cmd": "say", "room": "#r", "text": ""},
        {"cmd": "me"},
        {"cmd": "msg", "text": "x"},
        {"cmd": "msg", "to": "Bob"},
        {"cmd": "topic"},
        {"cmd": "topic", "text": "x"},
        {"cmd": "colors"},
        {"cmd": "proto"},
        {"cmd": "proto", "mode": ""},
    ],
)
def test_json_missing_argument(obj: dict[str, Any]) -> None:
    """A required field left out (or empty, or null) is MISSING_ARGUMENT."""
    assert code(parse_json, obj) is ErrorCode.MISSING_ARGUMENT


@pytest.mark.parametrize(
    "obj",
    [
        {"cmd": "identify", "name": 5},
        {"cmd": "identify", "name": ["Ana"]},
        {"cmd": "identify", "name": {"n": "Ana"}},
        {"cmd": "identify", "name": "Ana", "password": 1234},
        {"cmd": "register", "password": 5},
        {"cmd": "nick", "name": True},
        {"cmd": "join", "room": 1},
        {"cmd": "leave", "room": ["#r"]},
        {"cmd": "users", "room": 5},
        {"cmd": "say", "text": 5},
        {"cmd": "say", "text": ["hi"]},
        {"cmd": "say", "text": "hi", "room": 5},
        {"cmd": "say", "text": "\u001b\u0007"},
        {"cmd": "me", "text": False},
        {"cmd": "msg", "to": 5, "text": "x"},
        {"cmd": "msg", "to": "Bob", "text": {"t": 1}},
        {"cmd": "msg", "to": "Bob", "text": "\u202e"},
        {"cmd": "topic", "room": "#r", "text": 5},
        {"cmd": "topic", "room": "#r", "text": "\u0000"},
        {"cmd": "history", "room": 5},
        {"cmd": "history", "limit": "10"},
        {"cmd": "history", "limit": 1.5},
        {"cmd": "history", "limit": 10.0},
        {"cmd": "history", "limit": True},
        {"cmd": "history", "limit": None},
        {"cmd": "history", "limit": [10]},
        {"cmd": "history", "limit": 0},
        {"cmd": "history", "limit": -3},
        {"cmd": "history", "before": "xyz"},
        {"cmd": "history", "before": 42},
        {"cmd": "history", "after": "000000000000002A"},
        {"cmd": "history", "before": ID, "after": ID2},
        {"cmd": "color", "color": "red"},
        {"cmd": "color", "color": 0xE06C75},
        {"cmd": "colors", "mode": "maybe"},
        {"cmd": "colors", "mode": True},
        {"cmd": "proto", "mode": "xml"},
        {"cmd": "ping", "token": True},
        {"cmd": "ping", "token": [1]},
        {"cmd": "ping", "token": {"a": 1}},
        {"cmd": "pong", "token": False},
        {"cmd": "quit", "reason": 5},
        {"cmd": "help", "verb": 5},
    ],
)
def test_json_bad_argument(obj: dict[str, Any]) -> None:
    """A field of the wrong type or value is BAD_ARGUMENT (not a crash, not BAD_JSON)."""
    assert code(parse_json, obj) is ErrorCode.BAD_ARGUMENT


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"cmd": "identify", "name": "1a"}, ErrorCode.INVALID_NAME),
        ({"cmd": "identify", "name": "a b"}, ErrorCode.INVALID_NAME),
        ({"cmd": "nick", "name": "a\u001bb"}, ErrorCode.INVALID_NAME),
        ({"cmd": "msg", "to": "a\u001b[2Jb", "text": "x"}, ErrorCode.INVALID_NAME),
        ({"cmd": "join", "room": "general"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "leave", "room": "#"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "users", "room": "#a b"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "say", "room": "x", "text": "hi"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "me", "room": "#\u0301", "text": "hi"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "topic", "room": "x"}, ErrorCode.INVALID_ROOM),
        ({"cmd": "history", "room": "nope"}, ErrorCode.INVALID_ROOM),
    ],
)
def test_json_invalid_names_and_rooms(obj: dict[str, Any], expected: ErrorCode) -> None:
    """JSON names and rooms follow the same §2 rules as text mode."""
    assert code(parse_json, obj) is expected


def test_json_help_verb_is_scrubbed() -> None:
    """The HELP verb may be echoed in an error, so it carries no control characters."""
    assert parse_json({"cmd": "help", "verb": "\u001b[2Jjoin"}).name == "[2Jjoin"


@pytest.mark.parametrize(
    "line",
    [
        r'{"cmd": "say", "text": "\ud800"}',
        r'{"cmd": "say", "text": "a\udfffb"}',
        r'{"cmd": "identify", "name": "Ana", "password": "\udc80"}',
        r'{"cmd": "ping", "ref": "\ud83d"}',
        r'{"cmd": "quit", "reason": "\ude00\ud83d"}',
    ],
)
def test_json_lone_surrogates_are_refused(line: str) -> None:
    """A \\u escape of a lone surrogate is not Unicode text: refused before it can be
    stored, hashed or encoded (it would fail as UTF-8 there)."""
    with pytest.raises(ProtocolError) as err:
        verb, obj = split_json(line)
        json_args(verb, obj)
    assert err.value.code is ErrorCode.BAD_ENCODING


def test_json_surrogate_pairs_are_fine() -> None:
    """A properly escaped astral character (a surrogate pair) is just that character."""
    cmd = parse_json(r'{"cmd": "say", "text": "\ud83d\ude00 \u00f1", "ref": "\ud83d\ude00"}')
    assert cmd.text == "😀 ñ"
    assert cmd.ref == "😀"


def test_json_unknown_fields_are_ignored() -> None:
    """Extra fields do not make a command fail."""
    cmd = parse_json({"cmd": "join", "room": "#r", "extra": [1, {"x": None}], "text": 5})
    assert cmd == Command(Verb.JOIN, room="#r")
