"""LineSplitter (protocol/lines.py): framing of PROTOCOL.md §1 and DECISIONS #15."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from itertools import pairwise

import pytest

from tertulia.protocol.lines import TOO_LONG, Line, LineSplitter, frame_line

Chunker = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def pairs(data: bytes) -> list[bytes]:
    return [data[i : i + 2] for i in range(0, len(data), 2)]


def random_splits(seed: int) -> Chunker:
    def chunker(data: bytes) -> list[bytes]:
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 12))))
        bounds = [0, *cuts, len(data)]
        # Empty chunks on purpose too: feeding b"" must change nothing.
        return [data[a:b] for a, b in pairwise(bounds)]

    return chunker


CHUNKERS: dict[str, Chunker] = {
    "whole": whole,
    "bytewise": bytewise,
    "pairs": pairs,
    **{f"random{seed}": random_splits(seed) for seed in range(6)},
}


@pytest.fixture(params=list(CHUNKERS), ids=list(CHUNKERS))
def chunker(request: pytest.FixtureRequest) -> Chunker:
    return CHUNKERS[request.param]


def feed_all(splitter: LineSplitter, chunks: Iterable[bytes]) -> list[Line]:
    out: list[Line] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
        assert splitter.buffered <= splitter.max_line + 1
    return out


def split(data: bytes, chunker: Chunker, max_line: int = 8) -> list[Line]:
    return feed_all(LineSplitter(max_line), chunker(data))


# (stream, max_line 8) -> lines; every chunker must give exactly these.
CASES: list[tuple[bytes, list[Line]]] = [
    (b"hello\nworld\n", [b"hello", b"world"]),
    (b"no end", []),
    (b"a\r\nb\r\n", [b"a", b"b"]),
    (b"a\rb\n", [b"a\rb"]),
    (b"\ra\n", [b"\ra"]),
    (b"a\r\r\n", [b"a\r"]),
    (b"\r\r\n", [b"\r"]),
    (b"\n\n\r\n\na\n\n\r\n", [b"a"]),
    (b"12345678\n", [b"12345678"]),
    (b"12345678\r\n", [b"12345678"]),
    (b"123456789\n", [TOO_LONG]),
    (b"123456789\r\n", [TOO_LONG]),
    (b"1234567\r\r\n", [b"1234567\r"]),
    (b"12345678\r\r\n", [TOO_LONG]),
    (b"a\n123456789012345678901234567890\nb\n", [b"a", TOO_LONG, b"b"]),
    (b"123456789\n123456789\nok\n", [TOO_LONG, TOO_LONG, b"ok"]),
    (b"123456789", [TOO_LONG]),
    (b"12345678\r", []),
    (b"12345678\rx", [TOO_LONG]),
    (b"x" * 100 + b"\r\n" + b"y" * 8 + b"\r\n", [TOO_LONG, b"y" * 8]),
    (b"\xff\xfe\x00\n", [b"\xff\xfe\x00"]),  # framing does not look at the encoding
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_same_lines_whatever_the_split(chunker: Chunker, data: bytes, expected: list[Line]) -> None:
    """Whole, byte by byte, in pairs and at random cuts the stream gives the same lines."""
    assert split(data, chunker) == expected


def test_partial_line_is_held_until_its_lf() -> None:
    """A line without LF yet is kept in the buffer and completed by a later chunk."""
    s = LineSplitter(16)
    assert s.feed(b"hel") == []
    assert s.buffered == 3
    assert s.feed(b"lo") == []
    assert s.feed(b"\nnext") == [b"hello"]
    assert s.buffered == 4
    assert s.feed(b"") == []
    assert s.feed(b"\n") == [b"next"]
    assert s.buffered == 0


def test_feed_returns_only_lines_completed_by_that_chunk() -> None:
    """Each feed() returns the lines it completes, in order, and nothing twice."""
    s = LineSplitter(16)
    assert s.feed(b"a\nb\nc") == [b"a", b"b"]
    assert s.feed(b"\n") == [b"c"]
    assert s.feed(b"\n") == []


def test_cr_then_lf_in_separate_chunks_is_one_line_end() -> None:
    """A CR at the end of one chunk and the LF at the start of the next is still CRLF."""
    s = LineSplitter(16)
    assert s.feed(b"abc\r") == []
    assert s.feed(b"\ndef\r") == [b"abc"]
    assert s.feed(b"x\n") == [b"def\rx"]


def test_exactly_max_line_is_accepted() -> None:
    """A line of exactly max_line bytes (with or without a CR) is a normal line."""
    for max_line in (1, 2, 7, 4096):
        line = b"z" * max_line
        assert split(line + b"\n", bytewise, max_line) == [line]
        assert split(line + b"\r\n", bytewise, max_line) == [line]
        assert split(line + b"\n", whole, max_line) == [line]
        assert split(line + b"\r\n", whole, max_line) == [line]


def test_max_line_plus_one_is_exactly_one_too_long(chunker: Chunker) -> None:
    """max_line+1 bytes give exactly one TOO_LONG and the line itself is never returned."""
    for tail in (b"\n", b"\r\n"):
        out = split(b"q" * 9 + tail, chunker)
        assert out == [TOO_LONG]


def test_too_long_is_reported_as_soon_as_the_excess_is_certain() -> None:
    """TOO_LONG comes with byte max_line+1 (not CR), before any LF arrives."""
    s = LineSplitter(8)
    for i in range(8):
        assert s.feed(b"a") == [], i
    assert s.feed(b"a") == [TOO_LONG]


def test_a_cr_at_max_line_plus_one_waits_for_the_next_byte() -> None:
    """After max_line bytes a CR may still end the line, so the verdict waits one byte."""
    s = LineSplitter(8)
    assert s.feed(b"a" * 8 + b"\r") == []
    assert s.feed(b"\n") == [b"a" * 8]

    s = LineSplitter(8)
    assert s.feed(b"a" * 8 + b"\r") == []
    assert s.feed(b"b") == [TOO_LONG]

    s = LineSplitter(8)
    assert s.feed(b"a" * 8 + b"\r") == []
    assert s.feed(b"\r") == [TOO_LONG]


def test_rest_of_too_long_line_is_discarded_then_lines_continue() -> None:
    """After TOO_LONG nothing is reported until the LF, then normal lines come again."""
    s = LineSplitter(8)
    assert s.feed(b"x" * 20) == [TOO_LONG]
    assert s.buffered <= 9
    for _ in range(100):
        assert s.feed(b"more junk\r") == []
    assert s.feed(b"tail\nok\n") == [b"ok"]
    assert s.feed(b"123456789") == [TOO_LONG]
    assert s.feed(b"\n") == []
    assert s.feed(b"12345678\n") == [b"12345678"]


def test_too_long_lines_back_to_back_each_get_one_marker(chunker: Chunker) -> None:
    """Several over-long lines in a row give one marker each, in order with good lines."""
    data = b"".join(b"L" * n + b"\n" for n in (9, 50, 8, 100, 1, 9)) + b"end\n"
    expected = [TOO_LONG, TOO_LONG, b"L" * 8, TOO_LONG, b"L", TOO_LONG, b"end"]
    assert split(data, chunker) == expected


def test_buffer_is_bounded_when_fed_20_mb_without_lf() -> None:
    """20 MB with no LF: one TOO_LONG, buffered never above max_line+1, then back to normal."""
    s = LineSplitter()  # default 4096
    chunk = b"A" * 65536
    markers = 0
    for _ in range(20 * 16):  # 20 MiB
        out = s.feed(chunk)
        markers += out.count(TOO_LONG)
        assert len(out) == out.count(TOO_LONG)
        assert s.buffered <= 4097
    assert markers == 1
    assert s.feed(b"\r\nafter\r\n") == [b"after"]


def test_buffer_is_bounded_byte_by_byte() -> None:
    """Fed one byte at a time, the buffer never holds more than max_line+1 bytes."""
    s = LineSplitter(16)
    data = (b"x" * 40 + b"\r") * 5 + b"\n" + b"y" * 16 + b"\r"
    seen: list[Line] = []
    for i in range(len(data)):
        seen.extend(s.feed(data[i : i + 1]))
        assert s.buffered <= 17
    assert seen == [TOO_LONG]
    assert s.buffered == 17  # 16 bytes + a CR that may still be followed by LF
    assert s.feed(b"\n") == [b"y" * 16]


def test_the_default_limit_is_4096() -> None:
    """PROTOCOL.md §5: the default max line is 4096 bytes."""
    assert LineSplitter().max_line == 4096
    assert split(b"k" * 4096 + b"\n", whole, 4096) == [b"k" * 4096]
    assert split(b"k" * 4097 + b"\n", whole, 4096) == [TOO_LONG]


def test_max_line_must_be_positive() -> None:
    """A limit below one byte is a configuration error."""
    with pytest.raises(ValueError):
        LineSplitter(0)


@pytest.mark.timeout(60)
def test_one_megabyte_line_fed_byte_by_byte_is_linear() -> None:
    """A 1 MB line fed in 1-byte chunks completes (a quadratic re-scan would not)."""
    size = 1 << 20
    s = LineSplitter(size)
    feed = s.feed
    byte = b"m"
    for _ in range(size):
        feed(byte)
    assert s.buffered == size
    out = feed(b"\n")
    assert len(out) == 1 and out[0] == byte * size


@pytest.mark.timeout(60)
def test_one_megabyte_of_short_lines_byte_by_byte() -> None:
    """1 MB of short lines in 1-byte chunks gives every line exactly once."""
    line = b"0123456789" * 10 + b"\r\n"
    data = line * ((1 << 20) // len(line))
    s = LineSplitter(4096)
    count = 0
    for i in range(len(data)):
        for got in s.feed(data[i : i + 1]):
            assert got == line[:-2]
            count += 1
    assert count == len(data) // len(line)


# ---------------------------------------------------------------- WebSocket frames


@pytest.mark.parametrize(
    ("payload", "line"),
    [
        (b"hola", b"hola"),
        (b"hola\n", b"hola"),
        (b"hola\r\n", b"hola"),
        (b"hola\r", b"hola"),
        (b"", None),
        (b"\n", None),
        (b"\r\n", None),
        (b"a\nb", b"a\nb"),  # one frame is one line
        (b"x" * 16, b"x" * 16),
        (b"x" * 16 + b"\r\n", b"x" * 16),
        (b"x" * 17, TOO_LONG),
    ],
)
def test_frame_line_follows_the_line_rules(payload: bytes, line: object) -> None:
    assert frame_line(payload, 16) == line
