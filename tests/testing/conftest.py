"""Fixtures of the emulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aerobackup.testing import EmulatorProcess


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[EmulatorProcess]:
    """The emulator in a child process (for client calls that keep the GIL while waiting)."""
    with EmulatorProcess(namespaces=("test", "bar")) as srv:
        yield srv
