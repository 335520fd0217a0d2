"""Property tests of the protocol layer (hypothesis): framing, parsing, scrubbing, encoders."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tertulia.protocol import jsonmode, textmode
from tertulia.protocol.commands import (
    Command,
    Verb,
    chat_line,
    is_command,
    json_args,
    split_json,
    split_text,
    text_args,
)
from tertulia.protocol.errors import ErrorCode, ProtocolError
from tertulia.protocol.jsonmode import JsonEncoder
from tertulia.protocol.lines import TOO_LONG, Line, LineSplitter
from tertulia.protocol.names import fold, scrub
from tertulia.protocol.textmode import TextEncoder

FAST = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

NEVER_RELAYED = frozenset(
    chr(c)
    for lo, hi in ((0x00, 0x08), (0x0A, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069))
    for c in range(lo, hi + 1)
)

# ------------------------------------------------------------------ strategies

#: Any character, with the never-relayed ones and lone surrogates made common.
any_char = st.one_of(
    st.characters(),
    st.sampled_from(sorted(NEVER_RELAYED)),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\t", " ", "#", "@", "\u2028", "\u0301", "ß", "ǅ", "ﬁ", "😀"]),
)
wild_text = st.text(alphabet=any_char, max_size=40)
#: What a strict UTF-8 decode can give: the same, without lone surrogates.
#: Text as a line decodes to: UTF-8 never yields a lone surrogate (category Cs).
decoded_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)), st.sampled_from(sorted(NEVER_RELAYED))
    ),
    max_size=40,
)
#: Text as it can reach the encoders: valid Unicode (surrogates never get past parsing).
unicode_text = st.text(max_size=60)

ID = "000000000000002a"
TOKENS = [
    b"@<- ", b"@<-", b" ", b"  ", b"\n", b"\r\n", b"\r", b"\t", b"\x1b[2J", b"\xff", b"\xc3",
    b"#room", b"#", b"Ana", b"1", b"0", b"-1", b"501", b"before ", b"after ", ID.encode(),
    b"on", b"json", b"#e06c75", b'{"cmd":', b'"say"', b'"ping"', b'"history"', b',"text":',
    b',"room":', b',"ref":', b',"limit":', b',"to":', b'"x"', b'"\\ud800"', b"NaN", b"1e400",
    b"}", b"{", b"[", b"]", b"null", b"true", b"\xe2\x80\xae",
    *(v.value.encode() + b" " for v in Verb),
]
soup = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6), wild_text.map(
        lambda s: s.encode("utf-8", "surrogatepass"))),
    max_size=40,
).map(b"".join)
stream = st.one_of(st.binary(max_size=300), soup)

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), wild_text,
    st.sampled_from(["#room", "Ana", ID, "on", "json", "", "#e06c75", "10"]),
)
json_value = st.recursive(
    json_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                      max_size=3),
    max_leaves=4,
)
FIELDS = ["name", "password", "old", "new", "room", "text", "to", "limit", "before", "after",
          "color", "token", "reason", "mode", "verb", "ref"]
json_command = st.builds(
    lambda cmd, extra: {"cmd": cmd, **extra},
    st.one_of(st.sampled_from([v.value.lower() for v in Verb]), json_value),
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=6),
)


def chunks_of(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def parse(line: Line, mode: str) -> Command | None:
    """What the session does with one framed line, minus the session."""
    if line is TOO_LONG:
        return None
    assert isinstance(line, bytes)
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.BAD_ENCODING, "lines must be UTF-8") from None
    if mode == "json":
        verb, obj = split_json(text)
        return json_args(verb, obj)
    if is_command(text):
        verb, rest = split_text(text)
        return text_args(verb, rest)
    return chat_line(text)


def check_command(cmd: Command) -> None:
    """What a parsed command may carry: sendable UTF-8, no never-relayed characters
    outside the passwords (never relayed) and the ref (echoed only to its sender, JSON-escaped:
    PROTOCOL.md §6 lets it be any string), and a ref that can be echoed as valid JSON."""
    for key, value in asdict(cmd).items():
        if isinstance(value, str):
            value.encode()  # no lone surrogates
            if key not in ("password", "new_password", "ref"):
                assert not NEVER_RELAYED.intersection(value), (key, value)
    if isinstance(cmd.ref, float):
        assert math.isfinite(cmd.ref)
    if cmd.ref is not None:
        json.loads(jsonmode.encode({"ref": cmd.ref}))


# ------------------------------------------------------------------ properties


@FAST
@given(data=stream, cuts=st.lists(st.integers(0, 400), max_size=8),
       mode=st.sampled_from(["text", "json"]), max_line=st.sampled_from([16, 64, 4096]))
def test_no_byte_stream_crashes_framing_decoding_or_parsing(
    data: bytes, cuts: list[int], mode: str, max_line: int
) -> None:
    """Any bytes, split anyhow, only ever give commands or ProtocolError."""
    splitter = LineSplitter(max_line)
    for chunk in chunks_of(data + b"\n", cuts):
        for line in splitter.feed(chunk):
            try:
                cmd = parse(line, mode)
            except ProtocolError as exc:
                assert isinstance(exc.code, ErrorCode) and exc.message
                continue
            if cmd is not None:
                check_command(cmd)


@FAST
@given(obj=json_command)
def test_no_json_object_crashes_parsing(obj: dict[str, Any]) -> None:
    """Any JSON object with any field values parses or raises only ProtocolError."""
    line = json.dumps(obj)  # ensure_ascii: lone surrogates become \\udxxx escapes
    try:
        verb, fields = split_json(line)
        cmd = json_args(verb, fields)
    except ProtocolError as exc:
        assert exc.message
        return
    check_command(cmd)


@FAST
@given(verb=st.sampled_from(list(Verb)), args=decoded_text)
def test_no_text_command_crashes_parsing(verb: Verb, args: str) -> None:
    """Any (UTF-8 decodable) arguments to any verb parse or raise only ProtocolError."""
    try:
        cmd = text_args(verb, args)
    except ProtocolError as exc:
        assert exc.message
        return
    check_command(cmd)


def reference_lines(data: bytes, max_line: int) -> list[Line]:
    """A slow, obviously right model of §1 framing plus DECISIONS #15."""
    *complete, partial = data.split(b"\n")
    out: list[Line] = []
    for line in complete:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > max_line:
            out.append(TOO_LONG)
        elif line:
            out.append(line)
    if len(partial) > max_line + 1 or (len(partial) == max_line + 1 and not partial.endswith(b"\r")):
        out.append(TOO_LONG)  # reported before its LF
    return out


framing_stream = st.one_of(
    st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b"\r\n", b"xyz"]), max_size=80)
    .map(b"".join),
    st.binary(max_size=200),
)


@FAST
@given(data=framing_stream, cuts=st.lists(st.integers(0, 400), max_size=10),
       max_line=st.integers(1, 12))
def test_any_split_gives_the_same_lines(data: bytes, cuts: list[int], max_line: int) -> None:
    """Split anywhere, the stream gives the lines of the reference model; memory stays bounded."""
    whole = LineSplitter(max_line).feed(data)
    pieces: list[Line] = []
    splitter = LineSplitter(max_line)
    for chunk in chunks_of(data, cuts):
        pieces.extend(splitter.feed(chunk))
        assert splitter.buffered <= max_line + 1
    assert whole == pieces == reference_lines(data, max_line)


@FAST
@given(s=wild_text)
def test_fold_is_idempotent(s: str) -> None:
    """fold(fold(s)) == fold(s) for any string."""
    assert fold(fold(s)) == fold(s)


@FAST
@given(s=wild_text)
def test_scrub_never_leaves_a_never_relayed_character(s: str) -> None:
    """scrub removes every §1 character, keeps everything else in order, and is idempotent."""
    out = scrub(s)
    assert not NEVER_RELAYED.intersection(out)
    assert out == "".join(c for c in s if c not in NEVER_RELAYED)
    assert scrub(out) == out


# ------------------------------------------------------------------ encoders


@dataclass(frozen=True)
class Msg:
    id: str
    room: str
    sender: str
    color: str
    text: str
    kind: str
    ts: str


NAME_CHARS = "abcxyzABCXYZéñßЖ李0123456789_.-"
names = st.builds(str.__add__, st.sampled_from("aZéЖ李"), st.text(NAME_CHARS, max_size=15))
rooms = st.text(NAME_CHARS, min_size=1, max_size=20).map("#".__add__)
colors = st.integers(0, 0xFFFFFF).map("#{:06x}".format)
refs = st.one_of(st.none(), unicode_text, st.integers(),
                 st.floats(allow_nan=False, allow_infinity=False))
messages = st.builds(
    Msg, id=st.binary(min_size=8, max_size=8).map(bytes.hex), room=rooms, sender=names,
    color=colors, text=unicode_text, kind=st.sampled_from(["say", "me"]),
    ts=st.just("2026-11-23T10:00:00.123Z"),
)


def one_json_line(out: bytes) -> Any:
    assert out.endswith(b"\n") and out.count(b"\n") == 1 and b"\r" not in out
    return json.loads(out)


def as_dict(m: Msg) -> dict[str, Any]:
    return {"type": "message", "id": m.id, "room": m.room, "from": m.sender, "color": m.color,
            "text": m.text, "kind": m.kind, "ts": m.ts}


@FAST
@given(text=unicode_text, name=names, room=rooms, color=colors, ref=refs, m=messages)
def test_json_encoding_round_trips(
    text: str, name: str, room: str, color: str, ref: Any, m: Msg
) -> None:
    """decode(encode(x)) gives back exactly the fields, for any text and ref."""
    j = JsonEncoder()
    with_ref = {} if ref is None else {"ref": ref}
    assert one_json_line(j.notice(text)) == {"type": "notice", "text": text}
    assert one_json_line(j.topic(room, name, text)) == {
        "type": "topic", "room": room, "name": name, "text": text}
    assert one_json_line(j.quit(name, text)) == {"type": "quit", "name": name, "reason": text}
    assert one_json_line(j.leave(room, name, text)) == {
        "type": "leave", "room": room, "name": name, "reason": text}
    assert one_json_line(j.bye("QUIT", text)) == {"type": "bye", "code": "QUIT", "text": text}
    assert one_json_line(j.ping(text)) == {"type": "ping", "token": text}
    assert one_json_line(j.welcome(name, text, text)) == {
        "type": "welcome", "server": name, "version": text, "text": text}
    assert one_json_line(j.error("BAD_ARGUMENT", text, "SAY", ref)) == {
        "type": "error", "cmd": "say", **with_ref, "code": "BAD_ARGUMENT", "message": text}
    assert one_json_line(j.ok("TOPIC", ref, room, text)) == {
        "type": "ok", "cmd": "topic", **with_ref, "room": room, "text": text}
    assert one_json_line(jsonmode.message_line(m, ref)) == {**as_dict(m), **with_ref}
    assert one_json_line(jsonmode.private_line("p1", name, m.sender, color, text, m.ts, ref)) == {
        "type": "private", "id": "p1", "from": name, "to": m.sender, "color": color,
        "text": text, "ts": m.ts, **with_ref}
    assert one_json_line(j.history(room, [m, m])) == {
        "type": "history", "room": room, "messages": [as_dict(m), as_dict(m)]}
    assert one_json_line(j.rooms([(room, 3, text)], ref)) == {
        "type": "ok", "cmd": "rooms", **with_ref, "count": 1,
        "rooms": [{"room": room, "count": 3, "topic": text}]}


@FAST
@given(raw=unicode_text, name=names, room=rooms, color=colors, m=messages,
       xterm=st.integers(0, 255))
def test_text_lines_never_carry_escapes_or_inner_newlines(
    raw: str, name: str, room: str, color: str, m: Msg, xterm: int
) -> None:
    """With scrubbed text, no @-> line has ESC and every line ends at its only LF."""
    text = scrub(raw)
    m = Msg(m.id, m.room, m.sender, m.color, scrub(m.text), m.kind, m.ts)
    t = TextEncoder()
    single = [
        t.notice(text), t.topic(room, name, text), t.quit(name, text), t.leave(room, name, text),
        t.bye("QUIT", text), t.ping(text), t.welcome("tertulia", "1", text),
        t.error("BAD_ARGUMENT", text, None, None), t.ok("TOPIC", None, room, text),
        t.join(room, name, color), t.nick(name, name),
    ]
    for out in single:
        assert b"\x1b" not in out
        assert out.startswith(b"@-> ") and out.endswith(b"\n") and out.count(b"\n") == 1
    multi = [
        (t.history_reply(room, [m, m], None), 3),
        (t.rooms([(room, 1, text), (room, 2, "")], None), 3),
        (t.users(room, [(name, color)] * 2, None), 3),
        (t.help([("PING", text)], None), 2),
    ]
    for out, lines in multi:
        assert b"\x1b" not in out
        assert out.count(b"\n") == lines and out.endswith(b"\n")
        assert all(line.startswith(b"@-> ") for line in out.split(b"\n")[:-1])
    for plain in (textmode.chat_line(m, None), textmode.private_line(name, text, None)):
        assert b"\x1b" not in plain and plain.count(b"\n") == 1 and plain.endswith(b"\n")
    # With colours, the two escapes around the name are the only ones.
    colored = textmode.chat_line(m, xterm)
    assert colored.count(b"\x1b") == 2
    assert colored.replace(f"\x1b[38;5;{xterm}m".encode(), b"").replace(b"\x1b[0m", b"") == (
        textmode.chat_line(m, None)
    )
