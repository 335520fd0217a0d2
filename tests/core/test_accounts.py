"""Accounts in the core, with a fake hasher and a memory store: PASSWORD, UNREGISTER,
the colour an account keeps, NICK back to one's own account, and rehashing old hashes."""

from __future__ import annotations

from tertulia.core.ports import Account, Snapshot
from tests.core.helpers import World, paint


def test_password_replaces_the_hash() -> None:
    world = World.create()
    ana = world.user("ana")
    assert ana.do("@<- PASSWORD s3cret newpass") == [
        "@-> ERR FORBIDDEN ana is not registered; use @<- REGISTER password"
    ]
    assert ana.do("@<- REGISTER s3cret") == ["@-> OK REGISTER ana"]
    assert ana.do("@<- PASSWORD nope newpass") == ["@-> ERR AUTH_FAILED wrong password"]
    assert ana.do("@<- PASSWORD s3cret new") == [
        "@-> ERR BAD_ARGUMENT a password has at least 4 characters"
    ]
    assert ana.do("@<- PASSWORD s3cret newpass") == ["@-> OK PASSWORD ana"]
    assert world.hub.accounts["ana"].password_hash == "plain$newpass"


def test_password_store_failure_keeps_the_old_hash() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    world.store.failing = True
    assert ana.do("@<- PASSWORD s3cret newpass") == [
        "@-> ERR STORE_UNAVAILABLE the account could not be saved; try again"
    ]
    assert world.hub.accounts["ana"].password_hash == "plain$s3cret"


def test_unregister_then_the_name_is_free() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    assert ana.do("@<- UNREGISTER wrong") == ["@-> ERR AUTH_FAILED wrong password"]
    assert "ana" in world.hub.accounts
    assert ana.do("@<- UNREGISTER s3cret") == ["@-> OK UNREGISTER ana"]
    assert "ana" not in world.hub.accounts
    assert ana.session.account is None
    ana.do("@<- QUIT")
    assert world.user("ANA").name == "ANA"


def test_later_lines_wait_for_password_change() -> None:
    """PASSWORD holds the session through verify, hash and save: later lines wait."""
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    ana.feed("@<- PASSWORD s3cret newpass", "@<- PING after")
    assert ana.take() == []
    world.run()
    assert ana.take() == ["@-> OK PASSWORD ana", "@-> OK PING after"]


def test_color_saved_in_account_only_when_registered() -> None:
    world = World.create()
    ana, bob = world.user("ana"), world.user("bob")
    ana.do("@<- REGISTER s3cret")
    assert ana.do("@<- COLOR #102030") == ["@-> OK COLOR #102030"]
    assert world.hub.accounts["ana"].color == "#102030"
    assert bob.do("@<- COLOR #102030") == ["@-> OK COLOR #102030"]
    assert "bob" not in world.hub.accounts


def test_color_store_failure_changes_nothing() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    before = ana.color
    world.store.failing = True
    assert ana.do("@<- COLOR #102030") == [
        "@-> ERR STORE_UNAVAILABLE the account could not be saved; try again"
    ]
    assert ana.color == before == world.hub.accounts["ana"].color


def test_nick_back_to_proved_account_only() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret")
    bob = world.user("bob")
    assert ana.do("@<- NICK anita") == ["@-> OK NICK anita"]
    bob.take()
    assert bob.do("@<- NICK ana") == ["@-> ERR AUTH_REQUIRED ana is registered to someone else"]
    assert ana.do("@<- NICK Ana") == ["@-> OK NICK Ana"]


def test_old_hash_is_rehashed_after_a_good_password() -> None:
    """A hash the hasher says is outdated is replaced by a new one, and saved."""
    snapshot = Snapshot(accounts=[Account("ana", "ana", "old$pw-old", "#abcdef")])
    world = World.create(snapshot=snapshot)
    client = world.connect()
    client.take()
    assert client.do("@<- IDENTIFY ana pw-old")[0] == "@-> OK IDENTIFY ana #abcdef"
    assert world.hub.accounts["ana"].password_hash == "plain$pw-old"
    reopened = world.store._accounts["ana"]
    assert reopened.password_hash == "plain$pw-old"


def test_kept_messages_stay_kept_if_the_owner_leaves_before_delivery() -> None:
    world = World.create()
    ana = world.user("ana")
    ana.do("@<- REGISTER s3cret", "@<- QUIT")
    bob = world.user("bob")
    assert bob.do("@<- MSG ana hola") == [
        "@-> NOTICE ana is offline; your message was kept and will be delivered when they"
        " next identify",
        "@-> OK MSG ana",
    ]
    first = world.connect()
    first.feed("@<- IDENTIFY ana s3cret")
    assert world.scheduler.step()  # the password check: OK IDENTIFY, reads queued
    first.session.connection_lost()
    world.run()
    assert [m.text for m in world.store._kept["ana"]] == ["hola"]
    second = world.connect()
    second.take()
    lines = second.do("@<- IDENTIFY ana s3cret")
    assert lines[-2:] == ["@-> NOTICE 1 private message came while you were away:",
                          f"*{paint('bob', bob.color)}* hola"]
    assert "ana" not in world.store._kept
    second.do("@<- QUIT")
    third = world.connect()
    third.take()
    assert len(third.do("@<- IDENTIFY ana s3cret")) == 1  # only OK IDENTIFY: delivered once
