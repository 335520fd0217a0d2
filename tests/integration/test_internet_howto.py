"""docs/howto/internet.md, tried for real: the backup of a running server, and the systemd units.

* The backup command of the how-to (``sqlite3 DB ".backup 'COPY'"``) run while
  a server writes gives a file that passes ``integrity_check`` and that a
  new server starts from with the messages and bans of the first.
* The unit files of the how-to pass ``systemd-analyze verify``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.harness import Client, ServerThread, server_config
from tests.integration.helpers import Dial, err
from tests.integration.test_moderation import operator
from tests.timing import TIMEOUT

HOWTO = Path(__file__).resolve().parents[2] / "docs" / "howto" / "internet.md"


def test_backup_while_running_restores_messages_and_bans(
        make_server: Callable[..., ServerThread], dial: Dial, tmp_path: Path) -> None:
    server = make_server(operators=("Root",), rate=0, history_on_join=0)
    root = operator(dial, server)
    root.send("@<- BAN Troll spam")
    assert root.line() == "@-> OK BAN Troll"
    writer = dial(server)
    writer.identify("Writer")
    stop = threading.Event()
    writing = threading.Event()

    def keep_writing() -> None:  # the backup runs while messages are being stored
        n = 0
        while not stop.is_set():
            writer.send(f"@<- SAY #general m{n}")
            writer.expect("@-> OK SAY #general")
            n += 1
            if n == 20:
                writing.set()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    assert writing.wait(TIMEOUT), "the writer stored nothing"  # some are stored before it
    db = Path(server.config.db_path)
    copy = tmp_path / "backup" / "tertulia-copy.db"
    copy.parent.mkdir()
    try:
        subprocess.run(["sqlite3", str(db), f".backup '{copy}'"], check=True, timeout=TIMEOUT)
    finally:
        stop.set()
        thread.join(TIMEOUT)
    check = subprocess.run(["sqlite3", str(copy), "PRAGMA integrity_check"], check=True,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert check.stdout.strip() == "ok"
    server.stop()
    restored = ServerThread(server_config(tmp_path, db=str(copy), history_on_join=0)).start()
    try:
        with Client(restored.port) as reader:
            reader.identify("Reader")
            reader.send("@<- HISTORY #general 500")
            lines = reader.lines_until(r"^@-> OK HISTORY ")
            texts = [line.rsplit(" ", 1)[-1] for line in lines[:-1]]
            assert texts, "the backup holds the messages stored before it"
            first = int(texts[0][1:])  # the latest 500, in order, none missing
            assert texts == [f"m{n}" for n in range(first, first + len(texts))]
            with Client(restored.port) as troll:
                err(troll, "@<- IDENTIFY Troll", "FORBIDDEN")
    finally:
        restored.stop()


def units() -> dict[str, str]:
    """The unit files shown in the how-to, by name."""
    text = HOWTO.read_text(encoding="utf-8")
    found = {"tertulia.service": re.search(
        r"Create `/etc/systemd/system/tertulia.service`:\n\n```ini\n(.*?)```", text, re.S)}
    for name in ("tertulia-backup.service", "tertulia-backup.timer"):
        found[name] = re.search(r"# /etc/systemd/system/" + re.escape(name) + r"\n(.*?)```",
                                text, re.S)
    assert all(found.values()), "the how-to lost a unit file"
    return {name: match.group(1) for name, match in found.items() if match}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_files_verify(tmp_path: Path) -> None:
    for name, body in units().items():
        # The paths of the how-to do not exist here; point them at real programs.
        body = body.replace("/opt/tertulia/bin/tertulia", shutil.which("true") or "/bin/true")
        (tmp_path / name).write_text(body)
    result = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in
                                                              tmp_path.iterdir())],
                            capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines()
                if "Unknown" in line or "Failed to parse" in line or "ignoring" in line]
    assert not problems, result.stderr
