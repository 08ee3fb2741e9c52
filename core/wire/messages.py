"""Request builders: partition scans (§6.1), batch writes (§7.1–7.2) and single writes (§4.3).

Writes send every bin with its original particle type and bytes, sliced straight out of the
RecordBatch buffer; the user key goes out only for records that carry one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from .. import speedups
from ..model import RecordBatch
from .protocol import AS_MSG_HEADER, FIELD_HEADER, Field, Info1, Info3, MsgType, Op, pack_proto

__all__ = [
    "WriteFlags",
    "batch_write_request",
    "field",
    "scan_request",
    "single_write_request",
]

_ROW = struct.Struct(">I20sBBBBHIHH")  # row index, digest, flags, info1, info2, info3, gen, ttl, nf, nops
_OP_HEADER = struct.Struct(">IBBBB")
_U16LE = struct.Struct("<H")
_ROW_FLAGS = 0x02 | 0x04 | 0x08  # INFO | GEN | TTL (§7.2)
_PARENT_FLAGS = 0x08 | 0x04 | 0x01  # report errors per row, respond for every row, allow inline


def field(ftype: int, data: bytes) -> bytes:
    return FIELD_HEADER.pack(len(data) + 1, ftype) + data


class WriteFlags:
    """info2/info3 bits and whether the generation is sent, from a WritePolicy."""

    __slots__ = ("info2", "info3", "use_generation")

    def __init__(self, info2: int, info3: int, use_generation: bool) -> None:
        self.info2 = info2
        self.info3 = info3
        self.use_generation = use_generation


def scan_request(
    namespace: str,
    partitions: Sequence[int],
    resume: Sequence[bytes],
    *,
    set_name: str | None = None,
    bin_names: Sequence[str] = (),
    no_bins: bool = False,
    max_records: int = 0,
    records_per_second: int = 0,
    filter_expression: bytes | None = None,
    socket_timeout_ms: int = 10000,
    total_timeout_ms: int = 0,
    task_id: int | None = None,
) -> bytes:
    """A partition query: ``partitions`` from their start, ``resume`` digests after themselves."""
    fields = [field(Field.NAMESPACE, namespace.encode())]
    if set_name:
        fields.append(field(Field.SET, set_name.encode()))
    if records_per_second:
        fields.append(field(Field.RPS, records_per_second.to_bytes(4, "big")))
    fields.append(field(Field.SOCKET_TIMEOUT, socket_timeout_ms.to_bytes(4, "big")))
    tid = task_id if task_id is not None else int.from_bytes(os.urandom(8), "big")
    fields.append(field(Field.TASK_ID, tid.to_bytes(8, "big")))
    if filter_expression:
        fields.append(field(Field.FILTER, bytes(filter_expression)))
    if partitions:
        fields.append(field(Field.PID_ARRAY, b"".join(_U16LE.pack(p) for p in partitions)))
    if resume:
        fields.append(field(Field.DIGEST_ARRAY, b"".join(resume)))
    if max_records:
        fields.append(field(Field.MAX_RECORDS, max_records.to_bytes(8, "big")))
    ops = []
    if not no_bins:
        for name in bin_names:
            raw = name.encode()
            ops.append(_OP_HEADER.pack(4 + len(raw), Op.READ, 0, 0, len(raw)) + raw)
    info1 = Info1.READ | (Info1.GET_NO_BINS if no_bins else 0)
    header = AS_MSG_HEADER.pack(22, info1, 0, Info3.PARTITION_DONE, 0, 0, 0, 0xFFFFFFFF,
                                total_timeout_ms, len(fields), len(ops))
    body = header + b"".join(fields) + b"".join(ops)
    return pack_proto(MsgType.AS_MSG, len(body)) + body


def batch_write_request(
    batch: RecordBatch,
    rows: Sequence[int],
    ttls: Sequence[int],
    flags: WriteFlags,
    *,
    timeout_ms: int = 0,
    names: dict[str, bytes] | None = None,
) -> bytes:
    """One batch-index request writing records ``rows`` of ``batch``; row ``r`` is ``rows[r]``."""
    if names is None:
        names = {}
    buf = batch.buffer
    view = memoryview(buf)
    sets, digests, keys = batch.sets, batch.digests, batch.keys
    gens, index = batch.generations, batch.bin_index
    bin_names, bin_types, starts, ends = batch.bin_names, batch.bin_types, batch.bin_starts, batch.bin_ends
    ns_field = field(Field.NAMESPACE, batch.namespace.encode())
    set_fields: dict[str, bytes] = {}
    info2, info3, use_gen = flags.info2, flags.info3, flags.use_generation
    pack_row = _ROW.pack
    pack_op = _OP_HEADER.pack
    pack_field = FIELD_HEADER.pack
    out = bytearray(pack_proto(MsgType.AS_MSG, 0))
    out += b"\0" * 22  # AS_MSG header, filled in below
    out += b"\0" * 5  # BATCH_INDEX field header, filled in below
    field_start = len(out)
    out += len(rows).to_bytes(4, "big")
    out.append(_PARENT_FLAGS)
    write = Op.WRITE
    for r, i in enumerate(rows):
        lo, hi = index[i], index[i + 1]
        key = keys[i]
        set_name = sets[i]
        set_field = set_fields.get(set_name)
        if set_field is None:
            set_field = set_fields[set_name] = field(Field.SET, set_name.encode("utf-8", "surrogateescape"))
        out += pack_row(r, digests[i], _ROW_FLAGS, 0, info2, info3, gens[i] & 0xFFFF if use_gen else 0,
                        ttls[i] & 0xFFFFFFFF, 2 if key is None else 3, hi - lo)
        out += ns_field
        out += set_field
        if key is not None:
            out += pack_field(len(key.data) + 2, Field.KEY)
            out.append(key.particle_type)
            out += key.data
        for j in range(lo, hi):
            name = bin_names[j]
            raw = names.get(name)
            if raw is None:
                raw = names[name] = name.encode("utf-8", "surrogateescape")
            s, e = starts[j], ends[j]
            out += pack_op(4 + len(raw) + e - s, write, bin_types[j], 0, len(raw))
            out += raw
            out += view[s:e]
    size = len(out) - 8
    out[0:8] = pack_proto(MsgType.AS_MSG, size)
    out[8:30] = AS_MSG_HEADER.pack(22, Info1.BATCH, 0, 0, 0, 0, 0, 0, timeout_ms, 1, 0)
    out[30:35] = FIELD_HEADER.pack(len(out) - field_start + 1, Field.BATCH_INDEX)
    return bytes(out)


def single_write_request(
    batch: RecordBatch,
    i: int,
    ttl: int,
    flags: WriteFlags,
    *,
    timeout_ms: int = 0,
) -> bytes:
    """One AS_MSG write of record ``i`` (§4.3): fields NAMESPACE, SET, DIGEST, [KEY]; WRITE ops."""
    view = memoryview(batch.buffer)
    fields = [field(Field.NAMESPACE, batch.namespace.encode())]
    if batch.sets[i]:
        fields.append(field(Field.SET, batch.sets[i].encode("utf-8", "surrogateescape")))
    fields.append(field(Field.DIGEST, batch.digests[i]))
    key = batch.keys[i]
    if key is not None:
        fields.append(field(Field.KEY, bytes([key.particle_type]) + key.data))
    lo, hi = batch.bin_index[i], batch.bin_index[i + 1]
    parts: list[bytes | memoryview] = []
    for j in range(lo, hi):
        raw = batch.bin_names[j].encode("utf-8", "surrogateescape")
        s, e = batch.bin_starts[j], batch.bin_ends[j]
        parts.append(_OP_HEADER.pack(4 + len(raw) + e - s, Op.WRITE, batch.bin_types[j], 0, len(raw)) + raw)
        parts.append(view[s:e])
    gen = batch.generations[i] if flags.use_generation else 0
    header = AS_MSG_HEADER.pack(22, 0, flags.info2, flags.info3, 0, 0, gen, ttl & 0xFFFFFFFF, timeout_ms,
                                len(fields), hi - lo)
    body = header + b"".join(fields) + b"".join(parts)
    return pack_proto(MsgType.AS_MSG, len(body)) + body


# The reference stays importable; the C twin (aerobackup.speedups) replaces it when active.
batch_write_request_py = batch_write_request
if (_native := speedups.native_function("batch_write_request")) is not None:
    batch_write_request = _native  # noqa: F811
