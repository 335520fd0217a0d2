"""What each server event does to the conversations and the screen.

Messages go to their room or private conversation (counted as unread when it
is not on screen); joins, leaves, quits, renames and topics update the members
and the topic and leave a notice; notices, errors and BYE are shown in the
current conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tertulia.client.connection import JsonObject
from tertulia.client.i18n import _
from tertulia.client.tui.model import GENERAL, Entry
from tertulia.client.tui.render import ERROR_STYLE, message_entry, notice
from tertulia.protocol.names import fold

if TYPE_CHECKING:
    from tertulia.client.tui.app import TertuliaApp


def apply_event(app: TertuliaApp, event: JsonObject) -> None:
    """Show one event from the server (JSON mode) in the app."""
    kind = event.get("type")
    me = app.me
    if kind in ("message", "private"):
        who = str(event.get("from", ""))
        mine = fold(who) == fold(me)
        if kind == "message":
            conv = app.conversation(str(event.get("room", GENERAL)))
        else:
            conv = app.conversation(str(event.get("to", "")) if mine else who, private=True)
        entry = message_entry(event, me)
        if app.show(conv, entry, count=not mine) and entry.mention:
            app.alert(conv, who, str(event.get("text", "")))
    elif kind == "history":
        conv = app.conversation(str(event.get("room", GENERAL)))
        for msg in event.get("messages", []):
            if isinstance(msg, dict):
                app.show(conv, message_entry(msg, me),
                         count=False)
    elif kind == "join":
        conv = app.conversation(str(event.get("room")))
        name = str(event.get("name"))
        conv.members[fold(name)] = (name, str(event.get("color", "")))
        app.show(conv, Entry(notice(_("{name} joined {room}").format(
            name=name, room=conv.title))), count=False)
        app.refresh_members()
    elif kind == "leave" and fold(str(event.get("name"))) == fold(me):
        # Put out of a room (a kick): it leaves the list, and is not joined again
        # after a reconnection.
        room = str(event.get("room"))
        app.conversations.pop(fold(room), None)
        if app.current == fold(room) or app.current not in app.conversations:
            app.switch_to(fold(GENERAL))
        app.refresh_sidebar()
        app.tell(_("you are out of {room} ({why})").format(
            room=room, why=event.get("reason", "")), ERROR_STYLE)
    elif kind == "leave":
        conv = app.conversation(str(event.get("room")))
        name = str(event.get("name"))
        conv.members.pop(fold(name), None)
        app.show(conv, Entry(notice(_("{name} left {room} ({why})").format(
            name=name, room=conv.title, why=event.get("reason", "")))), count=False)
        app.refresh_members()
    elif kind == "quit":
        name = str(event.get("name"))
        for conv in app.conversations.values():
            if conv.members.pop(fold(name), None) is not None or (
                    conv.private and conv.key == fold(name)):
                app.show(conv, Entry(notice(_("{name} quit ({why})").format(
                    name=name, why=event.get("reason", "")))), count=False)
        app.refresh_members()
    elif kind == "nick":
        old, new = str(event.get("old")), str(event.get("new"))
        app.rename_private(old, new)
        for conv in list(app.conversations.values()):
            member = conv.members.pop(fold(old), None)
            if member is not None:
                conv.members[fold(new)] = (new, member[1])
            if member is not None or (conv.private and conv.key == fold(new)):
                app.show(conv, Entry(notice(_("{old} is now {new}").format(
                    old=old, new=new))), count=False)
        app.refresh_sidebar()
    elif kind == "topic":
        conv = app.conversation(str(event.get("room")))
        conv.topic = str(event.get("text", ""))
        app.show(conv, Entry(notice(_("{name} set the topic: {text}").format(
            name=event.get("name"), text=conv.topic))), count=False)
        app.refresh_members()
    elif kind == "notice":
        app.tell(str(event.get("text", "")))
    elif kind == "error":
        app.tell(f"{event.get('message', '')} ({event.get('code', '')})", ERROR_STYLE)
    elif kind == "bye":
        app.tell(f"{event.get('code', '')} {event.get('text', '')}", ERROR_STYLE)
