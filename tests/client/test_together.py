"""``python Main.py`` and ``tertulia`` with no command: a server and a client together."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free port for a command that must be told one (``--port``).

    Taken below the kernel's range of ephemeral ports (``ip_local_port_range``),
    so that no client socket of a test running alongside gets it as its own
    port between this check and the server's bind (which then fails with
    "already in use").
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def run(cmd: list[str], tmp_path: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                          timeout=TIMEOUT * 4, check=False, cwd=ROOT)


def test_main_py_starts_a_server_chats_and_stops_it(tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    done = run([sys.executable, "Main.py", "--port", str(port), "--http-port", str(http_port),
                "--name", "Ana"], tmp_path, "hola desde Main.py\n@<- USERS\n")
    assert done.returncode == 0, done.stderr
    assert "@-> OK USERS 1" in done.stdout
    assert "Starting a server" in done.stderr and "Stopping the server" in done.stderr
    assert f"http://localhost:{http_port}/" in done.stderr  # the web page too
    assert "Traceback" not in done.stderr
    assert not listening(port)  # the server it started is gone
    db = tmp_path / "data" / "tertulia" / "tertulia.db"
    assert db.exists()
    # The history stays for next time.
    server = ServerThread(server_config(tmp_path, db=str(db))).start()
    try:
        with Client(server.port) as bob:
            bob.send("@<- IDENTIFY Bob")
            bob.expect("@-> OK IDENTIFY Bob ")
            assert bob.line().endswith(" Ana hola desde Main.py")
    finally:
        server.stop()


def test_tertulia_uses_a_server_already_running(tmp_path: Path) -> None:
    server = ServerThread(server_config(tmp_path)).start()
    try:
        with Client(server.port) as bob:
            bob.identify("Bob")
            done = run([sys.executable, "-m", "tertulia", "--port", str(server.port),
                        "--name", "Ana"], tmp_path, "buenas\n")
            assert done.returncode == 0, done.stderr
            assert "already running" in done.stderr
            bob.until(r"^#general <.*Ana.*> buenas$")
            bob.send("@<- PING still-here")  # the server we did not start is still up
            bob.until("^@-> OK PING still-here$")
    finally:
        server.stop()


def test_a_busy_web_port_does_not_stop_the_chat(tmp_path: Path) -> None:
    """The page's port is taken: one line says the page is off, and the chat works."""
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = run([sys.executable, "-m", "tertulia", "--port", str(free_port()),
                    "--http-port", str(busy), "--name", "Ana"], tmp_path, "@<- USERS\n")
    assert done.returncode == 0, done.stderr
    assert "@-> OK USERS 1" in done.stdout
    assert f"Port {busy} is in use, so the web page is off" in done.stderr
    assert "http://localhost" not in done.stderr and "Traceback" not in done.stderr
