"""The JSON-mode suite of test_json_mode.py, run again with its JSON users on WebSocket.

One shared suite over both transports (STYLE.md §5, like trio's
``check_two_way_stream``): every test of test_json_mode.py that gets its
clients from the ``connect`` or ``fast`` fixture runs here unchanged, on a
server that also serves /ws.  Those tests make a JSON user with
``to_json(connect())``, which first sends ``@<- PROTO json``; the
:class:`SwitchingClient` below answers that by dropping its fresh TCP
connection and going on over a WebSocket (JSON from the first frame), so
every JSON user is a browser-like client while the text users stay on TCP,
in the same rooms.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_json_mode as shared
from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.wsclient import CLOSE, TEXT, WsClient
from tests.timing import QUIET, TIMEOUT

# Not about JSON users: PROTO from text mode on TCP (a WebSocket starts in JSON).
NOT_SHARED = {"test_proto_json_is_answered_in_text"}


class SwitchingClient:
    """The interface of harness.Client; becomes a WebSocket client on ``@<- PROTO json``."""

    def __init__(self, port: int, http_port: int) -> None:
        self.http_port = http_port
        self.tcp: Client | None = Client(port)
        self.welcome = self.tcp.welcome
        self.ws: WsClient | None = None
        self.queued: list[str] = []
        self.buf = b""

    # -------------------------------------------------------------- sending
    def send(self, line: str) -> None:
        if self.tcp is not None and self.ws is None and line == "@<- PROTO json":
            self.tcp.close()
            self.tcp = None
            self.ws = WsClient(self.http_port)
            self.queued.append("@-> OK PROTO json")
            return
        if self.ws is not None:
            self.ws.send_text(line)
        else:
            assert self.tcp is not None
            self.tcp.send(line)

    def send_json(self, obj: dict[str, Any]) -> None:
        self.send(json.dumps(obj))

    def send_raw(self, data: bytes) -> None:
        if self.ws is None:
            assert self.tcp is not None
            self.tcp.send_raw(data)
            return
        for line in data.split(b"\n")[:-1]:  # one frame per line
            self.ws.send_text(line)

    # -------------------------------------------------------------- receiving
    def line(self, timeout: float = TIMEOUT) -> str:
        if self.queued:
            return self.queued.pop(0)
        if self.ws is None:
            assert self.tcp is not None
            return self.tcp.line(timeout)
        opcode, payload = self.ws.frame(timeout)
        assert opcode == TEXT, f"expected a text frame, got opcode {opcode} {payload[:200]!r}"
        return payload.decode()

    def json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        obj = json.loads(self.line(timeout))
        assert isinstance(obj, dict)
        return obj

    def expect(self, prefix: str) -> str:
        got = self.line()
        assert got.startswith(prefix), f"expected {prefix!r}, got {got!r}"
        return got

    def until(self, pattern: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            got = self.line(max(0.0, deadline - time.monotonic()))
            if re.search(pattern, got):
                return got

    def lines_until(self, pattern: str) -> list[str]:
        out = []
        while True:
            out.append(self.line())
            if re.search(pattern, out[-1]):
                return out

    def quiet(self, within: float = QUIET) -> None:
        assert not self.queued
        if self.ws is None:
            assert self.tcp is not None
            self.tcp.quiet(within)
        else:
            self.ws.quiet(within)

    def closed(self, timeout: float = TIMEOUT) -> bool:
        if self.ws is None:
            assert self.tcp is not None
            return self.tcp.closed(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                opcode, payload = self.ws.frame(max(0.01, deadline - time.monotonic()))
                if opcode == CLOSE:
                    return True
                self.buf += payload + b"\n"
        except ConnectionError:
            return True
        return False

    def close(self) -> None:
        for end in (self.tcp, self.ws):
            if end is not None:
                end.close()

    def __enter__(self) -> SwitchingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def ws_server(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        started.append(ServerThread(server_config(tmp_path, **overrides), http=True).start())
        return started[-1]

    yield make
    for server in started:
        server.stop()


def _opener(server: ServerThread) -> Iterator[Callable[[], SwitchingClient]]:
    clients: list[SwitchingClient] = []

    def open_client() -> SwitchingClient:
        clients.append(SwitchingClient(server.port, server.http_port))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def connect(ws_server: Callable[..., ServerThread]) -> Iterator[Callable[[], SwitchingClient]]:
    yield from _opener(ws_server())


@pytest.fixture
def fast(ws_server: Callable[..., ServerThread]) -> Iterator[Callable[[], SwitchingClient]]:
    yield from _opener(ws_server(rate=0))


def _shared_tests() -> dict[str, Callable[..., None]]:
    out = {}
    for name, fn in vars(shared).items():
        if not name.startswith("test_") or name in NOT_SHARED or not callable(fn):
            continue
        if set(inspect.signature(fn).parameters) <= {"connect", "fast"}:
            out[name] = fn
    return out


SHARED = _shared_tests()
globals().update(SHARED)


def test_the_shared_suite_is_not_empty() -> None:
    assert len(SHARED) >= 15, sorted(SHARED)
