"""The servers under test: start, locate, measure (CPU and RSS from /proc) and stop.

Each server runs as a child process pinned to one core with ``taskset``; the
load generator pins itself to the other.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

#: Tertulia's limits relaxed for the load, and nothing else (printed with the results).
TERTULIA_RELAXED = [
    "--rate",
    "0",  # senders go as fast as the server takes them
    "--max-per-ip",
    "100000",  # every client comes from 127.0.0.1
    "--max-connections",
    "100000",
    "--max-sendq",
    str(16 << 20),  # a receiver may lag a few turns behind at C=1000
    "--ping-interval",
    "0",  # no PING traffic in the measurements
    "--identify-timeout",
    "0",
    "--log-level",
    "warning",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ServerUnderTest:
    name = "?"
    protocol = "?"

    def __init__(self, core: int) -> None:
        self.core = core
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def flags(self) -> str:
        return " ".join(self.command())

    def start(self) -> None:
        cmd = ["taskset", "-c", str(self.core), *self.command()]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        # A file, not a pipe: a server that logs every connection would block
        # on a full pipe that nobody reads, and the benchmark would measure that.
        self.log = open(Path(self.dir) / "server.log", "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, preexec_fn=_raise_nofile
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (Path(self.dir) / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited at start: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(0.3)  # the probe connection is gone before we measure
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {self.port}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def rss_kib(self) -> int:
        fields = Path(f"/proc/{self.pid}/statm").read_text().split()
        return int(fields[1]) * PAGE_KIB

    def stop(self) -> None:
        if self.log is None:
            return
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tertulia(ServerUnderTest):
    name = "tertulia"
    protocol = "tertulia"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tertulia",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            f"{self.dir}/bench.db",
            "--http-port",
            "0",
            *TERTULIA_RELAXED,
        ]


class Ngircd(ServerUnderTest):
    name = "ngircd"
    protocol = "irc"

    def command(self) -> list[str]:
        conf = Path(self.dir) / "ngircd.conf"
        template = (Path(__file__).with_name("ngircd.conf.template")).read_text()
        conf.write_text(template.format(port=self.port, dir=self.dir))
        return [ngircd_binary(), "--nodaemon", "--config", str(conf)]


def ngircd_binary() -> str:
    for candidate in (shutil.which("ngircd"), "/usr/sbin/ngircd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("ngircd is not installed: apt-get install ngircd (make bench does it)")


SERVERS = {"tertulia": Tertulia, "ngircd": Ngircd}
