"""A blocking WebSocket client on a raw socket (RFC 6455), for the /ws tests.

Written by hand rather than with a library so that tests can send what a
library would refuse to: binary frames, invalid UTF-8 in a text frame,
fragments, frames over the size limit, and can stop reading at will.
Timeouts come from tests.timing; a wait that runs out fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any

from tests.timing import QUIET, TIMEOUT

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class HandshakeRefused(AssertionError):
    def __init__(self, status: int, head: str) -> None:
        super().__init__(f"handshake refused: {status} {head[:200]!r}")
        self.status = status
        self.head = head


def http_get(port: int, path: str, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP/1.1 GET: (status, headers with lower-case names, body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, body


class WsClient:
    """One WebSocket connection to ``/ws``; the ``welcome`` object is read on connect."""

    def __init__(self, port: int, *, origin: str | None = None, host: str | None = None,
                 rcvbuf: int = 0, read_welcome: bool = True) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.buf = b""
        self.close_code: int | None = None
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: {host or f'127.0.0.1:{port}'}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        status = int(text.split()[1]) if text else 0
        if status != 101:
            sock.close()
            raise HandshakeRefused(status, text)
        self.welcome = self.json() if read_welcome else {}

    # -------------------------------------------------------------- sending
    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """One masked frame, as a client must send (RFC 6455 §5.3)."""
        first = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", first, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", first, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(
            payload, mask)
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj: dict[str, Any]) -> None:
        self.send_text(json.dumps(obj))

    # -------------------------------------------------------------- receiving
    def _read(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no frame in time (have {self.buf[:200]!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError(f"connection closed (have {self.buf[:200]!r})")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """The next frame (opcode, payload); server frames are never masked."""
        deadline = time.monotonic() + timeout
        first, second = self._read(2, deadline)
        assert not second & 0x80, "a server frame was masked"
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read(8, deadline))
        payload = self._read(n, deadline)
        opcode = first & 0x0F
        if opcode == CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return opcode, payload

    def json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next text frame as a JSON object (fails on a close frame)."""
        opcode, payload = self.frame(timeout)
        assert opcode == TEXT, f"expected a text frame, got opcode {opcode} {payload[:200]!r}"
        obj = json.loads(payload)
        assert isinstance(obj, dict)
        return obj

    def until(self, **fields: Any) -> dict[str, Any]:
        """Skip objects until one has all these fields; return it."""
        while True:
            obj = self.json()
            if all(obj.get(k) == v for k, v in fields.items()):
                return obj

    def quiet(self, within: float = QUIET) -> None:
        """Assert that nothing arrives for ``within`` seconds."""
        assert not self.buf, f"unexpected data: {self.buf[:200]!r}"
        self.sock.settimeout(within)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected data: {chunk[:200]!r}")

    def until_closed(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every JSON object up to the server's close frame; ``close_code`` is set."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            opcode, payload = self.frame(max(0.01, deadline - time.monotonic()))
            if opcode == CLOSE:
                return got
            if opcode == TEXT:
                got.append(json.loads(payload))

    # -------------------------------------------------------------- shortcuts
    def identify(self, name: str) -> dict[str, Any]:
        """IDENTIFY and read the ok and the #general history; return the ok."""
        self.send_json({"cmd": "identify", "name": name, "ref": "id"})
        ok = self.json()
        assert ok["type"] == "ok" and ok["name"] == name, ok
        history = self.json()
        assert history["type"] == "history", history
        return ok

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _mask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the mask, fast for large payloads."""
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
