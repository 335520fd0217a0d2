"""Stores: implementations of the :class:`tertulia.core.ports.Store` port.

* :mod:`tertulia.store.sqlite`: the default, durable store.  SQLite in WAL
  mode, driven by one thread that the store owns, with group commit.
* :mod:`tertulia.store.memory`: the same contract in memory, for tests of the
  core (it accepts a fake scheduler so tests decide when callbacks run).
* :mod:`tertulia.store.nats`: NATS JetStream (``tertulia serve --nats``): a
  stream for room history, key-value buckets for rooms and accounts, shared
  by every node on the same NATS.  Needs ``nats-py`` (the ``nats`` extra).

All give message ids as 16 lowercase hex digits that only ever increase, and
call every ``done`` callback on the event loop thread, never from inside the
call that submitted the operation, in submission order (PROTOCOL.md §4, §6).
"""
