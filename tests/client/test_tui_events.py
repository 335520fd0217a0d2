"""The full-screen client shows what others do: renames, topics, quits, and messages
for the user that arrive in another conversation (a notice, the status line, the bell).

Real app (headless Pilot) against a real server; the others are harness clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events
from textual.pilot import Pilot

from tertulia.client.tui.events import apply_event
from tests.client.tui_pilot import (
    BellApp,
    ana_in,
    has_line,
    log_text,
    run,
    server,
    type_line,
    until,
)
from tests.integration.harness import Client, ServerThread
from tests.timing import QUIET

__all__ = ["server"]  # the fixture


def test_others_rename_set_the_topic_and_quit(server: ServerThread) -> None:
    """NICK, TOPIC and QUIT lines from Bob are shown, and the members, the topic line
    and his private conversation follow them."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server) as (app, pilot):
                await until(pilot, lambda: "bob" in app.here.members, "Bob in the members")
                bob.send("@<- MSG Ana psst")
                await until(pilot, lambda: "bob" in app.conversations, "the private entry")
                bob.send("@<- NICK Roberto")
                await until(pilot, lambda: has_line(app, "Bob is now Roberto"), "the rename")
                assert "roberto" in app.here.members and "bob" not in app.here.members
                assert "Roberto" in app.members_view.plain
                assert "Bob" not in app.members_view.plain
                # The private conversation goes on under the new name, in its place.
                assert "bob" not in app.conversations
                assert [c.title for c in app.ordered()] == ["#general", "Roberto"]
                assert has_line(app, "Bob is now Roberto", "roberto")
                bob.send("@<- MSG Ana sigo aquí")
                await until(pilot, lambda: has_line(app, "*Roberto* sigo aquí", "roberto"),
                            "a private message after the rename")
                assert len(app.conversations) == 2

                bob.send("@<- TOPIC #general cena el viernes")
                await until(pilot, lambda: has_line(app, "Roberto set the topic: cena el viernes"),
                            "the topic notice")
                assert "cena el viernes" in app.topic_view.plain

                # A notice from the server itself.
                apply_event(app, {"type": "notice", "text": "the server says hi"})
                assert has_line(app, "-!- the server says hi")
                bob.send("@<- QUIT me voy")
                await until(pilot, lambda: has_line(app, "Roberto quit (me voy)"), "the quit")
                assert "roberto" not in app.here.members
                assert "Roberto" not in app.members_view.plain
                assert has_line(app, "Roberto quit (me voy)", "roberto")
                await pilot.pause()
                assert any("Roberto quit (me voy)" in line for line in log_text(app))
        run(main)


def test_a_message_for_me_elsewhere_is_announced_and_rings_the_bell(
        server: ServerThread) -> None:
    """A private message, or a mention, in a conversation not on screen: a notice in the
    one on screen and in the status line, and the bell.  On screen, the bell rings only
    while the terminal window is not focused."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            app = BellApp("127.0.0.1", server.port, name="Ana")
            async with ana_in(server, app) as (app, pilot):
                await until(pilot, lambda: "bob" in app.here.members, "Bob in the members")
                bob.send("@<- MSG Ana psst, ¿estás?")
                await until(pilot, lambda: has_line(app, "private message from Bob (Alt+2): "
                                                         "psst, ¿estás?"), "the notice")
                assert "private message from Bob" in app.status_view
                assert app.bells == 1
                assert app.conversations["bob"].unread == 1

                # What Ana sends herself is not unread, and rings nothing.
                app.conversations["bob"].unread = 0
                await type_line_and_wait(app, pilot, bob, "/msg Bob sí", r"\* sí$")
                assert app.conversations["bob"].unread == 0 and app.bells == 1

                # A mention in a room not on screen.
                bob.send("@<- JOIN #cocina")
                await type_line_and_wait(app, pilot, bob, "/join #cocina",
                                         r"^@-> JOIN #cocina Ana")
                bob.send("@<- SAY #general Ana, ¿vienes?")
                await until(pilot, lambda: has_line(
                    app, "Bob mentioned you in #general (Alt+1): Ana, ¿vienes?", "#cocina"),
                    "the mention notice")
                general = app.conversations["#general"]
                assert general.unread == 1 and general.mentioned
                assert app.bells == 2
                bob.send("@<- SAY #general sin mención")
                await until(pilot, lambda: general.unread == 2, "the second unread")
                assert app.bells == 2 and general.mentioned

                # On screen and focused: highlighted, no bell.
                bob.send("@<- SAY #cocina Ana: hola")
                await until(pilot, lambda: has_line(app, "<Bob> Ana: hola", "#cocina"), "here")
                await pilot.pause(QUIET)
                assert app.bells == 2
                # The window loses the focus: a mention rings, a plain message does not.
                app.post_message(events.AppBlur())
                await until(pilot, lambda: not app.window_focused, "the blur")
                bob.send("@<- SAY #cocina nada")
                await until(pilot, lambda: has_line(app, "<Bob> nada", "#cocina"), "nada")
                assert app.bells == 2
                bob.send("@<- SAY #cocina ¿Ana?")
                await until(pilot, lambda: app.bells == 3, "the bell while not focused")
                app.post_message(events.AppFocus())
                await until(pilot, lambda: app.window_focused, "the focus")
                bob.send("@<- SAY #cocina Ana otra vez")
                await until(pilot, lambda: has_line(app, "Ana otra vez", "#cocina"), "here")
                await pilot.pause(QUIET)
                assert app.bells == 3
        run(main)


async def type_line_and_wait(app: BellApp, pilot: Pilot[Any], bob: Client, line: str,
                             bob_sees: str) -> None:
    """Ana types ``line``; wait until Bob receives a line matching ``bob_sees``."""
    await type_line(pilot, line)
    await asyncio.to_thread(bob.until, bob_sees)
    await pilot.pause()
