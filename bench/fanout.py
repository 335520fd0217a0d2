"""Fan-out load run: C clients in one room, S of them sending as fast as the server takes them.

A first, single-process version of the benchmark of issue #6 (Tertulia only,
no peer yet).  It starts ``tertulia serve`` as a child process with its store
on and its limits relaxed (printed), connects C text-mode clients with colours
off, and lets S senders each keep W ``@<- SAY`` in flight.  Every receiver
checks that each sender's messages arrive once and in order.

Run:  python bench/fanout.py --clients 200 --senders 10 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
RELAXED = ["--rate", "0", "--max-per-ip", "100000", "--max-connections", "100000",
           "--max-sendq", str(64 << 20), "--ping-interval", "0", "--identify-timeout", "0",
           "--log-level", "warning"]
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Stats:
    def __init__(self) -> None:
        self.delivered = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.sent = 0


async def start_client(port: int, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"@<- COLORS off\n@<- IDENTIFY {name}\n".encode())
    while True:
        line = await reader.readline()
        if line.startswith(b"@-> OK IDENTIFY"):
            return reader, writer
        if not line:
            raise RuntimeError(f"{name}: connection closed while identifying")


MSG_RE = re.compile(rb"^#general <s(\d+)> (\d+) ([\d.]+) ")


async def receive(reader: asyncio.StreamReader, stats: Stats, senders: int, sample: int) -> None:
    last = [-1] * senders
    n = 0
    while True:
        line = await reader.readline()
        if not line:
            return
        m = MSG_RE.match(line)
        if m is None:
            continue
        s, seq = int(m.group(1)), int(m.group(2))
        if seq != last[s] + 1:
            stats.errors += 1
        last[s] = seq
        stats.delivered += 1
        n += 1
        if n % sample == 0:
            stats.latencies.append(time.time() - float(m.group(3)))


async def send(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               stats: Stats, window: int, until: float) -> None:
    inflight = 0
    seq = 0
    pad = "x" * 40
    while time.monotonic() < until:
        while inflight < window:
            writer.write(f"@<- SAY #general {seq} {time.time():.6f} {pad}\n".encode())
            seq += 1
            inflight += 1
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"@-> OK SAY"):
            inflight -= 1
            stats.sent += 1
        elif line.startswith(b"@-> ERR"):
            stats.errors += 1
            inflight -= 1


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


async def run(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp(prefix="tertulia-bench-")
    cmd = [sys.executable, "-m", "tertulia", "serve", "--host", "127.0.0.1", "--port", "0",
           "--db", f"{tmp}/bench.db", *RELAXED]
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    # The port is in the INFO start line; with --log-level warning we ask the OS instead.
    port = await _find_port(proc.pid)
    print("server:", " ".join(cmd[2:]))
    try:
        rss0 = rss_kib(proc.pid)
        t0 = time.monotonic()
        clients = []
        for i in range(args.clients):
            name = f"s{i}" if i < args.senders else f"r{i}"
            clients.append(await start_client(port, name))
        connect_s = time.monotonic() - t0
        await asyncio.sleep(0.5)
        stats = Stats()
        receivers = [asyncio.create_task(receive(r, stats, args.senders, 50))
                     for r, _ in clients[args.senders:]]
        cpu0, me0 = cpu_seconds(proc.pid), time.process_time()
        start = time.monotonic()
        until = start + args.seconds
        await asyncio.gather(*(send(i, r, w, stats, args.window, until)
                               for i, (r, w) in enumerate(clients[:args.senders])))
        await asyncio.sleep(0.5)
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(proc.pid) - cpu0
        mine = time.process_time() - me0
        rss1 = rss_kib(proc.pid)
        for t in receivers:
            t.cancel()
        for _, w in clients:
            w.close()
        expected = stats.sent * (args.clients - args.senders)
        print(f"clients {args.clients}, senders {args.senders}, window {args.window}, "
              f"{args.seconds:g} s")
        print(f"  registered {args.clients} clients in {connect_s:.2f} s "
              f"({args.clients / connect_s:.0f}/s)")
        print(f"  messages acknowledged {stats.sent}, deliveries {stats.delivered} "
              f"(expected {expected}), order errors {stats.errors}")
        print(f"  deliveries/s {stats.delivered / elapsed:,.0f}")
        print(f"  server CPU {cpu:.2f} s = {cpu / max(stats.delivered, 1) * 1e6:.2f} "
              f"CPU-s per million deliveries; load generator CPU {mine:.2f} s")
        print(f"  latency p50 {pct(stats.latencies, .5) * 1e3:.1f} ms, "
              f"p99 {pct(stats.latencies, .99) * 1e3:.1f} ms, max "
              f"{max(stats.latencies or [0]) * 1e3:.1f} ms")
        print(f"  server RSS {rss0} KiB -> {rss1} KiB")
    finally:
        proc.terminate()
        proc.wait(10)


async def _find_port(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if f"pid={pid}," in line:
                return int(line.split()[3].rsplit(":", 1)[1])
        await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
