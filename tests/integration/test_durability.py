"""Durability (PROTOCOL.md §4): what anyone has seen survives ``kill -9``.

A room message is stored before anyone receives it, so after the server
process is killed with SIGKILL and started again on the same database,
HISTORY holds every message that was acknowledged or delivered, in order and
with the same ids, and new ids still sort after the old ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.harness import Client, spawn_server
from tests.integration.helpers import json_client, say_burst, text_chat
from tests.timing import TIMEOUT

Message = dict[str, Any]


def read_after_kill(client: Client) -> list[str]:
    """Every complete line still readable once the server has died."""
    if not client.closed(TIMEOUT):
        raise AssertionError("the connection stayed open after kill -9")
    complete, _, _partial = client.buf.rpartition(b"\n")  # a write may have been cut short
    client.buf = b""
    return complete.decode().splitlines()


def full_history(client: Client) -> list[Message]:
    """Every message of #general, oldest first: the latest page, then ``before`` pages back."""
    messages: list[Message] = []
    while True:
        ask: dict[str, Any] = {"cmd": "history", "room": "#general", "limit": 500}
        if messages:
            ask["before"] = messages[0]["id"]
        page = history(client, ask)
        messages[:0] = page
        if len(page) < 500:
            return messages


def history_after(client: Client, first_id: str) -> list[Message]:
    """Every message after ``first_id``, oldest first, in ``after`` pages of 500."""
    messages: list[Message] = []
    last = first_id
    while True:
        page = history(client, {"cmd": "history", "room": "#general", "limit": 500,
                                "after": last})
        messages += page
        if len(page) < 500:
            return messages
        last = page[-1]["id"]


def history(client: Client, ask: dict[str, Any]) -> list[Message]:
    client.send_json({**ask, "ref": "h"})
    ok = client.json()
    assert ok["type"] == "ok" and ok["cmd"] == "history" and ok["ref"] == "h", ok
    page: list[Message] = ok["messages"]
    assert ok["count"] == len(page) <= 500, ok
    return page


def check_history(port: int, reader: str) -> list[Message]:
    """The whole history, read both ways (``before`` and ``after`` paging) and compared."""
    with json_client(port, reader) as client:
        stored = full_history(client)
        if stored:
            assert [stored[0], *history_after(client, stored[0]["id"])] == stored
    ids = [m["id"] for m in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids do not sort in history order"
    return stored


def key(message: Message) -> tuple[str, str, str]:
    return message["id"], message["from"], message["text"]


def assert_new_ids_sort_after(port: int, old: list[Message], name: str) -> None:
    """A message sent now gets an id above every stored one (string order), and is last."""
    with json_client(port, name) as client:
        ids = []
        for n in range(3):
            client.send_json({"cmd": "say", "text": f"after restart {n}", "ref": n})
            ack = client.json()
            assert ack["type"] == "message" and ack["ref"] == n, ack
            ids.append(ack["id"])
        latest = history(client, {"cmd": "history", "room": "#general", "limit": 3})
    assert ids == sorted(ids)
    assert all(new > m["id"] for new in ids for m in old), (ids, old[-1:])
    assert [m["id"] for m in latest] == ids


def test_every_acknowledged_message_survives_kill_9(tmp_path: Path) -> None:
    """600 acknowledged messages (more than a HISTORY page), kill -9: all back, same ids, in order."""
    sent = [f"durable {n}" for n in range(600)]
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (proc, port):
        dan = json_client(port, "Dan")
        cleo = json_client(port, "Cleo")
        assert dan.json()["type"] == "join"
        cleo.send_raw(say_burst(sent))
        acks = [cleo.json() for _ in sent]
        seen = [dan.json() for _ in sent]
        proc.kill()
        proc.wait(TIMEOUT)
        cleo.close()
        dan.close()
    assert [a["ref"] for a in acks] == list(range(len(sent)))
    assert [a["text"] for a in acks] == sent
    assert [key(m) for m in seen] == [key(a) for a in acks]
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (_proc, port):
        stored = check_history(port, "Eve")
        assert [key(m) for m in stored] == [key(a) for a in acks]
        assert_new_ids_sort_after(port, stored, "Fay")


def test_kill_9_in_the_middle_of_a_burst(tmp_path: Path) -> None:
    """kill -9 while messages stream in: all that anyone saw is stored, and nothing out of order."""
    sent = [f"burst {n}" for n in range(3000)]
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (proc, port):
        ana = Client(port)
        ana.identify("Ana")
        dan = json_client(port, "Dan")
        cleo = json_client(port, "Cleo")
        assert dan.json()["type"] == "join"
        ana.until(r"^@-> JOIN #general Cleo ")
        cleo.send_raw(say_burst(sent))
        acks = [cleo.json() for _ in range(20)]  # under way...
        proc.kill()  # ...and killed, with more of the burst in flight
        proc.wait(TIMEOUT)
        acks += [json.loads(line) for line in read_after_kill(cleo)]
        seen = [json.loads(line) for line in read_after_kill(dan)]
        ana_seen = text_chat(read_after_kill(ana), "Cleo")
        for client in (ana, cleo, dan):
            client.close()
    acks = [a for a in acks if a["type"] == "message"]
    assert len(acks) >= 20
    with spawn_server("--rate", "0", tmp_path=tmp_path) as (_proc, port):
        stored = check_history(port, "Eve")
        assert_new_ids_sort_after(port, stored, "Fay")
    # What was stored is the start of the burst, in order (one sender's order, §4)...
    assert [m["text"] for m in stored] == sent[:len(stored)]
    # ...and holds every message the sender or a reader saw, with the same id.
    assert [key(a) for a in acks] == [key(m) for m in stored[:len(acks)]]
    seen_messages = [m for m in seen if m["type"] == "message"]
    assert [key(m) for m in seen_messages] == [key(m) for m in stored[:len(seen_messages)]]
    assert ana_seen == [m["text"] for m in stored[:len(ana_seen)]]


def test_ids_keep_increasing_across_several_kills(tmp_path: Path) -> None:
    """Three lives of the server, each killed with SIGKILL: ids only grow, history only grows."""
    everything: list[Message] = []
    for life in range(3):
        with spawn_server("--rate", "0", tmp_path=tmp_path) as (proc, port):
            if life:
                assert [key(m) for m in check_history(port, f"Reader{life}")] == [
                    key(m) for m in everything]
            with json_client(port, f"Life{life}") as client:
                client.send_raw(say_burst([f"life {life} msg {n}" for n in range(20)]))
                acks = [client.json() for _ in range(20)]
                assert all(a["id"] > m["id"] for a in acks for m in everything)
                everything += acks
                proc.kill()
                proc.wait(TIMEOUT)
    with spawn_server(tmp_path=tmp_path) as (_proc, port):
        assert [key(m) for m in check_history(port, "Last")] == [key(m) for m in everything]
