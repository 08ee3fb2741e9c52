"""The shared storage contract against real emulators: moto (S3), gcp-storage-emulator, Azurite."""

from __future__ import annotations

import pytest
from aerobackup.protocols import StorageBackend
from aerobackup.testing.storage_contract import StorageContract
from aerobackup.testing.storage_fixtures import make_location


class _Cloud(StorageContract):
    backend = ""
    multipart_size = 12 * 1024 * 1024 + 4321  # three 5 MiB parts, the last one short

    @pytest.fixture
    def storage(self, request: pytest.FixtureRequest, tmp_path: object) -> StorageBackend:
        return make_location(self.backend, request, tmp_path).open()  # type: ignore[arg-type]


class TestS3Contract(_Cloud):
    backend = "s3"


class TestGCSContract(_Cloud):
    backend = "gcs"


class TestAzureContract(_Cloud):
    backend = "azure"
