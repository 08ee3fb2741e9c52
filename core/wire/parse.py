"""Reply parsing: AS_MSG streams into RecordBatch columns (the hot path).

``parse_records`` walks the concatenated AS_MSGs of one reply proto and appends each record to
a RecordBatch whose ``buffer`` is that proto's bytes: bin particles are never copied, only
their offsets recorded (wire-protocol.md §6.2, §5.3, §5.7). It is the single function a
compiled accelerator replaces, so it keeps a plain signature and no hidden state.
"""

from __future__ import annotations

import struct

from .. import speedups
from ..model import RecordBatch, UserKey

__all__ = ["FIELD", "MALFORMED", "MSG_HEADER", "OP", "ParseState", "parse_records", "parse_write_results"]

#: info3, result code, generation, record_ttl (void time), transaction_ttl, n_fields, n_ops.
MSG_HEADER = struct.Struct(">3xBxBIIIHH")
FIELD = struct.Struct(">IB")
#: op size, particle type, name length (op type and flags skipped).
OP = struct.Struct(">IxBxB")

#: What the parsers raise on malformed input (callers turn it into a connection error).
MALFORMED = (ValueError, IndexError, struct.error)

_LAST, _PARTITION_DONE = 0x01, 0x04
_F_SET, _F_KEY, _F_DIGEST = 1, 2, 4


class ParseState:
    """What a reply stream said besides records: the end, its result, unavailable partitions.

    ``names`` caches decoded bin and set names by their bytes (they repeat in every record).
    """

    __slots__ = ("last", "result", "unavailable", "names", "set_len")

    def __init__(self) -> None:
        self.last = False
        self.result = 0
        self.unavailable: list[int] = []
        self.names: dict[bytes, str] = {}
        self.set_len = 0  # length of the set name the fast path expects (adapts as it goes)


def _skip(buf: bytes, pos: int, n_fields: int, n_ops: int) -> int:
    unpack = FIELD.unpack_from
    for _ in range(n_fields + n_ops):
        pos += 4 + unpack(buf, pos)[0]
    return pos


def _record_head(ns_len: int, set_len: int) -> struct.Struct:
    """Header + NAMESPACE + DIGEST + SET fields of a record in one unpack (the usual layout, §6.2).

    Fields: info3, result, generation, void time, transaction_ttl, n_fields, n_ops, then size and
    type of each of the three fields, the digest and the set name bytes.
    """
    return struct.Struct(f">3xBxBIIIHHIB{ns_len}xIB20sIB{set_len}s")


def parse_records(buf: bytes, pos: int, end: int, batch: RecordBatch, state: ParseState) -> int:
    """Parse AS_MSGs in ``buf[pos:end]`` into ``batch`` (whose buffer must be ``buf``).

    Stops after a LAST message or a message with a non-zero result that is not a partition
    marker (a start error, §6.2), recording it in ``state``. Unavailable-partition markers
    are collected in ``state.unavailable``. Returns the number of records added.

    Fast path: a record laid out as the server sends it (NAMESPACE, DIGEST, SET of the length
    seen last) is read with one ``unpack_from``; anything else takes the generic field loop.
    Raises one of ``MALFORMED`` on malformed input; the caller turns that into a connection
    error.
    """
    unpack_hdr = MSG_HEADER.unpack_from
    unpack_fld = FIELD.unpack_from
    unpack_op = OP.unpack_from
    names = state.names
    names_get = names.get
    ns_len = len(batch.namespace.encode())
    ns_size = ns_len + 1
    set_len = state.set_len
    head = _record_head(ns_len, set_len)
    unpack_head = head.unpack_from
    head_size = head.size
    short_size = head_size - 5 - set_len  # header + NAMESPACE + DIGEST only
    sets_append = batch.sets.append
    digests_append = batch.digests.append
    keys_append = batch.keys.append
    gens_append = batch.generations.append
    voids_append = batch.void_times.append
    index_append = batch.bin_index.append
    bn_append = batch.bin_names.append
    bt_append = batch.bin_types.append
    bs_append = batch.bin_starts.append
    be_append = batch.bin_ends.append
    n_bins = batch.bin_index[-1]
    added = 0
    while pos < end:
        set_name = ""
        key = None
        if end - pos >= head_size:
            (info3, result, generation, void_time, _, n_fields, n_ops, f1_size, f1_type, f2_size, f2_type,
             digest, f3_size, f3_type, set_raw) = unpack_head(buf, pos)
            fast = (not info3 and not result and f1_size == ns_size and f2_size == 21 and f2_type == 4
                    and f1_type == 0 and n_fields >= 2)
        else:
            fast = False
        if fast:
            if n_fields >= 3 and f3_type == 1 and f3_size == set_len + 1:
                pos += head_size
                rest = n_fields - 3
                set_name = names_get(set_raw) or names.setdefault(
                    set_raw, set_raw.decode("utf-8", "surrogateescape"))
            else:
                pos += short_size
                rest = n_fields - 2
        else:
            info3, result, generation, void_time, _, n_fields, n_ops = unpack_hdr(buf, pos)
            pos += 22
            if info3 or result:
                if info3 & _PARTITION_DONE:
                    if result:
                        state.unavailable.append(generation)  # a marker's generation is the partition
                    pos = _skip(buf, pos, n_fields, n_ops)
                    continue
                state.result = result
                state.last = True
                return added
            rest = n_fields
            digest = b""
        for _ in range(rest):
            size, ftype = unpack_fld(buf, pos)
            start = pos + 5
            pos += 4 + size
            if ftype == _F_KEY:
                key = UserKey(buf[start], buf[start + 1 : pos])
            elif ftype == _F_SET:
                raw = buf[start:pos]
                set_name = names_get(raw) or names.setdefault(raw, raw.decode("utf-8", "surrogateescape"))
                if len(raw) != set_len:  # adapt the fast path to this set name's length
                    set_len = state.set_len = len(raw)
                    head = _record_head(ns_len, set_len)
                    unpack_head = head.unpack_from
                    head_size = head.size
                    short_size = head_size - 5 - set_len
            elif ftype == _F_DIGEST:
                digest = buf[start:pos]
        if len(digest) != 20:
            raise ValueError(f"record without a 20-byte DIGEST field (got {len(digest)} bytes)")
        for _ in range(n_ops):
            size, ptype, name_len = unpack_op(buf, pos)
            name_at = pos + 8
            value_at = name_at + name_len
            pos += 4 + size
            if value_at > pos:
                raise ValueError(f"op of {size} bytes cannot hold its {name_len}-byte bin name")
            raw = buf[name_at:value_at]
            name = names_get(raw)
            if name is None:
                name = names[raw] = raw.decode("utf-8", "surrogateescape")
            bn_append(name)
            bt_append(ptype)
            bs_append(value_at)
            be_append(pos)
        n_bins += n_ops
        sets_append(set_name)
        digests_append(digest)
        keys_append(key)
        gens_append(generation)
        voids_append(void_time)
        index_append(n_bins)
        added += 1
    if pos != end:
        raise ValueError(f"AS_MSG overruns its proto by {pos - end} bytes")
    return added


def parse_write_results(buf: bytes, pos: int, end: int, results: list[int]) -> tuple[bool, int]:
    """Parse batch-write row replies into ``results[row] = code`` (row = transaction_ttl, §7.3).

    Returns (last seen, its result code). A message with a non-zero result and neither the
    LAST bit nor a row index inside the batch counts as the batch-level end.
    """
    unpack_hdr = MSG_HEADER.unpack_from
    n_rows = len(results)
    while pos < end:
        info3, result, _, _, row, n_fields, n_ops = unpack_hdr(buf, pos)
        pos = _skip(buf, pos + 22, n_fields, n_ops)
        if info3 & _LAST:
            return True, result
        if row >= n_rows:
            if result:
                return True, result
            raise ValueError(f"batch reply names row {row} of {n_rows}")
        results[row] = result
    if pos != end:
        raise ValueError(f"AS_MSG overruns its proto by {pos - end} bytes")
    return False, 0


# The references stay importable; the C twins (aerobackup.speedups) replace them when active.
parse_records_py = parse_records
parse_write_results_py = parse_write_results
if (_native := speedups.native_function("parse_records")) is not None:
    parse_records = _native  # noqa: F811
if (_native := speedups.native_function("parse_write_results")) is not None:
    parse_write_results = _native  # noqa: F811
