"""The same tasks on a local Ray runtime (``executor="ray"`` with Ray initialised in this process):
a backup equal to a single-process one, a restore equal to the source, and (slow) a Ray worker
killed mid-job. Ray starts in about 10 s here, once for the module."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aerobackup import BackupConfig, Client, RestoreConfig, RestoreNamespaceConfig
from aerobackup.testing import EmulatedCluster

from tests.distributed.test_dask import _records
from tests.pipeline.conftest import load_every_type, many, put_udf, raw_records, read_backup

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_backup_and_restore_on_ray(ray_runtime: Any, client: Client, cluster: EmulatedCluster, ac: Any,
                                   tmp_path: Path) -> None:
    typed = load_every_type(cluster, ac)
    put_udf(ac, tmp_path)
    many(cluster, 2000)
    client.backup(BackupConfig(namespace="test"), str(tmp_path / "one")).wait(60)
    st = client.backup(BackupConfig(namespace="test", executor="ray", file_limit=30_000),
                       str(tmp_path / "b")).wait(180)
    spread, six, udfs = _records(tmp_path / "b")
    single, _, _ = _records(tmp_path / "one")
    assert spread == single and set(spread) == set(raw_records(cluster, "test"))
    assert len(spread) == typed + 2000 and (six, udfs) == (5, 1) and st.records_written == len(spread)
    rs = client.restore(RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"),
                                      executor="ray"), str(tmp_path / "b")).wait(180)
    assert rs.records_written == len(spread) and (rs.sindexes_created, rs.udfs_created) == (5, 1)
    assert {d: (v[0], v[1], v[4]) for d, v in raw_records(cluster, "bar").items()} == \
           {d: (v[0], v[1], v[4]) for d, v in raw_records(cluster, "test").items()}


@pytest.mark.slow
def test_killed_ray_worker_every_record_once(ray_runtime: Any, client: Client, cluster: EmulatedCluster,
                                             tmp_path: Path) -> None:
    import psutil

    many(cluster, 6000)
    expected = set(raw_records(cluster, "test"))
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(read_backup(tmp_path / "b") if (tmp_path / "b").exists() else {}) >= 4:
                for p in psutil.process_iter(["cmdline"]):
                    if any("run_backup_piece" in part for part in (p.info["cmdline"] or [])):
                        os.kill(p.pid, signal.SIGKILL)
                        killed.append(p.pid)
                        return
            time.sleep(0.05)

    threading.Thread(target=kill_one, daemon=True).start()
    st = client.backup(BackupConfig(namespace="test", executor="ray", file_limit=20_000, records_per_second=3000),
                       str(tmp_path / "b")).wait(180)
    assert killed
    records, _, _ = _records(tmp_path / "b")
    assert set(records) == expected and st.records_written == len(expected)


@pytest.mark.slow
def test_cancel_on_ray_then_continue(ray_runtime: Any, client: Client, cluster: EmulatedCluster,
                                     tmp_path: Path) -> None:
    from aerobackup import JobCancelled

    many(cluster, 6000)
    expected = set(raw_records(cluster, "test"))
    job = client.backup(BackupConfig(namespace="test", executor="ray", state_file="run.state", file_limit=20_000,
                                     records_per_second=3000), str(tmp_path / "b"))
    time.sleep(1.5)
    t0 = time.monotonic()
    job.cancel()
    with pytest.raises(JobCancelled):
        job.wait(120)
    assert time.monotonic() - t0 < 15
    first, _, _ = _records(tmp_path / "b")
    assert len(first) < len(expected)
    client.backup(BackupConfig(namespace="test", continue_from="run.state", file_limit=20_000),
                  str(tmp_path / "b")).wait(60)
    records, _, _ = _records(tmp_path / "b")
    assert set(records) == expected
