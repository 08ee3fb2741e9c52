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
