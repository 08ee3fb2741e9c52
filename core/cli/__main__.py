"""``python -m aerobackup.cli``: the same as the ``aerobackup`` command."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
