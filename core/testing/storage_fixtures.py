"""pytest fixtures giving a working backup location on every built-in storage.

Session fixtures start each emulator once, on first use (``s3_emulator``, ``gcs_emulator``,
``azure_emulator``); ``storage_location`` is parametrised over ``local``, ``s3``, ``gcs`` and
``azure`` and gives a fresh, empty location (its own bucket or container) as a URL plus options,
which is exactly what a user passes::

    def test_backup_everywhere(storage_location):
        backup(..., directory=storage_location.url, storage_options=storage_location.options)

Load them in a conftest with ``pytest_plugins = ["aerobackup.testing.storage_fixtures"]`` (root
conftest) or by importing the fixture names. Azure needs Azurite from ``npm ci`` at the
repository root: without it the Azure tests fail with that instruction (they never skip).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..protocols import StorageBackend, StorageURL
from ..runtime import Runtime
from .storage_emulators import AZURITE_ACCOUNT, AZURITE_KEY, Emulator, start_azurite, start_gcs, start_moto

__all__ = [
    "BACKENDS",
    "StorageLocation",
    "azure_emulator",
    "azure_options",
    "gcs_emulator",
    "gcs_options",
    "make_location",
    "s3_emulator",
    "s3_options",
    "storage_location",
]

BACKENDS = ("local", "s3", "gcs", "azure")
#: Part size the fixtures use: the S3 minimum, so a few MiB exercise multipart uploads.
TEST_PART_SIZE = "5MiB"


@dataclass(frozen=True)
class StorageLocation:
    """A fresh backup location: ``url`` and ``options`` as a user would give them."""

    backend: str
    url: str
    options: Mapping[str, str] = field(default_factory=dict)
    endpoint: str | None = None

    def open(self, runtime: Runtime | None = None) -> StorageBackend:
        rt = runtime or Runtime.discover()
        return rt.storage(StorageURL.parse(self.url, self.options))

    def child(self, name: str) -> StorageLocation:
        """The location ``name`` below this one (a sub-directory or a single file)."""
        return StorageLocation(self.backend, f"{self.url.rstrip('/')}/{name}", self.options, self.endpoint)


def s3_options(emulator: Emulator) -> dict[str, str]:
    return {
        "endpoint": emulator.endpoint,
        "region": "us-east-1",
        "access-key-id": "testing",
        "secret-access-key": "testing",
        "part-size": TEST_PART_SIZE,
        "retries": "1",
    }


def gcs_options(emulator: Emulator) -> dict[str, str]:
    return {"endpoint": emulator.endpoint, "project": "test", "part-size": TEST_PART_SIZE, "retries": "1"}


def azure_options(emulator: Emulator) -> dict[str, str]:
    return {
        "endpoint": f"{emulator.endpoint}/{AZURITE_ACCOUNT}",
        "account-name": AZURITE_ACCOUNT,
        "account-key": AZURITE_KEY,
        "part-size": TEST_PART_SIZE,
        "retries": "1",
    }


def _repo_root() -> Path:
    """The checkout holding package.json (tests run from it; the package may be installed elsewhere)."""
    for base in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]):
        if (base / "package.json").is_file():
            return base
    return Path.cwd()


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[Emulator]:
    with start_moto() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[Emulator]:
    with start_gcs() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[Emulator]:
    with start_azurite(_repo_root()) as emulator:
        yield emulator


def make_location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StorageLocation:
    """A new empty location on ``backend``, its bucket/container created with the provider's own
    SDK (boto3, the GCS JSON API, azure-storage-blob), not with the code under test."""
    container = f"t{uuid.uuid4().hex[:12]}"
    if backend == "local":
        root = tmp_path / "backups"
        root.mkdir()
        return StorageLocation("local", str(root))
    if backend == "s3":
        import boto3

        emulator: Emulator = request.getfixturevalue("s3_emulator")
        opts = s3_options(emulator)
        boto3.client(
            "s3",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=container)
        return StorageLocation("s3", f"s3://{container}/backup", opts, emulator.endpoint)
    if backend == "gcs":
        import json
        import urllib.request

        emulator = request.getfixturevalue("gcs_emulator")
        req = urllib.request.Request(
            f"{emulator.endpoint}/storage/v1/b?project=test",
            data=json.dumps({"name": container}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200, resp.read()
        return StorageLocation("gcs", f"gs://{container}/backup", gcs_options(emulator), emulator.endpoint)
    if backend == "azure":
        from azure.storage.blob import BlobServiceClient

        emulator = request.getfixturevalue("azure_emulator")
        opts = azure_options(emulator)
        BlobServiceClient(
            opts["endpoint"], credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        ).create_container(container)
        return StorageLocation("azure", f"az://{container}/backup", opts, emulator.endpoint)
    raise ValueError(f"unknown backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def storage_location(request: pytest.FixtureRequest, tmp_path: Path) -> StorageLocation:
    """A fresh location on each built-in storage (parametrised: local, s3, gcs, azure)."""
    return make_location(str(request.param), request, tmp_path)
