"""End-to-end backup to local disk vs the data path's raw scan of the same records, same run.

    python bench/bench_backup.py [--records 1000000] [--bins 7] [--server HOST:PORT]
                                 [--file-limit BYTES]

Starts the emulator in a subprocess (unless ``--server``), loads ``--records`` records of
``--bins`` small bins (integers, a 20-byte string, a 32-byte blob, a 3-int list) into set
``big`` of namespace ``test`` (10 % of them into set ``small``) with the data path's batch
writes, then measures, each in a fresh child process (so peak RSS is the job's own):

1. ``scan``: ``Cluster.scan`` of all partitions, iterating the batches (parse only) — the ceiling;
2. ``backup p1``: ``Client.backup`` with one task, threads, into a temporary directory
   (1 and 2 alternate ``--repeat`` times after a warm-up scan; best of each);
3. ``backup p2 processes``: two worker processes;
4. peak RSS of a backup of the ``small`` set (~10 % of the records) and of everything.

Prints records/s, MB/s, the ratio backup/scan (target >= 0.8 with one process) and peak RSS.

With ``--file-limit`` every backup rotates files at that size, and one more run measures the
record-by-record rotation (an ASB encoder without ``encode_with_sizes``, so the pipeline encodes
each record of a batch near the limit on its own) as the baseline of the split rotation.
On a shared 2-core machine (the emulator uses one of them) take the ratios, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

from aerobackup.testing.process import EmulatorProcess

BATCH = 5000


def load(server: str, n: int, bins: int) -> None:
    import aerospike
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import GenerationPolicy, WritePolicy
    from aerobackup.model import RecordBatchBuilder, UserKey

    policy = WritePolicy(generation=GenerationPolicy.IGNORE)
    blob = bytes(range(32))
    with Cluster.connect(ClusterConfig(hosts=(server,))) as cluster:
        for lo in range(0, n, BATCH):
            b = RecordBatchBuilder("test")
            for i in range(lo, min(n, lo + BATCH)):
                set_name = "small" if i % 10 == 0 else "big"
                digest = aerospike.calc_digest("test", set_name, i)
                b.add_record(set_name, digest, UserKey(1, struct.pack(">q", i)), 1, 0)
                for j in range(bins):
                    kind = j % 4
                    if kind == 0:
                        b.add_bin(f"i{j}", 1, struct.pack(">q", i * j))
                    elif kind == 1:
                        b.add_bin(f"s{j}", 3, b"value-%014d" % i)
                    elif kind == 2:
                        b.add_bin(f"b{j}", 4, blob)
                    else:
                        b.add_bin(f"l{j}", 20, bytes([0x93, 0x01, 0x02, 0x03]))
            batch = b.finish()
            codes = cluster.write(batch, [-1] * len(batch), policy)
            if any(codes):
                raise SystemExit(f"load failed: {sorted(set(codes))}")


# --- child modes: one measurement per process, so peak RSS is that job's ---------------------


def child_scan(server: str) -> dict[str, Any]:
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import PartitionCursor, ScanRequest
    from aerobackup.model import RecordBatch

    with Cluster.connect(ClusterConfig(hosts=(server,))) as cluster:
        req = ScanRequest(namespace="test", partitions=tuple(PartitionCursor(p) for p in range(4096)))
        t0 = time.perf_counter()
        n = nbytes = 0
        for item in cluster.scan(req):
            if isinstance(item, RecordBatch):
                n += len(item)
                nbytes += len(item.buffer)
        dt = time.perf_counter() - t0
    return {"seconds": dt, "records": n, "bytes": nbytes}


def _each_runtime() -> Any:
    """A runtime whose ``asb-each`` codec is ASB without ``encode_with_sizes`` (old rotation)."""
    from aerobackup import Runtime
    from aerobackup.hookspecs import hookimpl
    from aerobackup.plugins.codecs import asb
    from aerobackup.plugins.storage import local

    class Each:
        def __init__(self, options: Any) -> None:
            self._enc = asb.AsbEncoder(options)
            self.header, self.metadata, self.encode = self._enc.header, self._enc.metadata, self._enc.encode

    class Plugin:
        @hookimpl
        def register_codecs(self, register: Any) -> None:
            register("asb-each", Each, asb.AsbDecoder, suffix=".asb")

    return Runtime.from_plugins([local, asb, Plugin()])


def child_backup(server: str, parallel: int, executor: str, set_name: str | None, file_limit: int = 0,
                 each: bool = False) -> dict[str, Any]:
    from aerobackup import BackupConfig, Client, ClusterConfig

    folder = tempfile.mkdtemp(prefix="aerobackup-bench-")
    try:
        runtime = _each_runtime() if each else None
        with Client(cluster=ClusterConfig(hosts=(server,)), runtime=runtime) as client:
            cfg = BackupConfig(namespace="test", parallel_read=parallel, executor=executor,
                               set_list=(set_name,) if set_name else (), file_limit=file_limit,
                               encoder="asb-each" if each else "asb")
            t0 = time.perf_counter()
            stats = client.backup(cfg, folder).wait()
            dt = time.perf_counter() - t0
        return {"seconds": dt, "records": stats.records_written, "bytes": stats.bytes_written,
                "files": stats.files}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _line(label: str, r: dict[str, Any]) -> str:
    rate = r["records"] / r["seconds"]
    return (f"{label:<28} {r['records']:>9,} records {r['seconds']:7.2f} s {rate:>10,.0f} rec/s "
            f"{r['bytes'] / r['seconds'] / 1e6:7.1f} MB/s  peak RSS {r['maxrss_mb']:6.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--bins", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of scan and backup (best of)")
    ap.add_argument("--server", help="HOST:PORT of a running emulator or server (default: start one)")
    ap.add_argument("--file-limit", type=int, default=0,
                    help="rotate files at this many bytes (0: the default limit); adds a run of the "
                         "record-by-record rotation as its baseline")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        mode, server, *rest = args.child
        if mode == "scan":
            result = child_scan(server)
        else:
            result = child_backup(server, int(rest[0]), rest[1], rest[2] if rest[2] != "-" else None,
                                  int(rest[3]), rest[4] == "each")
        result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    proc = None
    server = args.server
    if server is None:
        proc = EmulatorProcess(namespaces=("test",)).start()
        server = f"{proc.host}:{proc.port}"
    try:
        t0 = time.perf_counter()
        load(server, args.records, args.bins)
        print(f"loaded {args.records:,} records of {args.bins} bins in {time.perf_counter() - t0:.1f} s "
              f"(cpus: {os.cpu_count()})")
        _child(["scan", server])  # warm-up: the emulator orders each partition on its first scan
        best = lambda rs: min(rs, key=lambda r: r["seconds"])  # noqa: E731
        fl = str(args.file_limit)
        scans, p1s, eachs = [], [], []
        for _ in range(args.repeat):  # alternate, best of each: the machine is shared
            scans.append(_child(["scan", server]))
            p1s.append(_child(["backup", server, "1", "threads", "-", fl, "split"]))
            if args.file_limit:  # the baseline, alternated with the rest
                eachs.append(_child(["backup", server, "1", "threads", "-", fl, "each"]))
        scan, p1 = best(scans), best(p1s)
        print(_line("raw scan (ceiling)", scan))
        print(_line("backup, 1 task, threads", p1))
        if args.file_limit:
            each = best(eachs)
            print(_line("  same, record-by-record", each))
            print(f"file limit {args.file_limit:,} B: {p1['files']:,} files; split rotation / record-by-record "
                  f"rotation (1 task): {each['seconds'] / p1['seconds']:.2f}x faster")
        p2 = _child(["backup", server, "2", "processes", "-", fl, "split"])
        print(_line("backup, 2 processes", p2))
        small = _child(["backup", server, "1", "threads", "small", fl, "split"])
        print(_line("backup of 10 % (set small)", small))
        rate = lambda r: r["records"] / r["seconds"]  # noqa: E731
        print(f"ratio backup(1 task) / raw scan: {rate(p1) / rate(scan):.2f}  (target >= 0.8)")
        print(f"ratio backup(2 processes) / backup(1 task): {rate(p2) / rate(p1):.2f}")
        print(f"peak RSS: {small['maxrss_mb']:.0f} MB at {small['records']:,} records, "
              f"{p1['maxrss_mb']:.0f} MB at {p1['records']:,} records")
    finally:
        if proc is not None:
            proc.stop()


if __name__ == "__main__":
    main()
