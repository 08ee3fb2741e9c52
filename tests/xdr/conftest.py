"""Fixtures for the XDR tests: an emulator playing Enterprise Edition (with the XDR shipper),
an empty target emulator, and short-hand to run an XDR backup and an ASBX restore."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aerospike
import pytest
from aerobackup import ClusterConfig, RestoreConfig, Runtime
from aerobackup.cluster import Cluster
from aerobackup.jobs import BackupStats, RestoreStats
from aerobackup.testing import Emulator
from aerobackup.testing.storage_contract import MemoryStorage
from aerobackup.testing.xdr_shipper import XdrShipper
from aerobackup.xdr import BackupXdrConfig, backup_xdr
from aerobackup.xdr.restore_asbx import restore_asbx

FAST = {"local_port": 0, "info_polling_period_ms": 20}


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return Runtime.discover()


@pytest.fixture
def source() -> Iterator[Emulator]:
    """An emulated node that answers XDR as Enterprise Edition does."""
    with Emulator(namespaces=("test", "bar")) as em:
        shippers = XdrShipper.attach(em)
        em.shippers = shippers  # type: ignore[attr-defined]
        yield em
        XdrShipper.detach_all(shippers)


@pytest.fixture
def target() -> Iterator[Emulator]:
    with Emulator(namespaces=("test", "bar")) as em:
        yield em


def connect(em: Any) -> Cluster:
    """Our cluster view; the official client discovers the nodes (every node of a cluster)."""
    return Cluster.connect(ClusterConfig(hosts=(f"{em.host}:{em.port}",)), use_client=True)


def client_of(em: Any) -> Any:
    return aerospike.client({"hosts": [(em.host, em.port)]}).connect()


def run_backup(em: Any, storage: Any, runtime: Runtime, timeout: float = 60, **options: Any) -> BackupStats:
    config = BackupXdrConfig(namespace=options.pop("namespace", "test"), **{**FAST, **options})
    with connect(em) as cluster:
        return backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05).wait(timeout)


def run_restore(em: Any, storage: Any, runtime: Runtime, timeout: float = 60, **options: Any) -> RestoreStats:
    config = RestoreConfig(decoder="asbx", **options)
    with connect(em) as cluster:
        return restore_asbx(config, storage, cluster, runtime=runtime).wait(timeout)


def memory() -> MemoryStorage:
    return MemoryStorage()
