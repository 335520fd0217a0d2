"""Failures under load: nats-server killed and restarted while a node's user talks.

Two nodes on a nats-server of the test's own (so it can be killed), a sender
on one node and a listener on the other, both in JSON mode.  While the
sender sends without pause, nats-server is killed (SIGKILL) and started
again on the same port and store.  Then:

* every message the sender was told is stored (its echo) is in the history;
* messages refused meanwhile got ``STORE_UNAVAILABLE``, and none of them was
  delivered to the listener;
* the listener got nothing twice, in the history's order;
* the nodes serve again by themselves.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tertulia.server.nats_server import NatsServer
from tests.cluster.helpers import identify, json_client
from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.test_cli import serve
from tests.timing import TIMEOUT

pytestmark = pytest.mark.slow

Obj = dict[str, Any]


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_nats_restart_under_load_loses_nothing_acknowledged(
    own_nats: NatsServer, tmp_path: Path
) -> None:
    nodes = [
        ServerThread(
            server_config(tmp_path / f"n{i}", nats=own_nats.url, rate=0, max_sendq=1 << 24)
        ).start()
        for i in range(2)
    ]
    try:
        ana, bo = json_client(nodes[0].port, "Ana"), json_client(nodes[1].port, "Bo")
        sent = 0
        stop = threading.Event()

        def send() -> None:
            nonlocal sent
            while not stop.is_set():
                ana.send_json({"cmd": "say", "text": f"m{sent}", "ref": sent})
                sent += 1
                time.sleep(0.004)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        own_nats.kill()
        time.sleep(1.0)
        own_nats.start()  # same port, same JetStream directory
        time.sleep(1.5)
        stop.set()
        sender.join()
        # Every message gets an answer: its echo, or an error.
        stored: dict[int, Obj] = {}
        refused: set[int] = set()
        deadline = time.monotonic() + TIMEOUT * 3
        while len(stored) + len(refused) < sent:
            assert time.monotonic() < deadline, (sent, len(stored), len(refused))
            obj = ana.json()
            if obj["type"] == "message" and obj.get("from") == "Ana":
                stored[obj["ref"]] = obj
            elif obj["type"] == "error":
                assert obj["code"] == "STORE_UNAVAILABLE", obj
                refused.add(obj["ref"])
        assert stored and refused, (len(stored), len(refused))
        # After the restart the nodes serve again by themselves.
        ana.send_json({"cmd": "say", "text": "after", "ref": "after"})
        while (obj := ana.json()).get("ref") != "after":
            pass
        assert obj["type"] == "message", obj
        # The listener's view: no duplicates, ids increasing, nothing refused.
        seen: list[Obj] = []
        while not seen or seen[-1]["text"] != "after":
            obj = bo.json()
            if obj["type"] == "message":
                seen.append(obj)
        ids = [m["id"] for m in seen]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        refused_texts = {f"m{i}" for i in refused}
        assert not [m for m in seen if m["text"] in refused_texts]
        # Every acknowledged message is in the history, in the listener's order.
        bo.send_json({"cmd": "history", "limit": 500, "ref": "h"})
        history: list[Obj] = []
        while True:
            obj = bo.json()
            if obj["type"] == "ok" and obj.get("ref") == "h":
                history = obj["messages"]
                break
        # Up to 500 latest: enough for the few seconds of this test.
        assert len(history) < 500
        in_history = {m["id"] for m in history}
        assert {m["id"] for m in stored.values()} <= in_history
        assert [m["id"] for m in history if m["id"] in set(ids)] == ids
    finally:
        for node in nodes:
            node.stop()


def test_a_node_stops_promptly_while_nats_is_down(own_nats: NatsServer) -> None:
    args = ("--nats", own_nats.url)
    with serve(*args) as (proc, port, _, err), Client(port) as ana:
        identify(ana, "Ana")
        ana.send("hola")
        own_nats.kill()
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(TIMEOUT * 4)
        log = err.rest()
        assert status == 0, "\n".join(log)
        assert not [line for line in log if "Traceback" in line], log
        assert time.monotonic() - started < 15


def test_kill_9_of_a_node_loses_no_acknowledged_message(
    own_nats: NatsServer, tmp_path: Path
) -> None:
    (b,) = [ServerThread(server_config(tmp_path / "b", nats=own_nats.url, rate=0)).start()]
    try:
        with serve("--nats", own_nats.url, "--rate", "0") as (proc, port, _, _):
            ana = Client(port)
            ana.send("@<- PROTO json")
            assert ana.line() == "@-> OK PROTO json"
            ana.send_json({"cmd": "identify", "name": "Ana", "ref": "id"})
            for i in range(300):
                ana.send_json({"cmd": "say", "text": f"k{i}", "ref": i})
            acknowledged: list[Obj] = []
            while len(acknowledged) < 100:  # kill it mid-stream, after 100 echoes
                obj = ana.json()
                if obj["type"] == "message" and obj.get("from") == "Ana":
                    acknowledged.append(obj)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            ana.close()
        cy = json_client(b.port, "Cy")
        cy.send_json({"cmd": "history", "limit": 500, "ref": "h"})
        while (obj := cy.json()).get("ref") != "h":
            pass
        stored = {m["id"]: m["text"] for m in obj["messages"]}
        assert all(stored.get(m["id"]) == m["text"] for m in acknowledged)
        cy.close()
    finally:
        b.stop()
