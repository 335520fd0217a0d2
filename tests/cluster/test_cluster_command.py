"""``tertulia cluster --nodes N``: nats-server and N real node processes on one machine.

Run as a user runs it: the addresses it prints work, a message crosses from
one node to the other, names are unique across them, and SIGTERM stops
everything with status 0.  Bad arguments: one line, status 2.
"""

from __future__ import annotations

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
