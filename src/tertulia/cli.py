"""The ``tertulia`` command: which part runs, from the arguments.

* ``tertulia serve [options]``: the server (:mod:`tertulia.server.cli`);
* ``tertulia connect [HOST[:PORT]]``: the full-screen client, or with
  ``--plain`` the line mode (:mod:`tertulia.client`);
* ``tertulia`` alone: a server on port 3000 (and the web page on 8080)
  unless one runs there, and the client on it (:mod:`tertulia.client.together`).

A usage error exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse

from tertulia import __version__
from tertulia.server.config import add_arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tertulia",
        description="Tertulia: a self-hosted chat server. With no command, start a server "
        "on port 3000 (unless one is running there) and chat on it.",
    )
    parser.add_argument("--version", action="version", version=f"tertulia {__version__}")
    parser.add_argument("--port", type=int, default=3000,
                        help="with no command: the port of the server to start or use "
                        "(default: 3000)")
    parser.add_argument("--http-port", type=int, default=8080,
                        help="with no command: the web page's port of the server it starts "
                        "(default: 8080; 0 = no web page)")
    parser.add_argument("--name", help="with no command: your name in the chat")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    serve = commands.add_parser(
        "serve", help="run the chat server", description="Run the Tertulia chat server."
    )
    add_arguments(serve)
    connect = commands.add_parser(
        "connect",
        help="chat from this terminal (line mode with --plain)",
        description="Connect to a Tertulia server.",
    )
    connect.add_argument("address", nargs="?", metavar="HOST[:PORT]",
                         help="the server (default: localhost:3000)")
    connect.add_argument("--plain", action="store_true",
                         help="line mode: stdin lines are sent, received lines printed")
    connect.add_argument("--name", help="IDENTIFY with this name first")
    connect.add_argument("--rate", type=float, default=10.0,
                         help="lines sent per second at most (default: 10; 0 = no pacing)")
    connect.add_argument("--burst", type=int, default=20,
                         help="lines sent at once before --rate applies (default: 20)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        from tertulia.client.together import main as together

        return together(ns.port, ns.name, ns.http_port)
    if ns.command == "connect":
        if not ns.plain:
            from tertulia.client.tui import main_from_args as full_screen

            return full_screen(ns.address, ns.name)
        from tertulia.client.plain import main_from_args

        return main_from_args(ns.address, ns.name, ns.rate, ns.burst)
    from tertulia.server.cli import serve_main

    return serve_main(ns)
