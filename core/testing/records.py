"""Records as tests see them: user-key digests and the raw stored form of a record."""

from __future__ import annotations

import hashlib

from ._store import Record

__all__ = ["RawRecord", "key_digest", "key_particle"]


def key_particle(key: int | str | bytes | bytearray) -> bytes:
    """Particle type byte + value bytes of a user key (§12)."""
    if isinstance(key, bool) or not isinstance(key, (int, str, bytes, bytearray)):
        raise TypeError(f"a user key is an int, str or bytes (got {type(key).__name__})")
    if isinstance(key, int):
        return b"\x01" + key.to_bytes(8, "big", signed=True)
    if isinstance(key, str):
        return b"\x03" + key.encode()
    return b"\x04" + bytes(key)


def key_digest(set_name: str, key: int | str | bytes | bytearray) -> bytes:
    """RIPEMD-160 digest of a record key: set name + key type byte + key bytes (§12)."""
    return hashlib.new("ripemd160", set_name.encode() + key_particle(key)).digest()


class RawRecord:
    """A stored record as the server holds it (what :meth:`Emulator.get_raw` returns)."""

    __slots__ = ("namespace", "digest", "set_name", "key", "generation", "void_time", "lut", "bins")

    def __init__(self, namespace: str, rec: Record) -> None:
        self.namespace = namespace
        self.digest = rec.digest
        self.set_name = rec.set_name.decode("utf-8", errors="replace")
        #: stored user key as (particle type, bytes), or None
        self.key = (rec.key[0], rec.key[1:]) if rec.key is not None else None
        self.generation = rec.gen
        #: seconds since 2010-01-01 UTC; 0 = never expires
        self.void_time = rec.void_time
        #: last-update time, Unix nanoseconds
        self.lut = rec.lut
        #: [(bin name, particle type, bytes)] in bin order
        self.bins = [(n.decode("utf-8", errors="replace"), pt, v) for n, (pt, v) in rec.bins.items()]

    def __repr__(self) -> str:
        return (
            f"RawRecord({self.namespace}/{self.set_name} {self.digest.hex()} gen={self.generation} bins={self.bins!r})"
        )
