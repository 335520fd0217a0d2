"""Real servers on free ports, and a small blocking client to talk to them.

* :class:`ServerThread` runs the real :class:`tertulia.server.app.Server` (real
  TCP, real SQLite file) on its own event loop in a background thread.
* :func:`spawn_server` runs ``python -m tertulia serve`` as a child process, for
  signals, exit codes and ``kill -9``.
* :class:`Client` is a blocking socket client with line reassembly and
  scaled timeouts; it fails the test (AssertionError) instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tertulia.server.app import Server
from tertulia.server.cli import _loop_factory
from tertulia.server.config import Config
from tests.timing import QUIET, TIMEOUT

SRC = str(Path(__file__).resolve().parents[2] / "src")


class ServerThread:
    """A real server in a background thread.  ``port`` is set once started.

    With ``http=True`` it also serves HTTP (the page, ``/ws``) on a free port,
    ``http_port``, bound here so that parallel tests never race for one; with
    ``http=N`` on port N (a restarted server taking its predecessor's port).
    """

    def __init__(self, config: Config, *, http: bool | int = False) -> None:
        self.config = config
        self.port = 0
        self.http_port = 0
        self._http_socket: socket.socket | None = None
        if http:
            port = 0 if http is True else int(http)
            self._http_socket = socket.create_server((config.host or "127.0.0.1", port))
            self.http_port = self._http_socket.getsockname()[1]  # known before start()
        self.server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tertulia-test-server", daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(TIMEOUT):
            raise AssertionError("server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = self._loop = _loop_factory()
        asyncio.set_event_loop(loop)
        try:
            self.server = Server(self.config, http_socket=self._http_socket)
            loop.run_until_complete(self.server.start())
            self.port = self.server.port
            self.http_port = self.server.http_port or 0
        except BaseException as exc:  # reported to the starting test
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result."""
        assert self._loop is not None
        async def wrapper() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(TIMEOUT)

    def stop(self) -> None:
        if self._loop is None or self.server is None or not self._thread.is_alive():
            return
        server, loop = self.server, self._loop

        async def shutdown() -> None:
            await server.stop()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(TIMEOUT * 2)


class ClusterThread(ServerThread):
    """Two nodes on one NATS that pass for one server: ``port`` is either, at random.

    The first node is the one ``call``, ``server`` and ``config`` refer to.
    """

    def __init__(
        self, tmp_path: Path, url: str, prefix: str, overrides: dict[str, Any], seed: str = ""
    ) -> None:
        options = {"nats": url, "nats_prefix": prefix, **overrides}
        #: Which node each client gets: random, but the same on every run of a test.
        self.choice = random.Random(seed or prefix)
        self.nodes = [
            ServerThread(server_config(tmp_path / f"node{i}", **options)) for i in range(2)
        ]
        super().__init__(self.nodes[0].config)

    def start(self) -> ClusterThread:
        for node in self.nodes:
            node.start()
        first = self.nodes[0]
        self.server, self._loop, self.http_port = first.server, first._loop, first.http_port
        return self

    @property  # type: ignore[override]
    def port(self) -> int:
        return self.choice.choice(self.nodes).port

    @port.setter
    def port(self, value: int) -> None:
        pass

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def server_config(tmp_path: Path, **overrides: Any) -> Config:
    """The protocol's defaults, on a free port, with a fresh database in ``tmp_path``.

    HTTP is off (``http_port=0``): tests run many servers at once, and one
    that wants the page or ``/ws`` asks ``ServerThread(..., http=True)``.
    """
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "db": str(tmp_path / "tertulia.db"),
        "http_port": 0,
    }
    values.update(overrides)
    return Config(**values)


class Client:
    """A blocking line client.  The WELCOME line is read on connect (``welcome``)."""

    def __init__(self, port: int, *, read_welcome: bool = True, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""
        self.welcome = self.line() if read_welcome else ""

    # -------------------------------------------------------------- sending
    def send(self, line: str) -> None:
        """Send one line (LF added)."""
        self.sock.sendall(line.encode() + b"\n")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_json(self, obj: dict[str, Any]) -> None:
        self.send(json.dumps(obj))

    # -------------------------------------------------------------- receiving
    def line(self, timeout: float = TIMEOUT) -> str:
        """The next line, without its LF; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line within {timeout:.1f} s (have {self.buf[:200]!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise AssertionError(f"connection closed (have {self.buf[:200]!r})")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\n")
        return raw.decode()

    def json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        obj = json.loads(self.line(timeout))
        assert isinstance(obj, dict)
        return obj

    def expect(self, prefix: str) -> str:
        """The next line, which must start with ``prefix``."""
        got = self.line()
        assert got.startswith(prefix), f"expected {prefix!r}, got {got!r}"
        return got

    def until(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Skip lines until one matches the regex ``pattern`` (searched); return it."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.line(max(0.0, deadline - time.monotonic()))
            if re.search(pattern, got):
                return got

    def lines_until(self, pattern: str) -> list[str]:
        """Every line up to and including the first that matches ``pattern``."""
        out = []
        while True:
            out.append(self.line())
            if re.search(pattern, out[-1]):
                return out

    def quiet(self, within: float = QUIET) -> None:
        """Assert that nothing arrives for ``within`` seconds."""
        if self.buf:
            raise AssertionError(f"unexpected data: {self.buf[:200]!r}")
        self.sock.settimeout(within)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected data: {chunk[:200]!r}")

    def closed(self, timeout: float = TIMEOUT) -> bool:
        """Read until the server closes (what arrives is kept in ``buf``); True if it did in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    # -------------------------------------------------------------- shortcuts
    def identify(self, name: str) -> str:
        """IDENTIFY (text mode) and read through the #general history; return the colour."""
        self.send(f"@<- IDENTIFY {name}")
        ok = self.expect(f"@-> OK IDENTIFY {name} #")
        self.drain_history()
        return ok.split()[-1]

    def drain_history(self) -> list[str]:
        """Read HISTORY lines after IDENTIFY until a short quiet moment."""
        lines = []
        while True:
            try:
                got = self.line(QUIET)
            except AssertionError:
                return lines
            assert got.startswith("@-> HISTORY "), got
            lines.append(got)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ subprocess

LISTEN_RE = re.compile(r"listening on \S+:(\d+)")


@contextmanager
def spawn_server(*args: str, tmp_path: Path, env: dict[str, str] | None = None,
                 max_files: int | None = None
                 ) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run ``python -m tertulia serve --port 0 --http-port 0 ARGS`` and yield (process, port).

    Stderr is read until the "listening on" line; the process is killed at
    the end if it is still running.  ``max_files`` sets the child's
    RLIMIT_NOFILE (to run it out of file descriptors).
    """
    cmd = [sys.executable, "-m", "tertulia", "serve", "--host", "127.0.0.1", "--port", "0",
           *args]
    if "--http-port" not in args:
        cmd += ["--http-port", "0"]
    if "--db" not in args:
        cmd += ["--db", str(tmp_path / "tertulia.db")]
    full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    if max_files is not None:  # set the limit in the child, then become the server
        cmd = [sys.executable, "-c",
               "import os, resource, sys; n = int(sys.argv[1]);"
               " resource.setrlimit(resource.RLIMIT_NOFILE, (n, n));"
               " os.execv(sys.argv[2], sys.argv[2:])",
               str(max_files), *cmd]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=full_env)
    try:
        port = read_port(proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def read_port(proc: subprocess.Popen[str]) -> int:
    """Read the child's stderr up to its "listening on" line; return the port."""
    assert proc.stderr is not None
    deadline = time.monotonic() + TIMEOUT * 2
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        match = LISTEN_RE.search(line)
        if match:
            return int(match.group(1))
    raise AssertionError("server did not start: " + "".join(seen))
