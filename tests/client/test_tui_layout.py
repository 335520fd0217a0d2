"""The full-screen client's layout in small terminals and with wide characters.

Real app (headless Pilot) against a real server: long notices and lines of emoji
and CJK characters wrap inside the message log whole, never cut; narrow terminals
hide the members list; a resize wraps everything again.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.widgets import Input, Label, OptionList, RichLog, Static

from tertulia.client.tui import NameScreen, TertuliaApp
from tests.client.tui_pilot import ana_in, has_line, log_text, run, server, type_line, until
from tests.integration.harness import Client, ServerThread

__all__ = ["server"]  # the fixture

LONG = ("/nosuchcommand with quite a few words in it so that the notice about it "
        "cannot fit on one line of a narrow terminal")
WIDE = "🎉 fiesta 你好世界 emoji 😀😀 y más 表意文字 " * 3


def squeezed(lines: list[str]) -> str:
    """The log's text without the line breaks and spaces the wrapping added."""
    return "".join(line.replace(" ", "") for line in lines)


def test_narrow_terminal_wraps_long_notices_and_wide_characters_whole(
        server: ServerThread) -> None:
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server, size=(40, 16)) as (app, pilot):
                log = app.query_one("#log", RichLog)
                assert not app.query_one("#members", Static).display  # no room for it
                assert log.size.width >= 20
                await type_line(pilot, LONG)
                await until(pilot, lambda: has_line(app, "unknown or incomplete command"),
                            "the notice")
                bob.send(WIDE)
                await until(pilot, lambda: has_line(app, "<Bob> 🎉"), "Bob's line")
                await pilot.pause()
                lines = log_text(app)
                width = log.scrollable_content_region.width
                assert all(cell_len(line.rstrip()) <= width for line in lines), (width, lines)
                text = squeezed(lines)
                assert squeezed([LONG]) in text, lines
                assert squeezed([WIDE]) in text, lines
                # The list of conversations stays one line per entry.
                rooms = app.query_one("#rooms", OptionList)
                assert rooms.option_count == 1

                await pilot.resize_terminal(120, 30)
                await until(pilot, lambda: app.query_one("#members", Static).display,
                            "the members list back")
                await until(pilot, lambda: len(log_text(app)) < len(lines), "a new wrap")
                width = log.scrollable_content_region.width
                assert width > 60
                lines = log_text(app)
                assert all(cell_len(line.rstrip()) <= width for line in lines)
                assert squeezed([WIDE]) in squeezed(lines)
        run(main)


def test_80_by_24_shows_the_three_columns(server: ServerThread) -> None:
    """At 80x24 the conversations, the log (wide enough to read) and the members show."""
    with Client(server.port) as bob:
        bob.identify("Bob")

        async def main() -> None:
            async with ana_in(server, size=(80, 24)) as (app, pilot):
                await until(pilot, lambda: "Bob" in app.members_view.plain, "the members")
                assert app.query_one("#members", Static).display
                assert app.query_one("#log", RichLog).size.width >= 45
        run(main)


def test_the_name_screen_fits_a_narrow_terminal_and_wraps_its_reason(
        server: ServerThread) -> None:
    """At 40 columns the name prompt fits, and a long refusal wraps instead of being cut."""
    with Client(server.port) as ana:
        ana.identify("Ana")

        async def main() -> None:
            app = TertuliaApp("127.0.0.1", server.port)
            async with app.run_test(size=(40, 16)) as pilot:
                await until(pilot, lambda: isinstance(app.screen, NameScreen), "the prompt")
                screen = app.screen
                assert isinstance(screen, NameScreen)
                await pilot.press(*"ANA", "enter")
                await until(pilot, lambda: "taken" in screen.reason, "the refusal")
                await pilot.pause()
                reason = screen.query_one("#name-reason", Label)
                field = screen.query_one("#name-input", Input)
                assert len(screen.reason) > 40
                assert reason.region.right <= 40 and field.region.right <= 40
                width = reason.size.width
                needed = Text(screen.reason).wrap(Console(width=width), width)
                assert reason.size.height >= len(needed) >= 2
        run(main)
