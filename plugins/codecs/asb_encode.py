"""ASB text encoder: writes what asbackup 4.5.8 writes, byte for byte.

``encode_batch`` turns a whole ``RecordBatch`` into bytes in one call (the unit a compiled
accelerator can replace). It reads particles straight from the batch buffer; per bin it does
one ``%`` format. Formats follow the C writer (aerospike-tools-backup ``enc_text.c``,
asb-format.md §3.2, §5, §6, §7): ``%.17g`` floats, escapes of ``\\``, space and newline in names,
``+ k`` forms, base64 (or raw with ``!`` in compact mode) for blob-like types.
"""

from __future__ import annotations

import math
import struct
from binascii import b2a_base64
from collections.abc import Iterable

from aerobackup import speedups
from aerobackup.errors import FormatError
from aerobackup.model import UDF, RecordBatch, SIndex, UserKey

__all__ = [
    "encode_batch",
    "encode_batch_sizes",
    "escape",
    "expression_index_lines",
    "format_double",
    "header",
    "sindex_line",
    "udf_line",
]

_unpack_d = struct.Struct(">d").unpack_from
_unpack_q = struct.Struct(">q").unpack_from
_from_bytes = int.from_bytes

# particle type -> bin letter of the blob-like types (C text_bytes_type_to_label)
_BYTES_LABELS = {4: b"B", 7: b"J", 8: b"C", 9: b"P", 10: b"R", 11: b"H", 12: b"E", 18: b"Y",
                 19: b"M", 20: b"L"}
_B64_PREFIX = {t: b"- " + lab + b" " for t, lab in _BYTES_LABELS.items()}
_RAW_PREFIX = {t: b"- " + lab + b"! " for t, lab in _BYTES_LABELS.items()}


def escape(raw: bytes) -> bytes:
    """Backslash before ``\\``, space and newline (C ``escape_space``)."""
    if b"\\" in raw or b" " in raw or b"\n" in raw:
        return raw.replace(b"\\", b"\\\\").replace(b" ", b"\\ ").replace(b"\n", b"\\\n")
    return raw


def _esc(text: str) -> bytes:
    return escape(text.encode("utf-8", "surrogateescape"))


class _EscCache(dict):  # type: ignore[type-arg]
    """str -> escaped bytes, filled on first use."""

    def __missing__(self, key: str) -> bytes:
        value = _esc(key)
        if len(self) < 65536:
            self[key] = value
        return value


_NAMES = _EscCache()
_SETS = _EscCache()


def format_double(value: float) -> bytes:
    """C ``%.17g`` (glibc): ``nan``/``-nan`` by sign bit, ``inf``, ``-inf``, ``-0``."""
    if value != value:
        return b"-nan" if math.copysign(1.0, value) < 0 else b"nan"
    return b"%.17g" % value


def header(namespace: str, first_file: bool) -> bytes:
    """``Version 3.1``, ``# namespace`` and, in the first file, ``# first-file``."""
    head = b"Version 3.1\n# namespace %s\n" % _esc(namespace)
    return head + b"# first-file\n" if first_file else head


def sindex_line(index: SIndex) -> bytes:
    """One ``* i`` line as C writes it (an expression index becomes ``* e``, Go's form)."""
    kind = b"e" if index.expression is not None else b"i"
    line = b"* %s %s %s %s %s 1 %s %s" % (
        kind,
        _esc(index.namespace),
        _esc(index.set),
        _esc(index.name),
        index.index_type.value.encode(),
        _esc(index.bin),
        index.data_type.value.encode(),
    )
    if index.expression is not None:
        # Go's line form: no context token (asb-format.md §5.3 proposal, point 2)
        return bytes(line + b" " + index.expression.encode() + b"\n")
    if index.context is not None:
        line += b" " + _esc(index.context)
    return line + b"\n"


def expression_index_lines(indexes: Iterable[SIndex]) -> bytes:
    return b"".join(sindex_line(i) for i in indexes if i.expression is not None)


def udf_line(udf: UDF) -> bytes:
    if udf.language.upper() != "LUA":
        raise FormatError(f"Invalid UDF type {udf.language} for {udf.name}: only LUA is written")
    return b"* u L %s %d %s\n" % (_esc(udf.name), len(udf.content), udf.content)


def _key_line(key: UserKey, compact: bool) -> bytes:
    t, data = key.particle_type, key.data
    if t == 3:
        return b"+ k S %d %s\n" % (len(data), data)
    if t == 1:
        return b"+ k I %d\n" % _from_bytes(data, "big", signed=True)
    if t == 2:
        return b"+ k D %s\n" % format_double(_unpack_d(data)[0])
    if t in _BYTES_LABELS:
        if compact:
            return b"+ k B! %d %s\n" % (len(data), data)
        enc = b2a_base64(data, newline=False)
        return b"+ k B %d %s\n" % (len(enc), enc)
    raise FormatError(f"Invalid key type {t}")


def _other_line(name: bytes, t: int, buf: bytes | bytearray, s: int, e: int, compact: bool) -> bytes:
    """Bin lines of the less common types (and compact blobs)."""
    if t == 1:  # an integer particle of unusual length
        return b"- I %s %d\n" % (name, _from_bytes(buf[s:e], "big", signed=True))
    if t == 2:
        return b"- D %s %s\n" % (name, format_double(_unpack_d(buf, s)[0]))
    if t in _BYTES_LABELS:
        if compact:
            return b"%s%s %d %s\n" % (_RAW_PREFIX[t], name, e - s, buf[s:e])
        enc = b2a_base64(buf[s:e], newline=False)
        return b"%s%s %d %s\n" % (_B64_PREFIX[t], name, len(enc), enc)
    if t == 17:
        return b"- Z %s %s\n" % (name, b"T" if buf[s] else b"F")
    if t == 0:
        return b"- N %s\n" % name
    if t == 23:
        # skip the GeoJSON particle header: flags, cell count, cells (wire-protocol §5.5)
        start = s + 3 + 8 * _from_bytes(buf[s + 1 : s + 3], "big") if e - s >= 3 else e
        return b"- G %s %d %s\n" % (name, e - start, buf[start:e])
    raise FormatError(f"Invalid bytes type {t} in bin {name.decode(errors='replace')}")


def encode_batch(batch: RecordBatch, compact: bool = False) -> bytes:
    """All records of ``batch`` as ASB text.

    Bin lines are made in one comprehension over the flat bin columns (the common types
    inline), then interleaved with the record header lines.
    """
    return _encode(batch, compact, None)


def encode_batch_sizes(batch: RecordBatch, compact: bool = False) -> tuple[bytes, list[int]]:
    """``encode_batch`` plus each record's byte length, in order (they sum to the length).

    Lets a writer split one encoded batch at record boundaries (file rotation) instead of
    encoding record by record; the output is that of ``encode_batch``, byte for byte.
    """
    sizes: list[int] = []
    return _encode(batch, compact, sizes), sizes


def _encode(batch: RecordBatch, compact: bool, sizes: list[int] | None) -> bytes:
    buf = batch.buffer
    unpack_q = _unpack_q
    b2a = b2a_base64
    pre = _B64_PREFIX
    other = _other_line
    lines = [
        b"- I %s %d\n" % (n, unpack_q(buf, s)[0])
        if t == 1 and e - s == 8
        else b"- S %s %d %s\n" % (n, e - s, buf[s:e])
        if t == 3
        else b"%s%s %d %s\n" % (pre[t], n, len(enc := b2a(buf[s:e], newline=False)), enc)
        if t in pre and not compact
        else b"- D %s %.17g\n" % (n, v)
        if t == 2 and (v := _unpack_d(buf, s)[0]) == v
        else other(n, t, buf, s, e, compact)
        for n, t, s, e in zip(
            map(_NAMES.__getitem__, batch.bin_names),
            batch.bin_types,
            batch.bin_starts,
            batch.bin_ends,
            strict=True,
        )
    ]
    ns = _esc(batch.namespace).replace(b"%", b"%%")  # part of the format strings below
    tail_set = b"+ n " + ns + b"\n+ d %s=\n+ s %s\n+ g %d\n+ t %d\n+ b %d\n"
    tail_noset = b"+ n " + ns + b"\n+ d %s=\n+ g %d\n+ t %d\n+ b %d\n"
    skey_set = b"+ k S %d %s\n" + tail_set
    skey_noset = b"+ k S %d %s\n" + tail_noset
    sets = _SETS
    index = batch.bin_index
    out: list[bytes] = []
    add = out.append
    extend = out.extend
    # every digest's base64 in one call: 20 bytes + one NUL pad byte = 28 characters, of which
    # the first 27 are the digest's own and the 28th stands for the pad (written as "=")
    digs = b2a(b"\0".join(batch.digests) + b"\0", newline=False)
    lo = 0
    d0 = 0
    for set_name, key, gen, vt, hi in zip(
        batch.sets, batch.keys, batch.generations, batch.void_times, index[1:], strict=True
    ):
        dig = digs[d0 : d0 + 27]
        d0 += 28
        if key is None:
            if set_name:
                head = tail_set % (dig, sets[set_name], gen, vt, hi - lo)
            else:
                head = tail_noset % (dig, gen, vt, hi - lo)
        elif key.particle_type == 3:
            kd = key.data
            if set_name:
                head = skey_set % (len(kd), kd, dig, sets[set_name], gen, vt, hi - lo)
            else:
                head = skey_noset % (len(kd), kd, dig, gen, vt, hi - lo)
        else:
            head = _key_line(key, compact)
            if set_name:
                head += tail_set % (dig, sets[set_name], gen, vt, hi - lo)
            else:
                head += tail_noset % (dig, gen, vt, hi - lo)
        add(head)
        if sizes is None:
            extend(lines[lo:hi])
        else:
            body = lines[lo:hi]
            extend(body)
            sizes.append(len(head) + sum(map(len, body)))
        lo = hi
    return b"".join(out)


# The reference stays importable; the C twin (aerobackup.speedups) replaces it when active.
# ``asb_encode_batch_sizes`` is optional in the C twin: without it the sizes come from Python.
encode_batch_py = encode_batch
encode_batch_sizes_py = encode_batch_sizes
if (_native := speedups.native_function("asb_encode_batch")) is not None:
    encode_batch = _native  # noqa: F811
if (_native_sizes := speedups.native_function("asb_encode_batch_sizes")) is not None:
    encode_batch_sizes = _native_sizes  # noqa: F811
