"""Token buckets: lines per second per connection (PROTOCOL.md §5), connections per address.

The clock is passed in on every call, so nothing here has a time source of
its own and tests drive it with plain numbers.
"""

from __future__ import annotations

import ipaddress


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

    def full(self, now: float) -> bool:
        """True when the bucket has refilled to ``burst`` by ``now``."""
        return self._tokens + (now - self._stamp) * self.rate >= self.burst


class ConnectionRateLimiter:
    """New connections per second per address, on top of ``--max-per-ip``.

    Each address (an IPv6 address counts as its /64, which one host usually
    holds whole) has a :class:`TokenBucket` of ``burst`` connections that
    refills at ``rate`` per second.  Every attempt spends a token, refused or
    not, so a client that keeps hammering stays refused.  Addresses in
    ``exempt`` (networks such as ``127.0.0.0/8``: local bots, a reverse
    proxy) are never limited.  ``rate == 0`` turns the limiter off.

    Memory is bounded: at most ``max_tracked`` buckets are kept.  When the
    table is full, buckets that have refilled (which would say yes anyway) are
    dropped first, then the oldest, so an attacker with many addresses costs
    at most ``max_tracked`` small entries, and at worst makes the limiter
    forget some addresses early (it fails open, never closed).

    Like :class:`TokenBucket` it takes the time as an argument.
    """

    __slots__ = ("_buckets", "_exempt", "_keys", "burst", "max_tracked", "rate")

    def __init__(
        self,
        rate: float,
        burst: float,
        exempt: tuple[str, ...] = (),
        max_tracked: int = 10000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_tracked = max(1, max_tracked)
        self._exempt = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        self._buckets: dict[str, TokenBucket] = {}
        #: address -> bucket key ("" = not limited): parsing an address costs more than
        #: the rest of a registration's bookkeeping.  Bounded like the buckets.
        self._keys: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, address: str, now: float) -> bool:
        """Count one connection attempt from ``address``; False means refuse it."""
        if self.rate <= 0:
            return True
        key = self._keys.get(address)
        if key is None:
            key = self._key(address)
            if len(self._keys) >= self.max_tracked:
                self._keys.clear()  # a cache: rebuilt as addresses come back
            self._keys[address] = key
        if not key:
            return True  # exempt, or not an IP peer
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_tracked:
                self._evict(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def _key(self, address: str) -> str:
        """The bucket an address counts in: itself, its IPv6 /64, or "" (never limited)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return ""  # not an IP peer (a Unix socket)
        if any(ip in network for network in self._exempt):
            return ""
        return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else address

    def _evict(self, now: float) -> None:
        """Make room: drop refilled buckets, then the oldest, down to 90% of the limit."""
        for key, bucket in list(self._buckets.items()):
            if bucket.full(now):
                del self._buckets[key]
        target = self.max_tracked * 9 // 10
        while len(self._buckets) > target:
            del self._buckets[next(iter(self._buckets))]
