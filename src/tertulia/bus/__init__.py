"""Buses: implementations of the :class:`tertulia.core.ports.Bus` port.

* :mod:`tertulia.bus.local`: one node; nothing is shared, so the core keeps
  its synchronous name checks and never calls the bus.
* :mod:`tertulia.bus.nats`: several nodes on NATS JetStream; names are
  claimed in a key-value bucket, atomically, and kept alive by their node.
"""
