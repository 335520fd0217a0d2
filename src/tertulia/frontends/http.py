"""The HTTP front end (aiohttp): the chat page at ``/``, the protocol at ``/ws``, ``/healthz``.

Routes:

* ``GET /``: the browser client (``tertulia/web/index.html``); its scripts,
  styles and icon under ``/static/``.  Static files shipped in the package,
  nothing from another site, no build step.
* ``GET /ws``: a WebSocket in JSON mode from the first frame (PROTOCOL.md
  §1, §6), served by :class:`~tertulia.frontends.websocket.WebSocketConnection`.
  A request whose ``Origin`` is not allowed gets 403 before the upgrade
  (cross-site WebSocket hijacking: a page on another site must not chat in the
  name of a visitor).  Allowed: no Origin header (not a browser), the page's
  own origin (the Origin's host and port equal the Host header), and the
  origins of ``--allowed-origins`` (``*`` for any).
* ``GET /healthz``: 200 ``{"status": "ok", ...}`` while serving, 503 once
  shutting down: for load balancers and container probes.

Every response carries the headers of :data:`SECURITY_HEADERS`, among them a
Content-Security-Policy that lets the page load only its own scripts and
styles and connect only to its own origin, so even an injected tag could not
run (the page also never builds HTML from user data).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from aiohttp import web

from tertulia import __version__
from tertulia.core.hub import Hub
from tertulia.frontends.outbox import ABORT_AFTER, Flusher
from tertulia.frontends.websocket import Framer, WebSocketConnection, max_frame

logger = logging.getLogger(__name__)

#: The page's files, shipped inside the package (package-data in pyproject.toml).
STATIC_DIR = Path(__file__).resolve().parent.parent / "web"

#: Only the page's own files and its own WebSocket (``'self'`` covers ws: and wss: of
#: the same host in CSP Level 3); no inline script or style, no frames, no forms.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Server": "tertulia",
}

#: Seconds aiohttp waits for open HTTP requests at shutdown (after every
#: WebSocket got its BYE); page and static requests are short.
HTTP_SHUTDOWN_TIMEOUT = 1.0

#: Seconds an HTTP connection may sit without a complete request (a new one,
#: or the next on a kept-alive connection) before it is closed.
IDLE_TIMEOUT = 60.0

#: Seconds a refused connection is kept to drain the client's request.
BUSY_LINGER = 2.0

_BUSY_BODY = b"too many connections; try again later\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)



def security_headers(web_servers: tuple[str, ...] = ()) -> dict[str, str]:
    """:data:`SECURITY_HEADERS`, the CSP letting the page also connect to exactly these URLs."""
    if not web_servers:
        return SECURITY_HEADERS
    policy = CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'", "connect-src 'self' " + " ".join(web_servers)
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


_DEFAULT_PORT = {"http": ":80", "https": ":443"}


def _without_default_port(scheme: str, netloc: str) -> str:
    suffix = _DEFAULT_PORT.get(scheme, "")
    return netloc[: -len(suffix)] if suffix and netloc.endswith(suffix) else netloc


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a WebSocket request with this ``Origin`` may be served.

    Args:
        origin: the Origin header, None when absent (not a browser).
        host: the Host header (``name[:port]``).
        allowed: ``--allowed-origins`` parsed (lower case, no trailing ``/``).
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORT or not parts.netloc or host is None:
        return False  # "null" (a sandboxed or file: page) and the like
    own = _without_default_port(parts.scheme, host.strip().lower())
    return _without_default_port(parts.scheme, parts.netloc) == own


class HttpFrontend:
    """The aiohttp application and site of one server; owns the WebSocket connections.

    Call :meth:`start` with a bound socket, :meth:`stop_accepting` first at
    shutdown, and :meth:`close` last.

    Open HTTP connections (WebSockets included) are bounded by
    ``max_connections``: one more gets ``503`` and is closed at once, as a
    TCP client past ``--max-connections`` gets only a BYE.  One that sends no
    complete request for :data:`IDLE_TIMEOUT` seconds is closed.
    """

    def __init__(
        self,
        hub: Hub,
        flusher: Flusher,
        max_sendq: int,
        allowed_origins: frozenset[str],
        max_connections: int = 10000,
        web_servers: tuple[str, ...] = (),
    ) -> None:
        self.hub = hub
        self.flusher = flusher
        self.max_sendq = max_sendq
        #: With the origins of the pages of ``web_servers`` (the caller adds them).
        self.allowed_origins = allowed_origins
        #: ``--web-servers``: where the page goes when its connection drops.
        self.web_servers = web_servers
        self.headers = security_headers(web_servers)
        self.max_connections = max_connections
        self.connections: set[WebSocketConnection] = set()
        self.framer = Framer()
        self.stopping = False
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.base_events.Server | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/config.json", self.page_config)
        app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
        app.on_response_prepare.append(self._add_headers)
        return app

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(self.headers)
        if "Cache-Control" not in response.headers:
            # Revalidate every time (ETag / Last-Modified): a new version is seen at once.
            response.headers["Cache-Control"] = "no-cache"

    async def start(self, sock: socket.socket) -> None:
        """Serve HTTP on ``sock`` (already bound and listening)."""
        self._runner = web.AppRunner(
            self.application(),
            access_log=None,
            shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT,
            keepalive_timeout=IDLE_TIMEOUT,
        )
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        limit = self.max_connections

        def protocol() -> asyncio.BaseProtocol:
            # The accept path of aiohttp's own site, with a bound on open connections.
            if len(server.connections) >= limit:
                return _Busy()
            return server()

        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(protocol, sock=sock, backlog=1024)

    async def stop_accepting(self) -> None:
        """Stop taking new HTTP connections (open ones go on)."""
        self.stopping = True
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def close(self) -> None:
        """End every HTTP connection still open and release the application."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ handlers

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC_DIR / "index.html", headers={"Content-Type": "text/html; charset=utf-8"}
        )

    async def healthz(self, request: web.Request) -> web.Response:
        status = "stopping" if self.stopping else "ok"
        body = {
            "status": status,
            "version": __version__,
            "connections": len(self.hub.sessions),
        }
        return web.Response(
            status=503 if self.stopping else 200,
            text=json.dumps(body) + "\n",
            content_type="application/json",
        )

    async def page_config(self, request: web.Request) -> web.Response:
        """What the page needs from the server: the other nodes' WebSocket URLs."""
        body = {"servers": list(self.web_servers)}
        return web.Response(text=json.dumps(body) + "\n", content_type="application/json")

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host, self.allowed_origins):
            logger.info("websocket from %s refused: origin %s", request.remote, origin)
            return web.Response(
                status=403, text="this origin may not open a chat here (see --allowed-origins)\n"
            )
        if self.stopping:
            return web.Response(status=503, text="the server is shutting down\n")
        ws: web.WebSocketResponse[bool] = web.WebSocketResponse(
            timeout=ABORT_AFTER,
            autoping=True,
            compress=False,
            max_msg_size=max_frame(self.hub.settings.max_line),
            decode_text=False,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="this address takes WebSocket connections\n",
                                headers={"Upgrade": "websocket"})
        await ws.prepare(request)
        transport = request.transport
        if transport is None:  # the client left during the handshake
            return ws
        conn = WebSocketConnection(
            self.hub,
            self.flusher,
            self.max_sendq,
            ws,
            transport,
            client_address(request.remote),
            self.connections.discard,
            self.framer,
        )
        self.connections.add(conn)
        await conn.run()
        return ws


class _Busy(asyncio.Protocol):
    """A connection over the limit: 503, then close.

    The request is read and dropped until the client closes (at most
    :data:`BUSY_LINGER` seconds): closing with unread data would reset the
    connection, and the client would never see the 503.
    """

    def __init__(self) -> None:
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        writer = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        writer.write(_BUSY)
        if writer.can_write_eof():
            writer.write_eof()
        self._timer = asyncio.get_running_loop().call_later(BUSY_LINGER, writer.abort)

    def data_received(self, data: bytes) -> None:
        pass  # dropped

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


def client_address(remote: str | None) -> str:
    """The client's address as the TCP front end writes it: IPv4 as ``1.2.3.4``.

    A dual-stack HTTP socket sees IPv4 clients as ``::ffff:1.2.3.4``; without
    this, ``--max-per-ip`` would count one machine's TCP and web connections
    apart.
    """
    if not remote:
        return "?"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return remote


def bind_http(host: str, port: int) -> socket.socket:
    """A listening TCP socket for the HTTP port, bound now so that "port in use" is said first.

    With no host: every interface, IPv6 and IPv4 on one dual-stack socket
    where the system has IPv6, else IPv4 only.

    Raises:
        OSError: when the address cannot be bound.
    """
    if host:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    elif socket.has_ipv6:
        family, kind, proto, address = socket.AF_INET6, socket.SOCK_STREAM, 0, ("::", port)
    else:
        family, kind, proto, address = socket.AF_INET, socket.SOCK_STREAM, 0, ("", port)
    try:
        sock = socket.socket(family, kind, proto)
    except OSError:
        if host or family != socket.AF_INET6:
            raise
        family, address = socket.AF_INET, ("", port)  # IPv6 switched off
        sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and not host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
