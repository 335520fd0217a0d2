"""TLS over real sockets: ``tertulia gencert``, ``serve --tls-port``, and the clients.

The certificate is made by ``tertulia gencert`` itself (a child process), once
per module.  A client that trusts it (``--ca``) completes the handshake and
checks the host name; a client that trusts only the system's authorities
refuses it; ``--insecure`` accepts it.  Old protocol versions are refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tertulia.client.connection import Connection, tls_context
from tertulia.server.config import Config, ConfigError
from tertulia.server.tls import server_context
from tests.integration.harness import SRC, Client, ServerThread
from tests.integration.helpers import StderrLines, chat_of, ident, reply
from tests.timing import TIMEOUT

ROOT = Path(SRC).parent
ENV = {**os.environ, "PYTHONPATH": f"{SRC}:{ROOT}"}


def tertulia(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tertulia", *args], input=stdin,
                          capture_output=True, text=True, env=ENV, timeout=TIMEOUT * 4,
                          check=False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cert.pem, key.pem) written by ``tertulia gencert``."""
    out = tmp_path_factory.mktemp("certs")
    done = tertulia("gencert", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return str(out / "cert.pem"), str(out / "key.pem")


@pytest.fixture
def tls_server(make_server: Callable[..., ServerThread], pair: tuple[str, str]) -> ServerThread:
    cert, key = pair
    server = make_server(tls_port=-1, tls_cert=cert, tls_key=key)
    assert server.server is not None and server.server.tls_port
    return server


def tls_port(server: ServerThread) -> int:
    assert server.server is not None and server.server.tls_port is not None
    return server.server.tls_port


class TlsClient(Client):
    """The blocking test client, over TLS."""

    def __init__(self, port: int, context: ssl.SSLContext, host: str = "localhost") -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        self.buf = b""
        self.welcome = self.line()


# ------------------------------------------------------------------ gencert


def test_gencert_writes_a_private_key_and_refuses_to_overwrite(tmp_path: Path) -> None:
    done = tertulia("gencert", "--out", str(tmp_path), "--host", "chat.example",
                    "--host", "192.0.2.7")
    assert done.returncode == 0, done.stderr
    key = tmp_path / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["chat.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    again = tertulia("gencert", "--out", str(tmp_path))
    assert again.returncode == 1 and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert tertulia("gencert", "--out", str(tmp_path), "--force").returncode == 0


# ------------------------------------------------------------------ the server


def test_same_protocol_over_tls_with_a_trusted_certificate(
    tls_server: ServerThread, pair: tuple[str, str]
) -> None:
    """A TLS client and a TCP client chat with each other through one server."""
    trusted = ssl.create_default_context(cafile=pair[0])
    with TlsClient(tls_port(tls_server), trusted) as ana, Client(tls_server.port) as bob:
        assert ana.welcome.startswith("@-> WELCOME tertulia ")
        assert ana.sock.version() in ("TLSv1.2", "TLSv1.3")
        ident(ana, "Ana")
        ident(bob, "Bob")
        ana.until(r"^@-> JOIN #general Bob ")
        ana.send("hola por TLS")
        assert chat_of(bob.until(r"^#general ")) == ("Ana", "hola por TLS")
        bob.send("y por TCP")
        assert chat_of(ana.until(r"^#general ")) == ("Bob", "y por TCP")
        assert reply(ana, "@<- QUIT") == "@-> BYE QUIT Quit"


def test_shutdown_says_bye_over_tls_too(tls_server: ServerThread, pair: tuple[str, str]) -> None:
    """The TLS listener closes with the TCP one; its clients get BYE SERVER_SHUTDOWN."""
    trusted = ssl.create_default_context(cafile=pair[0])
    port = tls_port(tls_server)
    with TlsClient(port, trusted) as ana:
        ident(ana, "Ana")
        tls_server.stop()
        assert ana.until(r"^@-> BYE ").startswith("@-> BYE SERVER_SHUTDOWN ")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_a_client_refuses_an_untrusted_certificate(tls_server: ServerThread) -> None:
    """The system's authorities do not vouch for a self-signed certificate."""
    with pytest.raises(ssl.SSLCertVerificationError):
        TlsClient(tls_port(tls_server), ssl.create_default_context())


def test_the_host_name_is_checked(tls_server: ServerThread, pair: tuple[str, str]) -> None:
    trusted = ssl.create_default_context(cafile=pair[0])
    with pytest.raises(ssl.SSLCertVerificationError):
        TlsClient(tls_port(tls_server), trusted, host="elsewhere.example")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_old_tls_versions_are_refused(tls_server: ServerThread) -> None:
    """Only TLS 1.2 and later: TLS 1.2 works, a client capped at TLS 1.1 gets no session."""
    v12 = tls_context(insecure=True)
    v12.maximum_version = ssl.TLSVersion.TLSv1_2
    with TlsClient(tls_port(tls_server), v12) as ok:
        assert ok.sock.version() == "TLSv1.2"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the refusal is the server's
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1 at all")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        TlsClient(tls_port(tls_server), old)
    with TlsClient(tls_port(tls_server), tls_context(insecure=True)) as ok:
        assert ok.welcome.startswith("@-> WELCOME ")  # the server is unharmed


def test_plain_bytes_on_the_tls_port_harm_nobody(tls_server: ServerThread) -> None:
    """A client speaking plain text to the TLS port is dropped; the server goes on."""
    with socket.create_connection(("127.0.0.1", tls_port(tls_server)), timeout=TIMEOUT) as raw:
        raw.sendall(b"@<- IDENTIFY Ana\n")
        raw.settimeout(TIMEOUT)
        try:
            while raw.recv(4096):
                pass
        except ConnectionError:
            pass
    with Client(tls_server.port) as bob:
        ident(bob, "Bob")


def test_connection_class_over_tls(tls_server: ServerThread, pair: tuple[str, str]) -> None:
    """The client library: --ca trusts, the default refuses, --insecure accepts."""

    async def body() -> None:
        port = tls_port(tls_server)
        conn = Connection("localhost", port, tls_context(ca=pair[0]))
        await conn.connect()
        ok = await conn.request("identify", name="Ana")
        assert ok["type"] == "ok" and ok["name"] == "Ana"
        await conn.quit()
        with pytest.raises(ssl.SSLCertVerificationError):
            await Connection("localhost", port, tls_context()).connect()
        insecure = Connection("127.0.0.1", port, tls_context(insecure=True))
        await insecure.connect()
        await insecure.close()

    asyncio.run(body())


def test_plain_line_mode_over_tls(tls_server: ServerThread, pair: tuple[str, str]) -> None:
    """``tertulia connect --plain --tls --ca cert.pem``; without --ca it refuses, status 1."""
    where = f"localhost:{tls_port(tls_server)}"
    done = tertulia("connect", "--plain", "--tls", "--ca", pair[0], where, "--name", "Ana",
                    stdin="@<- USERS\n")
    assert done.returncode == 0, done.stderr
    assert "@-> OK USERS 1" in done.stdout.splitlines()
    refused = tertulia("connect", "--plain", "--tls", where, "--name", "Ana", stdin="")
    assert refused.returncode == 1
    assert "not trusted" in refused.stderr and "--insecure" in refused.stderr
    assert "Traceback" not in refused.stderr
    insecure = tertulia("connect", "--plain", "--tls", "--insecure", where, "--name", "Bo",
                        stdin="@<- USERS\n")
    assert insecure.returncode == 0, insecure.stderr


def test_insecure_or_ca_without_tls_is_a_usage_error() -> None:
    for flag in (["--insecure"], ["--ca", "cert.pem"]):
        done = tertulia("connect", "--plain", *flag, "localhost:1", stdin="")
        assert done.returncode == 2 and "--tls" in done.stderr, done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_unreadable_ca_file_is_one_line(tmp_path: Path) -> None:
    done = tertulia("connect", "--plain", "--tls", "--ca", str(tmp_path / "nope.pem"),
                    "localhost:1", stdin="")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("tertulia: ") and "nope.pem" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_serve_command_with_tls_then_sigterm(tmp_path: Path, pair: tuple[str, str]) -> None:
    """``tertulia serve --tls-port``: the start-up line names both ports; SIGTERM exits 0."""
    cmd = [sys.executable, "-m", "tertulia", "serve", "--host", "127.0.0.1", "--port", "0",
           "--db", str(tmp_path / "t.db"), "--tls-port", "-1", "--tls-cert", pair[0],
           "--tls-key", pair[1]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    try:
        err = StderrLines(proc)
        startup = err.wait_for(r"listening on ", TIMEOUT * 2)
        match = re.search(r":(\d+) \(tcp\), 127\.0\.0\.1:(\d+) \(tls\)", startup)
        assert match, startup
        trusted = ssl.create_default_context(cafile=pair[0])
        with TlsClient(int(match.group(2)), trusted) as ana:
            ident(ana, "Ana")
            proc.send_signal(signal.SIGTERM)
            assert ana.until(r"^@-> BYE ").startswith("@-> BYE SERVER_SHUTDOWN ")
        assert proc.wait(TIMEOUT * 2) == 0
        assert not any("Traceback" in line for line in err.rest())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()


# ------------------------------------------------------------------ configuration errors


def test_tls_configuration_errors_are_one_line(tmp_path: Path, pair: tuple[str, str]) -> None:
    cert, key = pair
    with pytest.raises(ConfigError, match="--tls-cert and --tls-key"):
        server_context(Config(tls_port=3001))
    with pytest.raises(ConfigError, match="--tls-key: cannot read"):
        server_context(Config(tls_port=3001, tls_cert=cert, tls_key=str(tmp_path / "nope")))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="not a PEM certificate and its key"):
        server_context(Config(tls_port=3001, tls_cert=str(garbage), tls_key=key))
    assert server_context(Config(tls_cert=cert, tls_key=key)) is None  # no port: no TLS
    context = server_context(Config(tls_port=3001, tls_cert=cert, tls_key=key))
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_serve_with_a_missing_key_exits_2_with_one_line(tmp_path: Path,
                                                         pair: tuple[str, str]) -> None:
    db = tmp_path / "never.db"
    done = tertulia("serve", "--host", "127.0.0.1", "--port", "0", "--db", str(db),
                    "--tls-port", "-1", "--tls-cert", pair[0], "--tls-key",
                    str(tmp_path / "missing.pem"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "--tls-key" in lines[0] and "missing.pem" in lines[0], lines
    assert not db.exists()


def test_tls_port_in_use_names_the_flag(tmp_path: Path, pair: tuple[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = tertulia("serve", "--host", "127.0.0.1", "--port", "0", "--db",
                        str(tmp_path / "t.db"), "--tls-port", str(port), "--tls-cert", pair[0],
                        "--tls-key", pair[1])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"port {port} is already in use" in done.stderr and "--tls-port" in done.stderr
