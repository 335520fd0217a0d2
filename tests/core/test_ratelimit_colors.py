"""The token bucket (PROTOCOL.md §5 --rate/--burst) and the colour helpers (§3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tertulia.core.colors import PALETTE, xterm256
from tertulia.core.ratelimit import TokenBucket

# ----------------------------------------------------------------- token bucket


def test_burst_then_refused() -> None:
    """A full bucket allows ``burst`` lines at once, then refuses."""
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_refill_at_rate() -> None:
    """Tokens come back at ``rate`` per second, one line per token."""
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)  # the half kept from the refused try, plus half
    assert not bucket.take(0.1)


def test_refill_is_capped_at_burst() -> None:
    """A long quiet spell gives back at most ``burst`` tokens."""
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_steady_pace_at_the_rate_is_never_refused() -> None:
    """A client sending exactly ``rate`` lines per second forever is never limited."""
    # burst 2: with burst 1, float rounding of 0.1 s * 10/s (0.999...) can refuse a line.
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    assert all(bucket.take(i / 10) for i in range(1, 1000))


@pytest.mark.parametrize("rate", [0, 0.0, -1])
def test_rate_zero_turns_it_off(rate: float) -> None:
    """rate 0 (or less) never refuses a line."""
    bucket = TokenBucket(rate=rate, burst=1, now=0.0)
    assert all(bucket.take(0.0) for _ in range(10_000))


def test_burst_below_one_still_allows_one_line() -> None:
    """A burst under 1 is treated as 1, so some line can always pass."""
    bucket = TokenBucket(rate=1, burst=0, now=0.0)
    assert bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.take(1.0)


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 40),
    gaps=st.lists(st.floats(0, 2), max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Over any run, allowed lines <= burst + rate * elapsed time."""
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        allowed += bucket.take(now)
        assert allowed <= burst + rate * now + 1e-6


# ----------------------------------------------------------------- palette


def test_palette_has_at_least_16_distinct_lowercase_colours() -> None:
    """Enough distinct #rrggbb colours for a room's users to tell apart."""
    assert len(PALETTE) >= 16
    assert len(set(PALETTE)) == len(PALETTE)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in PALETTE)


def _luminance(color: str) -> float:
    def channel(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("color", PALETTE)
def test_palette_reads_on_dark_and_light_terminals(color: str) -> None:
    """Each colour reads well on black (WCAG >= 4:1) and stays visible on white (>= 2:1)."""
    lum = _luminance(color)
    assert (lum + 0.05) / 0.05 >= 4.0
    assert 1.05 / (lum + 0.05) >= 2.0


# ----------------------------------------------------------------- xterm-256


def _reference_table() -> list[tuple[int, tuple[int, int, int]]]:
    """xterm's 6x6x6 cube (16-231) and grey ramp (232-255), written out independently."""
    levels = [0, 0x5F, 0x87, 0xAF, 0xD7, 0xFF]
    table = [
        (16 + 36 * r + 6 * g + b, (levels[r], levels[g], levels[b]))
        for r in range(6) for g in range(6) for b in range(6)
    ]
    table += [(232 + i, (8 + 10 * i,) * 3) for i in range(24)]
    return table


REFERENCE = _reference_table()


@pytest.mark.parametrize(
    ("color", "index"),
    [
        ("#ff0000", 196),
        ("#00ff00", 46),
        ("#0000ff", 21),
        ("#ffff00", 226),
        ("#00ffff", 51),
        ("#ff00ff", 201),
        ("#000000", 16),
        ("#ffffff", 231),
        ("#5f87af", 67),  # exactly a cube colour
        ("#FF0000", 196),  # case does not matter
    ],
)
def test_pure_and_cube_colours(color: str, index: int) -> None:
    """Colours on xterm's cube map to their own index."""
    assert xterm256(color) == index


@pytest.mark.parametrize(
    ("color", "index"),
    [("#080808", 232), ("#121212", 233), ("#808080", 244), ("#b2b2b2", 249), ("#eeeeee", 255)],
)
def test_greys_use_the_grey_ramp(color: str, index: int) -> None:
    """Mid greys map to the 232-255 ramp, which is closer than the cube's few greys."""
    assert xterm256(color) == index


def test_palette_colours_are_not_shown_grey() -> None:
    """No user colour collapses to black, white or a grey in a 256-colour terminal."""
    for color in PALETTE:
        index = xterm256(color)
        assert 16 < index < 231, color
        r, g, b = dict(REFERENCE)[index]
        assert not r == g == b, color


@given(st.integers(0, 0xFFFFFF))
def test_xterm256_is_the_nearest_entry(value: int) -> None:
    """For any colour, the answer is in 16-255 and no table entry is strictly nearer."""
    color = f"#{value:06x}"
    index = xterm256(color)
    assert 16 <= index <= 255
    rgb = (value >> 16, (value >> 8) & 0xFF, value & 0xFF)

    def dist(entry: tuple[int, int, int]) -> int:
        return sum((a - b) ** 2 for a, b in zip(entry, rgb, strict=True))

    best = min(dist(e) for _, e in REFERENCE)
    assert dist(dict(REFERENCE)[index]) == best
