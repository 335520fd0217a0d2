"""Several Tertulia nodes on one NATS: room messages cross nodes in one order.

Each node is a real server (its own thread and event loop) with a NatsStore
on the session's nats-server and a prefix of the test's own; clients speak
JSON mode over TCP, so every message carries its id.  Checked here:

* two senders on different nodes, members on both: every member (senders
  included, by their own echo) sees the same messages in the same order,
  with increasing ids;
* a user who arrives on one node while another node floods the room gets
  every message exactly once, in history or live, in order;
* history written on one node is read on another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cluster.helpers import Nodes
from tests.integration.harness import Client, ServerThread

Obj = dict[str, Any]

pytestmark = pytest.mark.slow




@pytest.fixture
def clients() -> Iterator[Callable[[ServerThread, str], Client]]:
    """``client(node, name)``: a JSON-mode client identified on that node."""
    opened: list[Client] = []

    def open_client(node: ServerThread, name: str) -> Client:
        c = Client(node.port)
        opened.append(c)
        c.send("@<- PROTO json")
        assert c.line() == "@-> OK PROTO json"
        c.send_json({"cmd": "identify", "name": name, "ref": "id"})
        ok = c.json()
        assert ok["type"] == "ok", ok
        return c

    yield open_client
    for c in opened:
        c.close()


def messages(c: Client, count: int, first: list[Obj] | None = None) -> list[Obj]:
    """Read until ``count`` message objects (after ``first``); other objects are skipped."""
    got = list(first or [])
    while len(got) < count:
        obj = c.json()
        if obj["type"] == "history":
            got += obj["messages"]
        elif obj["type"] == "message":
            got.append(obj)
    return got


def history_object(c: Client) -> list[Obj]:
    """The next history object's messages (skipping presence lines before it)."""
    while True:
        obj = c.json()
        if obj["type"] == "history":
            return list(obj["messages"])


def test_two_senders_on_two_nodes_one_order(
    nodes: Nodes, clients: Callable[[ServerThread, str], Client]
) -> None:
    a, b = nodes(2, rate=0)
    ana, cy = clients(a, "Ana"), clients(a, "Cy")
    bo, di = clients(b, "Bo"), clients(b, "Di")
    for c in (ana, cy, bo, di):
        history_object(c)
    n = 40

    def send(c: Client, who: str) -> None:
        for i in range(n):
            c.send_json({"cmd": "say", "text": f"{who}{i}", "ref": i})

    senders = [
        threading.Thread(target=send, args=(ana, "a")),
        threading.Thread(target=send, args=(bo, "b")),
    ]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    seen = {
        name: messages(c, 2 * n) for name, c in [("ana", ana), ("bo", bo), ("cy", cy), ("di", di)]
    }
    orders = {name: [m["text"] for m in got] for name, got in seen.items()}
    assert orders["ana"] == orders["bo"] == orders["cy"] == orders["di"], orders
    ids = [m["id"] for m in seen["cy"]]
    assert ids == sorted(ids) and len(set(ids)) == 2 * n
    assert [t for t in orders["cy"] if t[0] == "a"] == [f"a{i}" for i in range(n)]
    assert [t for t in orders["cy"] if t[0] == "b"] == [f"b{i}" for i in range(n)]
    # The senders' own echoes carry their refs.
    assert [m.get("ref") for m in seen["ana"] if m["text"][0] == "a"] == list(range(n))


def test_arrival_on_another_node_during_a_flood_exactly_once(
    nodes: Nodes, clients: Callable[[ServerThread, str], Client]
) -> None:
    a, b = nodes(2, history_on_join=500, rate=0)
    ana = clients(a, "Ana")
    history_object(ana)
    n = 300
    flood = threading.Thread(
        target=lambda: [ana.send_json({"cmd": "say", "text": f"m{i}"}) for i in range(n)]
    )
    flood.start()
    try:
        cy = clients(b, "Cy")  # arrives mid-flood, on the other node
        first = history_object(cy)
        got = messages(cy, n - len(first), None)
    finally:
        flood.join()
    texts = [m["text"] for m in first + got]
    # Exactly once, in order: m0 .. m(n-1), whether from history or live.
    assert texts == [f"m{i}" for i in range(n)], (len(first), texts[:5], texts[-5:])


def test_history_written_on_one_node_read_on_another(
    nodes: Nodes, clients: Callable[[ServerThread, str], Client]
) -> None:
    a, b = nodes(2, rate=0)
    ana = clients(a, "Ana")
    history_object(ana)
    for i in range(5):
        ana.send_json({"cmd": "say", "text": f"h{i}", "ref": i})
    echoed = messages(ana, 5)
    cy = clients(b, "Cy")
    first = history_object(cy)
    got = messages(cy, 5 - len(first))
    assert [m["text"] for m in first + got] == [f"h{i}" for i in range(5)]
    assert [m["id"] for m in first + got] == [m["id"] for m in echoed]
    # A third node started afterwards reads it from the stream at start.
    (c,) = nodes(1, rate=0)
    di = clients(c, "Di")
    assert [m["text"] for m in history_object(di)] == [f"h{i}" for i in range(5)]
