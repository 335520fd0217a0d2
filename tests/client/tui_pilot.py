"""Helpers for driving the full-screen client headless with Textual's Pilot.

The app runs against a real server (``server`` fixture: a :class:`ServerThread`
on a free port, rate limit off); other users are blocking harness clients,
whose waits run in a thread so that the app's event loop keeps going.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import RichLog

from tertulia.client.tui import TertuliaApp
from tests.integration.harness import ServerThread, server_config
from tests.timing import TIMEOUT

SIZE = (110, 30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(server_config(tmp_path, rate=0)).start()
    yield server
    server.stop()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), TIMEOUT * 3))


async def until(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    """Let the app run until ``condition()`` is true; fail after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def plain_lines(app: TertuliaApp, key: str = "#general") -> list[str]:
    return [e.text.plain for e in app.conversations[key].entries]


def has_line(app: TertuliaApp, needle: str, key: str = "#general") -> bool:
    return any(needle in line for line in plain_lines(app, key))


async def type_line(pilot: Pilot[Any], text: str) -> None:
    app = pilot.app
    assert isinstance(app, TertuliaApp)
    app.chat_input.value = text
    await pilot.press("enter")


@asynccontextmanager
async def ana_in(server: ServerThread, app: TertuliaApp | None = None,
                 size: tuple[int, int] = SIZE) -> AsyncIterator[tuple[TertuliaApp, Pilot[Any]]]:
    """The app (by default a new one), headless, logged in as Ana on ``server``,
    showing #general."""
    app = app or TertuliaApp("127.0.0.1", server.port, name="Ana")
    async with app.run_test(size=size) as pilot:
        await identified(pilot, app)
        yield app, pilot


async def identified(pilot: Pilot[Any], app: TertuliaApp) -> None:
    await until(pilot, lambda: app.identified and "#general" in app.conversations, "IDENTIFY")
    await pilot.pause()




class BellApp(TertuliaApp):
    """The real app, counting the times it rings the terminal's bell."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bells = 0

    def bell(self) -> None:
        self.bells += 1
        super().bell()


def log_text(app: TertuliaApp) -> list[str]:
    """The lines drawn in the message log, as the terminal shows them."""
    return [strip.text for strip in app.query_one("#log", RichLog).lines]
