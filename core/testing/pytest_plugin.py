"""pytest plugin (entry point ``pytest11``): fixtures for testing against the emulator (issue 4).

* ``aerospike_server`` — an :class:`~aerobackup.testing.Emulator` (namespaces ``test`` and
  ``bar``) shared by the session and reset before each test: no records, sets, UDFs or indexes,
  no faults, the clock back to real time.
* ``aerospike_cluster`` — a fresh 3-node :class:`~aerobackup.testing.EmulatedCluster` per test.
* ``aerospike_client`` — the official client connected to ``aerospike_server``, closed after
  the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .cluster import EmulatedCluster
from .server import Emulator

__all__ = ["aerospike_client", "aerospike_cluster", "aerospike_server"]


@pytest.fixture(scope="session")
def _aerobackup_emulator_session() -> Iterator[Emulator]:
    srv = Emulator(port=0, namespaces=("test", "bar")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def aerospike_server(_aerobackup_emulator_session: Emulator) -> Emulator:
    """A running emulator, emptied and healed before the test."""
    _aerobackup_emulator_session.reset()
    return _aerobackup_emulator_session


@pytest.fixture
def aerospike_cluster() -> Iterator[EmulatedCluster]:
    """A running 3-node emulated cluster (namespaces ``test`` and ``bar``)."""
    cluster = EmulatedCluster(nodes=3, namespaces=("test", "bar")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def aerospike_client(aerospike_server: Emulator) -> Iterator[Any]:
    """The official ``aerospike`` client connected to ``aerospike_server``."""
    import aerospike

    client = aerospike.client(aerospike_server.client_config())
    try:
        yield client
    finally:
        client.close()
