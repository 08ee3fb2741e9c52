"""The few list operations the emulator runs (CDT_READ / CDT_MODIFY ops, wire-protocol §5.4).

List set_type (0), append (1), append_items (2), clear (7), size (16) and get by index (17), on the
raw msgpack of the bin so untouched elements keep their exact bytes. Other CDT operations answer
16 (unsupported) until a test needs them.
"""

from __future__ import annotations

import struct

import msgpack

from ._msg import MsgpackError, msgpack_key

__all__ = ["cdt_op"]

_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _list_elements(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(flag ext bytes, raw elements) of a list particle."""
    b = raw[0]
    if 0x90 <= b <= 0x9F:
        n, p = b & 0x0F, 1
    elif b == 0xDC:
        n, p = int.from_bytes(raw[1:3], "big"), 3
    elif b == 0xDD:
        n, p = int.from_bytes(raw[1:5], "big"), 5
    else:
        raise MsgpackError("not a list")
    ext = b""
    if n and raw[p : p + 2] == b"\xc7\x00":
        ext, p, n = raw[p : p + 3], p + 3, n - 1
    out = []
    for _ in range(n):
        _k, e = msgpack_key(raw, p)
        out.append(raw[p:e])
        p = e
    return ext, out


def _to_particle(raw: bytes) -> tuple[int, bytes]:
    """Particle of one msgpack value (CDT results)."""
    v = msgpack.unpackb(raw, raw=True, strict_map_key=False)
    if v is None:
        return 0, b""
    if isinstance(v, bool):
        return 17, b"\x01" if v else b"\x00"
    if isinstance(v, int):
        return 1, _I64.pack(v)
    if isinstance(v, float):
        return 2, _F64.pack(v)
    if isinstance(v, bytes):
        return (v[0], v[1:]) if v else (3, b"")
    if isinstance(v, dict):
        return 19, raw
    return 20, raw


def cdt_op(bins: dict[bytes, tuple[int, bytes]], op: int, name: bytes, val: bytes) -> tuple[int, int, bytes]:
    """A few list operations: set_type (0), append (1), append_items (2), clear (7), size (16),
    get (17)."""
    try:
        args = msgpack.unpackb(val, raw=True, strict_map_key=False)
        code = args[0] if isinstance(args, list) and args else -1
        cur = bins.get(name)
        if cur is not None and cur[0] != 20:
            return 12, 0, b""
        ext, elems = _list_elements(cur[1]) if cur is not None else (b"", [])
        if op == 4 and code in (1, 2):
            s = _arg_start(val)
            _k, e = msgpack_key(val, s)
            if code == 1:
                elems.append(val[s:e])
            else:
                elems.extend(_list_elements(val[s:e])[1])
            bins[name] = (20, _array_header(len(elems) + (1 if ext else 0)) + ext + b"".join(elems))
            return 0, 1, _I64.pack(len(elems))
        if op == 4 and code == 0:  # set_type: flags 1 = ordered (elements sorted), 0 = unordered
            flags = int(args[1]) & 0x01
            if flags:
                elems.sort(key=lambda el: msgpack_key(el, 0)[0])
            new_ext = bytes([0xC7, 0x00, flags]) if flags else b""
            bins[name] = (20, _array_header(len(elems) + (1 if new_ext else 0)) + new_ext + b"".join(elems))
            return 0, 0, b""
        if op == 4 and code == 7:
            if cur is not None:
                bins[name] = (20, _array_header(1 if ext else 0) + ext)
            return 0, 0, b""
        if op == 3 and cur is None:
            return 0, 0, b""
        if op == 3 and code == 16:
            return 0, 1, _I64.pack(len(elems))
        if op == 3 and code == 17:
            idx = int(args[1])
            if not -len(elems) <= idx < len(elems):
                return 26, 0, b""
            pt, pv = _to_particle(elems[idx])
            return 0, pt, pv
    except (MsgpackError, ValueError, TypeError, IndexError, msgpack.ExtraData):
        return 4, 0, b""
    return 16, 0, b""


def _arg_start(val: bytes) -> int:
    """Offset of the first argument after the op code in a CDT op array."""
    _k, p = msgpack_key(val, 1 if 0x90 <= val[0] <= 0x9F else 3)
    return p
