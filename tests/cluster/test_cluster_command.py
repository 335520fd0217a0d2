"""``tertulia cluster --nodes N``: nats-server and N real node processes on one machine.

Run as a user runs it: the addresses it prints work, a message crosses from
one node to the other, names are unique across them, and SIGTERM stops
everything with status 0.  Bad arguments: one line, status 2.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.cluster.helpers import identify
from tests.integration.harness import Client
from tests.integration.test_cli import env_with_src
from tests.timing import TIMEOUT

pytestmark = pytest.mark.slow


def test_cluster_command_runs_nodes_that_share_a_room(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tertulia", "cluster", "--nodes", "2", "--port", "0",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_with_src(),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        ports: list[int] = []
        deadline = time.monotonic() + TIMEOUT * 6
        while len(ports) < 2:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "tertulia cluster exited early"
            match = re.fullmatch(r"node\d: 127\.0\.0\.1:(\d+)", line)
            if match:
                ports.append(int(match.group(1)))
        with Client(ports[0]) as ana, Client(ports[1]) as bo:
            identify(ana, "Ana")
            identify(bo, "Bo")
            ana.send("hola desde el nodo uno")
            assert bo.until(r"^#general <.*Ana.*> ").endswith("> hola desde el nodo uno")
            bo.send("@<- NICK ana")
            assert bo.until(r"^@-> (OK NICK|ERR)").startswith("@-> ERR NAME_IN_USE")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT * 4) == 0
        assert (tmp_path / "nats" / "jetstream").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args", [["--nodes", "0"], ["--nodes", "2", "--port", "65535"]])
def test_cluster_command_refuses_bad_arguments(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tertulia", "cluster", *args],
        capture_output=True, text=True, env=env_with_src(), timeout=TIMEOUT * 2, check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux: /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_cluster_command_with_three_nats_servers_goes_on_when_one_dies(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tertulia", "cluster", "--nodes", "2", "--port", "0",
         "--nats-servers", "3", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with_src(),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    def read_errors() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errors.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=read_errors, daemon=True).start()
    try:
        servers: list[str] = []
        ports: list[int] = []
        deadline = time.monotonic() + TIMEOUT * 6
        while len(ports) < 2:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "tertulia cluster exited early: " + "\n".join(errors)
            if match := re.fullmatch(r"nats-server\d: (nats://127\.0\.0\.1:\d+)", line):
                servers.append(match.group(1))
            if match := re.fullmatch(r"node\d: 127\.0\.0\.1:(\d+)", line):
                ports.append(int(match.group(1)))
        assert len(servers) == 3
        # The server node1 uses (its first): the one started from nats1.conf.
        first = [
            pid for pid in children(proc.pid)
            if str(tmp_path / "nats1.conf") in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(first) == 1, first
        with Client(ports[0]) as ana, Client(ports[1]) as bo:
            identify(ana, "Ana")
            identify(bo, "Bo")
            ana.send("hola desde el nodo uno")
            assert bo.until(r"^#general <.*Ana.*> ").endswith("> hola desde el nodo uno")
            os.kill(first[0], signal.SIGKILL)
            # Chat goes on once JetStream has new leaders (messages refused meanwhile).
            deadline = time.monotonic() + TIMEOUT * 6
            for attempt in itertools.count():
                assert time.monotonic() < deadline, "no message crossed after the kill"
                ana.send(f"otra vez {attempt}")
                try:
                    got = bo.until(r"^#general <.*Ana.*> otra vez", TIMEOUT / 5)
                except AssertionError:
                    continue
                assert got.endswith(f"> otra vez {attempt}") or "otra vez" in got
                break
            # Names are still unique (the names bucket may get its leader a moment later).
            while True:
                assert time.monotonic() < deadline, "the names bucket never came back"
                bo.send("@<- NICK ana")
                answer = bo.until(r"^@-> (OK NICK|ERR)")
                if not answer.startswith("@-> ERR STORE_UNAVAILABLE"):
                    break
                time.sleep(0.25)  # not faster than the rate limit
            assert answer.startswith("@-> ERR NAME_IN_USE"), answer
        # The supervisor tells of it (it looks five times a second) and goes on.
        while not any("nats-server1 stopped; the nodes go on" in line for line in errors):
            assert time.monotonic() < deadline, errors
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT * 4) == 0
        for k in (1, 2, 3):
            assert (tmp_path / f"nats{k}" / "jetstream").is_dir()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
