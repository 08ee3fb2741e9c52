"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import CONFORMANCE, SHARED

# Storage locations on every built-in storage (local, s3/gcs/azure emulators started on first
# use): the `storage_location` fixture and friends, for any test folder (docs/storage.md).
pytest_plugins = ["aerobackup.testing.storage_fixtures"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"shared/ not found beside the repository at {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    assert CONFORMANCE.is_dir(), f"conformance files not found at {CONFORMANCE}"
    return CONFORMANCE
