"""Translations of the clients' own words (gettext).

The language follows the locale (``LANG=es_ES.UTF-8``); catalogues live in
``tertulia/client/locale/<lang>/LC_MESSAGES/tertulia.mo``.  Without a
catalogue the English text is used as it is.
"""

from __future__ import annotations

import gettext
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")

_translation = gettext.translation("tertulia", localedir=LOCALE_DIR, fallback=True)


def _(message: str) -> str:
    """Translate a client message."""
    return _translation.gettext(message)
