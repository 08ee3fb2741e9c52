"""The XDR connector stream's messages (wire-protocol.md §10): the 30-byte ack, and a shipped
record turned into its ASBX token.

``parse_message`` runs once per record on the receiver's hot path, so it is kept to plain local
operations; it never raises on bad input (it returns None, and the receiver answers "retry").
"""

from __future__ import annotations

import struct

from ..model import XdrToken
from ..wire.protocol import Field, Info1, MsgType, Result, pack_proto

__all__ = ["ACK_OK", "ACK_RETRY", "MRT_MONITOR_SET", "NOT_XDR", "SKIP", "ack_message", "parse_message"]

MRT_MONITOR_SET = b"<ERO~MRT"  # transaction-monitor records: acked, never written (§10.3)
_KEY_TYPES = (1, 3, 4)  # integer, string, blob


def ack_message(result: int) -> bytes:
    """The 30-byte ack: proto header of type 3, size 22, then 22 zero bytes but the result."""
    body = bytearray(22)
    body[5] = result
    return pack_proto(MsgType.AS_MSG, 22) + bytes(body)


ACK_OK = ack_message(Result.OK)
ACK_RETRY = ack_message(Result.UNAVAILABLE)


#: what parse_message returns for a transaction-monitor record (acked, not written)
SKIP = XdrToken("", b"", b"")


_FIELD = struct.Struct(">IB")
_F_NAMESPACE, _F_SET, _F_KEY, _F_DIGEST = Field.NAMESPACE, Field.SET, Field.KEY, Field.DIGEST
NOT_XDR = 0xFF & ~Info1.XDR


def parse_message(msg: bytes, names: dict[bytes, str]) -> XdrToken | None:
    """The ASBX token of a whole message (XDR bit cleared, §10.4); None if malformed; SKIP for
    transaction-monitor records. ``names`` caches decoded namespace names (no decode per
    message). Runs once per record: kept to plain local operations."""
    size = len(msg)
    if size < 30:
        return None
    n_fields = (msg[26] << 8) | msg[27]
    if n_fields < 3:
        return None
    unpack = _FIELD.unpack_from
    pos = 30
    namespace = digest = set_name = None
    for _ in range(n_fields):
        if pos + 5 > size:
            return None
        flen, ftype = unpack(msg, pos)
        end = pos + 4 + flen
        if flen < 1 or end > size:
            return None
        if ftype == _F_DIGEST:
            digest = msg[pos + 5 : end]
        elif ftype == _F_NAMESPACE:
            namespace = msg[pos + 5 : end]
        elif ftype == _F_SET:
            set_name = msg[pos + 5 : end]
        elif ftype == _F_KEY and (flen < 2 or msg[pos + 5] not in _KEY_TYPES):
            return None
        pos = end
    if namespace is None or digest is None or len(digest) != 20:
        return None
    if set_name == MRT_MONITOR_SET:
        return SKIP
    ns = names.get(namespace)
    if ns is None:
        ns = namespace.decode("utf-8", "replace")
        if len(names) < 64:
            names[namespace] = ns
    payload = msg[:9] + bytes((msg[9] & NOT_XDR,)) + msg[10:] if msg[9] & Info1.XDR else msg
    return XdrToken(ns, digest, payload)
