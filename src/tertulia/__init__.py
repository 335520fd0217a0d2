"""Tertulia: a self-hosted chat server.

The package is layered (see docs/explanation/architecture.md):
``protocol`` (pure codec) <- ``core`` (users, rooms, routing) <- ``store`` and
``frontends`` <- ``server`` (wiring).  Dependencies point one way only.
"""

__version__ = "0.1.0"
