"""Resume: a backup stopped mid-way (cancel, a source failure, a killed worker process) and
then continued holds every record exactly once, with its metadata; the state file's two-phase
publish is settled against what the storage holds."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aerobackup import BackupConfig, Client, ClusterError, JobCancelled, Record, RestoreConfig
from aerobackup.model import UDF, Bin, IndexType, SIndex, SIndexDataType, partition_id
from aerobackup.state import DONE, BackupState, load_state
from aerobackup.testing import Emulator
from aerobackup.testing.fakes import FakeCluster, MemStorage, fake_runtime

from tests.pipeline.conftest import decode_backup, many, raw_records, read_backup


def _continue(client: Client, folder: Path, **kw: Any) -> Any:
    return client.backup(BackupConfig(namespace="test", continue_from="run.state", file_limit=20_000, **kw),
                         str(folder)).wait(60)


def test_cancel_then_continue_has_every_record_once(client: Client, server: Emulator, loaded: int,
                                                    tmp_path: Path) -> None:
    many(server, 3000)
    expected = set(raw_records(server, "test"))
    folder = tmp_path / "b"
    job: Any = None

    def stop_after_two_files(stats: Any) -> None:
        if stats.files >= 2:
            job.cancel()

    job = client.backup(BackupConfig(namespace="test", state_file="run.state", file_limit=20_000,
                                     records_per_second=4000, parallel_read=2), str(folder),
                        progress=stop_after_two_files, progress_interval=0.02)
    with pytest.raises(JobCancelled) as info:
        job.wait(60)
    partial = sorted(read_backup(folder))
    assert 2 <= len(partial) and info.value.partial_files == partial  # type: ignore[attr-defined]
    first, _, _ = decode_backup(read_backup(folder))
    assert 0 < len(first) < len(expected)
    state = json.loads((folder / "run.state").read_text())
    assert state["pending"] == {} and sorted(state["files"]) == partial
    stats = _continue(client, folder, parallel_read=3)
    records, sindexes, udfs = decode_backup(read_backup(folder))  # fails on a record seen twice
    assert set(records) == expected
    assert stats.records_written == len(expected) - len(first)
    assert len(sindexes) == 5 and len(udfs) == 1  # the first file was published before the cancel


def _fake(n: int) -> FakeCluster:
    fc = FakeCluster(batch_size=50)
    for i in range(n):
        d = hashlib.sha1(b"%d" % i).digest()
        fc.put(Record("test", "s", d, None, 1, 0, (Bin("v", 1, i.to_bytes(8, "big")),)))
    fc.indexes.append(SIndex("test", "s", "idx", IndexType.DEFAULT, "v", SIndexDataType.NUMERIC))
    fc.udf_modules.append(UDF("m.lua", b"-- lua"))
    return fc


def _decode_fake(storage: MemStorage) -> tuple[list[bytes], int, int]:
    rt = fake_runtime()
    digests: list[bytes] = []
    six = udfs = 0
    for name in sorted(storage.objects):
        if not name.endswith(".fake"):
            continue
        for item in rt.decoder("fake").decode(storage.open_read(name)):
            if isinstance(item, SIndex):
                six += 1
            elif isinstance(item, UDF):
                udfs += 1
            else:
                digests += item.digests
    return digests, six, udfs


@pytest.mark.parametrize("fail_after", [0, 7, 30])
def test_source_failure_then_continue(fail_after: int) -> None:
    fc = _fake(2000)
    st = MemStorage()
    client = Client(fc, runtime=fake_runtime())
    cfg = dict(namespace="test", encoder="fake", state_file="run.state", file_limit=4000, parallel_read=1)
    fc.fail_after_batches = fail_after
    with pytest.raises(ClusterError, match="connection reset"):
        client.backup(BackupConfig(**cfg), st).wait(30)  # type: ignore[arg-type]
    before, six, _ = _decode_fake(st)
    assert six == (1 if before else 0)  # nothing published yet: the metadata is still to come
    cont = dict(cfg, continue_from="run.state")
    del cont["state_file"]
    client.backup(BackupConfig(**cont), st).wait(30)  # type: ignore[arg-type]
    digests, six, udfs = _decode_fake(st)
    assert sorted(digests) == sorted(fc.data["test"]) and len(digests) == len(set(digests))
    assert (six, udfs) == (1, 1)


def test_killed_worker_process_then_continue(client: Client, server: Emulator, tmp_path: Path) -> None:
    many(server, 4000)
    expected = set(raw_records(server, "test"))
    folder = tmp_path / "b"
    killed: list[int] = []
    # only this job's workers: other tests may have left helper processes alive in this session
    others = {p.pid for p in multiprocessing.active_children()}

    def kill_one(stats: Any) -> None:
        if stats.records_written > 800 and not killed:
            for child in multiprocessing.active_children():
                if child.pid in others:
                    continue
                os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
                killed.append(child.pid)  # type: ignore[arg-type]
                break

    job = client.backup(BackupConfig(namespace="test", state_file="run.state", file_limit=20_000,
                                     records_per_second=2500, parallel_read=2, executor="processes"),
                        str(folder), progress=kill_one, progress_interval=0.05)
    with pytest.raises(Exception):  # noqa: B017 - the pool reports the dead worker
        job.wait(120)
    assert killed
    _continue(client, folder, parallel_read=2)
    records, sindexes, _ = decode_backup(read_backup(folder))
    assert set(records) == expected and len(sindexes) == 0


def test_pending_files_are_settled_on_load() -> None:
    st = MemStorage()
    state = BackupState(namespace="test", scope=[(1, None), (2, None), (3, None)])
    state.pending = {"a.asb": {1: DONE}, "b.asb": {2: "AAAA"}}
    state.first_file = "b.asb"
    with st.open_write("run.state") as f:
        f.write(state.to_json())
    with st.open_write("a.asb") as f:
        f.write(b"x")  # published before the crash; b.asb never was
    loaded = load_state(st, "run.state")
    assert loaded.partitions == {1: DONE} and loaded.files == ["a.asb"] and not loaded.first_file_done
    assert [c.partition for c in loaded.remaining()] == [2, 3]


_ = (RestoreConfig, partition_id)


def test_failed_backup_without_state_leaves_nothing_that_looks_complete() -> None:
    fc = _fake(2000)
    st = MemStorage()
    fc.fail_after_batches = 25
    client = Client(fc, runtime=fake_runtime())
    with pytest.raises(ClusterError) as info:
        client.backup(BackupConfig(namespace="test", encoder="fake", file_limit=4000), st).wait(30)
    assert info.value.partial_files  # type: ignore[attr-defined]
    assert any("removed" in note and "incomplete" in note for note in info.value.__notes__)
    assert [n for n in st.objects if n.endswith(".fake")] == []


def test_cancel_restore_and_backup_without_state() -> None:
    fc = _fake(3000)
    st = MemStorage()
    client = Client(fc, runtime=fake_runtime())
    job = client.backup(BackupConfig(namespace="test", encoder="fake", file_limit=4000, records_per_second=2000), st)
    time.sleep(0.3)
    job.cancel()
    with pytest.raises(JobCancelled):
        job.wait(30)
    assert job.done and job.cancelled and [n for n in st.objects if n.endswith(".fake")] == []
    client.backup(BackupConfig(namespace="test", encoder="fake"), st).wait(30)
    sink = FakeCluster()
    job = Client(sink, runtime=fake_runtime()).restore(RestoreConfig(decoder="fake", records_per_second=2000), st)
    time.sleep(0.3)
    job.cancel()
    with pytest.raises(JobCancelled):
        job.wait(30)
    assert 0 < job.stats.records_written < 3000 == len(fc.data["test"])
