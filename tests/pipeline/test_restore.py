"""Restore end to end against the emulator: the real asbackup corpus restored and read back,
round trips through another namespace, write policies, filters, expiry, faults and errors."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from aerobackup import (
    BackupConfig,
    Client,
    ClusterError,
    CompressionPolicy,
    EncryptionPolicy,
    FormatError,
    RestoreConfig,
    RestoreNamespaceConfig,
    validate,
)
from aerobackup.model import CITRUSLEAF_EPOCH
from aerobackup.testing import Emulator

from tests.pipeline.conftest import as_tuple, decode_backup, geo_text, many, raw_records, read_backup

CORPUS = ["plain", "compact", "single.asb", "zstd", "aes128", "aes256", "zstd_aes128"]
TO_BAR = RestoreNamespaceConfig(source="test", destination="bar")


def _config(name: str, key: Path, **kw: Any) -> RestoreConfig:
    comp = CompressionPolicy(mode="zstd") if name.startswith("zstd") else CompressionPolicy()
    mode = "aes128" if "aes128" in name else "aes256" if "aes256" in name else "none"
    enc = EncryptionPolicy(mode=mode, key_file=str(key)) if mode != "none" else EncryptionPolicy()
    return RestoreConfig(compression=comp, encryption=enc, **kw)


def _check_against_expected(server: Emulator, expected: dict[str, Any], ns: str, stats: Any) -> None:
    now = time.time()
    alive = expired = 0
    for rec in expected["records"]:
        digest = base64.b64decode(rec["digest_b64"])
        got = server.get_raw(ns, digest=digest)
        ttl = rec["ttl_at_dump"]
        if ttl != 4294967295:
            void_unix = expected["dumped_at_unix"] + ttl
            if abs(void_unix - now) < 120:  # too close to call
                continue
            if void_unix <= now:
                assert got is None, f"{rec['user_key']} should have been skipped as expired"
                expired += 1
                continue
            # restored TTL: the void time kept within the seconds the backup took
            assert abs(got.void_time + CITRUSLEAF_EPOCH - void_unix) < 30
        else:
            assert got.void_time == 0
        alive += 1
        assert got is not None, rec["user_key"]
        assert got.set_name == (rec["set"] or "")
        bins = {n: geo_text(t, v) for n, t, v in got.bins}
        want = {n: geo_text(b["wire"]["particle_type"], base64.b64decode(b["wire"]["raw_b64"]))
                for n, b in rec["bins"].items()}
        assert bins == want, rec["user_key"]
        has_key = rec["user_key"] is not None
        assert (got.key is not None) == has_key, rec["user_key"]
    assert stats.skipped_expired == expired
    assert stats.records_written == alive


@pytest.mark.parametrize("name", CORPUS)
def test_restore_asbackup_corpus(name: str, client: Client, server: Emulator, conformance_dir: Path) -> None:
    corpus = conformance_dir / "asbackup-4.5.8"
    expected = json.loads((corpus / "expected_test.json").read_text())
    stats = client.restore(_config(name, corpus / "key.pem", namespace=TO_BAR), str(corpus / name)).wait(60)
    assert stats.records_read == 74 and stats.files == 1
    _check_against_expected(server, expected, "bar", stats)
    assert stats.udfs_created == 1 and stats.sindexes_read == 15
    assert stats.sindexes_created == 15
    assert server.get_raw("test", digest=base64.b64decode(expected["records"][0]["digest_b64"])) is None


def test_restore_rotated_directory(client: Client, server: Emulator, conformance_dir: Path) -> None:
    corpus = conformance_dir / "asbackup-4.5.8" / "rotate"
    expected = json.loads(gzip.decompress((corpus / "expected_bar_rot.json.gz").read_bytes()))
    stats = client.restore(RestoreConfig(parallel=3), str(corpus)).wait(60)
    assert stats.files == 3 and stats.records_read == len(expected["records"]) == 2400
    _check_against_expected(server, expected, "bar", stats)


def test_backup_restore_elsewhere_backup_again(client: Client, server: Emulator, loaded: int,
                                               tmp_path: Path) -> None:
    client.backup(BackupConfig(namespace="test", parallel_read=2), str(tmp_path / "a")).wait(60)
    stats = client.restore(RestoreConfig(namespace=TO_BAR), str(tmp_path / "a")).wait(60)
    assert stats.records_written == loaded and stats.sindexes_created == 5 and stats.udfs_created == 1
    client.backup(BackupConfig(namespace="bar"), str(tmp_path / "b")).wait(60)
    a, six_a, _ = decode_backup(read_backup(tmp_path / "a"))
    b, six_b, _ = decode_backup(read_backup(tmp_path / "b"))

    def strip(rec: Any) -> tuple[Any, ...]:
        s, key, _gen, void, bins = as_tuple(rec)
        return s, key, bool(void), bins  # generation restarts at 1; void times shift with the clock

    assert {d: strip(r) for d, r in a.items()} == {d: strip(r) for d, r in b.items()}
    assert len(a) == loaded
    assert {(s.name, s.bin, s.index_type, s.data_type) for s in six_a} == \
           {(s.name, s.bin, s.index_type, s.data_type) for s in six_b}
    assert {s.namespace for s in six_b} == {"bar"}


def _one(server: Emulator, tmp_path: Path, client: Client, *, gen: int, bins: dict[str, int]) -> Path:
    server.put_raw("test", "p", "k", [(n, 1, v.to_bytes(8, "big")) for n, v in bins.items()], generation=gen)
    folder = tmp_path / f"b{gen}{len(bins)}"
    client.backup(BackupConfig(namespace="test", set_list=("p",)), str(folder)).wait(30)
    server.truncate("test")
    return folder


def test_write_policies(client: Client, server: Emulator, tmp_path: Path) -> None:
    backup = _one(server, tmp_path, client, gen=5, bins={"a": 1})

    def bins() -> dict[str, bytes]:
        rec = server.get_raw("test", "p", "k")
        return {n: v for n, _, v in rec.bins}

    def run(**kw: Any) -> Any:
        return client.restore(RestoreConfig(**kw), str(backup)).wait(30)

    server.put_raw("test", "p", "k", [("a", 1, (9).to_bytes(8, "big")), ("x", 1, bytes(8))], generation=7)
    st = run()  # default: update only if the backup's generation (5) is newer than the server's (7)
    assert st.skipped_newer == 1 and st.records_written == 0 and bins()["a"] == (9).to_bytes(8, "big")
    st = run(no_generation=True)  # update regardless; bins not in the backup are kept
    assert st.records_written == 1 and bins() == {"a": (1).to_bytes(8, "big"), "x": bytes(8)}
    server.put_raw("test", "p", "k", [("a", 1, (9).to_bytes(8, "big")), ("x", 1, bytes(8))], generation=2)
    st = run(replace=True)  # replace: bins not in the backup are dropped
    assert st.records_written == 1 and bins() == {"a": (1).to_bytes(8, "big")}
    st = run(unique=True)  # create only: the record exists
    assert st.skipped_existing == 1 and st.records_written == 0
    server.truncate("test")
    st = run(unique=True)
    assert st.records_written == 1 and bins() == {"a": (1).to_bytes(8, "big")}


def test_expiry_and_extra_ttl(client: Client, server: Emulator, tmp_path: Path, conformance_dir: Path) -> None:
    sample = conformance_dir / "aerospike-tools-backup" / "test_backup_file.asb"
    st = client.restore(RestoreConfig(), str(sample)).wait(30)
    assert st.skipped_expired == 1 and st.records_written == 0
    assert server.get_raw("test", "demo", "key1") is None
    void = 428179113  # the file's `+ t`: 2023-07-27
    extra = int(time.time()) - CITRUSLEAF_EPOCH - void + 3600
    st = client.restore(RestoreConfig(extra_ttl=extra), str(sample)).wait(30)
    assert st.records_written == 1
    got = server.get_raw("test", "demo", "key1")
    assert abs(got.void_time - (void + extra)) <= 2
    assert {n: (t, v) for n, t, v in got.bins} == {"foo": (1, (123).to_bytes(8, "big")), "bar": (3, b"abc"),
                                                   "baz": (17, b"\x01")}
    assert got.key == (3, b"key1")


def test_set_bin_lists_and_empty_records(client: Client, server: Emulator, tmp_path: Path) -> None:
    server.put_raw("test", "s1", 1, [("a", 1, bytes(8)), ("b", 1, bytes(8))])
    server.put_raw("test", "s1", 2, [("b", 1, bytes(8))])
    server.put_raw("test", "s2", 3, [("a", 1, bytes(8))])
    server.put_raw("test", "", 4, [("a", 1, bytes(8))])
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    st = client.restore(RestoreConfig(namespace=TO_BAR, set_list=("s1", ""), bin_list=("a",)),
                        str(tmp_path / "b")).wait(30)
    assert st.records_read == 4 and st.records_written == 2 and st.skipped_filtered == 2
    got = raw_records(server, "bar")
    assert sorted((v[0], sorted(v[4])) for v in got.values()) == [("", ["a"]), ("s1", ["a"])]


def test_no_records_indexes_udfs(client: Client, server: Emulator, loaded: int, tmp_path: Path) -> None:
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    server.reset()
    st = client.restore(RestoreConfig(no_records=True), str(tmp_path / "b")).wait(30)
    assert st.records_written == 0 and st.sindexes_created == 5 and st.udfs_created == 1
    assert raw_records(server, "test") == {}
    server.reset()
    st = client.restore(RestoreConfig(no_indexes=True, no_udfs=True, indexes_last=False), str(tmp_path / "b")).wait(30)
    assert st.records_written == loaded and st.sindexes_created == 0 and st.udfs_created == 0
    assert "idx_int" not in client._connection().info("sindex-list:ns=test")


def test_namespace_mismatch_and_format_errors(client: Client, conformance_dir: Path, tmp_path: Path) -> None:
    sample = conformance_dir / "aerospike-tools-backup" / "test_backup_file.asb"
    other = RestoreNamespaceConfig(source="other", destination="bar")
    with pytest.raises(FormatError, match=r"invalid namespace test in backup record, expected: other"):
        client.restore(RestoreConfig(namespace=other), str(sample)).wait(30)
    bad = conformance_dir / "aerospike-tools-backup" / "test_bad_backup_file.asb"
    with pytest.raises(FormatError) as info:
        client.restore(RestoreConfig(ignore_record_error=True), str(bad)).wait(30)
    assert info.value.line == 13 and info.value.column == 3 and "test_bad_backup_file.asb:13:3" in str(info.value)
    with pytest.raises(FormatError, match="test_bad_backup_file.asb:13:3"):
        validate(str(bad))


def test_ignore_record_error_and_permanent_errors(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 200)
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    victims = [r.digest for r in server.records("test")[:3]]
    server.truncate("test")
    server.faults.error(13, kinds=("write",), digests=victims)  # record too big (batch rows)
    with pytest.raises(ClusterError, match=r"RECORD_TOO_BIG \(result 13\).*ignore_record_error"):
        client.restore(RestoreConfig(), str(tmp_path / "b")).wait(30)
    st = client.restore(RestoreConfig(ignore_record_error=True, no_generation=True), str(tmp_path / "b")).wait(30)
    assert st.records_failed == 3 and st.records_written == 197
    left = raw_records(server, "test")
    assert len(left) == 197 and not set(victims) & set(left)


def test_faults_mid_restore_are_retried(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 1500)
    before = raw_records(server, "test")
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    server.truncate("test")
    server.faults.drop_after(3)
    server.faults.error(11, kinds=("batch",), times=2)  # partition unavailable, twice
    st = client.restore(RestoreConfig(batch_size=100, parallel=2), str(tmp_path / "b")).wait(60)
    after = raw_records(server, "test")
    assert set(after) == set(before)
    assert {d: v[4] for d, v in after.items()} == {d: v[4] for d, v in before.items()}
    assert st.records_written + st.skipped_newer == 1500 and st.records_read == 1500


def test_batch_switches_and_validate(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 600)
    client.backup(BackupConfig(namespace="test", parallel_write=2), str(tmp_path / "b")).wait(30)
    server.truncate("test")
    server.stats.update(batch=0, write=0)
    st = client.restore(RestoreConfig(batch_size=50), str(tmp_path / "b")).wait(30)
    assert st.records_written == 600 and server.stats["batch"] >= 12 and server.stats["write"] == 0
    server.truncate("test")
    server.stats.update(batch=0, write=0)
    st = client.restore(RestoreConfig(disable_batch_writes=True, max_async_batches=2), str(tmp_path / "b")).wait(30)
    assert st.records_written == 600 and server.stats["batch"] == 0 and server.stats["write"] == 600
    v = validate(str(tmp_path / "b"))
    assert (v.records_read, v.files, v.records_written) == (600, 2, 0)
    files = sorted(p.name for p in (tmp_path / "b").iterdir())
    # a list of directories under a parent
    other = tmp_path / "c"
    other.mkdir()
    shutil.move(str(tmp_path / "b" / files[1]), other / files[1])
    v = validate(["b", "c"], parent=str(tmp_path))
    assert (v.records_read, v.files) == (600, 2)
    v = validate(str(other / files[1]))
    assert v.files == 1 and 0 < v.records_read < 600


def test_restore_rate_limit(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 400)
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "b")).wait(30)
    t0 = time.monotonic()
    st = client.restore(RestoreConfig(records_per_second=1000, no_generation=True), str(tmp_path / "b")).wait(30)
    assert st.records_written == 400 and time.monotonic() - t0 >= 0.35


def test_restore_in_worker_processes(client: Client, server: Emulator, loaded: int, tmp_path: Path) -> None:
    many(server, 1000)
    client.backup(BackupConfig(namespace="test", parallel_write=3), str(tmp_path / "b")).wait(30)
    st = client.restore(RestoreConfig(namespace=TO_BAR, executor="processes", parallel=2),
                        str(tmp_path / "b")).wait(120)
    assert st.files == 3 and st.records_written == loaded + 1000 and st.sindexes_created == 5
    assert {d: v[4] for d, v in raw_records(server, "bar").items()} == \
           {d: v[4] for d, v in raw_records(server, "test").items()}


_STDIO_SCRIPT = """
import sys
from aerobackup import BackupConfig, Client, ClusterConfig, RestoreConfig, RestoreNamespaceConfig
client = Client(cluster=ClusterConfig(hosts=(sys.argv[2],)))
if sys.argv[1] == "backup":
    client.backup(BackupConfig(namespace="test", output_file="-")).wait(60)
else:
    cfg = RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"))
    print(client.restore(cfg, "-").wait(60).records_written, file=sys.stderr)
client.close()
"""


def test_backup_to_stdout_piped_into_restore_from_stdin(server: Emulator, tmp_path: Path) -> None:
    import subprocess
    import sys

    many(server, 700)
    addr = f"{server.host}:{server.port}"
    backup = subprocess.run([sys.executable, "-c", _STDIO_SCRIPT, "backup", addr], capture_output=True, timeout=60,
                            check=True)
    assert backup.stdout.startswith(b"Version 3.1\n# namespace test\n# first-file\n")
    restore = subprocess.run([sys.executable, "-c", _STDIO_SCRIPT, "restore", addr], input=backup.stdout,
                             capture_output=True, timeout=60, check=True)
    assert restore.stderr.strip().endswith(b"700")
    assert {d: v[4] for d, v in raw_records(server, "bar").items()} == \
           {d: v[4] for d, v in raw_records(server, "test").items()}


def test_existing_indexes_same_or_conflicting(client: Client, server: Emulator, ac: Any,
                                              conformance_dir: Path) -> None:
    corpus = conformance_dir / "asbackup-4.5.8" / "plain"
    first = client.restore(RestoreConfig(namespace=TO_BAR, wait_for_indexes=True), str(corpus)).wait(60)
    assert first.sindexes_ready == 15
    again = client.restore(RestoreConfig(namespace=TO_BAR, no_generation=True), str(corpus)).wait(60)
    assert first.sindexes_created == 15 and again.sindexes_created == 0 and again.sindexes_existing == 15
    server.reset()
    # an index of the same name on another bin: a clear error naming both definitions
    name = next(line.split()[4] for line in (corpus / "test_00000.asb").read_text(errors="replace").splitlines()
                if line.startswith("* i ") and line.split()[6] != "null")
    answer = ac.info_random_node(f"sindex-create:ns=bar;set=types;indexname={name};indextype=default;"
                                 "indexdata=elsewhere,numeric")
    assert answer.strip().endswith("ok"), answer
    with pytest.raises(ClusterError, match=rf"index '{name}' already exists in namespace 'bar' with another "
                                           r"definition \(set 'types', bin 'elsewhere'"):
        client.restore(RestoreConfig(namespace=TO_BAR), str(corpus)).wait(60)


def test_encryption_key_from_the_secret_agent(client: Client, server: Emulator, tmp_path: Path,
                                              conformance_dir: Path) -> None:
    from aerobackup import SecretAgentConfig
    from aerobackup.testing.secret_agent import FakeSecretAgent

    from tests.pipeline.conftest import aes_ctr_decrypt
    from tests.pipeline.conftest import decode_backup as decode

    pem = (conformance_dir / "asbackup-4.5.8" / "key.pem").read_text()
    many(server, 300)
    with FakeSecretAgent({"keys:pem": pem}) as agent:
        agent_cfg = SecretAgentConfig(address=agent.host, port=agent.port)
        enc = EncryptionPolicy(mode="aes128", key_file="secrets:keys:pem")
        client.backup(BackupConfig(namespace="test", encryption=enc, secret_agent=agent_cfg),
                      str(tmp_path / "b")).wait(30)
        files = read_backup(tmp_path / "b")
        plain = {n: aes_ctr_decrypt(d, pem.encode(), 128) for n, d in files.items()}
        assert len(decode(plain)[0]) == 300
        st = client.restore(RestoreConfig(namespace=TO_BAR, encryption=enc, secret_agent=agent_cfg),
                            str(tmp_path / "b")).wait(30)
    assert st.records_written == 300
