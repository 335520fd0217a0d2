"""``tertulia serve --nats URL``: the server keeps everything in JetStream.

A real child process on the real nats-server: chat works, and a second
server process started later on the same NATS (and prefix) has the rooms,
topic and history of the first.  NATS missing: one line, status 1.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from tertulia.server.nats_server import NatsServer
from tests.integration.harness import Client
from tests.integration.test_cli import env_with_src, serve
from tests.store.test_nats_store import closed_port
from tests.timing import TIMEOUT


def test_serve_with_nats_keeps_history_across_servers(
    nats_server: NatsServer, nats_prefix: str
) -> None:
    args = ("--nats", nats_server.url, "--nats-prefix", nats_prefix)
    with serve(*args) as (proc, port, startup, _):
        assert f"store: nats {nats_server.url}" in startup
        with Client(port) as ana, Client(port) as bo:
            ana.identify("Ana")
            bo.identify("Bo")
            ana.send("@<- TOPIC #general Tertulia on JetStream")
            ana.until(r"^@-> OK TOPIC")
            for i in range(3):
                ana.send(f"hello {i}")
                assert bo.until(r"^#general <.*Ana.*> hello").endswith(f"> hello {i}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    # Another process on the same NATS: the same rooms, topic and history.
    with serve(*args) as (_, port, _, _), Client(port) as cy:
        cy.send("@<- IDENTIFY Cy")
        cy.expect("@-> OK IDENTIFY Cy")
        history = cy.drain_history()
        assert [line.rsplit(" ", 1)[-1] for line in history[-3:]] == ["0", "1", "2"]
        cy.send("@<- TOPIC #general")
        assert "Tertulia on JetStream" in cy.until("TOPIC")


def test_serve_without_nats_says_so_in_one_line() -> None:
    url = f"nats://127.0.0.1:{closed_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "tertulia", "serve", "--port", "0", "--nats", url],
        capture_output=True,
        text=True,
        env=env_with_src(),
        timeout=TIMEOUT * 3,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if " WARNING " not in line]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert f"cannot reach NATS at {url}" in lines[0]
    assert "--nats" in lines[0]
