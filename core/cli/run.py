"""Run a resolved command: connect, start the job, show progress, print the report."""

from __future__ import annotations

from ..errors import AerobackupError
from .mapping import Resolved

__all__ = ["run"]


def run(res: Resolved) -> int:
    raise AerobackupError(f"'{res.command}' is not wired to the pipeline yet")
