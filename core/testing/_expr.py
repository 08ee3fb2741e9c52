"""A small evaluator of Aerospike filter expressions (the FILTER field, type 43).

Covers what a backup tool and our tests send: record metadata (last-update time, void time, TTL,
since-update, set name, key exists, digest modulo, record size), bin values and bin types,
comparisons, and/or/not/exclusive and integer/float arithmetic. Anything else raises
:class:`ExprError` and the request is answered with result 4.
The wire form is msgpack: ``[op, args...]``; strings used as values carry the particle-type
prefix byte (3), bin names do not (observed in the wire traces).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import msgpack

from ._store import CL_EPOCH, NamespaceStore, Record

__all__ = ["ExprError", "compile_filter", "evaluate"]

_NS_PER_S = 1_000_000_000

# expression type codes of a BIN / REC_KEY read
_T_INT, _T_STR, _T_BLOB, _T_FLOAT, _T_BOOL = 2, 3, 6, 7, 1


class ExprError(ValueError):
    """An expression this emulator does not evaluate."""


class _Missing:
    """An unknown value (missing bin, no key); every comparison with it is false."""


MISSING = _Missing()


def _bin_value(rec: Record, name: bytes) -> Any:
    b = rec.bins.get(name)
    if b is None:
        return MISSING
    ptype, val = b
    if ptype == 1:
        return int.from_bytes(val, "big", signed=True)
    if ptype == 2:
        return struct.unpack(">d", val)[0]
    if ptype == 17:
        return val != b"\x00"
    return val


def _key_value(rec: Record) -> Any:
    if rec.key is None:
        return MISSING
    if rec.key[0] == 1:
        return int.from_bytes(rec.key[1:], "big", signed=True)
    return rec.key[1:]


def _cmp(op: int, a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return False
    try:
        if op == 1:
            return bool(a == b)
        if op == 2:
            return bool(a != b)
        if op == 3:
            return bool(a > b)
        if op == 4:
            return bool(a >= b)
        if op == 5:
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


def _arith(op: int, vals: list[Any]) -> Any:
    if any(v is MISSING for v in vals) or not vals:
        return MISSING
    acc = vals[0]
    for v in vals[1:]:
        if op == 20:
            acc = acc + v
        elif op == 21:
            acc = acc - v
        elif op == 22:
            acc = acc * v
        elif op == 23:
            acc = acc // v if isinstance(acc, int) and isinstance(v, int) else acc / v
        else:
            acc = acc % v
    return acc


def evaluate(node: Any, rec: Record, ns: NamespaceStore, now: float) -> Any:
    """Value of one expression node for ``rec``."""
    if isinstance(node, bytes):
        return node[1:] if node[:1] in (b"\x03", b"\x04") else node
    if not isinstance(node, list):
        return node
    if not node:
        raise ExprError("empty expression")
    op = node[0]
    if 1 <= op <= 6:
        return _cmp(op, evaluate(node[1], rec, ns, now), evaluate(node[2], rec, ns, now))
    if op == 16:
        return all(evaluate(n, rec, ns, now) is True for n in node[1:])
    if op == 17:
        return any(evaluate(n, rec, ns, now) is True for n in node[1:])
    if op == 18:
        return evaluate(node[1], rec, ns, now) is not True
    if op == 19:
        return sum(1 for n in node[1:] if evaluate(n, rec, ns, now) is True) == 1
    if op in (20, 21, 22, 23, 26):
        return _arith(op, [evaluate(n, rec, ns, now) for n in node[1:]])
    if op == 64:
        return int.from_bytes(rec.digest[16:20], "little") % int(node[1])
    if op in (65, 73, 74):
        return rec.storage_size()
    if op == 66:
        return rec.lut
    if op == 67:
        return max(0, int(now * 1000) - rec.lut // 1_000_000)
    if op == 68:
        return -1 if rec.void_time == 0 else (rec.void_time + CL_EPOCH) * _NS_PER_S
    if op == 69:
        return -1 if rec.void_time == 0 else max(0, rec.void_time + CL_EPOCH - int(now))
    if op == 70:
        return rec.set_name
    if op == 71:
        return rec.key is not None
    if op == 72:
        return False
    if op == 80:
        return _key_value(rec)
    if op == 81:
        return _bin_value(rec, bytes(node[2]))
    if op == 82:
        b = rec.bins.get(bytes(node[1]))
        return 0 if b is None else b[0]
    raise ExprError(f"expression op {op} is not supported by the emulator")


def compile_filter(data: bytes) -> Callable[[Record, NamespaceStore, float], bool]:
    """A predicate for a FILTER field; raises :class:`ExprError` for bytes it cannot use."""
    try:
        tree = msgpack.unpackb(data, raw=True, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ExprError(f"bad filter expression: {exc}") from exc

    def predicate(rec: Record, ns: NamespaceStore, now: float) -> bool:
        return evaluate(tree, rec, ns, now) is True

    return predicate
