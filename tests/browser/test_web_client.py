"""The browser client in real headless Chromium, with web and TCP users in the same rooms.

Each test starts a real server serving the page on a free HTTP port, opens
pages in separate browser contexts (separate storage, as two people), and
talks to the same server over TCP with the blocking test client.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Tab
from tests.integration.harness import Client, ServerThread
from tests.timing import TIMEOUT

pytestmark = pytest.mark.slow

MS = TIMEOUT * 1000
OpenTab = Callable[..., Tab]
WebServer = Callable[..., ServerThread]


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def url(server: ServerThread) -> str:
    return f"http://127.0.0.1:{server.http_port}/"


def login(tab: Tab, name: str) -> None:
    page = tab.page
    page.fill("#name", name)
    page.click("#enter")
    expect(page.locator("#chat")).to_be_visible(timeout=MS)
    expect(page.locator("#here")).to_have_text("#general", timeout=MS)
    members = page.locator("#members .member", has_text=name)
    expect(members).to_have_count(1, timeout=MS)


def type_line(tab: Tab, text: str) -> None:
    tab.page.fill("#input", text)
    tab.page.press("#input", "Enter")


def message(tab: Tab, text: str) -> Any:
    """The log line whose text is exactly ``text``."""
    return tab.page.locator(".line.msg").filter(
        has=tab.page.locator(".text", has_text=re.compile("^" + re.escape(text) + "$")))


def rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def conversation(tab: Tab, title: str) -> Any:
    return tab.page.locator(".conv", has=tab.page.locator(".conv-name", has_text=title))


def assert_clean(*tabs: Tab, allow: str | None = None) -> None:
    for tab in tabs:
        problems = [p for p in tab.problems if not (allow and re.search(allow, p))]
        assert problems == [], problems
        assert tab.dialogs == [], f"a dialog opened: {tab.dialogs}"


# ------------------------------------------------------------------ the main scenario


def test_two_browsers_and_a_tcp_user_chat_in_two_rooms(web_server: WebServer,
                                                       open_tab: OpenTab) -> None:
    server = web_server(rate=0)
    ana = open_tab(url(server))
    expect(ana.page.locator("#enter")).to_have_text("Enter")
    ana.shot("01-login")
    login(ana, "Ana")
    bea = open_tab(url(server), scheme="dark")
    login(bea, "Bea")
    with Client(server.port) as carlos:
        carlos_color = carlos.identify("Carlos")
        carlos.send("@<- COLORS off")
        carlos.expect("@-> OK COLORS off")
        for tab in (ana, bea):
            expect(tab.page.locator("#members .member", has_text="Carlos")).to_have_count(
                1, timeout=MS)

        # #general: each sees the others, names in their colours.
        type_line(ana, "hola a todos")
        expect(message(bea, "hola a todos")).to_have_count(1, timeout=MS)
        carlos.until(r"^#general <Ana> hola a todos$")
        carlos.send("buenas desde la terminal")
        for tab in (ana, bea):
            line = message(tab, "buenas desde la terminal")
            expect(line).to_have_count(1, timeout=MS)
            who = line.locator(".who")
            expect(who).to_have_text("Carlos")
            expect(who).to_have_css("color", rgb(carlos_color))
        expect(ana.page.locator(".line.msg time").first).to_have_text(
            re.compile(r"^\d{1,2}:\d{2}"))

        # A second room, with web and TCP members.
        type_line(ana, "/join #cocina")
        expect(ana.page.locator("#here")).to_have_text("#cocina", timeout=MS)
        type_line(bea, "/join cocina")
        expect(bea.page.locator("#here")).to_have_text("#cocina", timeout=MS)
        carlos.send("@<- JOIN #cocina")
        carlos.until("^@-> OK JOIN #cocina$")
        carlos.send("@<- TOPIC #cocina Recetas y sobremesa")
        carlos.until("^@-> OK TOPIC #cocina ")
        expect(ana.page.locator("#topic")).to_have_text("Recetas y sobremesa", timeout=MS)
        type_line(bea, "¿quién trae el postre?")
        expect(message(ana, "¿quién trae el postre?")).to_have_count(1, timeout=MS)
        carlos.until(r"^#cocina <.*Bea.*> ¿quién trae el postre\?$")
        type_line(ana, "/me trae flan")
        carlos.until(r"^#cocina \* .*Ana.* trae flan$")
        expect(bea.page.locator(".msg.action", has_text="trae flan")).to_have_count(1, timeout=MS)

        # A message in the room Ana is not looking at: an unread count.
        carlos.send("@<- SAY #general mientras tanto en general")
        general = conversation(ana, "#general")
        expect(general.locator(".badge")).to_have_text("1", timeout=MS)
        expect(message(ana, "mientras tanto en general")).to_have_count(0)

        # A private message from the terminal, answered from the page.
        carlos.send("@<- MSG Ana ¿vienes luego?")
        carlos.until("^@-> OK MSG Ana$")
        private = conversation(ana, "Carlos")
        expect(private.locator(".badge")).to_have_text("1", timeout=MS)
        ana.shot("02-two-rooms-and-a-private-message")
        private.click()
        expect(ana.page.locator("#here")).to_have_text("Carlos")
        expect(message(ana, "¿vienes luego?")).to_have_count(1, timeout=MS)
        type_line(ana, "sí, a las diez")
        assert carlos.until(r"^\*Ana\* ") == "*Ana* sí, a las diez"
        expect(message(bea, "sí, a las diez")).to_have_count(0)  # private means private
        general.click()
        expect(message(ana, "mientras tanto en general")).to_have_count(1, timeout=MS)
        expect(general.locator(".badge")).to_have_count(0)

        # HTML from users is text, and nothing runs.
        carlos.send("@<- SAY #general <img src=x onerror=alert(1)>")
        carlos.send("@<- SAY #general <script>alert(2)</script>")
        carlos.send("@<- SAY #general <b>negrita</b> y https://example.org/receta?x=1&y=<2>.")
        for tab in (ana, bea):
            conversation(tab, "#general").click()
            expect(message(tab, "<img src=x onerror=alert(1)>")).to_have_count(1, timeout=MS)
            expect(message(tab, "<script>alert(2)</script>")).to_have_count(1, timeout=MS)
            expect(tab.page.locator("#log img, #log script, #log b")).to_have_count(0)
            link = tab.page.locator("#log a")
            expect(link).to_have_count(1, timeout=MS)
            assert link.get_attribute("href") == "https://example.org/receta?x=1&y="
            assert link.get_attribute("rel") == "noopener noreferrer"
            expect(message(tab, "<b>negrita</b> y https://example.org/receta?x=1&y=<2>."
                           )).to_have_count(1)
        time.sleep(0.3)  # give an onerror a chance to fire, if one could
        assert ana.page.evaluate("document.querySelectorAll('img').length") == 0
        bea.shot("03-dark-theme-html-as-text")
        assert_clean(ana, bea)


def test_reload_reconnects_with_history_and_rooms(web_server: WebServer,
                                                  open_tab: OpenTab) -> None:
    server = web_server(rate=0)
    ana = open_tab(url(server))
    login(ana, "Ana")
    type_line(ana, "/join #cocina")
    expect(ana.page.locator("#here")).to_have_text("#cocina", timeout=MS)
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send("@<- JOIN #cocina")
        bob.send("@<- SAY #cocina primero")
        expect(message(ana, "primero")).to_have_count(1, timeout=MS)
        type_line(ana, "segundo")
        bob.until(r"^#cocina <.*Ana.*> segundo$")
        ana.page.fill("#input", "un borrador")
        ana.page.reload()
        # Same tab: the same name, the same rooms, the history, the draft.
        expect(ana.page.locator("#chat")).to_be_visible(timeout=MS)
        expect(ana.page.locator("#here")).to_have_text("#cocina", timeout=MS)
        expect(message(ana, "primero")).to_have_count(1, timeout=MS)
        expect(message(ana, "segundo")).to_have_count(1)
        expect(conversation(ana, "#general")).to_have_count(1)
        expect(ana.page.locator("#input")).to_have_value("un borrador")
        bob.until(r"^@-> JOIN #cocina Ana ")
        bob.send("@<- SAY #cocina de vuelta")
        expect(message(ana, "de vuelta")).to_have_count(1, timeout=MS)
        ana.shot("04-after-reload")
    assert_clean(ana)


def test_reconnect_after_a_restart_catches_up_and_keeps_the_draft(
        web_server: WebServer, open_tab: OpenTab) -> None:
    """The server goes away; the page retries, comes back, and fetches what it missed."""
    first = web_server(rate=0)
    ana = open_tab(url(first))
    login(ana, "Ana")
    with Client(first.port) as bob:
        bob.identify("Bob")
        bob.send("antes del corte")
        expect(message(ana, "antes del corte")).to_have_count(1, timeout=MS)
    ana.page.fill("#input", "esto no se pierde")
    first.stop()
    expect(ana.page.locator("#status")).to_contain_text(
        re.compile(r"^The server is restarting\. Trying again in \d+ s…$"), timeout=MS)
    ana.shot("08-reconnecting-with-a-draft")
    second = web_server(http=first.http_port, rate=0)
    with Client(second.port) as bob:
        bob.identify("Bob")
        for n in range(30):  # more than the 20 a JOIN or IDENTIFY brings
            bob.send(f"perdido {n}")
        bob.send("@<- PING sent")
        bob.until("^@-> OK PING sent$")
        for n in range(30):
            expect(message(ana, f"perdido {n}")).to_have_count(1, timeout=MS * 3)
    expect(message(ana, "antes del corte")).to_have_count(1)
    expect(ana.page.locator("#input")).to_have_value("esto no se pierde")
    expect(ana.page.locator("#status")).to_have_text("", timeout=MS)
    # The only console errors allowed: the refused WebSocket attempts while it was down.
    assert_clean(ana, allow=r"WebSocket connection to .* failed")


def test_scrolling_up_loads_older_messages(web_server: WebServer, open_tab: OpenTab) -> None:
    server = web_server(rate=0)
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send_raw("".join(f"viejo {n}\n" for n in range(120)).encode())
        bob.send("@<- PING done")
        bob.until("^@-> OK PING done$")
        ana = open_tab(url(server))
        login(ana, "Ana")
        expect(message(ana, "viejo 119")).to_have_count(1, timeout=MS)
        expect(message(ana, "viejo 0")).to_have_count(0)
        start = ana.page.locator(".start", has_text="beginning of #general")
        for _ in range(10):
            ana.page.evaluate("document.getElementById('log').scrollTop = 0")
            if start.count():
                break
            time.sleep(0.3)
        expect(start).to_have_count(1, timeout=MS)
        expect(message(ana, "viejo 0")).to_have_count(1)
        assert ana.page.locator(".line.msg").count() == 120
        # Autoscroll only at the bottom: up here, a new message leaves the view alone.
        top = ana.page.evaluate("document.getElementById('log').scrollTop")
        bob.send("nuevo mientras leo")
        expect(message(ana, "nuevo mientras leo")).to_have_count(1, timeout=MS)
        expect(ana.page.locator("#newer")).to_be_visible()
        assert ana.page.evaluate("document.getElementById('log').scrollTop") == top
        ana.page.click("#newer")
        expect(ana.page.locator("#newer")).to_be_hidden()
    assert_clean(ana)


def test_phone_width_dark_mode_and_spanish(web_server: WebServer, open_tab: OpenTab) -> None:
    server = web_server(rate=0)
    eva = open_tab(url(server), width=390, height=780, scheme="dark", locale="es-ES")
    expect(eva.page.locator("#enter")).to_have_text("Entrar")
    eva.shot("05-phone-login-es")
    login(eva, "Eva")
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send("un mensaje largo para ver cómo se parte en una pantalla estrecha de teléfono "
                 "sin que aparezca una barra horizontal: " + "palabra" * 12)
        expect(eva.page.locator(".line.msg")).to_have_count(1, timeout=MS)
        width = eva.page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide at 390 px"
        expect(eva.page.locator("#sidebar")).not_to_be_in_viewport()
        expect(eva.page.locator("#menu")).to_be_visible()
        expect(eva.page.locator("#input")).to_have_attribute("placeholder",
                                                             re.compile("^Mensaje a #general"))
        eva.page.fill("#input", "/he")
        eva.page.press("#input", "Tab")  # completes the command
        expect(eva.page.locator("#input")).to_have_value("/help ")
        eva.page.press("#input", "Enter")
        expect(eva.page.locator(".system", has_text="/join #sala")).to_have_count(1, timeout=MS)
        eva.page.fill("#input", "hola B")
        eva.page.press("#input", "Tab")  # and names
        expect(eva.page.locator("#input")).to_have_value("hola Bob ")
        eva.page.fill("#input", "")
        eva.shot("06-phone-chat-dark-es")
        eva.page.click("#menu")
        expect(eva.page.locator("#sidebar")).to_be_in_viewport()
        eva.shot("07-phone-menu")
        eva.page.click("#scrim", position={"x": 370, "y": 400})
        expect(eva.page.locator("#sidebar")).not_to_be_in_viewport(timeout=MS)
        assert eva.page.evaluate(
            "getComputedStyle(document.body).backgroundColor") != "rgb(247, 247, 245)"
    assert_clean(eva)


def test_the_page_keeps_within_the_servers_rate_limit(web_server: WebServer,
                                                      open_tab: OpenTab) -> None:
    """Default limits (10 lines/s, burst 20): rejoining many rooms and a pasted block of
    25 lines go through paced, with no RATE_LIMITED error shown and nothing lost."""
    server = web_server()
    rooms = [f"#sala{n}" for n in range(6)]
    with Client(server.port) as bob:
        bob.identify("Bob")
        bob.send("@<- COLORS off")
        bob.expect("@-> OK COLORS off")
        ana = open_tab(url(server))
        login(ana, "Ana")
        for room in rooms:
            type_line(ana, f"/join {room}")
            expect(ana.page.locator("#here")).to_have_text(room, timeout=MS)
        ana.page.reload()
        for room in rooms:
            expect(conversation(ana, room)).to_have_count(1, timeout=MS)
        expect(ana.page.locator("#here")).to_have_text(rooms[-1], timeout=MS)
        conversation(ana, "#general").click()
        block = "\n".join(f"línea {n}" for n in range(25))
        ana.page.fill("#input", block)
        ana.page.press("#input", "Enter")
        got = [bob.until(r"^#general <Ana> ") for _ in range(25)]
        assert got == [f"#general <Ana> línea {n}" for n in range(25)]
        expect(message(ana, "línea 24")).to_have_count(1, timeout=MS)
        expect(ana.page.locator(".system.error")).to_have_count(0)
    assert_clean(ana)


def test_a_registered_name_asks_for_its_password(web_server: WebServer,
                                                 open_tab: OpenTab) -> None:
    server = web_server()
    with Client(server.port) as owner:
        owner.identify("Dora")
        owner.send("@<- REGISTER secreto-largo")
        owner.until("^@-> OK REGISTER Dora$")
        owner.send("@<- QUIT")
        owner.until("^@-> BYE QUIT")
    tab = open_tab(url(server))
    tab.page.fill("#name", "Dora")
    tab.page.click("#enter")
    expect(tab.page.locator("#login-error")).to_have_text(
        "That name is registered: type its password.", timeout=MS)
    tab.page.fill("#password", "otra-cosa")
    tab.page.click("#enter")
    expect(tab.page.locator("#login-error")).to_have_text("Wrong password.", timeout=MS)
    tab.page.fill("#password", "secreto-largo")
    login(tab, "Dora")
    assert_clean(tab)


def test_a_private_conversation_follows_a_rename(web_server: WebServer,
                                                 open_tab: OpenTab) -> None:
    server = web_server(rate=0)
    ana = open_tab(url(server))
    login(ana, "Ana")
    with Client(server.port) as carlos:
        carlos.identify("Carlos")
        carlos.send("@<- MSG Ana hola")
        conversation(ana, "Carlos").click()
        expect(message(ana, "hola")).to_have_count(1, timeout=MS)
        carlos.send("@<- NICK Carlitos")
        carlos.until("^@-> OK NICK Carlitos$")
        expect(ana.page.locator("#here")).to_have_text("Carlitos", timeout=MS)
        expect(conversation(ana, "Carlos")).to_have_count(0)
        type_line(ana, "¿y ese nombre?")
        assert carlos.until(r"^\*.*Ana.*\* ").endswith(" ¿y ese nombre?")
        expect(message(ana, "hola")).to_have_count(1)  # the conversation kept its messages
    assert_clean(ana)


def test_kicked_from_a_room_then_from_the_server(web_server: WebServer,
                                                 open_tab: OpenTab) -> None:
    """A kick from a room drops it from the page; a kick from #general ends the chat,
    and the page does not reconnect by itself."""
    server = web_server(rate=0, operators=("Root",))
    with Client(server.port) as first:
        first.identify("Root")
        first.send("@<- REGISTER clave-de-root")
        first.until("^@-> OK REGISTER Root$")
    with Client(server.port) as root:
        root.send("@<- IDENTIFY Root clave-de-root")
        root.until("^@-> OK IDENTIFY Root ")
        ana = open_tab(url(server))
        login(ana, "Ana")
        type_line(ana, "/join #tapas")
        expect(ana.page.locator("#here")).to_have_text("#tapas", timeout=MS)
        root.send("@<- JOIN #tapas")
        root.until("^@-> OK JOIN #tapas$")
        root.send("@<- KICK #tapas Ana calma")
        root.until("^@-> OK KICK #tapas Ana$")
        expect(ana.page.locator("#here")).to_have_text("#general", timeout=MS)
        expect(conversation(ana, "#tapas")).to_have_count(0)
        expect(ana.page.locator(".system.error", has_text="no longer in #tapas")).to_have_count(1)
        root.send("@<- KICK #general Ana")
        root.until("^@-> OK KICK #general Ana$")
        root.until("^@-> QUIT Ana ")
        expect(ana.page.locator("#gone")).to_be_visible(timeout=MS)
        expect(ana.page.locator("#gone-text")).to_contain_text("kicked by Root")
        root.send("@<- USERS")
        users = root.lines_until("^@-> OK USERS ")
        time.sleep(1.5)  # longer than the first reconnect delay
        root.send("@<- USERS")
        assert root.lines_until("^@-> OK USERS ") == users  # Ana did not come back
    assert_clean(ana)


def test_name_in_use_is_said_on_the_login_form(web_server: WebServer,
                                               open_tab: OpenTab) -> None:
    server = web_server()
    with Client(server.port) as bob:
        bob.identify("Bob")
        tab = open_tab(url(server))
        tab.page.fill("#name", "bob")
        tab.page.click("#enter")
        expect(tab.page.locator("#login-error")).to_have_text(
            "That name is taken. Pick another.", timeout=MS)
        login(tab, "Roberto")
    assert_clean(tab)


def test_an_operator_kicks_and_bans_from_the_page(web_server: WebServer,
                                                  open_tab: OpenTab) -> None:
    """/commands and raw @<- lines of the moderation verbs: their replies and listings,
    a FORBIDDEN for someone who is not an operator, an unknown verb refused by the page."""
    server = web_server(rate=0, operators=("Root",))
    with Client(server.port) as first:
        first.identify("Root")
        first.send("@<- REGISTER clave-de-root")
        first.until("^@-> OK REGISTER Root$")
    root = open_tab(url(server))
    root.page.fill("#name", "Root")
    root.page.fill("#password", "clave-de-root")
    root.page.click("#enter")
    expect(root.page.locator("#here")).to_have_text("#general", timeout=MS)
    ana = open_tab(url(server))
    login(ana, "Ana")
    with Client(server.port) as troll, Client(server.port) as pepe:
        troll.identify("Troll")
        pepe.identify("Pepe")
        type_line(root, "/join #tapas")
        expect(root.page.locator("#here")).to_have_text("#tapas", timeout=MS)
        troll.send("@<- JOIN #tapas")
        troll.until("^@-> OK JOIN #tapas$")
        type_line(root, "/kick Troll fuera")  # the room on screen goes first
        troll.until("^@-> LEAVE #tapas Troll kicked by Root: fuera$")
        system = root.page.locator(".system .text")
        expect(system.filter(has_text="OK KICK #tapas Troll")).to_have_count(1, timeout=MS)
        expect(root.page.locator("#members .member", has_text="Troll")).to_have_count(0)
        type_line(root, "@<- BAN Troll 1h flood")
        troll.until("^@-> BYE KICKED banned by Root")
        expect(system.filter(has_text=re.compile(r"^OK BAN Troll \d{4}-"))).to_have_count(
            1, timeout=MS)
        type_line(root, "/bans")
        expect(system.filter(has_text=re.compile(r"Ban: Troll until \d{4}-.*, by Root flood")))\
            .to_have_count(1, timeout=MS)
        expect(system.filter(has_text="1 bans in force")).to_have_count(1, timeout=MS)
        type_line(root, "/announce se cierra a las diez")
        expect(ana.page.locator(".system", has_text="se cierra a las diez")).to_have_count(
            1, timeout=MS)
        pepe.until("^@-> NOTICE se cierra a las diez$")
        type_line(root, "@<- UNBAN Troll")
        expect(system.filter(has_text="OK UNBAN Troll")).to_have_count(1, timeout=MS)
        type_line(root, "@<- KICK #general Pepe adiós")
        pepe.until("^@-> BYE KICKED kicked by Root: adiós$")
        # Ana is no operator: the server's FORBIDDEN is shown; a typo is refused by the page.
        type_line(ana, "/ban Root")
        errors = ana.page.locator(".system.error")
        expect(errors.filter(has_text="(FORBIDDEN)")).to_have_count(1, timeout=MS)
        type_line(ana, "@<- FROB x")
        expect(errors.filter(has_text="unknown command FROB; try @<- HELP (UNKNOWN_COMMAND)"))\
            .to_have_count(1, timeout=MS)
        type_line(ana, "@<- KICK #general")
        expect(errors.filter(has_text="(MISSING_ARGUMENT)")).to_have_count(1, timeout=MS)
        type_line(ana, "@<- HELP")
        lines = ana.page.locator(".system .text")
        expect(lines.filter(has_text=re.compile("^@<- KICK #room name"))).to_have_count(1, timeout=MS)
        expect(lines.filter(has_text=re.compile("^@<- BANS"))).to_have_count(0)
    root.shot("13-operator-commands")
    assert_clean(root, ana)


def test_the_page_moves_to_the_next_server_when_its_own_goes(tmp_path: Any,
                                                             open_tab: OpenTab) -> None:
    """Two servers, each listing the other (--web-servers): the page of A, once A is gone,
    connects to B (whose Origin check accepts A's page), says so, keeps the draft and
    its rooms, and chats there."""
    from dataclasses import replace

    from tests.integration.harness import server_config

    a = ServerThread(server_config(tmp_path / "a", rate=0), http=True)
    b = ServerThread(server_config(tmp_path / "b", rate=0), http=True)
    a.config = replace(a.config, web_servers=f"ws://127.0.0.1:{b.http_port}/ws")
    b.config = replace(b.config, web_servers=f"ws://127.0.0.1:{a.http_port}/ws")
    a.start()
    try:
        b.start()
        with Client(b.port) as early:
            # Two independent servers number their messages each from 1 (a cluster
            # shares one sequence): B starts ahead, so that no id of A is reused on B.
            early.identify("Early")
            early.send("@<- JOIN #otra")
            for n in range(5):
                early.send(f"antes {n}")
            early.send("@<- PING ok")
            early.until("^@-> OK PING ok$")
        ana = open_tab(url(a))
        login(ana, "Ana")
        type_line(ana, "/join #tapas")
        expect(ana.page.locator("#here")).to_have_text("#tapas", timeout=MS)
        type_line(ana, "en A")
        expect(message(ana, "en A")).to_have_count(1, timeout=MS)
        ana.page.fill("#input", "esto no se pierde")
        with Client(b.port) as carla:
            carla.identify("Carla")
            carla.send("@<- JOIN #tapas")
            carla.send("mientras tanto en B")
            carla.send("@<- PING ok")
            carla.until("^@-> OK PING ok$")
        a.stop()
        moved = f"Connected to another server: ws://127.0.0.1:{b.http_port}/ws"
        expect(ana.page.locator(".system .text", has_text=moved)).to_have_count(1, timeout=MS * 3)
        with Client(b.port) as bob:
            bob.identify("Bob")
            bob.send("@<- USERS #tapas")
            bob.until("^@-> OK USERS 1$")  # Ana came back into #tapas on B
            bob.send("@<- JOIN #tapas")
            bob.send("hola desde B")
            expect(message(ana, "hola desde B")).to_have_count(1, timeout=MS)
        expect(message(ana, "mientras tanto en B")).to_have_count(1)  # caught up
        expect(message(ana, "en A")).to_have_count(1)  # what it had stays on the page
        expect(ana.page.locator("#input")).to_have_value("esto no se pierde")
        expect(ana.page.locator("#status")).to_have_text("", timeout=MS)
        ana.shot("14-moved-to-another-server")
        assert_clean(ana, allow=r"WebSocket connection to .* failed")
    finally:
        a.stop()
        b.stop()
