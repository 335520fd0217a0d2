"""Helpers for cluster tests: presence from other nodes arrives at any moment."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.harness import Client, ServerThread
from tests.timing import QUIET

Nodes = Callable[..., list[ServerThread]]

#: Lines another node's presence may put anywhere in a text-mode stream.
PRESENCE = ("@-> JOIN ", "@-> LEAVE ", "@-> QUIT ", "@-> NICK ", "@-> TOPIC ")


def identify(c: Client, name: str) -> None:
    """IDENTIFY in text mode, then read through the history and any presence lines."""
    c.send(f"@<- IDENTIFY {name}")
    c.expect(f"@-> OK IDENTIFY {name} #")
    while True:
        try:
            got = c.line(QUIET)
        except AssertionError:
            return
        assert got.startswith(("@-> HISTORY ", *PRESENCE)), got


def json_client(port: int, name: str) -> Client:
    """A client in JSON mode, identified as ``name``, its #general history read."""
    c = Client(port)
    c.send("@<- PROTO json")
    assert c.line() == "@-> OK PROTO json"
    c.send_json({"cmd": "identify", "name": name, "ref": "id"})
    assert c.json()["type"] == "ok"
    while c.json()["type"] != "history":
        pass
    return c
