"""Draw docs/web-client.png (and web-client-phone.png): the browser client in a real conversation.

A real server runs in this process (the test harness's ServerThread, HTTP on
a free port, a throw-away database); Bob and Carla are TCP line clients; Ana
is the web page in Debian's headless Chromium, driven by Playwright (never
``playwright install``).  They chat in #general and #cocina, Bob sends Ana a
private message, and the page is saved when everything has arrived.

    PYTHONPATH=src:. python docs/gen_web_screenshot.py

The page's words are in English (the browser's locale is set to en-US); the
times are the local time of the run.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.integration.harness import Client, ServerThread, server_config  # noqa: E402

WAIT = 10_000  # ms


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("gen_web_screenshot: Debian's chromium is needed (make system-deps)",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerThread(server_config(Path(tmp), rate=0), http=True).start()
        try:
            draw(chromium, f"http://127.0.0.1:{server.http_port}/", server.port)
        finally:
            server.stop()
    return 0


def draw(chromium: str, url: str, port: int) -> None:
    with sync_playwright() as p, Client(port) as bob, Client(port) as carla:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 560}, locale="en-US",
                                color_scheme="light")
        bob.identify("Bob")
        carla.identify("Carla")
        bob.send("¡Buenas! ¿Quién se apunta a la cena del viernes?")
        carla.send("Yo llevo el vino.")
        bob.send("@<- TOPIC #general La cena del viernes, en casa de Bob")
        page.goto(url)
        page.fill("#name", "Ana")
        page.click("#enter")
        expect(page.locator("#members .member")).to_have_count(3, timeout=WAIT)

        def say(text: str) -> None:
            page.fill("#input", text)
            page.press("#input", "Enter")

        say("¡Yo también! Hago una tortilla.")
        bob.send("Perfecto. La receta que dije: https://example.org/tortilla")
        carla.send("@<- ME aplaude")
        for who in (bob, carla):
            who.send("@<- JOIN #cocina")
        bob.send("@<- TOPIC #cocina Recetas y sobremesa")
        bob.send("@<- SAY #cocina ¿Con cebolla o sin cebolla?")
        bob.send("@<- MSG Ana ¿Traes también el postre?")
        say("/join #cocina")
        expect(page.locator("#here")).to_have_text("#cocina", timeout=WAIT)
        carla.send("@<- SAY #cocina Con cebolla, claro.")
        say("Con cebolla, y poco hecha.")
        expect(page.locator(".line.msg")).to_have_count(3, timeout=WAIT)
        page.locator(".conv", has_text="#general").click()
        expect(page.locator(".msg.action")).to_have_count(1, timeout=WAIT)
        page.fill("#input", "Nos vemos el viernes")
        time.sleep(0.3)
        page.screenshot(path=str(ROOT / "docs" / "web-client.png"))

        phone = browser.new_page(viewport={"width": 390, "height": 700}, locale="es-ES",
                                 color_scheme="dark")
        phone.goto(url)
        phone.fill("#name", "Eva")
        phone.click("#enter")
        expect(phone.locator(".msg.action")).to_have_count(1, timeout=WAIT)
        time.sleep(0.3)
        phone.screenshot(path=str(ROOT / "docs" / "web-client-phone.png"))
        browser.close()
    print("wrote docs/web-client.png and docs/web-client-phone.png")


if __name__ == "__main__":
    sys.exit(main())
