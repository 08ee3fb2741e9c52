"""Storage tests use the shipped fixtures (emulators started once per session, on first use)."""

from aerobackup.testing.storage_fixtures import (  # noqa: F401 - fixtures
    azure_emulator,
    gcs_emulator,
    s3_emulator,
    storage_location,
)
