"""HyperLogLog operations on HLL particles (type 18) in the server's own layout.

Particle layout: flags u8 (0), n_index_bits u8 (4..16), n_minhash_bits u8 (0 or 4..51), a u64
cached count (host order, 0 = not cached), then 2**n_index_bits registers of 6 + n_minhash_bits
bits each, packed most significant bit first. An element (the msgpack bytes of one value, header
included) is hashed with MurmurHash3 x64-128: the low index bits of the first half pick the
register, the next n_minhash_bits bits are the min-hash, and 1 + the number of trailing zero bits
of the second half is the HLL value. Counts use Ertl's improved estimator. Reproduces the bytes and
counts a real server gives (wire traces hll-*).
"""

from __future__ import annotations

import math
import struct

import msgpack

from ._msg import MsgpackError, msgpack_key

__all__ = ["hll_modify", "hll_read", "murmur3_x64_128"]

_M64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_I64 = struct.Struct(">q")
# modify op codes: init, add, set_union, set_count, fold; read: count, get_union, union_count,
# intersect_count, similarity, describe
_INIT, _ADD, _UNION, _SET_COUNT, _FOLD = 0, 1, 2, 3, 4
_COUNT, _DESCRIBE = 50, 55


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_x64_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """The two 64-bit halves (h1, h2) of MurmurHash3 x64-128."""
    h1 = h2 = seed
    n = len(data)
    nblocks = n // 16
    for i in range(nblocks):
        k1, k2 = struct.unpack_from("<QQ", data, i * 16)
        k1 = (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 ^= k1
        h1 = (((_rotl(h1, 27) + h2) & _M64) * 5 + 0x52DCE729) & _M64
        k2 = (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 ^= k2
        h2 = (((_rotl(h2, 31) + h1) & _M64) * 5 + 0x38495AB5) & _M64
    tail = data[nblocks * 16 :]
    k1 = k2 = 0
    for i in range(len(tail) - 1, 7, -1):
        k2 ^= tail[i] << ((i - 8) * 8)
    if len(tail) > 8:
        k2 = (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 ^= k2
    for i in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= tail[i] << (i * 8)
    if tail:
        k1 = (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 ^= k1
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


class _Hll:
    def __init__(self, index_bits: int, minhash_bits: int, regs: int = 0, cache: int = 0) -> None:
        self.index_bits = index_bits
        self.minhash_bits = minhash_bits
        self.n_bits = 6 + minhash_bits
        self.n_regs = 1 << index_bits
        self.size = (self.n_bits * self.n_regs + 7) // 8
        self.regs = regs  # all registers as one big-endian integer of size*8 bits
        self.cache = cache

    @classmethod
    def parse(cls, raw: bytes) -> _Hll:
        if len(raw) < 11 or raw[0] != 0:
            raise ValueError("bad hll")
        h = cls(raw[1], raw[2])
        if len(raw) != 11 + h.size:
            raise ValueError("bad hll size")
        h.cache = int.from_bytes(raw[3:11], "little")
        h.regs = int.from_bytes(raw[11:], "big")
        return h

    def to_bytes(self) -> bytes:
        return (
            bytes([0, self.index_bits, self.minhash_bits])
            + self.cache.to_bytes(8, "little")
            + self.regs.to_bytes(self.size, "big")
        )

    def _shift(self, r: int) -> int:
        return self.size * 8 - self.n_bits * (r + 1)

    def get(self, r: int) -> int:
        return (self.regs >> self._shift(r)) & ((1 << self.n_bits) - 1)

    def set(self, r: int, value: int) -> None:
        s = self._shift(r)
        self.regs = (self.regs & ~(((1 << self.n_bits) - 1) << s)) | (value << s)

    def add(self, element: bytes) -> bool:
        h1, h2 = murmur3_x64_128(element)
        r = h1 & (self.n_regs - 1)
        minhash = (h1 >> self.index_bits) & ((1 << self.minhash_bits) - 1)
        lsb = (h2 & -h2).bit_length() - 1 if h2 else 64
        value = ((lsb + 1) << self.minhash_bits) | minhash
        if self.get(r) < value:
            self.set(r, value)
            self.cache = 0
            return True
        return False

    def estimate(self) -> int:
        if self.cache:
            return self.cache
        m = self.n_regs
        c = [0] * 65
        for r in range(m):
            c[self.get(r) >> self.minhash_bits] += 1
        z = m * _tau(c[64] / m)
        for k in range(64, 0, -1):
            z = 0.5 * (z + c[k])
        z += m * _sigma(c[0] / m)
        alpha = {4: 0.673, 5: 0.697, 6: 0.709}.get(self.index_bits, 0.7213 / (1.0 + 1.079 / m))
        return int(math.floor(alpha * m * m / z + 0.5))


def _tau(val: float) -> float:
    if val in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1 - val
    while True:
        val = math.sqrt(val)
        prev = z
        y *= 0.5
        z -= (1 - val) ** 2 * y
        if prev == z:
            return z / 3


def _sigma(val: float) -> float:
    if val == 1.0:
        return math.inf
    y, z = 1.0, val
    while True:
        val *= val
        prev = z
        z += val * y
        y += y
        if prev == z:
            return z


def _valid_bits(index_bits: int, minhash_bits: int) -> bool:
    return 4 <= index_bits <= 16 and (minhash_bits == 0 or 4 <= minhash_bits <= 51) and index_bits + minhash_bits <= 64


def _elements(raw: bytes) -> list[bytes]:
    """Raw msgpack bytes of each element of the add list (first argument after the op)."""
    b = raw[0]
    p = 1 if 0x90 <= b <= 0x9F else 3 if b == 0xDC else 5
    _k, p = msgpack_key(raw, p)  # the op code
    b = raw[p]
    if 0x90 <= b <= 0x9F:
        n, p = b & 0x0F, p + 1
    elif b == 0xDC:
        n, p = int.from_bytes(raw[p + 1 : p + 3], "big"), p + 3
    elif b == 0xDD:
        n, p = int.from_bytes(raw[p + 1 : p + 5], "big"), p + 5
    else:
        raise MsgpackError("elements must be a list")
    out = []
    for _ in range(n):
        _k, e = msgpack_key(raw, p)
        out.append(raw[p:e])
        p = e
    return out


def hll_modify(cur: tuple[int, bytes] | None, val: bytes) -> tuple[int, bytes | None, int | None]:
    """(result code, new particle bytes or None to keep, integer result or None)."""
    try:
        args = msgpack.unpackb(val, raw=True, strict_map_key=False)
        code = int(args[0])
        if cur is not None and cur[0] != 18:
            return 12, None, None
        old = _Hll.parse(cur[1]) if cur is not None else None
        if code == _INIT:
            ib = int(args[1]) if len(args) > 1 else -1
            mb = int(args[2]) if len(args) > 2 else -1
            if ib == -1:
                if old is None:
                    return 26, None, None
                ib = old.index_bits
            if mb == -1:
                mb = old.minhash_bits if old is not None else 0
            if not _valid_bits(ib, mb):
                return 4, None, None
            return 0, _Hll(ib, mb).to_bytes(), None
        if code == _ADD:
            elements = _elements(val)
            if old is None:
                ib = int(args[2]) if len(args) > 2 else -1
                mb = int(args[3]) if len(args) > 3 else -1
                if ib == -1:
                    return 26, None, None
                mb = 0 if mb == -1 else mb
                if not _valid_bits(ib, mb):
                    return 4, None, None
                old = _Hll(ib, mb)
            added = sum(1 for e in elements if old.add(e))
            return 0, old.to_bytes(), added
        if code == _SET_COUNT:
            if old is None:
                return 17, None, None
            old.cache = old.estimate()
            return 0, old.to_bytes(), old.cache
    except (ValueError, TypeError, IndexError, MsgpackError, msgpack.ExtraData):
        return 4, None, None
    return 16, None, None


def hll_read(cur: tuple[int, bytes], val: bytes) -> tuple[int, int, bytes]:
    """(result code, particle type, value) of an HLL read op."""
    try:
        args = msgpack.unpackb(val, raw=True, strict_map_key=False)
        if cur[0] != 18:
            return 12, 0, b""
        h = _Hll.parse(cur[1])
        if args[0] == _COUNT:
            return 0, 1, _I64.pack(h.estimate())
        if args[0] == _DESCRIBE:
            return 0, 20, msgpack.packb([h.index_bits, h.minhash_bits])
    except (ValueError, TypeError, IndexError, msgpack.ExtraData):
        return 4, 0, b""
    return 16, 0, b""
