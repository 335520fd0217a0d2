"""The full-screen client in a real terminal: two ``tertulia connect`` processes in tmux.

A real server runs on a free port; Ana and Bob each run ``python -m tertulia
connect`` in their own tmux session (a private tmux server on its own socket,
never the user's), and the test reads their screens with ``capture-pane -e``,
escape sequences included.  tmux is a Debian package (``make system-deps``
installs it); without it the test is skipped, unless ``CI`` is set, where a
missing tmux is a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.client.test_together import free_port
from tests.integration.harness import SRC, Client, ServerThread, server_config
from tests.timing import TIMEOUT

WIDTH, HEIGHT = 100, 30
SGR = r"(?:\x1b\[[0-9;:]*m)"


class Tmux:
    """A private tmux server (``tmux -L <unique name>``), killed by :meth:`kill`."""

    def __init__(self, tmux: str) -> None:
        self.tmux = tmux
        self.socket = f"tertulia-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.env["LC_ALL"] = "C.UTF-8"

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run([self.tmux, "-u", "-L", self.socket, "-f", os.devnull, *args],
                              capture_output=True, text=True, env=self.env, timeout=TIMEOUT)
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, session: str, command: list[str]) -> None:
        """Run ``command`` in a new detached session; the pane stays after it exits."""
        self.run("set-option", "-g", "remain-on-exit", "on", ";",
                 "new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT),
                 *command)

    def screen(self, session: str, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", session)

    def dead(self, session: str) -> bool:
        """True once the pane's command has ended (its terminal is closed)."""
        return self.run("list-panes", "-t", session, "-F", "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        """Stop the private tmux server and remove its socket (tmux leaves it)."""
        socket = self.run("display-message", "-p", "#{socket_path}", check=False).strip()
        self.run("kill-server", check=False)
        if socket.endswith(self.socket):
            Path(socket).unlink(missing_ok=True)


def tmux_or_skip() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing on CI (make system-deps installs it)")
        pytest.skip("tmux is not installed (make system-deps installs it)")
    return found


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(tmux_or_skip())
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(server_config(tmp_path)).start()
    yield server
    server.stop()


def client_command(port: int, name: str, status_file: Path) -> list[str]:
    """``python -m tertulia connect`` in a 256-colour, truecolor, English terminal.

    A shell runs it and writes its exit status to ``status_file``.  (tmux's own
    ``#{pane_dead_status}`` was seen to stay empty, the process left a zombie,
    and a last line printed on the pane can be lost when its terminal closes.)
    """
    done = shlex.quote(str(status_file))
    # After the client, the terminal's settings (stty) show whether it was restored.
    script = (f'"$@"; s=$?; stty -a > {done}.stty 2>&1; '
              f'echo $s > {done}.new && mv {done}.new {done}')
    return ["sh", "-c", script, "sh",
            "env", "-u", "NO_COLOR", f"PYTHONPATH={SRC}", "TERM=xterm-256color",
            "COLORTERM=truecolor", "LC_ALL=C.UTF-8", "LANGUAGE=C",
            sys.executable, "-m", "tertulia", "connect", f"127.0.0.1:{port}", "--name", name]


def wait_screen(tmux: Tmux, session: str, ok: Callable[[str], object], what: str,
                timeout: float = TIMEOUT, escapes: bool = False) -> str:
    """Poll the pane until ``ok(screen)``; fail with the screen after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux.screen(session, escapes)
        if ok(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{session}: no {what} within {timeout:.1f} s; screen:\n"
                                 + tmux.screen(session))
        if tmux.dead(session):
            raise AssertionError(f"{session}: the client exited before {what}:\n" + screen)
        time.sleep(0.05)


def identified(port: int, name: str) -> Callable[[str], bool]:
    """A screen test: the status line says we are connected as ``name``."""
    status_line = f"connected to 127.0.0.1:{port} as {name}"
    return lambda screen: status_line in screen and "#general" in screen


def type_line(tmux: Tmux, session: str, text: str) -> None:
    tmux.run("send-keys", "-t", session, "-l", text)
    tmux.run("send-keys", "-t", session, "Enter")


def users_colors(port: int) -> dict[str, str]:
    """Everyone online and their colour, from a USERS query (``{name: "r;g;b"}``)."""
    with Client(port) as eve:
        eve.identify("Eve")
        eve.send("@<- USERS")
        lines = eve.lines_until(r"^@-> OK USERS ")
    colors = {}
    for line in lines:
        match = re.fullmatch(r"@-> USER \S+ (\S+) #([0-9a-fA-F]{6})", line)
        if match:
            rgb = bytes.fromhex(match.group(2))
            colors[match.group(1)] = ";".join(str(c) for c in rgb)
    return colors


def name_sgr(screen: str, name: str, text: str) -> str:
    """The escape sequences drawn right before ``<name>`` on the line of ``text``."""
    match = re.search("<(" + SGR + "*)" + re.escape(name) + SGR + "*> " + SGR + "*"
                      + re.escape(text), screen)
    assert match is not None, f"no <{name}> {text} line in {screen!r}"
    return match.group(1)


def test_two_clients_in_tmux_see_each_other_in_colour_and_quit_cleanly(
        tmux: Tmux, server: ServerThread, tmp_path: Path) -> None:
    """Each client shows the other's message with the name in its server colour;
    Ctrl+C twice ends the client with status 0 and the other one sees the quit."""
    for name in ("Ana", "Bob"):
        tmux.start(name.lower(), client_command(server.port, name, tmp_path / name))
    for name in ("Ana", "Bob"):
        wait_screen(tmux, name.lower(), identified(server.port, name), "identified client",
                    timeout=TIMEOUT * 2)

    type_line(tmux, "ana", "hola from Ana")
    type_line(tmux, "bob", "hi from Bob")
    on_bob = wait_screen(tmux, "bob", lambda s: "hola from Ana" in s, "Ana's message",
                         escapes=True)
    on_ana = wait_screen(tmux, "ana", lambda s: "hi from Bob" in s, "Bob's message",
                         escapes=True)

    colors = users_colors(server.port)
    assert {"Ana", "Bob"} <= colors.keys(), colors
    assert f"\x1b[38;2;{colors['Ana']}m" in name_sgr(on_bob, "Ana", "hola from Ana")
    assert f"\x1b[38;2;{colors['Bob']}m" in name_sgr(on_ana, "Bob", "hi from Bob")

    tmux.run("send-keys", "-t", "bob", "C-c")
    tmux.run("send-keys", "-t", "bob", "C-c")
    deadline = time.monotonic() + TIMEOUT
    status = tmp_path / "Bob"
    while not status.exists():
        assert time.monotonic() < deadline, "Bob's client did not exit:\n" + tmux.screen("bob")
        time.sleep(0.05)
    assert status.read_text().strip() == "0", "exit status " + status.read_text()
    stty = (tmp_path / "Bob.stty").read_text().split()
    assert "icanon" in stty and "echo" in stty, stty  # the terminal is restored
    while not tmux.dead("bob"):
        assert time.monotonic() < deadline, "Bob's pane did not end"
        time.sleep(0.05)
    wait_screen(tmux, "ana", lambda s: "Bob quit" in s, "Bob quitting", timeout=TIMEOUT * 2)


def main_py_command(port: int, status: Path, tmp_path: Path) -> list[str]:
    """``python Main.py --port PORT --name Ana``, its data in ``tmp_path``, as
    :func:`client_command` runs the client."""
    command = client_command(port, "Ana", status)
    at = command.index("-m")
    command[at:] = [str(Path(SRC).parent / "Main.py"), "--port", str(port), "--http-port", "0",
                    "--name", "Ana"]
    command.insert(command.index("NO_COLOR") + 1, f"XDG_DATA_HOME={tmp_path / 'data'}")
    return command


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_closing_the_terminal_of_main_py_stops_its_server(tmux: Tmux, tmp_path: Path) -> None:
    """The terminal closes (SIGHUP, here: its tmux session is killed): the server that
    ``python Main.py`` started stops too, cleanly, instead of running on alone."""
    port = free_port()
    tmux.start("gone", main_py_command(port, tmp_path / "status", tmp_path))
    wait_screen(tmux, "gone", identified(port, "Ana"), "the client on its own server",
                timeout=TIMEOUT * 3)
    assert listening(port)
    tmux.run("kill-session", "-t", "gone")
    deadline = time.monotonic() + TIMEOUT * 2
    while listening(port):
        assert time.monotonic() < deadline, "the server still runs after its terminal closed"
        time.sleep(0.1)
    log = (tmp_path / "data" / "tertulia" / "server.log").read_text()
    assert "shutting down" in log and "Traceback" not in log


def test_main_py_in_a_terminal_starts_a_server_serves_a_second_client_and_stops_it(
        tmux: Tmux, tmp_path: Path) -> None:
    """``python Main.py`` in a real terminal: it starts a server, opens the full-screen
    client on it; a second client (Bob) chats with Ana; Ctrl+C twice ends the client with
    status 0 and stops the server it started, whose store keeps the history."""
    port = free_port()  # below the ephemeral ports: no test's client socket takes it
    status = tmp_path / "status"
    tmux.start("main", main_py_command(port, status, tmp_path))
    wait_screen(tmux, "main", identified(port, "Ana"), "the client on its own server",
                timeout=TIMEOUT * 3)
    with Client(port) as bob:
        bob.identify("Bob")
        bob.send("hola Ana, soy el segundo cliente")
        wait_screen(tmux, "main", lambda s: "soy el segundo cliente" in s, "Bob's message")
        type_line(tmux, "main", "hola Bob")
        bob.until(r"^#general <.*Ana.*> hola Bob$")
    tmux.run("send-keys", "-t", "main", "C-c")
    tmux.run("send-keys", "-t", "main", "C-c")
    deadline = time.monotonic() + TIMEOUT * 2
    while not status.exists():
        assert time.monotonic() < deadline, "Main.py did not exit:\n" + tmux.screen("main")
        time.sleep(0.05)
    assert status.read_text().strip() == "0", "exit status " + status.read_text()
    assert not listening(port)
    assert (tmp_path / "data" / "tertulia" / "tertulia.db").exists()
