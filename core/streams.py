"""Small stream helpers shared by the core and the plugins."""

from __future__ import annotations

from typing import BinaryIO

__all__ = ["read_full"]


def read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the stream.

    Raw streams, sockets and decompressors may return short reads; framing code needs whole
    fields, so it loops until it has them or the stream ends.
    """
    data = stream.read(size)
    if data is None:
        return b""
    if len(data) >= size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)
