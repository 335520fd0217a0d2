"""``tertulia`` with no command, and ``python Main.py``: server and client together.

As in the original project, one command gives a working chat: if nothing
listens on the port yet, a server with the embedded store starts in the
background (its log goes to ``server.log`` next to the database), with the
web page on ``--http-port`` (8080) unless that port is taken: then the
server starts without it and one line says so; then the
terminal client opens on it (the full-screen one on a terminal, the line mode
for pipes).  Leaving the client stops the server it started,
cleanly (SIGINT, then a wait), so the history stays in the store for next
time.  If a server already listens there, the client uses it and says so.

The server runs in its own session, so a Ctrl+C typed in the terminal reaches
the client only; the client decides what Ctrl+C means.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tertulia.client.i18n import _
from tertulia.client.plain import PlainOptions, run

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "tertulia"


def _free(port: int) -> bool:
    """Whether a server could listen on ``port`` on every interface (checked by binding it)."""
    try:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("", port))
    except OSError:
        return False
    return True


def start_server(port: int, http_port: int = 0) -> subprocess.Popen[bytes]:
    """Start ``tertulia serve`` on ``port`` in the background; wait until it listens.

    ``http_port`` is the web page's port (0 = none).

    Raises:
        RuntimeError: it exited or did not listen in time (the message says why).
    """
    folder = _data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tertulia", "serve", "--port", str(port),
             "--http-port", str(http_port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(_("the server did not start: {why}").format(
                why=tail[0] if tail else proc.returncode))
        if _listening(port):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(_("the server did not start within {s} s").format(s=int(START_TIMEOUT)))


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: SIGINT (clean shutdown), then wait."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask_name() -> str | None:
    """Ask for a name on the terminal (None at end of input)."""
    try:
        name = input(_("Your name: ")).strip()
    except EOFError:
        return None
    return name or ask_name()


def main(port: int = 3000, name: str | None = None, http_port: int = 8080) -> int:
    """Run a server (unless one is there) and the client on it; return the exit status."""
    server = None
    if _listening(port):
        print(_("Using the server already running on port {port}.").format(port=port),
              file=sys.stderr)
    else:
        print(_("Starting a server on port {port}...").format(port=port), file=sys.stderr)
        if http_port and not _free(http_port):
            # The chat matters more than the page: go on without it.
            print(_("Port {port} is in use, so the web page is off this time.").format(
                port=http_port), file=sys.stderr)
            http_port = 0
        try:
            server = start_server(port, http_port)
        except (RuntimeError, OSError) as exc:
            print(f"tertulia: {exc}", file=sys.stderr)
            return 1
        if http_port:
            print(_("Friends can chat from a browser at http://localhost:{port}/ "
                    "(or this machine's address).").format(port=http_port), file=sys.stderr)
    if server is not None:
        _stop_on_hangup()
    try:
        interactive = sys.stdin.isatty()
        if interactive and sys.stdout.isatty():
            try:
                from tertulia.client.tui import run as full_screen
            except ImportError:  # Textual missing: Main.py straight from a clone
                print(_("The full-screen client needs Textual (make run installs it); "
                        "using the line mode."), file=sys.stderr)
            else:
                return full_screen("127.0.0.1", port, name)
        while True:
            if name is None and interactive:
                name = ask_name()
                if name is None:
                    return 0
            status = run(PlainOptions("127.0.0.1", port, name))
            # An interactive user whose name was refused picks another, as in
            # the original project; a script gets the status.
            if status == 1 and interactive and name is not None and _refused_last():
                name = None
                continue
            return status
    finally:
        if server is not None:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                print(_("Stopping the server (the history stays for next time)..."),
                      file=sys.stderr)
            stop_server(server)


def _stop_on_hangup() -> None:
    """SIGHUP (the terminal closed) and SIGTERM end the client like a quit, so the
    ``finally`` of :func:`main` stops the server it started (it runs in its own
    session, so no signal of the terminal reaches it)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, leave)


def _refused_last() -> bool:
    from tertulia.client import plain

    return plain.LAST_NAME_REFUSED
