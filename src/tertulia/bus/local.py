"""The bus of a single node: nothing to share with anyone.

``shared`` is False, so the hub decides on names by itself, synchronously,
exactly as a server without a bus; :meth:`LocalBus.claim` is still correct
(it grants every claim, later) for callers that use it anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tertulia.core.ports import Answered, ClaimDone, ClusterEvent, ClusterListener, ClusterState


class LocalBus:
    """The :class:`~tertulia.core.ports.Bus` port for one node."""

    shared = False
    description = "local"

    async def open(self) -> None:
        """Nothing to open."""

    def claim(self, key: str, name: str, done: ClaimDone) -> None:
        """Grant the name (the hub has already checked its own users), later."""
        del key, name
        asyncio.get_running_loop().call_soon(done, True)

    def release(self, key: str) -> None:
        """Nothing to release."""
        del key

    def attach(self, listener: ClusterListener, state: ClusterState) -> None:
        """No other node will ever speak."""
        del listener, state

    def announce(self, event: ClusterEvent) -> None:
        """Nobody to tell."""
        del event

    def send(self, node: str, event: ClusterEvent) -> None:
        """Nobody to tell."""
        del node, event

    def ask(self, node: str, event: ClusterEvent, done: Answered) -> None:
        """Nobody to answer: ``done(None)`` soon."""
        del node, event
        asyncio.get_running_loop().call_soon(done, None)

    def peers(self) -> list[str]:
        """No other node."""
        return []

    def barrier(self, done: Callable[[], None]) -> None:
        """Nothing to wait for: ``done`` soon."""
        asyncio.get_running_loop().call_soon(done)

    async def close(self) -> None:
        """Nothing to close."""
