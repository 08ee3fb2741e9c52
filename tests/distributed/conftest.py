"""Fixtures for the scale-out tests: a real Dask ``LocalCluster`` of two worker processes
(shared by a module: it takes a few seconds to start), the 3-node emulator, and a library
client on it. Workers reach the emulator over loopback TCP like any other client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aerobackup import Client, ClusterConfig
from aerobackup.testing import EmulatedCluster


@pytest.fixture(scope="module")  # not session: its worker processes must not outlive this folder's
def dask_client() -> Iterator[Any]:  # modules (other tests look at multiprocessing.active_children())
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def cluster(aerospike_cluster: EmulatedCluster) -> EmulatedCluster:
    return aerospike_cluster


@pytest.fixture
def client(cluster: EmulatedCluster) -> Iterator[Client]:
    c = Client(cluster=ClusterConfig(hosts=(f"{cluster.host}:{cluster.port}",)))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def ac(cluster: EmulatedCluster) -> Iterator[Any]:
    """The official client on the 3-node emulator (the independent peer)."""
    import aerospike

    c = aerospike.client(cluster.client_config()).connect()
    try:
        yield c
    finally:
        c.close()
