"""Single-record semantics: read, write, delete, touch and operate on one digest.

Shared by single-record commands and batch rows. Each call returns one AS_MSG (header + ops) in
the shape a real CE 8.1.2.0 server sends (wire-protocol.md §4.3, §9.1 and the wire traces):
failed commands answer a bare header carrying the stored generation (0 for deletes and missing
records); CDT/HLL/bit operations beyond a few list operations answer 16 (unsupported).
"""

from __future__ import annotations

import struct

import msgpack

from ..wire.protocol import Info1, Info2, Info3
from ._cdt import cdt_op
from ._expr import MISSING, ExprError, compile_filter, evaluate
from ._hll import hll_modify, hll_read
from ._msg import (
    VALID_PTYPES,
    PlainWrites,
    check_particle,
    empty_result,
    header,
    op_bytes,
)
from ._store import NamespaceStore, Record, Store

__all__ = ["MAX_RECORD_SIZE", "MAX_TTL", "create_plain", "execute", "plain_create_flags"]

#: TTLs above ten years are refused with 4 (observed).
MAX_TTL = 10 * 365 * 86400
#: default max-record-size (observed: 1 MiB exactly is refused with 13).
MAX_RECORD_SIZE = 1024 * 1024
_TTL_NEVER = 0xFFFFFFFF
_TTL_KEEP = 0xFFFFFFFE
_WRITE_OPS = frozenset({1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
_READ_OPS = frozenset({1, 3, 7, 12, 15})
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")


def _value_particle(v: object) -> tuple[int, bytes]:
    """Particle of an expression result."""
    if v is MISSING or v is None:
        return 0, b""
    if isinstance(v, bool):
        return 17, b"\x01" if v else b"\x00"
    if isinstance(v, int):
        return 1, _I64.pack(v)
    if isinstance(v, float):
        return 2, _F64.pack(v)
    if isinstance(v, bytes):
        return 3, v
    raise ExprError("unsupported expression result")


def _void_time(store: Store, ns: NamespaceStore, ttl: int, old: Record | None) -> int:
    if ttl == _TTL_NEVER:
        return 0
    if ttl == _TTL_KEEP:
        if old is not None:
            return old.void_time
        ttl = 0
    if ttl == 0:
        ttl = ns.default_ttl
        if ttl == 0:
            return 0
    return store.clock.cl_seconds() + ttl


def execute(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    info1: int,
    info2: int,
    info3: int,
    gen: int,
    ttl: int,
    fields: dict[int, bytes],
    ops: list[tuple[int, int, bytes, bytes]],
    tt: int = 0,
    batch: bool = False,
) -> bytes:
    """Run one record command; returns its reply AS_MSG (no proto header)."""
    if info2 & Info2.WRITE:
        if not info1 and not info2 & ~_FAST_INFO2 and not info3 & ~_FAST_INFO3 and 43 not in fields:
            fast = _create(store, ns, digest, info2, ttl, fields, ops, tt)
            if fast is not None:
                return fast
        return _write(store, ns, digest, info1, info2, info3, gen, ttl, fields, ops, tt, batch)
    if info1 & Info1.READ:
        return _read(store, ns, digest, info1, fields, ops, tt, batch)
    return header(4, tt=tt)


# The common restore write: a new record made of plain WRITE ops (any generation/exists policy a
# missing record passes). Everything else takes the general path.
_FAST_INFO2 = Info2.WRITE | Info2.RESPOND_ALL_OPS | Info2.GENERATION_GT | Info2.CREATE_ONLY
_FAST_INFO3 = Info3.CREATE_OR_REPLACE
_FAST_PTYPES = frozenset({3, 4, 7, 8, 9, 10, 11, 12, 16, 18})
_I64_LEN = {1: 8, 2: 8, 17: 1}


def _create(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    info2: int,
    ttl: int,
    fields: dict[int, bytes],
    ops: list[tuple[int, int, bytes, bytes]],
    tt: int,
) -> bytes | None:
    """Fast path for writing a record that does not exist yet; None means "take the general
    path" (record exists, an op or value that needs checks, a limit that may be hit)."""
    pid = (digest[0] | (digest[1] << 8)) & 0xFFF
    part = ns.parts[pid]
    if digest in part or not ops or (ttl > MAX_TTL and ttl < _TTL_KEEP):
        return None
    set_name = fields.get(1) or b""
    if len(set_name) > 63:
        return None
    bins: dict[bytes, tuple[int, bytes]] = {}
    size = 0
    for op, ptype, name, val in ops:
        if op != 2 or len(name) > 15 or name in bins:
            return None
        if ptype not in _FAST_PTYPES and _I64_LEN.get(ptype) != len(val):
            rc, ptype, val = check_particle(ptype, val)  # lists, maps, GeoJSON, short integers
            if rc:
                return None
        bins[_NAMES.get(name) or _intern(name)] = (ptype, val)
        size += len(val)
    if size > MAX_RECORD_SIZE - 65536:
        return None
    void = _insert_new(store, ns, pid, digest, set_name, fields.get(2), ttl, bins)
    if void is None:
        return None
    if info2 & _RESPOND_ALL:
        names = tuple(bins)
        results = _WRITE_RESULTS.get(names)
        if results is None:
            results = b"".join(empty_result(2, n) for n in names)
            if len(_WRITE_RESULTS) < 1024:
                _WRITE_RESULTS[names] = results
        return _MSG_HDR.pack(22, 0, 0, 0, 0, 0, 1, void, tt, 0, len(names)) + results
    return _MSG_HDR.pack(22, 0, 0, 0, 0, 0, 1, void, tt, 0, 0)


def _insert_new(
    store: Store,
    ns: NamespaceStore,
    pid: int,
    digest: bytes,
    set_name: bytes,
    key: bytes | None,
    ttl: int,
    bins: dict[bytes, tuple[int, bytes]],
) -> int | None:
    """Store a new record (generation 1) for :func:`_create`; its void time, or None when a
    concurrent write created the record first (the caller then takes the general path).
    :func:`create_plain` does the same inline, under the batch loop's lock."""
    if ttl == _TTL_NEVER or (ttl == 0 and not ns.default_ttl):
        void = 0
    else:
        void = _void_time(store, ns, ttl, None)
    new = Record(digest, set_name, key, 1, void, store.clock.now_ns(), bins)
    with store.lock:
        if digest in ns.parts[pid]:
            return None
        if set_name not in ns.sets:
            ns.note_set(set_name)
        ns.put_new(pid, new)
    return void


_RESPOND_ALL = Info2.RESPOND_ALL_OPS


def plain_create_flags(info1: int, info2: int, info3: int) -> bool:
    """Whether a row with these flags may take :func:`create_plain` (if its record is new)."""
    return bool(info2 & Info2.WRITE) and not info1 and not info2 & ~_FAST_INFO2 and not info3 & ~_FAST_INFO3


#: names tuple -> reply ops of a RESPOND_ALL_OPS write, or None when a name repeats
_SHAPES: dict[tuple[bytes, ...], bytes | None] = {}


def _shape(names: tuple[bytes, ...]) -> bytes | None:
    results = None if len(set(names)) != len(names) else b"".join(empty_result(2, n) for n in names)
    if len(_SHAPES) < 1024:
        _SHAPES[names] = results
    return results


def create_plain(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    info2: int,
    ttl: int,
    fields: dict[int, bytes],
    ops: PlainWrites,
    tt: int,
    lut: int,
) -> bytes | None:
    """:func:`_create` for ops already checked by :func:`parse_plain_writes` (flags checked by
    :func:`plain_create_flags`, no FILTER field): the record keeps the ops' wire bytes as its
    bins. None means "take the general path" with ``ops.as_ops()``.

    For the batch loop, which holds ``store.lock`` over its rows and reads the clock once
    (``lut``: the server keeps last-update times in milliseconds): the insert is inlined here
    rather than shared with :func:`_create` through :func:`_insert_new`, which saves a call, a
    lock and a clock reading per record, about a third of the Python work of a restored row.
    """
    pid = (digest[0] | (digest[1] << 8)) & 0xFFF
    part = ns.parts[pid]
    if digest in part or (ttl > MAX_TTL and ttl < _TTL_KEEP):
        return None
    set_name = fields.get(1) or b""
    if len(set_name) > 63:
        return None
    names = ops.names
    results = _SHAPES.get(names, b"")  # one lookup: hashing the tuple is not cached
    if results == b"":
        results = _shape(names)
    wire = ops.wire
    if results is None or len(wire) > MAX_RECORD_SIZE - 65536:
        return None  # a repeated bin name, or a record that may be too big: the general checks
    if ttl == _TTL_NEVER or (ttl == 0 and not ns.default_ttl):
        void = 0
    else:
        void = _void_time(store, ns, ttl, None)
    if set_name not in ns.sets:
        ns.note_set(set_name)
    ns.put_new(pid, Record(digest, set_name, fields.get(2), 1, void, lut, None, wire, len(names)))
    if info2 & _RESPOND_ALL:
        return _MSG_HDR.pack(22, 0, 0, 0, 0, 0, 1, void, tt, 0, len(names)) + results
    return _MSG_HDR.pack(22, 0, 0, 0, 0, 0, 1, void, tt, 0, 0)


#: bin names seen, shared by every record that has them (saves memory on big data sets)
_NAMES: dict[bytes, bytes] = {}


def _intern(name: bytes) -> bytes:
    if len(_NAMES) < 100_000:
        _NAMES[name] = name
    return name


_MSG_HDR = struct.Struct(">BBBBBBIIIHH")
#: reply ops of a RESPOND_ALL_OPS write, by the tuple of bin names written
_WRITE_RESULTS: dict[tuple[bytes, ...], bytes] = {}


def _filtered_out(store: Store, ns: NamespaceStore, rec: Record, fields: dict[int, bytes]) -> int:
    """0 to go on, 27 when the record's FILTER expression is false, 4 for a bad expression."""
    data = fields.get(43)
    if data is None:
        return 0
    try:
        return 0 if compile_filter(data)(rec, ns, store.clock.now()) else 27
    except (ExprError, TypeError, IndexError, ValueError):
        return 4


def _read(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    info1: int,
    fields: dict[int, bytes],
    ops: list[tuple[int, int, bytes, bytes]],
    tt: int,
    batch: bool,
) -> bytes:
    rec = store.get(ns, digest)
    if rec is None:
        return header(2, tt=tt)
    void = rec.void_time
    set_f = fields.get(1)
    if set_f and set_f != rec.set_name:
        return header(4, rec.gen, void if batch else 0, tt)
    key_f = fields.get(2)
    if key_f is not None and rec.key is not None and key_f != rec.key:
        return header(19, rec.gen, void if batch else 0, tt)
    for op, _pt, name, _v in ops:
        if len(name) > 15:
            return header(21, rec.gen, void if batch else 0, tt)
        if op not in _READ_OPS:
            return header(4, rec.gen, void if batch else 0, tt)
    rc = _filtered_out(store, ns, rec, fields)
    if rc:
        return header(rc, rec.gen, void if batch else 0, tt)
    if info1 & Info1.GET_NO_BINS:
        return header(0, rec.gen, void, tt)
    if info1 & Info1.GET_ALL or not ops:
        body, n = rec.read_ops()
        return header(0, rec.gen, void, tt, 0, n) + body
    out: list[bytes] = []
    bins = rec.bins
    for op, _pt, name, val in ops:
        if op == 1:
            b = bins.get(name)
            if b is not None:
                out.append(op_bytes(1, b[0], name, b[1]))
        elif op == 3:
            rc, pt, pv = cdt_op(dict(bins), 3, name, val)
            if rc:
                return header(rc, rec.gen, 0, tt)
            out.append(op_bytes(3, pt, name, pv))
        elif op == 7:
            try:
                out.append(_exp_read(store, ns, rec, name, val))
            except (ExprError, TypeError, IndexError, ValueError):
                return header(4, rec.gen, 0, tt)
        elif op == 15:
            b = bins.get(name)
            if b is not None:
                rc, pt, pv = hll_read(b, val)
                if rc:
                    return header(rc, rec.gen, 0, tt)
                out.append(op_bytes(15, pt, name, pv))
        else:
            return header(16, rec.gen, 0, tt)
    return header(0, rec.gen, void, tt, 0, len(out)) + b"".join(out)


def _exp_read(store: Store, ns: NamespaceStore, rec: Record, name: bytes, val: bytes) -> bytes:
    tree = msgpack.unpackb(val, raw=True, strict_map_key=False)
    expr = tree[0] if isinstance(tree, list) and len(tree) == 2 and isinstance(tree[0], list) else tree
    pt, pv = _value_particle(evaluate(expr, rec, ns, store.clock.now()))
    return op_bytes(7, pt, name, pv)


def _write(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    info1: int,
    info2: int,
    info3: int,
    gen: int,
    ttl: int,
    fields: dict[int, bytes],
    ops: list[tuple[int, int, bytes, bytes]],
    tt: int,
    batch: bool,
) -> bytes:
    if info1 & Info1.GET_ALL:
        return header(4, tt=tt)
    if info2 & Info2.DURABLE_DELETE:
        return header(25, tt=tt)
    set_f = fields.get(1)
    if set_f is not None and len(set_f) > 63:
        return header(4, tt=tt)
    if ttl > MAX_TTL and ttl < _TTL_KEEP:
        return header(4, tt=tt)
    delete = bool(info2 & Info2.DELETE)
    if not delete and not ops:
        return header(4, tt=tt)
    for op, ptype, name, _val in ops:
        if len(name) > 15:
            return header(21, tt=tt)
        if op not in _WRITE_OPS:
            return header(4, tt=tt)
        if batch and op == 1 and not info1 & Info1.READ:
            return header(4, tt=tt)
        if op == 2 and ptype and ptype not in VALID_PTYPES:
            return header(4, tt=tt)
    with store.lock:
        rec = store.get(ns, digest)
        stored_gen = rec.gen if rec is not None else 0
        fail_void = rec.void_time if (batch and rec is not None) else 0
        fail_gen = 0 if delete else stored_gen
        if rec is not None:
            if set_f and set_f != rec.set_name:
                return header(4, stored_gen, fail_void, tt)
            key_f = fields.get(2)
            if key_f is not None and rec.key is not None and key_f != rec.key:
                return header(19, stored_gen, fail_void, tt)
            rc = _filtered_out(store, ns, rec, fields)
            if rc:
                return header(rc, stored_gen, fail_void, tt)
        if info2 & Info2.GENERATION:
            if gen != stored_gen:
                return header(3, fail_gen, fail_void, tt)
        elif info2 & Info2.GENERATION_GT and gen <= stored_gen:
            return header(3, fail_gen, fail_void, tt)
        if rec is None:
            if info3 & (Info3.UPDATE_ONLY | Info3.REPLACE_ONLY) or delete:
                return header(2, tt=tt)
            if all(op == 11 for op, _p, _n, _v in ops):
                return header(2, tt=tt)
        elif info2 & Info2.CREATE_ONLY:
            return header(5, stored_gen, fail_void, tt)
        if delete:
            ns.remove(digest)
            return header(0, tt=tt)
        return _apply(store, ns, digest, rec, info2, info3, ttl, fields, ops, tt, fail_void)


def _apply(
    store: Store,
    ns: NamespaceStore,
    digest: bytes,
    rec: Record | None,
    info2: int,
    info3: int,
    ttl: int,
    fields: dict[int, bytes],
    ops: list[tuple[int, int, bytes, bytes]],
    tt: int,
    fail_void: int,
) -> bytes:
    stored_gen = rec.gen if rec is not None else 0
    replace = info3 & (Info3.CREATE_OR_REPLACE | Info3.REPLACE_ONLY)
    bins: dict[bytes, tuple[int, bytes]] = {} if (replace or rec is None) else dict(rec.bins)
    respond_all = info2 & Info2.RESPOND_ALL_OPS
    results: list[bytes] = []
    for op, ptype, name, val in ops:
        if op == 2:
            if ptype == 0:
                bins.pop(name, None)
            else:
                rc, pt, v = check_particle(ptype, val)
                if rc:
                    return header(rc, stored_gen, fail_void, tt)
                bins[name] = (pt, v)
            if respond_all:
                results.append(empty_result(2, name))
        elif op == 1:
            b = bins.get(name)
            if b is not None:
                results.append(op_bytes(1, b[0], name, b[1]))
            elif respond_all:
                results.append(op_bytes(1, 0, name, b""))
        elif op == 5:
            cur = bins.get(name)
            if ptype == 1 and len(val) in (1, 2, 4, 8):
                inc = int.from_bytes(val, "big", signed=len(val) == 8)
                if cur is None:
                    bins[name] = (1, _I64.pack(inc))
                elif cur[0] != 1:
                    return header(12, stored_gen, fail_void, tt)
                else:
                    total = (_I64.unpack(cur[1])[0] + inc + 2**63) % 2**64 - 2**63
                    bins[name] = (1, _I64.pack(total))
            elif ptype == 2 and len(val) == 8:
                if cur is None:
                    bins[name] = (2, val)
                elif cur[0] != 2:
                    return header(12, stored_gen, fail_void, tt)
                else:
                    bins[name] = (2, _F64.pack(_F64.unpack(cur[1])[0] + _F64.unpack(val)[0]))
            else:
                return header(4, stored_gen, fail_void, tt)
            if respond_all:
                results.append(empty_result(5, name))
        elif op in (9, 10):
            cur = bins.get(name)
            if ptype not in (3, 4):
                return header(12, stored_gen, fail_void, tt)
            if cur is None:
                bins[name] = (ptype, val)
            elif cur[0] != ptype:
                return header(12, stored_gen, fail_void, tt)
            else:
                bins[name] = (ptype, cur[1] + val if op == 9 else val + cur[1])
            if respond_all:
                results.append(empty_result(op, name))
        elif op == 11:
            if respond_all:
                results.append(op_bytes(11, 0, name, b""))
        elif op == 14:
            bins = {}
            if respond_all:
                results.append(op_bytes(14, 0, name, b""))
        elif op in (3, 4):
            rc, pt, pv = cdt_op(bins, op, name, val)
            if rc:
                return header(rc, stored_gen, fail_void, tt)
            results.append(op_bytes(op, pt, name, pv))
        elif op == 16:
            rc, new_hll, count = hll_modify(bins.get(name), val)
            if rc:
                return header(rc, stored_gen, fail_void, tt)
            if new_hll is not None:
                bins[name] = (18, new_hll)
            if count is not None:
                results.append(op_bytes(16, 1, name, _I64.pack(count)))
            elif respond_all:
                results.append(empty_result(16, name))
        elif op == 15:
            b = bins.get(name)
            if b is not None:
                rc, pt, pv = hll_read(b, val)
                if rc:
                    return header(rc, stored_gen, fail_void, tt)
                results.append(op_bytes(15, pt, name, pv))
        elif op == 7:
            tmp = Record(digest, b"", None, stored_gen, 0, 0, bins)
            try:
                results.append(_exp_read(store, ns, tmp, name, val))
            except (ExprError, TypeError, IndexError, ValueError):
                return header(4, stored_gen, fail_void, tt)
        else:
            return header(16, stored_gen, fail_void, tt)
    if not bins:
        if rec is None:
            return header(2, tt=tt)
        ns.remove(digest)
        return header(0, tt=tt, n_ops=len(results)) + b"".join(results)
    new_gen = stored_gen + 1 if stored_gen < 0xFFFF else 1
    key_f = fields.get(2)
    new = Record(
        digest,
        rec.set_name if rec is not None else (fields.get(1) or b""),
        key_f if key_f is not None else (rec.key if rec is not None else None),
        new_gen,
        _void_time(store, ns, ttl, rec),
        store.clock.now_ns(),
        bins,
    )
    if sum(len(v) for _p, v in bins.values()) > MAX_RECORD_SIZE - 65536 and new.storage_size() > MAX_RECORD_SIZE:
        return header(13, stored_gen, fail_void, tt)
    ns.note_set(new.set_name)
    ns.put(new)
    return header(0, new_gen, new.void_time, tt, 0, len(results)) + b"".join(results)
