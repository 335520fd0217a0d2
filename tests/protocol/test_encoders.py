"""Encoders: exact bytes of every text line (PROTOCOL.md §3) and JSON object (§6)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import Verb
from tertulia.protocol.jsonmode import OK_FIELDS, JsonEncoder
from tertulia.protocol.textmode import TextEncoder, colored

TS = "2026-11-23T10:00:00.123Z"
ESC = b"\x1b"


@dataclass(frozen=True)
class Msg:
    """A stand-in with the attributes of MessageView."""

    id: str = "000000000000002a"
    room: str = "#general"
    sender: str = "Ana"
    color: str = "#e06c75"
    text: str = "hola"
    kind: str = "say"
    ts: str = TS


SAY = Msg()
ME = Msg(id="000000000000002b", text="waves", kind="me", ts="2026-11-23T10:00:01.000Z")

T = TextEncoder()
J = JsonEncoder()


# ------------------------------------------------------------------ text mode


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (T.welcome("tertulia", "0.1.0", "¡Bienvenida! Try @<- HELP"),
         "@-> WELCOME tertulia 0.1.0 ¡Bienvenida! Try @<- HELP\n".encode()),
        (T.ok("IDENTIFY", "r1", "Ana", "#e06c75"), b"@-> OK IDENTIFY Ana #e06c75\n"),
        (T.ok("REGISTER", None, "Ana"), b"@-> OK REGISTER Ana\n"),
        (T.ok("NICK", None, "Bob"), b"@-> OK NICK Bob\n"),
        (T.ok("JOIN", None, "#room"), b"@-> OK JOIN #room\n"),
        (T.ok("LEAVE", None, "#room"), b"@-> OK LEAVE #room\n"),
        (T.ok("SAY", None, "#room"), b"@-> OK SAY #room\n"),
        (T.ok("ME", None, "#room"), b"@-> OK ME #room\n"),
        (T.ok("MSG", None, "Bob"), b"@-> OK MSG Bob\n"),
        (T.ok("TOPIC", None, "#room", "new topic here"), b"@-> OK TOPIC #room new topic here\n"),
        (T.ok("TOPIC", None, "#room", ""), b"@-> OK TOPIC #room\n"),  # DECISIONS #1
        (T.ok("COLOR", None, "#abcdef"), b"@-> OK COLOR #abcdef\n"),
        (T.ok("COLORS", None, "off"), b"@-> OK COLORS off\n"),
        (T.ok("PROTO", None, "json"), b"@-> OK PROTO json\n"),
        (T.ok("PING", None, "tok 1"), b"@-> OK PING tok 1\n"),
        (T.ok("PING", None, ""), b"@-> OK PING\n"),  # DECISIONS #1
        (T.error("NAME_IN_USE", "the name Ana is taken", "IDENTIFY", "r"),
         b"@-> ERR NAME_IN_USE the name Ana is taken\n"),
        (T.error("LINE_TOO_LONG", "a line has at most 4096 bytes", None, None),
         b"@-> ERR LINE_TOO_LONG a line has at most 4096 bytes\n"),
        (T.join("#room", "Ana", "#e06c75"), b"@-> JOIN #room Ana #e06c75\n"),
        (T.leave("#room", "Ana", "left"), b"@-> LEAVE #room Ana left\n"),
        (T.nick("Ana", "Ana2"), b"@-> NICK Ana Ana2\n"),
        (T.quit("Ana", "Connection closed"), b"@-> QUIT Ana Connection closed\n"),
        (T.topic("#room", "Ana", "all about tea"), b"@-> TOPIC #room Ana all about tea\n"),
        (T.notice("the server restarts at noon"), b"@-> NOTICE the server restarts at noon\n"),
        (T.ping("12345"), b"@-> PING 12345\n"),
        (T.bye("QUIT", "Quit"), b"@-> BYE QUIT Quit\n"),
        (T.bye("SLOW_CONSUMER", "Slow consumer"), b"@-> BYE SLOW_CONSUMER Slow consumer\n"),
    ],
)
def test_text_single_lines(got: bytes, expected: bytes) -> None:
    """Each @-> line is its keyword, its fields and free text, UTF-8, one LF."""
    assert got == expected


def test_text_users_lines_then_ok() -> None:
    """USER lines come before OK USERS count; '*' means everyone online."""
    users = [("Ana", "#e06c75"), ("Bob", "#000000")]
    assert T.users("#room", users, "r") == (
        b"@-> USER #room Ana #e06c75\n@-> USER #room Bob #000000\n@-> OK USERS 2\n"
    )
    assert T.users(None, users, None) == (
        b"@-> USER * Ana #e06c75\n@-> USER * Bob #000000\n@-> OK USERS 2\n"
    )
    assert T.users("#empty", [], None) == b"@-> OK USERS 0\n"
    assert T.users(None, iter(users), None).endswith(b"@-> OK USERS 2\n")  # any iterable


def test_text_rooms_lines_then_ok() -> None:
    """ROOM #room count topic, the topic left out when empty, then OK ROOMS count."""
    rooms = [("#a", 2, "tea and biscuits"), ("#b", 1, "")]
    assert T.rooms(rooms, None) == (
        b"@-> ROOM #a 2 tea and biscuits\n@-> ROOM #b 1\n@-> OK ROOMS 2\n"
    )
    assert T.rooms([], None) == b"@-> OK ROOMS 0\n"


def test_text_help_lines_then_ok() -> None:
    """HELP VERB usage per command, then OK HELP."""
    commands = [("PING", "@<- PING [token] - check"), ("QUIT", "@<- QUIT [reason] - leave")]
    assert T.help(commands, None) == (
        b"@-> HELP PING @<- PING [token] - check\n"
        b"@-> HELP QUIT @<- QUIT [reason] - leave\n"
        b"@-> OK HELP\n"
    )


def test_text_history_lines() -> None:
    """HISTORY #room time name text; an action has '*' before the name."""
    assert T.history("#general", [SAY, ME]) == (
        b"@-> HISTORY #general 2026-11-23T10:00:00.123Z Ana hola\n"
        b"@-> HISTORY #general 2026-11-23T10:00:01.000Z * Ana waves\n"
    )
    assert T.history("#general", []) == b""


def test_text_history_reply_ends_with_ok() -> None:
    """The HISTORY command's reply is the lines, then OK HISTORY #room count."""
    assert T.history_reply("#general", [SAY], "r") == (
        b"@-> HISTORY #general 2026-11-23T10:00:00.123Z Ana hola\n@-> OK HISTORY #general 1\n"
    )
    assert T.history_reply("#quiet", [], None) == b"@-> OK HISTORY #quiet 0\n"


def test_chat_lines_without_colour() -> None:
    """#room <name> text and #room * name text, no @-> prefix, no escape."""
    assert textmode.chat_line(SAY, None) == b"#general <Ana> hola\n"
    assert textmode.chat_line(ME, None) == b"#general * Ana waves\n"


def test_chat_lines_with_colour() -> None:
    """With colours on, the name alone is wrapped in ESC[38;5;Nm ... ESC[0m."""
    assert textmode.chat_line(SAY, 168) == b"#general <\x1b[38;5;168mAna\x1b[0m> hola\n"
    assert textmode.chat_line(ME, 33) == b"#general * \x1b[38;5;33mAna\x1b[0m waves\n"


def test_private_lines() -> None:
    """*name* text, with the same colour rule for the name."""
    assert textmode.private_line("Ana", "psst", None) == b"*Ana* psst\n"
    assert textmode.private_line("Ana", "psst", 208) == b"*\x1b[38;5;208mAna\x1b[0m* psst\n"


def test_colour_zero_is_a_colour() -> None:
    """xterm colour 0 (black) is still a colour, not 'colours off'."""
    assert colored("Ana", 0) == "\x1b[38;5;0mAna\x1b[0m"
    assert colored("Ana", 255) == "\x1b[38;5;255mAna\x1b[0m"
    assert colored("Ana", None) == "Ana"


def test_text_lines_carry_utf8() -> None:
    """Non-ASCII names and texts are sent as UTF-8."""
    m = Msg(room="#café", sender="José", text="¡olé! 😀")
    assert textmode.chat_line(m, None) == "#café <José> ¡olé! 😀\n".encode()
    assert T.join("#聊天", "李", "#123456") == "@-> JOIN #聊天 李 #123456\n".encode()


def test_no_at_line_has_an_escape() -> None:
    """@-> lines never contain escape sequences (§3), whatever the encoder method."""
    outputs = [
        T.welcome("s", "1", "t"), T.ok("IDENTIFY", None, "Ana", "#e06c75"),
        T.error("X", "m", None, None), T.users("#r", [("Ana", "#e06c75")], None),
        T.rooms([("#r", 1, "t")], None), T.help([("PING", "u")], None),
        T.history_reply("#r", [SAY, ME], None), T.join("#r", "Ana", "#e06c75"),
        T.leave("#r", "Ana", "x"), T.nick("a", "b"), T.quit("a", "b"), T.topic("#r", "a", "t"),
        T.notice("n"), T.ping("p"), T.bye("QUIT", "Quit"),
    ]
    for out in outputs:
        assert ESC not in out
        for line in out.splitlines(keepends=True):
            assert line.startswith(b"@-> ") and line.endswith(b"\n")


# ------------------------------------------------------------------ JSON mode


def test_json_exact_bytes_of_a_message() -> None:
    """Compact UTF-8, fields in the order of §6, one LF."""
    assert jsonmode.message_line(SAY) == (
        b'{"type":"message","id":"000000000000002a","room":"#general","from":"Ana",'
        b'"color":"#e06c75","text":"hola","kind":"say","ts":"2026-11-23T10:00:00.123Z"}\n'
    )


def test_json_exact_bytes_of_an_ok() -> None:
    """The §6 example: type, cmd, ref, then the named fields of the reply."""
    assert J.ok("IDENTIFY", "c1", "Ana", "#e06c75") == (
        b'{"type":"ok","cmd":"identify","ref":"c1","name":"Ana","color":"#e06c75"}\n'
    )


def test_json_non_ascii_is_plain_utf8() -> None:
    """Non-ASCII is sent as UTF-8, not as \\u escapes; it decodes back unchanged."""
    out = J.notice("¡olé! 😀")
    assert "¡olé! 😀".encode() in out
    assert json.loads(out) == {"type": "notice", "text": "¡olé! 😀"}


def load(out: bytes) -> Any:
    assert out.endswith(b"\n") and out.count(b"\n") == 1, out
    return json.loads(out)


@pytest.mark.parametrize(
    ("verb", "values", "expected"),
    [
        ("IDENTIFY", ("Ana", "#e06c75"), {"name": "Ana", "color": "#e06c75"}),
        ("REGISTER", ("Ana",), {"name": "Ana"}),
        ("NICK", ("Bob",), {"name": "Bob"}),
        ("JOIN", ("#r",), {"room": "#r"}),
        ("LEAVE", ("#r",), {"room": "#r"}),
        ("SAY", ("#r",), {"room": "#r"}),
        ("ME", ("#r",), {"room": "#r"}),
        ("MSG", ("Bob",), {"to": "Bob"}),
        ("USERS", (2,), {"count": 2}),
        ("ROOMS", (3,), {"count": 3}),
        ("TOPIC", ("#r", "tea"), {"room": "#r", "text": "tea"}),
        ("TOPIC", ("#r", ""), {"room": "#r", "text": ""}),
        ("HISTORY", ("#r", 0), {"room": "#r", "count": 0}),
        ("COLOR", ("#abcdef",), {"color": "#abcdef"}),
        ("COLORS", ("on",), {"mode": "on"}),
        ("PROTO", ("json",), {"mode": "json"}),
        ("PING", ("tok",), {"token": "tok"}),
        ("HELP", (), {}),
    ],
)
def test_json_ok_field_names_per_verb(
    verb: str, values: tuple[Any, ...], expected: dict[str, Any]
) -> None:
    """The ok of each verb names the fields of its §2 text reply."""
    assert load(J.ok(verb, None, *values)) == {"type": "ok", "cmd": verb.lower(), **expected}
    assert load(J.ok(verb, 7, *values)) == {"type": "ok", "cmd": verb.lower(), "ref": 7, **expected}


def test_every_verb_with_an_ok_has_field_names() -> None:
    """Every verb but PONG (no reply) and QUIT (BYE) has its ok fields named."""
    assert set(OK_FIELDS) == {v.value for v in Verb} - {"PONG", "QUIT"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("NAME_IN_USE", "taken", "IDENTIFY", "c1"),
         {"type": "error", "cmd": "identify", "ref": "c1", "code": "NAME_IN_USE",
          "message": "taken"}),
        (("INVALID_ROOM", "bad", "JOIN", None),
         {"type": "error", "cmd": "join", "code": "INVALID_ROOM", "message": "bad"}),
        (("LINE_TOO_LONG", "long", None, None),
         {"type": "error", "cmd": None, "code": "LINE_TOO_LONG", "message": "long"}),
        (("BAD_ARGUMENT", "no", "HISTORY", 3.5),
         {"type": "error", "cmd": "history", "ref": 3.5, "code": "BAD_ARGUMENT",
          "message": "no"}),
    ],
)
def test_json_errors(args: tuple[Any, ...], expected: dict[str, Any]) -> None:
    """Errors always have cmd (null if unknown) and have ref only when given (DECISIONS #13)."""
    got = load(J.error(*args))
    assert got == expected
    assert list(got) == list(expected)  # field order too


def test_json_error_exact_bytes() -> None:
    """An error line byte for byte."""
    assert J.error("BAD_JSON", "send one JSON object per line", None, None) == (
        b'{"type":"error","cmd":null,"code":"BAD_JSON","message":"send one JSON object per line"}\n'
    )


def test_json_users_list() -> None:
    """USERS: the list of {name, color} in the ok, with its count."""
    users = [("Ana", "#e06c75"), ("Bob", "#000000")]
    got = load(J.users("#r", users, "u1"))
    assert got["type"] == "ok" and got["cmd"] == "users" and got["ref"] == "u1"
    assert got["count"] == 2
    assert got["users"] == [{"name": "Ana", "color": "#e06c75"}, {"name": "Bob", "color": "#000000"}]
    everyone = load(J.users(None, iter(users), None))
    assert "ref" not in everyone and everyone["count"] == 2


def test_json_rooms_list() -> None:
    """ROOMS: the list of {room, count, topic} in the ok."""
    assert load(J.rooms([("#a", 2, "tea"), ("#b", 1, "")], None)) == {
        "type": "ok", "cmd": "rooms", "count": 2,
        "rooms": [{"room": "#a", "count": 2, "topic": "tea"},
                  {"room": "#b", "count": 1, "topic": ""}],
    }


def test_json_help_list() -> None:
    """HELP: the list of {verb, usage} in the ok."""
    assert load(J.help([("PING", "@<- PING [token]")], "h")) == {
        "type": "ok", "cmd": "help", "ref": "h",
        "commands": [{"verb": "PING", "usage": "@<- PING [token]"}],
    }


def message_dict(m: Msg) -> dict[str, Any]:
    return {"type": "message", "id": m.id, "room": m.room, "from": m.sender, "color": m.color,
            "text": m.text, "kind": m.kind, "ts": m.ts}


def test_json_history_reply_and_event() -> None:
    """HISTORY: messages in the ok with room and count; the event has the list, also empty."""
    assert load(J.history_reply("#general", [SAY, ME], 9)) == {
        "type": "ok", "cmd": "history", "ref": 9, "room": "#general", "count": 2,
        "messages": [message_dict(SAY), message_dict(ME)],
    }
    assert load(J.history("#general", [SAY])) == {
        "type": "history", "room": "#general", "messages": [message_dict(SAY)],
    }
    assert load(J.history("#new", [])) == {"type": "history", "room": "#new", "messages": []}


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (J.welcome("tertulia", "0.1.0", "hi"),
         {"type": "welcome", "server": "tertulia", "version": "0.1.0", "text": "hi"}),
        (J.join("#r", "Ana", "#e06c75"),
         {"type": "join", "room": "#r", "name": "Ana", "color": "#e06c75"}),
        (J.leave("#r", "Ana", "left"), {"type": "leave", "room": "#r", "name": "Ana", "reason": "left"}),
        (J.nick("Ana", "Bob"), {"type": "nick", "old": "Ana", "new": "Bob"}),
        (J.quit("Ana", "Quit"), {"type": "quit", "name": "Ana", "reason": "Quit"}),
        (J.topic("#r", "Ana", "tea"), {"type": "topic", "room": "#r", "name": "Ana", "text": "tea"}),
        (J.notice("hello"), {"type": "notice", "text": "hello"}),
        (J.ping("t1"), {"type": "ping", "token": "t1"}),
        (J.bye("SERVER_SHUTDOWN", "bye"), {"type": "bye", "code": "SERVER_SHUTDOWN", "text": "bye"}),
    ],
)
def test_json_events(got: bytes, expected: dict[str, Any]) -> None:
    """Each event has its type and the fields of the text line of that name, named."""
    assert load(got) == expected


def test_json_message_with_and_without_ref() -> None:
    """A message carries ref only in the sender's copy."""
    assert load(jsonmode.message_line(ME)) == message_dict(ME)
    assert load(jsonmode.message_line(SAY, "s1")) == {**message_dict(SAY), "ref": "s1"}


def test_json_private_message() -> None:
    """A private message has id, from, to, color, text, ts; ref only for the sender."""
    expected = {"type": "private", "id": "p1-2", "from": "Ana", "to": "Bob", "color": "#e06c75",
                "text": "psst", "ts": TS}
    assert load(jsonmode.private_line("p1-2", "Ana", "Bob", "#e06c75", "psst", TS)) == expected
    assert load(jsonmode.private_line("p1-2", "Ana", "Bob", "#e06c75", "psst", TS, 5)) == {
        **expected, "ref": 5,
    }


UNUSUAL = [
    "line\nbreak",
    "cr\rhere",
    "crlf\r\n",
    "\x00\x1b[2J\x07",
    "\u0085 next line",
    "\u2028 line sep \u2029 para sep",
    'quote " and backslash \\',
    "\t tab",
    "\ufeff bom",
    "😀 astral",
    "\u202e rtl",
    "}{",
]


@pytest.mark.parametrize("text", UNUSUAL)
def test_json_has_no_raw_newline(text: str) -> None:
    """Whatever the text, each JSON output is one line (one LF, no CR) that decodes back."""
    m = Msg(text=text)
    outputs = [
        J.notice(text), J.topic("#r", "Ana", text), J.error("X", text, None, text),
        J.quit("Ana", text), jsonmode.message_line(m, text),
        jsonmode.private_line("p", "Ana", "Bob", "#000000", text, TS),
        J.history_reply("#r", [m, m], None),
    ]
    for out in outputs:
        assert out.count(b"\n") == 1 and out.endswith(b"\n")
        assert b"\r" not in out
    assert load(J.notice(text))["text"] == text
    assert load(jsonmode.message_line(m, text))["ref"] == text


def test_encoders_have_the_same_methods() -> None:
    """The core picks an encoder per connection and calls the same methods on either."""
    public = {n for n in dir(TextEncoder) if not n.startswith("_")}
    assert public == {n for n in dir(JsonEncoder) if not n.startswith("_")}
    assert T.mode == "text" and J.mode == "json"


def test_ok_of_every_verb_in_text_matches_the_json_field_count() -> None:
    """Text OK lines carry the same values the JSON ok names, in the same order."""
    samples: dict[str, tuple[Any, ...]] = {
        "IDENTIFY": ("Ana", "#e06c75"), "TOPIC": ("#r", "tea"), "HISTORY": ("#r", 4),
    }
    for verb, names in OK_FIELDS.items():
        values = samples.get(verb, tuple(f"v{i}" for i in range(len(names))))
        text = T.ok(verb, None, *values).decode()
        assert text == " ".join(["@-> OK", verb, *map(str, values)]) + "\n"
        obj = load(J.ok(verb, None, *values))
        assert [obj[n] for n in names] == list(values)


def test_bye_as_the_reply_to_quit_carries_its_ref() -> None:
    """The BYE answering a JSON quit echoes its ref; text mode has no ref to show."""
    assert J.bye("QUIT", "Quit", "q1") == (
        b'{"type":"bye","code":"QUIT","text":"Quit","ref":"q1"}\n'
    )
    assert load(J.bye("SERVER_SHUTDOWN", "bye")) == {
        "type": "bye", "code": "SERVER_SHUTDOWN", "text": "bye"}
    assert T.bye("QUIT", "Quit", "q1") == b"@-> BYE QUIT Quit\n"
