"""The full-screen client (``tertulia connect``), driven headless by Textual's Pilot.

Each test runs the real app against a real server on a free port; other users
are blocking harness clients, whose waits run in a thread so that the app's
event loop keeps going.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, OptionList, RichLog

from tertulia.client.tui import NameScreen, TertuliaApp, render_message
from tests.client.tui_pilot import (
    SIZE,
    ana_in,
    has_line,
    identified,
    log_text,
    plain_lines,
    run,
    server,
    type_line,
    until,
)
from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import QUIET

__all__ = ["server"]  # the fixture

def test_name_prompt_retries_after_a_taken_and_an_invalid_name(server: ServerThread) -> None:
    """Without --name the app asks; a taken or invalid name is explained and asked again."""
    with Client(server.port) as ana:
        ana.identify("Ana")

        async def main() -> None:
            app = TertuliaApp("127.0.0.1", server.port)
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: isinstance(app.screen, NameScreen), "the name screen")
                screen = app.screen
                assert isinstance(screen, NameScreen)
                await pilot.press(*"ANA", "enter")
                await until(pilot, lambda: "taken" in screen.reason, "NAME_IN_USE explained")
                assert "ANA" in screen.reason
                assert isinstance(app.screen, NameScreen)  # asked again
                field = screen.query_one("#name-input", Input)
                field.value = "9x"
                await pilot.press("enter")
                await until(pilot, lambda: "not valid" in screen.reason, "INVALID_NAME")
                field.value = "Beto"
                await pilot.press("enter")
                await identified(pilot, app)
                assert not isinstance(app.screen, NameScreen)
                assert app.me == "Beto"
                assert isinstance(app.focused, Input) and app.focused.id == "input"
            await asyncio.to_thread(ana.until, r"^@-> JOIN #general Beto #")
        run(main)


def test_messages_sent_and_received_with_colours_as_plain_text(server: ServerThread) -> None:
    """A typed line is sent and shown; Bob's message shows his name in his colour.

    Markup in a message stays literal text (never interpreted)."""
    with Client(server.port) as bob:
        bob_color = bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await until(pilot, lambda: "bob" in app.here.members, "the members list")
                await type_line(pilot, "hola [bold]Bob[/bold]")
                await until(pilot, lambda: has_line(app, "<Ana> hola [bold]Bob[/bold]"),
                            "my own message")
                await asyncio.to_thread(bob.until, r"hola \[bold\]Bob\[/bold\]$")
                # What Ana is typing is not touched by what arrives.
                app.chat_input.value = "estoy escribiendo"
                app.chat_input.cursor_position = 5
                bob.send("hola Ana, ¿qué tal? 你好")
                await until(pilot, lambda: has_line(app, "<Bob> hola Ana"), "Bob's message")
                assert app.chat_input.value == "estoy escribiendo"
                assert app.chat_input.cursor_position == 5
                app.chat_input.value = ""
                entry = next(e for e in app.here.entries if "<Bob>" in e.text.plain)
                text = entry.text
                start = text.plain.index("Bob")
                styles = [str(s.style) for s in text.spans if s.start <= start < s.end]
                assert bob_color in styles, (styles, bob_color)
                assert text.plain.endswith("> hola Ana, ¿qué tal? 你好")
                # A local HH:MM time comes first.
                assert text.plain[2] == ":" and text.plain[:2].isdigit()
                # Ana is named: the line is highlighted.
                assert any("on #" in str(s.style) for s in text.spans)
                # The line was drawn in the log with Bob's colour.
                log = app.query_one("#log", RichLog)
                await until(pilot, lambda: any("Bob" in seg.text and seg.style is not None
                                               and seg.style.color is not None
                                               and seg.style.color.triplet is not None
                                               and seg.style.color.triplet.hex == bob_color
                                               for strip in log.lines for seg in strip),
                            "Bob's name drawn in his colour")
                # The members list shows Bob in his colour.
                members = app.members_view
                assert "Bob" in members.plain
                assert any(str(s.style) == bob_color for s in members.spans)
                # An action.
                bob.send("@<- ME baila")
                await until(pilot, lambda: has_line(app, "* Bob baila"), "Bob's action")
        run(main)


def test_rooms_unread_counts_and_switching(server: ServerThread) -> None:
    """/join opens a room; a message elsewhere counts as unread; Ctrl+P/N, Alt+2, a click switch."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await type_line(pilot, "/join #cocina")
                await until(pilot, lambda: app.current == "#cocina", "the switch to #cocina")
                await type_line(pilot, "/topic recetas")
                await until(pilot, lambda: "recetas" in app.topic_view.plain, "the topic line")
                bob.send("en general")
                await until(pilot, lambda: app.conversations["#general"].unread == 1,
                            "an unread count")
                rooms = app.query_one("#rooms", OptionList)
                assert "#general (1)" in " ".join(
                    str(rooms.get_option_at_index(i).prompt) for i in range(rooms.option_count))
                await pilot.press("ctrl+p")
                assert app.current == "#general"
                assert app.conversations["#general"].unread == 0
                assert has_line(app, "<Bob> en general")
                await pilot.press("alt+2")
                assert app.current == "#cocina"
                await pilot.press("ctrl+n")
                assert app.current == "#general"
                await pilot.click("#rooms", offset=(3, 1))  # the second line: #cocina
                await until(pilot, lambda: app.current == "#cocina", "a click on #cocina")
                assert app.focused is app.chat_input
                await type_line(pilot, "/leave #cocina")
                await until(pilot, lambda: "#cocina" not in app.conversations, "the leave")
        run(main)


def test_private_messages_have_their_own_conversation(server: ServerThread) -> None:
    """A private message from Bob opens *Bob; an answer typed there goes to Bob only."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                bob.send("@<- MSG Ana psst")
                await until(pilot, lambda: "bob" in app.conversations, "the private entry")
                conv = app.conversations["bob"]
                assert conv.private and conv.unread == 1 and conv.mentioned
                assert "*Bob* psst" in conv.entries[-1].text.plain
                await pilot.press("ctrl+n")
                assert app.current == "bob"
                await type_line(pilot, "te escucho")
                await asyncio.to_thread(bob.until, r"Ana.* te escucho$")
                await type_line(pilot, "/msg Bob otra")
                await asyncio.to_thread(bob.until, r"Ana.* otra$")
        run(main)


def test_commands_history_and_raw_lines(server: ServerThread) -> None:
    """Up recalls sent lines; a raw @<- line is sent; an unknown one shows help."""
    async def main() -> None:
        async with ana_in(server) as (app, pilot):
            await type_line(pilot, "uno")
            await type_line(pilot, "@<- USERS #general")
            await until(pilot, lambda: has_line(app, "1 users: Ana"), "the USERS reply")
            await type_line(pilot, "@<- DANCE")
            await until(pilot, lambda: has_line(app, "/join #room"), "the help")
            await pilot.press("up")
            assert app.chat_input.value == "@<- DANCE"
            await pilot.press("up", "up")
            assert app.chat_input.value == "uno"
            await pilot.press("down", "down", "down")
            assert app.chat_input.value == ""
            app.chat_input.value = "/jo"
            app.chat_input.cursor_position = 3
            await pilot.press("tab")
            assert app.chat_input.value == "/join "
    run(main)


def test_ctrl_c_clears_then_warns_then_quits(server: ServerThread) -> None:
    """Ctrl+C with text clears it; on empty input once shows a hint; twice sends QUIT."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await asyncio.to_thread(bob.until, r"^@-> JOIN #general Ana")
                app.chat_input.value = "a medio escribir"
                await pilot.press("ctrl+c")
                assert app.chat_input.value == ""
                assert app.is_running
                await pilot.press("up")  # not lost: it is in the input history
                assert app.chat_input.value == "a medio escribir"
                await pilot.press("ctrl+c")
                await pilot.press("ctrl+c")
                assert "Ctrl+C again" in app.status_view
                await pilot.pause(QUIET)
                assert app.is_running and not app.quitting
                await pilot.press("ctrl+c")
                await until(pilot, lambda: not app.is_running, "the app to exit")
            assert app.return_code == 0
            await asyncio.to_thread(bob.until, r"^@-> QUIT Ana ")
        run(main)


def test_ctrl_d_on_empty_input_quits(server: ServerThread) -> None:
    """Ctrl+D with text deletes; on an empty input line it quits."""
    async def main() -> None:
        async with ana_in(server) as (app, pilot):
            app.chat_input.value = "ab"
            app.chat_input.cursor_position = 0
            await pilot.press("ctrl+d")
            assert app.chat_input.value == "b" and app.is_running
            app.chat_input.value = ""
            await pilot.press("ctrl+d")
            await until(pilot, lambda: not app.is_running, "the app to exit")
    run(main)


def test_render_message_never_interprets_markup() -> None:
    """A message's text is kept as plain text, whatever brackets it holds."""
    msg = {"type": "message", "from": "Eve", "color": "#112233", "kind": "say",
           "text": "[link=x]click[/link] [red]", "ts": "2026-12-01T10:00:00.000Z"}
    text = render_message(msg, "Ana")
    assert text.plain.endswith("<Eve> [link=x]click[/link] [red]")
    assert all("link" not in str(s.style) for s in text.spans)


def test_reconnect_keeps_name_rooms_and_typed_text_and_catches_up(tmp_path: Path) -> None:
    """After the server restarts, the app reconnects as the same user, rejoins its rooms,
    and fetches every message it missed (more than the 20 sent on join), in order."""
    first = ServerThread(server_config(tmp_path, rate=0)).start()
    port = first.port
    servers = [first]

    async def main() -> None:
        app = TertuliaApp("127.0.0.1", port, name="Ana", backoff=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await identified(pilot, app)
            await type_line(pilot, "/join #vacia")  # no message seen there
            await until(pilot, lambda: app.current == "#vacia", "#vacia")
            await type_line(pilot, "/join #cocina")
            await type_line(pilot, "antes")
            await until(pilot, lambda: has_line(app, "<Ana> antes", "#cocina"), "a message")
            app.chat_input.value = "a medio escribir"
            await asyncio.to_thread(first.stop)
            await until(pilot, lambda: not app.identified, "the disconnection")
            await until(pilot, lambda: app.status_view in ("reconnecting...", "not connected"),
                        "the status line")
            assert has_line(app, "disconnected from 127.0.0.1", "#cocina")
            # A line sent meanwhile is kept in the input line, not lost.
            await pilot.press("enter")
            assert app.chat_input.value == "a medio escribir"
            await until(pilot, lambda: has_line(app, "your line is kept", "#cocina"),
                        "the note")
            # While the app cannot connect, Bob writes 30 messages on another port.
            other = ServerThread(server_config(tmp_path, rate=0)).start()
            servers.append(other)
            with Client(other.port) as bob:
                await asyncio.to_thread(bob.identify, "Bob")
                bob.send("@<- JOIN #cocina")
                for i in range(30):
                    bob.send(f"perdido {i}")
                bob.send("@<- JOIN #vacia")
                for i in range(25):
                    bob.send(f"@<- SAY #vacia hueco {i}")
                bob.send("@<- PING fin")
                await asyncio.to_thread(bob.until, r"^@-> OK PING fin")
            await asyncio.to_thread(other.stop)
            back = ServerThread(server_config(tmp_path, rate=0, port=port)).start()
            servers.append(back)
            await until(pilot, lambda: app.identified, "the reconnection")
            await until(pilot, lambda: has_line(app, "<Bob> perdido 29", "#cocina"),
                        "the catch-up")
            await until(pilot, lambda: has_line(app, "<Bob> perdido 0", "#cocina"),
                        "the catch-up of the older messages")
            lines = [x for x in plain_lines(app, "#cocina") if "> perdido" in x or "> antes" in x]
            assert [x.split("> ", 1)[1] for x in lines] == (
                ["antes"] + [f"perdido {i}" for i in range(30)])
            assert app.me == "Ana" and app.current == "#cocina"
            # In a room where nothing had been seen, all the missed ones, not the last 20.
            await until(pilot, lambda: has_line(app, "<Bob> hueco 0", "#vacia"), "#vacia")
            assert [x.split("> ", 1)[1] for x in plain_lines(app, "#vacia") if "> hueco" in x
                    ] == [f"hueco {i}" for i in range(25)]
            await pilot.pause()
            drawn = log_text(app)  # on screen once each too
            assert [sum(line.endswith(f"> perdido {i}") for line in drawn)
                    for i in range(30)] == [1] * 30, drawn
            assert app.chat_input.value == "a medio escribir"
            with Client(port) as carla:
                await asyncio.to_thread(carla.identify, "Carla")
                carla.send("@<- USERS #cocina")
                await asyncio.to_thread(carla.until, r"^@-> USER #cocina Ana ")
    try:
        run(main)
    finally:
        for server in servers:
            server.stop()


def test_a_refused_name_from_the_command_line_asks_for_another(server: ServerThread) -> None:
    """--name of a taken name: the name screen says why and the next name is used."""
    with Client(server.port) as ana:
        ana.identify("Ana")

        async def main() -> None:
            app = TertuliaApp("127.0.0.1", server.port, name="ana")
            async with app.run_test(size=SIZE) as pilot:
                await until(pilot, lambda: isinstance(app.screen, NameScreen), "the name screen")
                screen = app.screen
                assert isinstance(screen, NameScreen) and "taken" in screen.reason
                await pilot.press(*"Eva", "enter")
                await identified(pilot, app)
                assert app.me == "Eva"
        run(main)


def test_page_up_loads_older_messages_and_tab_completes_names(server: ServerThread) -> None:
    """The join history has the latest 20; PageUp at the top fetches the older ones,
    shown above them in order. Tab completes a member's name."""
    with Client(server.port) as bob:
        bob.identify("Bob")
        for i in range(30):
            bob.send(f"viejo {i}")
        bob.send("@<- PING fin")
        bob.until(r"^@-> OK PING fin")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await until(pilot, lambda: has_line(app, "viejo 29"), "the join history")
                assert not has_line(app, "viejo 9")
                app.query_one("#log", RichLog).scroll_home(animate=False)
                await pilot.pause()
                await pilot.press("pageup")
                await until(pilot, lambda: has_line(app, "viejo 0"), "the older page")
                olds = [x.split("> ", 1)[1] for x in plain_lines(app) if "> viejo" in x]
                assert olds == [f"viejo {i}" for i in range(30)]
                await until(pilot, lambda: "bob" in app.here.members, "the members")
                app.chat_input.value = "bo"
                app.chat_input.cursor_position = 2
                await pilot.press("tab")
                assert app.chat_input.value == "Bob: "
        run(main)


def test_join_shows_the_topic_and_color_updates_my_member_entry(server: ServerThread) -> None:
    """A room's topic set before Ana joins is on her topic line at once; after /color her own
    entry in the members list takes the new colour."""
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send("@<- JOIN #cocina")
        bob.until("^@-> OK JOIN #cocina")
        bob.send("@<- TOPIC #cocina paella el domingo")
        bob.until("^@-> OK TOPIC #cocina")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await type_line(pilot, "/join #cocina")
                await until(pilot, lambda: "paella el domingo" in app.topic_view.plain,
                            "the topic read on join")
                await until(pilot, lambda: "Ana" in app.members_view.plain, "the members")
                await type_line(pilot, "/color #123456")
                await until(pilot, lambda: any(str(s.style) == "#123456"
                                               for s in app.members_view.spans),
                            "Ana's new colour in the members list")
        run(main)


def test_moderation_and_account_slash_commands(server: ServerThread) -> None:
    """/kick, /mode, /register, /password as in the web page (the room on screen first);
    /bans and a raw BAN reach the server whole and get its FORBIDDEN."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await type_line(pilot, "/join #tapas")
                await until(pilot, lambda: app.current == "#tapas", "#tapas on screen")
                await asyncio.to_thread(bob.send, "@<- JOIN #tapas")
                await until(pilot, lambda: "bob" in app.here.members, "Bob in #tapas")
                await type_line(pilot, "/kick Bob fuera")
                await asyncio.to_thread(bob.until, "^@-> LEAVE #tapas Bob kicked by Ana: fuera$")
                await until(pilot, lambda: has_line(app, "OK KICK #tapas Bob", "#tapas"), "OK")
                assert "bob" not in app.here.members
                await type_line(pilot, "/mode +m")
                await until(pilot, lambda: has_line(app, "OK MODE #tapas +m", "#tapas"), "MODE")
                await type_line(pilot, "/bans")
                await until(pilot, lambda: has_line(app, "(FORBIDDEN)", "#tapas"), "FORBIDDEN")
                await type_line(pilot, "@<- BAN Bob 10m spam")
                await until(pilot, lambda: has_line(app, "only operators may BAN", "#tapas"),
                            "BAN refused for its sender, not for its arguments")
                await type_line(pilot, "/register clave")
                await until(pilot, lambda: app.password == "clave", "REGISTER")
                await type_line(pilot, "/password mala otra")
                await until(pilot, lambda: has_line(app, "(AUTH_FAILED)", "#tapas"),
                            "a wrong old password")
                await type_line(pilot, "/password clave otra vez")
                await until(pilot, lambda: app.password == "otra vez", "PASSWORD")
        run(main)
