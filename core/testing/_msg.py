"""AS_MSG parsing and building for the emulator, plus the particle checks a server makes on write.

Layouts: ../shared/spec/wire-protocol.md §4-§5. Parsing is strict the way the real server is
(§9.1): a field or op that overruns the body, or bytes left after the last op, is result 4.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from ..wire.protocol import pack_proto
from ._geo import s2_cell_id

__all__ = [
    "VALID_PTYPES",
    "Msg",
    "MsgpackError",
    "PlainWrites",
    "check_particle",
    "empty_result",
    "error_reply",
    "header",
    "msgpack_key",
    "op_bytes",
    "parse_fields_ops",
    "parse_msg",
    "parse_plain_writes",
    "proto",
]

_MSG_HDR = struct.Struct(">BBBBBBIIIHH")
_U32 = struct.Struct(">I")
_OP_HDR = struct.Struct(">IBBBB")
_U16 = struct.Struct(">H")
_OP_HDR_FN = struct.Struct(">IBBH")  # an op header with its flags and name length as one number


class Msg:
    """A parsed AS_MSG: header values, fields by type, ops as (op, particle, name, value)."""

    __slots__ = ("info1", "info2", "info3", "info4", "gen", "ttl", "tt", "fields", "ops")

    def __init__(
        self,
        info1: int,
        info2: int,
        info3: int,
        info4: int,
        gen: int,
        ttl: int,
        tt: int,
        fields: dict[int, bytes],
        ops: list[tuple[int, int, bytes, bytes]],
    ) -> None:
        self.info1 = info1
        self.info2 = info2
        self.info3 = info3
        self.info4 = info4
        self.gen = gen
        self.ttl = ttl
        self.tt = tt
        self.fields = fields
        self.ops = ops


def parse_fields_ops(
    buf: bytes, pos: int, end: int, n_fields: int, n_ops: int
) -> tuple[dict[int, bytes], list[tuple[int, int, bytes, bytes]], int] | None:
    """Fields and ops starting at ``pos``; None when one overruns ``end``. Returns the end too."""
    fields: dict[int, bytes] = {}
    for _ in range(n_fields):
        if pos + 5 > end:
            return None
        size = _U32.unpack_from(buf, pos)[0]
        if size < 1 or pos + 4 + size > end:
            return None
        fields[buf[pos + 4]] = buf[pos + 5 : pos + 4 + size]
        pos += 4 + size
    ops: list[tuple[int, int, bytes, bytes]] = []
    for _ in range(n_ops):
        if pos + 8 > end:
            return None
        size, op, ptype, _flags, name_len = _OP_HDR.unpack_from(buf, pos)
        if size < 4 + name_len or pos + 4 + size > end:
            return None
        name_end = pos + 8 + name_len
        ops.append((op, ptype, buf[pos + 8 : name_end], buf[name_end : pos + 4 + size]))
        pos += 4 + size
    return fields, ops, pos


def parse_msg(buf: bytes) -> Msg | None:
    """Parse a whole AS_MSG body; None means malformed (answer result 4)."""
    end = len(buf)
    if end < 22:
        return None
    _hsz, i1, i2, i3, i4, _rc, gen, ttl, tt, nf, no = _MSG_HDR.unpack_from(buf, 0)
    # the server ignores header_sz and reads fields right after the 22 bytes (§4.1)
    parsed = parse_fields_ops(buf, 22, end, nf, no)
    if parsed is None or parsed[2] != end:
        return None
    return Msg(i1, i2, i3, i4, gen, ttl, tt, parsed[0], parsed[1])


def header(
    rc: int = 0,
    gen: int = 0,
    void_time: int = 0,
    tt: int = 0,
    n_fields: int = 0,
    n_ops: int = 0,
    info1: int = 0,
    info3: int = 0,
) -> bytes:
    return _MSG_HDR.pack(22, info1, 0, info3, 0, rc, gen, void_time, tt, n_fields, n_ops)


def proto(msg_type: int, body: bytes) -> bytes:
    return pack_proto(msg_type, len(body)) + body


def error_reply(rc: int, gen: int = 0) -> bytes:
    """A single-record failure: bare header in its own proto (§9.1 last paragraph)."""
    return proto(3, _MSG_HDR.pack(22, 0, 0, 0, 0, rc, gen, 0, 0, 0, 0))


def op_bytes(op: int, ptype: int, name: bytes, value: bytes) -> bytes:
    return _OP_HDR.pack(4 + len(name) + len(value), op, ptype, 0, len(name)) + name + value


_EMPTY_RESULTS: dict[tuple[int, bytes], bytes] = {}


def empty_result(op: int, name: bytes) -> bytes:
    """The (cached) result entry of a write op under RESPOND_ALL_OPS: particle 0, no value."""
    got = _EMPTY_RESULTS.get((op, name))
    if got is None:
        got = op_bytes(op, 0, name, b"")
        if len(_EMPTY_RESULTS) < 4096:
            _EMPTY_RESULTS[(op, name)] = got
    return got


# --- msgpack ordering (lists/maps are checked and maps sorted the way the server does) ----------


class MsgpackError(ValueError):
    """Bytes that are not one well-formed msgpack value."""


# type ranks of the server's msgpack comparison: nil < false < true < int < string < list < map
# < bytes < double < geojson
_R_NIL, _R_FALSE, _R_TRUE, _R_INT, _R_STR, _R_LIST, _R_MAP, _R_BYTES, _R_DOUBLE, _R_GEO = range(10)
_R_EXT = 10


def _str_key(data: bytes) -> tuple[int, Any]:
    if data[:1] == b"\x03":
        return (_R_STR, data[1:])
    if data[:1] == b"\x17":
        return (_R_GEO, data[1:])
    return (_R_BYTES, data[1:])


def msgpack_key(buf: bytes, p: int) -> tuple[tuple[int, Any], int]:
    """(comparison key, end offset) of the msgpack element at ``p``."""
    try:
        return _mp(buf, p)
    except (IndexError, struct.error) as exc:
        raise MsgpackError("truncated msgpack") from exc


def _container(buf: bytes, p: int, n: int, rank: int, pairs: bool) -> tuple[tuple[int, Any], int]:
    items = []
    for _ in range(n * 2 if pairs else n):
        k, p = _mp(buf, p)
        items.append(k)
    return (rank, tuple(items)), p


def _mp(buf: bytes, p: int) -> tuple[tuple[int, Any], int]:
    b = buf[p]
    if b <= 0x7F:
        return (_R_INT, b), p + 1
    if b >= 0xE0:
        return (_R_INT, b - 256), p + 1
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        if p + 1 + n > len(buf):
            raise MsgpackError("truncated string")
        return _str_key(buf[p + 1 : p + 1 + n]), p + 1 + n
    if 0x90 <= b <= 0x9F:
        return _container(buf, p + 1, b & 0x0F, _R_LIST, False)
    if 0x80 <= b <= 0x8F:
        return _container(buf, p + 1, b & 0x0F, _R_MAP, True)
    if b == 0xC0:
        return (_R_NIL, 0), p + 1
    if b == 0xC2:
        return (_R_FALSE, 0), p + 1
    if b == 0xC3:
        return (_R_TRUE, 0), p + 1
    if b in (0xC4, 0xC5, 0xC6):
        w = 1 << (b - 0xC4)
        n = int.from_bytes(buf[p + 1 : p + 1 + w], "big")
        s = p + 1 + w
        if s + n > len(buf):
            raise MsgpackError("truncated bin")
        return (_R_BYTES, buf[s : s + n]), s + n
    if b in (0xC7, 0xC8, 0xC9):
        w = 1 << (b - 0xC7)
        n = int.from_bytes(buf[p + 1 : p + 1 + w], "big")
        s = p + 2 + w
        if s + n > len(buf):
            raise MsgpackError("truncated ext")
        return (_R_EXT, buf[s - 1 : s + n]), s + n
    if b == 0xCA:
        return (_R_DOUBLE, struct.unpack_from(">f", buf, p + 1)[0]), p + 5
    if b == 0xCB:
        return (_R_DOUBLE, struct.unpack_from(">d", buf, p + 1)[0]), p + 9
    if 0xCC <= b <= 0xCF:
        w = 1 << (b - 0xCC)
        if p + 1 + w > len(buf):
            raise MsgpackError("truncated uint")
        return (_R_INT, int.from_bytes(buf[p + 1 : p + 1 + w], "big")), p + 1 + w
    if 0xD0 <= b <= 0xD3:
        w = 1 << (b - 0xD0)
        if p + 1 + w > len(buf):
            raise MsgpackError("truncated int")
        return (_R_INT, int.from_bytes(buf[p + 1 : p + 1 + w], "big", signed=True)), p + 1 + w
    if 0xD4 <= b <= 0xD8:
        n = 1 << (b - 0xD4)
        return (_R_EXT, buf[p + 1 : p + 2 + n]), p + 2 + n
    if b in (0xD9, 0xDA, 0xDB):
        w = 1 << (b - 0xD9)
        n = int.from_bytes(buf[p + 1 : p + 1 + w], "big")
        s = p + 1 + w
        if s + n > len(buf):
            raise MsgpackError("truncated string")
        return _str_key(buf[s : s + n]), s + n
    if b in (0xDC, 0xDD):
        w = 2 if b == 0xDC else 4
        return _container(buf, p + 1 + w, int.from_bytes(buf[p + 1 : p + 1 + w], "big"), _R_LIST, False)
    if b in (0xDE, 0xDF):
        w = 2 if b == 0xDE else 4
        return _container(buf, p + 1 + w, int.from_bytes(buf[p + 1 : p + 1 + w], "big"), _R_MAP, True)
    raise MsgpackError(f"bad msgpack byte 0x{b:02x}")


def _header_count(buf: bytes) -> tuple[int, int, bool]:
    """(element count, header length, is_map) of a top-level list/map."""
    b = buf[0]
    if 0x90 <= b <= 0x9F:
        return b & 0x0F, 1, False
    if 0x80 <= b <= 0x8F:
        return b & 0x0F, 1, True
    if b in (0xDC, 0xDE):
        return _U16.unpack_from(buf, 1)[0], 3, b == 0xDE
    if b in (0xDD, 0xDF):
        return _U32.unpack_from(buf, 1)[0], 5, b == 0xDF
    raise MsgpackError("not a list or map")


def _check_cdt(ptype: int, value: bytes) -> tuple[int, bytes]:
    """Validate a list (20) or map (19) particle; sort an unordered map by key (§5.6)."""
    try:
        n, hl, is_map = _header_count(value)
        if is_map != (ptype == 19):
            return 4, value
        p = hl
        flags = 0
        if n and value[p : p + 2] == b"\xc7\x00":
            flags = value[p + 2]
            p += 3
            if is_map:
                if value[p] != 0xC0:
                    return 4, value
                p += 1
            n -= 1
        elif not is_map:
            return 0, value  # a plain list is stored as sent (the element walk is for order checks)
        start = p
        items: list[tuple[Any, int, int]] = []
        for _ in range(n):
            s = p
            k, p = _mp(value, p)
            if is_map:
                _v, p = _mp(value, p)
            items.append((k, s, p))
        if p != len(value):
            return 4, value
    except (MsgpackError, IndexError, struct.error):
        return 4, value
    if flags & 0x01:
        keys = [k for k, _s, _e in items]
        if any(keys[i] > keys[i + 1] for i in range(len(keys) - 1)):
            return 1, value  # an "ordered" list/map sent unsorted
        return 0, value
    if is_map and n > 1:
        try:
            ordered = sorted(items, key=lambda it: it[0])
        except TypeError:
            return 4, value
        if ordered != items:
            body = b"".join(value[s:e] for _k, s, e in ordered)
            return 0, value[:start] + body
    return 0, value


_GEO_TYPES = {
    "Point", "Polygon", "MultiPolygon", "AeroCircle", "LineString", "MultiPoint",
    "MultiLineString", "GeometryCollection",
}  # fmt: skip


def _check_geo(value: bytes) -> tuple[int, bytes]:
    if len(value) < 3:
        return 4, value
    ncells = _U16.unpack_from(value, 1)[0]
    text = value[3 + 8 * ncells :]
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return 160, value
    if not isinstance(obj, dict) or obj.get("type") not in _GEO_TYPES:
        return 160, value
    if obj["type"] == "Point" and ncells == 0:
        try:
            lng, lat = (float(c) for c in obj["coordinates"][:2])
        except (KeyError, TypeError, ValueError):
            return 160, value
        cell = s2_cell_id(lat, lng)
        return 0, value[:1] + b"\x00\x01" + cell.to_bytes(8, "big") + text
    return 0, value


VALID_PTYPES = frozenset({1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20, 23})


_PLAIN = frozenset({3, 4, 7, 8, 9, 10, 11, 12, 16, 18})


def check_particle(ptype: int, value: bytes) -> tuple[int, int, bytes]:
    """(result code, particle type, value to store) for a WRITE of this particle."""
    if ptype in _PLAIN:
        return 0, ptype, value
    if ptype not in VALID_PTYPES:
        return 4, ptype, value
    if ptype == 1:
        n = len(value)
        if n == 8:
            return 0, 1, value
        if n in (1, 2, 4):
            return 0, 1, int.from_bytes(value, "big").to_bytes(8, "big")
        return 4, ptype, value
    if ptype == 2:
        return (0 if len(value) == 8 else 4), 2, value
    if ptype == 17:
        return (0 if len(value) == 1 else 4), 17, value
    if ptype in (19, 20):
        rc, v = _check_cdt(ptype, value)
        return rc, ptype, v
    if ptype == 23:
        rc, v = _check_geo(value)
        return rc, ptype, v
    return 0, ptype, value


#: particle types whose WRITE value is stored as sent, and the fixed sizes of the others that are
_FIXED_LEN = {1: 8, 2: 8, 17: 1}


class PlainWrites:
    """The ops of a row made only of plain WRITE ops, kept as wire bytes (see Record).

    ``wire`` holds the ops with the op byte turned into READ: the form a scan reply carries.
    """

    __slots__ = ("wire", "names")

    def __init__(self, wire: bytes, names: tuple[bytes, ...]) -> None:
        self.wire = wire
        self.names = names

    def as_ops(self) -> list[tuple[int, int, bytes, bytes]]:
        """The same ops as :func:`parse_fields_ops` gives them (for the general write path)."""
        ops = []
        wire, pos, end = self.wire, 0, len(self.wire)
        while pos < end:
            size, _op, ptype, _flags, name_len = _OP_HDR.unpack_from(wire, pos)
            name_end = pos + 8 + name_len
            ops.append((2, ptype, wire[pos + 8 : name_end], wire[name_end : pos + 4 + size]))
            pos += 4 + size
        return ops


def _sorted_fixmap(buf: bytes, p: int, end: int) -> bool:
    """Whether ``buf[p:end]`` is a small unordered map (no flags header) whose keys are strings in
    ascending order and whose values are scalars: what :func:`check_particle` stores as sent,
    decided without building comparison keys (a restore writes maps the server sorted). False
    only means "ask check_particle"."""
    b = buf[p]
    if not 0x80 <= b <= 0x8F:
        return False
    p += 1
    prev = b""
    for _ in range(b & 0x0F):
        b = buf[p]
        if not 0xA1 <= b <= 0xBF or buf[p + 1] != 3:  # a string key (particle type 3 first)
            return False
        key_end = p + 1 + (b & 0x1F)
        key = buf[p + 1 : key_end]
        if key < prev:
            return False
        prev = key
        p = key_end
        b = buf[p]
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):
            p += 1
        elif b == 0xCB:
            p += 9
        elif 0xCC <= b <= 0xD3:
            p += 1 + (1 << ((b - 0xCC) & 3))
        elif 0xA1 <= b <= 0xBF and buf[p + 1] == 3:
            p += 1 + (b & 0x1F)
        else:
            return False
        if p > end:
            return False
    return p == end


def parse_plain_writes(buf: bytes, pos: int, end: int, n_ops: int) -> tuple[PlainWrites, int] | None:
    """Ops at ``pos`` when all are WRITEs (flags 0, names <= 15 bytes) of values stored as sent.

    None otherwise (malformed included): the caller then parses them the general way. One pass,
    no per-op tuple: this is most of a restore's per-record parsing cost.
    """
    start = pos
    names = []
    op_bytes_at = []
    unpack_from = _OP_HDR_FN.unpack_from
    try:  # an op header past the buffer raises struct.error (cheaper than a bounds test per op)
        for _ in range(n_ops):
            # flags and name length as one number: over 15 means flags set or a long name
            size, op, ptype, name_len = unpack_from(buf, pos)
            name_end = pos + 8 + name_len
            value_end = pos + 4 + size
            if op != 2 or name_len > 15 or name_end > value_end or value_end > end:
                return None
            if ptype not in _PLAIN and _FIXED_LEN.get(ptype) != value_end - name_end:
                # a list without order flags is stored as sent: what check_particle would say,
                # without its call (0.5 us a list bin)
                plain_list = (
                    ptype == 20
                    and value_end - name_end >= 3
                    and 0x90 <= buf[name_end] <= 0x9F
                    and buf[name_end + 1 : name_end + 3] != b"\xc7\x00"
                )
                if not plain_list and not (ptype == 19 and _sorted_fixmap(buf, name_end, value_end)):
                    value = buf[name_end:value_end]
                    rc, _pt, stored = check_particle(ptype, value)  # maps, GeoJSON, short ints, ...
                    if rc or stored != value:
                        return None
            names.append(buf[pos + 8 : name_end])
            op_bytes_at.append(pos + 4 - start)
            pos = value_end
    except (struct.error, IndexError):
        return None
    if not names:
        return None
    wire = bytearray(buf[start:pos])
    for at in op_bytes_at:
        wire[at] = 1  # WRITE -> READ
    return PlainWrites(bytes(wire), tuple(names)), pos
