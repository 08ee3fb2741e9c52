"""``Client.backup_xdr`` and ``Client.restore`` on ASBX backups: the library entry point delegates
to ``aerobackup.xdr`` (decoder ``asbx``, or detected from the files), refuses what does not apply
by name, and the records restored are checked with the official ``aerospike`` client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aerospike
import pytest
from aerobackup import (
    BackupXdrConfig,
    Client,
    ClusterConfig,
    ClusterError,
    ConfigError,
    RestoreConfig,
    RestoreNamespaceConfig,
)
from aerobackup.errors import BackupNotFoundError
from aerobackup.jobs import RestoreStats
from aerobackup.testing import Emulator
from aerobackup.testing.xdr_shipper import XdrShipper

N = 120


@pytest.fixture
def source() -> Iterator[Emulator]:
    with Emulator(namespaces=("test",)) as em:
        shippers = XdrShipper.attach(em)
        yield em
        XdrShipper.detach_all(shippers)


@pytest.fixture
def target() -> Iterator[Emulator]:
    with Emulator(namespaces=("test",)) as em:
        yield em


def official(em: Emulator) -> Any:
    return aerospike.client({"hosts": [(em.host, em.port)]}).connect()


def client_for(em: Emulator) -> Client:
    return Client(cluster=ClusterConfig(hosts=(f"{em.host}:{em.port}",)))


def load(em: Emulator) -> dict[int, dict[str, Any]]:
    c = official(em)
    want = {}
    try:
        for i in range(N):
            bins = {"i": i, "s": f"v{i}-é", "f": i / 4, "b": bytearray([i % 256]) * 5, "l": [i, "x"], "m": {"k": i}}
            c.put(("test", "s", i), bins, policy={"key": aerospike.POLICY_KEY_SEND})
            want[i] = bins
    finally:
        c.close()
    return want


def read_all(em: Emulator, keys: Any) -> dict[int, Any]:
    c = official(em)
    try:
        return {i: c.get(("test", "s", i))[2] for i in keys}
    finally:
        c.close()


def xdr_backup(em: Emulator, folder: Path) -> None:
    config = BackupXdrConfig(namespace="test", dc="dc1", local_port=0, info_polling_period_ms=20)
    with client_for(em) as client:
        stats = client.backup_xdr(config, str(folder), stats_delay=0.05).wait(60)
    assert stats.records_written == N
    assert sorted(p.name for p in folder.iterdir()) == ["0_test_1.asbx"]


def test_backup_xdr_then_restore_with_decoder_asbx(source: Emulator, target: Emulator, tmp_path: Path) -> None:
    want = load(source)
    xdr_backup(source, tmp_path / "bk")
    seen: list[Any] = []
    with client_for(target) as client:
        job = client.restore(RestoreConfig(decoder="asbx"), str(tmp_path / "bk"), progress=seen.append,
                             progress_interval=0.01)
        stats = job.wait(60)
    assert isinstance(stats, RestoreStats)
    assert (stats.records_read, stats.records_written, stats.files) == (N, N, 1)
    assert read_all(target, want) == want
    assert seen and isinstance(seen[-1], RestoreStats)


def test_default_decoder_detects_asbx_files(source: Emulator, target: Emulator, tmp_path: Path) -> None:
    want = load(source)
    xdr_backup(source, tmp_path / "bk")
    with client_for(target) as client:
        stats = client.restore(RestoreConfig(), str(tmp_path / "bk")).wait(60)  # decoder left at "asb"
    assert (stats.records_read, stats.records_written) == (N, N)
    assert read_all(target, want) == want


def test_one_asbx_file_and_validate_only(source: Emulator, target: Emulator, tmp_path: Path) -> None:
    want = load(source)
    xdr_backup(source, tmp_path / "bk")
    one = str(tmp_path / "bk" / "0_test_1.asbx")
    # validate_only reads every message and contacts no cluster (nothing listens on this port)
    with Client(cluster=ClusterConfig(hosts=("127.0.0.1:1",))) as nowhere:
        stats = nowhere.restore(RestoreConfig(validate_only=True), one).wait(30)
    assert (stats.records_read, stats.records_written) == (N, 0)
    assert list(target.records("test")) == []  # validate_only wrote nothing
    with client_for(target) as client:
        stats = client.restore(RestoreConfig(decoder="asbx"), [one]).wait(60)
    assert stats.records_written == N
    assert read_all(target, want) == want


def test_options_that_do_not_apply_are_refused(source: Emulator, tmp_path: Path) -> None:
    load(source)
    xdr_backup(source, tmp_path / "bk")
    folder = str(tmp_path / "bk")
    # refused before any connection: this client's cluster does not exist
    with Client(cluster=ClusterConfig(hosts=("127.0.0.1:1",))) as client:
        with pytest.raises(ConfigError, match=r"restore\.batch_size.*does not apply to ASBX"):
            client.restore(RestoreConfig(decoder="asbx", batch_size=64), folder)
        with pytest.raises(ConfigError, match=r"restore\.namespace.*does not apply to ASBX"):
            # detected from the files: a namespace change is refused rather than ignored
            client.restore(RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar")), folder)
        with pytest.raises(ConfigError, match="cannot read stdin"):
            client.restore(RestoreConfig(decoder="asbx"), "-")
        with pytest.raises(ConfigError, match=r"one location at a time \(got 2\)"):
            client.restore(RestoreConfig(decoder="asbx"), [folder, folder])
        with pytest.raises(BackupNotFoundError, match="no such file or directory"):
            client.restore(RestoreConfig(decoder="asbx"), str(tmp_path / "missing"))


def test_empty_location_with_decoder_asbx(target: Emulator, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with client_for(target) as client:
        job = client.restore(RestoreConfig(decoder="asbx"), str(tmp_path / "empty"))
        with pytest.raises(BackupNotFoundError, match=r"no ASBX files \(\*\.asbx\)"):
            job.wait(30)


def test_backup_xdr_on_community_edition(target: Emulator, tmp_path: Path) -> None:
    start = time.monotonic()
    with client_for(target) as client:  # no shipper attached: the emulator is Community Edition
        job = client.backup_xdr(BackupXdrConfig(namespace="test", local_port=0), str(tmp_path / "bk"))
        with pytest.raises(ClusterError, match=r"refused XDR \(ERROR:25.*Enterprise Edition"):
            job.wait(30)
    assert time.monotonic() - start < 20
