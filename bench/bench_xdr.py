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
   polling every 50 ms, so the figure includes the set-up and the final stats polls;
4. the same job against a stand-in cluster whose "XDR" is a subprocess sending the same records
   as pre-built messages (256 in flight), so the figure is our receiver and writer alone, not
   bounded by the emulator's Python shipper;
5. the ASBX restore of 3 into the emptied namespace, against
6. the scan restore (``Client.restore``) of 2 into the emptied namespace (batch writes: one
   request per many records, where the ASBX restore sends one message per record);
7. the ASBX restore against a subprocess that answers every message OK in bulk: our restore's
   own cost (reading, decoding, bit rewrites, routing, pipelined sends), not the emulator's
   per-request cost.

Printed: records/s of each and the ratios 3/1, 3/2, 4/1 and 5/6. Take the ratios, not the absolute
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
        em.put_raw(
            "test",
            "bench",
            i,
            [
                ("i", 1, i.to_bytes(8, "big", signed=True)),
                ("s", 3, b"value-%011d" % i),
                ("l", 20, msgpack.packb([i, i + 1, i + 2])),
                ("m", 19, msgpack.packb({1: i})),
                ("b", 4, bytes(32)),
                ("f", 2, struct.pack(">d", i / 3)),
            ],
        )
    print(f"ready {em.port}", flush=True)
    sys.stdin.read()
    em.stop()


def _messages(records: int) -> list[bytes]:
    import struct

    from aerobackup.testing._store import Record
    from aerobackup.testing.server import key_digest
    from aerobackup.testing.xdr_shipper import ship_message

    out = []
    for i in range(records):
        bins = {
            b"i": (1, i.to_bytes(8, "big", signed=True)),
            b"s": (3, b"value-%011d" % i),
            b"l": (20, msgpack.packb([i, i + 1, i + 2])),
            b"m": (19, msgpack.packb({1: i})),
            b"b": (4, bytes(32)),
            b"f": (2, struct.pack(">d", i / 3)),
        }
        rec = Record(key_digest("bench", i), b"bench", b"\x01" + i.to_bytes(8, "big"), 1, 0, time.time_ns(), bins)
        out.append(ship_message(b"test", rec.digest, rec, now_cl=0))
    return out


def blast(host: str, port: int, records: int) -> None:
    """Run in a subprocess: ship pre-built messages, 256 in flight, until every ack is in."""
    import socket
    import threading

    msgs = _messages(records)
    sock = socket.create_connection((host, port))
    print(f"sending {time.time()!r}", flush=True)  # the parent's clock starts here
    room = threading.Semaphore(256)

    def acks() -> None:
        need, buf = 30 * records, 0
        while buf < need:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("receiver closed the connection")
            for _ in range((buf + len(data)) // 30 - buf // 30):
                room.release()
            buf += len(data)

    reader = threading.Thread(target=acks)
    reader.start()
    for lo in range(0, records, 64):
        chunk = msgs[lo : lo + 64]
        for _ in chunk:
            room.acquire()
        sock.sendall(b"".join(chunk))
    reader.join()
    sock.close()


def answer(port_file: str) -> None:
    """Run in a subprocess: a one-node "server" answering every AS_MSG with a bare OK reply, in
    bulk (one send per read), so a restore's own cost shows. One thread per connection."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    with open(port_file, "w") as f:
        f.write(str(listener.getsockname()[1]))
    ok = bytes.fromhex("0203000000000016") + bytes([22]) + bytes(21)

    def serve_one(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            buf += data
            pos, count = 0, 0
            while len(buf) - pos >= 8:
                size = int.from_bytes(buf[pos + 2 : pos + 8], "big")
                if len(buf) - pos - 8 < size:
                    break
                pos += 8 + size
                count += 1
            buf = buf[pos:]
            if count:
                conn.sendall(ok * count)
        conn.close()

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


class _AnsweringCluster:
    """``owner_node`` for restore_asbx: every partition on the ``--answer`` subprocess."""

    def __init__(self, port: int) -> None:
        from aerobackup.wire.connection import ConnectionPool

        class Node:
            address = f"127.0.0.1:{port}"
            pool = ConnectionPool("127.0.0.1", port)

        self.node = Node()

    def owner_node(self, namespace: str, partition: int) -> object:
        return self.node


class _StandIn:
    """A one-node "cluster" for the job: its XDR is a ``--blast`` subprocess."""

    class _Node:
        name = "BENCH"

    def __init__(self, records: int) -> None:
        self.records = records
        self.nodes = [self._Node()]
        self.dest = ""
        self.proc: subprocess.Popen[str] | None = None

    def info(self, command: str, node: str | None = None) -> str:
        if "node-address-port=" in command:
            self.dest = command.split("node-address-port=")[1].split(";")[0]
        elif "action=add;rewind" in command:
            host, port = self.dest.rsplit(":", 1)
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--blast", f"{host}:{port}:{self.records}"],
                stdout=subprocess.PIPE,
                text=True,
            )
        elif command.startswith("get-stats"):
            done = self.proc is not None and self.proc.poll() is not None
            return "lag=0;recoveries=1;recoveries_pending=0" if done else "lag=1;recoveries=0;recoveries_pending=1"
        return "ok"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=50000)
    ap.add_argument("--parallel-write", type=int, default=1)
    ap.add_argument("--zstd", action="store_true", help="compress both backups with zstd")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--blast", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--answer", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.answer is not None:
        answer(args.answer)
        return
    if args.blast is not None:
        host, port, count = args.blast.rsplit(":", 2)
        blast(host, int(port), int(count))
        return

    from aerobackup import BackupConfig, Client, CompressionPolicy, RestoreConfig, Runtime
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import PartitionCursor, ScanRequest
    from aerobackup.model import RecordBatch
    from aerobackup.xdr import BackupXdrConfig, backup_xdr
    from aerobackup.xdr.restore_asbx import restore_asbx

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.records)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
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

        asb_dir = tempfile.TemporaryDirectory()
        asbx_dir = tempfile.TemporaryDirectory()
        with Client(cluster=ClusterConfig(hosts=hosts), runtime=rt) as client:
            t0 = time.perf_counter()
            stats = client.backup(
                BackupConfig(namespace="test", compression=compression, parallel_write=args.parallel_write),
                asb_dir.name,
            ).wait(600)
            backup_s = time.perf_counter() - t0
            assert stats.records_written == n, stats

        with Cluster.connect(ClusterConfig(hosts=hosts), use_client=False) as c:
            config = BackupXdrConfig(
                namespace="test",
                local_port=0,
                info_polling_period_ms=50,
                parallel_write=args.parallel_write,
                compression=compression,
            )
            t0 = time.perf_counter()
            xstats = backup_xdr(config, rt.storage(asbx_dir.name), c, runtime=rt, stats_delay=0.05).wait(600)
            xdr_s = time.perf_counter() - t0
            assert xstats.records_written == n, xstats
            size = sum(os.path.getsize(os.path.join(asbx_dir.name, f)) for f in os.listdir(asbx_dir.name))

            # restores into the emptied namespace: ASBX (ours) against ASB (the scan restore)
            c.info("truncate-namespace:namespace=test")
            t0 = time.perf_counter()
            rs = restore_asbx(
                RestoreConfig(decoder="asbx", compression=compression), rt.storage(asbx_dir.name), c, runtime=rt
            ).wait(600)
            asbx_restore_s = time.perf_counter() - t0
            assert rs.records_written == n, rs
            c.info("truncate-namespace:namespace=test")
        with Client(cluster=ClusterConfig(hosts=hosts), runtime=rt) as client:
            t0 = time.perf_counter()
            rs2 = client.restore(RestoreConfig(compression=compression), asb_dir.name).wait(600)
            asb_restore_s = time.perf_counter() - t0
            assert rs2.records_written == n, rs2
        with tempfile.TemporaryDirectory() as d:
            port_file = os.path.join(d, "port")
            answering = subprocess.Popen([sys.executable, __file__, "--answer", port_file])
            try:
                while not os.path.exists(port_file) or not open(port_file).read():
                    time.sleep(0.01)
                fake = _AnsweringCluster(int(open(port_file).read()))
                t0 = time.perf_counter()
                rs3 = restore_asbx(
                    RestoreConfig(decoder="asbx", compression=compression), rt.storage(asbx_dir.name), fake, runtime=rt
                ).wait(600)
                asbx_alone_s = time.perf_counter() - t0
                assert rs3.records_written == n, rs3
            finally:
                answering.kill()
                answering.wait()
        asb_dir.cleanup()
        asbx_dir.cleanup()

        with tempfile.TemporaryDirectory() as d:
            stand_in = _StandIn(n)
            config = BackupXdrConfig(
                namespace="test",
                local_port=0,
                info_polling_period_ms=20,
                parallel_write=args.parallel_write,
                compression=compression,
            )
            job = backup_xdr(config, rt.storage(d), stand_in, runtime=rt, stats_delay=0.0)
            rstats = job.wait(600)
            end = time.time()
            assert stand_in.proc is not None and stand_in.proc.stdout is not None
            # from the sender's first message (building them is not our work) to the job's end
            rx_s = end - float(stand_in.proc.stdout.readline().split()[1])
            assert rstats.records_written == n, rstats
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)

    rate = {
        k: n / v
        for k, v in (
            ("scan", scan_s),
            ("backup", backup_s),
            ("xdr", xdr_s),
            ("rx", rx_s),
            ("asbx_restore", asbx_restore_s),
            ("asb_restore", asb_restore_s),
            ("asbx_alone", asbx_alone_s),
        )
    }
    print(f"records: {n}, parallel_write {args.parallel_write}, zstd {args.zstd}")
    print(f"1. raw scan (Cluster.scan):     {rate['scan']:>10,.0f} records/s  ({scan_s:.2f} s)")
    print(f"2. scan backup (ASB):           {rate['backup']:>10,.0f} records/s  ({backup_s:.2f} s)")
    print(f"3. XDR backup (ASBX):           {rate['xdr']:>10,.0f} records/s  ({xdr_s:.2f} s, {size:,} bytes)")
    print(f"4. receiver + writer alone:     {rate['rx']:>10,.0f} records/s  ({rx_s:.2f} s)")
    print(f"5. ASBX restore:                {rate['asbx_restore']:>10,.0f} records/s  ({asbx_restore_s:.2f} s)")
    print(f"6. ASB restore (scan backup's): {rate['asb_restore']:>10,.0f} records/s  ({asb_restore_s:.2f} s)")
    print(f"7. ASBX restore, server answering in bulk: {rate['asbx_alone']:>10,.0f} records/s ({asbx_alone_s:.2f} s)")
    print(f"ratio XDR / raw scan:     {rate['xdr'] / rate['scan']:.2f}")
    print(f"ratio receiver alone / raw scan:  {rate['rx'] / rate['scan']:.2f}")
    print(f"ratio XDR / scan backup:  {rate['xdr'] / rate['backup']:.2f}")
    print(f"ratio ASBX restore / ASB restore:  {rate['asbx_restore'] / rate['asb_restore']:.2f}")


if __name__ == "__main__":
    main()
