"""A token bucket for lines per second per connection (PROTOCOL.md §5).

The clock is passed in on every call, so the bucket has no time source of its
own and tests drive it with plain numbers.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``.  ``rate == 0`` turns it off."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means the line is over the rate."""
        if self.rate <= 0:
            return True
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0 - 1e-9:  # tolerate float rounding at exactly the rate
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
