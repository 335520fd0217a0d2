"""An echo bot for Tertulia: JSON mode, reconnection, and catch-up with HISTORY.

Run it next to a server::

    python examples/echo_bot.py --port 3000 --name echobot [--room '#bots']

In every room it is in, the bot answers a message "!echo some text" with
"some text".  A private message gets its own text back.  When the connection
drops, the bot connects again (waiting 1 s, 2 s, 4 s, ... up to 30 s) and
answers the requests it missed: it asks for every message after the id of
the last one it saw (``HISTORY ... after ID``).  Ctrl+C stops it.

Standard library only.  See docs/howto/write-a-bot.md for a walk through.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("echo_bot")

TRIGGER = "!echo "
PAGE = 500  # the most messages one HISTORY returns
PACE = 0.12  # seconds between two echoes: stays under the default --rate of 10 lines/s
MAX_DELAY = 30.0  # the longest wait between two connection attempts
LINE_LIMIT = 1 << 24  # a HISTORY reply of 500 long messages is one long line

Obj = dict[str, Any]


class Disconnected(Exception):
    """The connection ended: closed by the server, or a BYE."""


class EchoBot:
    def __init__(self, host: str, port: int, name: str, rooms: list[str]) -> None:
        self.host, self.port, self.name = host, port, name
        self.rooms = rooms  # rooms to join besides #general
        #: room -> id of the last message handled there ("" = none yet).
        #: A room is missing until the bot has been in it once.
        self.last_id: dict[str, str] = {}
        self.delay = 1.0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.catching_up = False
        self.pending: list[Obj] = []  # room messages held back while catching up
        self.next_ref = 0
        self.next_echo = 0.0

    # ------------------------------------------------------------ connection

    async def run_forever(self) -> None:
        """Connect, serve, and connect again whenever the connection ends."""
        while True:
            try:
                await self.session()
            except (OSError, ValueError, Disconnected) as exc:
                log.warning("no connection (%s); next attempt in %.0f s", exc, self.delay)
            await asyncio.sleep(self.delay)
            self.delay = min(self.delay * 2, MAX_DELAY)

    async def session(self) -> None:
        """One connection, from WELCOME to the end."""
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=LINE_LIMIT)
        self.reader, self.writer = reader, writer
        try:
            welcome = await reader.readline()
            if not welcome.startswith(b"@-> WELCOME "):
                raise Disconnected(welcome.decode(errors="replace").strip() or "closed")
            writer.write(b"@<- PROTO json\n")
            if not (await reader.readline()).startswith(b"@-> OK PROTO json"):
                raise Disconnected("the server did not switch to JSON")
            await self.start()
            while True:
                await self.handle(await self.receive())
        finally:
            # Runs on Ctrl+C too (the task is cancelled): say goodbye if the
            # connection is still open; close() sends what is buffered first.
            if not writer.is_closing():
                writer.write(b'{"cmd": "quit", "reason": "echo bot leaving"}\n')
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (OSError, TimeoutError):
                pass

    async def start(self) -> None:
        """IDENTIFY, JOIN, and catch up on what was said while we were away."""
        self.catching_up, self.pending = True, []
        known = list(self.last_id)  # rooms we were in before this connection
        reply = await self.command("identify", name=self.name)
        if reply["type"] == "error":
            # NAME_IN_USE right after a drop: the server has not yet seen
            # our old connection go.  Try again later.
            raise Disconnected(f"{reply['code']}: {reply['message']}")
        self.delay = 1.0
        for room in self.rooms:
            reply = await self.command("join", room=room)
            if reply["type"] == "error":
                log.warning("cannot join %s: %s", room, reply["message"])
        for room in known:
            await self.catch_up(room)
        # Replies come in command order, so once PING is answered every
        # history line sent on IDENTIFY and JOIN has been read.
        await self.command("ping")
        self.catching_up = False
        pending, self.pending = sorted(self.pending, key=lambda m: m["id"]), []
        for message in pending:
            await self.on_message(message)
        log.info("connected as %s", self.name)

    async def catch_up(self, room: str) -> None:
        """Read every message of ``room`` after the last one handled, page by page."""
        after = self.last_id[room] or "0" * 16
        while True:
            reply = await self.command("history", room=room, after=after, limit=PAGE)
            if reply["type"] == "error":
                log.warning("cannot catch up on %s: %s", room, reply["message"])
                return
            self.pending.extend(reply["messages"])
            if reply["count"] < PAGE:
                return
            after = reply["messages"][-1]["id"]

    # ------------------------------------------------------------ lines

    async def send(self, obj: Obj) -> None:
        assert self.writer is not None
        self.writer.write(json.dumps(obj).encode() + b"\n")
        await self.writer.drain()

    async def receive(self) -> Obj:
        assert self.reader is not None
        line = await self.reader.readline()
        if not line:
            raise Disconnected("connection closed")
        obj: Obj = json.loads(line)
        return obj

    async def command(self, cmd: str, **fields: Any) -> Obj:
        """Send a command and handle what arrives until its reply (ok or error)."""
        self.next_ref += 1
        ref = self.next_ref
        await self.send({"cmd": cmd, "ref": ref, **fields})
        while True:
            obj = await self.receive()
            if obj.get("ref") == ref:
                return obj
            await self.handle(obj)

    async def handle(self, obj: Obj) -> None:
        """One object from the server that is not the reply we wait for."""
        kind = obj.get("type")
        if kind == "message":
            if self.catching_up:
                self.pending.append(obj)
            else:
                await self.on_message(obj)
        elif kind == "history":
            room, messages = obj["room"], obj["messages"]
            if room not in self.last_id:
                # First time in this room: old messages are not for us.
                self.last_id[room] = messages[-1]["id"] if messages else ""
            elif self.catching_up:
                self.pending.extend(messages)
            else:
                for message in messages:
                    await self.on_message(message)
        elif kind == "private":
            if obj["from"] != self.name:
                await self.echo({"cmd": "msg", "to": obj["from"], "text": obj["text"]})
        elif kind == "ping":
            await self.send({"cmd": "pong", "token": obj["token"]})
        elif kind == "bye":
            raise Disconnected(f"{obj['code']}: {obj['text']}")
        elif kind == "error":
            log.warning("%s: %s", obj["code"], obj["message"])

    async def on_message(self, message: Obj) -> None:
        """A room message, live or from history: answer it once."""
        room, mid = message["room"], message["id"]
        if mid <= self.last_id.get(room, ""):
            return  # seen already: ids sort as strings in a room's order
        self.last_id[room] = mid
        text = message["text"]
        if message["from"] != self.name and text.startswith(TRIGGER):
            await self.echo({"cmd": "say", "room": room, "text": text[len(TRIGGER):]})

    async def echo(self, obj: Obj) -> None:
        """Send an answer, at most one per PACE seconds."""
        now = time.monotonic()
        if self.next_echo > now:
            await asyncio.sleep(self.next_echo - now)
        self.next_echo = max(now, self.next_echo) + PACE
        await self.send(obj)


def main() -> int:
    parser = argparse.ArgumentParser(description="A Tertulia echo bot (JSON mode).")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--name", default="echobot")
    parser.add_argument("--room", action="append", default=[], metavar="#ROOM",
                        help="a room to join besides #general (repeat for more)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    bot = EchoBot(args.host, args.port, args.name, args.room)
    try:
        asyncio.run(bot.run_forever())
    except KeyboardInterrupt:
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
