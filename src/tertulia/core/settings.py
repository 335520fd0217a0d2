"""The limits and knobs the core obeys (a subset of the server's configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """Values of the PROTOCOL.md §5 limits; defaults are the protocol's."""

    server_name: str = "tertulia"
    version: str = "0.1.0"
    history_on_join: int = 20
    max_line: int = 4096
    rate: float = 10.0
    burst: float = 20.0
    identify_timeout: float = 60.0
    ping_interval: float = 60.0
    ping_timeout: float = 60.0
    max_errors: int = 50
    presence_limit: int = 250
    max_connections: int = 10000
    max_per_ip: int = 100
    #: Password guessing (core.throttle): first delay, failures that lock, lock length.
    auth_delay: float = 1.0
    auth_lock_after: int = 10
    auth_lock_for: float = 300.0
    #: Networks whose addresses the password throttle does not count.
    auth_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1")
    #: Private messages kept for one offline registered user (0 = none kept).
    offline_limit: int = 100
    #: Names (as configured) whose accounts have operator rights.
    operators: tuple[str, ...] = ()
    #: New connections per second from one address (0 = no limit), and at once.
    connect_rate: float = 5.0
    connect_burst: int = 30
    #: Networks that --connect-rate does not limit.
    connect_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1")
    #: Rooms one user may be in at once (#general included).
    max_rooms: int = 200
    #: Seconds an unfinished line may take (slowloris); 0 = no limit.
    line_timeout: float = 30.0
