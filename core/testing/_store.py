"""Record storage of the emulator: namespaces, partitions, sets, records and the clock.

Records are kept per namespace and per partition (4096), keyed by digest, and handed to scans in
descending digest order (wire-protocol.md §6.3). Bins are raw particles (type + bytes) so every
type round-trips byte for byte. A record object is never changed in place: every write stores a
new one, so a scan that is walking a partition always sees whole records.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator

__all__ = [
    "CL_EPOCH",
    "N_PARTITIONS",
    "Clock",
    "NamespaceStore",
    "Record",
    "SetInfo",
    "Store",
    "partition_id",
]

#: Citrusleaf epoch (2010-01-01T00:00:00Z) in Unix seconds.
CL_EPOCH = 1262304000
N_PARTITIONS = 4096

_OP_HDR = struct.Struct(">IBBBB")
_MSG_HDR = struct.Struct(">BBBBBBIIIHH")
_FIELD_HDR = struct.Struct(">IB")
_DIGEST_FIELD_HDR = _FIELD_HDR.pack(21, 4)


_OP_HEADS: dict[tuple[bytes, int, int], bytes] = {}


def _op_head(name: bytes, ptype: int, vlen: int) -> bytes:
    """Header + name of a READ op (cached: bins of one shape repeat across records)."""
    key = (name, ptype, vlen)
    head = _OP_HEADS.get(key)
    if head is None:
        head = _OP_HDR.pack(4 + len(name) + vlen, 1, ptype, 0, len(name)) + name
        if len(_OP_HEADS) < 65536:
            _OP_HEADS[key] = head
    return head


def partition_id(digest: bytes) -> int:
    """Partition of a digest: first two bytes little-endian, low 12 bits (§12)."""
    return (digest[0] | (digest[1] << 8)) & 0xFFF


class Clock:
    """The emulator's notion of now; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None

    def now(self) -> float:
        """Unix seconds."""
        if self._frozen is not None:
            return self._frozen + self._offset
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward (records whose void time passes become invisible)."""
        self._offset += seconds

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock (at ``at`` Unix seconds, or now) until :meth:`unfreeze`."""
        self._frozen = time.time() if at is None else at - self._offset

    def unfreeze(self) -> None:
        self._frozen = None

    def reset(self) -> None:
        """Back to real time."""
        self._offset = 0.0
        self._frozen = None

    def now_ns(self) -> int:
        """Unix nanoseconds, at the millisecond precision the server keeps."""
        return int(self.now() * 1000) * 1_000_000

    def cl_seconds(self) -> int:
        """Seconds since the Citrusleaf epoch (the unit of void times)."""
        return int(self.now()) - CL_EPOCH


class Record:
    """One stored record. Treat as immutable: writers build a new one.

    A record created by a batch/single write of plain WRITE ops keeps its bins in wire form
    (``wire``: the request's op bytes with the op byte set to READ, exactly the ops a scan
    reply carries) and builds the ``bins`` dict only when something asks for it. That spares
    the write path one Python tuple and dict entry per bin and the first scan pass one op
    header per bin (measured: bench/bench_emulator.py, docs/emulator.md "Performance").
    """

    __slots__ = ("digest", "set_name", "key", "gen", "void_time", "lut", "_bins", "_wire", "_nbins", "_scan_all")

    def __init__(
        self,
        digest: bytes,
        set_name: bytes,
        key: bytes | None,
        gen: int,
        void_time: int,
        lut: int,
        bins: dict[bytes, tuple[int, bytes]] | None,
        wire: bytes | None = None,
        n_bins: int = 0,
    ) -> None:
        self.digest = digest
        self.set_name = set_name
        #: stored user key: particle type byte + value bytes, or None
        self.key = key
        self.gen = gen
        #: seconds since the CL epoch; 0 = never expires
        self.void_time = void_time
        #: last-update time, Unix nanoseconds
        self.lut = lut
        self._bins = bins
        #: READ ops of every bin as a scan reply carries them (unique names), or None
        self._wire = wire
        self._nbins = n_bins
        self._scan_all: bytes | None = None

    @property
    def bins(self) -> dict[bytes, tuple[int, bytes]]:
        """Bin name -> (particle type, value bytes), in bin order."""
        bins = self._bins
        if bins is None:
            bins = {}
            wire = self._wire
            assert wire is not None
            pos, end = 0, len(wire)
            while pos < end:
                size, _op, ptype, _flags, name_len = _OP_HDR.unpack_from(wire, pos)
                name_end = pos + 8 + name_len
                bins[wire[pos + 8 : name_end]] = (ptype, wire[name_end : pos + 4 + size])
                pos += 4 + size
            self._bins = bins
        return bins

    def read_ops(self, names: list[bytes] | None = None) -> tuple[bytes, int]:
        """READ ops for all bins (``names`` None) or for the named ones, and their count."""
        if names is None and self._wire is not None:
            return self._wire, self._nbins
        out = []
        bins = self.bins
        n = 0
        for name in bins if names is None else names:
            b = bins.get(name)
            if b is None:
                continue
            out.append(_op_head(name, b[0], len(b[1])))
            out.append(b[1])
            n += 1
        return b"".join(out), n

    def meta_fields(self, ns_field: bytes) -> tuple[bytes, int]:
        """NAMESPACE, DIGEST, SET, KEY fields of a scan record (§5.7)."""
        parts = [ns_field, _FIELD_HDR.pack(21, 4), self.digest]
        n = 2
        if self.set_name:
            parts.append(_FIELD_HDR.pack(len(self.set_name) + 1, 1))
            parts.append(self.set_name)
            n += 1
        if self.key is not None:
            parts.append(_FIELD_HDR.pack(len(self.key) + 1, 2))
            parts.append(self.key)
            n += 1
        return b"".join(parts), n

    def scan_message(self, ns_field: bytes) -> bytes:
        """The whole AS_MSG of this record in an all-bins scan (cached: records are immutable)."""
        msg = self._scan_all
        if msg is None:
            parts = [b"", ns_field, _DIGEST_FIELD_HDR, self.digest]
            nf = 2
            if self.set_name:
                parts.append(_FIELD_HDR.pack(len(self.set_name) + 1, 1))
                parts.append(self.set_name)
                nf = 3
            if self.key is not None:
                parts.append(_FIELD_HDR.pack(len(self.key) + 1, 2))
                parts.append(self.key)
                nf += 1
            if self._wire is not None:
                parts.append(self._wire)
                n_ops = self._nbins
            else:
                for name, (ptype, val) in self.bins.items():
                    parts.append(_op_head(name, ptype, len(val)))
                    parts.append(val)
                n_ops = len(self.bins)
            parts[0] = _MSG_HDR.pack(22, 0, 0, 0, 0, 0, self.gen, self.void_time, 0, nf, n_ops)
            msg = b"".join(parts)
            self._scan_all = msg
        return msg

    def storage_size(self) -> int:
        """Bytes the record takes in the server's flat storage format (16-byte blocks).

        Header 35, void time 4, set 1+len, key uintvar+len, bin count uintvar, per bin
        1+name + particle, end mark 4; integers take 2 + 1/2/4/8 bytes by magnitude, floats 9,
        bools 2, everything else 5 + its bytes. Matches ``data_used_bytes`` of a real server.
        """
        size = 35 + 4
        if self.void_time:
            size += 4
        if self.set_name:
            size += 1 + len(self.set_name)
        if self.key is not None:
            size += _uintvar_size(len(self.key)) + len(self.key)
        if self.bins:
            size += _uintvar_size(len(self.bins))
        for name, (ptype, val) in self.bins.items():
            size += 1 + len(name)
            if ptype == 2:
                size += 9
            elif ptype == 1:
                u = int.from_bytes(val, "big")
                size += 10 if u > 0xFFFFFFFF else 6 if u > 0xFFFF else 4 if u > 0xFF else 3
            elif ptype == 17:
                size += 2
            else:
                size += 5 + len(val)
        return (size + 15) & ~15


def _uintvar_size(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


class SetInfo:
    """Per-set bookkeeping kept for the life of the server, as the real one does."""

    __slots__ = ("name", "truncate_lut")

    def __init__(self, name: bytes) -> None:
        self.name = name
        #: last set truncation, Unix ns (0 = never)
        self.truncate_lut = 0


class NamespaceStore:
    """Records of one namespace, by partition."""

    def __init__(self, name: str, *, default_ttl: int = 0) -> None:
        self.name = name
        self.name_bytes = name.encode()
        self.default_ttl = default_ttl
        self.ns_field = _FIELD_HDR.pack(len(self.name_bytes) + 1, 0) + self.name_bytes
        self.parts: list[dict[bytes, Record]] = [{} for _ in range(N_PARTITIONS)]
        self._order: list[list[bytes] | None] = [None] * N_PARTITIONS
        self.sets: dict[bytes, SetInfo] = {}
        self.truncate_lut = 0

    def note_set(self, set_name: bytes) -> None:
        if set_name and set_name not in self.sets:
            self.sets[set_name] = SetInfo(set_name)

    def put(self, rec: Record) -> None:
        part = partition_id(rec.digest)
        d = self.parts[part]
        if rec.digest not in d:
            self._order[part] = None
        d[rec.digest] = rec

    def put_new(self, part: int, rec: Record) -> None:
        """Store a record known to be absent from partition ``part``."""
        self.parts[part][rec.digest] = rec
        self._order[part] = None

    def remove(self, digest: bytes) -> None:
        part = partition_id(digest)
        if self.parts[part].pop(digest, None) is not None:
            self._order[part] = None

    def ordered(self, part: int) -> list[bytes]:
        """Digests of a partition, largest first (the scan order of §6.3)."""
        order = self._order[part]
        if order is None:
            order = sorted(self.parts[part], reverse=True)
            self._order[part] = order
        return order

    def records(self) -> Iterator[Record]:
        for d in self.parts:
            yield from list(d.values())

    def clear(self) -> None:
        for part in range(N_PARTITIONS):
            self.parts[part] = {}
            self._order[part] = None


class Store:
    """All namespaces of an emulated cluster plus the shared clock and metadata (UDFs, indexes)."""

    def __init__(self, namespaces: tuple[str, ...], *, default_ttl: int = 0) -> None:
        self.clock = Clock()
        self.lock = threading.RLock()
        self.namespaces: dict[str, NamespaceStore] = {
            ns: NamespaceStore(ns, default_ttl=default_ttl) for ns in namespaces
        }
        #: udf file name -> source bytes
        self.udfs: dict[str, bytes] = {}
        #: (namespace, index name) -> definition dict
        self.sindexes: dict[tuple[str, str], dict[str, str]] = {}

    def is_live(self, rec: Record) -> bool:
        vt = rec.void_time
        return vt == 0 or vt > self.clock.cl_seconds()

    def get(self, ns: NamespaceStore, digest: bytes) -> Record | None:
        """The live record with this digest; an expired one is removed (lazy expiry)."""
        rec = ns.parts[partition_id(digest)].get(digest)
        if rec is None:
            return None
        if rec.void_time and rec.void_time <= self.clock.cl_seconds():
            with self.lock:
                if ns.parts[partition_id(digest)].get(digest) is rec:
                    ns.remove(digest)
            return None
        return rec

    def truncate(self, ns: NamespaceStore, set_name: bytes | None, lut_ns: int) -> None:
        """Remove records last updated before ``lut_ns`` (all sets when ``set_name`` is None)."""
        with self.lock:
            if set_name is None:
                ns.truncate_lut = lut_ns
            else:
                ns.note_set(set_name)
                ns.sets[set_name].truncate_lut = lut_ns
            for part in range(N_PARTITIONS):
                d = ns.parts[part]
                doomed = [k for k, r in d.items() if r.lut <= lut_ns and (set_name is None or r.set_name == set_name)]
                for k in doomed:
                    ns.remove(k)
