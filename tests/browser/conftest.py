"""Real headless Chromium (Debian's ``chromium``) driven by Playwright, against real servers.

Never ``playwright install``: the browser is the system's, found with
``shutil.which``, and started with flags that keep it off the network (the
machine may have no internet).  Without it the tests are skipped, except
when ``CI=true``: there a missing browser fails the run (``make system-deps``
installs it).

Every page's console errors and uncaught exceptions are collected, and a
test fails if there were any it did not expect.  Screenshots go to
``test-results/browser/`` (or ``$TERTULIA_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import ServerThread, server_config

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TERTULIA_SCREENSHOTS", ROOT / "test-results" / "browser"))

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must run the browser tests (make system-deps installs chromium)")
    pytest.skip(why)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium for one test.

    Not shared across tests: Playwright's sync API keeps an event loop running
    in the thread while it is started, and other tests in the same process
    call ``asyncio.run``.  A launch takes a fraction of a second.
    """
    path = _chromium()
    if path is None:
        _missing("Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page in its own browser context (its own storage), with what its console said."""

    page: Any
    context: Any
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    """``open_tab(url, width=1100, height=720, scheme="light", locale="en-US")``."""
    tabs: list[Tab] = []

    def open_one(url: str, *, width: int = 1100, height: int = 720, scheme: str = "light",
                 locale: str = "en-US") -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      color_scheme=scheme, locale=locale)
        page = context.new_page()
        tab = Tab(page, context)
        page.on("console", lambda m: tab.problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        tabs.append(tab)
        return tab

    yield open_one
    for tab in tabs:
        tab.context.close()


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """``web_server(**options)``: a real server with the page on a free HTTP port."""
    started: list[ServerThread] = []

    def make(http: bool | int = True, **overrides: Any) -> ServerThread:
        server = ServerThread(server_config(tmp_path, **overrides), http=http).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
