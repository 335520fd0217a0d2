"""Moderation in the core, with a memory store and fake clocks: store failures, expiry, bounds."""

from __future__ import annotations

from tertulia.core.ports import BAN_NAME, Account, Ban, Snapshot
from tertulia.core.rooms import MAX_LISTED
from tests.core.helpers import WALLCLOCK, World


def operator_world(**kwargs: object) -> tuple[World, object]:
    """A world whose operator ``root`` is identified with its password."""
    snapshot = Snapshot(accounts=[Account("root", "root", "plain$pw", "#e06c75")])
    world = World.create(snapshot=snapshot, operators=("root",), **kwargs)
    root = world.connect()
    root.do("@<- IDENTIFY root pw")
    assert world.hub.is_operator(root.session)
    world.drain()
    return world, root


def test_a_refused_room_change_is_undone() -> None:
    """When the store fails, MODE and VOICE get STORE_UNAVAILABLE and memory is as before."""
    world = World.create()
    ana = world.user("ana")
    assert ana.do("@<- JOIN #club")[-1] == "@-> OK JOIN #club"
    world.store.failing = True
    assert ana.do("@<- MODE #club +mi") == ["@-> ERR STORE_UNAVAILABLE #club could not be saved"]
    assert ana.do("@<- VOICE #club bob") == ["@-> ERR STORE_UNAVAILABLE #club could not be saved"]
    room = world.hub.rooms["#club"]
    assert (room.moderated, room.invite_only, room.voiced) == (False, False, set())
    world.store.failing = False
    assert ana.do("@<- MODE #club") == ["@-> OK MODE #club"]


def test_a_ban_the_store_refuses_is_not_in_force() -> None:
    world, root = operator_world()
    world.store.failing = True
    assert root.do("@<- BAN troll") == ["@-> ERR STORE_UNAVAILABLE the ban could not be saved"]
    assert world.hub.bans == {}


def test_bans_from_the_snapshot_and_their_expiry() -> None:
    """Bans loaded at start are in force until their end; tick() forgets ended ones."""
    ending = Ban(BAN_NAME, "troll", "troll", "root", "", WALLCLOCK - 10, WALLCLOCK + 5)
    ended = Ban(BAN_NAME, "old", "old", "root", "", WALLCLOCK - 10, WALLCLOCK - 1)
    world = World.create(snapshot=Snapshot(bans=[ending, ended]))
    troll = world.connect()
    troll.take()
    assert troll.do("@<- IDENTIFY troll")[0].startswith("@-> ERR FORBIDDEN troll is banned")
    old = world.connect()
    old.take()
    assert old.do("@<- IDENTIFY old")[0].startswith("@-> OK IDENTIFY old")
    world.hub.tick()
    world.run()
    assert set(world.hub.bans) == {(BAN_NAME, "troll")}


def test_mute_ends_on_the_monotonic_clock() -> None:
    world = World.create()
    ana = world.user("ana")
    bob = world.user("bob")
    ana.do("@<- JOIN #club")
    bob.do("@<- JOIN #club")
    world.drain()
    assert ana.do("@<- MUTE #club bob 30s")[0].startswith("@-> OK MUTE #club bob ")
    assert bob.do("@<- SAY #club x") == [
        "@-> NOTICE ana muted you in #club until 2027-01-15T08:00:30.250Z",
        "@-> ERR FORBIDDEN you are muted in #club for 30 s more",
    ]
    world.clock.advance(30)
    assert bob.do("@<- SAY #club x") == ["@-> OK SAY #club"]
    assert world.hub.rooms["#club"].muted == {}


def test_room_lists_are_bounded() -> None:
    """A creator cannot grow a room's lists past MAX_LISTED names."""
    world = World.create(rate=0)
    ana = world.user("ana")
    ana.do("@<- JOIN #club")
    room = world.hub.rooms["#club"]
    room.invited = {f"u{n}" for n in range(MAX_LISTED)}
    assert ana.do("@<- INVITE #club one") == [
        f"@-> ERR BAD_ARGUMENT #club lists {MAX_LISTED} names already"]
    room.muted = {f"u{n}": None for n in range(MAX_LISTED)}
    assert ana.do("@<- MUTE #club one") == [
        f"@-> ERR BAD_ARGUMENT #club has {MAX_LISTED} mutes already"]
    assert ana.do("@<- INVITE #club u1") == ["@-> OK INVITE #club u1"]  # already listed


def test_only_operator_actions_reach_the_audit_log() -> None:
    world, root = operator_world()
    ana = world.user("ana")
    ana.do("@<- JOIN #club", "@<- MODE #club +m")
    root.do("@<- MODE #club -m", "@<- ANNOUNCE hi")
    got: list[object] = []
    world.store.read_audit(10, got.append)
    world.run()
    assert [(e.operator, e.action, e.target, e.detail) for e in got[0]] == [  # type: ignore[attr-defined]
        ("root", "MODE", "#club", "-m"), ("root", "ANNOUNCE", "*", "hi")]


def test_a_ban_during_the_password_check_wins() -> None:
    """IDENTIFY of a registered name that is banned while its password is being checked."""
    snapshot = Snapshot(accounts=[Account("root", "root", "plain$pw", "#e06c75"),
                                  Account("troll", "troll", "plain$pw", "#56b6c2")])
    world = World.create(snapshot=snapshot, operators=("root",))
    root = world.connect()
    root.do("@<- IDENTIFY root pw")
    troll = world.connect()
    troll.take()
    root.feed("@<- BAN troll")  # not in force until the store answers...
    troll.feed("@<- IDENTIFY troll pw")  # ...so this goes on to the password check
    world.run()
    assert troll.take() == ["@-> ERR FORBIDDEN troll is banned by root"]
    assert troll.session.name is None
    # The other way round: identified first, then cut by the ban.
    world.hub.bans.clear()
    late = world.connect()
    late.take()
    late.feed("@<- IDENTIFY troll pw")
    root.feed("@<- BAN troll")
    world.run()
    assert late.take()[-1] == "@-> BYE KICKED banned by root"
