"""The full-screen client with several servers, and with a registered name.

Real app (headless Pilot) against real servers on free ports.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input

from tertulia.client.tui import NameScreen, TertuliaApp
from tests.client.tui_pilot import SIZE, has_line, identified, run, type_line, until
from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import QUIET


def test_the_app_moves_to_the_next_server_and_says_so(tmp_path: Path) -> None:
    """Two single-node servers that share nothing: when the first stops, the app moves
    to the second at once, says so, and goes on with the same name, rooms and draft."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ServerThread(server_config(tmp_path / "a", rate=0)).start()
    b = ServerThread(server_config(tmp_path / "b", rate=0)).start()

    async def main() -> None:
        app = TertuliaApp("127.0.0.1", 0, name="Ana", backoff=0.1,
                          servers=[("127.0.0.1", a.port), ("127.0.0.1", b.port)])
        async with app.run_test(size=SIZE) as pilot:
            await identified(pilot, app)
            assert app.port == a.port
            assert f"connected to 127.0.0.1:{a.port} as Ana" in app.status_view
            await type_line(pilot, "/join #cocina")
            await until(pilot, lambda: app.current == "#cocina", "#cocina")
            app.chat_input.value = "a medio escribir"
            await asyncio.to_thread(a.stop)
            await until(pilot, lambda: has_line(
                app, f"moved to the server 127.0.0.1:{b.port} (from 127.0.0.1:{a.port})",
                "#cocina"), "the notice of the move")
            await until(pilot, lambda: app.identified and app.port == b.port, "on B")
            assert has_line(app, f"disconnected from 127.0.0.1:{a.port}", "#cocina")
            await until(pilot, lambda: f"connected to 127.0.0.1:{b.port} as Ana"
                        in app.status_view, "the status line")
            assert app.chat_input.value == "a medio escribir"
            with Client(b.port) as bob:
                await asyncio.to_thread(bob.identify, "Bob")
                bob.send("@<- JOIN #cocina")
                await asyncio.to_thread(bob.until, r"^@-> OK JOIN #cocina")
                bob.send("@<- USERS #cocina")
                await asyncio.to_thread(bob.until, r"^@-> USER #cocina Ana #")
                bob.send("@<- SAY #cocina hola desde B")
                await until(pilot, lambda: has_line(app, "<Bob> hola desde B", "#cocina"),
                            "Bob's message on B")
    try:
        run(main)
    finally:
        a.stop()
        b.stop()


def test_back_on_a_server_that_still_holds_the_name_the_app_waits_for_it(
        tmp_path: Path) -> None:
    """B still holds Ana for another connection: the app says it waits (no name screen)
    and is back as Ana once that connection quits."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ServerThread(server_config(tmp_path / "a", rate=0)).start()
    b = ServerThread(server_config(tmp_path / "b", rate=0)).start()
    holder = Client(b.port)
    holder.identify("Ana")

    async def main() -> None:
        app = TertuliaApp("127.0.0.1", 0, name="Ana", backoff=0.1,
                          servers=[("127.0.0.1", a.port), ("127.0.0.1", b.port)])
        async with app.run_test(size=SIZE) as pilot:
            await identified(pilot, app)
            await asyncio.to_thread(a.stop)
            await until(pilot, lambda: has_line(
                app, "the name Ana is still held for the lost connection; waiting for it"),
                "the notice that it waits")
            assert app.name_screen is None
            holder.send("@<- QUIT")
            await until(pilot, lambda: app.identified and app.port == b.port, "back on B")
            assert app.me == "Ana" and app.name_screen is None
    try:
        run(main)
    finally:
        holder.close()
        a.stop()
        b.stop()


def test_a_registered_name_asks_for_its_password_masked(tmp_path: Path) -> None:
    """AUTH_REQUIRED: the password is asked for in a masked field; a wrong one is said
    and asked again; Esc goes back to choosing a name; the right one logs in, and is
    used again after a reconnection without asking."""
    first = ServerThread(server_config(tmp_path, rate=0)).start()
    port = first.port
    servers = [first]
    with Client(port) as ana:
        ana.identify("Ana")
        ana.send("@<- REGISTER secreto")
        ana.until(r"^@-> OK REGISTER Ana")

    async def main() -> None:
        app = TertuliaApp("127.0.0.1", port, name="Ana", backoff=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, NameScreen)
                        and app.screen.asking_password == "Ana", "the password prompt")
            screen = app.screen
            assert isinstance(screen, NameScreen)
            field = screen.query_one("#password-input", Input)
            assert field.password and field.display and app.focused is field
            assert not screen.query_one("#name-input", Input).display
            await pilot.press(*"malo", "enter")
            await until(pilot, lambda: "Wrong password" in screen.reason, "AUTH_FAILED")
            assert field.value == ""
            # Esc: another name instead.
            await pilot.press("escape")
            await until(pilot, lambda: screen.asking_password is None, "the name prompt")
            name_field = screen.query_one("#name-input", Input)
            assert name_field.display and not field.display
            name_field.value = "ana"
            await pilot.press("enter")
            await until(pilot, lambda: screen.asking_password == "ana", "asked again")
            await pilot.press(*"secreto", "enter")
            await identified(pilot, app)
            assert app.me == "ana" and not isinstance(app.screen, NameScreen)
            # A reconnection identifies with the same password, without asking.
            await asyncio.to_thread(servers[0].stop)
            await until(pilot, lambda: not app.identified, "the disconnection")
            servers.append(ServerThread(server_config(tmp_path, rate=0, port=port)).start())
            await until(pilot, lambda: app.identified, "the reconnection")
            assert not isinstance(app.screen, NameScreen)
    try:
        run(main)
    finally:
        for server in servers:
            server.stop()


def test_a_name_registered_from_the_app_reconnects_without_asking(tmp_path: Path) -> None:
    """After ``@<- REGISTER`` typed in the app, a reconnection uses that password."""
    first = ServerThread(server_config(tmp_path, rate=0)).start()
    port = first.port
    servers = [first]

    async def main() -> None:
        app = TertuliaApp("127.0.0.1", port, name="Ana", backoff=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await identified(pilot, app)
            await type_line(pilot, "@<- REGISTER clave")
            await until(pilot, lambda: has_line(app, "OK REGISTER Ana"), "the account")
            await asyncio.to_thread(servers[0].stop)
            await until(pilot, lambda: not app.identified, "the disconnection")
            servers.append(ServerThread(server_config(tmp_path, rate=0, port=port)).start())
            await until(pilot, lambda: app.identified, "the reconnection")
            assert not isinstance(app.screen, NameScreen)
    try:
        run(main)
    finally:
        for server in servers:
            server.stop()


def test_a_kick_takes_the_room_out_and_a_kick_from_the_server_is_final(
        tmp_path: Path) -> None:
    """Kicked out of a room: it leaves the list (and is not joined again); kicked out of
    #general, that is the server: the app says so and does not reconnect."""
    server = ServerThread(server_config(tmp_path, rate=0, operators=("Root",))).start()
    try:
        with Client(server.port) as first:
            first.identify("Root")
            first.send("@<- REGISTER raíz")
            first.until(r"^@-> OK REGISTER Root")
        with Client(server.port) as root:
            root.send("@<- IDENTIFY Root raíz")
            root.until(r"^@-> OK IDENTIFY Root ")
            root.send("@<- JOIN #cocina")
            root.until(r"^@-> OK JOIN #cocina")

            async def main() -> None:
                app = TertuliaApp("127.0.0.1", server.port, name="Ana", backoff=0.1)
                async with app.run_test(size=SIZE) as pilot:
                    await identified(pilot, app)
                    await type_line(pilot, "/join #cocina")
                    await until(pilot, lambda: app.current == "#cocina", "#cocina")
                    root.send("@<- KICK #cocina Ana fuera")
                    await until(pilot, lambda: "#cocina" not in app.conversations, "the kick")
                    assert app.current == "#general"
                    assert has_line(app, "you are out of #cocina (kicked by Root: fuera)")
                    root.send("@<- KICK #general Ana")
                    await until(pilot, lambda: has_line(app, "not reconnecting"), "the end")
                    await pilot.pause(QUIET * 3)
                    assert not app.identified and app.conn is None and app.is_running
            run(main)
    finally:
        server.stop()
