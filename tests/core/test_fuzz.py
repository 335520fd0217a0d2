"""Fuzzing the core with hypothesis, inside the normal test run (a few seconds).

* Random lines, commands and bytes from several connections, accounts
  included (REGISTER, IDENTIFY with passwords, PASSWORD, UNREGISTER, MSG to
  offline users), fed to a real hub over the memory store: nothing raises,
  every connection stays consistent, names stay unique.
* Random sequences of password checks against the throttle, on a fake clock:
  its counters never go negative, its tables stay bounded, waits stay finite
  and every lock ends.
* Random values for every server option: a value or a ConfigError, never
  anything else.

atheris is not used: hypothesis already drives these parsers with structure
(verbs, fields, accounts) that a byte fuzzer would take long to find.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tertulia.core.throttle import Admitted, Locked, Throttle, ThrottlePolicy, Ticket
from tertulia.server.config import OPTIONS, ConfigError, check
from tests.core.helpers import FakeClock, World

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = ["ana", "Ana", "bob", "ＡＮＡ", "x"]
WORDS = ["s3cret", "other-pw", "abc", "", "  ", "\x1b[2J", "pass phrase", "\udcff"]
LINES = st.one_of(
    st.builds(lambda n, p: f"@<- IDENTIFY {n} {p}", st.sampled_from(NAMES),
              st.sampled_from(WORDS)),
    st.builds(lambda p: f"@<- REGISTER {p}", st.sampled_from(WORDS)),
    st.builds(lambda a, b: f"@<- PASSWORD {a} {b}", st.sampled_from(WORDS),
              st.sampled_from(WORDS)),
    st.builds(lambda p: f"@<- UNREGISTER {p}", st.sampled_from(WORDS)),
    st.builds(lambda n, t: f"@<- MSG {n} {t}", st.sampled_from(NAMES), st.sampled_from(WORDS)),
    st.builds(lambda n: f"@<- NICK {n}", st.sampled_from(NAMES)),
    st.sampled_from(["@<- QUIT", "@<- COLOR", "@<- COLOR #123456", "@<- PROTO json",
                     "@<- PROTO text", "hola", "@<- HELP", "@<- JOIN #a", "@<- USERS"]),
    st.builds(lambda old, new: json.dumps({"cmd": "password", "old": old, "new": new}),
              st.sampled_from(WORDS[:3]), st.sampled_from(WORDS[:3])),
    st.text(max_size=30),
)
#: (connection, a line; or None: let time pass and the store answer; or OUTAGE: the store
#: starts or stops failing)
OUTAGE = "<outage>"
STEPS = st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), st.just(OUTAGE), LINES)),
                 max_size=40)


@settings(FAST, max_examples=300)
@given(steps=STEPS)
def test_no_sequence_of_lines_breaks_the_hub(steps: list[tuple[int, str | None]]) -> None:
    world = World.create(auth_delay=0.5, auth_lock_after=4, offline_limit=2)
    ana = world.user("ana", address="10.0.0.0")
    assert ana.do("@<- REGISTER s3cret") == ["@-> OK REGISTER ana"]
    clients = [ana, world.user("bob", address="10.0.0.1"),
               world.connect(address="10.0.0.2"), world.connect(address="10.0.0.3")]
    for who, line in steps:
        client = clients[who]
        if line is None:
            world.clock.advance(1.0)
            world.hub.tick()
            world.run()
        elif line is OUTAGE:
            world.store.failing = not world.store.failing
        elif not client.session.closed:
            client.feed(line.encode("utf-8", "surrogatepass"))
    for _ in range(40):  # let every delayed check and store answer come back
        world.clock.advance(30.0)
        world.hub.tick()
        world.run()
    hub = world.hub
    assert not hub.busy()
    online = [c.session for c in clients if c.session.name is not None and not c.session.closed]
    assert sorted(hub.users) == sorted(s.key for s in online if s.key is not None)
    for session in online:
        assert hub.users[session.key or ""] is session
        assert session.holds == 0 and session.inflight == 0
    for client in clients:
        for line in client.take():  # every output is whole lines (FakePeer checks)
            if line.startswith(("@-> OK ", "@-> ERR ")):
                event(" ".join(line.split()[:3]))


@FAST
@given(ops=st.lists(st.tuples(st.sampled_from(["admit", "ok", "fail", "drop", "wait"]),
                              st.integers(0, 5), st.integers(0, 5)), max_size=80))
def test_throttle_invariants(ops: list[tuple[str, int, int]]) -> None:
    clock = FakeClock()
    policy = ThrottlePolicy(max_entries=4, lock_after=5, lock_for=60)
    throttle = Throttle(policy, clock)
    tickets: list[Ticket] = []
    for op, a, b in ops:
        if op == "admit":
            verdict = throttle.admit(f"n{a}", f"10.0.0.{b}")
            if isinstance(verdict, Admitted):
                assert 0 <= verdict.wait <= policy.max_delay * 80
                tickets.append(verdict.ticket)
            else:
                assert isinstance(verdict, Locked)
                assert 0 < verdict.retry_after <= policy.lock_for
        elif op in ("ok", "fail", "drop") and tickets:
            ticket = tickets.pop(a % len(tickets))
            throttle.finish(ticket, {"ok": True, "fail": False, "drop": None}[op])
        elif op == "wait":
            clock.advance(float(a * 20))
        stats = throttle.statistics()
        assert all(n <= policy.max_entries for n in stats.values())
        for table in (throttle._names, throttle._addresses):
            assert all(e.running >= 0 and e.failures >= 0 for e in table.values())
    for ticket in tickets:
        throttle.finish(ticket, None)
    clock.advance(policy.lock_for + policy.max_delay * 80)
    assert all(isinstance(throttle.admit(f"n{a}", f"10.0.0.{a}"), Admitted) for a in range(3))


raw_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                       st.lists(st.integers(), max_size=2))


@FAST
@given(index=st.integers(0, len(OPTIONS) - 1), raw=raw_values)
def test_every_option_takes_a_value_or_says_why(index: int, raw: Any) -> None:
    option = OPTIONS[index]
    try:
        value = check(option, raw, option.flag)
    except ConfigError as exc:
        assert option.flag in str(exc) and "\n" not in str(exc)
        return
    assert isinstance(value, option.kind)
