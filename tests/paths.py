"""Where the test inputs live. shared/ (specs, conformance files) sits beside the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared").resolve()
CONFORMANCE = SHARED / "conformance"
