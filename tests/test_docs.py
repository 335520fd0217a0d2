"""The generated parts of the docs are up to date, and the examples run.

The option table, the command table and the example snippets in docs/ are
written by scripts from the code; a change to the code that is not carried to
the docs fails here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}


@pytest.mark.parametrize(
    "script", ["gen_cli_reference.py", "gen_protocol_reference.py", "gen_examples.py"]
)
def test_generated_docs_are_current(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / script), "--check"],
        capture_output=True, text=True, env=ENV, timeout=60, check=False,
    )
    assert proc.returncode == 0, f"run: python docs/{script}\n{proc.stdout}{proc.stderr}"


def test_echo_bot_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    server = ServerThread(server_config(tmp_path)).start()
    ana = Client(server.port)
    ana.identify("Ana")  # before the bot, so that Ana sees it join
    bot = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "echo_bot.py"), "--host", "127.0.0.1",
         "--port", str(server.port), "--name", "echobot"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        with ana:
            ana.until(r"^@-> JOIN #general echobot ", timeout=TIMEOUT * 2)
            ana.send("!echo hola")
            assert ana.until(r"^#general <.*echobot.*> ").endswith("> hola")
        bot.send_signal(signal.SIGINT)
        _, err = bot.communicate(timeout=TIMEOUT)
        assert bot.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
        server.stop()
