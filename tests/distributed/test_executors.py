"""Any ``concurrent.futures.Executor`` passed as ``executor=`` runs the same tasks: a process pool
and a thread pool give the records of a single-process backup, restore equals the source, and a
cancel reaches running tasks through the marker-file flag."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aerobackup import BackupConfig, Client, JobCancelled, RestoreConfig, RestoreNamespaceConfig
from aerobackup.testing import EmulatedCluster

from tests.distributed.test_dask import _records
from tests.pipeline.conftest import load_every_type, many, put_udf, raw_records, read_backup


def test_process_pool_backup_and_restore(client: Client, cluster: EmulatedCluster, ac: Any, tmp_path: Path) -> None:
    typed = load_every_type(cluster, ac)
    put_udf(ac, tmp_path)
    many(cluster, 2000)
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "one")).wait(60)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        st = client.backup(BackupConfig(namespace="test", executor=pool, file_limit=30_000),
                           str(tmp_path / "b")).wait(120)
        rs = client.restore(RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"),
                                          executor=pool), str(tmp_path / "b")).wait(120)
    spread, six, udfs = _records(tmp_path / "b")
    single, _, _ = _records(tmp_path / "one")
    assert spread == single and len(spread) == typed + 2000 and (six, udfs) == (5, 1)
    assert st.records_written == rs.records_written == len(spread) and rs.files == st.files
    assert rs.sindexes_created == 5 and rs.udfs_created == 1
    assert {d: v[4] for d, v in raw_records(cluster, "bar").items()} == \
           {d: v[4] for d, v in raw_records(cluster, "test").items()}


def test_thread_pool_cancel_reaches_running_tasks(client: Client, cluster: EmulatedCluster, tmp_path: Path) -> None:
    many(cluster, 4000)
    with ThreadPoolExecutor(2) as pool:
        job = client.backup(BackupConfig(namespace="test", executor=pool, file_limit=20_000,
                                         records_per_second=2000), str(tmp_path / "b"))
        time.sleep(0.8)
        t0 = time.monotonic()
        job.cancel()
        with pytest.raises(JobCancelled, match="backup cancelled"):
            job.wait(60)
        assert time.monotonic() - t0 < 5
    assert job.stats.records_written < 4000
    assert read_backup(tmp_path / "b") == {}  # no state file: the incomplete backup is removed


_COORDINATOR = """
import sys
from concurrent.futures import ThreadPoolExecutor
from aerobackup import BackupConfig, Client, ClusterConfig
client = Client(cluster=ClusterConfig(hosts=(sys.argv[1],)))
cfg = BackupConfig(namespace="test", executor=ThreadPoolExecutor(2), state_file="run.state", file_limit=20000,
                   records_per_second=2000)
client.backup(cfg, sys.argv[2]).wait(120)
"""


def test_continue_after_the_coordinator_died(client: Client, cluster: EmulatedCluster, tmp_path: Path) -> None:
    """The coordinator (here with its thread workers) is killed: the tasks' journals hold what the
    main state file does not yet; ``continue`` folds them in, so nothing is written twice."""
    import os
    import signal
    import subprocess
    import sys

    many(cluster, 5000)
    expected = set(raw_records(cluster, "test"))
    folder = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-c", _COORDINATOR, f"{cluster.host}:{cluster.port}", str(folder)])
    try:
        deadline = time.monotonic() + 60
        while (not folder.exists() or len(read_backup(folder)) < 6) and time.monotonic() < deadline:
            assert proc.poll() is None, "the backup ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    journals = [n for n in os.listdir(folder) if n.startswith("run.state.task-")]
    assert journals  # the dead run's progress is only there (temp files of killed writes aside)
    partial, _, _ = _records(folder)
    st = client.backup(BackupConfig(namespace="test", continue_from="run.state", file_limit=20_000),
                       str(folder)).wait(60)
    records, six, udfs = _records(folder)
    assert set(records) == expected and st.records_written == len(expected) - len(partial)
    assert not [n for n in os.listdir(folder) if n.startswith("run.state.task-")]
