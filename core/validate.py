"""Validate-only: decode every backup file and count what it holds, with no cluster.

The same reading path as a restore (listing, transforms, decoder, namespace checks), so a file
that validates is one the restore can read. Counts follow ``asrestore --validate``: every parsed
record is counted, whatever the set list, expiry or bin filters would do to it.
"""

from __future__ import annotations

from .config import RestoreConfig
from .jobs import RestoreStats
from .restore import RestoreInput, run_validate
from .runtime import Runtime

__all__ = ["validate"]


def validate(
    inputs: RestoreInput,
    config: RestoreConfig | None = None,
    *,
    runtime: Runtime | None = None,
    parent: str | None = None,
) -> RestoreStats:
    """Decode every file of ``inputs`` (a directory, file, ``-``, storage, or a list of them).

    Raises FormatError (with file, line and column) at the first bad byte; returns the counts
    (``records_read``, ``sindexes_read``, ``udfs_read``, ``bytes_read``, ``files``).
    """
    rt = runtime if runtime is not None else Runtime.discover()
    return run_validate(rt, inputs, config or RestoreConfig(), parent)
