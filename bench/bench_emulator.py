"""How fast the emulator serves batch writes and partition scans of 5-bin records.

Run by hand:  python bench/bench_emulator.py [--records 200000] [--batch 1000]

The emulator runs in its own process (python -m aerobackup.testing) so the client side and the
server side do not share a GIL, as when the project's backup/restore tools talk to it. Reported:

* batch write: raw batch-index requests (1000 rows of 5 bins, as a restore sends them), records/s;
* scan: a raw partition scan of every partition read to the LAST message, records/s, first pass
  (each record's reply is built and cached) and second pass; and the official client's
  ``Query.foreach`` with a no-op callback, records/s;
* the baseline measured in the same run: a plain loopback socket streaming the same number of
  bytes as the raw scan received, from a server that only sends prebuilt bytes; the ratio says how
  close the emulator gets to what loopback and a Python reader allow;
* batch rows in-process (no sockets): CPU per written record with the emulator's C row parser
  and with its pure-Python parser, and the ratio;
* where the time goes: the emulator process's CPU seconds per phase, and an in-process profile
  of the batch-write and scan paths (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import socket
import struct
import sys
import threading
import time

import aerospike
from aerobackup.testing import Emulator, EmulatorProcess, _streams
from aerobackup.testing._msg import parse_msg
from aerobackup.testing._streams import run_batch, run_scan

HDR = struct.Struct(">BBBBBBIIIHH")
FIELD = struct.Struct(">IB")
OP = struct.Struct(">IBBBB")
NS, SET = b"test", b"bench"


def _op(name: bytes, ptype: int, value: bytes) -> bytes:
    return OP.pack(4 + len(name) + len(value), 2, ptype, 0, len(name)) + name + value


def _bins(i: int) -> bytes:
    return b"".join(
        [
            _op(b"int", 1, i.to_bytes(8, "big")),
            _op(b"str", 3, b"string-value-%08d" % i),
            _op(b"flt", 2, struct.pack(">d", i / 3)),
            _op(b"blob", 4, os.urandom(32)),
            _op(b"list", 20, b"\x93\x01\x02\x03"),
        ]
    )


def batch_request(start: int, n: int) -> bytes:
    """A batch-index write request of n rows (flags INFO|GEN|TTL, WRITE|RESPOND_ALL_OPS)."""
    fields = FIELD.pack(len(NS) + 1, 0) + NS + FIELD.pack(len(SET) + 1, 1) + SET
    rows = []
    for i in range(start, start + n):
        digest = i.to_bytes(4, "little") + os.urandom(16)
        rows.append(struct.pack(">I", i - start) + digest + b"\x0e\x00\x81\x00" + b"\x00\x00" + b"\x00\x00\x00\x00")
        rows.append(struct.pack(">HH", 2, 5) + fields + _bins(i))
    data = struct.pack(">IB", n, 0x0D) + b"".join(rows)
    body = HDR.pack(22, 0x08, 0, 0, 0, 0, 0, 0, 10000, 1, 0) + FIELD.pack(len(data) + 1, 41) + data
    return (0x0203 << 48 | len(body)).to_bytes(8, "big") + body


def scan_request() -> bytes:
    pids = b"".join(p.to_bytes(2, "little") for p in range(4096))
    fields = (
        FIELD.pack(len(NS) + 1, 0) + NS + FIELD.pack(len(SET) + 1, 1) + SET
        + FIELD.pack(5, 9) + (30000).to_bytes(4, "big")
        + FIELD.pack(9, 7) + os.urandom(8)
        + FIELD.pack(len(pids) + 1, 11) + pids
    )  # fmt: skip
    body = HDR.pack(22, 0x01, 0, 0x04, 0, 0, 0, 0xFFFFFFFF, 0, 5, 0) + fields
    return (0x0203 << 48 | len(body)).to_bytes(8, "big") + body


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = s.recv_into(view[got:])
        if not k:
            raise ConnectionError("closed")
        got += k
    return bytes(buf)


def read_stream(s: socket.socket) -> int:
    """Read protos until the LAST message; returns bytes received."""
    total = 0
    while True:
        hdr = _recv_exact(s, 8)
        size = int.from_bytes(hdr[2:], "big")
        body = _recv_exact(s, size)
        total += 8 + size
        if size == 22 and body[3] & 0x01:
            if body[5]:
                raise RuntimeError(f"stream ended with result {body[5]}")
            return total


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def plain_socket_baseline(nbytes: int, chunk: int = 256 * 1024) -> float:
    """Seconds to stream nbytes in protos of `chunk` bytes over loopback from prebuilt bytes."""
    payload = (0x0203 << 48 | chunk).to_bytes(8, "big") + bytes(chunk)
    last = (0x0203 << 48 | 22).to_bytes(8, "big") + HDR.pack(22, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]

    def serve() -> None:
        conn, _ = lsock.accept()
        conn.recv(65536)
        sent = 0
        while sent < nbytes:
            conn.sendall(payload)
            sent += len(payload)
        conn.sendall(last)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(("127.0.0.1", port)) as s:
        t0 = time.perf_counter()
        s.sendall(b"go")
        read_stream(s)
        elapsed = time.perf_counter() - t0
    t.join()
    lsock.close()
    return elapsed


def in_process_rows(requests: list[bytes]) -> tuple[float, float | None]:
    """CPU seconds per written record of run_batch without sockets, with the C row parser
    (aerobackup.testing._emulator_speedups) and with the Python one; None when C is not built."""
    msgs = [parse_msg(r[8:]) for r in requests]
    n = sum(int.from_bytes(m.fields[41][:4], "big") for m in msgs if m is not None)

    def once() -> float:
        srv = Emulator(port=0, namespaces=("test",))
        c0 = time.process_time()
        for m in msgs:
            assert m is not None
            run_batch(srv, m, lambda b: None)
        return (time.process_time() - c0) / n

    native = _streams._NATIVE
    try:
        _streams._NATIVE = None
        python = min(once() for _ in range(3))
    finally:
        _streams._NATIVE = native
    return python, (min(once() for _ in range(3)) if native is not None else None)


def profile_in_process(records: int, batch: int) -> str:
    """Top functions of the emulator's batch-write and scan paths (no sockets)."""
    srv = Emulator(port=0, namespaces=("test",))
    reqs = [parse_msg(batch_request(i, batch)[8:]) for i in range(0, records, batch)]
    scan = parse_msg(scan_request()[8:])
    prof = cProfile.Profile()
    prof.enable()
    for m in reqs:
        assert m is not None
        run_batch(srv, m, lambda b: None)
    assert scan is not None
    run_scan(srv, scan, NS, lambda b: None)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--profile", action="store_true", help="also profile the server paths in-process")
    args = ap.parse_args()
    n, batch = args.records, args.batch
    print(f"building {n} 5-bin records in {n // batch} batch requests ...", flush=True)
    requests = [batch_request(i, batch) for i in range(0, n, batch)]

    with EmulatorProcess(namespaces=("test",)) as srv:
        pid = srv._proc.pid if srv._proc else 0
        with socket.create_connection((srv.host, srv.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cpu0 = cpu_seconds(pid)
            t0 = time.perf_counter()
            for req in requests:
                s.sendall(req)
                read_stream(s)
            w_elapsed = time.perf_counter() - t0
            w_cpu = cpu_seconds(pid) - cpu0

            cpu0 = cpu_seconds(pid)
            t0 = time.perf_counter()
            s.sendall(scan_request())
            nbytes = read_stream(s)
            s_elapsed = time.perf_counter() - t0
            s_cpu = cpu_seconds(pid) - cpu0

            # a second pass finds every record's reply already built (records are immutable)
            cpu0 = cpu_seconds(pid)
            t0 = time.perf_counter()
            s.sendall(scan_request())
            read_stream(s)
            s2_elapsed = time.perf_counter() - t0
            s2_cpu = cpu_seconds(pid) - cpu0

        client = aerospike.client(srv.client_config())
        count = [0]

        def cb(_rec: object) -> None:
            count[0] += 1

        t0 = time.perf_counter()
        client.query("test", "bench").foreach(cb)
        c_elapsed = time.perf_counter() - t0
        client.close()
        if count[0] != n:
            print(f"official client saw {count[0]} records, expected {n}", file=sys.stderr)
            return 1

    base = plain_socket_baseline(nbytes)
    print(f"batch write (raw, {batch} rows/request): {n / w_elapsed:>10,.0f} records/s"
          f"   emulator CPU {w_cpu / n * 1e6:.1f} us/record")  # fmt: skip
    print(f"scan (raw reader to LAST):              {n / s_elapsed:>10,.0f} records/s"
          f"   emulator CPU {s_cpu / n * 1e6:.2f} us/record, {nbytes / n:.0f} bytes/record")  # fmt: skip
    print(f"scan again (raw, replies cached):       {n / s2_elapsed:>10,.0f} records/s"
          f"   emulator CPU {s2_cpu / n * 1e6:.2f} us/record")  # fmt: skip
    print(f"scan (official client Query.foreach):   {n / c_elapsed:>10,.0f} records/s")
    print(f"baseline: prebuilt bytes over loopback: {n / base:>10,.0f} records/s (same bytes)")
    print(f"ratio raw scan / baseline:              {base / s_elapsed:>10.2f}")
    python, native = in_process_rows(requests[: max(1, 100_000 // batch)])
    print(f"batch rows in-process, Python parser:   {python * 1e6:>10.2f} us CPU/record")
    if native is not None:
        print(f"batch rows in-process, C row parser:    {native * 1e6:>10.2f} us CPU/record"
              f"   {python / native:.2f}x")  # fmt: skip
    if args.profile:
        print(profile_in_process(min(n, 100_000), batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
