"""The shared `storage_location` fixture gives a working, empty location on every storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from aerobackup.storage import list_backup_files, prepare_backup_location, read_bytes
from aerobackup.testing.storage_emulators import EmulatorError, start_azurite
from aerobackup.testing.storage_fixtures import StorageLocation


def test_storage_location_round_trip(storage_location: StorageLocation) -> None:
    storage = storage_location.open()
    assert prepare_backup_location(storage, remove_files=False) == []
    for name in ("test_1.asb", "test_0.asb", "state.json"):
        with storage.open_write(name) as f:
            f.write(name.encode())
    assert [o.name for o in list_backup_files(storage)] == ["test_0.asb", "test_1.asb"]
    assert read_bytes(storage, "state.json") == b"state.json"
    assert prepare_backup_location(storage, remove_files=True) == ["test_0.asb", "test_1.asb"]
    assert [o.name for o in storage.list()] == ["state.json"]


def test_missing_azurite_says_to_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match=r"Azurite is not installed \(.*azurite-blob is missing\): run `npm ci` in"):
        start_azurite(tmp_path)
