"""``tertulia connect --plain`` across lost connections, several servers and passwords.

Real servers (in threads, on free ports, real SQLite files) and the real client
as a child process driven through pipes.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.test_plain import ENV, plain
from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import TIMEOUT


class PlainProcess:
    """The line client as a child process; its stdout and stderr read by threads."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tertulia", "connect", "--plain", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env or ENV,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.printed: list[str] = []
        self.said: list[str] = []
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, into), daemon=True).start()

    @staticmethod
    def _pump(stream: object, into: queue.Queue[str]) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, ""):
            into.put(line.rstrip("\n"))

    def _until(self, source: queue.Queue[str], seen: list[str], pattern: str,
               timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = source.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; stdout: {self.printed}; "
                                     f"stderr: {self.said}") from None
            seen.append(line)
            if re.search(pattern, line):
                return line

    def until(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Read stdout up to the first line matching ``pattern``."""
        return self._until(self.out, self.printed, pattern, timeout)

    def err_until(self, pattern: str, timeout: float = TIMEOUT) -> str:
        return self._until(self.err, self.said, pattern, timeout)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Close stdin; return the exit status (and keep the rest of the output)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        status = self.proc.wait(TIMEOUT * 2)
        time.sleep(0.05)
        for source, seen in ((self.out, self.printed), (self.err, self.said)):
            while not source.empty():
                seen.append(source.get())
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerThread]]:
    """Started servers, stopped at the end (a test appends its own)."""
    started: list[ServerThread] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[ServerThread], directory: Path, **overrides: object) -> ServerThread:
    directory.mkdir(exist_ok=True)
    server = ServerThread(server_config(directory, **overrides)).start()
    servers.append(server)
    return server


def test_the_client_moves_to_the_next_server_when_the_first_dies(
        servers: list[ServerThread], tmp_path: Path) -> None:
    """Two single-node servers that share nothing: with --server A,B the client starts
    on A; when A stops it says so, moves to B with the same name and rooms, and goes on."""
    a = start(servers, tmp_path / "a")
    b = start(servers, tmp_path / "b")
    client = PlainProcess("--server", f"127.0.0.1:{a.port},127.0.0.1:{b.port}",
                          "--name", "Ana")
    try:
        client.until(r"^@-> OK IDENTIFY Ana #")
        client.send("@<- JOIN #cocina")
        client.until(r"^@-> OK JOIN #cocina$")
        a.stop()
        client.until(r"^@-> BYE SERVER_SHUTDOWN")
        client.err_until(rf"connection to 127\.0\.0\.1:{a.port} was lost; "
                         rf"trying 127\.0\.0\.1:{b.port}$")
        client.err_until(rf"^tertulia: connected to 127\.0\.0\.1:{b.port}$")
        client.err_until(r"^tertulia: back as Ana$")
        with Client(b.port) as bob:
            bob.identify("Bob")
            bob.send("@<- USERS #cocina")
            bob.until(r"^@-> USER #cocina Ana #")  # Ana is in #cocina on B
            bob.send("@<- JOIN #cocina")
            bob.send("hola desde B")
            assert client.until(r"hola desde B$") == "#cocina <Bob> hola desde B"
            client.send("sigo aquí")
            bob.until(r"^#cocina <.*Ana.*> sigo aquí$")
        assert client.finish() == 0
        assert client.printed[-1].startswith("@-> BYE QUIT")
        assert not any("Traceback" in line for line in client.said)
    finally:
        client.kill()


def test_back_on_a_server_that_still_holds_the_name_the_client_waits_for_it(
        servers: list[ServerThread], tmp_path: Path) -> None:
    """B still holds Ana (for a connection it has not seen drop yet): the client says it
    waits, tries again, and is back as Ana once the name is free, not refused."""
    a = start(servers, tmp_path / "a")
    b = start(servers, tmp_path / "b")
    holder = Client(b.port)
    holder.identify("Ana")
    client = PlainProcess("--server", f"127.0.0.1:{a.port},127.0.0.1:{b.port}",
                          "--name", "Ana")
    try:
        client.until(r"^@-> OK IDENTIFY Ana #")
        a.stop()
        client.err_until(r"the name Ana is still held for the lost connection; waiting for it$")
        holder.send("@<- QUIT")
        assert holder.closed()
        client.err_until(r"^tertulia: back as Ana$")
        assert client.finish() == 0
        assert not any("refused" in line for line in client.said)
    finally:
        client.kill()
        holder.close()


def test_after_a_restart_the_missed_messages_are_printed_once_each_in_order(
        servers: list[ServerThread], tmp_path: Path) -> None:
    """The server restarts (same store, same port) after 30 messages Ana missed: each is
    printed once, in order, and none of those she had already seen again."""
    first = start(servers, tmp_path / "s", rate=0)
    port = first.port
    client = PlainProcess(f"127.0.0.1:{port}", "--name", "Ana", "--retry", str(TIMEOUT * 2))
    try:
        client.until(r"^@-> OK IDENTIFY Ana #")
        client.send("@<- JOIN #cocina")
        client.until(r"^@-> OK JOIN #cocina$")
        with Client(port) as bob:
            bob.identify("Bob")
            bob.send("@<- JOIN #cocina")
            bob.send("visto")
            client.until(r"^#cocina <Bob> visto$")
        first.stop()
        client.err_until(r"was lost")
        # While the client cannot connect, Bob writes on another port (the same store).
        other = start(servers, tmp_path / "s", rate=0)
        with Client(other.port) as bob:
            bob.identify("Bob")
            bob.send("@<- JOIN #cocina")
            for i in range(30):
                bob.send(f"perdido {i}")
            bob.send("@<- PING fin")
            bob.until(r"^@-> OK PING fin")
        other.stop()
        start(servers, tmp_path / "s", rate=0, port=port)
        client.err_until(r"^tertulia: back as Ana$", timeout=TIMEOUT * 3)
        client.send("@<- PING listo")
        client.until(r"^@-> OK PING listo$")
        assert client.finish() == 0
        chat = [line for line in client.printed if line.startswith("#cocina <Bob>")]
        assert chat == ["#cocina <Bob> visto"] + [f"#cocina <Bob> perdido {i}"
                                                  for i in range(30)]
        assert not any(line.startswith("@-> HISTORY #cocina") and "visto" in line
                       for line in client.printed)
    finally:
        client.kill()


def test_a_registered_name_takes_its_password_from_a_file_or_the_environment(
        servers: list[ServerThread], tmp_path: Path) -> None:
    server = start(servers, tmp_path / "s")
    with Client(server.port) as ana:
        ana.identify("Ana")
        ana.send("@<- REGISTER secreto")
        ana.until(r"^@-> OK REGISTER Ana")
    address = f"127.0.0.1:{server.port}"
    # No password: refused, with the reason.
    done = plain(server.port, "--name", "Ana", stdin="hola\n")
    assert done.returncode == 1
    assert "@-> ERR AUTH_REQUIRED" in done.stdout and "refused" in done.stderr
    # From a file (its first line).
    secret = tmp_path / "password"
    secret.write_text("secreto\nnot this line\n")
    done = plain(server.port, "--name", "Ana", "--password-file", str(secret), stdin="")
    assert done.returncode == 0, done.stderr
    assert "@-> OK IDENTIFY Ana #" in done.stdout
    # From the environment.
    env = {**ENV, "TERTULIA_PASSWORD": "secreto"}
    done = subprocess.run(
        [sys.executable, "-m", "tertulia", "connect", "--plain", address, "--name", "Ana"],
        input="", capture_output=True, text=True, env=env, timeout=TIMEOUT * 2, check=False)
    assert done.returncode == 0, done.stderr
    # A wrong one, and a file that cannot be read.
    env["TERTULIA_PASSWORD"] = "malo"
    done = subprocess.run(
        [sys.executable, "-m", "tertulia", "connect", "--plain", address, "--name", "Ana"],
        input="", capture_output=True, text=True, env=env, timeout=TIMEOUT * 2, check=False)
    assert done.returncode == 1 and "@-> ERR AUTH_FAILED" in done.stdout
    done = plain(server.port, "--name", "Ana", "--password-file",
                 str(tmp_path / "missing"), stdin="")
    assert done.returncode == 2 and "password file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not os.environ.get("TERTULIA_PASSWORD")


def test_a_name_registered_from_the_input_reconnects_with_that_password(
        servers: list[ServerThread], tmp_path: Path) -> None:
    first = start(servers, tmp_path / "s")
    port = first.port
    client = PlainProcess(f"127.0.0.1:{port}", "--name", "Ana", "--retry", str(TIMEOUT * 2))
    try:
        client.until(r"^@-> OK IDENTIFY Ana #")
        client.send("@<- REGISTER clave")
        client.until(r"^@-> OK REGISTER Ana$")
        first.stop()
        client.err_until(r"was lost")
        start(servers, tmp_path / "s", port=port)
        client.err_until(r"^tertulia: back as Ana$", timeout=TIMEOUT * 3)
        assert client.finish() == 0
    finally:
        client.kill()


def root_in(port: int) -> Client:
    """Root, an operator (``operators = ["Root"]``), identified with its password."""
    root = Client(port)
    root.send("@<- IDENTIFY Root raíz")
    root.until(r"^@-> OK IDENTIFY Root ")
    return root


def test_a_room_kicked_out_of_is_not_joined_again_and_a_server_kick_ends_the_client(
        servers: list[ServerThread], tmp_path: Path) -> None:
    first = start(servers, tmp_path / "s", operators=("Root",))
    port = first.port
    with Client(port) as once:
        once.identify("Root")
        once.send("@<- REGISTER raíz")
        once.until(r"^@-> OK REGISTER Root")
    client = PlainProcess(f"127.0.0.1:{port}", "--name", "Ana", "--retry", str(TIMEOUT * 2))
    try:
        client.until(r"^@-> OK IDENTIFY Ana #")
        client.send("@<- JOIN #cocina")
        client.until(r"^@-> OK JOIN #cocina$")
        with root_in(port) as root:
            root.send("@<- KICK #cocina Ana fuera")
            client.until(r"^@-> LEAVE #cocina Ana kicked by Root: fuera$")
        first.stop()
        client.err_until(r"was lost")
        start(servers, tmp_path / "s", operators=("Root",), port=port)
        client.err_until(r"^tertulia: back as Ana$", timeout=TIMEOUT * 3)
        with root_in(port) as root:
            root.send("@<- USERS")
            online = root.lines_until(r"^@-> OK USERS ")
            assert any(" Ana " in line for line in online), online
            root.send("@<- USERS #cocina")
            in_room = root.lines_until(r"^@-> (OK USERS|ERR) ")
            assert not any(" Ana " in line for line in in_room), in_room
            root.send("@<- KICK #general Ana adiós")
            client.until(r"^@-> BYE KICKED")
        assert client.proc.wait(TIMEOUT * 2) == 1
        client.err_until(r"ended the connection: @-> BYE KICKED")
    finally:
        client.kill()
