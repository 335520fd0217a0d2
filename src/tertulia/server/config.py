"""Server configuration: defaults < ``--config`` TOML file < command-line flags.

Every option has one :class:`Option` entry; the argument parser, the TOML
reader, the ``--help`` text and docs/reference/cli.md all come from
:data:`OPTIONS`.  A bad value raises :class:`ConfigError` with one line that
names the option and says what it takes.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tertulia.core.settings import CoreSettings
from tertulia.protocol.errors import ProtocolError
from tertulia.protocol.names import fold, validate_name


class ConfigError(Exception):
    """A configuration value is refused; the message is one line for the user."""


def default_db() -> str:
    """``tertulia.db`` in the user's data directory (``$XDG_DATA_HOME/tertulia``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return os.path.join(base, "tertulia", "tertulia.db")


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # the dataclass field and TOML key (with _), flag with -
    kind: type
    default: Any
    help: str
    minimum: float | None = 0
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    #: For a list option (kind tuple): what each item is, "name" or "network".
    item: str = "name"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


LOG_LEVELS = ("debug", "info", "warning", "error")

OPTIONS: tuple[Option, ...] = (
    Option("host", str, "", "address to listen on (default: all interfaces)", None),
    Option("port", int, 3000, "TCP port of the native protocol", 0, 65535),
    Option(
        "tls_port",
        int,
        0,
        "TLS port of the native protocol (0 = no TLS; -1 = any free port, for tests)",
        -1,
        65535,
    ),
    Option("tls_cert", str, "", "PEM certificate (chain) for --tls-port (default: none)", None),
    Option("tls_key", str, "", "PEM private key of --tls-cert (default: none)", None),
    Option("db", str, "", "SQLite file (default: tertulia.db in the user's data directory)", None),
    Option(
        "nats",
        str,
        "",
        "NATS servers with JetStream to join a cluster (nats://HOST:PORT[,...]); they keep"
        " history, rooms and accounts (default: none, one node with --db)",
        None,
    ),
    Option(
        "nats_prefix",
        str,
        "tertulia",
        "names the stream, subjects and buckets in NATS, so that deployments may share one",
        None,
    ),
    Option(
        "nats_replicas",
        int,
        1,
        "copies JetStream keeps of history, rooms, accounts and names (3 on a 3-server NATS"
        " cluster; set when they are first created)",
        1,
        5,
    ),
    Option("history_on_join", int, 20, "messages sent on JOIN and IDENTIFY", 0, 500),
    Option("max_line", int, 4096, "longest line in bytes, without its end", 64, 1 << 20),
    Option("rate", float, 10.0, "lines per second per connection (0 = no limit)", 0),
    Option("burst", int, 20, "lines a connection may send at once before --rate applies", 1),
    Option("max_sendq", int, 1 << 20, "bytes held for one connection before it is cut", 1024),
    Option("identify_timeout", float, 60.0, "seconds to IDENTIFY (0 = forever)", 0),
    Option(
        "ping_interval", float, 60.0, "quiet seconds before the server sends PING (0 = never)", 0
    ),
    Option("ping_timeout", float, 60.0, "seconds to answer a PING", 0),
    Option(
        "max_errors",
        int,
        50,
        "bad lines in a row before the connection is closed (0 = no limit)",
        0,
    ),
    Option("max_connections", int, 10000, "connections in all", 1),
    Option("max_per_ip", int, 100, "connections from one address", 1),
    Option(
        "connect_rate",
        float,
        5.0,
        "new connections per second from one address (0 = no limit)",
        0,
    ),
    Option("connect_burst", int, 30, "new connections from one address at once", 1),
    Option("max_rooms", int, 200, "rooms one user may be in at once, #general included", 1),
    Option(
        "connect_exempt",
        tuple,
        ("127.0.0.0/8", "::1"),
        "addresses or networks --connect-rate does not limit (comma-separated)",
        None,
        item="network",
    ),
    Option(
        "line_timeout",
        float,
        30.0,
        "seconds an unfinished line may take before the connection is cut (0 = no limit)",
        0,
    ),
    Option("presence_limit", int, 250, "largest room whose members get JOIN/LEAVE/QUIT lines", 0),
    Option(
        "auth_delay",
        float,
        1.0,
        "seconds between password checks for one name or address after the first 3,"
        " doubling each time up to 30 (0 = no delay; the lock still applies)",
        0,
        60,
    ),
    Option("auth_lock_after", int, 10, "failed passwords that lock a name or address", 1),
    Option("auth_lock_for", float, 300.0, "seconds such a lock lasts", 0),
    Option(
        "auth_exempt",
        tuple,
        ("127.0.0.0/8", "::1"),
        "addresses or networks whose failed passwords are not counted by address"
        " (the name still is; comma-separated)",
        None,
        item="network",
    ),
    Option(
        "offline_limit",
        int,
        100,
        "private messages kept for one offline registered user (0 = none)",
        0,
        10000,
    ),
    Option("log_level", str, "info", "logging level", None, None, LOG_LEVELS),
    Option(
        "operators",
        tuple,
        (),
        "names whose accounts may moderate (a TOML list, or comma-separated as a flag)",
        None,
    ),
    Option(
        "http_port",
        int,
        8080,
        "HTTP port of the web page (/), the WebSocket protocol (/ws) and /healthz (0 = off)",
        0,
        65535,
    ),
    Option(
        "allowed_origins",
        str,
        "",
        "comma-separated origins whose pages may open /ws, e.g. https://chat.example.org "
        "('*' = any; default: only the page's own)",
        None,
    ),
    Option(
        "web_servers",
        str,
        "",
        "comma-separated WebSocket URLs of other nodes, e.g. wss://b.example.org/ws: the page "
        "moves to the next when its connection drops, and their pages may open /ws here "
        "(default: none)",
        None,
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}


@dataclass(frozen=True, slots=True)
class Config:
    host: str = ""
    port: int = 3000
    tls_port: int = 0
    tls_cert: str = ""
    tls_key: str = ""
    db: str = ""
    nats: str = ""
    nats_prefix: str = "tertulia"
    nats_replicas: int = 1
    history_on_join: int = 20
    max_line: int = 4096
    rate: float = 10.0
    burst: int = 20
    max_sendq: int = 1 << 20
    identify_timeout: float = 60.0
    ping_interval: float = 60.0
    ping_timeout: float = 60.0
    max_errors: int = 50
    max_connections: int = 10000
    max_per_ip: int = 100
    connect_rate: float = 5.0
    connect_burst: int = 30
    max_rooms: int = 200
    connect_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1")
    line_timeout: float = 30.0
    presence_limit: int = 250
    auth_delay: float = 1.0
    auth_lock_after: int = 10
    auth_lock_for: float = 300.0
    auth_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1")
    offline_limit: int = 100
    log_level: str = "info"
    operators: tuple[str, ...] = ()
    http_port: int = 8080
    allowed_origins: str = ""
    web_servers: str = ""

    @property
    def db_path(self) -> str:
        return self.db or default_db()

    def core(self, version: str) -> CoreSettings:
        """The limits the core obeys: every CoreSettings field this config also has."""
        shared = {f.name for f in fields(CoreSettings)} & {f.name for f in fields(Config)}
        return CoreSettings(version=version, **{name: getattr(self, name) for name in shared})


assert {f.name for f in fields(Config)} == set(_BY_NAME), "Config and OPTIONS disagree"


def check(option: Option, raw: Any, where: str) -> Any:
    """Convert and range-check one value.

    Raises:
        ConfigError: naming ``where`` the value came from.
    """
    what = f"{where} takes"
    try:
        if option.kind is int:
            what += " a whole number"
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value: Any = int(raw)
        elif option.kind is float:
            what += (
                " a number of seconds"
                if "timeout" in option.name or "interval" in option.name
                else " a number"
            )
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif option.kind is tuple:
            return _items(raw, where, option.item)
        else:
            what += " a text"
            if not isinstance(raw, str):
                raise ValueError
            value = raw
    except (TypeError, ValueError):
        raise ConfigError(f"{what}, not {raw!r}") from None
    if option.name == "nats" and value:
        urls = [url.strip() for url in value.split(",")]
        if not all(url and " " not in url for url in urls):
            raise ConfigError(
                f"{where} takes NATS addresses like nats://HOST:PORT,..., not {raw!r}"
            )
        value = ",".join(urls)
    if option.name == "nats_prefix" and not (
        value and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
    ):
        raise ConfigError(f"{where} takes letters, digits, _ and -, not {raw!r}")
    if option.name == "allowed_origins":
        problem = origins_problem(value)
        if problem:
            raise ConfigError(f"{where} takes origins such as https://chat.example.org: {problem}")
    if option.name == "web_servers":
        try:
            value = ",".join(parse_web_servers(value))
        except ValueError as exc:
            raise ConfigError(f"{where} takes URLs such as wss://b.example.org/ws: {exc}") from None
    if option.choices is not None and value not in option.choices:
        raise ConfigError(f"{where} takes one of {', '.join(option.choices)}, not {raw!r}")
    low, high = option.minimum, option.maximum
    if option.kind in (int, float) and low is not None and value < low:
        span = (
            f" from {_show(low)} to {_show(high)}"
            if high is not None
            else f" of at least {_show(low)}"
        )
        raise ConfigError(f"{what}{span}, not {raw!r}")
    if option.kind in (int, float) and high is not None and value > high:
        raise ConfigError(f"{what} from {_show(low)} to {_show(high)}, not {raw!r}")
    return value


def _items(raw: Any, where: str, kind: str) -> tuple[str, ...]:
    """A list of names or networks: a TOML list of strings, or one comma-separated string.

    Names are checked as IDENTIFY checks them; networks (``10.0.0.0/8``,
    ``::1``) are normalized.

    Raises:
        ConfigError: not a list of strings, a bad item, or an item twice.
    """
    what = "names" if kind == "name" else "addresses or networks"
    if isinstance(raw, str):
        items: list[Any] = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise ConfigError(f"{where} takes a list of {what}, not {raw!r}")
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{where} takes a list of {what}, not {item!r}")
        if kind == "name":
            try:
                value = validate_name(item.strip())
            except ProtocolError as exc:
                raise ConfigError(
                    f"{where}: {item!r} is not a valid name ({exc.message})"
                ) from None
            key = fold(value)
        else:
            try:
                value = key = str(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{where}: {item!r} is not an address or network") from None
        if key in seen:
            raise ConfigError(f"{where}: {item!r} is listed twice")
        seen.add(key)
        out.append(value)
    return tuple(out)


def parse_origins(text: str) -> frozenset[str]:
    """The origins of ``--allowed-origins``, lower case, without a trailing ``/``."""
    return frozenset(o.strip().rstrip("/").lower() for o in text.split(",") if o.strip())


def origins_problem(text: str) -> str:
    """What is wrong with an ``--allowed-origins`` value ('' when nothing)."""
    for origin in parse_origins(text):
        if origin == "*":
            continue
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
            return f"{origin!r} is not scheme://host[:port]"
    return ""


def parse_web_servers(text: str) -> tuple[str, ...]:
    """The URLs of ``--web-servers``: ``ws://`` or ``wss://``, lower-case scheme and host,
    ``/ws`` when no path is given, each once.

    Raises:
        ValueError: a URL that is not ``ws[s]://host[:port][/path]`` (no query, no user).
    """
    out: list[str] = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        try:
            parts = urlsplit(raw)
            port = parts.port  # reads it, so that a bad port raises here
        except ValueError:
            raise ValueError(f"{raw!r} is not a URL") from None
        scheme = parts.scheme.lower()
        bad = (scheme not in ("ws", "wss") or not parts.hostname or parts.query
               or parts.fragment or "@" in parts.netloc or any(c in raw for c in " '\";"))
        if bad:
            raise ValueError(f"{raw!r} is not ws://host[:port]/path or wss://…")
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if port is not None and port != (443 if scheme == "wss" else 80):
            netloc += f":{port}"
        url = f"{scheme}://{netloc}{parts.path or '/ws'}"
        if url not in out:
            out.append(url)
    return tuple(out)


def web_server_origins(urls: tuple[str, ...]) -> frozenset[str]:
    """The origins of the pages served beside these WebSocket URLs (``wss://h/ws`` ->
    ``https://h``): a node accepts the page of every node it lists."""
    return frozenset(
        ("https" if url.startswith("wss:") else "http") + "://" + urlsplit(url).netloc
        for url in urls
    )


def _show(bound: float | None) -> str:
    """A range bound as the user would write it: ``1048576``, not ``1.04858e+06``."""
    return "" if bound is None else str(int(bound)) if float(bound).is_integer() else str(bound)


def load_toml(path: str) -> dict[str, Any]:
    """Read a config file: the same keys as the flags, with ``_`` or ``-``.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key or bad value.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = key.replace("-", "_")
        option = _BY_NAME.get(name)
        if option is None:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        values[name] = check(option, raw, f"{key} in {path}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option as a flag; flags default to None so a config file can fill them."""
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML file with the same keys as these flags"
    )
    for option in OPTIONS:
        shown: Any = option.default if option.default != "" else None
        if isinstance(shown, tuple):
            shown = ",".join(shown) or "none"
        help_text = (
            option.help
            if option.choices is None
            else (f"{option.help}: {', '.join(option.choices)}")
        )
        help_text = help_text if shown is None else f"{help_text} (default: {shown})"
        parser.add_argument(
            option.flag, default=None, metavar=option.name.split("_")[-1].upper(), help=help_text
        )


def from_namespace(ns: argparse.Namespace) -> Config:
    """Build the configuration from parsed flags and the ``--config`` file.

    Raises:
        ConfigError: for the first bad value.
    """
    values: dict[str, Any] = {}
    if ns.config:
        values.update(load_toml(ns.config))
    for option in OPTIONS:
        raw = getattr(ns, option.name)
        if raw is not None:
            values[option.name] = check(option, raw, option.flag)
    return Config(**values)
