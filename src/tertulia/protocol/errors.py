"""Error and BYE codes of PROTOCOL.md §5, and the one exception the pure layer raises.

Exception tree::

    ProtocolError          the peer sent something we refuse; carries an ErrorCode

Whose fault: every ProtocolError is the peer's.  Our own bugs are ordinary
exceptions, caught once per connection by the front end (STYLE.md §4).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Codes of ``@-> ERR CODE text`` (PROTOCOL.md §5)."""

    NOT_IDENTIFIED = "NOT_IDENTIFIED"
    ALREADY_IDENTIFIED = "ALREADY_IDENTIFIED"
    INVALID_NAME = "INVALID_NAME"
    NAME_IN_USE = "NAME_IN_USE"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_FAILED = "AUTH_FAILED"
    INVALID_ROOM = "INVALID_ROOM"
    NOT_IN_ROOM = "NOT_IN_ROOM"
    NO_SUCH_USER = "NO_SUCH_USER"
    NO_SUCH_ROOM = "NO_SUCH_ROOM"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    MISSING_ARGUMENT = "MISSING_ARGUMENT"
    BAD_ARGUMENT = "BAD_ARGUMENT"
    LINE_TOO_LONG = "LINE_TOO_LONG"
    BAD_ENCODING = "BAD_ENCODING"
    BAD_JSON = "BAD_JSON"
    RATE_LIMITED = "RATE_LIMITED"
    FORBIDDEN = "FORBIDDEN"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


class ByeCode(StrEnum):
    """Codes of ``@-> BYE CODE text``, the last line before the server closes."""

    QUIT = "QUIT"
    SERVER_SHUTDOWN = "SERVER_SHUTDOWN"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    IDENTIFY_TIMEOUT = "IDENTIFY_TIMEOUT"
    PING_TIMEOUT = "PING_TIMEOUT"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    PROTOCOL_ERRORS = "PROTOCOL_ERRORS"
    KICKED = "KICKED"


#: Codes that make a line "bad" for ``--max-errors`` (PROTOCOL.md §5).
BAD_LINE_CODES = frozenset(
    {
        ErrorCode.BAD_ENCODING,
        ErrorCode.LINE_TOO_LONG,
        ErrorCode.BAD_JSON,
        ErrorCode.UNKNOWN_COMMAND,
        ErrorCode.MISSING_ARGUMENT,
        ErrorCode.NOT_IDENTIFIED,
    }
)


class ProtocolError(Exception):
    """The peer sent something the protocol refuses.

    Args:
        code: the wire code sent back in ``@-> ERR CODE text``.
        message: a short human explanation that says what to do next.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: Set by the session once known: the verb and JSON ref of the line.
        self.verb: Any = None
        self.ref: Any = None
