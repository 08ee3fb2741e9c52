"""Reply parsing: AS_MSG streams into RecordBatch columns (the hot path).

``parse_records`` walks the concatenated AS_MSGs of one reply proto and appends each record to
a RecordBatch whose ``buffer`` is that proto's bytes: bin particles are never copied, only
their offsets recorded (wire-protocol.md §6.2, §5.3, §5.7). It is the single function a
compiled accelerator replaces, so it keeps a plain signature and no hidden state.
"""

from __future__ import annotations

import struct

from ..model import RecordBatch, UserKey

__all__ = ["ParseState", "parse_records", "parse_write_results", "MSG_HEADER", "FIELD", "OP"]

#: info3, result code, generation, record_ttl (void time), transaction_ttl, n_fields, n_ops.
MSG_HEADER = struct.Struct(">3xBxBIIIHH")
FIELD = struct.Struct(">IB")
#: op size, particle type, name length (op type and flags skipped).
OP = struct.Struct(">IxBxB")

_LAST, _PARTITION_DONE = 0x01, 0x04
_F_SET, _F_KEY, _F_DIGEST = 1, 2, 4


class ParseState:
    """What a reply stream said besides records: the end, its result, unavailable partitions.

    ``names`` caches decoded bin and set names by their bytes (they repeat in every record).
    """

    __slots__ = ("last", "result", "unavailable", "names")

    def __init__(self) -> None:
        self.last = False
        self.result = 0
        self.unavailable: list[int] = []
        self.names: dict[bytes, str] = {}


def _skip(buf: bytes, pos: int, n_fields: int, n_ops: int) -> int:
    unpack = FIELD.unpack_from
    for _ in range(n_fields + n_ops):
        pos += 4 + unpack(buf, pos)[0]
    return pos


def parse_records(buf: bytes, pos: int, end: int, batch: RecordBatch, state: ParseState) -> int:
    """Parse AS_MSGs in ``buf[pos:end]`` into ``batch`` (whose buffer must be ``buf``).

    Stops after a LAST message or a message with a non-zero result that is not a partition
    marker (a start error, §6.2), recording it in ``state``. Unavailable-partition markers
    are collected in ``state.unavailable``. Returns the number of records added.

    Raises ValueError (IndexError/struct.error in the worst case) on malformed input; the
    caller turns that into a connection error.
    """
    unpack_hdr = MSG_HEADER.unpack_from
    unpack_fld = FIELD.unpack_from
    unpack_op = OP.unpack_from
    names = state.names
    names_get = names.get
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
        set_name = ""
        key = None
        digest = b""
        for _ in range(n_fields):
            size, ftype = unpack_fld(buf, pos)
            start = pos + 5
            pos += 4 + size
            if ftype == _F_DIGEST:
                digest = buf[start:pos]
            elif ftype == _F_SET:
                raw = buf[start:pos]
                set_name = names_get(raw) or names.setdefault(raw, raw.decode("utf-8", "surrogateescape"))
            elif ftype == _F_KEY:
                key = UserKey(buf[start], buf[start + 1 : pos])
        if len(digest) != 20:
            raise ValueError(f"record without a 20-byte DIGEST field (got {len(digest)} bytes)")
        for _ in range(n_ops):
            size, ptype, name_len = unpack_op(buf, pos)
            name_at = pos + 8
            value_at = name_at + name_len
            pos += 4 + size
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
