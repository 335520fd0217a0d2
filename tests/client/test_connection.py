"""``tertulia.client.connection``: the JSON-mode connection, against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tertulia.client.connection import Connection, ConnectionClosed, command_fields
from tertulia.protocol.errors import ProtocolError
from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import TIMEOUT

T = TypeVar("T")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(server_config(tmp_path)).start()
    yield server
    server.stop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


async def next_event(conn: Connection, kind: str) -> dict[str, Any]:
    """The next event of type ``kind`` (others are skipped)."""
    async def find() -> dict[str, Any]:
        async for event in conn.events():
            if event.get("type") == kind:
                return event
        raise AssertionError(f"events ended before a {kind}")
    return await asyncio.wait_for(find(), TIMEOUT)


def test_identify_replies_are_matched_by_ref_and_history_is_an_event(server: ServerThread) -> None:
    """An ok or error reply goes to its request; the history after IDENTIFY is an event."""
    async def main() -> None:
        conn = Connection("127.0.0.1", server.port)
        await conn.connect()
        assert conn.welcome
        bad = await conn.request("identify", name="9nope")
        assert bad["type"] == "error" and bad["code"] == "INVALID_NAME"
        ok = await conn.request("identify", name="Ana")
        assert ok["type"] == "ok" and ok["name"] == "Ana" and ok["color"].startswith("#")
        history = await next_event(conn, "history")
        assert history["room"] == "#general"
        await conn.quit()
        assert conn.bye is not None and conn.bye["code"] == "QUIT"
    run(main())


def test_say_reply_is_the_senders_copy_and_also_an_event(server: ServerThread) -> None:
    """say's reply is the message itself; others' messages and joins come as events."""
    async def main() -> None:
        conn = Connection("127.0.0.1", server.port)
        await conn.connect()
        await conn.request("identify", name="Ana")
        mine = await conn.request("say", room="#general", text="hola <b>[red]x[/red]")
        assert mine["type"] == "message" and mine["text"] == "hola <b>[red]x[/red]"
        echoed = await next_event(conn, "message")
        assert echoed["id"] == mine["id"]
        with Client(server.port) as bob:
            await asyncio.to_thread(bob.identify, "Bob")
            joined = await next_event(conn, "join")
            assert joined["name"] == "Bob"
            bob.send("hola Ana")
            got = await next_event(conn, "message")
            assert (got["from"], got["text"]) == ("Bob", "hola Ana")
            assert got["color"].startswith("#")
            private = await conn.request("msg", to="Bob", text="psst")
            assert private["type"] == "private" and private["to"] == "Bob"
            line = await asyncio.to_thread(bob.until, r"Ana.*psst$")
            assert line.endswith("psst")
        await conn.close()
    run(main())


def test_a_line_error_without_ref_answers_the_oldest_request(server: ServerThread) -> None:
    """RATE_LIMITED has no ref: it still ends the request it answers (replies are in order)."""
    async def main() -> None:
        conn = Connection("127.0.0.1", server.port)
        await conn.connect()
        await conn.request("identify", name="Ana")
        replies = await asyncio.gather(*(conn.request("ping", token=str(i)) for i in range(40)))
        kinds = {r["type"] for r in replies}
        assert "ok" in kinds
        assert any(r.get("code") == "RATE_LIMITED" for r in replies)
        await conn.close()
    run(main())


def test_server_pings_are_answered(tmp_path: Path) -> None:
    """The server's ping gets a pong, so a quiet client is not dropped (ping 0.3 s + 0.5 s)."""
    server = ServerThread(server_config(tmp_path, ping_interval=0.3, ping_timeout=0.5)).start()

    async def main() -> None:
        conn = Connection("127.0.0.1", server.port)
        await conn.connect()
        await conn.request("identify", name="Ana")
        await asyncio.sleep(1.2)  # longer than ping_interval + ping_timeout
        assert not conn.closed.is_set()
        reply = await conn.request("ping", token="alive")
        assert reply["type"] == "ok" and reply["token"] == "alive"
        await conn.close()
    try:
        run(main())
    finally:
        server.stop()


def test_pending_requests_fail_and_events_end_when_the_server_goes(tmp_path: Path) -> None:
    """When the connection ends, a waiting request raises ConnectionClosed and events stop."""
    server = ServerThread(server_config(tmp_path)).start()

    async def main() -> None:
        conn = Connection("127.0.0.1", server.port)
        await conn.connect()
        await conn.request("identify", name="Ana")
        await asyncio.to_thread(server.stop)
        events = [e async for e in conn.events()]
        assert any(e.get("type") == "bye" and e["code"] == "SERVER_SHUTDOWN" for e in events)
        with pytest.raises(ConnectionClosed):
            await conn.request("ping")
    try:
        run(main())
    finally:
        server.stop()


def test_connect_to_nothing_raises_oserror(tmp_path: Path) -> None:
    """No server: connect raises OSError (the caller says why and retries)."""
    server = ServerThread(server_config(tmp_path)).start()
    port = server.port
    server.stop()
    with pytest.raises(OSError):
        run(Connection("127.0.0.1", port).connect())


def test_raw_command_lines_become_json_requests() -> None:
    """``@<- VERB args`` lines are parsed with the server's own parser."""
    assert command_fields("@<- MSG Bob hola  que tal") == {"cmd": "msg", "to": "Bob",
                                                          "text": "hola  que tal"}
    assert command_fields("@<- join #Cocina") == {"cmd": "join", "room": "#Cocina"}
    assert command_fields("@<- HISTORY #a 5 before 000000000000000a") == {
        "cmd": "history", "room": "#a", "limit": 5, "before": "000000000000000a"}
    assert command_fields("@<- HELP ping") == {"cmd": "help", "verb": "ping"}
    assert command_fields("@<- TOPIC #a nuevo tema") == {"cmd": "topic", "room": "#a",
                                                        "text": "nuevo tema"}
    assert command_fields("@<- PASSWORD vieja nueva clave") == {
        "cmd": "password", "old": "vieja", "new": "nueva clave"}
    assert command_fields("@<- UNREGISTER mi clave") == {"cmd": "unregister",
                                                        "password": "mi clave"}
    with pytest.raises(ProtocolError) as info:
        command_fields("@<- DANCE")
    assert str(info.value.code) == "UNKNOWN_COMMAND"
