"""Run Tertulia as in the original project: a server on port 3000 and a client, together.

    python Main.py [--port N] [--name NAME]

The same as the ``tertulia`` command with no arguments.  It runs from a
fresh clone: the server needs only the standard library, and without Textual
the client falls back to the line mode (``make run`` installs Textual and
uvloop).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from tertulia.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
