"""The store contract runs on NATS too: the fixtures of tests/nats_fixtures.py."""

from tests.nats_fixtures import nats_prefix, nats_server

__all__ = ["nats_prefix", "nats_server"]
