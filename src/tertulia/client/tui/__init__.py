"""``tertulia connect``: the full-screen terminal client (Textual), in JSON mode.

The screen: the current room's topic on top; the conversations on the left
(rooms, then private conversations, with unread counts); the messages in the
middle; the members of the current room, in their colours, on the right; a
status line; the input line at the bottom.  Incoming messages never touch the
input line.

The modules, from the inside out:

- :mod:`.model`: conversations, unread counts, members (no Textual);
- :mod:`.render`: messages and notices as plain :class:`rich.text.Text`;
- :mod:`.widgets`: the input line with its history, and the name prompt;
- :mod:`.events`: what each server event does to the conversations;
- :mod:`.session`: connect, identify, reconnect with backoff, catch up;
- :mod:`.commands`: /commands, raw ``@<-`` lines, Tab completion;
- :mod:`.app`: the Textual app, its layout and its keys.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tertulia.client.servers import DEFAULT_PORT, DEFAULT_TLS_PORT, Address, parse_servers
from tertulia.client.tui.app import TertuliaApp
from tertulia.client.tui.render import render_message
from tertulia.client.tui.widgets import NameScreen

if TYPE_CHECKING:
    from tertulia.client.plain import TlsChoice

__all__ = ["NameScreen", "TertuliaApp", "main_from_args", "render_message", "run"]


def run(host: str, port: int, name: str | None = None, tls: ssl.SSLContext | None = None,
        servers: Sequence[Address] | None = None) -> int:
    """Run the full-screen client; return the exit status."""
    app = TertuliaApp(host, port, name, tls=tls, servers=servers)
    result = app.run()
    return result if isinstance(result, int) else 0


def main_from_args(addresses: Sequence[str] | None, name: str | None,
                   tls: TlsChoice | None = None) -> int:
    """``tertulia connect [HOST[:PORT]...] [--server A,B] [--name NAME]
    [--tls [--insecure] [--ca FILE]]``."""
    try:
        servers = parse_servers(addresses, DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
        context = tls.context() if tls else None
    except (ValueError, OSError) as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    host, port = servers[0]
    return run(host, port, name, context, servers)
