"""The shared storage contract run against the local and in-memory storages."""

from __future__ import annotations

from pathlib import Path

import pytest
from aerobackup.plugins.storage.local import LocalStorage
from aerobackup.protocols import StorageBackend
from aerobackup.testing.storage_contract import MemoryStorage, StorageContract


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    def storage(self) -> StorageBackend:
        return MemoryStorage()


class TestLocalStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> StorageBackend:
        (tmp_path / "backups").mkdir()
        return LocalStorage(tmp_path / "backups")
