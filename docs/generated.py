"""What every docs generator shares: splice a generated block between markers, write or check.

Used by gen_cli_reference.py and gen_protocol_reference.py.
"""

from __future__ import annotations

import sys
from pathlib import Path


def splice(page: Path, text: str, begin: str, end: str, generated: str) -> str:
    """Replace what lies between the ``begin`` and ``end`` markers of ``text``.

    Raises:
        SystemExit: the markers are missing or out of order.
    """
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{page}: the marker comments are missing")
    return text[: start + len(begin)] + "\n" + generated + "\n" + text[stop:]


def write_or_check(page: Path, old: str, new: str, argv: list[str], script: str,
                   what: str) -> int:
    """With ``--check``: 1 if ``page`` would change.  Without: write it if it changed."""
    if "--check" in argv:
        if new != old:
            print(f"{page} is out of date: run python docs/{script}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        page.write_text(new, encoding="utf-8")
        print(f"rewrote the {what} in {page}")
    return 0
