"""One scale for every timeout in the tests (set TERTULIA_TEST_SCALE=3 on a slow machine)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("TERTULIA_TEST_SCALE", "1"))

#: How long to wait for something that should happen (seconds).
TIMEOUT = 5.0 * SCALE
#: How long to watch for something that should NOT happen (seconds).
QUIET = 0.3 * SCALE
