"""A node is killed under its clients: ``tertulia connect --plain`` moves to another node.

The real line client as a child process, given both nodes' addresses; node
a is a real ``tertulia serve --nats`` process killed with SIGKILL.  The
client must come back on node b with its own name at once (the dead node's
claim is taken over), rejoin its room, and print every message it missed
exactly once, in order, caught up with ``HISTORY … after`` on the shared
stream.
"""

from __future__ import annotations

import signal

import pytest

from tertulia.server.nats_server import NatsServer
from tests.client.test_plain_failover import PlainProcess
from tests.cluster.helpers import Nodes, identify
from tests.integration.harness import Client
from tests.integration.test_cli import serve
from tests.timing import TIMEOUT

pytestmark = pytest.mark.slow


def test_plain_client_fails_over_to_another_node_and_misses_nothing(
    nodes: Nodes, nats_server: NatsServer, nats_prefix: str
) -> None:
    (b,) = nodes(1, rate=0)
    args = ("--nats", nats_server.url, "--nats-prefix", nats_prefix, "--rate", "0")
    with serve(*args) as (proc, port, _, _):
        client = PlainProcess(
            "--server", f"127.0.0.1:{port},127.0.0.1:{b.port}", "--name", "Ana",
            "--retry", str(TIMEOUT * 2),
        )
        try:
            client.until(r"^@-> OK IDENTIFY Ana #")
            client.send("@<- JOIN #cocina")
            client.until(r"^@-> OK JOIN #cocina$")
            with Client(b.port) as bob:
                identify(bob, "Bob")
                bob.send("@<- JOIN #cocina")
                bob.until(r"^@-> OK JOIN #cocina$")
                bob.send("antes")
                client.until(r"^#cocina <Bob> antes$")
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                for i in range(20):  # while Ana is away, or coming back
                    bob.send(f"durante {i}")
                bob.send("@<- PING sent")
                bob.until(r"^@-> OK PING sent$")
                client.err_until(rf"^tertulia: connected to 127\.0\.0\.1:{b.port}$")
                client.err_until(r"^tertulia: back as Ana$")
                bob.send("después")
                client.until(r"^#cocina <Bob> después$")
                client.send("sigo aquí")
                assert bob.until(r"sigo aquí$").endswith("sigo aquí")
            assert client.finish() == 0
        finally:
            client.kill()
    chat = [line for line in client.printed if line.startswith("#cocina <Bob>")]
    expected = ["antes", *(f"durante {i}" for i in range(20)), "después"]
    assert chat == [f"#cocina <Bob> {text}" for text in expected]
    assert not any("refused" in line or "Traceback" in line for line in client.said)
