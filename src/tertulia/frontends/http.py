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

import json
import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from tertulia import __version__
from tertulia.core.hub import Hub
from tertulia.frontends.outbox import Flusher
from tertulia.frontends.websocket import ABORT_AFTER, WebSocketConnection, max_frame

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
    """

    def __init__(
        self, hub: Hub, flusher: Flusher, max_sendq: int, allowed_origins: frozenset[str]
    ) -> None:
        self.hub = hub
        self.flusher = flusher
        self.max_sendq = max_sendq
        self.allowed_origins = allowed_origins
        self.connections: set[WebSocketConnection] = set()
        self.stopping = False
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
        app.on_response_prepare.append(_add_headers)
        return app

    async def start(self, sock: socket.socket) -> None:
        """Serve HTTP on ``sock`` (already bound and listening or about to)."""
        self._runner = web.AppRunner(
            self.application(), access_log=None, shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def stop_accepting(self) -> None:
        """Stop taking new HTTP connections (open ones go on)."""
        self.stopping = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        """End every HTTP connection still open and release the application."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ handlers

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

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
            request.remote or "?",
            self.connections.discard,
        )
        self.connections.add(conn)
        await conn.run()
        return ws


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if "Cache-Control" not in response.headers:
        # Revalidate every time (ETag / Last-Modified): a new version is seen at once.
        response.headers["Cache-Control"] = "no-cache"


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
