"""Names, rooms and text: validation, comparison keys and scrubbing (PROTOCOL.md §1, §2).

Invariants:

* :func:`fold` is idempotent: ``fold(fold(s)) == fold(s)``.  Two names (or
  rooms) are the same exactly when their folds are equal, so ``Ana``, ``ANA``
  and ``ａｎａ`` collide.
* Validation looks at the NFKC form; the name is still *shown* as typed.
* :func:`scrub` removes every character that could drive a terminal (C0 and
  C1 controls except TAB, DEL, bidi overrides and isolates), so no client can
  make another user's terminal run an escape sequence.
* Names and rooms cannot be made to look like others: they may not hold
  characters that show nothing (:data:`_INVISIBLE`: fillers and joiners that
  Unicode files as letters or marks), nor mix Latin, Greek and Cyrillic
  letters, whose lookalikes (Latin ``a``, Cyrillic ``а``) would let
  ``Аna`` pass for ``Ana``.
"""

from __future__ import annotations

import re
import unicodedata

from tertulia.protocol.errors import ErrorCode, ProtocolError

MAX_NAME = 32
MAX_ROOM = 50
GENERAL = "#general"

# PROTOCOL.md §1: never relayed.  TAB (U+0009) is deliberately absent.
_NEVER_RELAYED = "\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069"
_SCRUB_RE = re.compile(f"[{_NEVER_RELAYED}]")

# Letters and marks that draw nothing: the combining grapheme joiner, Hangul
# and Khmer fillers, Mongolian and other variation selectors.  (Zero-width
# spaces and joiners are format characters, already outside the allowed set.)
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
#: Scripts whose letters are easily taken for one another's.
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def fold(text: str) -> str:
    """Return the comparison key of a name or room: NFKC, casefold, NFKC again.

    The second NFKC makes the key idempotent: casefolding can leave a string
    that is not in NFKC form (for example ``ǅ`` or some Greek letters).
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def scrub(text: str) -> str:
    """Remove the characters that are never relayed (PROTOCOL.md §1)."""
    if _SCRUB_RE.search(text) is None:  # the common case: nothing to copy
        return text
    return _SCRUB_RE.sub("", text)


def clean_text(text: str) -> str:
    """Scrub a text other users will see; refuse it if nothing is left.

    Raises:
        ProtocolError: ``BAD_ARGUMENT`` when the text is empty after scrubbing.
    """
    cleaned = scrub(text)
    if not cleaned:
        raise ProtocolError(ErrorCode.BAD_ARGUMENT, "the text is empty")
    return cleaned


def _allowed_char(ch: str) -> bool:
    if ch in "_-.":
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd"


def _check_chars(body: str) -> bool:
    return all(_allowed_char(ch) for ch in body)


def _lookalike_problem(form: str) -> str:
    """Why a name or room (NFKC form) could pass for another, or "" if it cannot."""
    if form.isascii():
        return ""  # ASCII letters are all Latin and all visible (the common case, fast)
    if _INVISIBLE.search(form):
        return "has a character that shows nothing"
    scripts = set()
    for ch in form:
        if unicodedata.category(ch)[0] == "L":
            script = unicodedata.name(ch, "").partition(" ")[0]
            if script in _CONFUSABLE_SCRIPTS:
                scripts.add(script)
    if len(scripts) > 1:
        return "mixes Latin, Greek or Cyrillic letters, which look alike"
    return ""


def validate_name(name: str) -> str:
    """Check a user name and return it as typed.

    Rules (on the NFKC form): 1 to 32 characters of letters, digits, combining
    marks, ``_``, ``-`` and ``.``, the first a letter.

    Raises:
        ProtocolError: ``INVALID_NAME`` with the rule that was broken.
    """
    form = unicodedata.normalize("NFKC", name)
    if not form or len(form) > MAX_NAME:
        raise ProtocolError(ErrorCode.INVALID_NAME, f"a name has 1 to {MAX_NAME} characters")
    if unicodedata.category(form[0])[0] != "L":
        raise ProtocolError(ErrorCode.INVALID_NAME, "a name starts with a letter")
    if not _check_chars(form):
        raise ProtocolError(
            ErrorCode.INVALID_NAME, "a name has only letters, digits, marks, '_', '-' and '.'"
        )
    problem = _lookalike_problem(form)
    if problem:
        raise ProtocolError(ErrorCode.INVALID_NAME, f"a name that {problem} is refused")
    return name


def validate_room(room: str) -> str:
    """Check a room name (``#`` and 1 to 50 name characters) and return it as typed.

    A digit may come first, a combining mark may not.

    Raises:
        ProtocolError: ``INVALID_ROOM`` with the rule that was broken.
    """
    if not room.startswith("#"):
        raise ProtocolError(ErrorCode.INVALID_ROOM, "a room name starts with '#', as in #general")
    form = unicodedata.normalize("NFKC", room[1:])
    if not form or len(form) > MAX_ROOM:
        raise ProtocolError(
            ErrorCode.INVALID_ROOM, f"a room name has 1 to {MAX_ROOM} characters after '#'"
        )
    if unicodedata.category(form[0])[0] == "M":
        raise ProtocolError(
            ErrorCode.INVALID_ROOM, "a room name cannot start with a combining mark"
        )
    if not _check_chars(form):
        raise ProtocolError(
            ErrorCode.INVALID_ROOM, "a room name has only letters, digits, marks, '_', '-' and '.'"
        )
    problem = _lookalike_problem(form)
    if problem:
        raise ProtocolError(ErrorCode.INVALID_ROOM, f"a room name that {problem} is refused")
    return room
