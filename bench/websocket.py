"""``python -m bench.websocket``: room fan-out over WebSocket against the same over TCP.

One server (``tertulia serve`` in a child process, no rate limit), N
receivers in #general, one sender that keeps ``--window`` messages in
flight.  Both transports speak JSON mode, so the difference is the framing
and the front end, not the encoding.  The figure is deliveries per second
(messages x receivers / seconds), from the first send to the last receiver
having every message, and the server's CPU seconds per million deliveries
(from /proc).  The clients are Python in one process, so they, not the
server, bound the rate: the server's CPU per delivery is the figure that
compares the front ends.

    python -m bench.websocket [--receivers 100] [--messages 2000] [--window 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = b'"type":"message"'

Receive = Callable[[], Awaitable[bytes]]
Send = Callable[[dict[str, object]], Awaitable[None]]
Close = Callable[[], Awaitable[object]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(tmp: str) -> tuple[subprocess.Popen[str], int, int]:
    port, http_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "tertulia", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--http-port", str(http_port), "--db", f"{tmp}/bench.db",
           "--rate", "0", "--max-per-ip", "100000", "--history-on-join", "0",
           "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            for p in (port, http_port):
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
            return proc, port, http_port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


async def tcp_client(port: int) -> tuple[Receive, Send, Close]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    await reader.readline()  # WELCOME
    writer.write(b"@<- PROTO json\n")
    await reader.readline()

    async def receive() -> bytes:
        return await reader.readline()

    async def send(obj: dict[str, object]) -> None:
        writer.write(json.dumps(obj).encode() + b"\n")

    async def close() -> None:
        writer.close()

    return receive, send, close


async def ws_client(session: aiohttp.ClientSession, http_port: int
                    ) -> tuple[Receive, Send, Close]:
    ws = await session.ws_connect(f"http://127.0.0.1:{http_port}/ws", max_msg_size=0)
    await ws.receive()  # welcome

    async def receive() -> bytes:
        msg = await ws.receive()
        return msg.data.encode() if isinstance(msg.data, str) else b""

    async def send(obj: dict[str, object]) -> None:
        await ws.send_str(json.dumps(obj))

    return receive, send, ws.close


async def until(receive: Receive, needle: bytes) -> None:
    while needle not in await receive():
        pass


async def run(transport: str, port: int, http_port: int, receivers: int, messages: int,
              window: int, tag: str, pid: int) -> tuple[float, float]:
    """One fan-out: (seconds, server CPU seconds), both for the sending phase only."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def connect() -> tuple[Receive, Send, Close]:
            if transport == "tcp":
                return await tcp_client(port)
            return await ws_client(session, http_port)

        clients = []
        for i in range(receivers + 1):
            receive, send, close = await connect()
            await send({"cmd": "identify", "name": f"{tag}{i}", "ref": "id"})
            await until(receive, b'"cmd":"identify"')
            await until(receive, b'"type":"history"')
            clients.append((receive, send, close))
        sender_receive, sender_send, _ = clients[0]
        for receive, send, _ in clients:  # settle the JOIN events before timing
            await send({"cmd": "ping", "token": "ready", "ref": "r"})
            await until(receive, b'"token":"ready"')

        async def count(receive: Receive) -> None:
            got = 0
            while got < messages:
                if MESSAGE in await receive():
                    got += 1

        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        counting = [asyncio.create_task(count(r)) for r, _, _ in clients[1:]]
        sent = acked = 0
        while acked < messages:
            while sent < messages and sent - acked < window:
                await sender_send({"cmd": "say", "text": f"message {sent}", "ref": sent})
                sent += 1
            if MESSAGE in await sender_receive():
                acked += 1
        await asyncio.gather(*counting)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        await asyncio.gather(*(close() for _, _, close in clients))
        return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.websocket",
                                description=(__doc__ or "").splitlines()[0])
    p.add_argument("--receivers", type=int, default=100)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port, http_port = start_server(tmp)
        try:
            best: dict[str, float] = {}
            cpu: dict[str, float] = {}
            deliveries = args.messages * args.receivers
            for n in range(args.rounds):
                for transport in ("tcp", "ws"):
                    took, used = asyncio.run(run(transport, port, http_port, args.receivers,
                                                 args.messages, args.window, f"{transport}{n}x",
                                                 proc.pid))
                    per_million = used / deliveries * 1e6
                    rate = deliveries / took
                    best[transport] = max(best.get(transport, 0.0), rate)
                    cpu[transport] = min(cpu.get(transport, per_million), per_million)
                    print(f"round {n + 1} {transport:3}: {took:6.2f} s, "
                          f"{rate:10,.0f} deliveries/s, "
                          f"server {per_million:5.2f} CPU-s per million deliveries")
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"best: tcp {best['tcp']:,.0f}/s, websocket {best['ws']:,.0f}/s "
          f"(websocket/tcp = {best['ws'] / best['tcp']:.2f}); server CPU-s per million: "
          f"tcp {cpu['tcp']:.2f}, websocket {cpu['ws']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
