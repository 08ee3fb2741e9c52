"""``python -m aerobackup.cli``: the same as the ``aerobackup`` command."""

from . import console_main

console_main()
