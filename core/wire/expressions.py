"""A tiny packer for the filter expressions the data path adds to a scan.

Filter expressions travel as msgpack in field 43 (wire-protocol.md §5.2). The data path only
needs a handful of forms (last-update time bounds, "never expires", set-name tests) and must
AND them with a user's already-packed expression (``asbackup -f``, base64). The bytes match
what the official client's ``aerospike_helpers.expressions`` produce (checked by a test that
captures the client's ``get_expression_base64`` output).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgpack

__all__ = [
    "Expr",
    "and_",
    "eq",
    "ge",
    "gt",
    "last_update_time",
    "le",
    "lt",
    "or_",
    "scan_filter",
    "set_name",
    "void_time",
]

# Wire operator codes. The Python helpers number the metadata calls differently
# (resources._ExprOp) and the C layer translates; these are the bytes the client sends
# (observed: VoidTime() packs as 0x44, SetName() as 0x46).
_EQ, _NE, _GT, _GE, _LT, _LE = 1, 2, 3, 4, 5, 6
_AND, _OR = 16, 17
_LAST_UPDATE_TIME, _VOID_TIME, _SET_NAME = 66, 68, 70

#: A packed expression: the msgpack bytes of one expression node.
Expr = bytes


def _value(value: int | str) -> bytes:
    if isinstance(value, str):
        # Strings inside expressions carry the STRING particle type as their first byte.
        return msgpack.packb("\x03" + value)  # type: ignore[no-any-return]
    return msgpack.packb(value)  # type: ignore[no-any-return]


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def last_update_time() -> Expr:
    """The record's last-update time, nanoseconds since the Unix epoch."""
    return _array_header(1) + bytes([_LAST_UPDATE_TIME])


def void_time() -> Expr:
    """The record's expiry, nanoseconds since the Unix epoch; -1 when it never expires."""
    return _array_header(1) + bytes([_VOID_TIME])


def set_name() -> Expr:
    return _array_header(1) + bytes([_SET_NAME])


def _cmp(op: int, left: Expr, right: Expr | int | str) -> Expr:
    rhs = right if isinstance(right, bytes) else _value(right)
    return _array_header(3) + bytes([op]) + left + rhs


def eq(left: Expr, right: Expr | int | str) -> Expr:
    return _cmp(_EQ, left, right)


def gt(left: Expr, right: Expr | int | str) -> Expr:
    return _cmp(_GT, left, right)


def ge(left: Expr, right: Expr | int | str) -> Expr:
    return _cmp(_GE, left, right)


def lt(left: Expr, right: Expr | int | str) -> Expr:
    return _cmp(_LT, left, right)


def le(left: Expr, right: Expr | int | str) -> Expr:
    return _cmp(_LE, left, right)


def and_(*exprs: Expr) -> Expr:
    """AND of the given expressions; one expression is returned as it is."""
    if len(exprs) == 1:
        return exprs[0]
    return _array_header(len(exprs) + 1) + bytes([_AND]) + b"".join(exprs)


def or_(*exprs: Expr) -> Expr:
    if len(exprs) == 1:
        return exprs[0]
    return _array_header(len(exprs) + 1) + bytes([_OR]) + b"".join(exprs)


def scan_filter(
    *,
    user: bytes | None = None,
    set_names: Sequence[str] = (),
    modified_after_ns: int | None = None,
    modified_before_ns: int | None = None,
    no_ttl_only: bool = False,
) -> bytes | None:
    """The FILTER field of a scan: the user's expression ANDed with the request's conditions.

    ``modified_after_ns`` keeps records updated at or after it, ``modified_before_ns`` those
    updated strictly before it (backup-go's GE/LT bounds). Several set names become an OR of
    set-name tests (one set name travels as the SET field instead, so it is not handled here).
    """
    parts: list[bytes] = []
    if user:
        parts.append(bytes(user))
    if modified_after_ns is not None:
        parts.append(ge(last_update_time(), modified_after_ns))
    if modified_before_ns is not None:
        parts.append(lt(last_update_time(), modified_before_ns))
    if no_ttl_only:
        parts.append(eq(void_time(), -1))  # the void-time expression is -1 for "never expires"
    if len(set_names) > 1:
        parts.append(or_(*(eq(set_name(), s) for s in set_names)))
    return and_(*parts) if parts else None
