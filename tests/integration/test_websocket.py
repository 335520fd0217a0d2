"""The protocol over WebSocket (/ws), the HTTP routes, and the Origin check.

Real servers with HTTP on a free port, a raw-socket WebSocket client
(tests/integration/wsclient.py) so that bad frames can be sent as they are.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tertulia.frontends import http as http_frontend
from tertulia.frontends.http import client_address, origin_allowed
from tertulia.frontends.websocket import Framer, max_frame, text_frames
from tertulia.server.config import (
    ConfigError,
    add_arguments,
    from_namespace,
    origins_problem,
    parse_origins,
    parse_web_servers,
    web_server_origins,
)
from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.wsclient import (
    BINARY,
    CONTINUATION,
    TEXT,
    HandshakeRefused,
    WsClient,
    http_get,
)
from tests.timing import TIMEOUT

WebServer = Callable[..., ServerThread]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[WebServer]:
    """``web_server(**options)``: a real server that also serves HTTP on a free port."""
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        server = ServerThread(server_config(tmp_path, **overrides), http=True).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def ws_clients() -> Iterator[Callable[..., WsClient]]:
    opened: list[WsClient] = []

    def open_client(server: ServerThread, **kwargs: Any) -> WsClient:
        client = WsClient(server.http_port, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


# ------------------------------------------------------------------ pure parts


def test_text_frames_one_frame_per_line_with_every_length_form() -> None:
    data = b'{"a":1}\n' + b"x" * 200 + b"\n" + b"y" * 70000 + b"\n"
    out = text_frames(data)
    assert out[:2] == b"\x81\x07" and out[2:9] == b'{"a":1}'
    rest = out[9:]
    assert rest[:4] == b"\x81\x7e\x00\xc8" and rest[4:204] == b"x" * 200
    rest = rest[204:]
    assert rest[:2] == b"\x81\x7f" and int.from_bytes(rest[2:10], "big") == 70000
    assert rest[10:] == b"y" * 70000


def test_framer_frames_a_shared_message_once() -> None:
    """The hub hands one bytes object to every member: it is framed once, not per member."""
    framed = Framer()
    message = b'{"type":"message","text":"hola"}\n'
    first = framed(message)
    assert first == text_frames(message)
    assert framed(message) is first  # the same object: reused
    other = b"x" + message[1:]
    assert framed(other) == text_frames(other)
    assert framed(message) == first
    assert Framer()(other) == text_frames(other)  # one cache per server, not shared


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "chat.example.org", "", True),  # not a browser
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "", True),  # the page's own
        ("https://chat.example.org", "chat.example.org", "", True),  # behind a TLS proxy
        ("https://chat.example.org:443", "chat.example.org", "", True),
        ("http://chat.example.org", "chat.example.org:80", "", True),
        ("HTTP://Chat.Example.org/", "chat.example.org", "", True),
        ("http://evil.example", "127.0.0.1:8080", "", False),
        ("http://127.0.0.1:9999", "127.0.0.1:8080", "", False),
        ("null", "127.0.0.1:8080", "", False),
        ("file://", "127.0.0.1:8080", "", False),
        ("https://chat.example.org", "127.0.0.1:8080", "https://chat.example.org", True),
        ("https://other.example", "127.0.0.1:8080", "https://chat.example.org", False),
        ("https://other.example", "127.0.0.1:8080", "*", True),
    ],
)
def test_origin_rule(origin: str | None, host: str, allowed: str, ok: bool) -> None:
    assert origin_allowed(origin, host, parse_origins(allowed)) is ok


def test_client_address_as_tcp_writes_it() -> None:
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_address("192.0.2.7") == "192.0.2.7"
    assert client_address("2001:db8::1") == "2001:db8::1"
    assert client_address(None) == "?"


def test_allowed_origins_are_checked() -> None:
    assert origins_problem("https://a.example, http://b.example:8080/") == ""
    assert origins_problem("*") == ""
    assert "not scheme://host" in origins_problem("a.example")
    assert "not scheme://host" in origins_problem("https://a.example/path")
    assert "not scheme://host" in origins_problem("ftp://a.example")


# ------------------------------------------------------------------ HTTP routes


def test_healthz_page_and_security_headers(web_server: WebServer) -> None:
    server = web_server()
    status, headers, body = http_get(server.http_port, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, headers, body = http_get(server.http_port, "/")
    assert status == 200 and b"<!doctype html>" in body.lower()
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["server"] == "tertulia"  # no version for scanners


def test_no_files_outside_the_page(web_server: WebServer) -> None:
    server = web_server()
    for path in ("/static/../../server/config.py", "/static/%2e%2e/frontends/http.py",
                 "/static/", "/nothing"):
        status, _, body = http_get(server.http_port, path)
        assert status in (403, 404), (path, status)
        assert b"import" not in body


def test_http_connections_are_bounded(web_server: WebServer) -> None:
    """Past --max-connections open HTTP connections, one more gets 503 and is closed."""
    server = web_server(max_connections=2)
    held = []
    for _ in range(2):  # two kept-alive connections, each with a request answered
        sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=TIMEOUT)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        held.append(sock)
    status, _, body = http_get(server.http_port, "/healthz")
    assert status == 503 and body == b"too many connections; try again later\n"
    held.pop().close()
    deadline = time.monotonic() + TIMEOUT
    while http_get(server.http_port, "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "a freed slot was not reused"
        time.sleep(0.05)
    held[0].close()


def test_idle_http_connections_are_closed_but_not_websockets(
        web_server: WebServer, ws_clients: Callable[..., WsClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_frontend, "IDLE_TIMEOUT", 0.5)
    server = web_server()
    ana = ws_clients(server)
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=TIMEOUT) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert idle.recv(100) == b"", "an idle HTTP connection stayed open"
    time.sleep(0.6)
    _still_fine(ana, "after-idle")


def test_ws_without_upgrade_is_426(web_server: WebServer) -> None:
    server = web_server()
    status, headers, _ = http_get(server.http_port, "/ws")
    assert status == 426 and headers["upgrade"] == "websocket"


# ------------------------------------------------------------------ Origin


def test_origin_refused_before_upgrade(web_server: WebServer) -> None:
    """A page from another site may not open /ws: 403, and nothing reaches the chat."""
    server = web_server()
    with pytest.raises(HandshakeRefused) as refused:
        WsClient(server.http_port, origin="http://evil.example")
    assert refused.value.status == 403
    with pytest.raises(HandshakeRefused) as refused:
        WsClient(server.http_port, origin="null")
    assert refused.value.status == 403
    own = f"http://127.0.0.1:{server.http_port}"
    with WsClient(server.http_port, origin=own) as ana, WsClient(server.http_port) as bot:
        assert ana.welcome["type"] == "welcome"
        assert bot.welcome["type"] == "welcome"  # no Origin: not a browser


def test_allowed_origins_option(web_server: WebServer) -> None:
    server = web_server(allowed_origins="https://chat.example.org")
    with WsClient(server.http_port, origin="https://chat.example.org") as ana:
        assert ana.welcome["type"] == "welcome"
    with pytest.raises(HandshakeRefused):
        WsClient(server.http_port, origin="https://other.example")


def test_web_servers_are_checked_and_normalized() -> None:
    assert parse_web_servers(" WS://B.example:8081/ws, wss://c.example:443 ,ws://[::1]:80/x") == (
        "ws://b.example:8081/ws", "wss://c.example/ws", "ws://[::1]/x")
    assert parse_web_servers("ws://b:1/ws,ws://b:1/ws") == ("ws://b:1/ws",)
    assert web_server_origins(("ws://b.example:8081/ws", "wss://c.example/ws")) == {
        "http://b.example:8081", "https://c.example"}
    for bad in ("http://b/ws", "b:8081", "ws:///ws", "ws://b:99999/ws", "ws://u@b/ws",
                "ws://b/ws?x=1", "ws://b/ws;script-src", "ws://b/w s"):
        with pytest.raises(ValueError):
            parse_web_servers(bad)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(ConfigError, match="--web-servers takes URLs such as wss://"):
        from_namespace(parser.parse_args(["--web-servers", "http://b/ws"]))
    ns = parser.parse_args(["--web-servers", "ws://B:1"])
    assert from_namespace(ns).web_servers == "ws://b:1/ws"


def test_web_servers_option(web_server: WebServer) -> None:
    """The page learns the other nodes (/config.json), its CSP lets it reach exactly them,
    and each listed node's page may open /ws here; other sites still may not."""
    server = web_server(web_servers="ws://127.0.0.1:8082/ws,wss://b.example.org/ws")
    status, headers, body = http_get(server.http_port, "/config.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"servers": ["ws://127.0.0.1:8082/ws", "wss://b.example.org/ws"]}
    csp = headers["content-security-policy"]
    assert "connect-src 'self' ws://127.0.0.1:8082/ws wss://b.example.org/ws;" in csp
    for origin in ("http://127.0.0.1:8082", "https://b.example.org"):
        with WsClient(server.http_port, origin=origin) as ana:
            assert ana.welcome["type"] == "welcome"
    for origin in ("https://127.0.0.1:8082", "http://b.example.org", "http://evil.example"):
        with pytest.raises(HandshakeRefused):
            WsClient(server.http_port, origin=origin)
    alone = web_server()
    assert json.loads(http_get(alone.http_port, "/config.json")[2]) == {"servers": []}
    assert "connect-src 'self';" in http_get(alone.http_port, "/")[1]["content-security-policy"]


# ------------------------------------------------------------------ chatting


def test_web_and_tcp_users_share_rooms(web_server: WebServer,
                                       ws_clients: Callable[..., WsClient]) -> None:
    server = web_server()
    ana = ws_clients(server)
    assert ana.welcome["type"] == "welcome" and ana.welcome["server"]
    ana.identify("Ana")
    with Client(server.port) as bob:
        bob.identify("Bob")
        ana.until(type="join", room="#general", name="Bob")
        ana.send_json({"cmd": "say", "room": "#general", "text": "hola Bob", "ref": 1})
        mine = ana.json()
        assert mine["type"] == "message" and mine["ref"] == 1 and mine["text"] == "hola Bob"
        assert bob.line().endswith("Ana\x1b[0m> hola Bob")
        bob.send("hola Ana")
        theirs = ana.json()
        assert (theirs["type"], theirs["from"], theirs["text"]) == ("message", "Bob", "hola Ana")
        bob.send("@<- MSG Ana en privado")
        bob.expect("@-> OK MSG Ana")
        private = ana.json()
        assert (private["type"], private["from"], private["text"]) == (
            "private", "Bob", "en privado")


def test_trailing_newline_fragments_and_empty_frames(web_server: WebServer,
                                                      ws_clients: Callable[..., WsClient]) -> None:
    server = web_server()
    ana = ws_clients(server)
    ana.send_text('{"cmd": "ping", "token": "a"}\r\n')  # a line end is allowed
    assert ana.json() == {"type": "ok", "cmd": "ping", "token": "a"}
    ana.send_text("")  # an empty line: ignored, no reply
    ana.send_text("\n")
    ana.send_frame(TEXT, b'{"cmd": "pi', fin=False)  # one message in two fragments
    ana.send_frame(CONTINUATION, b'ng", "token": "b"}')
    assert ana.json() == {"type": "ok", "cmd": "ping", "token": "b"}
    ana.send_text('{\n  "cmd": "ping",\n  "token": "c"\n}')  # one frame is one line
    assert ana.json() == {"type": "ok", "cmd": "ping", "token": "c"}
    ana.quiet()


def test_pipelined_frames_keep_their_order_one_object_per_frame(
        web_server: WebServer, ws_clients: Callable[..., WsClient]) -> None:
    """200 frames in one write: 200 replies in order, each its own frame, although the
    server coalesces the output of a loop turn into one write."""
    server = web_server(rate=0)
    ana, bob = ws_clients(server), ws_clients(server)
    ana.identify("Ana")
    bob.identify("Bob")
    ana.until(type="join", name="Bob")
    ana.sock.sendall(b"".join(
        ana.frame_bytes(TEXT, json.dumps({"cmd": "say", "text": f"m{n} " + "x" * (n * 3),
                                          "ref": n}).encode())
        for n in range(200)))
    mine = [ana.json() for _ in range(200)]
    assert [m["ref"] for m in mine] == list(range(200))
    theirs = [bob.json() for _ in range(200)]
    assert [t["text"] for t in theirs] == [f"m{n} " + "x" * (n * 3) for n in range(200)]
    assert [t["id"] for t in theirs] == [m["id"] for m in mine]


# ------------------------------------------------------------------ bad frames


def _still_fine(client: WsClient, token: str) -> None:
    client.send_json({"cmd": "ping", "token": token})
    assert client.json() == {"type": "ok", "cmd": "ping", "token": token}


def test_bad_frames_get_errors_and_the_connection_goes_on(
        web_server: WebServer, ws_clients: Callable[..., WsClient]) -> None:
    server = web_server(max_line=4096)
    ana = ws_clients(server)
    ana.identify("Ana")
    # A binary frame.
    ana.send_frame(BINARY, b'{"cmd": "ping"}')
    err = ana.json()
    assert err["type"] == "error" and err["code"] == "BAD_ENCODING", err
    _still_fine(ana, "after-binary")
    # Invalid UTF-8 in a text frame: as on TCP, not a dropped connection.
    ana.send_text(b'{"cmd": "say", "text": "\xff\xfe"}')
    assert ana.json()["code"] == "BAD_ENCODING"
    _still_fine(ana, "after-utf8")
    # Not JSON, not an object, no cmd.
    for bad in ("hola", "[1, 2]", '{"text": "x"}', '"cmd"'):
        ana.send_text(bad)
        assert ana.json()["code"] == "BAD_JSON", bad
    # Nesting bombs, within the line limit.
    ana.send_text("[" * 4000)
    assert ana.json()["code"] == "BAD_JSON"
    ana.send_text('{"cmd": "ping", "token": ' + "[" * 2000 + "]" * 2000 + "}")
    assert ana.json()["code"] == "BAD_JSON"
    _still_fine(ana, "after-bombs")
    # Over-long: exactly max_line bytes is a line, one more is LINE_TOO_LONG.
    exact = '{"cmd": "ping", "token": "t", "pad": "' + "p" * 4096
    exact = exact[: 4096 - 2] + '"}'
    assert len(exact.encode()) == 4096
    ana.send_text(exact)
    assert ana.json() == {"type": "ok", "cmd": "ping", "token": "t"}
    ana.send_text(exact[:-2] + 'p"}')
    err = ana.json()
    assert err["code"] == "LINE_TOO_LONG", err
    ana.send_text("x" * 500_000)
    assert ana.json()["code"] == "LINE_TOO_LONG"
    _still_fine(ana, "after-long")


def test_frame_over_the_size_limit_closes_1009(web_server: WebServer,
                                               ws_clients: Callable[..., WsClient]) -> None:
    server = web_server()
    ana = ws_clients(server)
    with Client(server.port) as bob:
        ana.identify("Ana")
        bob.identify("Bob")
        ana.send_text(b"x" * (max_frame(4096) + 1))
        ana.until_closed()
        assert ana.close_code == 1009
        bob.until(r"^@-> QUIT Ana ")
        bob.send("@<- PING alive")
        bob.until("^@-> OK PING alive$")


def test_bad_frames_in_a_row_end_the_connection(web_server: WebServer,
                                                ws_clients: Callable[..., WsClient]) -> None:
    server = web_server(max_errors=5, rate=0)
    ana = ws_clients(server)
    for _ in range(5):
        ana.send_frame(BINARY, b"\x00")
    got = ana.until_closed()
    assert [g["code"] for g in got] == ["BAD_ENCODING"] * 5 + ["PROTOCOL_ERRORS"]
    assert got[-1]["type"] == "bye" and ana.close_code == 1000


def test_rate_limit_applies_to_frames(web_server: WebServer,
                                      ws_clients: Callable[..., WsClient]) -> None:
    server = web_server(rate=1, burst=3)
    ana = ws_clients(server)
    for n in range(5):
        ana.send_json({"cmd": "ping", "token": str(n)})
    got = [ana.json() for _ in range(5)]
    assert [g.get("token") for g in got[:3]] == ["0", "1", "2"]
    assert [g.get("code") for g in got[3:]] == ["RATE_LIMITED", "RATE_LIMITED"]


def test_server_ping_and_ping_timeout(web_server: WebServer,
                                      ws_clients: Callable[..., WsClient]) -> None:
    """An idle WebSocket gets the protocol's ping object (not a WebSocket ping frame);
    a pong keeps it, silence ends it with BYE PING_TIMEOUT."""
    server = web_server(ping_interval=0.3, ping_timeout=0.4)
    ana = ws_clients(server)
    ping = ana.json()
    assert ping["type"] == "ping" and ping["token"], ping
    ana.send_json({"cmd": "pong", "token": ping["token"]})
    assert ana.json()["type"] == "ping"  # answered, so still here: the next one comes
    got = ana.until_closed()  # now silent
    assert got[-1]["type"] == "bye" and got[-1]["code"] == "PING_TIMEOUT", got
    assert ana.close_code == 1000


def test_too_many_connections_is_the_only_frame(web_server: WebServer,
                                                ws_clients: Callable[..., WsClient]) -> None:
    server = web_server(max_per_ip=1)
    ws_clients(server)
    late = ws_clients(server, read_welcome=False)
    got = late.until_closed()
    assert [g["type"] for g in got] == ["bye"] and got[0]["code"] == "TOO_MANY_CONNECTIONS"


# ------------------------------------------------------------------ slow reader, shutdown


def test_slow_reader_is_cut_at_max_sendq_and_nobody_waits(
        web_server: WebServer, ws_clients: Callable[..., WsClient]) -> None:
    """A WebSocket client that never reads gets BYE SLOW_CONSUMER and close 1008."""
    server = web_server(rate=0, max_sendq=65536, history_on_join=0)
    slow = ws_clients(server, rcvbuf=4096)
    slow.identify("Slow")
    with Client(server.port) as sender, Client(server.port) as reader:
        sender.identify("Sender")
        reader.identify("Reader")
        pad = "p" * 3900
        batch = 16
        total = 0
        quit_line = None
        # Far more than kernel buffers hold, batch by batch as fast as the reader reads.
        for first in range(0, 2000, batch):
            sender.send_raw("".join(f"{i} {pad}\n" for i in range(first, first + batch)).encode())
            for _ in range(batch):
                line = reader.line()
                while line.startswith("@-> "):
                    if line.startswith("@-> QUIT Slow"):
                        quit_line = line
                    line = reader.line()
                total += 1
            if quit_line:
                break
        assert quit_line == "@-> QUIT Slow Slow consumer", f"not cut after {total} messages"
    # What the slow reader finally reads: messages, then the BYE, then close 1008.
    got = slow.until_closed(TIMEOUT * 2)
    assert got and got[-1]["type"] == "bye" and got[-1]["code"] == "SLOW_CONSUMER"
    assert slow.close_code == 1008
    assert len(got) - 1 < total


def test_shutdown_says_bye_and_closes_1001(tmp_path: Path) -> None:
    server = ServerThread(server_config(tmp_path), http=True).start()
    try:
        ana = WsClient(server.http_port)
        ana.identify("Ana")
        ana.send_json({"cmd": "say", "text": "última", "ref": 1})
        assert ana.json()["text"] == "última"
    finally:
        server.stop()
    got = ana.until_closed()
    assert got[-1]["type"] == "bye" and got[-1]["code"] == "SERVER_SHUTDOWN"
    assert ana.close_code == 1001
    ana.close()


# ------------------------------------------------------------------ adversarial


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
def test_ten_megabyte_frames_are_cut_and_not_kept(tmp_path: Path, fragmented: bool) -> None:
    """20 WebSockets each send 10 MB as one message (one frame, or 64 KiB fragments):
    each is closed with 1009 once past the frame limit, the server's memory grows by
    far less than what was sent, and a TCP and a web user chat on throughout."""
    from tests.integration.harness import spawn_server
    from tests.integration.test_adversarial import MIB, rss

    http_port = _free_port()
    with spawn_server("--http-port", str(http_port), "--history-on-join", "0", "--rate", "0",
                      tmp_path=tmp_path) as (proc, port), Client(port) as bob:
        bob.identify("Bob")
        ana = WsClient(http_port)
        ana.identify("Ana")
        bob.until(r"^@-> JOIN #general Ana ")
        baseline = rss(proc.pid)
        attackers = [WsClient(http_port) for _ in range(20)]
        size = 10 * MIB
        chunk = b"x" * (64 * 1024)
        for n, attacker in enumerate(attackers):
            try:
                if fragmented:
                    for i in range(size // len(chunk)):
                        attacker.send_frame(TEXT if i == 0 else CONTINUATION, chunk, fin=False)
                else:
                    attacker.sock.sendall(attacker.frame_bytes(TEXT, b"x" * size))
            except OSError:
                pass  # cut while sending: what should happen
            ana.send_json({"cmd": "say", "text": f"still here {n}"})
            assert ana.until(type="message", text=f"still here {n}")
            bob.until(f"> still here {n}$")
        for attacker in attackers:
            try:
                attacker.until_closed()
                assert attacker.close_code == 1009
            except ConnectionError:
                pass  # reset before the close frame could be read: also cut
            attacker.close()
        grown = rss(proc.pid) - baseline
        assert grown < 16 * MIB, f"RSS grew by {grown / MIB:.1f} MiB for {20 * size // MIB} MiB sent"
        ana.send_json({"cmd": "ping", "token": "end"})
        assert ana.until(type="ok", cmd="ping")["token"] == "end"
        ana.close()
        assert proc.poll() is None
