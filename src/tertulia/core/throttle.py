"""Slowing down password guessing: a growing delay, then a temporary lock.

Every password check (IDENTIFY with a password, PASSWORD, UNREGISTER) is
first *admitted* here, for two keys at once: the account's name and the
client's address (an IPv6 address counts by its /64, which one machine
usually holds whole).  For each key the throttle remembers the failures, the
checks still running, when the next check may start, and a lock.

The policy, for each key, with *n* the failures plus the checks running:

* the first :attr:`ThrottlePolicy.free` checks start at once;
* after that, checks are spaced: the next one may start ``delay * 2**(n -
  free)`` seconds after the previous one (at most ``max_delay``).  Checks
  sent in parallel queue one behind the other, so more connections do not
  buy more guesses;
* after ``lock_after`` failures the key is locked for ``lock_for`` seconds:
  checks are refused at once, without looking at the password.  When the
  lock ends the count starts again from zero;
* a key with no failure for ``forget_after`` seconds is forgotten.

No user can be locked out for good from outside: every lock ends; a good
password clears the name's count (never the address's, so that an attacker
cannot wipe its own count by logging into its own account); and an address
that has given a name's password before, or registered it, is *trusted* for
that name, so the name's delay and lock do not apply to it (its own
address count still does).  So an attacker who keeps guessing at a name
delays only people who log in to it from new addresses, and only while the
attack lasts.  Addresses in :attr:`ThrottlePolicy.exempt` networks
(``--auth-exempt``, by default loopback) are not counted at all; the names
they try still are.

Memory is bounded: each table keeps at most ``max_entries`` keys, and past
that forgets the least recently touched (which could give a very wide
attacker some guesses back, but never lets the table grow).  Nothing here
does I/O or reads a clock by itself: the clock is injected, so the tests
run without sleeping.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers of the policy (see the module docstring).  ``delay == 0`` turns it off."""

    free: int = 3
    delay: float = 1.0
    max_delay: float = 30.0
    lock_after: int = 10
    lock_for: float = 300.0
    forget_after: float = 900.0
    trust_for: float = 30 * 86400.0
    max_entries: int = 100_000
    #: Networks whose addresses are not counted (the name still is): by
    #: default loopback, so that local bots, tests and a reverse proxy on the
    #: same machine cannot lock each other out by address.
    exempt: tuple[str, ...] = ()

    def step(self, count: int) -> float:
        """Seconds between the start of check number ``count`` (from 0) and the next."""
        if count + 1 < self.free or self.delay <= 0:
            return 0.0
        return min(self.delay * 2.0 ** (count + 1 - self.free), self.max_delay)


class _Entry:
    """What the throttle knows of one key."""

    __slots__ = ("failures", "last", "locked_until", "next_at", "running")

    def __init__(self, now: float) -> None:
        self.failures = 0
        self.running = 0
        self.next_at = now
        self.locked_until = 0.0
        self.last = now  # the last failure (or creation)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A check may run after ``wait`` seconds; hand the ticket back to :meth:`Throttle.finish`."""

    wait: float
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class Locked:
    """Too many failures: refuse now; the lock ends in ``retry_after`` seconds."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """The keys one admitted check counts against."""

    name: str | None
    address: str
    name_key: str
    address_counted: bool = True


def address_key(address: str) -> str:
    """The key an address counts under: itself, or for IPv6 its /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Throttle:
    """The per-name and per-address throttle of password checks.

    Args:
        policy: the numbers.
        clock: monotonic seconds (the hub's clock).
    """

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self._names: OrderedDict[str, _Entry] = OrderedDict()
        self._addresses: OrderedDict[str, _Entry] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._exempt = tuple(ipaddress.ip_network(n, strict=False) for n in policy.exempt)

    # ------------------------------------------------------------ the checks

    def admit(self, name_key: str, address: str) -> Admitted | Locked:
        """Ask to check a password for ``name_key`` from ``address``.

        Returns :class:`Locked` (refuse at once) or :class:`Admitted` with the
        seconds to wait; an admitted check must be ended with :meth:`finish`.
        """
        now = self.clock()
        addr = address_key(address)
        counted = not self._is_exempt(address)
        entries = [self._entry(self._addresses, addr, now)] if counted else []
        name: str | None = None
        if not self._is_trusted(name_key, addr, now):
            name = name_key
            entries.append(self._entry(self._names, name_key, now))
        locked = max([0.0, *(e.locked_until for e in entries)])
        if locked > now:
            return Locked(locked - now)
        start = max([now, *(e.next_at for e in entries)])
        for e in entries:
            e.next_at = start + self.policy.step(e.failures + e.running)
            e.running += 1
        return Admitted(start - now, Ticket(name, addr, name_key, counted))

    def still_locked(self, ticket: Ticket) -> Locked | None:
        """At the end of the wait: a lock that began meanwhile still refuses the check."""
        now = self.clock()
        for table, key in self._keys(ticket):
            e = table.get(key)
            if e is not None and e.locked_until > now:
                return Locked(e.locked_until - now)
        return None

    def finish(self, ticket: Ticket, ok: bool | None) -> None:
        """An admitted check ended: ``ok`` True (right password), False (wrong), None (not run)."""
        now = self.clock()
        for table, key in self._keys(ticket):
            e = table.get(key)
            if e is None:
                continue  # forgotten meanwhile (the table was full)
            e.running = max(0, e.running - 1)
            if ok is False:
                self._failed(e, now)
        if ok:
            self._succeeded(ticket.name_key, ticket.address, now)

    def heard(self, name_key: str, address: str, ok: bool) -> None:
        """The verdict of a check made on another node of a cluster: it counts here too.

        A failure counts against the address (unless exempt) and the name
        (unless the address is trusted for it), and may lock them; a success
        clears the name's count and trusts the address, as :meth:`finish`.
        """
        now = self.clock()
        addr = address_key(address)
        if ok:
            self._succeeded(name_key, addr, now)
            return
        if not self._is_exempt(address):
            self._failed(self._entry(self._addresses, addr, now), now)
        if not self._is_trusted(name_key, addr, now):
            self._failed(self._entry(self._names, name_key, now), now)

    def _failed(self, e: _Entry, now: float) -> None:
        e.failures += 1
        e.last = now
        if e.failures >= self.policy.lock_after:
            e.locked_until = now + self.policy.lock_for
            e.failures = 0
            e.next_at = e.locked_until

    def _succeeded(self, name_key: str, addr: str, now: float) -> None:
        name_entry = self._names.get(name_key)
        if name_entry is not None and name_entry.locked_until <= now:
            name_entry.failures = 0
            name_entry.next_at = now
        self._trust(name_key, addr, now)

    # ------------------------------------------------------------ bookkeeping

    def _keys(self, ticket: Ticket) -> list[tuple[OrderedDict[str, _Entry], str]]:
        keys = [(self._addresses, ticket.address)] if ticket.address_counted else []
        if ticket.name is not None:
            keys.append((self._names, ticket.name))
        return keys

    def _entry(self, table: OrderedDict[str, _Entry], key: str, now: float) -> _Entry:
        """The key's entry (fresh if forgotten), marked as recently used."""
        e = table.get(key)
        if e is not None and self._stale(e, now):
            del table[key]
            e = None
        if e is None:
            e = table[key] = _Entry(now)
            while len(table) > self.policy.max_entries:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        return e

    def _stale(self, e: _Entry, now: float) -> bool:
        return (
            e.running == 0
            and e.locked_until <= now
            and e.next_at <= now
            and now - e.last >= self.policy.forget_after
        )

    def _is_exempt(self, address: str) -> bool:
        if not self._exempt:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._exempt)

    def _is_trusted(self, name_key: str, addr: str, now: float) -> bool:
        since = self._trusted.get((name_key, addr))
        if since is None:
            return False
        if now - since > self.policy.trust_for:
            del self._trusted[(name_key, addr)]
            return False
        return True

    def _trust(self, name_key: str, addr: str, now: float) -> None:
        self._trusted[(name_key, addr)] = now
        self._trusted.move_to_end((name_key, addr))
        while len(self._trusted) > self.policy.max_entries:
            self._trusted.popitem(last=False)

    def trust(self, name_key: str, address: str) -> None:
        """The owner of ``name_key`` is at ``address`` (it just registered the name)."""
        self._trust(name_key, address_key(address), self.clock())

    def forget_name(self, name_key: str) -> None:
        """An account was deleted: its name starts again from nothing."""
        self._names.pop(name_key, None)
        for pair in [p for p in self._trusted if p[0] == name_key]:
            del self._trusted[pair]

    def statistics(self) -> dict[str, int]:
        """Sizes of the tables (for tests and monitoring)."""
        return {
            "names": len(self._names),
            "addresses": len(self._addresses),
            "trusted": len(self._trusted),
        }
