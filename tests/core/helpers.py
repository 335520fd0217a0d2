"""Test doubles for the core: no sockets, no event loop, no real time.

* :class:`FakePeer` is a :class:`tertulia.core.ports.Peer` that keeps every
  ``bytes`` object it is given (so tests can check identity) and records
  close/pause/resume.
* :class:`FakeClock` is a monotonic clock that moves only on ``advance()``.
* :class:`ManualScheduler` is the ``schedule`` of a
  :class:`~tertulia.store.memory.MemoryStore`: completions pile up until the
  test calls :meth:`ManualScheduler.run`, so the test decides exactly when
  the store answers.
* :class:`FakeHasher` is a :class:`~tertulia.core.ports.PasswordHasher`
  answering through the same scheduler (hash = ``"plain$" + password``;
  ``"old$" + password`` verifies too but needs a rehash).
* :class:`Client` wraps one session and its peer; :class:`Pair` (after h11's
  ``ConnectionPair``) is two identified clients on one hub.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tertulia.core.hub import Hub
from tertulia.core.ports import HashDone, Snapshot, VerifyDone
from tertulia.core.session import Session
from tertulia.core.settings import CoreSettings
from tertulia.protocol.lines import Line
from tertulia.store.memory import MemoryStore

#: Epoch seconds the hub's wall clock always reads, and its wire form.
WALLCLOCK = 1_800_000_000.25
WIRE_TIME = "2027-01-15T08:00:00.250Z"

WELCOME = "@-> WELCOME tertulia 0.1.0 Welcome to Tertulia! Identify with: @<- IDENTIFY name"


def paint(name: str, color: str) -> str:
    """A name as a text-mode chat line shows it with colours on (PROTOCOL.md §3)."""
    from tertulia.core.colors import xterm256

    return f"\x1b[38;5;{xterm256(color)}m{name}\x1b[0m"


class FakePeer:
    """A :class:`~tertulia.core.ports.Peer` that records everything."""

    def __init__(self) -> None:
        #: Every ``send`` argument, the very objects (for ``is`` checks).
        self.sent: list[bytes] = []
        self.closed = False
        self.reading = True
        self.pauses = 0
        self.resumes = 0
        self._taken = 0

    # -- the Peer port
    def send(self, data: bytes) -> None:
        # Whole lines only; b"" is tolerated (an empty text-mode history).
        assert isinstance(data, bytes) and (data.endswith(b"\n") or not data), data
        assert not self.closed, "send after close"
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        assert self.reading, "paused twice"
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        assert not self.reading, "resumed while reading"
        self.reading = True
        self.resumes += 1

    # -- for tests
    def lines(self) -> list[str]:
        """Every line received so far, decoded, without its LF."""
        return b"".join(self.sent).decode().split("\n")[:-1]

    def take(self) -> list[str]:
        """The lines received since the last ``take``."""
        all_lines = self.lines()
        new = all_lines[self._taken:]
        self._taken = len(all_lines)
        return new


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class ManualScheduler:
    """Collects store and hasher completions; runs them, in order, on demand."""

    def __init__(self) -> None:
        self.queue: deque[Callable[[], None]] = deque()

    def __call__(self, callback: Callable[[], None]) -> None:
        self.queue.append(callback)

    @property
    def pending(self) -> int:
        return len(self.queue)

    def step(self) -> bool:
        """Run the oldest completion; False if there was none."""
        if not self.queue:
            return False
        self.queue.popleft()()
        return True

    def run(self, limit: int = 100_000) -> int:
        """Run completions (including ones they schedule) until none is left."""
        done = 0
        while self.step():
            done += 1
            assert done < limit, "completions keep scheduling completions"
        return done


class FakeHasher:
    """A :class:`~tertulia.core.ports.PasswordHasher` that is fast and transparent."""

    def __init__(self, schedule: ManualScheduler) -> None:
        self.schedule = schedule

    def hash(self, password: str, done: HashDone) -> None:
        encoded = "plain$" + password
        self.schedule(lambda: done(encoded))

    def verify(self, password_hash: str, password: str, done: VerifyDone) -> None:
        verdict = password_hash in ("plain$" + password, "old$" + password)
        self.schedule(lambda: done(verdict))

    def needs_rehash(self, password_hash: str) -> bool:
        """``old$password`` plays the part of a hash from an older scheme."""
        return password_hash.startswith("old$")


def make_hub(
    *,
    snapshot: Snapshot | None = None,
    seed: int = 1,
    **settings: Any,
) -> tuple[Hub, MemoryStore, ManualScheduler, FakeClock]:
    """A hub over a memory store whose answers wait for ``scheduler.run()``.

    ``settings`` override fields of :class:`CoreSettings`; the wall clock is
    fixed at :data:`WALLCLOCK` and the random source is seeded.
    """
    scheduler = ManualScheduler()
    store = MemoryStore(schedule=scheduler)
    clock = FakeClock()
    hub = Hub(
        CoreSettings(**settings),
        store,
        FakeHasher(scheduler),
        snapshot or Snapshot(),
        clock=clock,
        wallclock=lambda: WALLCLOCK,
        rng=random.Random(seed),
    )
    return hub, store, scheduler, clock


class Client:
    """One connection: a session on the hub and the fake peer behind it."""

    def __init__(self, world: World, address: str = "10.0.0.1", json_mode: bool = False) -> None:
        self.world = world
        self.peer = FakePeer()
        self.session: Session = world.hub.connect(self.peer, address, json_mode)

    @property
    def name(self) -> str | None:
        return self.session.name

    @property
    def color(self) -> str:
        return self.session.color

    def feed(self, *lines: str | bytes | Line) -> None:
        """Hand lines to the session as the TCP front end does (touch, then receive)."""
        for line in lines:
            data = line.encode() if isinstance(line, str) else line
            self.session.touch()
            self.session.receive(data)

    def send_json(self, **obj: Any) -> None:
        self.feed(json.dumps(obj))

    def take(self) -> list[str]:
        return self.peer.take()

    def take_json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.peer.take()]

    def do(self, *lines: str | bytes) -> list[str]:
        """Feed lines, let the store answer everything, return what came back."""
        self.feed(*lines)
        self.world.run()
        return self.take()


@dataclass
class World:
    """A hub, its store, scheduler and clock, and the clients connected to it."""

    hub: Hub
    store: MemoryStore
    scheduler: ManualScheduler
    clock: FakeClock
    clients: list[Client] = field(default_factory=list)

    @classmethod
    def create(cls, **kwargs: Any) -> World:
        return cls(*make_hub(**kwargs))

    def run(self) -> int:
        return self.scheduler.run()

    def connect(self, address: str = "10.0.0.1", json_mode: bool = False) -> Client:
        client = Client(self, address, json_mode)
        self.clients.append(client)
        return client

    def user(self, name: str, address: str = "10.0.0.1", json_mode: bool = False) -> Client:
        """A client identified as ``name`` whose output so far has been read."""
        client = self.connect(address, json_mode)
        if json_mode:
            client.send_json(cmd="identify", name=name)
        else:
            client.feed(f"@<- IDENTIFY {name}")
        self.run()
        assert client.session.name == name, client.take()
        self.drain()
        return client

    def drain(self) -> None:
        """Forget the output every client has received so far."""
        for client in self.clients:
            client.take()


class Pair:
    """Two identified text-mode clients, ``a`` (ana) and ``b`` (bob), on one hub."""

    def __init__(self, **kwargs: Any) -> None:
        self.world = World.create(**kwargs)
        self.a = self.world.user("ana")
        self.b = self.world.user("bob")
        self.world.drain()

    @property
    def hub(self) -> Hub:
        return self.world.hub

    def run(self) -> int:
        return self.world.run()
