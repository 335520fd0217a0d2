"""``tertulia serve``: configuration from flags, logging, signals, exit codes.

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

from tertulia.server.config import Config, ConfigError, from_namespace

logger = logging.getLogger("tertulia")


def serve_main(ns: argparse.Namespace) -> int:
    """``tertulia serve``: build the configuration from the parsed flags, then run."""
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
    from tertulia.server.app import ListenError, Server

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
    try:
        server = Server(config)
        await server.start()
    except ListenError as exc:
        where = f"{config.host or '*'}:{exc.port}"
        if exc.errno == errno.EADDRINUSE:
            print(
                f"tertulia: port {exc.port} is already in use ({where}); "
                f"stop the other server or choose another with {exc.flag}",
                file=sys.stderr,
            )
        else:
            print(f"tertulia: cannot start on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"tertulia: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        hint = (
            "check --nats and that nats-server runs there with JetStream (-js)"
            if config.nats
            else "check --db and the folder's permissions"
        )
        print(f"tertulia: {exc}; {hint}", file=sys.stderr)
        return 1
    except ConfigError as exc:  # the TLS certificate or key (read at start)
        print(f"tertulia: {exc}", file=sys.stderr)
        return 2
    await stop.wait()
    await server.stop(fast)
    return 0
