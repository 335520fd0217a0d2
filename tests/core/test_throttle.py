"""The password throttle (core.throttle): pure logic on a fake clock, no sleeping.

Then the same policy through the hub: IDENTIFY's replies held back by the
delay (released by ``hub.tick()`` as the fake clock moves), and the lock.
"""

from __future__ import annotations

import pytest

from tertulia.core.throttle import Admitted, Locked, Throttle, ThrottlePolicy, address_key
from tests.core.helpers import FakeClock, World

POLICY = ThrottlePolicy()  # free 3, delay 1 s doubling, lock after 10 for 300 s


def make(**kw: object) -> tuple[Throttle, FakeClock]:
    clock = FakeClock()
    return Throttle(ThrottlePolicy(**kw), clock), clock  # type: ignore[arg-type]


def admitted(verdict: Admitted | Locked) -> Admitted:
    assert isinstance(verdict, Admitted), verdict
    return verdict


def fail(throttle: Throttle, name: str = "ana", address: str = "10.0.0.1") -> float:
    """One wrong password: admitted, the fake clock moved by its wait, then finished.

    Returns how long it had to wait.
    """
    a = admitted(throttle.admit(name, address))
    clock = throttle.clock
    assert isinstance(clock, FakeClock)
    clock.advance(a.wait)
    throttle.finish(a.ticket, False)
    return a.wait


def test_steps_double_after_the_free_checks() -> None:
    assert [POLICY.step(n) for n in range(8)] == [0, 0, 1, 2, 4, 8, 16, 30]
    assert ThrottlePolicy(delay=0).step(7) == 0


def test_sequential_failures_wait_longer_and_longer() -> None:
    throttle, _clock = make()
    waits = []
    for _ in range(6):
        waits.append(fail(throttle))
    assert waits == [0, 0, 0, 1, 2, 4]


def test_parallel_checks_queue_one_behind_another() -> None:
    """Many connections at once buy no extra guesses: the starts are spaced all the same."""
    throttle, _clock = make()
    waits = [admitted(throttle.admit("ana", f"10.0.0.{i}")).wait for i in range(6)]
    assert waits == [0, 0, 0, 1, 3, 7]


def test_lock_after_ten_failures_then_it_ends() -> None:
    throttle, clock = make()
    for _ in range(10):
        fail(throttle)
    locked = throttle.admit("ana", "10.0.0.1")
    assert locked == Locked(300.0)
    clock.advance(299)
    assert isinstance(throttle.admit("ana", "10.0.0.1"), Locked)
    clock.advance(1)
    assert admitted(throttle.admit("ana", "10.0.0.1")).wait == 0  # the count starts again


def test_lock_that_starts_during_a_wait_still_refuses() -> None:
    throttle, _clock = make(lock_after=2)
    first = admitted(throttle.admit("ana", "10.0.0.1"))
    second = admitted(throttle.admit("ana", "10.0.0.2"))
    third = admitted(throttle.admit("ana", "10.0.0.3"))
    throttle.finish(first.ticket, False)
    throttle.finish(second.ticket, False)
    assert isinstance(throttle.still_locked(third.ticket), Locked)
    throttle.finish(third.ticket, None)


def test_a_good_password_clears_the_name_not_the_address() -> None:
    throttle, clock = make()
    for _ in range(3):
        fail(throttle, "ana", "10.0.0.9")
    good = admitted(throttle.admit("mine", "10.0.0.9"))
    assert good.wait == 1  # the address is still slowed down
    throttle.finish(good.ticket, True)
    clock.advance(1)
    # The address kept its count (an attacker cannot wipe it with its own account) ...
    assert admitted(throttle.admit("ana", "10.0.0.9")).wait == 2
    # ... and a name's count is cleared by its right password.
    throttle2, _clock2 = make()
    for i in range(3):
        fail(throttle2, "ana", f"10.0.1.{i}")
    ok = admitted(throttle2.admit("ana", "10.0.2.1"))
    throttle2.finish(ok.ticket, True)
    assert admitted(throttle2.admit("ana", "10.0.2.2")).wait == 0


def test_no_lock_out_for_good_from_outside() -> None:
    """An attacker locks the name for new addresses, never for one the owner used before."""
    throttle, clock = make()
    owner = admitted(throttle.admit("ana", "192.0.2.1"))
    throttle.finish(owner.ticket, True)
    for i in range(10):  # ten attackers, one guess each
        fail(throttle, "ana", f"203.0.113.{i}")
    assert isinstance(throttle.admit("ana", "203.0.113.99"), Locked)
    assert admitted(throttle.admit("ana", "192.0.2.1")).wait == 0  # the owner's address
    clock.advance(300)
    assert isinstance(throttle.admit("ana", "203.0.113.99"), Admitted)  # and it ends


def test_entries_are_forgotten_and_the_tables_bounded() -> None:
    throttle, clock = make(max_entries=50, forget_after=900.0)
    for _ in range(3):
        fail(throttle)
    clock.advance(900)
    assert admitted(throttle.admit("ana", "10.0.0.1")).wait == 0  # forgotten
    for i in range(1000):
        fail(throttle, f"name{i}", f"10.1.{i // 250}.{i % 250}")
        ok = admitted(throttle.admit(f"name{i}", f"10.2.{i // 250}.{i % 250}"))
        throttle.finish(ok.ticket, True)
    stats = throttle.statistics()
    assert stats == {"names": 50, "addresses": 50, "trusted": 50}


def test_forget_name_after_unregister() -> None:
    throttle, _clock = make(lock_after=1)
    fail(throttle)
    assert isinstance(throttle.admit("ana", "10.0.0.2"), Locked)
    throttle.forget_name("ana")
    assert isinstance(throttle.admit("ana", "10.0.0.2"), Admitted)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("local", "local"),
    ],
)
def test_address_keys(address: str, key: str) -> None:
    assert address_key(address) == key


# ------------------------------------------------------------------ through the hub


def test_identify_replies_are_held_back_then_locked() -> None:
    world = World.create(auth_lock_after=5)
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    ana.do("@<- QUIT")
    guesser = world.connect(address="203.0.113.5")
    guesser.take()
    for _ in range(3):
        assert guesser.do("@<- IDENTIFY ana nope") == [
            "@-> ERR AUTH_FAILED wrong password for that name"
        ]
    assert guesser.do("@<- IDENTIFY ana nope", "@<- PING x") == []  # waiting: 1 s
    world.clock.advance(0.9)
    world.hub.tick()
    assert world.run() == 0 and guesser.take() == []
    world.clock.advance(0.1)
    world.hub.tick()
    world.run()
    assert guesser.take() == ["@-> ERR AUTH_FAILED wrong password for that name", "@-> OK PING x"]
    guesser.feed("@<- IDENTIFY ana nope")
    world.clock.advance(2)
    world.hub.tick()
    world.run()
    assert guesser.take() == ["@-> ERR AUTH_FAILED wrong password for that name"]
    assert guesser.do("@<- IDENTIFY ana s3cret") == [
        "@-> ERR AUTH_FAILED too many wrong passwords; try again in 300 s"
    ]
    stranger = world.connect(address="198.51.100.7")  # the name is locked for new addresses
    stranger.take()
    assert stranger.do("@<- IDENTIFY ana s3cret") == [
        "@-> ERR AUTH_FAILED too many wrong passwords; try again in 300 s"
    ]
    owner = world.connect(address="10.0.0.1")  # where ana registered: trusted for the name
    owner.take()
    assert owner.do("@<- IDENTIFY ana s3cret")[0].startswith("@-> OK IDENTIFY ana ")
    owner.do("@<- QUIT")
    world.clock.advance(300)
    assert stranger.do("@<- IDENTIFY ana s3cret")[0].startswith("@-> OK IDENTIFY ana ")


def test_a_session_closed_while_waiting_costs_nothing() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret", "@<- QUIT")
    guesser = world.connect(address="203.0.113.5")
    for _ in range(3):
        guesser.do("@<- IDENTIFY ana nope")
    guesser.take()
    guesser.feed("@<- IDENTIFY ana nope")
    guesser.session.connection_lost()
    world.clock.advance(5)
    world.hub.tick()
    world.run()
    assert guesser.take() == []
    assert all(e.running == 0 for e in world.hub.throttle._names.values())


def test_exempt_addresses_count_only_the_name() -> None:
    """Loopback (the default --auth-exempt) is not counted by address: bots and tests on
    the server's machine cannot lock each other out, but a name is still protected."""
    throttle, _ = make(exempt=("127.0.0.0/8", "::1"))
    for i in range(12):  # many names, one local address: never slowed down
        assert fail(throttle, name=f"user{i}", address="127.0.0.1") == 0
    assert throttle.statistics()["addresses"] == 0
    waits = [fail(throttle, name="ana", address="::ffff:127.0.0.1") for _ in range(6)]
    assert waits[:3] == [0, 0, 0] and waits[3:] == [1.0, 2.0, 4.0]  # the name still counts
    for i in range(10):  # an address outside the exempt networks is counted as before
        fail(throttle, name=f"other{i}", address="10.0.0.9")
    assert isinstance(throttle.admit("zoe", "10.0.0.9"), Locked)


def test_verdicts_heard_from_other_nodes_count_here() -> None:
    """On a cluster each node's throttle also counts the checks made on the others."""
    throttle, clock = make(lock_after=4)
    for i in range(3):
        throttle.heard("ana", f"10.0.0.{i}", False)
    assert admitted(throttle.admit("ana", "10.0.0.9")).wait == 0
    throttle.heard("ana", "10.0.0.3", False)  # the fourth, on another node: locked here too
    assert isinstance(throttle.admit("ana", "10.0.0.8"), Locked)
    clock.advance(300)
    throttle.heard("bo", "10.0.1.1", True)  # Bo logged in there: that address is trusted for Bo
    for _ in range(4):
        throttle.heard("bo", "10.0.2.2", False)
    assert isinstance(throttle.admit("bo", "10.0.2.2"), Locked)
    assert admitted(throttle.admit("bo", "10.0.1.1")).wait == 0
