"""The link to the server: connect, identify, reconnect with backoff, catch up.

One task (:func:`run_connection`) connects, identifies (asking for a name on
:class:`NameScreen` as needed), pumps events into :func:`apply_event` and
reconnects with backoff.  After a reconnection it rejoins the rooms and asks
for the messages missed (:func:`catch_up`).  :func:`request` is how every
other part sends a command and awaits its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import TYPE_CHECKING, Any

from tertulia.client.connection import Connection, ConnectionClosed, JsonObject, ServerRefused
from tertulia.client.i18n import _
from tertulia.client.plain import untrusted
from tertulia.client.servers import (
    NAME_RETRY,
    NAME_WAIT,
    Address,
    Rotation,
    describe,
    failure,
)
from tertulia.client.tui.events import apply_event
from tertulia.client.tui.model import GENERAL, Entry
from tertulia.client.tui.render import ERROR_STYLE, message_entry, notice
from tertulia.client.tui.widgets import NameScreen
from tertulia.protocol.names import fold

if TYPE_CHECKING:
    from tertulia.client.tui.app import TertuliaApp

#: Reconnection delays: the first, and the most.
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
#: BYE codes after which the client does not reconnect: the server meant it.
FINAL_BYES = ("KICKED", "PROTOCOL_ERRORS")
#: Messages asked for when scrolling back (PageUp) and when catching up.
PAGE = 50
CATCH_UP = 500


async def run_connection(app: TertuliaApp) -> None:
    """Connect, identify and pump events until the user quits; reconnect with backoff,
    going through the servers in turn (:class:`~tertulia.client.servers.Rotation`)."""
    rotation = Rotation(app.servers, app.backoff, app.backoff_max)
    last: Address | None = None  # the server of the last connection that was made
    while not app.quitting:
        address = rotation.current
        app.host, app.port = address
        conn = Connection(*address, app.tls)
        try:
            await conn.connect()
        except ssl.SSLCertVerificationError as exc:
            # Trying again would not help: say so once, and stop.
            app.tell(untrusted(describe(address), exc), ERROR_STYLE)
            app.status(_("not connected"))
            return
        except (OSError, ServerRefused, TimeoutError) as exc:
            wait = rotation.failed()
            app.tell(_("cannot connect to {where}: {why}; {next}").format(
                where=describe(address), why=failure(exc), next=_next_try(rotation, wait)),
                ERROR_STYLE)
            app.status(_("not connected"))
            await asyncio.sleep(wait)
            continue
        rotation.connected()
        if last is not None and last != address:
            app.tell(_("moved to the server {where} (from {before})").format(
                where=describe(address), before=describe(last)), ERROR_STYLE)
        last = address
        app.conn = conn
        pump = asyncio.create_task(_pump(app, conn))
        with contextlib.suppress(ConnectionClosed):
            await _login(app, conn)
        await pump
        app.conn = None
        app.identified = False
        if app.quitting:
            return
        bye = conn.bye
        why = f"{bye.get('code')} {bye.get('text', '')}" if bye else _("connection lost")
        if bye is not None and bye.get("code") in FINAL_BYES:
            # The server meant it (an operator's kick): no reconnecting.
            app.tell(_("disconnected from {where} ({why}); not reconnecting "
                       "(Ctrl+C twice quits)").format(where=describe(address), why=why),
                     ERROR_STYLE)
            app.status(_("not connected"))
            return
        wait = rotation.dropped()
        app.tell(_("disconnected from {where} ({why}); {next}").format(
            where=describe(address), why=why, next=_next_try(rotation, wait)), ERROR_STYLE)
        app.status(_("reconnecting..."))
        await asyncio.sleep(wait)


def _next_try(rotation: Rotation, wait: float) -> str:
    """What happens next, for a notice: which server, and when."""
    if wait:
        if len(rotation.addresses) == 1:
            return _("trying again in {s} s").format(s=f"{wait:g}")
        return _("trying {where} in {s} s").format(where=describe(rotation.current),
                                                   s=f"{wait:g}")
    return _("trying {where}").format(where=describe(rotation.current))


async def _pump(app: TertuliaApp, conn: Connection) -> None:
    async for event in conn.events():
        apply_event(app, event)


async def _login(app: TertuliaApp, conn: Connection) -> None:
    """IDENTIFY (asking for a name as needed), then rejoin and catch up."""
    # What we had before this connection: the history sent on IDENTIFY and JOIN
    # (the latest 20) may skip some, so we ask for everything after these.
    known = {conv.key: conv.newest for conv in app.conversations.values()
             if not conv.private}
    reason = ""
    name = app.me or None
    password = app.password
    # Back after a lost connection: the server may still hold the name for it.
    wait_until = time.monotonic() + NAME_WAIT if app.was_identified else 0.0
    said = False
    while True:
        while name is None:
            name = await _ask(app, reason)
        reply = await conn.request("identify", name=name, password=password)
        if reply.get("type") == "ok":
            break
        code = reply.get("code")
        if code == "NAME_IN_USE" and name == app.me and time.monotonic() < wait_until:
            if not said:
                said = True
                app.tell(_("the name {name} is still held for the lost connection; "
                           "waiting for it").format(name=name), ERROR_STYLE)
            await asyncio.sleep(NAME_RETRY)
            continue
        if code in ("AUTH_REQUIRED", "AUTH_FAILED"):
            # A registered name: its password, asked (masked) until right or Esc.
            why = _("Wrong password.") if code == "AUTH_FAILED" else ""
            password = await _ask(app, why, password_for=name)
            if password is None:
                name, reason = None, ""
            continue
        reason = _refusal(name, reply)
        name, password = None, None
    app.password = password
    app.me = str(reply.get("name", name))
    app.my_color = str(reply.get("color", ""))
    app.identified = app.was_identified = True
    if app.name_screen is not None:
        app.name_screen = None
        app.pop_screen()
        app.chat_input.focus()
    app.status(_("connected to {where} as {name}").format(
        where=describe((app.host, app.port)), name=app.me))
    general = app.conversation(GENERAL)
    if not app.current:
        app.current = general.key
        app.redraw()
    app.refresh_sidebar()
    # Rejoin the rooms of an earlier connection, then fetch what was missed.
    for conv in list(app.conversations.values()):
        if conv.private or conv.key == general.key:
            continue
        joined = await conn.request("join", room=conv.title)
        if joined.get("type") == "error":
            app.show(conv, Entry(notice(str(joined.get("message")), ERROR_STYLE)))
    for conv in list(app.conversations.values()):
        if conv.private:
            continue
        app.spawn(members(app, conv.title))
        if conv.key in known:  # a room of the last connection (not a new one)
            app.spawn(catch_up(app, conv.title, known[conv.key]))


def _refusal(name: str, reply: JsonObject) -> str:
    code = str(reply.get("code", ""))
    message = str(reply.get("message", ""))
    if code == "NAME_IN_USE":
        return _("The name {name} is taken by someone online. Choose another.").format(
            name=name)
    if code == "INVALID_NAME":
        return _("The name {name} is not valid: {why}. Choose another.").format(
            name=name, why=message)
    return _("The name {name} was refused: {why}").format(name=name, why=message)


async def _ask(app: TertuliaApp, reason: str, password_for: str | None = None) -> str | None:
    """Show the name screen, asking a name or the password of ``password_for``."""
    app.name_wanted = asyncio.get_running_loop().create_future()
    if app.name_screen is None:
        app.name_screen = NameScreen(reason)
        await app.push_screen(app.name_screen)
    if password_for is not None:
        app.name_screen.ask_password(password_for, reason)
    else:
        app.name_screen.refuse(reason)
    return await app.name_wanted


async def request(app: TertuliaApp, cmd: str, **fields: Any) -> JsonObject | None:
    """Send a command; show an error reply; None when not connected."""
    conn = app.conn
    if conn is None or conn.closed.is_set():
        app.tell(_("not connected; try again in a moment"), ERROR_STYLE)
        return None
    try:
        reply = await conn.request(cmd, **fields)
    except (ConnectionClosed, TimeoutError):
        app.tell(_("no answer from the server for {cmd}").format(cmd=cmd), ERROR_STYLE)
        return None
    if reply.get("type") == "error":
        app.tell(f"{reply.get('message', '')} ({reply.get('code', '')})", ERROR_STYLE)
    return reply


async def members(app: TertuliaApp, room: str) -> None:
    """Ask who is in ``room`` and what its topic is, and show them."""
    reply = await request(app, "users", room=room)
    if reply is not None and reply.get("type") == "ok":
        set_members(app, room, reply)
    reply = await request(app, "topic", room=room)
    conv = app.conversations.get(fold(room))
    if reply is not None and reply.get("type") == "ok" and conv is not None:
        conv.topic = str(reply.get("text", ""))
        if conv.key == app.current:
            app.refresh_members()


def set_members(app: TertuliaApp, room: str, reply: JsonObject) -> None:
    """Take the members of ``room`` from a USERS reply."""
    conv = app.conversations.get(fold(room))
    if conv is None:
        return
    conv.members = {
        fold(str(u.get("name"))): (str(u.get("name")), str(u.get("color", "")))
        for u in reply.get("users", []) if isinstance(u, dict)
    }
    if conv.key == app.current:
        app.refresh_members()


async def history(app: TertuliaApp, room: str, **fields: Any) -> None:
    """HISTORY of ``room``; with ``before``, an older page drawn above the rest."""
    reply = await request(app, "history", room=room, **fields)
    if reply is not None and reply.get("type") == "ok":
        conv = app.conversation(str(reply.get("room", room)))
        messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
        if "before" in fields:
            # An older page: added above, drawn once, and the view stays at the top.
            for msg in messages:
                conv.add(message_entry(msg, app.me))
            if not messages:
                app.show(conv, Entry(notice(_("no older messages"))))
            elif conv.key == app.current:
                app.redraw(top=True)
            return
        for msg in messages:
            app.show(conv, message_entry(msg, app.me),
                     count=False)


async def catch_up(app: TertuliaApp, room: str, after: str | None) -> None:
    """HISTORY after the last message seen, page by page, until nothing is missing.

    With no message seen (``after`` None: the room was empty), the latest
    :data:`CATCH_UP` messages: all of them are new.
    """
    while True:
        reply = await request(app, "history", room=room, after=after, limit=CATCH_UP)
        if reply is None or reply.get("type") != "ok":
            return
        conv = app.conversation(str(reply.get("room", room)))
        messages = [m for m in reply.get("messages", []) if isinstance(m, dict)]
        for msg in messages:
            app.show(conv, message_entry(msg, app.me),
                     count=False)
        if len(messages) < CATCH_UP or after is None:
            return
        after = str(messages[-1].get("id"))
