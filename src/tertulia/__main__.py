"""``python -m tertulia`` and the ``tertulia`` console command."""

from __future__ import annotations

import sys

from tertulia.cli import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
