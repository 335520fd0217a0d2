"""What differs between the servers: how a client registers, joins, sends and reads a message.

Both adapters carry the same payload, ``m<sender>.<seq>.<time>.`` padded to
80 bytes, so one regular expression reads it back from either server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAYLOAD_RE = re.compile(rb"m(\d+)\.(\d+)\.(\d+\.\d+)\.x")
MESSAGE_BYTES = 80


def payload(sender: int, seq: int, stamp: float) -> str:
    head = f"m{sender}.{seq}.{stamp:.6f}."
    return head + "x" * (MESSAGE_BYTES - len(head))


@dataclass(frozen=True)
class Adapter:
    name: str
    #: Sent on connect: register, and join the benchmark room.
    hello: str
    #: Bytes that say registration (and join, where asked) is complete.
    ready: bytes
    hello_idle: str
    ready_idle: bytes

    def register(self, nick: str, room: str | None) -> bytes:
        template = self.hello if room else self.hello_idle
        return template.format(nick=nick, room=room or "").encode()

    def ready_marker(self, room: str | None) -> bytes:
        return self.ready.replace(b"{room}", (room or "").encode()) if room else self.ready_idle

    def message(self, room: str, text: str) -> bytes:
        raise NotImplementedError


class TertuliaAdapter(Adapter):
    def message(self, room: str, text: str) -> bytes:
        return f"{text}\n".encode()  # a plain line goes to the current room


class IrcAdapter(Adapter):
    def message(self, room: str, text: str) -> bytes:
        return f"PRIVMSG {room} :{text}\r\n".encode()


TERTULIA = TertuliaAdapter(
    name="tertulia",
    # COLORS off as a bot would; JOIN makes the room current, and its OK comes
    # once the client is a member.
    hello="@<- COLORS off\n@<- IDENTIFY {nick}\n@<- JOIN {room}\n",
    ready=b"@-> OK JOIN {room}",
    hello_idle="@<- IDENTIFY {nick}\n",
    ready_idle=b"@-> OK IDENTIFY",
)

IRC = IrcAdapter(
    name="irc",
    hello="NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN {room}\r\n",
    ready=b" 366 ",  # end of NAMES: the JOIN is complete
    hello_idle="NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n",
    ready_idle=b" 001 ",
)

ADAPTERS = {"tertulia": TERTULIA, "irc": IRC}
