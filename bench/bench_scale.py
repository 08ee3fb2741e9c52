"""Scale-out: backup and restore records/s with 1, 2 and 4 Dask workers vs one process, same run.

    python bench/bench_scale.py [--records 1000000] [--workers 1,2,4] [--ray] [--server HOST:PORT]

Starts a 3-node emulator in a subprocess (unless ``--server``), loads ``--records`` records of
7 small bins (bench_backup.py's loader), scans them once (the emulator sorts each partition on
its first scan), then measures:

1. baseline, one process: ``Client.backup`` with threads (``parallel_read=1``) and
   ``Client.restore`` with threads (``parallel=4``) into namespace ``bar``;
2. for each worker count: a Dask ``LocalCluster`` of that many worker processes (one thread
   each), the same backup and restore with ``executor=<distributed.Client>``;
3. with ``--ray``: the same on a local Ray runtime of ``max(workers)`` CPUs.

Before each restore ``bar`` is truncated. For every run it prints records/s, the ratio to the
one-process baseline, and the emulator's CPU use over the run (its process CPU seconds / wall
seconds): near 100 % the emulator (one Python process serving all three nodes) is the limit, not
aerobackup. On a shared 2-core machine take the ratios, not the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from aerobackup.testing.process import EmulatorProcess  # noqa: E402
from bench_backup import child_scan, load  # noqa: E402 - the same loader and scan as the backup bench


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when unknown: a --server run)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _truncate(server: str, namespace: str) -> None:
    import aerospike

    host, port = server.rsplit(":", 1)
    c = aerospike.client({"hosts": [(host, int(port))]}).connect()
    try:
        c.info_all(f"truncate-namespace:namespace={namespace}", policy={"timeout": 120_000})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = c.info_random_node(f"sets/{namespace}", policy={"timeout": 30_000})
            if "objects=" not in answer or all(part.split("=", 1)[1] == "0" for part in answer.replace(";", ":")
                                               .split(":") if part.startswith("objects=")):
                return
            time.sleep(0.2)
    finally:
        c.close()


class Runner:
    def __init__(self, server: str, emulator_pid: int | None, records: int, file_limit: int) -> None:
        self.server = server
        self.pid = emulator_pid
        self.records = records
        self.file_limit = file_limit
        self.base: dict[str, float] = {}

    def _timed(self, fn: Callable[[], Any]) -> tuple[Any, float, float]:
        c0, t0 = _cpu_seconds(self.pid), time.perf_counter()
        stats = fn()
        dt = time.perf_counter() - t0
        return stats, dt, (_cpu_seconds(self.pid) - c0) / dt

    def run(self, label: str, executor: Any, folder: str) -> None:
        from aerobackup import BackupConfig, Client, ClusterConfig, RestoreConfig, RestoreNamespaceConfig

        with Client(cluster=ClusterConfig(hosts=(self.server,))) as client:
            shutil.rmtree(folder, ignore_errors=True)
            bcfg = BackupConfig(namespace="test", executor=executor, file_limit=self.file_limit)
            bst, bdt, bcpu = self._timed(lambda: client.backup(bcfg, folder).wait())
            _truncate(self.server, "bar")
            rcfg = RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"),
                                 executor=executor, parallel=4)
            rst, rdt, rcpu = self._timed(lambda: client.restore(rcfg, folder).wait())
        if bst.records_written != self.records or rst.records_written != self.records:
            raise SystemExit(f"{label}: wrote {bst.records_written} / restored {rst.records_written} "
                             f"of {self.records} records")
        b_rate, r_rate = self.records / bdt, self.records / rdt
        self.base.setdefault("backup", b_rate)
        self.base.setdefault("restore", r_rate)
        print(f"{label:<26} backup {b_rate:>9,.0f} rec/s x{b_rate / self.base['backup']:4.2f} "
              f"(emulator CPU {bcpu:4.0%}, {bst.files} files)   "
              f"restore {r_rate:>9,.0f} rec/s x{r_rate / self.base['restore']:4.2f} (emulator CPU {rcpu:4.0%})",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--workers", default="1,2,4", help="Dask worker counts to measure")
    ap.add_argument("--ray", action="store_true", help="also measure on a local Ray runtime")
    ap.add_argument("--server", help="HOST:PORT of a running emulator or server (default: start a 3-node one)")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x]
    proc = None
    server = args.server
    if server is None:
        proc = EmulatorProcess(namespaces=("test", "bar"), nodes=3, start_timeout=30).start()
        server = f"{proc.host}:{proc.port}"
    folder = tempfile.mkdtemp(prefix="aerobackup-scale-")
    try:
        t0 = time.perf_counter()
        load(server, args.records, 7)
        print(f"loaded {args.records:,} records of 7 bins into a 3-node emulator in {time.perf_counter() - t0:.1f} s "
              f"(cpus: {os.cpu_count()})", flush=True)
        child_scan(server)  # warm-up: the emulator orders each partition on its first scan
        file_limit = max(1 << 16, args.records * 160 // 32)  # about 32 files: work for 4 workers' restores
        runner = Runner(server, proc.pid if proc else None, args.records, file_limit)
        runner.run("one process (threads)", "threads", os.path.join(folder, "local"))
        from distributed import Client as DaskClient
        from distributed import LocalCluster

        for n in counts:
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as lc, DaskClient(lc) as dc:
                runner.run(f"dask, {n} worker(s)", dc, os.path.join(folder, f"dask{n}"))
        if args.ray:
            import ray

            ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
            try:
                runner.run(f"ray, {max(counts)} CPUs", "ray", os.path.join(folder, "ray"))
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if proc is not None:
            proc.stop()


if __name__ == "__main__":
    main()
