"""Draw docs/terminal-client.svg: the full-screen client in a real conversation.

A real server runs in this process (the test harness's ServerThread, on a
free port, with a throw-away database); Bob and Carla are line clients;
Ana is the full-screen client, driven headless by Textual's Pilot.  They chat
in #general and #cocina, and Bob sends Ana a private message.  The screen is
saved as SVG when everything has arrived.

    PYTHONPATH=src:. python docs/gen_screenshot.py [OUTPUT.svg]

The words of the client are in English whatever the locale (LANGUAGE=en);
the times are the local time of the run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["LANGUAGE"] = "en"  # before the client's catalogue is loaded

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.integration.harness import Client, ServerThread, server_config  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from tertulia.client.tui import TertuliaApp  # noqa: E402

OUTPUT = ROOT / "docs" / "terminal-client.svg"
SIZE = (110, 24)
WAIT = 10.0


async def until(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    """Let the app run until ``condition()`` is true."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gen_screenshot: timed out waiting for {what}")
        await pilot.pause(0.02)


def shown(app: TertuliaApp, key: str, needle: str) -> bool:
    conv = app.conversations.get(key)
    return conv is not None and any(needle in e.text.plain for e in conv.entries)


async def type_line(pilot: Pilot[Any], app: TertuliaApp, text: str) -> None:
    app.chat_input.value = text
    await pilot.press("enter")


async def scene(port: int, bob: Client, carla: Client, output: Path) -> None:
    app = TertuliaApp("127.0.0.1", port, name="Ana")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.identified and "carla" in app.here.members, "Ana")
        await type_line(pilot, app, "/color #c678dd")
        await until(pilot, lambda: app.my_color == "#c678dd", "Ana's colour")
        await type_line(pilot, app, "/users")  # the members list with Ana's new colour
        await until(pilot, lambda: shown(app, "#general", "3 users"), "/users")
        carla.send("@<- TOPIC #general Jueves a las 8 en casa de Carla")
        await until(pilot, lambda: "Jueves" in app.topic_view.plain, "the topic")
        bob.send("¡Hola Ana! ¿Vienes el jueves?")
        await until(pilot, lambda: shown(app, "#general", "Vienes el jueves"), "Bob")
        await type_line(pilot, app, "¡Claro! Llevo la tortilla")
        await until(pilot, lambda: shown(app, "#general", "Llevo la tortilla"), "Ana")
        bob.send("@<- ME aplaude")
        await until(pilot, lambda: shown(app, "#general", "aplaude"), "Bob's action")

        await type_line(pilot, app, "/join #cocina")
        await until(pilot, lambda: app.current == "#cocina" and "carla" in app.here.members,
                    "#cocina")
        carla.send("@<- SAY #cocina ¿Con cebolla o sin cebolla?")
        await until(pilot, lambda: shown(app, "#cocina", "cebolla?"), "Carla in #cocina")
        await type_line(pilot, app, "Con cebolla, siempre")
        await until(pilot, lambda: shown(app, "#cocina", "siempre"), "Ana in #cocina")

        await pilot.press("alt+1")
        await until(pilot, lambda: app.current == "#general", "the switch to #general")
        bob.send("Perfecto. Yo llevo el vino")
        await until(pilot, lambda: shown(app, "#general", "vino"), "Bob's wine")
        carla.send("@<- SAY #cocina La receta de mi abuela lleva cebolla caramelizada")
        carla.send("@<- SAY #cocina y un poco de pimienta")
        await until(pilot, lambda: app.conversations["#cocina"].unread == 2, "unread")
        bob.send("@<- MSG Ana ¿Le compramos algo a Carla por su cumpleaños?")
        await until(pilot, lambda: "bob" in app.conversations, "Bob's private message")
        app.chat_input.value = "Nos vemos a las 8 en casa de Car"
        app.chat_input.cursor_position = len(app.chat_input.value)
        await pilot.press("tab")  # completes Carla's name
        await until(pilot, lambda: "Carla " in app.chat_input.value, "Tab")
        await pilot.pause(0.2)
        app.save_screenshot(output.name, str(output.parent))
        await app.quit_chat()


def main(argv: list[str]) -> int:
    output = Path(argv[0]).resolve() if argv else OUTPUT
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerThread(server_config(Path(tmp), rate=0)).start()
        try:
            with Client(server.port) as bob, Client(server.port) as carla:
                bob.identify("Bob")
                bob.send("@<- COLOR #61afef")
                bob.until("^@-> OK COLOR")
                carla.identify("Carla")
                carla.send("@<- COLOR #98c379")
                carla.until("^@-> OK COLOR")
                carla.send("Buenas tardes a todos")
                bob.send("¡Buenas, Carla!")
                carla.send("@<- JOIN #cocina")
                carla.until("^@-> OK JOIN")
                asyncio.run(scene(server.port, bob, carla, output))
        finally:
            server.stop()
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
