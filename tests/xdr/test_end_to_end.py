"""XDR backup of an emulator playing Enterprise Edition → ASBX files → restore into an empty
emulator → every record equal. Records are compared as the stores hold them (particle types and
bytes) and through the official ``aerospike`` client; files are read back with the ``asbx``
codec plugin and ``zstandard`` called directly."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
import zstandard
from aerobackup import ClusterError, CompressionPolicy, EncryptionPolicy, Runtime
from aerobackup.errors import JobCancelled
from aerobackup.plugins.codecs.asbx import AsbxDecoder
from aerobackup.protocols import DecoderOptions
from aerobackup.testing import Emulator
from aerobackup.testing.storage_contract import MemoryStorage
from aerobackup.testing.xdr_shipper import XdrShipper
from aerobackup.xdr import BackupXdrConfig, backup_xdr
from aerobackup.xdr.asbx_io import parse_name

from tests.pipeline.conftest import load_every_type
from tests.xdr.conftest import FAST, client_of, connect, run_backup, run_restore


def stored(em: Emulator, namespace: str = "test") -> dict[bytes, tuple[Any, ...]]:
    """digest -> (set, key, void time, bins) as the emulator stores them (generation left out:
    a restore creates records afresh)."""
    return {r.digest: (r.set_name, r.key, r.void_time, r.bins) for r in em.records(namespace)}


def tokens(storage: MemoryStorage, name: str, data: bytes | None = None) -> list[Any]:
    raw = storage.objects[name] if data is None else data
    return list(AsbxDecoder(DecoderOptions(file=name)).decode(io.BytesIO(raw)))


class _NoIndexes:
    """The official client minus index creation (XDR ships records only; each index costs the
    client a 2 s wait for the build)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("index_"):
            return lambda *args, **kwargs: None
        return getattr(self._client, name)


def test_every_type_round_trip(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    client = client_of(source)
    n = load_every_type(source, _NoIndexes(client))
    now = time.time()  # both clocks stopped at one instant: TTLs shipped and restored give equal void times
    source.clock.freeze(now)
    target.clock.freeze(now)
    expected = stored(source)
    assert len(expected) == n
    storage = MemoryStorage()
    stats = run_backup(source, storage, runtime)
    assert stats.records_written == n and stats.files == 1
    assert stats.files_written == ("0_test_1.asbx",)
    assert stats.bytes_written == len(storage.objects["0_test_1.asbx"])
    entries = tokens(storage, "0_test_1.asbx")
    assert sorted(t.digest for t in entries) == sorted(expected)
    assert all(t.payload[9] & 0x10 == 0 for t in entries)  # the XDR bit is cleared at backup (§10.4)
    assert not source.shippers[0].dcs  # the DC was removed at the end

    rstats = run_restore(target, storage, runtime)
    assert rstats.records_read == n and rstats.records_written == n and rstats.files == 1
    assert stored(target) == expected
    # and as the official client sees them
    peer = client_of(target)
    for digest in expected:
        _, meta_s, bins_s = client.get(("test", None, None, bytearray(digest)))
        _, meta_t, bins_t = peer.get(("test", None, None, bytearray(digest)))
        assert repr(bins_t) == repr(bins_s)  # repr: NaN compares unequal to itself
        assert meta_t["ttl"] == meta_s["ttl"]
    client.close()
    peer.close()


def test_compressed_encrypted_rotated_parallel(
    source: Emulator, target: Emulator, runtime: Runtime, conformance_dir: Any
) -> None:
    for i in range(600):
        source.put_raw("test", "s", i, [("v", 3, b"v%05d" % i + b"." * 200), ("i", 1, i.to_bytes(8, "big"))])
    key = str(conformance_dir / "asbackup-4.5.8" / "key.pem")
    storage = MemoryStorage()
    stats = run_backup(
        source,
        storage,
        runtime,
        parallel_write=2,
        file_limit=20_000,
        compression=CompressionPolicy(mode="zstd", level=3),
        encryption=EncryptionPolicy(mode="aes256", key_file=key),
    )
    names = sorted(storage.objects, key=lambda s: parse_name(s).number)
    assert stats.files == len(names) > 4 and set(stats.files_written) == set(names)
    assert [parse_name(s).number for s in names] == list(range(1, len(names) + 1))  # one counter from 1
    assert {parse_name(s).prefix for s in names} == {0, 1}
    assert stats.records_written == 600 and stats.bytes_written == sum(len(b) for b in storage.objects.values())
    for name in names:
        assert storage.objects[name][:4] != zstandard.FRAME_HEADER  # encrypted after compression
    restored = run_restore(
        target,
        storage,
        runtime,
        compression=CompressionPolicy(mode="zstd"),
        encryption=EncryptionPolicy(mode="aes256", key_file=key),
    )
    assert restored.records_written == 600 and restored.files == len(names)
    assert stored(target) == stored(source)


def test_compressed_files_read_with_zstandard(source: Emulator, runtime: Runtime) -> None:
    for i in range(300):
        source.put_raw("test", "s", i, [("v", 3, b"x" * 300)])
    storage = MemoryStorage()
    stats = run_backup(
        source, storage, runtime, parallel_write=1, file_limit=30_000, compression=CompressionPolicy(mode="zstd")
    )
    seen: set[bytes] = set()
    for name in stats.files_written:
        plain = zstandard.ZstdDecompressor().decompressobj().decompress(storage.objects[name])
        entries = tokens(storage, name, plain)
        assert len(plain) <= 30_000
        assert plain[1:9] == parse_name(name).number.to_bytes(8, "big")
        seen.update(t.digest for t in entries)
    assert len(seen) == 300 and stats.records_written == 300


def test_two_node_cluster(target: Emulator, runtime: Runtime) -> None:
    from aerobackup.testing import EmulatedCluster

    with EmulatedCluster(nodes=2, namespaces=("test",)) as cluster:
        shippers = XdrShipper.attach(cluster)
        try:
            node = cluster.nodes[0]
            for i in range(500):
                node.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))])
            storage = MemoryStorage()
            stats = run_backup(node, storage, runtime, parallel_write=2)
            assert stats.records_written == 500
            assert all(s.dcs == {} for s in shippers)
            shipped = [s.faults for s in shippers]
            assert len(shipped) == 2
        finally:
            XdrShipper.detach_all(shippers)
        restored = run_restore(target, storage, runtime)
        assert restored.records_written == 500
        assert stored(target) == stored(node)


def test_writes_and_deletes_during_the_backup(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    for i in range(400):
        source.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))])
    client = client_of(source)
    storage = MemoryStorage()
    shipper = source.shippers[0]
    shipper.faults.refuse_connect = 10**9  # hold the shipping until the changes below are made
    config = BackupXdrConfig(namespace="test", **FAST)
    with connect(source) as cluster:
        job = backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05)
        deadline = time.monotonic() + 10
        while not shipper.dcs and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(0, 400, 10):
            client.put(("test", "s", i), {"v": -i, "new": "yes"})
        for i in range(5, 400, 20):
            client.remove(("test", "s", i))
        client.put(("test", "s", "late"), {"v": 1})
        # new records through a batch write take the emulator's create fast path (put_new)
        from aerospike_helpers.batch.records import BatchRecords, Write
        from aerospike_helpers.operations import operations as ops

        rows = BatchRecords([Write(("test", "s", f"batch{i}"), [ops.write("v", i)]) for i in range(10)])
        client.batch_write(rows)
        assert [r.result for r in rows.batch_records] == [0] * 10
        shipper.faults.refuse_connect = 0
        stats = job.wait(30)
    assert stats.records_written >= 400
    restored = run_restore(target, storage, runtime)
    assert restored.records_failed == 0
    got = {d: (s, k, b) for d, (s, k, _v, b) in stored(target).items()}
    want = {d: (s, k, b) for d, (s, k, _v, b) in stored(source).items()}
    assert len(want) == 400 - 20 + 1 + 10
    assert got == want
    client.close()


def test_rewind_seconds_ships_recent_changes_only(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    now_ns = time.time_ns()
    for i in range(50):
        source.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))], lut=now_ns - 7200 * 10**9)
    for i in range(50, 60):
        source.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))], lut=now_ns - 10 * 10**9)
    storage = MemoryStorage()
    stats = run_backup(source, storage, runtime, rewind="3600")
    assert stats.records_written == 10


def test_community_edition_refused_at_once(runtime: Runtime) -> None:
    with Emulator(namespaces=("test",)) as ce:  # no shipper: the emulator is CE
        storage = MemoryStorage()
        config = BackupXdrConfig(namespace="test", **FAST)
        t = time.monotonic()
        with connect(ce) as cluster:
            job = backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05)
            with pytest.raises(ClusterError) as info:
                job.wait(10)
        assert time.monotonic() - t < 5
        assert info.value.code == 25
        assert "refused XDR (ERROR:25:enterprise only)" in str(info.value)
        assert "need an Enterprise Edition cluster" in str(info.value)
        assert storage.objects == {}


def test_start_timeout_when_nothing_arrives(source: Emulator, runtime: Runtime) -> None:
    source.put_raw("test", "s", 1, [("v", 1, bytes(8))])
    source.shippers[0].faults.refuse_connect = 10**9  # the cluster cannot reach the receiver
    storage = MemoryStorage()
    config = BackupXdrConfig(namespace="test", start_timeout_ms=300, **FAST)
    with connect(source) as cluster:
        job = backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05)
        with pytest.raises(
            ClusterError,
            match=r"no record arrived from the cluster within 300 ms: check that "
            r"127\.0\.0\.1:\d+ is reachable",
        ):
            job.wait(10)
    assert not source.shippers[0].dcs  # cleaned up


def test_cancel_removes_the_dc(source: Emulator, runtime: Runtime) -> None:
    for i in range(300):
        source.put_raw("test", "s", i, [("v", 1, bytes(8))])
    storage = MemoryStorage()
    config = BackupXdrConfig(namespace="test", max_throughput=100, **FAST)  # slow: 3 s
    with connect(source) as cluster:
        job = backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05)
        deadline = time.monotonic() + 5
        while job.stats.records_written < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        job.cancel()
        with pytest.raises(JobCancelled):
            job.wait(10)
    assert not source.shippers[0].dcs
    assert storage.objects == {}  # no file looks complete unless it is


def test_existing_files_refused(source: Emulator, runtime: Runtime) -> None:
    storage = MemoryStorage({"0_test_1.asbx": b"old"})
    from aerobackup.errors import StorageError

    with pytest.raises(StorageError, match="already holds ASBX files"):
        run_backup(source, storage, runtime)
    assert not source.shippers[0].dcs


def test_restore_policies(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    for i in range(20):
        source.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))])
    storage = MemoryStorage()
    run_backup(source, storage, runtime)
    for i in range(5):  # already in the target, with other values
        target.put_raw("test", "s", i, [("v", 1, (100 + i).to_bytes(8, "big"))], generation=1)
    stats = run_restore(target, storage, runtime, unique=True)  # generation 1 is not newer than 1
    assert (stats.records_written, stats.skipped_newer, stats.skipped_existing) == (15, 5, 0)
    stats = run_restore(target, storage, runtime, unique=True, no_generation=True)  # create only
    assert (stats.records_written, stats.skipped_newer, stats.skipped_existing) == (0, 0, 20)
    assert target.get_raw("test", "s", 0).bins == [("v", 1, (100).to_bytes(8, "big"))]  # type: ignore[union-attr]
    stats = run_restore(target, storage, runtime, replace=True, no_generation=True)
    assert stats.records_written == 20
    assert stored(target) == stored(source)


def test_restore_missing_files(target: Emulator, runtime: Runtime) -> None:
    from aerobackup.errors import BackupNotFoundError

    with pytest.raises(BackupNotFoundError, match=r"no ASBX files \(\*\.asbx\) found"):
        run_restore(target, MemoryStorage(), runtime)


def test_progress_callback(source: Emulator, runtime: Runtime) -> None:
    for i in range(100):
        source.put_raw("test", "s", i, [("v", 1, bytes(8))])
    seen: list[Any] = []
    lock = threading.Lock()

    def progress(stats: Any) -> None:
        with lock:
            seen.append(stats)

    config = BackupXdrConfig(namespace="test", **FAST)
    with connect(source) as cluster:
        backup_xdr(
            config,
            MemoryStorage(),
            cluster,
            runtime=runtime,
            stats_delay=0.05,
            progress=progress,
            progress_interval=0.05,
        ).wait(30)
    assert seen and seen[-1].records_written == 100


def test_progress_counts_partitions(source: Emulator, runtime: Runtime) -> None:
    source.put_raw("test", "s", 1, [("v", 1, bytes(8))])
    stats = run_backup(source, MemoryStorage(), runtime)
    assert (stats.partitions_done, stats.partitions_total) == (4096, 4096)


def test_node_losing_its_dc_is_set_up_again(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    for i in range(300):
        source.put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))])
    shipper = source.shippers[0]
    storage = MemoryStorage()
    config = BackupXdrConfig(namespace="test", max_throughput=500, **FAST)  # 0.6 s of rewind
    with connect(source) as cluster:
        job = backup_xdr(config, storage, cluster, runtime=runtime, stats_delay=0.05)
        deadline = time.monotonic() + 5
        while job.stats.records_written < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        shipper.forget_dcs()  # the node restarts: its XDR set-up is gone
        stats = job.wait(30)
    assert stats.records_written >= 300
    assert not shipper.dcs
    run_restore(target, storage, runtime)
    assert stored(target) == stored(source)


def test_tls_end_to_end(target: Emulator, runtime: Runtime, tmp_path: Any) -> None:
    import ssl

    from aerobackup.config import TlsConfig

    from tests.xdr.test_receiver import _self_signed

    cert, key = _self_signed(tmp_path)
    with Emulator(namespaces=("test",)) as src:
        shippers = XdrShipper.attach(src, tls=ssl.create_default_context(cafile=str(cert)), tls_name="xdr-receiver")
        try:
            for i in range(500):
                src.put_raw("test", "s", i, [("v", 3, b"tls-%d" % i)])
            storage = MemoryStorage()
            stats = run_backup(src, storage, runtime, tls=TlsConfig(cert_file=str(cert), key_file=str(key)))
            assert stats.records_written == 500
            assert shippers[0].totals["success"] == 500
        finally:
            XdrShipper.detach_all(shippers)
        run_restore(target, storage, runtime)
        assert stored(target) == stored(src)


def test_tls_receiver_refuses_a_plain_sender(runtime: Runtime, tmp_path: Any) -> None:
    from aerobackup.config import TlsConfig

    from tests.xdr.test_receiver import _self_signed

    cert, key = _self_signed(tmp_path)
    with Emulator(namespaces=("test",)) as src:
        shippers = XdrShipper.attach(src)  # no TLS on the cluster side
        try:
            src.put_raw("test", "s", 1, [("v", 1, bytes(8))])
            config = BackupXdrConfig(
                namespace="test", tls=TlsConfig(cert_file=str(cert), key_file=str(key)), start_timeout_ms=500, **FAST
            )
            with connect(src) as cluster:
                with pytest.raises(ClusterError, match="no record arrived from the cluster within 500 ms"):
                    backup_xdr(config, MemoryStorage(), cluster, runtime=runtime, stats_delay=0.05).wait(20)
        finally:
            XdrShipper.detach_all(shippers)


def test_single_stream_storage_takes_one_file(source: Emulator, runtime: Runtime) -> None:
    from aerobackup import ConfigError
    from aerobackup.protocols import StorageInfo

    class OneStream(MemoryStorage):
        def info(self) -> StorageInfo:
            return StorageInfo(single_stream=True)

    with pytest.raises(ConfigError, match="^backup_xdr.parallel_write: a single output stream takes one file"):
        run_backup(source, OneStream(), runtime, parallel_write=2)
    source.put_raw("test", "s", 1, [("v", 1, bytes(8))])
    assert run_backup(source, OneStream(), runtime).records_written == 1


def test_a_node_that_joins_is_set_up(runtime: Runtime) -> None:
    from types import SimpleNamespace

    from aerobackup.testing import EmulatedCluster

    class Growing:
        """A cluster view that sees the second node only from its third check on."""

        def __init__(self, real: Any) -> None:
            self.real = real
            self.checks = 0
            self.names = [n.name for n in real.nodes]

        @property
        def nodes(self) -> list[Any]:
            return [SimpleNamespace(name=n) for n in (self.names if self.checks >= 3 else self.names[:1])]

        def check(self) -> None:
            self.checks += 1

        def info(self, command: str, node: str | None = None) -> str:
            return str(self.real.info(command, node))

    with EmulatedCluster(nodes=2, namespaces=("test",)) as cluster:
        shippers = XdrShipper.attach(cluster)
        try:
            for i in range(400):
                cluster.nodes[0].put_raw("test", "s", i, [("v", 1, i.to_bytes(8, "big"))])
            storage = MemoryStorage()
            with connect(cluster.nodes[0]) as real:
                view = Growing(real)
                config = BackupXdrConfig(namespace="test", max_throughput=500, **FAST)  # slow enough to join
                stats = backup_xdr(config, storage, view, runtime=runtime, stats_delay=0.05).wait(30)
            assert view.checks >= 3
            assert stats.records_written == 400
            assert all(s.totals.get("success", 0) > 0 for s in shippers)  # both nodes shipped
            assert all(s.dcs == {} for s in shippers)  # and both DCs were removed
        finally:
            XdrShipper.detach_all(shippers)
