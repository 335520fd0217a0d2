"""The ``tertulia`` command: argument parsing, logging, signals, exit codes.

Exit status: 0 after a clean shutdown, 2 for a bad option value, 1 when the
server cannot start (port in use, store cannot be opened).  Never a traceback
for those: one line on stderr that says what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import sys

from tertulia import __version__
from tertulia.server.config import Config, ConfigError, add_arguments, from_namespace

logger = logging.getLogger("tertulia")


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

        return together(ns.port, ns.name)
    if ns.command == "connect":
        if not ns.plain:
            from tertulia.client.tui import main_from_args as full_screen

            return full_screen(ns.address, ns.name)
        from tertulia.client.plain import main_from_args

        return main_from_args(ns.address, ns.name, ns.rate, ns.burst)
    try:
        config = from_namespace(ns)
    except ConfigError as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(config)


def _loop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(config: Config) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status."""
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        try:
            return runner.run(_serve(config))
        except KeyboardInterrupt:  # a Ctrl+C before the handlers were installed
            return 0


async def _serve(config: Config) -> int:
    from tertulia.core.ports import StoreUnavailable
    from tertulia.server.app import Server

    loop = asyncio.get_running_loop()
    stop, fast = asyncio.Event(), asyncio.Event()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            logger.info("%s again: stopping now", signame)
            fast.set()
        else:
            logger.info("%s: shutting down (press Ctrl+C again to skip the wait)", signame)
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    server = Server(config)
    try:
        await server.start()
    except OSError as exc:
        where = f"{config.host or '*'}:{config.port}"
        if exc.errno == errno.EADDRINUSE:
            print(
                f"tertulia: port {config.port} is already in use ({where}); "
                "stop the other server or choose another with --port",
                file=sys.stderr,
            )
        else:
            print(f"tertulia: cannot start on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"tertulia: {exc}; check --db and the folder's permissions", file=sys.stderr)
        return 1
    await stop.wait()
    await server.stop(fast)
    return 0
