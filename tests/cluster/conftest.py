"""Cluster tests run on the real nats-server binary: see tests/nats_fixtures.py."""

from tests.nats_fixtures import nats_prefix, nats_server

__all__ = ["nats_prefix", "nats_server"]
