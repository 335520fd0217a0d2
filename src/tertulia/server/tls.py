"""TLS for the native protocol: the server's SSL context, and ``tertulia gencert``.

The same protocol runs over TLS on ``--tls-port`` (PROTOCOL.md §1); the
front end (:mod:`tertulia.frontends.tcp`) does not know the difference,
since asyncio hands it the decrypted bytes.  Only TLS 1.2 and 1.3 are
accepted, with the ``ssl`` module's default (modern) ciphers.

``tertulia gencert`` writes a self-signed certificate and its key for tests
and private servers, with the ``cryptography`` package: an ECDSA P-256 key
and a certificate valid for the given host names and addresses.  Clients
must then be told to trust it (``tertulia connect --tls --ca cert.pem``) or
not to check it (``--insecure``).  For a public server use a certificate
from a real authority (docs/howto/tls.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import ssl
import sys
from pathlib import Path

from tertulia.server.config import Config, ConfigError

#: File names ``gencert`` writes in its ``--out`` folder.
CERT_FILE, KEY_FILE = "cert.pem", "key.pem"
#: Names a generated certificate is valid for when none is given.
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
#: How long a generated certificate is valid.
VALID_DAYS = 365


def server_context(config: Config) -> ssl.SSLContext | None:
    """The SSL context for ``--tls-port``, or None when TLS is off.

    Raises:
        ConfigError: a missing or unreadable certificate or key, or a pair
            that does not match; one line that names the option.
    """
    if config.tls_port == 0:
        return None
    if not config.tls_cert or not config.tls_key:
        raise ConfigError(
            "--tls-port needs --tls-cert and --tls-key "
            "(for a test pair: tertulia gencert --out DIR)"
        )
    for flag, path in (("--tls-cert", config.tls_cert), ("--tls-key", config.tls_key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"--tls-cert {config.tls_cert} and --tls-key {config.tls_key} are not a PEM "
            f"certificate and its key ({exc.reason or exc})"
        ) from None
    return context


# ------------------------------------------------------------------ gencert


def generate(hosts: list[str], days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``hosts`` and its private key, both PEM.

    Raises:
        ValueError: no host given.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ValueError("a certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def gencert_main(ns: argparse.Namespace) -> int:
    """``tertulia gencert [--out DIR] [--host NAME ...] [--force]``; returns the exit status."""
    out = Path(ns.out)
    cert_path, key_path = out / CERT_FILE, out / KEY_FILE
    existing = [str(p) for p in (cert_path, key_path) if p.exists()]
    if existing and not ns.force:
        print(
            f"tertulia: {' and '.join(existing)} already exist; use --force to replace them",
            file=sys.stderr,
        )
        return 1
    hosts = ns.host or list(DEFAULT_HOSTS)
    cert_pem, key_pem = generate(hosts)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write(key_path, key_pem, 0o600)
        _write(cert_path, cert_pem, 0o644)
    except OSError as exc:
        print(f"tertulia: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {cert_path} and {key_path} (self-signed, for {', '.join(hosts)})")
    print(f"  serve:   tertulia serve --tls-port 3001 --tls-cert {cert_path} --tls-key {key_path}")
    print(f"  connect: tertulia connect --tls --ca {cert_path} {hosts[0]}")
    return 0


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file with ``mode`` set before any byte is in it (the key is private)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
