"""Backup and restore on a real Dask cluster (two worker processes) against the 3-node emulator:
the files hold exactly the records of a single-process backup (checked against the emulator's
store and the codec's decoder), a worker killed mid-job costs nothing, cancel + ``continue``
gives every record once, and a restore through the cluster equals the source."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aerobackup import (
    BackupConfig,
    Client,
    ClusterError,
    ConfigError,
    JobCancelled,
    RestoreConfig,
    RestoreNamespaceConfig,
)
from aerobackup.testing import EmulatedCluster

from tests.pipeline.conftest import as_tuple, decode_backup, load_every_type, many, put_udf, raw_records, read_backup

pytest.importorskip("distributed")

TO_BAR = RestoreNamespaceConfig(source="test", destination="bar")


def _records(folder: Path) -> tuple[dict[bytes, Any], int, int]:
    records, sindexes, udfs = decode_backup(read_backup(folder))  # fails on a record seen twice
    return {d: as_tuple(r) for d, r in records.items()}, len(sindexes), len(udfs)


def test_backup_on_dask_equals_single_process_backup(client: Client, cluster: EmulatedCluster, ac: Any,
                                                     dask_client: Any, tmp_path: Path) -> None:
    typed = load_every_type(cluster, ac)
    put_udf(ac, tmp_path)
    many(cluster, 3000)
    local = client.backup(BackupConfig(namespace="test"), str(tmp_path / "one")).wait(60)
    st = client.backup(BackupConfig(namespace="test", executor=dask_client, file_limit=40_000),
                       str(tmp_path / "dask")).wait(120)
    single, six1, udf1 = _records(tmp_path / "one")
    spread, six2, udf2 = _records(tmp_path / "dask")
    assert set(spread) == set(raw_records(cluster, "test"))  # the emulator's own store: the peer
    assert spread == single and len(spread) == typed + 3000
    assert (six2, udf2) == (six1, udf1) == (5, 1)  # metadata once, in the first file
    files = sorted(read_backup(tmp_path / "dask"))
    assert len(files) > 8 and files[0] == "test_00000.asb"
    assert st.records_written == local.records_written == len(spread)
    assert st.files == len(files) and sorted(st.files_written) == files
    assert st.partitions_done == st.partitions_total == 4096
    assert not [n for n in os.listdir(tmp_path / "dask") if ".task-" in n]  # journals cleaned up


def _worker_pids(dask_client: Any) -> list[int]:
    return sorted(dask_client.run(os.getpid).values())


def test_killed_worker_the_job_completes_with_every_record_once(client: Client, cluster: EmulatedCluster,
                                                               dask_client: Any, tmp_path: Path) -> None:
    many(cluster, 6000)
    expected = set(raw_records(cluster, "test"))
    before = _worker_pids(dask_client)
    killed: list[int] = []

    def kill_one() -> None:  # once files are published: the killed task has progress to resume from
        deadline = time.monotonic() + 30
        while len(read_backup(tmp_path / "b") if (tmp_path / "b").exists() else {}) < 4:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(before[0], signal.SIGKILL)
        killed.append(before[0])

    job = client.backup(BackupConfig(namespace="test", executor=dask_client, file_limit=20_000,
                                     records_per_second=3000), str(tmp_path / "b"))
    threading.Thread(target=kill_one, daemon=True).start()
    st = job.wait(120)
    assert killed
    records, _, _ = _records(tmp_path / "b")
    assert set(records) == expected
    assert st.records_written == len(expected)
    deadline = time.monotonic() + 30  # the nanny restarts the worker: leave the cluster as found
    while len(dask_client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _worker_pids(dask_client) != before


def test_cancel_stops_the_tasks_and_continue_finishes(client: Client, cluster: EmulatedCluster, ac: Any,
                                                      dask_client: Any, tmp_path: Path) -> None:
    load_every_type(cluster, ac)
    many(cluster, 6000)
    expected = set(raw_records(cluster, "test"))
    folder = tmp_path / "b"
    job = client.backup(BackupConfig(namespace="test", executor=dask_client, state_file="run.state",
                                     file_limit=20_000, records_per_second=3000), str(folder))
    time.sleep(1.2)
    started = time.monotonic()
    job.cancel()
    with pytest.raises(JobCancelled):
        job.wait(60)
    assert time.monotonic() - started < 10  # running tasks saw the flag, not only the queued ones
    first, _, _ = _records(folder)
    assert 0 < len(first) < len(expected)
    state = json.loads((folder / "run.state").read_text())
    assert state["pending"] == {} and sorted(state["files"]) == sorted(read_backup(folder))
    assert not [n for n in os.listdir(folder) if ".task-" in n]
    st = client.backup(BackupConfig(namespace="test", executor=dask_client, continue_from="run.state",
                                    file_limit=20_000), str(folder)).wait(120)
    records, sindexes, udfs = _records(folder)
    assert set(records) == expected and (sindexes, udfs) == (5, 0)
    assert st.records_written == len(expected) - len(first)


def test_restore_through_dask_equals_the_source(client: Client, cluster: EmulatedCluster, ac: Any,
                                                dask_client: Any, tmp_path: Path) -> None:
    typed = load_every_type(cluster, ac)
    put_udf(ac, tmp_path)
    many(cluster, 2000)
    client.backup(BackupConfig(namespace="test", parallel_write=4, parallel_read=4), str(tmp_path / "b")).wait(60)
    assert len(read_backup(tmp_path / "b")) == 4
    st = client.restore(RestoreConfig(namespace=TO_BAR, executor=dask_client), str(tmp_path / "b")).wait(120)
    assert (st.files, st.files_total, st.records_written) == (4, 4, typed + 2000)
    assert (st.sindexes_read, st.sindexes_created, st.udfs_read, st.udfs_created) == (5, 5, 1, 1)

    def view(ns: str) -> dict[bytes, Any]:
        return {d: (v[0], v[1], v[3], v[4]) for d, v in raw_records(cluster, ns).items()}

    assert view("bar") == view("test")
    names = sorted(i["indexname"] if "indexname" in i else i.get("indexname") for i in
                   _sindexes(ac, "bar"))
    assert names == ["idx_geo", "idx_int", "idx_list", "idx_mapkeys", "idx_str"]
    assert "hello.lua" in [u["name"] for u in ac.udf_list()]


def _sindexes(ac: Any, ns: str) -> list[dict[str, str]]:
    answer = ac.info_random_node(f"sindex-list:ns={ns}")
    body = answer.split("\t", 1)[-1].strip()
    out = []
    for entry in filter(None, body.split(";")):
        out.append(dict(kv.split("=", 1) for kv in entry.split(":") if "=" in kv))
    return [e for e in out if e.get("ns") == ns]


def test_scheduler_address(client: Client, cluster: EmulatedCluster, dask_client: Any, tmp_path: Path) -> None:
    many(cluster, 500)
    st = client.backup(BackupConfig(namespace="test", executor="dask", scheduler=dask_client.scheduler.address),
                       str(tmp_path / "b")).wait(120)
    records, _, _ = _records(tmp_path / "b")
    assert st.records_written == len(records) == 500


def test_what_a_distributed_job_cannot_do_is_one_clear_error(client: Client, cluster: EmulatedCluster,
                                                             tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"backup\.scheduler: executor 'dask' needs a scheduler address"):
        client.backup(BackupConfig(namespace="test", executor="dask"), str(tmp_path / "b")).wait(30)
    with pytest.raises(ConfigError, match=r"backup\.scheduler: needs executor 'dask' or 'ray'"):
        BackupConfig(namespace="test", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ConfigError, match=r"backup\.output_file: a distributed backup writes a directory"):
        client.backup(BackupConfig(namespace="test", executor="dask", scheduler="tcp://127.0.0.1:1",
                                   output_file="x.asb"), str(tmp_path))
    with pytest.raises(ConfigError, match=r"backup\.executor: a distributed backup needs the destination as a "
                                          r"path or URL"):
        from aerobackup.testing.fakes import MemStorage

        client.backup(BackupConfig(namespace="test", executor="dask", scheduler="tcp://127.0.0.1:1"), MemStorage())
    with pytest.raises(ConfigError, match=r"restore\.executor: a distributed restore needs a cluster config"):
        from aerobackup.testing.fakes import FakeCluster, fake_runtime

        mem = MemStorage()
        with mem.open_write("x.fake") as f:
            f.write(b"")
        Client(FakeCluster(), runtime=fake_runtime()).restore(
            RestoreConfig(executor="dask", scheduler="tcp://127.0.0.1:1", decoder="fake"), mem)


def test_a_failing_task_is_retried(client: Client, cluster: EmulatedCluster, dask_client: Any,
                                   tmp_path: Path) -> None:
    many(cluster, 3000)
    expected = set(raw_records(cluster, "test"))
    cluster.faults.error(11, kinds=("scan",), times=3)  # three scans answer "partition unavailable"
    st = client.backup(BackupConfig(namespace="test", executor=dask_client, file_limit=20_000, max_retries=0),
                       str(tmp_path / "b")).wait(120)
    records, _, _ = _records(tmp_path / "b")
    assert set(records) == expected and st.records_written == len(expected)
    cluster.faults.clear()


def test_a_task_failing_every_time_fails_the_job_naming_the_error(client: Client, cluster: EmulatedCluster,
                                                                  dask_client: Any, tmp_path: Path) -> None:
    many(cluster, 500)
    cluster.faults.error(11, kinds=("scan",))
    with pytest.raises(ClusterError) as info:
        client.backup(BackupConfig(namespace="test", executor=dask_client, max_retries=0),
                      str(tmp_path / "b")).wait(120)
    cluster.faults.clear()
    assert "11" in str(info.value) or "unavailable" in str(info.value).lower()
    assert read_backup(tmp_path / "b") == {} if (tmp_path / "b").exists() else True


def test_cli_executor_dask_with_scheduler(cluster: EmulatedCluster, dask_client: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    many(cluster, 800)
    base = [sys.executable, "-m", "aerobackup", "backup", "-h", cluster.host, "-p", str(cluster.port), "-n", "test",
            "--executor", "dask", "--scheduler", dask_client.scheduler.address]
    out = subprocess.run([*base, "-d", str(tmp_path / "b"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    records, _, _ = _records(tmp_path / "b")
    assert set(records) == set(raw_records(cluster, "test"))
    out = subprocess.run([*base, "-o", str(tmp_path / "one.asb")], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "backup.output_file: a distributed backup writes a directory" in out.stderr
