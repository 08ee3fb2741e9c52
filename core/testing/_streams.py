"""Multi-record commands of the emulator: partition scans/queries (§6) and batch (§7).

Both stream AS_MSGs in protos of up to :data:`CHUNK` bytes and end with a LAST message in a
proto of its own, as a real server does. Records of a partition go out in descending digest
order; partitions in request order (PID_ARRAY first, then DIGEST_ARRAY resume points).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..speedups import load_extension
from ..wire.protocol import Info1, Info3
from ._expr import ExprError, compile_filter
from ._msg import Msg, PlainWrites, header, parse_fields_ops, parse_plain_writes, proto
from ._ops import create_plain, execute, plain_create_flags
from ._store import N_PARTITIONS, NamespaceStore, Record, partition_id

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["CHUNK", "ROW_PARSER", "ROW_PARSER_REASON", "run_batch", "run_scan"]

#: bytes of AS_MSGs gathered before a proto is sent (the real server sends 16-47 KB protos;
#: bigger ones cost the client nothing and save system calls here)
CHUNK = 256 * 1024
_U16LE = struct.Struct("<H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_LAST = proto(3, header(info3=Info3.LAST))
_BVAL_HDR = struct.pack(">IB", 9, 15)
_ROW_HEAD = struct.Struct(">I20sB")
_ROW_0E = struct.Struct(">BBBHIHH")

Send = Callable[[bytes], None]


def _start_error(rc: int) -> bytes:
    """A query refused before any record: one bare header, no LAST bit (§6.2)."""
    return proto(3, header(rc))


def _index_filter(data: bytes) -> Callable[[Record], bool] | None:
    """Predicate for an INDEX_RANGE field (secondary-index query), evaluated without an index."""
    try:
        p = 1
        nlen = data[p]
        name = data[p + 1 : p + 1 + nlen]
        p += 1 + nlen
        ptype = data[p]
        blen = _U32.unpack_from(data, p + 1)[0]
        begin = data[p + 5 : p + 5 + blen]
        p += 5 + blen
        elen = _U32.unpack_from(data, p)[0]
        end = data[p + 4 : p + 4 + elen]
    except (IndexError, struct.error):
        return None
    if ptype == 1:
        lo = int.from_bytes(begin, "big", signed=True)
        hi = int.from_bytes(end, "big", signed=True)

        def in_range(rec: Record) -> bool:
            b = rec.bins.get(name)
            return b is not None and b[0] == 1 and lo <= int.from_bytes(b[1], "big", signed=True) <= hi

        return in_range

    def equal(rec: Record) -> bool:
        b = rec.bins.get(name)
        return b is not None and b[0] == ptype and b[1] == begin

    return equal


def _has_index(em: Emulator, ns: str, set_name: bytes, rng: bytes, index_name: bytes | None) -> bool:
    """Whether an index can serve this INDEX_RANGE (bin, type, set), or the named index exists."""
    if index_name:
        return (ns, index_name.decode("utf-8", errors="replace")) in em.store.sindexes
    nlen = rng[1]
    bin_name = rng[2 : 2 + nlen].decode("utf-8", errors="replace")
    want = {1: "numeric", 3: "string", 4: "blob", 23: "geo2dsphere"}.get(rng[2 + nlen])
    set_text = set_name.decode("utf-8", errors="replace")
    for (n, _name), d in list(em.store.sindexes.items()):
        if n == ns and d.get("bin") == bin_name and d.get("type") == want and d["set"] in ("", set_text):
            return True
    return False


def run_scan(em: Emulator, m: Msg, ns_name: bytes, send: Send) -> None:
    """Answer a partition scan / query, streaming through ``send``."""
    if not m.info3 & Info3.PARTITION_DONE:
        send(_start_error(16))
        return
    pid_f = m.fields.get(11)
    dig_f = m.fields.get(12)
    if pid_f is None and dig_f is None:
        send(_start_error(16))
        return
    ns = em.store.namespaces.get(ns_name.decode("utf-8", errors="replace"))
    if ns is None:
        send(_start_error(20))
        return
    plan: list[tuple[int, bytes | None]] = []
    seen: set[int] = set()
    if pid_f is not None:
        if not pid_f or len(pid_f) % 2:
            send(_start_error(4))
            return
        for (pid,) in _U16LE.iter_unpack(pid_f):
            if pid >= N_PARTITIONS or pid in seen:
                send(_start_error(4))
                return
            seen.add(pid)
            plan.append((pid, None))
    if dig_f is not None:
        if not dig_f or len(dig_f) % 20:
            send(_start_error(4))
            return
        for i in range(0, len(dig_f), 20):
            d = dig_f[i : i + 20]
            pid = partition_id(d)
            if pid in seen:
                send(_start_error(4))
                return
            seen.add(pid)
            plan.append((pid, d))
    pred = None
    if 43 in m.fields:
        try:
            pred = compile_filter(m.fields[43])
        except ExprError:
            send(_start_error(4))
            return
    index_pred = None
    if 22 in m.fields:
        index_pred = _index_filter(m.fields[22])
        if index_pred is None:
            send(_start_error(4))
            return
        if not _has_index(em, ns.name, m.fields.get(1) or b"", m.fields[22], m.fields.get(21)):
            send(_start_error(201))  # a query on a bin without a matching index (as CE answers)
            return
    code = em.faults.error_for("scan", None)
    if code:
        send(proto(3, header(code, info3=Info3.LAST)))
        return
    max_records = _U64.unpack(m.fields[13])[0] if len(m.fields.get(13, b"")) == 8 else 0
    rps = _U32.unpack(m.fields[10])[0] if len(m.fields.get(10, b"")) == 4 else 0
    set_name = m.fields.get(1) or b""
    no_bins = bool(m.info1 & Info1.GET_NO_BINS)
    names = [name for op, _pt, name, _v in m.ops if op == 1] or None
    index_bin = m.fields[22][2 : 2 + m.fields[22][1]] if index_pred is not None else None
    _stream(em, ns, plan, set_name, pred, index_pred, index_bin, no_bins, names, max_records, rps, send)


def _stream(
    em: Emulator,
    ns: NamespaceStore,
    plan: list[tuple[int, bytes | None]],
    set_name: bytes,
    pred: Callable[[Record, NamespaceStore, float], bool] | None,
    index_pred: Callable[[Record], bool] | None,
    index_bin: bytes | None,
    no_bins: bool,
    names: list[bytes] | None,
    max_records: int,
    rps: int,
    send: Send,
) -> None:
    store = em.store
    now_cl = store.clock.cl_seconds()
    now = store.clock.now()
    ns_field = ns.ns_field
    unavailable = em.faults.unavailable
    owns = em.owns
    buf: list[bytes] = []
    size = 0
    count = 0
    started = time.monotonic()
    cut = em.faults.scan_cut()
    for pid, resume in plan:
        if pid in unavailable or not owns(pid):
            buf.append(header(11, pid, info3=Info3.PARTITION_DONE))
            size += 22
            continue
        part = ns.parts[pid]
        digests = ns.ordered(pid)
        if resume is not None:
            digests = [d for d in digests if d < resume]
        for d in digests:
            rec = part.get(d)
            if rec is None or (rec.void_time and rec.void_time <= now_cl):
                continue
            if set_name and rec.set_name != set_name:
                continue
            if pred is not None and not pred(rec, ns, now):
                continue
            if index_pred is not None and not index_pred(rec):
                continue
            if index_bin is not None:
                # index queries add the matched value: BVAL_ARRAY, 8 bytes little-endian (observed)
                fields, nf = rec.meta_fields(ns_field)
                b = rec.bins.get(index_bin)
                if b is not None and b[0] == 1:
                    fields += _BVAL_HDR + int.from_bytes(b[1], "big", signed=True).to_bytes(8, "little", signed=True)
                    nf += 1
                ops, no = (b"", 0) if no_bins else rec.read_ops(names)
                msg = header(0, rec.gen, rec.void_time, 0, nf, no, info1=Info1.GET_NO_BINS if no_bins else 0)
                msg += fields + ops
            elif no_bins:
                fields, nf = rec.meta_fields(ns_field)
                msg = header(0, rec.gen, rec.void_time, 0, nf, 0, info1=Info1.GET_NO_BINS) + fields
            elif names is None:
                msg = rec.scan_message(ns_field)
            else:
                fields, nf = rec.meta_fields(ns_field)
                ops, no = rec.read_ops(names)
                msg = header(0, rec.gen, rec.void_time, 0, nf, no) + fields + ops
            if cut is not None and count >= cut:
                if buf:
                    send(proto(3, b"".join(buf)))
                raise ConnectionAbortedError("scan cut by an injected fault")
            buf.append(msg)
            size += len(msg)
            count += 1
            if size >= CHUNK:
                send(proto(3, b"".join(buf)))
                buf, size = [], 0
            if rps:
                ahead = count / rps - (time.monotonic() - started)
                if ahead > 0:
                    if buf:
                        send(proto(3, b"".join(buf)))
                        buf, size = [], 0
                    time.sleep(ahead)
            if max_records and count >= max_records:
                break
        if max_records and count >= max_records:
            break
    if buf:
        send(proto(3, b"".join(buf)))
    send(_LAST)


def _batch_end(rc: int) -> bytes:
    return proto(3, header(rc, info3=Info3.LAST))


def run_batch(em: Emulator, m: Msg, send: Send) -> None:
    """Answer a batch-index request (§7)."""
    data = m.fields.get(41)
    if data is None or len(data) < 5:
        send(_batch_end(4))
        return
    n_rows = _U32.unpack_from(data, 0)[0]
    parent = data[4]
    if n_rows == 0:
        send(_batch_end(4))
        return
    rows = _parse_rows(data, n_rows)
    if rows is None:
        send(_batch_end(4))
        return
    code = em.faults.error_for("batch", None)
    if code:
        send(_batch_end(code))
        return
    store = em.store
    namespaces = store.namespaces
    unavailable = em.faults.unavailable
    stop_writes = em.faults.stop_writes
    strict = em.cluster is not None and not em.cluster.proxy
    checks = bool(em.faults.has_rules or unavailable or stop_writes or strict)
    out: list[bytes] = []
    size = 0
    first_error = 0
    last_ns: tuple[bytes, NamespaceStore] | None = None
    # One hold of the store lock for all rows (released around sends): with many batches in
    # flight, taking it per row had the connection threads trade the lock and the GIL on every
    # record, which doubled the emulator's CPU per row (32 batches in flight: 6.9 s against 3.1 s
    # for 300k rows, one at a time).
    lock = store.lock
    unknown_namespace = False
    with lock:
        lut = store.clock.now_ns()  # one reading for the batch (milliseconds)
        for idx, digest, info1, info2, info3, gen, ttl, fields, ops in rows:
            ns_name = fields.get(0, b"")
            if last_ns is not None and last_ns[0] == ns_name:
                ns = last_ns[1]
            else:
                found = namespaces.get(ns_name.decode("utf-8", errors="replace"))
                if found is None:
                    unknown_namespace = True
                    break
                ns = found
                last_ns = (ns_name, ns)
            rc = 0
            if checks:
                write = info2 & 1
                rc = em.faults.error_for("write" if write else "read", digest)
                pid = partition_id(digest)
                if not rc and (pid in unavailable or (strict and not em.owns(pid))):
                    rc = 11
                if not rc and write and stop_writes:
                    rc = 8
            if rc:
                msg = header(rc, tt=idx)
            elif isinstance(ops, PlainWrites):
                msg = create_plain(store, ns, digest, info2, ttl, fields, ops, idx, lut) or execute(
                    store, ns, digest, info1, info2, info3, gen, ttl, fields, ops.as_ops(), idx, True
                )
            else:
                msg = execute(store, ns, digest, info1, info2, info3, gen, ttl, fields, ops, idx, True)
            if msg[5] and not first_error:
                first_error = msg[5]
            out.append(msg)
            size += len(msg)
            if size >= CHUNK and parent & 0x0C:
                chunk, out, size = proto(3, b"".join(out)), [], 0
                lock.release()  # a client slow to read must not stall the other connections
                try:
                    send(chunk)
                finally:
                    lock.acquire()
    if unknown_namespace:
        send(_batch_end(4))  # one unknown namespace aborts the batch (observed)
        return
    if parent & 0x04:
        if out:
            send(proto(3, b"".join(out)))
        send(_batch_end(0))
    elif parent & 0x08:
        if out:
            send(proto(3, b"".join(out)))
        send(_batch_end(first_error))
    else:
        send(_batch_end(first_error))


#: ops are PlainWrites when the row may create its record without the general checks
Row = tuple[int, bytes, int, int, int, int, int, dict[int, bytes], list[tuple[int, int, bytes, bytes]] | PlainWrites]


def _fields_prefix(data: bytes, p: int, nf: int) -> tuple[bytes, dict[int, bytes]]:
    """The raw bytes and dict of the first ``nf - 1`` fields at ``p`` (already known to parse)."""
    start = p
    fields: dict[int, bytes] = {}
    for _ in range(nf - 1):
        size = _U32.unpack_from(data, p)[0]
        fields[data[p + 4]] = data[p + 5 : p + 4 + size]
        p += 4 + size
    return data[start:p], fields


def _parse_rows_py(data: bytes, n_rows: int) -> list[Row] | None:
    """Rows of a BATCH_INDEX field; None when malformed (the batch answers 4)."""
    end = len(data)
    p = 5
    rows: list[Row] = []
    prev: Row | None = None
    prev_key = False
    prev_nf = -1
    prev_fields: dict[int, bytes] = {}
    prev_fields_raw = b""
    prefix_raw = b""  # the raw fields of the row before but its last, and their dict
    prefix_fields: dict[int, bytes] = {}
    for _ in range(n_rows):
        if p + 25 > end:
            return None
        idx, digest, flags = _ROW_HEAD.unpack_from(data, p)
        p += 25
        if flags == 0x0E and p + 13 <= end:  # INFO|GEN|TTL: every row a client's batch write sends
            info1, info2, info3, gen, ttl, nf, no = _ROW_0E.unpack_from(data, p)
            p += 13
            if nf == prev_nf and data.startswith(prev_fields_raw, p):
                # the same fields as the row before (namespace and set of a restore batch):
                # share its dict instead of parsing them again (fields are never modified)
                fields = prev_fields
                p += len(prev_fields_raw)
            elif nf == prev_nf and prefix_raw and data.startswith(prefix_raw, p):
                # the same fields but the last (a restore row's user key after namespace and
                # set): copy the row before's dict of the others, parse only that one
                q = p + len(prefix_raw)
                if q + 5 > end:
                    return None
                size = _U32.unpack_from(data, q)[0]
                if size < 1 or q + 4 + size > end:
                    return None
                fields = prefix_fields.copy()
                fields[data[q + 4]] = data[q + 5 : q + 4 + size]
                prev_fields, prev_fields_raw = fields, data[p : q + 4 + size]
                p = q + 4 + size
            else:
                parsed = parse_fields_ops(data, p, end, nf, 0)
                if parsed is None:
                    return None
                fields = parsed[0]
                prev_nf, prev_fields, prev_fields_raw = nf, fields, data[p : parsed[2]]
                prefix_raw, prefix_fields = _fields_prefix(data, p, nf)
                p = parsed[2]
            ops: list[tuple[int, int, bytes, bytes]] | PlainWrites
            plain = None
            if plain_create_flags(info1, info2, info3) and 43 not in fields:
                plain = parse_plain_writes(data, p, end, no)
            if plain is not None:
                ops, p = plain
            else:
                parsed = parse_fields_ops(data, p, end, 0, no)
                if parsed is None:
                    return None
                _, ops, p = parsed
            prev_key = 2 in fields
            row: Row = (idx, digest, info1, info2, info3, gen, ttl, fields, ops)
            rows.append(row)
            prev = row
            continue
        if flags & 0x01:
            if prev is None or prev_key:
                return None
            rows.append((idx, digest, *prev[2:]))
            continue
        if p + 1 > end:
            return None
        info1 = data[p]
        p += 1
        info2 = info3 = gen = ttl = 0
        if flags & 0x02:
            if p + 2 > end:
                return None
            info2, info3 = data[p], data[p + 1]
            p += 2
        if flags & 0x10:
            p += 1
        if flags & 0x04:
            if p + 2 > end:
                return None
            gen = int.from_bytes(data[p : p + 2], "big")
            p += 2
        if flags & 0x08:
            if p + 4 > end:
                return None
            ttl = _U32.unpack_from(data, p)[0]
            p += 4
        if p + 4 > end:
            return None
        nf = int.from_bytes(data[p : p + 2], "big")
        no = int.from_bytes(data[p + 2 : p + 4], "big")
        parsed = parse_fields_ops(data, p + 4, end, nf, no)
        if parsed is None:
            return None
        fields, ops, p = parsed
        prev_key = 2 in fields
        row = (idx, digest, info1, info2, info3, gen, ttl, fields, ops)
        rows.append(row)
        prev = row
    return rows


_NATIVE, ROW_PARSER_REASON = load_extension("testing._emulator_speedups")
#: "native" when batch rows go through the C parser first, else "python" (see docs/speedups.md).
ROW_PARSER = "native" if _NATIVE is not None else "python"


def _parse_rows(data: bytes, n_rows: int) -> list[Row] | None:
    """:func:`_parse_rows_py`, through the C parser when every row is a plain create (a restore's
    batches, a client's batch_write): it returns the same rows, or None for the Python path."""
    if _NATIVE is not None:
        rows: list[Row] | None = _NATIVE.parse_plain_rows(data, n_rows, PlainWrites)
        if rows is not None:
            return rows
    return _parse_rows_py(data, n_rows)
