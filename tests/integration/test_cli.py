"""The ``tertulia`` command as a user runs it: a real child process, its exit status and stderr.

Covers ``--help``/``--version``, refused option values (status 2, one line, no
traceback), ``--config`` TOML files, a port already in use, the startup and
per-connection log lines, and the default database path.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tertulia import __version__
from tertulia.server.config import OPTIONS
from tests.integration.harness import LISTEN_RE, SRC, Client
from tests.integration.helpers import StderrLines
from tests.timing import TIMEOUT

#: A line written by the logging module (cli.py's format), as opposed to a message for the user.
LOG_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def env_with_src(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, **extra}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m tertulia ARGS`` to completion (it must not start serving)."""
    return subprocess.run([sys.executable, "-m", "tertulia", *args], capture_output=True,
                          text=True, env=env or env_with_src(), timeout=TIMEOUT * 2, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Status 2, nothing on stdout, exactly one line on stderr containing every needle."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""
    return lines[0]


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None
          ) -> Iterator[tuple[subprocess.Popen[str], int, str, StderrLines]]:
    """``tertulia serve ARGS`` as a child: yields (process, port, startup line, stderr)."""
    cmd = [sys.executable, "-m", "tertulia", "serve", "--host", "127.0.0.1", "--port", "0", *args]
    if "--http-port" not in args:
        cmd += ["--http-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env or env_with_src())
    try:
        err = StderrLines(proc)
        startup = err.wait_for(LISTEN_RE.pattern, TIMEOUT * 2)
        match = LISTEN_RE.search(startup)
        assert match is not None
        yield proc, int(match.group(1)), startup, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()


# ------------------------------------------------------------------ help, version


def help_entries(text: str) -> dict[str, str]:
    """argparse help → {"--flag": its whole help text on one line}."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (?:-\w, )?(--[a-z][a-z-]*)", line)
        if match:
            current = match.group(1)
            entries[current] = line.strip()
        elif current is not None and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def test_help_lists_every_option_with_its_default() -> None:
    """`serve --help` shows a flag for every entry of OPTIONS, each with its default."""
    result = run_cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    entries = help_entries(result.stdout)
    assert "--config" in entries
    for option in OPTIONS:
        assert option.flag in entries, f"{option.flag} missing from --help:\n{result.stdout}"
        text = entries[option.flag]
        if option.default in ("", ()):
            # No literal default (e.g. --host, --db, --operators): the help still says what happens.
            assert "default" in text, text
            continue
        shown = {f"(default: {option.default})"}
        if isinstance(option.default, tuple):
            shown = {f"(default: {','.join(option.default)})"}
        if isinstance(option.default, float):
            shown.add(f"(default: {option.default:g})")
        assert any(s in text for s in shown), f"{option.flag}: no {shown} in {text!r}"
        if option.choices:
            for choice in option.choices:
                assert choice in text, (choice, text)


def test_version() -> None:
    """`tertulia --version` prints the package version and exits 0."""
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tertulia {__version__}"


def test_help_lists_the_commands() -> None:
    """`tertulia --help` explains itself (with no command, tertulia starts a chat:
    see tests/client/test_together.py)."""
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "connect" in result.stdout
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ refused values


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--port", "abc"], ["--port", "whole number"]),
        (["--port", "70000"], ["--port", "65535"]),
        (["--port", "-5"], ["--port"]),
        (["--rate", "-1"], ["--rate"]),
        (["--rate", "nan"], ["--rate"]),
        (["--max-line", "0"], ["--max-line"]),
        (["--max-sendq", "lots"], ["--max-sendq"]),
        (["--identify-timeout", "-3"], ["--identify-timeout"]),
        (["--log-level", "loud"], ["--log-level", "info"]),
        (["--bogus"], ["--bogus"]),
        (["--port"], ["--port"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0].startswith("--") else "",
)
def test_bad_flag_exits_2_with_one_line(args: list[str], needles: list[str], tmp_path: Path
                                        ) -> None:
    """A refused flag value: status 2, one stderr line naming the option, nothing started."""
    db = tmp_path / "never.db"
    result = run_cli("serve", "--port", "0", "--db", str(db), *args)
    assert_one_line_error(result, *needles)
    assert not db.exists(), "the server opened its store despite a bad option"


# ------------------------------------------------------------------ --config


def test_config_file_is_applied_and_flags_win(tmp_path: Path) -> None:
    """A TOML file sets options (either key spelling); a flag overrides the file's value."""
    config = tmp_path / "tertulia.toml"
    config.write_text('history_on_join = 2\nmax-per-ip = 2\nmax_line = 100\nrate = 0\n')
    args = ("--config", str(config), "--max-line", "300", "--db", str(tmp_path / "t.db"))
    with serve(*args) as (_proc, port, _startup, _err), Client(port) as ana, Client(port) as bob:
        ana.identify("Ana")
        for n in range(1, 4):
            ana.send(f"@<- SAY #general m{n}")
            ana.expect("@-> OK SAY #general")
        # history_on_join = 2 (underscore key): only the last two on IDENTIFY.
        bob.send("@<- IDENTIFY Bob")
        bob.expect("@-> OK IDENTIFY Bob ")
        history = bob.drain_history()
        ana.expect("@-> JOIN #general Bob ")
        assert [h.rsplit(" ", 1)[-1] for h in history] == ["m2", "m3"], history
        # max-per-ip = 2 (dash key): a third connection from 127.0.0.1 is refused.
        with Client(port, read_welcome=False) as carol:
            assert carol.line().startswith("@-> BYE TOO_MANY_CONNECTIONS"), carol.buf
        # --max-line 300 beats max_line = 100 from the file.
        ana.send("x" * 200)
        assert bob.line().endswith("> " + "x" * 200)
        ana.send("y" * 400)
        ana.expect("@-> ERR LINE_TOO_LONG")
        bob.quiet()


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("port = \n", ["not valid TOML"]),
        ("[server\n", ["not valid TOML"]),
        ("colour = 'red'\n", ["colour"]),
        ('port = "abc"\n', ["port", "whole number"]),
        ("max-line = 10\n", ["max-line"]),
        ("rate = -1\n", ["rate"]),
        ("log_level = 3\n", ["log_level"]),
    ],
    ids=["empty-value", "bad-table", "unknown-key", "port-text", "max-line-low", "rate-negative",
         "log-level-number"],
)
def test_bad_config_file_exits_2_with_one_line(content: str, needles: list[str], tmp_path: Path
                                               ) -> None:
    """Bad TOML, an unknown key or a bad value in --config: status 2, one line, the file named."""
    config = tmp_path / "bad.toml"
    config.write_text(content)
    db = tmp_path / "never.db"
    result = run_cli("serve", "--port", "0", "--db", str(db), "--config", str(config))
    assert_one_line_error(result, str(config), *needles)
    assert not db.exists()


def test_missing_config_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """--config naming a file that does not exist: status 2, one line naming it."""
    missing = tmp_path / "nowhere.toml"
    result = run_cli("serve", "--port", "0", "--db", str(tmp_path / "t.db"), "--config",
                     str(missing))
    assert_one_line_error(result, str(missing))


# ------------------------------------------------------------------ starting


def test_port_in_use_is_one_line_and_nonzero(tmp_path: Path) -> None:
    """A port someone else listens on: non-zero exit, one message saying so, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--db",
                         str(tmp_path / "t.db"))
    assert result.returncode not in (0, None), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # Log records (e.g. the store opening) may come first; the user gets one message.
    messages = [line for line in result.stderr.splitlines() if not LOG_RE.match(line)]
    assert len(messages) == 1, result.stderr
    assert "in use" in messages[0] and str(port) in messages[0], messages


def test_http_port_in_use_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    """The web page's port is taken: one message that names --http-port, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--host", "127.0.0.1", "--port", "0", "--http-port", str(port),
                         "--db", str(tmp_path / "t.db"))
    assert result.returncode == 1, result.stderr
    messages = [line for line in result.stderr.splitlines() if not LOG_RE.match(line)]
    assert len(messages) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "in use" in messages[0] and str(port) in messages[0], messages
    assert "--http-port" in messages[0], messages


def test_startup_line_and_one_info_line_per_connect_and_disconnect(tmp_path: Path) -> None:
    """Startup names address, store and version; each connection logs one INFO connect and disconnect."""
    db = tmp_path / "logged.db"
    with serve("--db", str(db)) as (proc, port, startup, err):
        assert f"127.0.0.1:{port}" in startup, startup
        assert "sqlite" in startup and str(db) in startup, startup
        assert __version__ in startup, startup
        assert " INFO " in startup, startup
        ana = Client(port)
        ana.identify("Ana")
        connected = err.wait_for(r"\bconnect")
        assert " INFO " in connected and "127.0.0.1" in connected, connected
        anon = Client(port)
        err.wait_for(r"\bconnect")
        ana.close()
        gone = err.wait_for(r"disconnect")
        assert " INFO " in gone and "Ana" in gone, gone
        anon.close()
        err.wait_for(r"disconnect")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        lines = err.rest()
    connects = [line for line in lines if re.search(r"\bconnect\b", line, re.IGNORECASE)]
    disconnects = [line for line in lines if re.search(r"\bdisconnect\b", line, re.IGNORECASE)]
    assert len(connects) == 2 and len(disconnects) == 2, lines
    assert all(" INFO " in line for line in connects + disconnects), lines
    assert not any("Traceback" in line for line in lines), lines


def test_default_db_is_under_xdg_data_home(tmp_path: Path) -> None:
    """Without --db the store is $XDG_DATA_HOME/tertulia/tertulia.db (directory created)."""
    data_home = tmp_path / "xdg-data"
    expected = data_home / "tertulia" / "tertulia.db"
    with serve(env=env_with_src(XDG_DATA_HOME=str(data_home))) as (proc, port, startup, _err):
        assert str(expected) in startup, startup
        assert expected.is_file()
        with Client(port) as ana:
            ana.identify("Ana")
            ana.send("@<- SAY #general kept")
            ana.expect("@-> OK SAY #general")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    # The message went to that file, and nowhere else under the temporary directory.
    assert b"kept" in expected.read_bytes() + _wal(expected)
    assert sorted(p.name for p in tmp_path.rglob("*.db")) == ["tertulia.db"]


def _wal(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_console_script_if_installed() -> None:
    """The `tertulia` console script, when the package is installed, runs the same CLI.

    `make test` installs the package in .venv, so there it is never skipped.
    """
    beside = Path(sys.executable).with_name("tertulia")
    exe = str(beside) if beside.exists() else shutil.which("tertulia")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("the tertulia console script is missing in CI")
        pytest.skip("the tertulia package is not installed (no console script)")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True,
                            timeout=TIMEOUT * 2, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tertulia ")


def test_sigterm_before_any_client_exits_quietly(tmp_path: Path) -> None:
    """An idle server stops on SIGTERM with status 0 and no traceback, well within the deadline."""
    with serve("--db", str(tmp_path / "t.db")) as (proc, _port, _startup, err):
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        assert time.monotonic() - started < TIMEOUT
        lines = err.rest()
    assert not any("Traceback" in line for line in lines), lines
