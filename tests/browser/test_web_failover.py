"""The page on a cluster: it moves to another node when its own goes, and catches up there.

Real nats-server (tests/nats_fixtures.py), real nodes, real Chromium.  The
first test runs two nodes in this process, each listing the other
(``--web-servers``); the second runs ``tertulia cluster`` as a user does and
uses the page of the address it prints.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tertulia.server.nats_server import NatsServer
from tests.browser.test_web_client import (
    MS,
    OpenTab,
    assert_clean,
    expect,
    login,
    message,
    type_line,
)
from tests.cluster.helpers import identify
from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.test_cli import env_with_src
from tests.integration.wsclient import http_get
from tests.nats_fixtures import nats_prefix, nats_server
from tests.timing import TIMEOUT

__all__ = ["nats_prefix", "nats_server"]  # the fixtures

pytestmark = pytest.mark.slow


def test_the_page_moves_to_another_node_and_catches_up(
        nats_server: NatsServer, nats_prefix: str, tmp_path: Path, open_tab: OpenTab) -> None:
    a, b = (ServerThread(server_config(tmp_path / name, rate=0, nats=nats_server.url,
                                       nats_prefix=nats_prefix), http=True)
            for name in ("a", "b"))
    a.config = replace(a.config, web_servers=f"ws://127.0.0.1:{b.http_port}/ws")
    b.config = replace(b.config, web_servers=f"ws://127.0.0.1:{a.http_port}/ws")
    a.start()
    try:
        b.start()
        ana = open_tab(f"http://127.0.0.1:{a.http_port}/")
        login(ana, "Ana")
        with Client(b.port) as bob:
            identify(bob, "Bob")
            bob.send("antes del corte")
            expect(message(ana, "antes del corte")).to_have_count(1, timeout=MS)
            ana.page.fill("#input", "esto no se pierde")
            a.stop()
            for n in range(30):  # more than the 20 a JOIN or IDENTIFY brings
                bob.send(f"perdido {n}")
            moved = f"Connected to another server: ws://127.0.0.1:{b.http_port}/ws"
            expect(ana.page.locator(".system .text", has_text=moved)).to_have_count(
                1, timeout=MS * 3)
            for n in range(30):
                expect(message(ana, f"perdido {n}")).to_have_count(1, timeout=MS)
            expect(ana.page.locator("#input")).to_have_value("esto no se pierde")
            bob.send("de nuevo juntos")
            expect(message(ana, "de nuevo juntos")).to_have_count(1, timeout=MS)
            type_line(ana, "hola Bob, sigo aquí")
            bob.until("^#general <.*Ana.*> hola Bob, sigo aquí$")
        expect(message(ana, "antes del corte")).to_have_count(1)
        expect(ana.page.locator("#status")).to_have_text("", timeout=MS)
        assert_clean(ana, allow=r"WebSocket connection to .* failed")
    finally:
        a.stop()
        b.stop()


def test_tertulia_cluster_gives_each_page_the_other_nodes(tmp_path: Path,
                                                          open_tab: OpenTab) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tertulia", "cluster", "--nodes", "2", "--port", "0",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_with_src(),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        ports: list[int] = []
        pages: list[int] = []
        deadline = time.monotonic() + TIMEOUT * 6
        while len(pages) < 2:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "tertulia cluster exited early"
            if match := re.fullmatch(r"node\d: 127\.0\.0\.1:(\d+)", line):
                ports.append(int(match.group(1)))
            if match := re.fullmatch(r"node\d page: http://127\.0\.0\.1:(\d+)/", line):
                pages.append(int(match.group(1)))
        for mine, other in ((pages[0], pages[1]), (pages[1], pages[0])):
            config = json.loads(http_get(mine, "/config.json")[2])
            assert config == {"servers": [f"ws://127.0.0.1:{other}/ws"]}
        ana = open_tab(f"http://127.0.0.1:{pages[0]}/")
        login(ana, "Ana")
        with Client(ports[1]) as bo:
            identify(bo, "Bo")
            bo.send("hola desde el nodo dos")
            expect(message(ana, "hola desde el nodo dos")).to_have_count(1, timeout=MS)
        assert_clean(ana)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT * 4) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_back_on_a_server_that_still_holds_the_name_the_page_waits_for_it(
        tmp_path: Path, open_tab: OpenTab) -> None:
    """Two servers that share nothing; B still holds Ana for another connection: the
    page says it waits for the name, and is back as Ana once it is free (no login form)."""
    a, b = (ServerThread(server_config(tmp_path / name, rate=0), http=True)
            for name in ("a", "b"))
    a.config = replace(a.config, web_servers=f"ws://127.0.0.1:{b.http_port}/ws")
    b.config = replace(b.config, web_servers=f"ws://127.0.0.1:{a.http_port}/ws")
    b.start()
    try:
        a.start()
        with Client(b.port) as holder:
            holder.identify("Ana")
            ana = open_tab(f"http://127.0.0.1:{a.http_port}/")
            login(ana, "Ana")
            a.stop()
            expect(ana.page.locator("#status")).to_contain_text(
                "still held for the lost connection", timeout=MS * 3)
            expect(ana.page.locator("#login")).to_be_hidden()
            holder.send("@<- QUIT")
            assert holder.closed()
            moved = f"Connected to another server: ws://127.0.0.1:{b.http_port}/ws"
            expect(ana.page.locator(".system .text", has_text=moved)).to_have_count(
                1, timeout=MS * 3)
        assert_clean(ana, allow=r"WebSocket connection to .* failed")
    finally:
        a.stop()
        b.stop()
