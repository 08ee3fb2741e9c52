"""Native (aerobackup._speedups) vs pure Python on the hot path, with the baselines in the same run.

    python bench/bench_speedups.py [--records 100000] [--e2e 300000] [--repeat 3] [--profile]

Records (issues 5 and 6): a stored string key, set ``users``, 6 to 8 bins: two integers, two
strings, a float, a 64-byte blob, a list and a map (``bench_codecs.py``'s shape), written by the
official client into the emulator (started in its own process).

Measured, records/s, interleaved and best of ``--repeat`` (the machine is shared):

1. scan: the official client's ``Scan.foreach`` with a no-op callback (baseline) vs our
   ``Cluster.scan`` with the C parse and with the pure-Python parse; and the received reply
   protos parsed again in memory (parse cost alone);
2. batch-write request building (1000 rows, in memory), C vs Python;
3. ASB encode (C vs Python) and decode (the decoder as shipped) vs the line-splitting baseline
   of ``bench_codecs.py``;
4. end to end (``--e2e N`` records, 0 to skip): ``Client.backup`` of test to a local directory
   and ``Client.restore`` of it into an emptied ``bar``, each run in a fresh interpreter with
   the C extension and with ``AEROBACKUP_PURE_PYTHON=1`` (best of ``--repeat``), against the
   client's no-op scan and the client's ``batch_write`` (1000 per call) of the same records into
   the emptied ``bar`` (both best of ``--repeat``); with the CPU seconds of our process and of
   the emulator process for each. ``AEROBACKUP_PURE_PYTHON=1`` is set for our process only: the
   emulator uses its own C row parser whenever it is built, for every row of the run.

Targets (issue 14): scan >= 0.8x the client's scan; encode >= 500k/s and decode >= 400k/s;
backup >= 0.6x the client's scan; restore >= 3.0x the client's batch_write.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import aerospike
from aerobackup import speedups
from aerobackup.cluster import Cluster
from aerobackup.config import ClusterConfig
from aerobackup.datapath import PartitionCursor, ScanRequest
from aerobackup.model import RecordBatch
from aerobackup.testing.process import EmulatorProcess
from aerobackup.wire import messages, parse, scan
from aerobackup.wire.messages import WriteFlags
from aerobackup.wire.parse import ParseState
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import operations as ops

BATCH = 1000


def client_records(lo: int, hi: int, namespace: str = "test") -> list[Any]:
    """The bench records as client batch writes (6 to 8 bins, string key stored)."""
    rnd = random.Random(lo)
    recs = []
    for i in range(lo, hi):
        bins = [
            ops.write("id", i),
            ops.write("count", rnd.randint(-(10**6), 10**9)),
            ops.write("name", f"user-{i:08d}"),
            ops.write("email", f"someone.{rnd.randint(0, 10**9)}@example.com"),
            ops.write("score", rnd.random() * 1000),
            ops.write("blob", bytearray(rnd.randbytes(64))),
            ops.write("tags", ["red", "blue", i & 0xFFFF]),
            ops.write("attrs", {"ab": 1, "cd": rnd.random()}),
        ][: 6 + (i % 3)]
        recs.append(br.Write((namespace, "users", f"user:{i}"), bins, policy={"key": aerospike.POLICY_KEY_SEND}))
    return recs


def client_batch_write(client: Any, n: int, namespace: str = "test") -> float:
    """Seconds for the client's batch_write of n records (record building not timed)."""
    return client_batch_write_range(client, 0, n, namespace)


def client_scan(client: Any) -> tuple[int, float]:
    count = [0]

    def noop(_: Any) -> None:
        count[0] += 1

    t0 = time.perf_counter()
    client.scan("test", "users").foreach(noop)
    return count[0], time.perf_counter() - t0


def our_scan(
    cluster: Cluster, parse_fn: Callable[..., int], keep: bool = False
) -> tuple[list[RecordBatch], int, float]:
    """Batches are dropped as they come (as a pipeline does) unless ``keep``: holding 100k
    records' objects makes every cyclic-GC pass slower, which the client's scan never pays."""
    scan.parse_records = parse_fn  # the name scan.py calls
    request = ScanRequest(namespace="test", set_names=("users",),
                          partitions=tuple(PartitionCursor(p) for p in range(4096)))
    kept: list[RecordBatch] = []
    n = 0
    t0 = time.perf_counter()
    for item in cluster.scan(request):
        if isinstance(item, RecordBatch):
            n += len(item)
            if keep:
                kept.append(item)
    return kept, n, time.perf_counter() - t0


LAST_CPU: list[float] = []


def best(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best wall time of each function; runs interleaved so load from other work hits all alike.
    ``LAST_CPU`` gets the best CPU time of each (this process): for single-threaded in-memory
    work, records per CPU-second is the rate on one core, which a loaded machine changes less."""
    out = [float("inf")] * len(fns)
    cpu = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            out[k] = min(out[k], time.perf_counter() - t0)
            cpu[k] = min(cpu[k], time.process_time() - c0)
    LAST_CPU[:] = cpu
    return out


def rebatch(batches: list[RecordBatch], size: int) -> list[RecordBatch]:
    from aerobackup.model import RecordBatchBuilder

    out, builder = [], RecordBatchBuilder("test")
    for batch in batches:
        for rec in batch.records():
            builder.add_record(rec.set, rec.digest, rec.key, rec.generation, rec.void_time)
            for b in rec.bins:
                builder.add_bin(b.name, b.particle_type, b.data)
            if len(builder) == size:
                out.append(builder.finish())
    if len(builder):
        out.append(builder.finish())
    for b in out:
        b.buffer = bytes(b.buffer)
    return out


def line(label: str, n: int, seconds: float, note: str = "", cpu: float | None = None) -> None:
    per_cpu = f"{n / cpu:>10,.0f} rec/CPU-s" if cpu else " " * 20
    print(f"  {label:<38} {n / seconds:>10,.0f} rec/s {per_cpu}  {note}")


def e2e_worker(kind: str, host: str, port: int, directory: str) -> None:
    """Run in a fresh interpreter: one backup or restore, print JSON (seconds, records)."""
    import aerobackup
    from aerobackup.config import BackupConfig, RestoreConfig, RestoreNamespaceConfig

    client = aerospike.client({"hosts": [(host, port)]})
    ab = aerobackup.Client.from_aerospike(client)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "backup":
        stats: Any = ab.backup(BackupConfig(namespace="test", remove_files=True), directory).wait()
        n = stats.records_written
    else:
        config = RestoreConfig(namespace=RestoreNamespaceConfig(source="test", destination="bar"),
                               no_generation=True, batch_size=BATCH,
                               max_async_batches=int(os.environ.get("BENCH_RESTORE_ASYNC", "32")))
        if kind == "validate":
            config = RestoreConfig(validate_only=True, batch_size=BATCH)
        stats = ab.restore(config, directory).wait()
        n = stats.records_written if kind == "restore" else stats.records_read
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    ab.close()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "records": n, "impl": speedups.IMPLEMENTATION}))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


E2E_CPU: dict[str, float] = {}
RESTORE_ASYNC = [32]


def run_e2e(kind: str, host: str, port: int, directory: str, pure: bool, server_pid: int = 0) -> tuple[float, int]:
    env = dict(os.environ, BENCH_RESTORE_ASYNC=str(RESTORE_ASYNC[0]))
    env.pop(speedups.ENV_VAR, None)
    if pure:
        env[speedups.ENV_VAR] = "1"
    s0 = cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run([sys.executable, __file__, "--e2e-worker", kind, host, str(port), directory],
                         env=env, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode:
        raise SystemExit(f"{kind} worker failed: {out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    E2E_CPU["ours"] = float(res["cpu"])
    E2E_CPU["server"] = cpu_seconds(server_pid) - s0 if server_pid else float("nan")
    return float(res["seconds"]), int(res["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--e2e", type=int, default=300000, help="records for the end-to-end part (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile of the native scan")
    parser.add_argument("--restore-async", type=int, default=32,
                        help="max_async_batches of the end-to-end restore (32, the library default)")
    parser.add_argument("--e2e-worker", nargs=4, metavar=("KIND", "HOST", "PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.e2e_worker:
        kind, host, port, directory = args.e2e_worker
        e2e_worker(kind, host, int(port), directory)
        return
    RESTORE_ASYNC[0] = args.restore_async
    native = speedups.native_module()
    if native is None:
        raise SystemExit(f"the C extension is not active ({speedups.REASON}); build it first")
    proc = EmulatorProcess(namespaces=("test", "bar")).start()
    host, port, server_pid = proc.host, proc.port, int(proc.pid or 0)
    tmp = tempfile.mkdtemp(prefix="bench-speedups-")
    try:
        client = aerospike.client({"hosts": [(host, port)], "policies": {
            "batch_write": {"total_timeout": 60000}, "scan": {"total_timeout": 0, "socket_timeout": 60000},
            "info": {"timeout": 60000}}})
        cluster = Cluster.from_client(client, ClusterConfig(hosts=(f"{host}:{port}",)))
        n = args.records
        t_cw = client_batch_write(client, n)
        print(f"records: {n} (6-8 bins, string key stored); emulator in its own process; {speedups.describe()}")

        # 1. scan
        res: dict[str, Any] = {}

        def cs() -> None:
            res["n_client"] = client_scan(client)[0]

        def os_native() -> None:
            res["n_native"] = our_scan(cluster, native.parse_records)[1]

        def os_py() -> None:
            res["n_py"] = our_scan(cluster, parse.parse_records_py)[1]

        t_cs, t_osn, t_osp = best([cs, os_native, os_py], args.repeat)
        batches = our_scan(cluster, native.parse_records, keep=True)[0]
        assert res["n_client"] == res["n_native"] == res["n_py"] == sum(len(b) for b in batches) == n, res
        bufs = [bytes(b.buffer) for b in batches]

        def reparse(fn: Callable[..., int]) -> Callable[[], None]:
            def run() -> None:
                for buf in bufs:
                    fn(buf, 0, len(buf), RecordBatch("test", buf), ParseState())
            return run

        t_pn, t_pp = best([reparse(native.parse_records), reparse(parse.parse_records_py)], args.repeat)
        print("scan parsing")
        line("client Scan.foreach (no-op callback)", n, t_cs, "baseline")
        line("our scan, C parse", n, t_osn, f"ratio to client {t_cs / t_osn:.2f} (target >= 0.8)")
        line("our scan, Python parse", n, t_osp, f"ratio to client {t_cs / t_osp:.2f}")
        c_pn, c_pp = LAST_CPU
        line("parse in memory, C", n, t_pn, f"{c_pp / c_pn:.1f}x Python (CPU)", c_pn)
        line("parse in memory, Python", n, t_pp, "", c_pp)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            our_scan(cluster, native.parse_records)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(10)

        # 2. batch-write requests
        writes = rebatch(batches, BATCH)
        flags = WriteFlags(1, 0, True)

        def build(fn: Callable[..., bytes]) -> Callable[[], None]:
            def run() -> None:
                names: dict[str, bytes] = {}
                for wb in writes:
                    fn(wb, range(len(wb)), wb.void_times, flags, names=names)
            return run

        t_bn, t_bp = best([build(native.batch_write_request), build(messages.batch_write_request_py)], args.repeat)
        print("batch-write request building (1000 rows)")
        line("client batch_write (server included)", n, t_cw, "baseline (1000 per call)")
        c_bn, c_bp = LAST_CPU
        line("build requests, C", n, t_bn, f"{c_bp / c_bn:.1f}x Python (CPU)", c_bn)
        line("build requests, Python", n, t_bp, "", c_bp)

        # 3. ASB encode / decode
        from aerobackup.plugins.codecs import asb_encode
        from aerobackup.plugins.codecs.asb import AsbDecoder
        from aerobackup.protocols import DecoderOptions

        enc_batches = rebatch(batches, 1024)
        data = b"".join(asb_encode.encode_batch_py(b, False) for b in enc_batches)
        assert data == b"".join(native.asb_encode_batch(b, False) for b in enc_batches)
        text = asb_encode.header("test", True) + data

        def enc(fn: Callable[..., bytes], compact: bool) -> Callable[[], None]:
            def run() -> None:
                for b in enc_batches:
                    fn(b, compact)
            return run

        from aerobackup.plugins.codecs import asb_decode

        def decoder(fast: Callable[..., Any]) -> Callable[[], None]:
            def run() -> None:
                asb_decode.parse_records_fast = fast
                got = 0
                for item in AsbDecoder(DecoderOptions(file="bench.asb", batch_size=1024)).decode(io.BytesIO(text)):
                    if isinstance(item, RecordBatch):
                        got += len(item)
                assert got == n, got
            return run

        def split_lines() -> None:
            text.split(b"\n")

        def iter_lines() -> None:
            for _ in io.BytesIO(text):
                pass

        gc.collect()
        gc.freeze()  # the inputs are long-lived: keep the cyclic GC from walking them (as bench_codecs)
        t_en, t_ep, t_enc, t_dec, t_decp, t_split, t_iter = best(
            [enc(native.asb_encode_batch, False), enc(asb_encode.encode_batch_py, False),
             enc(native.asb_encode_batch, True), decoder(native.asb_parse_records_fast),
             decoder(asb_decode.parse_records_fast_py), split_lines, iter_lines], args.repeat)
        asb_decode.parse_records_fast = native.asb_parse_records_fast
        print(f"ASB ({len(text) / n:.0f} bytes per record)")
        c_en, c_ep, c_enc, c_dec, c_decp, c_split, c_iter = LAST_CPU
        line("encode, C", n, t_en, f"{c_ep / c_en:.1f}x Python (CPU; target >= 500k)", c_en)
        line("encode, Python", n, t_ep, "", c_ep)
        line("encode compact, C", n, t_enc, "", c_enc)
        line("decode, C fast path", n, t_dec, f"{c_decp / c_dec:.1f}x Python (CPU; target >= 400k)", c_dec)
        line("decode, Python fast path", n, t_decp, "", c_decp)
        line("baseline: bytes.split lines", n, t_split, f"decode C / split {c_split / c_dec:.2f}", c_split)
        line("baseline: iterate BytesIO lines", n, t_iter, "", c_iter)

        # 4. end to end
        if args.e2e:
            m = max(args.e2e, n)
            if m > n:
                client_batch_write_range(client, n, m)  # the rest of the records (not timed)
            s0, c0 = cpu_seconds(server_pid), time.process_time()
            t_cs_m = client_scan(client)[1]
            client_cpu = {"client Scan.foreach": (t_cs_m, time.process_time() - c0, cpu_seconds(server_pid) - s0)}
            t_cs_m = min([t_cs_m] + [client_scan(client)[1] for _ in range(args.repeat - 1)])
            directory = os.path.join(tmp, "backup")
            rows: dict[bool, tuple[float, float]] = {}
            cpu: dict[str, tuple[float, float, float]] = {}
            # best of --repeat for each, like the client's scan (a fresh interpreter every run)
            for pure in (False, True):
                tag = "Python" if pure else "C"
                tb = tr = float("inf")
                for _ in range(args.repeat):
                    t, nb = run_e2e("backup", host, port, directory, pure, server_pid)
                    if t < tb:
                        tb, cpu[f"backup, {tag}"] = t, (t, E2E_CPU["ours"], E2E_CPU["server"])
                    client.truncate("bar", "users", 0)
                    t, nr = run_e2e("restore", host, port, directory, pure, server_pid)
                    if t < tr:
                        tr, cpu[f"restore, {tag}"] = t, (t, E2E_CPU["ours"], E2E_CPU["server"])
                    assert nb == nr == m, (nb, nr, m)
                tv, nv = run_e2e("validate", host, port, directory, pure, server_pid)
                cpu[f"restore --validate (no writes), {tag}"] = (tv, E2E_CPU["ours"], E2E_CPU["server"])
                assert nv == m, (nv, m)
                rows[pure] = (tb, tr)
            t_cw_m = float("inf")
            for _ in range(args.repeat):  # the restore baseline (inserts), best of --repeat like ours
                client.truncate("bar", "users", 0)
                s0, c0 = cpu_seconds(server_pid), time.process_time()
                t = client_batch_write_range(client, 0, m, "bar")
                if t < t_cw_m:
                    t_cw_m = t
                    client_cpu["client batch_write"] = (t, time.process_time() - c0, cpu_seconds(server_pid) - s0)
            print(f"end to end ({m} records, fresh interpreter each, local disk, "
                  f"restore max_async_batches={args.restore_async})")
            line("client Scan.foreach (no-op)", m, t_cs_m, "baseline")
            line("client batch_write into bar", m, t_cw_m, "baseline (inserts, 1000 per call)")
            for pure, (tb, tr) in rows.items():
                tag = "Python" if pure else "C"
                line(f"backup, {tag}", m, tb, f"ratio to client scan {t_cs_m / tb:.2f} (target >= 0.6)")
                line(f"restore, {tag}", m, tr, f"ratio to client batch_write {t_cw_m / tr:.2f} (target >= 3.0)")
            print("  where the time goes (wall s / our process CPU s / emulator CPU s):")
            for label, (wall, ours, server) in {**client_cpu, **cpu}.items():
                print(f"    {label:<40} {wall:6.2f} / {ours:6.2f} / {server:6.2f}")
        cluster.close()
        client.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        proc.stop()


def client_batch_write_range(client: Any, lo: int, hi: int, namespace: str = "test") -> float:
    total = 0.0
    for a in range(lo, hi, BATCH):
        batch = br.BatchRecords(client_records(a, min(hi, a + BATCH), namespace))
        t0 = time.perf_counter()
        client.batch_write(batch)
        total += time.perf_counter() - t0
    return total


if __name__ == "__main__":
    main()
