"""End-to-end restore from local files vs the data path's raw batch writes of the same records.

    python bench/bench_restore.py [--records 1000000] [--bins 7] [--server HOST:PORT]

Starts the emulator in a subprocess (unless ``--server``), loads the records as
``bench_backup.py`` does, backs them up to a temporary directory, then measures, each in a fresh
child process:

1. ``write``: the backup decoded into memory first (not timed), then ``Cluster.write`` of every
   batch (batch size 5000, generation ignored) into namespace ``bar`` — the ceiling;
2. ``restore``: ``Client.restore`` of the directory into ``bar`` (namespace mapping, generation
   ignored, batch size 5000, 8 batches in flight, 4 readers);
3. peak RSS of a restore of the first ~10 % of the files and of all of them.

``bar`` is truncated before each run. Prints records/s, the ratio restore/write (target >= 0.8)
and peak RSS. On a shared 2-core machine take the ratios, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backup import _start_emulator, load  # noqa: E402

BATCH = 5000


def _truncate(server: str) -> None:
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig

    with Cluster.connect(ClusterConfig(hosts=(server,))) as cluster:
        cluster.info("truncate-namespace:namespace=bar")


def child_write(server: str, folder: str) -> dict[str, Any]:
    import io

    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import GenerationPolicy, WritePolicy
    from aerobackup.model import RecordBatch
    from aerobackup.protocols import DecoderOptions
    from aerobackup.runtime import Runtime

    rt = Runtime.discover()
    batches: list[RecordBatch] = []
    for name in sorted(os.listdir(folder)):
        data = Path(folder, name).read_bytes()
        for item in rt.decoder("asb", DecoderOptions(file=name, batch_size=BATCH)).decode(io.BytesIO(data)):
            if isinstance(item, RecordBatch):
                item.namespace = "bar"
                batches.append(item)
    policy = WritePolicy(generation=GenerationPolicy.IGNORE)
    with Cluster.connect(ClusterConfig(hosts=(server,))) as cluster:
        t0 = time.perf_counter()
        n = 0
        for b in batches:
            cluster.write(b, [-1] * len(b), policy)
            n += len(b)
        dt = time.perf_counter() - t0
    return {"seconds": dt, "records": n}


def child_restore(server: str, folder: str, files: int) -> dict[str, Any]:
    from aerobackup import Client, ClusterConfig, RestoreConfig, RestoreNamespaceConfig

    names = sorted(os.listdir(folder))
    inputs: Any = folder if files <= 0 else [str(Path(folder, n)) for n in names[:files]]
    # 8 batches in flight: one emulator node gains nothing from more, and memory is bounded by
    # max_async_batches x batch_size records, whatever the size of the backup
    cfg = RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"), no_generation=True,
                        batch_size=BATCH, max_async_batches=8)
    with Client(cluster=ClusterConfig(hosts=(server,))) as client:
        t0 = time.perf_counter()
        stats = client.restore(cfg, inputs).wait()
        dt = time.perf_counter() - t0
    return {"seconds": dt, "records": stats.records_written}


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _line(label: str, r: dict[str, Any]) -> str:
    return (f"{label:<30} {r['records']:>9,} records {r['seconds']:7.2f} s "
            f"{r['records'] / r['seconds']:>10,.0f} rec/s  peak RSS {r['maxrss_mb']:6.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--bins", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of write and restore (best of)")
    ap.add_argument("--server", help="HOST:PORT of a running emulator or server (default: start one)")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        mode, server, folder, *rest = args.child
        result = child_write(server, folder) if mode == "write" else child_restore(server, folder, int(rest[0]))
        result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    from aerobackup import BackupConfig, Client, ClusterConfig

    proc = None
    server = args.server
    if server is None:
        proc, server = _start_emulator()
    folder = tempfile.mkdtemp(prefix="aerobackup-bench-")
    try:
        load(server, args.records, args.bins)
        with Client(cluster=ClusterConfig(hosts=(server,))) as client:
            # ~20 files, so that parallel readers have work and 10 % of the files is meaningful
            limit = max(1 << 20, args.records * 60 * args.bins // 20)
            client.backup(BackupConfig(namespace="test", file_limit=limit), folder).wait()
        n_files = len(os.listdir(folder))
        print(f"loaded and backed up {args.records:,} records of {args.bins} bins into {n_files} files "
              f"(cpus: {os.cpu_count()})")
        writes, restores = [], []
        for _ in range(args.repeat):
            _truncate(server)
            writes.append(_child(["write", server, folder]))
            _truncate(server)
            restores.append(_child(["restore", server, folder, "0"]))
        best = lambda rs: min(rs, key=lambda r: r["seconds"])  # noqa: E731
        write, restore = best(writes), best(restores)
        print(_line("raw batch writes (ceiling)", write))
        print(_line("restore (threads)", restore))
        _truncate(server)
        small = _child(["restore", server, folder, str(max(1, n_files // 10))])
        print(_line("restore of ~10 % of the files", small))
        rate = lambda r: r["records"] / r["seconds"]  # noqa: E731
        print(f"ratio restore / raw batch writes: {rate(restore) / rate(write):.2f}  (target >= 0.8)")
        print(f"peak RSS: {small['maxrss_mb']:.0f} MB at {small['records']:,} records, "
              f"{restore['maxrss_mb']:.0f} MB at {restore['records']:,} records "
              f"(the raw-write child holds every batch in memory: {write['maxrss_mb']:.0f} MB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
