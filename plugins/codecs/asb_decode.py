"""ASB text decoder: streaming, bounded memory, byte-compatible with asrestore 4.5.8.

Two parsers share one input buffer (``_Input``):

* ``_Slow`` follows the C reader (aerospike-tools-backup ``dec_text.c``) step by step: every
  delimiter, escape, limit and error text, with C's line/column rules (asb-format.md §3, §10).
  It parses the header, the meta lines, every ``*`` line and any record the fast path declines.
* ``parse_records_fast`` handles the canonical form writers produce (no escapes, base64 without
  odd padding, canonical numbers) with whole-line ``bytes`` methods and no per-bin objects; a
  record whose sequence of bin lines was seen before is matched as one block by a regex and
  converted by a generated function (``_make_shape``). When
  anything looks unusual it rolls the record back and hands it to ``_Slow``, which either accepts
  it (escapes, leading zeros, ``I!``...) or raises the C error. So the fast path only decides
  *speed*, never *what* is accepted.

Both append into ``_Columns`` (flat lists) which become a ``RecordBatch`` whose buffer is the
concatenation of the particles. Errors are ``FormatError`` with file, line, column and byte
offset; line and column are computed lazily from the byte offset (newlines are counted when the
buffer is compacted), so the hot path tracks nothing but an offset.
"""

from __future__ import annotations

import binascii
import gc
import math
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, BinaryIO

from aerobackup import speedups
from aerobackup.errors import FormatError
from aerobackup.model import (
    UDF,
    IndexType,
    ParticleType,
    RecordBatch,
    SIndex,
    SIndexDataType,
    UserKey,
)
from aerobackup.protocols import DecoderOptions

__all__ = ["AsbDecoder", "ValidationCounts", "parse_records_fast", "validate"]

CHUNK = 1 << 20  # bytes read from the stream at a time
LOW_WATER = 1 << 16  # refill before the fast path when fewer bytes than this are left

_MAX_TOKEN = 999  # C MAX_TOKEN_SIZE - 1
_MAX_NS = 31  # as_namespace
_MAX_SET = 63  # as_set
_MAX_BIN_NAME = 15  # C client bin-name limit applied while parsing (§3.5)
_MAX_SIZE = 1024**5
_UINT_MAX = 4294967295

_pack_q = struct.Struct(">q").pack
# UserKey is a frozen dataclass whose __init__ costs ~1 us; the slot descriptors set the same
# fields in a fraction of that (the object is identical: same fields, eq and hash)
_new = object.__new__
_set_key_type = UserKey.particle_type.__set__
_set_key_data = UserKey.data.__set__
_pack_d = struct.Struct(">d").pack
_a2b = binascii.a2b_base64

# bytes label -> particle type for the base64/compact value types (C text_bytes_label_to_type)
_BYTES_TYPES: dict[int, int] = {
    ord(label): int(pt)
    for label, pt in (
        ("B", ParticleType.BLOB),
        ("J", ParticleType.JAVA_BLOB),
        ("C", ParticleType.CSHARP_BLOB),
        ("P", ParticleType.PYTHON_BLOB),
        ("R", ParticleType.RUBY_BLOB),
        ("H", ParticleType.PHP_BLOB),
        ("E", ParticleType.ERLANG_BLOB),
        ("Y", ParticleType.HLL),
        ("M", ParticleType.MAP),
        ("L", ParticleType.LIST),
    )
}
_BIN_LABELS = b"NIDSXGBJCPRHEYMLUZ"
_GEO_HEADER = b"\x00\x00\x00"  # flags 0, no cells: what a client sends (wire-protocol §5.5)
_B64MAP = bytes(
    (
        62 if c == 43 else 63 if c == 47 else c - 48 + 52 if 48 <= c <= 57
        else 0 if c == 61 else c - 65 if 65 <= c <= 90 else c - 97 + 26 if 97 <= c <= 122
        else 255
    )
    for c in range(256)
)
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_INDEX_TYPES = {ord(t.value): t for t in IndexType}
_DATA_TYPES = {ord(t.value): t for t in SIndexDataType}
_FLOAT_SPECIAL = {
    b"nan": _pack_d(math.nan),
    b"-nan": _pack_d(-math.nan),
    b"inf": _pack_d(math.inf),
    b"-inf": _pack_d(-math.inf),
}


def _pc(ch: int) -> str:
    """C ``print_char``: ``"c"`` for printable ASCII, ``\\xHH`` otherwise."""
    return f'"{chr(ch)}"' if 32 <= ch <= 126 else f"\\x{ch & 255:02x}"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@dataclass(slots=True)
class ValidationCounts:
    """What ``validate`` found: the numbers asrestore --validate prints."""

    records: int = 0
    sindexes: int = 0
    udfs: int = 0
    bins: int = 0


class _Err(Exception):
    """A C error message with ``{at}`` where C prints ``line L, col C``, and its byte offset."""

    def __init__(self, fmt: str, offset: int) -> None:
        super().__init__(fmt)
        self.fmt = fmt
        self.offset = offset


class _Input:
    """The read buffer: ``data`` holds bytes from absolute offset ``base``; ``pos`` is the cursor.

    Lines before ``base`` are counted when bytes are dropped, so a position's line and column
    can be computed at error time without tracking them on the hot path.
    """

    __slots__ = ("stream", "data", "pos", "base", "eof", "lines_before", "last_nl", "chunk")

    def __init__(self, stream: BinaryIO, chunk: int = CHUNK) -> None:
        self.stream = stream
        self.data = b""
        self.pos = 0
        self.base = 0
        self.eof = False
        self.lines_before = 0
        self.last_nl = -1  # absolute offset of the last newline before ``base``
        self.chunk = chunk

    def fill(self, need: int = 0) -> bool:
        """Drop consumed bytes and read more (at least ``need`` more bytes, or to EOF).

        Returns False when nothing more could be read.
        """
        if self.eof:
            return False
        data, pos = self.data, self.pos
        if pos:
            self.lines_before += data.count(b"\n", 0, pos)
            nl = data.rfind(b"\n", 0, pos)
            if nl >= 0:
                self.last_nl = self.base + nl
            self.base += pos
            data = data[pos:]
            self.pos = 0
        # grow geometrically so a huge record is not re-scanned once per chunk
        want = max(self.chunk, need, len(data))
        parts = [data]
        got = 0
        read = self.stream.read
        while got < want:
            piece = read(want - got)
            if not piece:
                self.eof = True
                break
            parts.append(piece)
            got += len(piece)
        self.data = b"".join(parts)
        return got > 0

    def where(self, offset: int) -> tuple[int, int]:
        """C line and column of the byte at absolute ``offset`` (EOF: the position after)."""
        rel = offset - self.base
        data = self.data
        if rel < 0:  # cannot happen for errors (they are at or after the record start)
            rel = 0
        line = self.lines_before + data.count(b"\n", 0, rel) + 1
        nl = data.rfind(b"\n", 0, rel)
        nl_abs = self.base + nl if nl >= 0 else self.last_nl
        return line, offset - nl_abs


class _Columns:
    """Flat output columns of the batch being built (shared by the fast and the slow path)."""

    __slots__ = (
        "sets", "digests", "keys", "gens", "vts", "bin_index", "names", "types", "vals",
    )

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.digests: list[bytes] = []
        self.keys: list[UserKey | None] = []
        self.gens: list[int] = []
        self.vts: list[int] = []
        self.bin_index: list[int] = [0]
        self.names: list[str] = []
        self.types: list[int] = []
        self.vals: list[bytes] = []

    def __len__(self) -> int:
        return len(self.digests)

    def finish(self, namespace: str) -> RecordBatch:
        vals = self.vals
        ends = list(accumulate(map(len, vals)))
        starts = [0, *ends[:-1]] if ends else []
        batch = RecordBatch(
            namespace,
            b"".join(vals),
            self.sets,
            self.digests,
            self.keys,
            self.gens,
            self.vts,
            self.bin_index,
            self.names,
            self.types,
            starts,
            ends,
        )
        self.__init__()  # type: ignore[misc]
        return batch


# ------------------------------------------------------------------------------------------
# The fast path
# ------------------------------------------------------------------------------------------

_HDR = re.compile(
    rb"\+ n ([^\\\n ]{1,31})\n"
    rb"\+ d ([A-Za-z0-9+/]{27}=)\n"
    rb"(?:\+ s ([^\\\n ]{1,63})\n)?"
    rb"\+ g ([0-9]{1,5})\n"
    rb"\+ t ([0-9]{1,10})\n"
    rb"\+ b ([0-9]{1,5})\n"
)

# bin line prefix -> (kind, particle type). kind: 0 N, 1 I, 2 D, 3 Z, 4 S, 5 G, 6 b64, 7 raw, 8 X
_BIN_PREFIX: dict[bytes, tuple[int, int]] = {
    b"- N ": (0, 0),
    b"- I ": (1, 1),
    b"- D ": (2, 2),
    b"- Z ": (3, 17),
    b"- S ": (4, 3),
    b"- G ": (5, 23),
    b"- X ": (8, 3),
}
for _lab, _pt in _BYTES_TYPES.items():
    _BIN_PREFIX[b"- " + bytes([_lab]) + b" "] = (6, _pt)
    _BIN_PREFIX[b"- " + bytes([_lab]) + b"!"] = (7, _pt)
_FLOAT_CHARS = b"0123456789.e+-"


class _Caches:
    """Raw token -> validated ``str`` for bin names, namespaces and sets.

    A raw token is put here only when it needs no unescaping and is within C's limits, so a
    cache hit *is* the validation; a miss sends the record to the slow path once.
    """

    __slots__ = ("bins", "names", "ns", "sets", "shapes")

    def __init__(self) -> None:
        # (bin count, first bin head) -> up to 4 (block pattern match, converter, names, types)
        self.shapes: dict[tuple[int, bytes], list[tuple[Any, ...]]] = {}
        self.bins: dict[bytes, tuple[int, int, str]] = {}  # b"- I name" -> kind, type, name
        self.names: dict[bytes, str] = {}
        self.ns: dict[bytes, str] = {}
        self.sets: dict[bytes, str] = {}


def _cache_name(caches: _Caches, raw: bytes) -> str | None:
    if len(raw) > _MAX_BIN_NAME or b"\\" in raw or b"\n" in raw or b" " in raw:
        return None
    name = _text(raw)
    if len(caches.names) < 65536:
        caches.names[raw] = name
    return name


class _ShapeMismatch(Exception):
    """A record matched a shape's pattern but a value check failed: use the generic path."""


def _shape_fail() -> bytes:
    raise _ShapeMismatch


_SHAPE_ERRORS = (_ShapeMismatch, struct.error, ValueError, binascii.Error)

# value pattern and converter expression (of the group values ``g[i]``) per value kind
_B64_VALUE = rb" ([0-9]{1,10}) ([A-Za-z0-9+/=]*)\n"
_RAW_VALUE = rb" ([0-9]{1,10}) ([^\n]*)\n"


def _make_shape(heads: list[bytes], kinds: list[int]) -> Callable[..., Any]:
    """A parser for a bin block whose lines have exactly these heads (``b"- I name"``).

    Generated Python: ``parse(data, q, end) -> (values, next_q) | None``. One regex checks the
    syntax of the block up to each raw (compact) value, whose bytes may hold newlines and are
    taken by length; one expression per bin converts its captured text. It returns None when
    the block does not match and raises (``_SHAPE_ERRORS``) when a value check fails; the
    caller then uses the generic path, which decides the same way the C-exact reader does.
    """
    env: dict[str, Any] = {
        "pack_q": _pack_q,
        "pack_d": _pack_d,
        "special": _FLOAT_SPECIAL.get,
        "a2b": _a2b,
        "geo": _GEO_HEADER,
        "fail": _shape_fail,
    }
    body: list[str] = []
    values: list[str] = []
    pattern = b""
    exprs: list[str] = []
    g = 0
    seg = 0

    def close_segment(tail: str) -> None:
        nonlocal pattern, exprs, g, seg
        env[f"M{seg}"] = re.compile(pattern).match
        body.append(f"    m = M{seg}(data, q)")
        body.append("    if m is None:\n        return None")
        if g:
            body.append("    g = m.groups()")
        for expr in exprs:
            body.append(f"    v{len(values)} = {expr}")
            values.append(f"v{len(values)}")
        body.append("    q = m.end()")
        if tail:
            body.append(tail)
        pattern, exprs, g, seg = b"", [], 0, seg + 1

    for head, kind in zip(heads, kinds, strict=True):
        pattern += re.escape(head)
        if kind == 0:
            pattern += rb"\n"
            exprs.append('b""')
        elif kind == 1:
            pattern += rb" (-?[0-9]{1,19})\n"
            exprs.append(f"pack_q(int(g[{g}]))")
            g += 1
        elif kind == 2:
            pattern += rb" ([-+.e0-9]{1,40}|nan|-nan|inf|-inf)\n"
            exprs.append(f"(special(g[{g}]) or pack_d(float(g[{g}])))")
            g += 1
        elif kind == 3:
            pattern += rb" ([TF])\n"
            exprs.append(f'(b"\\x01" if g[{g}] == b"T" else b"\\x00")')
            g += 1
        elif kind in (6, 8):
            pattern += _B64_VALUE
            exprs.append(
                f"(a2b(g[{g + 1}], strict_mode=True) if len(g[{g + 1}]) == int(g[{g}]) "
                f"and not len(g[{g + 1}]) & 3 else fail())"
            )
            g += 2
        elif kind == 7:  # compact raw bytes: any byte, taken by length
            pattern += rb" ([0-9]{1,10}) "
            g += 1
            close_segment(
                f"    e = q + int(g[{g - 1}])\n"
                "    if e >= end or data[e] != 10:\n        return None\n"
                f"    v{len(values) + len(exprs)} = data[q:e]\n"
                "    q = e + 1"
            )
            values.append(f"v{len(values)}")
        else:  # 4 S, 5 G: text, newline-free in practice (else the generic path takes it)
            pattern += _RAW_VALUE
            value = f"geo + g[{g + 1}]" if kind == 5 else f"g[{g + 1}]"
            exprs.append(f"({value} if len(g[{g + 1}]) == int(g[{g}]) else fail())")
            g += 2
    if pattern:
        close_segment("")
    source = (
        "def parse(data, q, end):\n"
        + "\n".join(body)
        + "\n    return ("
        + ", ".join(values)
        + ",), q\n"
    )
    exec(compile(source, "<asb shape>", "exec"), env)  # noqa: S102 - generated from our own table
    parse: Callable[..., Any] = env["parse"]
    return parse


@lru_cache(maxsize=4096)
def _shape_for(heads: tuple[bytes, ...], kinds: tuple[int, ...]) -> Callable[..., Any]:
    """``_make_shape``, compiled once per process for each shape (files and decoders share)."""
    return _make_shape(list(heads), list(kinds))


def _bin_head(
    data: bytes, q: int, sp: int, caches: _Caches
) -> tuple[Any, ...] | None:
    """Kind, particle type and name of the bin line at ``q`` when the cache does not know it
    (None: not canonical). ``sp`` is the first space at or after ``q + 5`` (or -1). An ``N``
    line also returns the position of its newline, and is not cached."""
    pre = _BIN_PREFIX.get(data[q : q + 4])
    if pre is None:
        return None
    kind, ptype = pre
    if kind == 0:
        e = data.find(b"\n", q + 4)
        name = _cache_name(caches, data[q + 4 : e])
        return None if name is None else (0, 0, name, e)
    if sp < 0:
        return None
    start = q + 4
    if kind == 7:
        if data[start] != 32:
            return None
        start += 1
    name = _cache_name(caches, data[start:sp])
    if name is None:
        return None
    info = (kind, ptype, name)
    if len(caches.bins) < 65536:
        caches.bins[data[q:sp]] = info
    return info


def parse_records_fast(
    data: bytes,
    p: int,
    end: int,
    cols: _Columns,
    caches: _Caches,
    limit: int,
    ns_raw: bytes | None,
) -> tuple[int, bytes | None]:
    """Parse canonical records from ``data[p:end]``; ``data`` must end with its newline at
    ``end`` (``len(data) == end``), so that every search for a line end succeeds.

    Stops before the first record it does not fully handle, at ``end``, when ``cols`` holds
    ``limit`` records, or at a record whose raw namespace is not ``ns_raw`` (the batch's; None:
    the first record sets it). Returns the position reached and the batch namespace. Never
    raises on bad input: it leaves that record to the slow path.
    """
    find = data.find
    hdr_match = _HDR.match
    bins_get = caches.bins.get
    shapes_get = caches.shapes.get
    ns_get = caches.ns.get
    sets_get = caches.sets.get
    a2b = _a2b
    pack_q = _pack_q
    c_sets, c_digests, c_keys = cols.sets, cols.digests, cols.keys
    c_gens, c_vts, c_index = cols.gens, cols.vts, cols.bin_index
    names, types, vals = cols.names, cols.types, cols.vals
    n_add = names.append
    t_add = types.append
    v_add = vals.append
    count = len(c_digests)
    while count < limit and p < end:
        q = p
        key = None
        if data[q : q + 4] == b"+ k ":
            # key line: only I, S, B and B! in their canonical forms
            kl = data[q + 4 : q + 6]
            if kl == b"I ":
                e = find(b"\n", q + 6)
                v = data[q + 6 : e]
                if not (v.isdigit() or (v[:1] == b"-" and v[1:].isdigit())):
                    break
                try:
                    raw = pack_q(int(v))
                except struct.error:
                    break
                key = _new(UserKey)
                _set_key_type(key, 1)
                _set_key_data(key, raw)
                q = e + 1
            elif kl == b"S " or kl == b"B " or kl == b"B!":
                s0 = q + 6
                if kl == b"B!":
                    if data[s0] != 32:
                        break
                    s0 += 1
                sp = find(b" ", s0, s0 + 14)
                if sp < 0:
                    break
                n = data[s0:sp]
                if not n.isdigit():
                    break
                ve = sp + 1 + int(n)
                if ve >= end or data[ve] != 10:
                    break
                raw = data[sp + 1 : ve]
                if kl == b"B ":
                    if len(raw) & 3:
                        break
                    try:
                        raw = a2b(raw, strict_mode=True)
                    except binascii.Error:
                        break
                key = _new(UserKey)
                _set_key_type(key, 3 if kl == b"S " else 4)
                _set_key_data(key, raw)
                q = ve + 1
            else:
                break
        m = hdr_match(data, q)
        if m is None:
            break
        rec_ns, dig, set_raw, g, t, nb = m.groups()
        if rec_ns != ns_raw:
            if ns_raw is not None:
                break
            ns_raw = rec_ns
            if ns_get(rec_ns) is None:
                caches.ns[rec_ns] = _text(rec_ns)
        if set_raw is None:
            set_name = ""
        else:
            set_name = sets_get(set_raw)  # type: ignore[assignment]
            if set_name is None:
                if len(caches.sets) > 4096:
                    break
                set_name = caches.sets[set_raw] = _text(set_raw)
        gen = int(g)
        vt = int(t)
        nbins = int(nb)
        if gen > 65535 or vt > _UINT_MAX or nbins > 65535:
            break
        q = m.end()
        if nbins:
            # a record of a shape seen before: the whole bin block in one match
            sp = find(b" ", q + 5, q + 22)
            res = None
            for shape in shapes_get((nbins, data[q:sp]), ()) if sp > 0 else ():
                try:
                    res = shape[0](data, q, end)
                except _SHAPE_ERRORS:
                    break
                if res is not None:
                    break
            if res is not None:
                names += shape[2]
                types += shape[3]
                vals += res[0]
                c_sets.append(set_name)
                c_digests.append(a2b(dig))
                c_keys.append(key)
                c_gens.append(gen)
                c_vts.append(vt)
                c_index.append(len(names))
                count += 1
                p = res[1]
                continue
        mark = len(names)
        ok = True
        heads: list[bytes] = []
        kinds: list[int] = []
        for _ in range(nbins):
            # "- T name" (or "- T! name") up to the space before the value: one lookup gives
            # the value kind, the particle type and the validated name
            sp = find(b" ", q + 5, q + 22)
            hk = data[q:sp]
            info: tuple[Any, ...] | None = bins_get(hk) if sp > 0 else None
            if info is None:
                info = _bin_head(data, q, sp, caches)
                if info is None:
                    ok = False
                    break
                if info[0] == 0:  # N: sp was not the end of this line
                    sp = info[3]
                    heads.append(data[q:sp])
                    kinds.append(0)
                    n_add(info[2])
                    t_add(0)
                    v_add(b"")
                    q = sp + 1
                    continue
            kind, ptype, name = info[0], info[1], info[2]
            heads.append(hk)
            kinds.append(kind)
            if kind == 1:  # I
                e = find(b"\n", sp)
                v = data[sp + 1 : e]
                if not v.isdigit():
                    if not (v[:1] == b"-" and v[1:].isdigit()):
                        ok = False
                        break
                try:
                    v = pack_q(int(v))
                except struct.error:
                    ok = False
                    break
                q = e + 1
            elif kind >= 4:  # length-prefixed: S G b64 raw X
                sp2 = find(b" ", sp + 1, sp + 22)
                if sp2 < 0:
                    ok = False
                    break
                n = data[sp + 1 : sp2]
                if not n.isdigit():
                    ok = False
                    break
                ve = sp2 + 1 + int(n)
                if ve >= end or data[ve] != 10:
                    ok = False
                    break
                v = data[sp2 + 1 : ve]
                if kind == 6 or kind == 8:
                    if len(v) & 3:
                        ok = False
                        break
                    try:
                        v = a2b(v, strict_mode=True)
                    except binascii.Error:
                        ok = False
                        break
                elif kind == 5:
                    v = _GEO_HEADER + v
                q = ve + 1
            elif kind == 2:  # D
                e = find(b"\n", sp)
                v = data[sp + 1 : e]
                sv = _FLOAT_SPECIAL.get(v)
                if sv is not None:
                    v = sv
                else:
                    if v.translate(None, _FLOAT_CHARS) or not v:
                        ok = False
                        break
                    try:
                        v = _pack_d(float(v))
                    except ValueError:
                        ok = False
                        break
                q = e + 1
            else:  # Z
                v = data[sp + 1 : sp + 3]
                if v == b"T\n":
                    v = b"\x01"
                elif v == b"F\n":
                    v = b"\x00"
                else:
                    ok = False
                    break
                q = sp + 3
            n_add(name)
            t_add(ptype)
            v_add(v)
        if not ok or q > end:
            del names[mark:], types[mark:], vals[mark:]
            break
        if nbins and len(caches.shapes) < 256:
            known = caches.shapes.setdefault((nbins, heads[0]), [])
            if len(known) < 4 and all(k[4] != heads for k in known):
                parser = _shape_for(tuple(heads), tuple(kinds))
                known.append((parser, None, names[mark:], types[mark:], heads))
        c_sets.append(set_name)
        c_digests.append(a2b(dig))
        c_keys.append(key)
        c_gens.append(gen)
        c_vts.append(vt)
        c_index.append(len(names))
        count += 1
        p = q
    return p, ns_raw


# ------------------------------------------------------------------------------------------
# The slow path: the C reader, step by step
# ------------------------------------------------------------------------------------------


class _Slow:
    """Character-level reader following asrestore 4.5.8's ``dec_text.c``."""

    __slots__ = ("inp", "legacy", "file", "cur")

    def __init__(self, inp: _Input, legacy: bool, file: str) -> None:
        self.inp = inp
        self.legacy = legacy
        self.file = file
        self.cur = 0  # absolute offset of the byte C's line_no[0]/col_no[0] point at

    # --- primitive reads -----------------------------------------------------------------

    def _avail(self, n: int) -> bool:
        inp = self.inp
        while len(inp.data) - inp.pos < n:
            if not inp.fill(n - (len(inp.data) - inp.pos)):
                return False
        return True

    def _eof(self) -> _Err:
        return _Err("Unexpected end of file in backup block ({at})", self.cur)

    def getc(self) -> int:
        inp = self.inp
        if inp.pos >= len(inp.data) and not self._avail(1):
            self.cur = inp.base + inp.pos
            raise self._eof()
        self.cur = inp.base + inp.pos
        ch = inp.data[inp.pos]
        inp.pos += 1
        return ch

    def peek(self) -> int:
        inp = self.inp
        if inp.pos >= len(inp.data) and not self._avail(1):
            self.cur = inp.base + inp.pos
            raise self._eof()
        self.cur = inp.base + inp.pos
        return inp.data[inp.pos]

    def expect(self, ch: int) -> None:
        x = self.getc()
        if x != ch:
            raise _Err(
                f"Unexpected character {_pc(x)} in backup block ({{at}}), expected {_pc(ch)}",
                self.cur,
            )

    def block(self, n: int) -> bytes:
        """Exactly ``n`` raw bytes (C ``read_block``)."""
        inp = self.inp
        if len(inp.data) - inp.pos < n and not self._avail(n):
            # C reads up to EOF, then reports it at the position after the last byte
            inp.pos = len(inp.data)
            self.cur = inp.base + inp.pos
            raise self._eof()
        out = inp.data[inp.pos : inp.pos + n]
        inp.pos += n
        self.cur = inp.base + inp.pos - 1 if n else self.cur
        return out

    def until(
        self,
        delims: bytes,
        size: int,
        *,
        digits: bool = False,
        neg: bool = False,
        fp: bool = False,
        unesc: bool = True,
    ) -> bytes:
        """C ``text_nul_read_until``: a token up to an unescaped delimiter (left unread)."""
        out = bytearray()
        esc = False
        while True:
            ch = self.peek()
            if unesc and ch == 92 and not esc:
                esc = True
                self.getc()
                continue
            if not esc and ch in delims:
                return bytes(out)
            self.getc()
            esc = False
            if len(out) == size - 1:
                raise _Err("Buffer overflow while reading token in backup block ({at})", self.cur)
            if digits and not (48 <= ch <= 57) and (not neg or out or ch != 45):
                raise _Err(
                    f"Invalid character {_pc(ch)} in backup block ({{at}}), expected digit",
                    self.cur,
                )
            out.append(ch)
            if fp and not _fp_prefix_ok(out):
                raise _Err(
                    f"Invalid character {_pc(ch)} in backup block ({{at}}), expected floating "
                    "point notation",
                    self.cur,
                )

    def token(self, delims: bytes, size: int = _MAX_TOKEN + 1, unesc: bool | None = None) -> bytes:
        return self.until(delims, size, unesc=(not self.legacy) if unesc is None else unesc)

    def size(self, delims: bytes = b" ", unesc: bool | None = None) -> int:
        tok = self.until(
            delims, _MAX_TOKEN + 1, digits=True, unesc=(not self.legacy) if unesc is None else unesc
        )
        acc = 0
        for c in tok:
            acc = acc * 10 + c - 48
            if acc > _MAX_SIZE:
                raise _Err(
                    f"Size overflow with number {tok.decode()} in backup block ({{at}})", self.cur
                )
        return acc

    def integer(self, delims: bytes = b"\n") -> int:
        tok = self.until(delims, _MAX_TOKEN + 1, digits=True, neg=True, unesc=not self.legacy)
        negative = tok[:1] == b"-"
        digits = tok[1:] if negative else tok
        value = int(digits) if digits else 0
        if value > (1 << 63 if negative else (1 << 63) - 1):
            raise _Err(
                f"Integer overflow with number {tok.decode()} in backup block ({{at}})", self.cur
            )
        return -value if negative else value

    def double(self, delims: bytes = b"\n") -> bytes:
        tok = self.until(delims, _MAX_TOKEN + 1, fp=True, unesc=not self.legacy)
        if not tok:
            return _pack_d(0.0)
        try:
            value = float(tok)
        except ValueError:
            raise _Err(
                f"Invalid floating-point value {_text(tok)} in backup block ({{at}})", self.cur
            ) from None
        # for the characters C's checker lets through, float() accepts exactly what strtod
        # consumes whole, and keeps the sign of "-nan" as strtod does
        return _pack_d(value)

    def b64(self, nchars: int, nbytes: int | None = None) -> bytes:
        """C ``read_block_dec``: decode ``nchars`` characters 4 at a time, lenient padding."""
        out = bytearray()
        size = 0
        groups = nchars // 4
        for _ in range(groups):
            chars = []
            for _k in range(4):
                chars.append(self.getc())
            c1, c2, c3, c4 = chars
            if c4 == 61:
                size += 1 if c3 == 61 else 2
            else:
                size += 3
            d1, d2, d3, d4 = (_B64MAP[c] for c in chars)
            if 255 in (d1, d2, d3, d4):
                raise _Err(
                    f"Invalid base-64 character ({_pc(c1)}, {_pc(c2)}, {_pc(c3)}, or {_pc(c4)} "
                    "at or before {at})",
                    self.cur,
                )
            out += bytes(
                ((d1 << 2 | d2 >> 4) & 255, (d2 << 4 | d3 >> 2) & 255, (d3 << 6 | d4) & 255)
            )
        if nbytes is not None:
            return bytes(out[:nbytes])
        return bytes(out[:size])

    def b64_fast(self, nchars: int) -> bytes:
        """Same result as ``b64`` but decoded in one call when the text is canonical."""
        inp = self.inp
        if len(inp.data) - inp.pos >= nchars or self._avail(nchars):
            text = inp.data[inp.pos : inp.pos + nchars]
            if b"=" not in text[:-2]:
                try:
                    out = _a2b(text, strict_mode=True)
                except binascii.Error:
                    pass
                else:
                    inp.pos += nchars
                    self.cur = inp.base + inp.pos - 1 if nchars else self.cur
                    return out
        else:
            # the stream ends inside the value: when every complete group is valid, C's error
            # is the end of file (found without decoding megabytes one character at a time)
            rest = inp.data[inp.pos :]
            if not rest[: len(rest) // 4 * 4].translate(None, _B64_CHARS):
                inp.pos = len(inp.data)
                self.cur = inp.base + inp.pos
                raise self._eof()
        return self.b64(nchars)

    def enc_data(self) -> bytes:
        """C ``text_parse_data_dec``: ``<b64len> <b64>``."""
        n = self.size()
        if n & 3:
            raise _Err(f"Invalid encoded data size {n} ({{at}})", self.cur)
        self.expect(32)
        return self.b64_fast(n)

    def raw_data(self) -> bytes:
        """C ``text_parse_string`` / ``text_parse_data``: ``<len> <bytes>``."""
        n = self.size()
        self.expect(32)
        return self.block(n)

    # --- blocks ----------------------------------------------------------------------------

    def record(self) -> tuple[bytes, str, bytes, UserKey | None, int, int, list[str], list[int], list[bytes]]:
        """One record; the leading ``+`` has been read. Returns its raw namespace and columns."""
        key: UserKey | None = None
        ns = b""
        digest = b""
        set_name = b""
        gen = vt = 0
        names: list[str] = []
        types: list[int] = []
        vals: list[bytes] = []
        expected = b"kndsgtb"
        i = 0
        while i < 7:
            self.expect(32)
            ch = self.getc()
            if i == 0 and ch == 110:
                i = 1
            elif i == 3 and ch == 103:
                i = 4
            elif ch != expected[i]:
                raise _Err(
                    f"Unexpected character {_pc(ch)} in backup block ({{at}}), expected "
                    f"{_pc(expected[i])}",
                    self.cur,
                )
            self.expect(32)
            if i == 0:
                key = self.key()
            elif i == 1:
                ns = self.token(b"\n", _MAX_NS + 1)
                self.expect(10)
            elif i == 2:
                digest = self.b64(28, 20)
                self.expect(10)
            elif i == 3:
                set_name = self.token(b"\n", _MAX_SET + 1)
                self.expect(10)
            elif i == 4:
                gen = self.integer()
                if gen < 0 or gen > 65535:
                    raise _Err(f"Invalid generation count {gen} ({{at}})", self.cur)
                self.expect(10)
            elif i == 5:
                vt = self.integer()
                if vt < 0 or vt > _UINT_MAX:
                    raise _Err(f"Invalid expiration time {vt & (2**64 - 1)} ({{at}})", self.cur)
                self.expect(10)
            else:
                nb = self.integer()
                if nb < 0 or nb > 65535:
                    raise _Err(f"Invalid bin count {nb & (2**64 - 1)} ({{at}})", self.cur)
                self.expect(10)
                for _ in range(nb):
                    self.bin(names, types, vals)
            if i < 6:
                self.expect(43)
            i += 1
        return ns, _text(set_name), digest, key, gen, vt, names, types, vals

    def key(self) -> UserKey:
        ch = self.getc()
        if ch == 73:  # I
            self.expect(32)
            value = self.integer()
            key = UserKey(1, _pack_q(value))
        elif ch == 68:  # D
            self.expect(32)
            key = UserKey(2, self.double())
        elif ch == 83 or ch == 88:  # S X
            self.expect(32)
            key = UserKey(3, self.raw_data() if ch == 83 else self.enc_data())
        elif ch == 66:  # B
            compact = self.peek() == 33
            if compact:
                self.getc()
            self.expect(32)
            key = UserKey(4, self.raw_data() if compact else self.enc_data())
        else:
            raise _Err(f"Invalid key type character {_pc(ch)} in block ({{at}})", self.cur)
        self.expect(10)
        return key

    def bin(self, names: list[str], types: list[int], vals: list[bytes]) -> None:
        self.expect(45)
        self.expect(32)
        ch = self.getc()
        if ch not in _BIN_LABELS:
            raise _Err(f"Invalid bytes label {_pc(ch)} ({{at}})", self.cur)
        compact = self.peek() == 33
        if compact:
            self.getc()
        self.expect(32)
        raw_name = self.token(b" \n")
        name = _text(raw_name)
        if ch == 78:  # N
            self.expect(10)
            self._check_name(raw_name, "NIL bin {name}")
            ptype, value = 0, b""
        else:
            self.expect(32)
            if ch == 90:  # Z
                tok = self.until(b"\n", _MAX_TOKEN + 1, unesc=not self.legacy)
                if tok not in (b"T", b"F"):
                    raise _Err(
                        f'Unknown boolean value encoding: "{_text(tok)}" ({{at}})', self.cur
                    )
                self.expect(10)
                self._check_name(raw_name, f"boolean bin {{name}} to {'true' if tok == b'T' else 'false'}")
                ptype, value = 17, (b"\x01" if tok == b"T" else b"\x00")
            elif ch == 73:  # I
                iv = self.integer()
                self.expect(10)
                self._check_name(raw_name, f"integer bin {{name}} to {iv}")
                ptype, value = 1, _pack_q(iv)
            elif ch == 68:  # D
                value = self.double()
                self.expect(10)
                fv = struct.unpack(">d", value)[0]
                self._check_name(raw_name, f"floating-point bin {{name}} to {_g17(fv)}")
                ptype = 2
            elif ch == 83 or ch == 88:  # S X
                value = self.raw_data() if ch == 83 else self.enc_data()
                self.expect(10)
                shown = _text(value.split(b"\x00", 1)[0])
                self._check_name(raw_name, f"string bin {{name}} to {shown}")
                ptype = 3
            elif ch == 71:  # G
                text = self.raw_data()
                self.expect(10)
                shown = _text(text.split(b"\x00", 1)[0])
                self._check_name(raw_name, f"geojson bin {{name}} to {shown}")
                ptype, value = 23, _GEO_HEADER + text
            elif ch == 85:  # U
                raise _Err(
                    "The backup contains LDTs - please use an older version of this tool to "
                    "restore the backup ({at})",
                    self.cur,
                )
            else:
                ptype = _BYTES_TYPES[ch]
                value = self.raw_data() if compact else self.enc_data()
                if len(value) > _UINT_MAX:
                    raise _Err(f"Data bin value too large ({len(value)} bytes)", self.cur)
                self.expect(10)
                self._check_name(raw_name, "encoded data bin {name}")
        names.append(name)
        types.append(ptype)
        vals.append(value)

    def _check_name(self, raw_name: bytes, what: str) -> None:
        # the C client refuses bin names over 15 bytes while the record is built (§3.5)
        if len(raw_name) > _MAX_BIN_NAME:
            msg = "Error while setting " + what.replace("{name}", _text(raw_name)) + " ({at})"
            raise _Err(msg.replace("{", "{{").replace("}", "}}").replace("{{at}}", "{at}"), self.cur)

    def global_line(self) -> SIndex | UDF:
        """A ``*`` line; the ``*`` has been read."""
        self.expect(32)
        kind = self.getc()
        if kind == 105 or kind == 101:  # i, e (e: backup-go expression index, §5.3)
            return self.index(kind == 101)
        if kind == 117:
            return self.udf()
        raise _Err(f"Invalid global type character {_pc(kind)} in block ({{at}})", self.cur)

    def index(self, expression: bool) -> SIndex:
        self.expect(32)
        ns = self.token(b" ", unesc=True)
        self.expect(32)
        set_name = self.token(b" ", unesc=True)
        self.expect(32)
        name = self.token(b" ", unesc=True)
        self.expect(32)
        ch = self.getc()
        itype = _INDEX_TYPES.get(ch)
        if itype is None:
            raise _Err(f"Invalid index type character {_pc(ch)} in block ({{at}})", self.cur)
        self.expect(32)
        npaths = self.size(b" ", unesc=True)
        if npaths == 0:
            raise _Err("Missing path(s) in index block ({at})", self.cur)
        paths: list[tuple[bytes, SIndexDataType]] = []
        for k in range(npaths):
            self.expect(32)
            path = self.token(b" ", unesc=True)
            self.expect(32)
            ch = self.getc()
            dtype = _DATA_TYPES.get(ch)
            if dtype is None:
                raise _Err(f"Invalid path type character {_pc(ch)} in block ({{at}})", self.cur)
            if k != npaths - 1:
                self.expect(32)
            paths.append((path, dtype))
        if self.peek() != 10:
            self.expect(32)
        # backup-go's context and expression tokens are base64: read them raw
        tail = self.token(b"\n", unesc=not expression)
        self.expect(10)
        ctx: str | None = None
        exp: str | None = None
        if expression:
            # Go writes "<ctx> <exp>" when both exist and cannot read it back (§5.2): split
            c, sep, e = tail.rpartition(b" ")
            exp = _text(e) or None
            ctx = (_text(c) or None) if sep else None
        else:
            ctx = _text(tail) or None
        path, dtype = paths[0]
        return SIndex(
            namespace=_text(ns),
            set=_text(set_name),
            name=_text(name),
            index_type=itype,
            bin=_text(path),
            data_type=dtype,
            context=ctx,
            expression=exp,
        )

    def udf(self) -> UDF:
        self.expect(32)
        ch = self.getc()
        if ch != 76:
            raise _Err(f"Invalid UDF type character {_pc(ch)} in block ({{at}})", self.cur)
        self.expect(32)
        name = self.token(b" ", unesc=True)
        self.expect(32)
        size = self.size(b" ", unesc=True)
        if size > _UINT_MAX:
            raise _Err(f"UDF file {_text(name)} is too large ({size} bytes)", self.cur)
        self.expect(32)
        content = self.block(size)
        self.expect(10)
        return UDF(_text(name), content, "LUA")


def _fp_prefix_ok(buf: bytearray) -> bool:
    """C ``text_check_floating_point``: ``buf`` is a prefix of valid float notation."""
    i = 0
    n = len(buf)
    if n and buf[0] in (43, 45):  # sign
        i = 1
    if i == n:
        return True
    rest = bytes(buf[i:]).lower()
    if b"nan".startswith(rest) or b"inf".startswith(rest) or b"infinity".startswith(rest):
        return True
    dot = ex = False
    prev = 0
    for ch in buf[i:]:
        if 48 <= ch <= 57:
            prev = ch
            continue
        if ch in (43, 45) and prev == 101:
            prev = ch
            continue
        if ch == 46 and not dot and not ex:
            dot = True
            prev = ch
            continue
        if ch == 101 and not ex:
            ex = True
            prev = ch
            continue
        return False
    return True


def _g17(value: float) -> str:
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return "%.17g" % value  # noqa: UP031 - printf semantics are the point


# ------------------------------------------------------------------------------------------
# The decoder
# ------------------------------------------------------------------------------------------


class AsbDecoder:
    """Reads an ASB stream; yields ``SIndex``, ``UDF`` and ``RecordBatch`` items in file order.

    Accepts what asrestore 4.5.8 accepts, plus version 3.2 and backup-go's ``* e`` expression
    index lines (asb-format.md §1.1, §5.3). ``header_namespace`` and ``first_file`` are set once
    the meta lines have been read.
    """

    def __init__(self, options: DecoderOptions | None = None, *, fast: bool = True) -> None:
        self.options = options or DecoderOptions()
        self._use_fast = fast  # False: the C-exact reader only (tests compare both)
        self.header_namespace: str | None = None
        self.first_file = False
        self.version = ""

    @property
    def _file(self) -> str:
        return self.options.file or "<stream>"

    def _error(self, inp: _Input, err: _Err) -> FormatError:
        line, col = inp.where(err.offset)
        msg = err.fmt.replace("{at}", f"line {line}, col {col}")
        return FormatError(msg, file=self.options.file, line=line, column=col, offset=err.offset)

    def decode(self, stream: BinaryIO) -> Iterator[SIndex | UDF | RecordBatch]:
        inp = _Input(stream)
        legacy = self._read_header(inp)
        slow = _Slow(inp, legacy, self._file)
        limit = max(1, self.options.batch_size)
        cols = _Columns()
        caches = _Caches()
        batch_ns: bytes | None = None  # raw namespace of the records in ``cols``
        # 3.0 files never unescape: leave them to the C-exact reader
        fast = self._use_fast and not legacy
        seen: bytes | None = None
        data = b""
        end = 0

        def finish() -> RecordBatch:
            ns = batch_ns if batch_ns is not None else b""
            name = caches.ns.get(ns)
            return cols.finish(name if name is not None else _text(ns))

        while True:
            if fast:
                if len(inp.data) - inp.pos < LOW_WATER and not inp.eof:
                    inp.fill()
                if inp.data is not seen:
                    # the fast path sees whole lines only: every find of a newline succeeds
                    seen = inp.data
                    end = seen.rfind(b"\n") + 1
                    data = seen if end == len(seen) else seen[:end]
                if inp.pos < end:
                    # the cyclic GC would otherwise run every few hundred records and walk
                    # the batch being built (measured: half the decode time); nothing made
                    # here is cyclic, so collect at most once per batch instead
                    gc_on = gc.isenabled()
                    if gc_on:
                        gc.disable()
                    try:
                        pos, batch_ns = parse_records_fast(
                            data, inp.pos, end, cols, caches, limit, batch_ns
                        )
                    finally:
                        if gc_on:
                            gc.enable()
                    moved = pos != inp.pos
                    inp.pos = pos
                    if len(cols) >= limit:
                        yield finish()
                        batch_ns = None
                        continue
                    if moved:
                        continue
            # the slow path: one block
            if inp.pos >= len(inp.data) and not inp.fill():
                break  # EOF at a block boundary
            try:
                ch = slow.getc()
                if ch == 42 and not legacy:  # '*'
                    item = slow.global_line()
                    if len(cols):
                        yield finish()
                        batch_ns = None
                    yield item
                    continue
                if ch != 43:
                    raise _Err(f"Invalid start character {_pc(ch)} in block ({{at}})", slow.cur)
                ns, set_name, digest, key, gen, vt, names, types, vals = slow.record()
            except _Err as err:
                raise self._error(inp, err) from None
            if batch_ns is not None and ns != batch_ns and len(cols):
                yield finish()  # a record of another namespace starts a new batch
            batch_ns = ns
            if ns not in caches.ns:
                caches.ns[ns] = _text(ns)
            cols.sets.append(set_name)
            cols.digests.append(digest)
            cols.keys.append(key)
            cols.gens.append(gen)
            cols.vts.append(vt)
            cols.names += names
            cols.types += types
            cols.vals += vals
            cols.bin_index.append(len(cols.names))
            if len(cols) >= limit:
                yield finish()
                batch_ns = None
        if len(cols):
            yield finish()

    def _read_header(self, inp: _Input) -> bool:
        """Version line and meta lines (C ``open_file``). Returns legacy (3.0)."""
        f = self._file
        inp.fill()
        data = inp.data
        if not data:
            raise FormatError(
                f"Error while reading version from backup file {f}",
                file=self.options.file, line=1, column=1, offset=0,
            )
        nl = data.find(b"\n", 0, 12)
        line = data[: nl + 1] if nl >= 0 else data[:12]
        if not (line[:8] == b"Version " and len(line) == 12 and line[11] == 10):
            raise FormatError(
                f"Invalid version line in backup file {f}",
                file=self.options.file, line=1, column=1, offset=0,
            )
        version = line[8:11]
        if version not in (b"3.0", b"3.1", b"3.2"):
            raise FormatError(
                f"Invalid backup file version {_text(version)} in backup file {f}",
                file=self.options.file, line=1, column=9, offset=8,
            )
        self.version = version.decode()
        inp.pos = 12
        lineno = 2
        while True:
            if len(inp.data) - inp.pos < 1000 and not inp.eof:
                inp.fill()
            data, pos = inp.data, inp.pos
            if pos >= len(data) or data[pos] != 35:
                break
            off = inp.base + pos
            if pos + 1 >= len(data):
                raise FormatError(
                    f"Error while reading meta data from backup file {f}:{lineno} [1]",
                    file=self.options.file, line=lineno, column=1, offset=off,
                )
            window = data[pos + 1 : pos + 1 + 999]
            nl = window.find(b"\n")
            nul = window.find(b"\x00")
            if nl < 0 or (0 <= nul < nl):
                text = window[: nul if nul >= 0 else len(window)]
                raise FormatError(
                    f"Meta data line {_text(text)} too long in backup file {f}:{lineno}",
                    file=self.options.file, line=lineno, column=1, offset=off,
                )
            meta = window[:nl]
            if meta[:1] != b" ":
                raise FormatError(
                    f'Invalid meta data line "#{_text(meta)}" in backup file {f}:{lineno} [1]',
                    file=self.options.file, line=lineno, column=2, offset=off + 1,
                )
            if meta[1:] == b"first-file":
                self.first_file = True
            elif meta[1:10] == b"namespace":
                self.header_namespace = _unescape(meta[11:]) if meta[10:11] == b" " else _text(meta[10:])
            else:
                raise FormatError(
                    f'Invalid meta data line "#{_text(meta)}" in backup file {f}:{lineno} [2]',
                    file=self.options.file, line=lineno, column=2, offset=off + 1,
                )
            inp.pos = pos + 1 + nl + 1
            lineno += 1
        return version == b"3.0"


def _unescape(raw: bytes) -> str:
    out = bytearray()
    esc = False
    for c in raw:
        if c == 92 and not esc:
            esc = True
            continue
        esc = False
        out.append(c)
    return _text(bytes(out))


def validate(stream: BinaryIO, options: DecoderOptions | None = None) -> ValidationCounts:
    """Decode everything and count (``restore --validate``); raises ``FormatError``."""
    counts = ValidationCounts()
    for item in AsbDecoder(options).decode(stream):
        if isinstance(item, RecordBatch):
            counts.records += len(item)
            counts.bins += len(item.bin_names)
        elif isinstance(item, SIndex):
            counts.sindexes += 1
        else:
            counts.udfs += 1
    return counts


# The reference stays importable; the C twin (aerobackup.speedups) replaces it when active.
parse_records_fast_py = parse_records_fast
if (_native := speedups.native_function("asb_parse_records_fast")) is not None:
    parse_records_fast = _native  # noqa: F811
_columns_finish_py = _Columns.finish
if (_native_finish := speedups.native_function("asb_columns_finish")) is not None:
    _Columns.finish = lambda self, namespace: _native_finish(self, namespace)  # type: ignore[method-assign]
