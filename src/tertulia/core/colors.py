"""User colours: the palette, the random draw, and the nearest xterm-256 colour.

The palette has 20 mid-lightness colours with a contrast of at least 3:1 on
white and 4.4:1 on black (WCAG formula), so a name reads in dark and light
terminals alike, and no two of them map to the same xterm-256 colour.  A new
user draws at random among the colours no online user holds, and from the
whole palette once every colour is taken.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import lru_cache

PALETTE: tuple[str, ...] = (
    "#e06c75",
    "#b78659",
    "#789b5e",
    "#4a9faa",
    "#5599d2",
    "#b05fc8",
    "#be5046",
    "#29a862",
    "#c8649f",
    "#a57fd8",
    "#e77347",
    "#2e9e9e",
    "#b5890a",
    "#7d9a2c",
    "#db6c2c",
    "#8e7cc3",
    "#c2579a",
    "#5c9e5c",
    "#d17747",
    "#b76e2d",
)


def _xterm_table() -> list[tuple[int, tuple[int, int, int]]]:
    steps = (0, 95, 135, 175, 215, 255)
    table = []
    for i in range(216):
        r, g, b = steps[i // 36], steps[(i // 6) % 6], steps[i % 6]
        table.append((16 + i, (r, g, b)))
    for i in range(24):
        v = 8 + 10 * i
        table.append((232 + i, (v, v, v)))
    return table


_XTERM = _xterm_table()


@lru_cache(maxsize=4096)
def xterm256(color: str) -> int:
    """The xterm-256 colour (16-255) nearest to ``#RRGGBB``, by squared RGB distance."""
    r, g, b = int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    return min(_XTERM, key=lambda e: (e[1][0] - r) ** 2 + (e[1][1] - g) ** 2 + (e[1][2] - b) ** 2)[
        0
    ]


class ColorBook:
    """Counts the colours held by online users and draws fresh ones.

    Args:
        rng: the random source (injected so tests can seed it).
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._held: Counter[str] = Counter()

    def draw(self, avoid: str | None = None) -> str:
        """A random palette colour that nobody online holds, if any is free."""
        free = [c for c in PALETTE if not self._held[c] and c != avoid]
        return self._rng.choice(free or [c for c in PALETTE if c != avoid])

    def hold(self, color: str) -> None:
        self._held[color] += 1

    def release(self, color: str) -> None:
        self._held[color] -= 1
        if self._held[color] <= 0:
            del self._held[color]
