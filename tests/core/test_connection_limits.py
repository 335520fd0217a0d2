"""The per-address connection-rate limiter and the unfinished-line (slowloris) timer, no sleeping."""

from __future__ import annotations

from tertulia.core.ratelimit import ConnectionRateLimiter
from tests.core.helpers import World


def test_burst_then_refill() -> None:
    limiter = ConnectionRateLimiter(rate=2, burst=3)
    assert [limiter.allow("203.0.113.7", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("203.0.113.7", 0.4)  # refused tries spend nothing they lack
    assert limiter.allow("203.0.113.7", 1.0)  # two tokens per second came back
    assert limiter.allow("198.51.100.1", 1.0)  # another address has its own bucket


def test_hammering_keeps_an_address_refused() -> None:
    limiter = ConnectionRateLimiter(rate=1, burst=1)
    assert limiter.allow("203.0.113.7", 0.0)
    now = 0.0
    for _ in range(100):
        now += 0.5
        limiter.allow("203.0.113.7", now)
    assert limiter.allow("203.0.113.7", now + 1.0)  # one quiet second is enough


def test_exempt_networks_and_off() -> None:
    limiter = ConnectionRateLimiter(rate=1, burst=1, exempt=("127.0.0.0/8", "::1"))
    assert all(limiter.allow("127.0.0.9", 0.0) for _ in range(50))
    assert all(limiter.allow("::1", 0.0) for _ in range(50))
    assert all(limiter.allow("local", 0.0) for _ in range(50))  # not an IP peer
    assert len(limiter) == 0
    off = ConnectionRateLimiter(rate=0, burst=1)
    assert all(off.allow("203.0.113.7", 0.0) for _ in range(50))


def test_ipv6_counts_per_64() -> None:
    limiter = ConnectionRateLimiter(rate=1, burst=2)
    assert limiter.allow("2001:db8::1", 0.0)
    assert limiter.allow("2001:db8::ffff:2", 0.0)
    assert not limiter.allow("2001:db8:0:0:1::3", 0.0)  # same /64
    assert limiter.allow("2001:db8:0:1::1", 0.0)  # next /64


def test_table_stays_bounded_under_a_storm_of_addresses() -> None:
    """A million distinct addresses keep at most max_tracked buckets; the busy ones first go."""
    limiter = ConnectionRateLimiter(rate=1, burst=2, max_tracked=1000)
    now = 0.0
    for n in range(200_000):
        now += 0.0001
        limiter.allow(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", now)
        assert len(limiter) <= 1000
    assert limiter.allow("203.0.113.7", now) and limiter.allow("203.0.113.7", now)
    assert not limiter.allow("203.0.113.7", now)  # a fresh address is still limited


def test_hub_refuses_a_connection_over_the_rate() -> None:
    world = World.create(connect_rate=1, connect_burst=2, connect_exempt=())
    first, second, third = (world.connect("203.0.113.7") for _ in range(3))
    assert first.take()[0].startswith("@-> WELCOME ")
    assert second.take()[0].startswith("@-> WELCOME ")
    assert third.take() == ["@-> BYE TOO_MANY_CONNECTIONS too many connections; try again later"]
    assert third.peer.closed and len(world.hub.sessions) == 2
    world.clock.advance(1.0)
    assert world.connect("203.0.113.7").take()[0].startswith("@-> WELCOME ")


def test_unfinished_line_is_cut_after_line_timeout() -> None:
    """Bytes keep coming (so no PING) but no line ends: BYE PING_TIMEOUT after --line-timeout."""
    world = World.create(line_timeout=30, ping_interval=60)
    ana = world.user("ana")
    bob = world.user("bob")
    world.drain()
    ana.session.touch()
    ana.session.unfinished(pending=True, completed=False)
    for _ in range(29):
        world.clock.advance(1)
        ana.session.touch()  # one more byte, still no LF
        ana.session.unfinished(pending=True, completed=False)
        world.hub.tick()
    assert ana.take() == []
    world.clock.advance(1)
    world.hub.tick()
    assert ana.take() == ["@-> BYE PING_TIMEOUT no end of line for 30 s"]
    assert bob.take() == ["@-> QUIT ana no end of line for 30 s"]


def test_a_line_that_ends_restarts_the_timer() -> None:
    world = World.create(line_timeout=30, ping_interval=0)
    ana = world.user("ana")
    ana.session.unfinished(pending=True, completed=False)
    world.clock.advance(20)
    ana.session.touch()
    ana.session.unfinished(pending=True, completed=True)  # "…end\nnext-partial"
    world.clock.advance(20)
    world.hub.tick()
    assert not ana.session.closed
    ana.session.unfinished(pending=False, completed=True)
    world.clock.advance(100)
    world.hub.tick()
    assert not ana.session.closed
