"""The full-screen client's input: Tab cycling, /me in a private conversation, /nick,
/history.  Real app (headless Pilot) against a real server."""

from __future__ import annotations

import asyncio

from tests.client.tui_pilot import ana_in, has_line, plain_lines, run, server, type_line, until
from tests.integration.harness import Client, ServerThread

__all__ = ["server"]  # the fixture


def test_tab_cycles_through_the_choices_and_shift_tab_goes_back(server: ServerThread) -> None:
    """Several names match: Tab puts the first, each Tab the next (wrapping), Shift+Tab
    the one before; the status line lists them.  Typing starts a new completion."""
    with Client(server.port) as bob, Client(server.port) as bea, Client(server.port) as beto:
        bob.identify("Bob")
        bea.identify("Bea")
        beto.identify("beto")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await until(pilot, lambda: {"bob", "bea", "beto"} <= app.here.members.keys(),
                            "the members")
                field = app.chat_input
                field.value, field.cursor_position = "b", 1
                await pilot.press("tab")
                assert field.value == "Bea: "
                assert app.status_view == "[Bea]  beto  Bob"
                await pilot.press("tab")
                assert field.value == "beto: " and field.cursor_position == 6
                await pilot.press("tab", "tab")
                assert field.value == "Bea: "  # wrapped around
                await pilot.press("shift+tab")
                assert field.value == "Bob: "
                assert app.status_view == "Bea  beto  [Bob]"
                await pilot.press(*"que tal")
                assert field.value == "Bob: que tal"
                # Inside a line, with text after the cursor; Shift+Tab starts from the end.
                field.value = "dile a BE que sí"
                field.cursor_position = len("dile a BE")
                await pilot.press("shift+tab")
                assert field.value == "dile a beto que sí"
                await pilot.press("shift+tab")
                assert field.value == "dile a Bea que sí"
                # One choice: completed at once; a command and a room.
                field.value, field.cursor_position = "/hi", 3
                await pilot.press("tab")
                assert field.value == "/history "
                await pilot.press("tab")
                assert field.value == "/history "  # nothing to cycle
                field.value, field.cursor_position = "ver #gen", 8
                await pilot.press("tab")
                assert field.value == "ver #general "
                field.value, field.cursor_position = "xyz", 3
                await pilot.press("tab")
                assert field.value == "xyz"
        run(main)


def test_me_in_private_nick_and_history(server: ServerThread) -> None:
    """/me in a private conversation reaches only Bob, as an action; /nick renames Ana
    (Bob sees it); /history 25 brings the messages older than the join's 20, in place."""
    with Client(server.port) as bob:
        bob.identify("Bob")
        for i in range(25):
            bob.send(f"antes {i}")
        bob.send("@<- PING fin")
        bob.until(r"^@-> OK PING fin")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await until(pilot, lambda: has_line(app, "<Bob> antes 24"), "the join history")
                assert not has_line(app, "<Bob> antes 4")
                await type_line(pilot, "/history 25")
                await until(pilot, lambda: has_line(app, "25 messages of #general"),
                            "the /history notice")
                olds = [x.split("> ", 1)[1] for x in plain_lines(app) if "<Bob> antes" in x]
                assert olds == [f"antes {i}" for i in range(25)]  # each once, in order

                await type_line(pilot, "/msg Bob")
                assert app.current == "bob"
                await type_line(pilot, "/me saluda")
                line = await asyncio.to_thread(bob.until, r"saluda$")
                assert line.startswith("*") and line.endswith("* * Ana saluda"), line
                await until(pilot, lambda: has_line(app, "* Ana saluda", "bob"), "my copy")

                await type_line(pilot, "/nick Anita")
                await until(pilot, lambda: app.me == "Anita", "the new name")
                assert has_line(app, "you are now Anita", "bob")
                await asyncio.to_thread(bob.until, r"^@-> NICK Ana Anita$")
                await type_line(pilot, "/me sigue")
                line = await asyncio.to_thread(bob.until, r"sigue$")
                assert line.endswith("* * Anita sigue"), line
        run(main)


def test_users_rooms_help_me_and_quit(server: ServerThread) -> None:
    """/users lists the members in their colours, /rooms the rooms, /help the commands;
    /me in a room is an action; /quit with a reason leaves, and others see the reason."""
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send("@<- JOIN #cocina")
        bob.send("@<- TOPIC #cocina paella")
        bob.until(r"^@-> OK TOPIC")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await type_line(pilot, "/users")
                await until(pilot, lambda: has_line(app, "2 users: "), "/users")
                line = next(e.text for e in app.here.entries if "2 users" in e.text.plain)
                assert "Ana" in line.plain and "Bob" in line.plain
                assert sum(1 for s in line.spans if str(s.style).startswith("#")) == 2
                await type_line(pilot, "/rooms")
                await until(pilot, lambda: has_line(app, "2 rooms"), "/rooms")
                assert has_line(app, "#cocina (1) paella")
                await type_line(pilot, "/help")
                await until(pilot, lambda: has_line(app, "/quit [reason]"), "/help")
                await type_line(pilot, "/me saluda")
                await asyncio.to_thread(bob.until, r"^#general \* .*Ana.* saluda$")
                await until(pilot, lambda: has_line(app, "* Ana saluda"), "my action")
                await type_line(pilot, "/quit hasta luego")
                await until(pilot, lambda: not app.is_running, "the exit")
            await asyncio.to_thread(bob.until, r"^@-> QUIT Ana hasta luego$")
        run(main)
