"""Storage tests use the shipped fixtures (aerobackup.testing.storage_fixtures), loaded for every
test folder by the root conftest; emulators start once per session, on first use."""
