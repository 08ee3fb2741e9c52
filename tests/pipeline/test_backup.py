"""Backup end to end against the emulator: produced files decoded independently and compared
with what the store holds (types and bytes), and each option by its effect."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import aerospike
import pytest
from aerobackup import (
    BackupConfig,
    Client,
    ClusterConfig,
    CompressionPolicy,
    EncryptionPolicy,
    PartitionFilter,
    StorageError,
)
from aerobackup.model import partition_id
from aerobackup.testing import Emulator

from tests.pipeline.conftest import (
    aes_ctr_decrypt,
    as_tuple,
    decode_backup,
    decode_stream,
    many,
    raw_records,
    read_backup,
    zstd_decompress,
)


def _backup(client: Client, tmp_path: Path, name: str = "out", **kw: Any) -> tuple[Path, Any]:
    folder = tmp_path / name
    stats = client.backup(BackupConfig(namespace="test", **kw), str(folder)).wait(60)
    return folder, stats


def test_every_type_round_trips_byte_for_byte(client: Client, server: Emulator, loaded: int, tmp_path: Path,
                                              shared_dir: Path) -> None:
    folder, stats = _backup(client, tmp_path, parallel_read=3)
    files = read_backup(folder)
    records, sindexes, udfs = decode_backup(files)
    expected = raw_records(server, "test")
    assert len(expected) == loaded
    got = {d: as_tuple(r) for d, r in records.items()}
    # void times are written by the backup clock: equal to the store's (both seconds since 2010)
    assert got == expected
    assert stats.records_written == loaded and stats.records_read == loaded
    assert stats.files == len(files) and stats.sindexes == 5 and stats.udfs == 1
    assert stats.bytes_written == sum(len(d) for d in files.values())
    # C layout: header in every file; `# first-file`, sindexes and the UDF in file _00000 only
    for name, data in files.items():
        assert data.startswith(b"Version 3.1\n# namespace test\n"), name
        assert (b"# first-file\n" in data[:60]) == (name == "test_00000.asb"), name
    first = decode_stream(files["test_00000.asb"])
    assert {s.name for s in first[1]} == {"idx_int", "idx_str", "idx_geo", "idx_list", "idx_mapkeys"}
    assert [u.name for u in udfs] == ["hello.lua"] and first[2][0].content.startswith(b"function hello")
    assert len(sindexes) == 5


def test_files_are_numbered_from_one_counter_and_rotate(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 3000, bins=6)
    folder, stats = _backup(client, tmp_path, parallel_read=2, file_limit=40_000)
    files = read_backup(folder)
    names = sorted(files)
    assert names == [f"test_{i:05d}.asb" for i in range(len(names))] and len(names) > 4
    for name, data in files.items():  # rotation happens before the record that finds the file full
        body = data.split(b"\n+ n test\n")
        last_record = len(body[-1]) + 10
        assert len(data) < 40_000 + last_record + 2000, (name, len(data))
    records, _, _ = decode_backup(files)
    assert len(records) == 3000 == stats.records_written


def test_single_file_and_prefix(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 500)
    out = tmp_path / "one.asb"
    stats = client.backup(BackupConfig(namespace="test", output_file=str(out), parallel_read=4)).wait(30)
    data = out.read_bytes()
    assert data.startswith(b"Version 3.1\n# namespace test\n# first-file\n")
    assert len(decode_stream(data)[0]) == 500 == stats.records_written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.asb"]
    folder, _ = _backup(client, tmp_path, "pfx", output_file_prefix="nightly")
    assert sorted(p.name for p in folder.iterdir()) == ["nightly_00000.asb"]


def test_non_empty_directory_needs_remove_files(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 50)
    folder, _ = _backup(client, tmp_path)
    (folder / "notes.txt").write_text("kept")
    with pytest.raises(StorageError, match=r"not empty: it holds 1 backup file\(s\), e.g. 'test_00000.asb'"):
        client.backup(BackupConfig(namespace="test"), str(folder))
    server.put_raw("test", "many", "extra", [("b0", 1, bytes(8))])
    _backup(client, tmp_path, remove_files=True)
    records, _, _ = decode_backup(read_backup(folder))
    assert len(records) == 51
    assert (folder / "notes.txt").read_text() == "kept"


def test_set_bin_lists_and_metadata_switches(client: Client, server: Emulator, loaded: int, tmp_path: Path) -> None:
    folder, _ = _backup(client, tmp_path, "sets", set_list=("types2",))
    records, sindexes, udfs = decode_backup(read_backup(folder))
    assert {r.set for r in records.values()} == {"types2"}
    assert [s.name for s in sindexes] == ["idx_mapkeys"]  # indexes of other sets left out, as asbackup
    folder, _ = _backup(client, tmp_path, "bins", bin_list=("i", "s"))
    records, _, _ = decode_backup(read_backup(folder))
    multi = [r for r in records.values() if len(r.bins) == 2]
    assert len(multi) == 1 and {b.name for b in multi[0].bins} == {"i", "s"}
    assert all(len(r.bins) <= 2 for r in records.values())
    folder, stats = _backup(client, tmp_path, "meta", no_records=True)
    records, sindexes, udfs = decode_backup(read_backup(folder))
    assert records == {} and len(sindexes) == 5 and len(udfs) == 1 and stats.records_written == 0
    folder, _ = _backup(client, tmp_path, "nometa", no_indexes=True, no_udfs=True)
    records, sindexes, udfs = decode_backup(read_backup(folder))
    assert len(records) == loaded and sindexes == [] and udfs == []


def test_partition_filters(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 2000)
    all_recs = raw_records(server, "test")
    by_pid: dict[int, list[bytes]] = {}
    for d in all_recs:
        by_pid.setdefault(partition_id(d), []).append(d)
    folder, _ = _backup(client, tmp_path, "range", partition_filters=(PartitionFilter.range(100, 200),))
    got = set(decode_backup(read_backup(folder))[0])
    assert got == {d for d in all_recs if 100 <= partition_id(d) < 300}
    pid = max(by_pid, key=lambda p: len(by_pid[p]))
    folder, _ = _backup(client, tmp_path, "id", partition_filters=(PartitionFilter.id(pid),))
    assert set(decode_backup(read_backup(folder))[0]) == set(by_pid[pid])
    # after a digest: the rest of its partition (scan order) and every later partition
    ordered = [r.digest for r in server.records("test")]
    cut = ordered.index(sorted(by_pid[pid])[1])
    d64 = base64.b64encode(ordered[cut]).decode()
    folder, _ = _backup(client, tmp_path, "after", after_digest=d64)
    assert set(decode_backup(read_backup(folder))[0]) == set(ordered[cut + 1 :])
    folder, _ = _backup(client, tmp_path, "bydigest", partition_filters=(PartitionFilter.by_digest(d64),))
    got = set(decode_backup(read_backup(folder))[0])
    assert got == {d for d in ordered[cut + 1 :] if partition_id(d) == pid}


def test_time_ttl_expression_filters(client: Client, server: Emulator, ac: Any, tmp_path: Path) -> None:
    import datetime as dt

    from aerospike_helpers import expressions as exp

    old = time.time_ns() - 3600 * 10**9
    server.put_raw("test", "f", "old", [("v", 1, bytes(8))], lut=old)
    server.put_raw("test", "f", "new", [("v", 1, (5).to_bytes(8, "big"))])
    server.put_raw("test", "f", "ttl", [("v", 1, bytes(8))], void_time=int(time.time()) - 1262304000 + 999)
    cut = dt.datetime.fromtimestamp(time.time() - 1800, tz=dt.timezone.utc)
    folder, _ = _backup(client, tmp_path, "after", modified_after=cut)
    keys = {r.key.data for r in decode_backup(read_backup(folder))[0].values() if r.key}
    assert keys == {b"new", b"ttl"}
    folder, _ = _backup(client, tmp_path, "before", modified_before=cut)
    assert {r.key.data for r in decode_backup(read_backup(folder))[0].values() if r.key} == {b"old"}
    folder, _ = _backup(client, tmp_path, "nottl", no_ttl_only=True)
    assert {r.key.data for r in decode_backup(read_backup(folder))[0].values() if r.key} == {b"old", b"new"}
    expr = exp.Eq(exp.IntBin("v"), 5).compile()
    b64 = ac.get_expression_base64(expr)
    folder, _ = _backup(client, tmp_path, "expr", filter_expression=b64)
    assert {r.key.data for r in decode_backup(read_backup(folder))[0].values() if r.key} == {b"new"}


def test_max_records_parallel_write_compact(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 1000)
    server.put_raw("test", "blob", "b", [("v", 4, b"\x00raw\nbytes")])
    folder, stats = _backup(client, tmp_path, "max", max_records=300, parallel_read=2)
    assert len(decode_backup(read_backup(folder))[0]) == 300 == stats.records_written
    folder, _ = _backup(client, tmp_path, "pw", parallel_write=3, parallel_read=1)
    assert len(read_backup(folder)) == 3
    folder, _ = _backup(client, tmp_path, "compact", compact=True)
    data = b"".join(read_backup(folder).values())
    assert b"- B! v 10 \x00raw\nbytes\n" in data


def test_compression_and_encryption_read_back_independently(client: Client, server: Emulator, tmp_path: Path,
                                                            conformance_dir: Path) -> None:
    many(server, 300)
    expected = raw_records(server, "test")
    key = conformance_dir / "asbackup-4.5.8" / "key.pem"
    folder, stats = _backup(client, tmp_path, "z", compression=CompressionPolicy(mode="zstd", level=5))
    files = read_backup(folder)
    assert all(d.startswith(b"\x28\xb5\x2f\xfd") for d in files.values())
    plain = {n: zstd_decompress(d) for n, d in files.items()}
    assert {d: as_tuple(r) for d, r in decode_backup(plain)[0].items()} == expected
    assert stats.bytes_written < stats.bytes_raw
    folder, _ = _backup(client, tmp_path, "za", compression=CompressionPolicy(mode="zstd"),
                        encryption=EncryptionPolicy(mode="aes256", key_file=str(key)))
    pem = key.read_bytes()
    plain = {n: zstd_decompress(aes_ctr_decrypt(d, pem, 256)) for n, d in read_backup(folder).items()}
    assert {d: as_tuple(r) for d, r in decode_backup(plain)[0].items()} == expected


def test_rate_limits_slow_the_backup(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 600)
    t0 = time.monotonic()
    _, stats = _backup(client, tmp_path, "rps", records_per_second=1000, parallel_read=2)
    assert time.monotonic() - t0 >= 0.4 and stats.records_written == 600
    t0 = time.monotonic()
    _, stats = _backup(client, tmp_path, "bw", bandwidth=60_000)
    assert stats.bytes_raw > 60_000 and time.monotonic() - t0 >= (stats.bytes_raw - 60_000) / 60_000 * 0.8


def test_node_by_node_equals_by_partitions(aerospike_cluster: Any, tmp_path: Path) -> None:
    seed = aerospike_cluster.nodes[0]
    many(seed, 1500)
    client = Client(cluster=ClusterConfig(hosts=(f"{seed.host}:{seed.port}",)))
    try:
        by_part = client.backup(BackupConfig(namespace="test", parallel_read=4), str(tmp_path / "p")).wait(60)
        by_node = client.backup(BackupConfig(namespace="test", parallel_nodes=True), str(tmp_path / "n")).wait(60)
        two = [f"{n.host}:{n.port}" for n in aerospike_cluster.nodes[:2]]
        listed = client.backup(BackupConfig(namespace="test", node_list=tuple(two)), str(tmp_path / "l")).wait(60)
    finally:
        client.close()
    a = {d: as_tuple(r) for d, r in decode_backup(read_backup(tmp_path / "p"))[0].items()}
    b = {d: as_tuple(r) for d, r in decode_backup(read_backup(tmp_path / "n"))[0].items()}
    assert a == b and len(a) == 1500 == by_part.records_written == by_node.records_written
    c = set(decode_backup(read_backup(tmp_path / "l"))[0])
    owners = {aerospike_cluster.owner_index(partition_id(d)) for d in c}
    assert owners == {0, 1} and c == {d for d in a if aerospike_cluster.owner_index(partition_id(d)) in (0, 1)}
    assert listed.records_written == len(c)


def test_estimate_predicts_the_size(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 3000, bins=5)
    est = client.estimate(BackupConfig(namespace="test", estimate_samples=500))
    assert est.samples == 500 and est.records == 3000
    _, stats = _backup(client, tmp_path)
    assert est.total_bytes is not None
    assert stats.bytes_written <= est.total_bytes <= stats.bytes_written * 1.2


def test_stats_progress_and_concurrent_jobs(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 2000)
    seen: list[list[Any]] = [[], [], []]
    jobs = [client.backup(BackupConfig(namespace="test", parallel_read=2), str(tmp_path / f"j{i}"),
                          progress=seen[i].append, progress_interval=0.01) for i in range(3)]
    results = [j.wait(60) for j in jobs]
    assert [r.records_written for r in results] == [2000, 2000, 2000]
    assert all(j.done for j in jobs)
    for reports in seen:  # the last report is the final one, delivered before wait() returned
        assert reports[-1].records_written == 2000 and reports[-1].partitions_done == 4096
        assert [r.records_written for r in reports] == sorted(r.records_written for r in reports)
    assert results[0].rate > 0 and results[0].estimated_remaining == 0.0


def test_unknown_namespace_and_unreachable_host(client: Client, tmp_path: Path) -> None:
    from aerobackup import ClusterError

    with pytest.raises(ClusterError, match=r"namespace 'nosuch' not found in the cluster \(namespaces: test, bar\)"):
        client.backup(BackupConfig(namespace="nosuch"), str(tmp_path / "x"))
    with pytest.raises(ClusterError, match=r"set 'nosuch' not found in namespace 'test' \(sets: none\)"):
        client.backup(BackupConfig(namespace="test", set_list=("nosuch",)), str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
    with pytest.raises(ClusterError, match="127.0.0.1:1"):
        Client(cluster=ClusterConfig(hosts=("127.0.0.1:1",), client_timeout_ms=500)).backup(
            BackupConfig(namespace="test"), str(tmp_path / "y"))


_ = aerospike


def test_client_from_an_official_client(server: Emulator, ac: Any, tmp_path: Path) -> None:
    many(server, 200)
    client = Client.from_aerospike(ac)
    stats = client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    client.close()
    assert stats.records_written == 200
    assert ac.is_connected()  # the caller's client is left open


def test_info_failures_are_retried(client: Client, server: Emulator, loaded: int, tmp_path: Path) -> None:
    from aerobackup import RetryPolicy

    _backup(client, tmp_path, "warm", no_records=True)  # connected before the faults
    server.faults.error(9, kinds=("info",), times=2)  # two info requests time out
    folder, stats = _backup(client, tmp_path, info_retry=RetryPolicy(base_timeout_ms=10, max_retries=3))
    assert stats.sindexes == 5 and stats.udfs == 1 and len(decode_backup(read_backup(folder))[0]) == loaded
