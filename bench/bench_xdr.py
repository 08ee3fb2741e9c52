"""XDR backup throughput: records/s received and written to ASBX, against a raw scan and a scan
backup of the same data in the same run.

    python bench/bench_xdr.py [--records 50000] [--parallel-write 1] [--zstd]

The source is the emulator with its XDR shipper (``aerobackup.testing.xdr_shipper``) in a
subprocess (``--serve``, started by this script), so the cluster side does not share our GIL.
Records have 6 bins (integer, 17-byte string, 3-int list, 1-entry map, 32-byte blob, float) and
a stored user key. Measured, in this order, into temporary local directories:

1. our ``Cluster.scan`` of all 4096 partitions, parse only (the raw scan);
2. the scan backup (``Client.backup``, ASB files);
3. the XDR backup (``backup_xdr``, ASBX files) — from the first info command to the DC removed,
   polling every 50 ms, so the figure includes the set-up and the final stats polls.

Printed: records/s of each and the ratios 3/1 and 3/2. Take the ratios, not the absolute
figures, on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import msgpack


def serve(records: int) -> None:
    """Run in the subprocess: an emulator with XDR, loaded; serve until stdin closes."""
    import struct

    from aerobackup.testing import Emulator
    from aerobackup.testing.xdr_shipper import XdrShipper

    em = Emulator(namespaces=("test",)).start()
    XdrShipper.attach(em, window=256)
    for i in range(records):
        em.put_raw("test", "bench", i, [
            ("i", 1, i.to_bytes(8, "big", signed=True)),
            ("s", 3, b"value-%011d" % i),
            ("l", 20, msgpack.packb([i, i + 1, i + 2])),
            ("m", 19, msgpack.packb({1: i})),
            ("b", 4, bytes(32)),
            ("f", 2, struct.pack(">d", i / 3)),
        ])
    print(f"ready {em.port}", flush=True)
    sys.stdin.read()
    em.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=50000)
    ap.add_argument("--parallel-write", type=int, default=1)
    ap.add_argument("--zstd", action="store_true", help="compress both backups with zstd")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    from aerobackup import BackupConfig, Client, CompressionPolicy, Runtime
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import PartitionCursor, ScanRequest
    from aerobackup.model import RecordBatch
    from aerobackup.xdr import BackupXdrConfig, backup_xdr

    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(args.records)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit("the emulator did not start")
        port = int(line[1])
        hosts = (f"127.0.0.1:{port}",)
        n = args.records
        rt = Runtime.discover()
        compression = CompressionPolicy(mode="zstd") if args.zstd else CompressionPolicy()

        with Cluster.connect(ClusterConfig(hosts=hosts), use_client=False) as cluster:
            t0 = time.perf_counter()
            got = 0
            request = ScanRequest(namespace="test", partitions=tuple(PartitionCursor(p) for p in range(4096)))
            for item in cluster.scan(request):
                if isinstance(item, RecordBatch):
                    got += len(item)
            scan_s = time.perf_counter() - t0
        assert got == n, f"scan saw {got} records, expected {n}"

        with tempfile.TemporaryDirectory() as d, Client(cluster=ClusterConfig(hosts=hosts), runtime=rt) as client:
            t0 = time.perf_counter()
            stats = client.backup(BackupConfig(namespace="test", compression=compression,
                                               parallel_write=args.parallel_write), d).wait(600)
            backup_s = time.perf_counter() - t0
            assert stats.records_written == n, stats

        with tempfile.TemporaryDirectory() as d, Cluster.connect(ClusterConfig(hosts=hosts), use_client=False) as c:
            config = BackupXdrConfig(namespace="test", local_port=0, info_polling_period_ms=50,
                                     parallel_write=args.parallel_write, compression=compression)
            t0 = time.perf_counter()
            xstats = backup_xdr(config, rt.storage(d), c, runtime=rt, stats_delay=0.05).wait(600)
            xdr_s = time.perf_counter() - t0
            assert xstats.records_written == n, xstats
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)

    rate = {k: n / v for k, v in (("scan", scan_s), ("backup", backup_s), ("xdr", xdr_s))}
    print(f"records: {n}, parallel_write {args.parallel_write}, zstd {args.zstd}")
    print(f"1. raw scan (Cluster.scan):     {rate['scan']:>10,.0f} records/s  ({scan_s:.2f} s)")
    print(f"2. scan backup (ASB):           {rate['backup']:>10,.0f} records/s  ({backup_s:.2f} s)")
    print(f"3. XDR backup (ASBX):           {rate['xdr']:>10,.0f} records/s  ({xdr_s:.2f} s, {size:,} bytes)")
    print(f"ratio XDR / raw scan:     {rate['xdr'] / rate['scan']:.2f}")
    print(f"ratio XDR / scan backup:  {rate['xdr'] / rate['backup']:.2f}")


if __name__ == "__main__":
    main()
