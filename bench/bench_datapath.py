"""Data-path throughput: our partition scan and batch writes vs the official client, same run.

    python bench/bench_datapath.py [--records 20000] [--server HOST:PORT] [--profile]

Without ``--server`` it starts the emulator in a subprocess (``python -m aerobackup.testing``)
on a free port, so the server does not share our GIL. It then measures, on the same records
(5 small bins like python-client.md §7: integer, 17-byte string, 3-int list, 1-entry map,
32-byte blob; stored user key):

1. the official client's ``batch_write`` (1000 records per call) — loads set ``bench`` of ``test``
   (then rewrites it, alternating with 4, best of ``--repeat``);
2. the official client's ``Scan.foreach`` with a no-op callback;
3. our ``Cluster.scan`` of all 4096 partitions, parse only (iterate the batches), and the same
   reply protos parsed again in memory (the pure-Python parse cost without socket or server);
4. our ``Cluster.write`` of the same records (raw particles, 1000 per call, create-or-update
   without a generation check like the client's) into ``bar``, best of ``--repeat``.

Figures are records/s and the ratios 3/2 (target >= 0.8) and 4/1 (target >= 1.5).
``--profile`` prints a cProfile summary of our scan. On a shared 2-core machine take the ratios,
not the absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from typing import Any

import aerospike
from aerobackup.cluster import Cluster
from aerobackup.config import ClusterConfig
from aerobackup.datapath import GenerationPolicy, PartitionCursor, ScanRequest, WritePolicy
from aerobackup.model import RecordBatch, RecordBatchBuilder
from aerobackup.testing.process import EmulatorProcess
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import operations as ops

BATCH = 1000


def _client_batch_write(client: Any, n: int) -> float:
    t0 = time.perf_counter()
    for lo in range(0, n, BATCH):
        recs = []
        for i in range(lo, min(n, lo + BATCH)):
            recs.append(
                br.Write(
                    ("test", "bench", i),
                    [
                        ops.write("i", i),
                        ops.write("s", f"value-{i:011d}"),
                        ops.write("l", [i, i + 1, i + 2]),
                        ops.write("m", {"k": i}),
                        ops.write("b", bytes(32)),
                    ],
                    policy={"key": aerospike.POLICY_KEY_SEND},
                )
            )
        client.batch_write(br.BatchRecords(recs))
    return time.perf_counter() - t0


def _client_scan(client: Any) -> tuple[int, float]:
    count = [0]

    def noop(_: Any) -> None:
        count[0] += 1

    t0 = time.perf_counter()
    client.scan("test", "bench").foreach(noop)
    return count[0], time.perf_counter() - t0


def _our_scan(cluster: Cluster) -> tuple[list[RecordBatch], float]:
    request = ScanRequest(
        namespace="test", set_names=("bench",), partitions=tuple(PartitionCursor(p) for p in range(4096))
    )
    t0 = time.perf_counter()
    batches = [item for item in cluster.scan(request) if isinstance(item, RecordBatch)]
    return batches, time.perf_counter() - t0


def _reparse(batches: list[RecordBatch], repeat: int) -> float:
    """Best time to parse the received reply protos again, in memory (no socket, no server)."""
    from aerobackup.wire.parse import ParseState, parse_records

    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in batches:
            buf = bytes(b.buffer)
            parse_records(buf, 0, len(buf), RecordBatch(b.namespace, buf), ParseState())
        best = min(best, time.perf_counter() - t0)
    return best


def _rebatch(batches: list[RecordBatch]) -> list[RecordBatch]:
    """Batches of 1000 records, as a decoder would hand them to the writer (not timed)."""
    out, builder = [], RecordBatchBuilder("bar")
    for batch in batches:
        for rec in batch.records():
            builder.add_record(rec.set, rec.digest, rec.key, rec.generation, rec.void_time)
            for b in rec.bins:
                builder.add_bin(b.name, b.particle_type, b.data)
            if len(builder) == BATCH:
                out.append(builder.finish())
    if len(builder):
        out.append(builder.finish())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--server", help="HOST:PORT of a running server (default: start the emulator)")
    parser.add_argument("--repeat", type=int, default=5, help="scans of each kind; the best counts")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    proc = None
    if args.server:
        host, _, port_text = args.server.rpartition(":")
        port = int(port_text)
    else:
        proc = EmulatorProcess(namespaces=("test", "bar")).start()
        host, port = proc.host, proc.port
    try:
        client = aerospike.client({"hosts": [(host, port)], "policies": {"batch_write": {"total_timeout": 60000}}})
        cluster = Cluster.from_client(client, ClusterConfig(hosts=(f"{host}:{port}",)))
        n = args.records
        t_cw = _client_batch_write(client, n)
        # Alternate the two scans and keep the best of each: the machine is shared.
        t_cs = t_os = float("inf")
        for _ in range(args.repeat):
            n_cs, t = _client_scan(client)
            t_cs = min(t_cs, t)
            batches, t = _our_scan(cluster)
            t_os = min(t_os, t)
            n_os = sum(len(b) for b in batches)
            assert n_cs == n_os == n, (n_cs, n_os, n)
        t_parse = _reparse(batches, args.repeat)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            _our_scan(cluster)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        writes = _rebatch(batches)
        # Create-or-update on both sides (the client's batch_write checks no generation); the
        # first round inserts, later rounds update; alternate and keep the best of each.
        policy = WritePolicy(generation=GenerationPolicy.IGNORE)
        t_ow = float("inf")
        for round_ in range(args.repeat):
            if round_:
                t_cw = min(t_cw, _client_batch_write(client, n))
            t0 = time.perf_counter()
            for wb in writes:
                codes = cluster.write(wb, [0] * len(wb), policy)
                assert not any(codes), set(codes)
            t_ow = min(t_ow, time.perf_counter() - t0)
        best_cs, best_os = t_cs, t_os
        print(f"records: {n} (5 bins, key stored); server: {'emulator' if proc else args.server}; pid {os.getpid()}")
        print(f"client batch_write      {n / t_cw:10.0f} rec/s  (best of {args.repeat})")
        print(f"client Scan.foreach     {n / best_cs:10.0f} rec/s  (no-op callback, best of {args.repeat})")
        print(f"data-path scan (parse)  {n / best_os:10.0f} rec/s  (best of {args.repeat}; {len(batches)} batches)")
        print(f"  of which parse        {n / t_parse:10.0f} rec/s  (the same reply protos parsed again in memory)")
        print(f"data-path batch write   {n / t_ow:10.0f} rec/s  (best of {args.repeat})")
        print(f"ratio scan  ours/client {best_cs / best_os:6.2f}  (target >= 0.8)")
        print(f"ratio write ours/client {t_cw / t_ow:6.2f}  (target >= 1.5)")
        cluster.close()
    finally:
        if proc is not None:
            proc.stop()


if __name__ == "__main__":
    main()
