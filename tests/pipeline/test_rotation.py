"""File rotation with a small file limit: every file within the limit except by its last record
(asbackup checks the size before each record, asb-format.md §2.1), every record of the store
exactly once, and the rotation done by splitting one encoded batch rather than encoding record
by record (the encoder is wrapped to count its calls)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from aerobackup import (
    BackupConfig,
    Client,
    ClusterConfig,
    ClusterError,
    CompressionPolicy,
    EncryptionPolicy,
    Record,
    Runtime,
)
from aerobackup.hookspecs import hookimpl
from aerobackup.model import Bin, RecordBatch, UserKey
from aerobackup.plugins.codecs import asb
from aerobackup.plugins.keys import file as key_file
from aerobackup.plugins.storage import local
from aerobackup.plugins.transforms import aes, zstd
from aerobackup.protocols import EncoderOptions
from aerobackup.testing import Emulator
from aerobackup.testing.fakes import FakeCluster, MemStorage, fake_runtime

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

LIMIT = 4096
N = 700


class _Calls:
    encode = 0
    sized = 0


class _CountedAsb(asb.AsbEncoder):
    """The ASB encoder, counting calls (it has ``encode_with_sizes``)."""

    def encode(self, batch: RecordBatch) -> bytes:
        _Calls.encode += 1
        return super().encode(batch)

    def encode_with_sizes(self, batch: RecordBatch) -> tuple[bytes, list[int]]:
        _Calls.sized += 1
        return super().encode_with_sizes(batch)


class _PlainAsb:
    """The ASB encoder without the optional ``encode_with_sizes``: the record-by-record path."""

    def __init__(self, options: EncoderOptions) -> None:
        self._enc = asb.AsbEncoder(options)

    def header(self, namespace: str, first_file: bool) -> bytes:
        return self._enc.header(namespace, first_file)

    def metadata(self, sindexes: Any, udfs: Any) -> bytes:
        return self._enc.metadata(sindexes, udfs)

    def encode(self, batch: RecordBatch) -> bytes:
        _Calls.encode += 1
        return self._enc.encode(batch)


class _BadSizesAsb(asb.AsbEncoder):
    """A faulty capability: sizes that do not add up to the bytes."""

    def encode_with_sizes(self, batch: RecordBatch) -> tuple[bytes, list[int]]:
        data, sizes = super().encode_with_sizes(batch)
        return data, sizes[:-1]


class _Codecs:
    @hookimpl
    def register_codecs(self, register: Any) -> None:
        register("asb-counted", _CountedAsb, asb.AsbDecoder, suffix=".asb")
        register("asb-plain", _PlainAsb, asb.AsbDecoder, suffix=".asb")
        register("asb-badsizes", _BadSizesAsb, asb.AsbDecoder, suffix=".asb")


@pytest.fixture
def rclient(aerospike_server: Emulator) -> Any:
    rt = Runtime.from_plugins([local, asb, zstd, aes, key_file, _Codecs()])
    c = Client(cluster=ClusterConfig(hosts=(f"{aerospike_server.host}:{aerospike_server.port}",)), runtime=rt)
    try:
        yield c
    finally:
        c.close()


def _run(client: Client, folder: Path, encoder: str, **kw: Any) -> tuple[Any, int, int]:
    _Calls.encode = _Calls.sized = 0
    stats = client.backup(BackupConfig(namespace="test", encoder=encoder, file_limit=LIMIT, **kw),
                          str(folder)).wait(60)
    return stats, _Calls.encode, _Calls.sized


def _last_record_start(data: bytes) -> int:
    """Offset of the file's last record (every record of ``many`` has an integer key line)."""
    return data.rindex(b"\n+ k I ") + 1


def test_small_file_limit_rotates_within_the_limit_each_record_once(rclient: Client, server: Emulator,
                                                                     tmp_path: Path) -> None:
    many(server, N, bins=6)
    expected = raw_records(server, "test")
    stats, encodes, sized = _run(rclient, tmp_path / "b", "asb-counted", parallel_read=2)
    files = read_backup(tmp_path / "b")
    assert len(files) >= N * 150 // LIMIT  # ~230 bytes a record: dozens of files
    assert stats.files == len(files)
    short = 0
    for name, data in files.items():
        cut = _last_record_start(data)
        # the size is checked before each record: all but the last record fit below the limit
        assert cut < LIMIT, (name, cut)
        if len(data) < LIMIT:
            short += 1  # the last file of a task
        assert len(decode_stream(data, name)[0]) >= 1, name
    assert short <= 2  # one per task (parallel_read=2): no file was rotated early
    records, _, _ = decode_backup(files)  # fails on a record seen twice
    assert {d: as_tuple(r) for d, r in records.items()} == expected
    assert stats.records_written == N == stats.records_read
    assert stats.bytes_written == stats.bytes_raw == sum(len(d) for d in files.values())
    # one encoding per batch at most twice (plain + with sizes), never one per record
    calls = encodes + sized
    assert sized >= 1 and calls < len(files), (encodes, sized, len(files))


def test_record_by_record_path_still_used_without_the_capability(rclient: Client, server: Emulator,
                                                                 tmp_path: Path) -> None:
    """The counter sees the old path (an encoder without ``encode_with_sizes``) encode per
    record, and the split path gives byte-identical files."""
    many(server, N, bins=6)
    s_new, calls_new, sized = _run(rclient, tmp_path / "new", "asb-counted", parallel_read=1)
    s_old, calls_old, _ = _run(rclient, tmp_path / "old", "asb-plain", parallel_read=1)
    assert calls_old > N * 9 // 10 and calls_new + sized < N // 10, (calls_old, calls_new, sized)
    assert read_backup(tmp_path / "new") == read_backup(tmp_path / "old")
    assert (s_new.records_written, s_new.bytes_raw, s_new.bytes_written, s_new.files) == (
        s_old.records_written, s_old.bytes_raw, s_old.bytes_written, s_old.files)


@pytest.mark.parametrize("transform", ["zstd", "aes"])
def test_with_transforms_same_files_as_record_by_record(rclient: Client, server: Emulator, tmp_path: Path,
                                                        conformance_dir: Path, transform: str) -> None:
    """With transforms the stored size follows their buffering: still checked per record, so
    the files hold the same records as the record-by-record path."""
    many(server, N, bins=6)
    expected = raw_records(server, "test")
    key = conformance_dir / "asbackup-4.5.8" / "key.pem"
    kw: dict[str, Any] = {"parallel_read": 1}
    if transform == "zstd":
        kw["compression"] = CompressionPolicy(mode="zstd", level=1)
    else:
        kw["encryption"] = EncryptionPolicy(mode="aes128", key_file=str(key))
    s_new, calls_new, sized = _run(rclient, tmp_path / "new", "asb-counted", **kw)
    s_old, _, _ = _run(rclient, tmp_path / "old", "asb-plain", **kw)
    pem = key.read_bytes()

    def plain(folder: Path) -> dict[str, bytes]:
        files = read_backup(folder)
        if transform == "zstd":
            return {n: zstd_decompress(d) for n, d in files.items()}
        return {n: aes_ctr_decrypt(d, pem, 128) for n, d in files.items()}

    new = plain(tmp_path / "new")
    assert new == plain(tmp_path / "old")
    assert {d: as_tuple(r) for d, r in decode_backup(new)[0].items()} == expected
    assert (s_new.records_written, s_new.bytes_raw, s_new.files) == (N, s_old.bytes_raw, s_old.files)
    assert calls_new + sized < N // 10
    if transform == "aes":  # CTR writes through: the stored size moves with every record
        assert len(new) > 5
        for name in read_backup(tmp_path / "new"):
            assert _last_record_start(new[name]) + 16 < LIMIT, name


# --- many batches (the fake cluster's batch size), state file and resume ----------------------


def _fake_cluster(n: int, batch: int) -> FakeCluster:
    """n records in 3 partitions (batches of ``batch`` records each)."""
    fc = FakeCluster(batch_size=batch)
    for i in range(n):
        d = bytes([i % 3, 0]) + hashlib.sha1(b"%d" % i).digest()[2:]  # partition i % 3
        text = b"x" * (i * 7919 % 300)  # record sizes from ~150 to ~450 bytes
        fc.put(Record("test", "s", d, UserKey(1, i.to_bytes(8, "big")), 1, 0,
                      (Bin("v", 1, i.to_bytes(8, "big")), Bin("t", 3, text))))
    return fc


def _fake_backup(fc: FakeCluster, encoder: str, **kw: Any) -> tuple[MemStorage, Any]:
    st = MemStorage()
    client = Client(fc, runtime=fake_runtime(asb, _Codecs()))
    stats = client.backup(BackupConfig(namespace="test", encoder=encoder, file_limit=LIMIT, **kw), st).wait(30)
    return st, stats


@pytest.mark.parametrize("batch", [1, 9, 64, 1000])
def test_split_over_batches_same_files_and_state_as_record_by_record(batch: int) -> None:
    """Batches smaller and larger than a file: the files, the state file and the stats are
    those of the record-by-record path; each file is cut right after the record reaching it."""
    fc = _fake_cluster(1200, batch)
    _Calls.encode = _Calls.sized = 0
    new, s_new = _fake_backup(fc, "asb-counted", parallel_read=1, state_file="run.state")
    calls_new = _Calls.encode + _Calls.sized
    _Calls.encode = 0
    old, s_old = _fake_backup(fc, "asb-plain", parallel_read=1, state_file="run.state")
    assert new.objects == old.objects
    assert s_new.records_written == s_old.records_written == 1200
    assert (s_new.bytes_raw, s_new.bytes_written, s_new.files) == (s_old.bytes_raw, s_old.bytes_written, s_old.files)
    batches = 3 * -(-400 // batch)
    # one encoding per batch (two when the plain one turns out to reach the limit)
    assert calls_new <= 2 * batches, (calls_new, batches)
    if batch >= 9:  # the record-by-record path encodes every record of a batch near the limit
        assert calls_new * 4 < _Calls.encode, (calls_new, _Calls.encode)
    digests = []
    for name, data in new.objects.items():
        if name.endswith(".asb"):
            assert _last_record_start(data) < LIMIT, name
            digests += [r.digest for r in decode_stream(data, name)[0]]
    assert sorted(digests) == sorted(fc.data["test"])


@pytest.mark.parametrize("fail_after", [1, 5])
def test_split_path_resume_holds_every_record_once(fail_after: int) -> None:
    fc = _fake_cluster(1500, 40)
    st = MemStorage()
    client = Client(fc, runtime=fake_runtime(asb, _Codecs()))
    cfg: dict[str, Any] = dict(namespace="test", encoder="asb-counted", file_limit=LIMIT, parallel_read=1)
    fc.fail_after_batches = fail_after
    with pytest.raises(ClusterError):
        client.backup(BackupConfig(state_file="run.state", **cfg), st).wait(30)
    partial = [n for n in st.objects if n.endswith(".asb")]
    assert partial  # rotated files were published before the failure
    client.backup(BackupConfig(continue_from="run.state", **cfg), st).wait(30)
    digests = [r.digest for n, d in st.objects.items() if n.endswith(".asb") for r in decode_stream(d, n)[0]]
    assert sorted(digests) == sorted(fc.data["test"])  # every record exactly once


def test_sizes_not_matching_the_bytes_fall_back_to_record_by_record(caplog: pytest.LogCaptureFixture) -> None:
    fc = _fake_cluster(600, 100)
    bad, _ = _fake_backup(fc, "asb-badsizes", parallel_read=1)
    good, _ = _fake_backup(fc, "asb-plain", parallel_read=1)
    assert bad.objects == good.objects and len(bad.objects) > 10
    assert "encode_with_sizes lengths do not match" in caplog.text
