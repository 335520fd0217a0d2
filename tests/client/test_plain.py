"""``tertulia connect --plain`` driven through pipes, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Client, ServerThread, server_config
from tests.timing import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(server_config(tmp_path)).start()
    yield server
    server.stop()


def plain(port: int, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tertulia", "connect", "--plain", f"127.0.0.1:{port}", *args],
        input=stdin, capture_output=True, text=True, env=ENV, timeout=TIMEOUT * 4, check=False,
    )


def spawn(port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tertulia", "connect", "--plain", f"127.0.0.1:{port}", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV,
    )


def test_piped_lines_are_sent_and_replies_printed_then_exit_0(server: ServerThread) -> None:
    with Client(server.port) as bob:
        bob.identify("Bob")
        done = plain(server.port, "--name", "Ana", stdin="hola a todos\n@<- USERS\n")
        assert done.returncode == 0, done.stderr
        out = done.stdout.splitlines()
        assert out[0].startswith("@-> WELCOME ")
        assert out[1].startswith("@-> OK IDENTIFY Ana #")
        assert "@-> OK USERS 2" in out  # the reply came before the exit
        assert out[-1].startswith("@-> BYE QUIT")
        assert "\x1b" not in done.stdout  # not a terminal: no colours
        assert done.stderr == ""
        bob.until(r"^#general <.*Ana.*> hola a todos$")


def test_a_taken_name_is_refused_with_status_1(server: ServerThread) -> None:
    with Client(server.port) as ana:
        ana.identify("ana")
        done = plain(server.port, "--name", "ANA", stdin="never sent\n")
        assert done.returncode == 1
        assert "@-> ERR NAME_IN_USE" in done.stdout
        assert done.stderr.count("\n") == 1 and "refused" in done.stderr
        assert "Traceback" not in done.stderr
        ana.quiet()  # "never sent" was not sent


def test_messages_from_others_are_printed_as_they_arrive(server: ServerThread) -> None:
    proc = spawn(server.port, "--name", "Ana")
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("@-> WELCOME")
        assert proc.stdout.readline().startswith("@-> OK IDENTIFY Ana")
        with Client(server.port) as bob:
            bob.identify("Bob")
            assert proc.stdout.readline().startswith("@-> JOIN #general Bob #")
            bob.send("¿hay alguien?")
            assert proc.stdout.readline() == "#general <Bob> ¿hay alguien?\n"
        proc.stdin.close()
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def test_more_lines_than_the_burst_are_paced_not_refused(server: ServerThread) -> None:
    with Client(server.port) as bob:
        bob.identify("Bob")
        lines = "".join(f"line {i}\n" for i in range(30))
        done = plain(server.port, "--name", "Ana", stdin=lines)  # the server's 10/s, burst 20
        assert done.returncode == 0, done.stderr
        assert "RATE_LIMITED" not in done.stdout
        got = [bob.until(r"^#general <.*Ana.*> line ") for _ in range(30)]
        assert [g.rsplit(" ", 1)[1] for g in got] == [str(i) for i in range(30)]


def test_server_shutdown_and_no_server_within_retry_end_the_client(tmp_path: Path) -> None:
    server = ServerThread(server_config(tmp_path)).start()
    proc = spawn(server.port, "--name", "Ana", "--retry", "0.5")  # then gives up
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("@-> WELCOME")
        assert proc.stdout.readline().startswith("@-> OK IDENTIFY Ana")
        server.stop()
        out, err = proc.communicate(timeout=TIMEOUT * 2)
        assert proc.returncode == 1
        assert "@-> BYE SERVER_SHUTDOWN" in out
        assert "was lost" in err and "cannot connect" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_no_server_and_bad_addresses_say_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    done = plain(free, "--retry", "0", stdin="")
    assert done.returncode == 1
    assert done.stderr.startswith("tertulia: cannot connect to 127.0.0.1:")
    assert done.stderr.count("\n") == 1
    bad = subprocess.run(
        [sys.executable, "-m", "tertulia", "connect", "--plain", "localhost:99999"],
        capture_output=True, text=True, env=ENV, timeout=TIMEOUT, check=False, input="",
    )
    assert bad.returncode == 2 and "port" in bad.stderr and "Traceback" not in bad.stderr


def test_names_are_in_colour_when_stdout_is_a_terminal(server: ServerThread) -> None:
    """On a terminal (a pty here) the names in chat lines carry the xterm-256 colour."""
    import pty

    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tertulia", "connect", "--plain", f"127.0.0.1:{server.port}",
         "--name", "Ana"],
        stdin=subprocess.PIPE, stdout=child, stderr=subprocess.PIPE, env=ENV)
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + TIMEOUT
        while b"OK IDENTIFY Ana" not in seen:
            assert time.monotonic() < deadline, seen
            seen += os.read(main, 4096)
        with Client(server.port) as bob:
            bob.identify("Bob")
            bob.send("en color")
            while b"en color" not in seen:
                assert time.monotonic() < deadline, seen
                seen += os.read(main, 4096)
        assert re.search(rb"#general <\x1b\[38;5;\d+mBob\x1b\[0m> en color", seen), seen
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
        if proc.stderr is not None:
            proc.stderr.close()


def test_replies_come_in_the_order_of_the_lines_as_in_text_mode(server: ServerThread) -> None:
    """Answers the client gives itself (a bad command, COLORS) come in their place among
    the server's; a chat line has no reply, an explicit SAY its OK, as in text mode."""
    done = plain(server.port, "--name", "Ana", stdin=(
        "hola\n@<- SAY #general uno\n@<- DANCE\n@<- ME baila\n@<- COLORS off\n"
        "@<- JOIN\n@<- USERS #general\n"))
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("@-> OK IDENTIFY Ana"))
    assert [line.split(" #")[0] if line.startswith("@-> USER ") else line
            for line in out[start + 1:]] == [
        "@-> OK SAY #general",
        "@-> ERR UNKNOWN_COMMAND unknown command DANCE; try @<- HELP",
        "@-> OK ME #general",
        "@-> OK COLORS off",
        "@-> ERR MISSING_ARGUMENT room missing; usage: JOIN #room - join a room and make "
        "it your current room",
        "@-> USER",
        "@-> OK USERS 1",
        "@-> BYE QUIT Quit",
    ], out


def test_unpaced_lines_over_the_rate_are_refused_and_the_client_still_ends(
        server: ServerThread) -> None:
    """--rate 0 floods the server: RATE_LIMITED errors (they carry no ref) answer the
    oldest lines waiting, so a later line the client answers itself is not held back."""
    lines = "".join(f"línea {i}\n" for i in range(40)) + "@<- DANCE\n"
    done = plain(server.port, "--name", "Ana", "--rate", "0", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert "@-> ERR RATE_LIMITED" in done.stdout
    assert "@-> ERR UNKNOWN_COMMAND unknown command DANCE; try @<- HELP" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("@-> BYE QUIT")
