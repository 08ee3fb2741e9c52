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
from itertools import islice

from aerobackup.errors import FormatError
from aerobackup.model import UDF, RecordBatch, SIndex, UserKey

__all__ = [
    "encode_batch",
    "escape",
    "expression_index_lines",
    "format_double",
    "header",
    "sindex_line",
    "udf_line",
]

_unpack_d = struct.Struct(">d").unpack_from
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
        return line + b" " + index.expression.encode() + b"\n"
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


def encode_batch(batch: RecordBatch, compact: bool = False) -> bytes:
    """All records of ``batch`` as ASB text."""
    buf = batch.buffer
    out: list[bytes] = []
    add = out.append
    ns = _esc(batch.namespace)
    names = list(map(_NAMES.__getitem__, batch.bin_names))
    bins = zip(names, batch.bin_types, batch.bin_starts, batch.bin_ends, strict=True)
    index = batch.bin_index
    b64_prefix = _B64_PREFIX
    raw_prefix = _RAW_PREFIX
    sets = _SETS
    ns = ns.replace(b"%", b"%%")  # the namespace is part of the format strings below
    fmt_set = b"+ n " + ns + b"\n+ d %s\n+ s %s\n+ g %d\n+ t %d\n+ b %d\n"
    fmt_noset = b"+ n " + ns + b"\n+ d %s\n+ g %d\n+ t %d\n+ b %d\n"
    lo = 0
    for i, (set_name, digest, key, gen, vt) in enumerate(
        zip(batch.sets, batch.digests, batch.keys, batch.generations, batch.void_times, strict=True)
    ):
        hi = index[i + 1]
        if key is not None:
            add(_key_line(key, compact))
        dig = b2a_base64(digest, newline=False)
        if set_name:
            add(fmt_set % (dig, sets[set_name], gen, vt, hi - lo))
        else:
            add(fmt_noset % (dig, gen, vt, hi - lo))
        for name, t, s, e in islice(bins, hi - lo):
            if t == 1:
                add(b"- I %s %d\n" % (name, _from_bytes(buf[s:e], "big", signed=True)))
            elif t == 3:
                add(b"- S %s %d %s\n" % (name, e - s, buf[s:e]))
            elif t == 2:
                v = _unpack_d(buf, s)[0]
                if v == v:
                    add(b"- D %s %.17g\n" % (name, v))
                else:
                    add(b"- D %s %s\n" % (name, format_double(v)))
            elif t in b64_prefix:
                if compact:
                    add(b"%s%s %d %s\n" % (raw_prefix[t], name, e - s, buf[s:e]))
                else:
                    enc = b2a_base64(buf[s:e], newline=False)
                    add(b"%s%s %d %s\n" % (b64_prefix[t], name, len(enc), enc))
            elif t == 17:
                add(b"- Z %s %s\n" % (name, b"T" if buf[s] else b"F"))
            elif t == 0:
                add(b"- N %s\n" % name)
            elif t == 23:
                # skip the GeoJSON particle header: flags, cell count, cells (wire §5.5)
                start = s + 3 + 8 * _from_bytes(buf[s + 1 : s + 3], "big") if e - s >= 3 else e
                add(b"- G %s %d %s\n" % (name, e - start, buf[start:e]))
            else:
                raise FormatError(f"Invalid bytes type {t} in bin {name.decode(errors='replace')}")
        lo = hi
    return b"".join(out)
