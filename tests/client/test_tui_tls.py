"""The full-screen client over TLS (``tertulia connect --tls``), against a real TLS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tertulia.client.connection import tls_context
from tertulia.client.tui import TertuliaApp
from tertulia.server.tls import generate
from tests.client.tui_pilot import SIZE, identified, log_text, run, until
from tests.integration.harness import ServerThread, server_config


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ServerThread, str]]:
    cert_pem, key_pem = generate(["localhost", "127.0.0.1"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    config = server_config(tmp_path, tls_port=-1, tls_cert=str(cert), tls_key=str(key))
    server = ServerThread(config).start()
    yield server, str(cert)
    server.stop()


def tls_port(server: ServerThread) -> int:
    assert server.server is not None and server.server.tls_port is not None
    return server.server.tls_port


def test_tui_identifies_over_tls_with_a_trusted_certificate(
    tls_server: tuple[ServerThread, str]
) -> None:
    server, cert = tls_server

    async def main() -> None:
        app = TertuliaApp("localhost", tls_port(server), name="Ana", tls=tls_context(ca=cert))
        async with app.run_test(size=SIZE) as pilot:
            await identified(pilot, app)
            assert app.me == "Ana"

    run(main)


def test_tui_says_why_it_refuses_an_untrusted_certificate(
    tls_server: tuple[ServerThread, str]
) -> None:
    server, _cert = tls_server

    async def main() -> None:
        app = TertuliaApp("localhost", tls_port(server), name="Ana", tls=tls_context())
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any("not trusted" in line for line in log_text(app)),
                        "the refusal explained")
            assert not app.identified
            assert any("--insecure" in line for line in log_text(app))

    run(main)
