"""The data model: what flows between the stages of a backup or a restore.

The pipeline moves **batches**, not records: a ``RecordBatch`` is one bytes buffer (a wire reply,
a slice of a file, or bytes appended by a decoder) plus flat per-record and per-bin columns.
A per-record object costs about 3x in throughput on this language (see DESIGN.md, "The hot
path"), so stages read particles straight out of ``batch.buffer`` through the offset columns.

Bins are **raw particles**: the wire particle type and its bytes exactly as the server stores
them (lists and maps stay msgpack, GeoJSON keeps its header). Nothing is decoded into Python
values, so nothing is lost and nothing is re-encoded.

``Record`` and ``Bin`` are views made on request (``batch.records()``) for plugins and callers
that want objects; they are never used on the hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CITRUSLEAF_EPOCH",
    "Bin",
    "IndexType",
    "ParticleType",
    "Record",
    "RecordBatch",
    "RecordBatchBuilder",
    "SIndex",
    "SIndexDataType",
    "UDF",
    "UserKey",
    "XdrToken",
    "partition_id",
]

#: Unix time of 2010-01-01T00:00:00Z; void times count seconds from here (0 = never expires).
CITRUSLEAF_EPOCH = 1262304000


class ParticleType(enum.IntEnum):
    """Wire particle types (wire-protocol.md §5.5; server ``as_particle_type``)."""

    NULL = 0
    INTEGER = 1
    FLOAT = 2
    STRING = 3
    BLOB = 4
    JAVA_BLOB = 7
    CSHARP_BLOB = 8
    PYTHON_BLOB = 9
    RUBY_BLOB = 10
    PHP_BLOB = 11
    ERLANG_BLOB = 12
    VECTOR = 16
    BOOL = 17
    HLL = 18
    MAP = 19
    LIST = 20
    GEOJSON = 23


def partition_id(digest: bytes) -> int:
    """Partition of a digest: first two bytes as a little-endian u16, low 12 bits (§12)."""
    return (digest[0] | (digest[1] << 8)) & 4095


@dataclass(frozen=True, slots=True)
class UserKey:
    """A record's stored user key: particle type (INTEGER, FLOAT, STRING or BLOB) and raw bytes."""

    particle_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Bin:
    """One bin as a raw particle. ``data`` is the particle's wire bytes, never a decoded value."""

    name: str
    particle_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Record:
    """A record made from a batch on request (not used on the hot path).

    ``void_time`` counts seconds since the Citrusleaf epoch (2010-01-01 UTC); 0 never expires.
    """

    namespace: str
    set: str  # "" when the record has no set
    digest: bytes  # 20-byte RIPEMD-160
    key: UserKey | None
    generation: int
    void_time: int
    bins: tuple[Bin, ...]

    @property
    def partition_id(self) -> int:
        return partition_id(self.digest)


@dataclass(slots=True, eq=False)
class RecordBatch:
    """Records of one namespace over one buffer, as flat columns.

    Record ``i`` has ``sets[i]``, ``digests[i]``, ``keys[i]``, ``generations[i]`` and
    ``void_times[i]``; its bins are ``j`` in ``range(bin_index[i], bin_index[i + 1])`` with name
    ``bin_names[j]``, particle type ``bin_types[j]`` and bytes
    ``buffer[bin_starts[j]:bin_ends[j]]``. ``bin_index`` has one more entry than there are
    records. Producers fill the columns directly (or through ``RecordBatchBuilder``); consumers
    read them without making per-record objects.
    """

    namespace: str
    buffer: bytes | bytearray = b""
    sets: list[str] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    keys: list[UserKey | None] = field(default_factory=list)
    generations: list[int] = field(default_factory=list)
    void_times: list[int] = field(default_factory=list)
    bin_index: list[int] = field(default_factory=lambda: [0])
    bin_names: list[str] = field(default_factory=list)
    bin_types: list[int] = field(default_factory=list)
    bin_starts: list[int] = field(default_factory=list)
    bin_ends: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.digests)

    def bin_count(self, i: int) -> int:
        return self.bin_index[i + 1] - self.bin_index[i]

    def particle(self, j: int) -> bytes:
        """Bytes of bin ``j`` (a copy; hot paths slice ``buffer`` themselves)."""
        return bytes(self.buffer[self.bin_starts[j] : self.bin_ends[j]])

    def record(self, i: int) -> Record:
        lo, hi = self.bin_index[i], self.bin_index[i + 1]
        bins = tuple(Bin(self.bin_names[j], self.bin_types[j], self.particle(j)) for j in range(lo, hi))
        return Record(
            namespace=self.namespace,
            set=self.sets[i],
            digest=self.digests[i],
            key=self.keys[i],
            generation=self.generations[i],
            void_time=self.void_times[i],
            bins=bins,
        )

    def records(self) -> Iterator[Record]:
        """Record objects, one per record (for callers and plugins; not for the hot path)."""
        for i in range(len(self.digests)):
            yield self.record(i)

    def check(self) -> None:
        """Assert the columns are consistent (for tests and plugin authors)."""
        n = len(self.digests)
        cols = (self.sets, self.keys, self.generations, self.void_times)
        assert all(len(c) == n for c in cols), "record columns differ in length"
        assert len(self.bin_index) == n + 1 and self.bin_index[0] == 0
        m = self.bin_index[-1]
        bcols = (self.bin_names, self.bin_types, self.bin_starts, self.bin_ends)
        assert all(len(c) == m for c in bcols), "bin columns differ in length"
        assert all(len(d) == 20 for d in self.digests), "a digest is not 20 bytes"

    @classmethod
    def from_records(cls, namespace: str, records: Sequence[Record]) -> RecordBatch:
        """A batch holding copies of ``records`` (tests, plugins, small inputs)."""
        builder = RecordBatchBuilder(namespace)
        for rec in records:
            builder.add_record(rec.set, rec.digest, rec.key, rec.generation, rec.void_time)
            for b in rec.bins:
                builder.add_bin(b.name, b.particle_type, b.data)
        return builder.finish()


class RecordBatchBuilder:
    """Appends records and bins into a fresh buffer. For decoders that own no input buffer.

    Call ``add_record`` then ``add_bin`` for each of its bins; ``finish`` returns the batch.
    """

    __slots__ = ("_batch", "_buf")

    def __init__(self, namespace: str) -> None:
        self._buf = bytearray()
        self._batch = RecordBatch(namespace, self._buf)

    def __len__(self) -> int:
        return len(self._batch.digests)

    @property
    def nbytes(self) -> int:
        return len(self._buf)

    def add_record(
        self, set_name: str, digest: bytes, key: UserKey | None, generation: int, void_time: int
    ) -> None:
        b = self._batch
        if len(b.digests):
            b.bin_index.append(len(b.bin_names))
        b.sets.append(set_name)
        b.digests.append(digest)
        b.keys.append(key)
        b.generations.append(generation)
        b.void_times.append(void_time)

    def add_bin(self, name: str, particle_type: int, data: bytes | bytearray | memoryview) -> None:
        b, buf = self._batch, self._buf
        b.bin_names.append(name)
        b.bin_types.append(particle_type)
        b.bin_starts.append(len(buf))
        buf += data
        b.bin_ends.append(len(buf))

    def finish(self) -> RecordBatch:
        """The batch built so far; the builder starts a new, empty one."""
        b = self._batch
        if b.digests:
            b.bin_index.append(len(b.bin_names))
        self._buf = bytearray()
        self._batch = RecordBatch(b.namespace, self._buf)
        return b


class IndexType(enum.Enum):
    """What a secondary index covers (ASB letters N, L, K, V)."""

    DEFAULT = "N"
    LIST = "L"
    MAPKEYS = "K"
    MAPVALUES = "V"


class SIndexDataType(enum.Enum):
    """The indexed value type (ASB letters S, N, G, B)."""

    STRING = "S"
    NUMERIC = "N"
    GEO2DSPHERE = "G"
    BLOB = "B"


@dataclass(frozen=True, slots=True)
class SIndex:
    """A secondary index definition.

    ``context`` is the base64 CDT context as the server reports it (``None`` when absent);
    ``expression`` the base64 packed expression of an expression index (server 8.1+).
    """

    namespace: str
    set: str  # "" for a set-less index
    name: str
    index_type: IndexType
    bin: str
    data_type: SIndexDataType
    context: str | None = None
    expression: str | None = None


@dataclass(frozen=True, slots=True)
class UDF:
    """A registered UDF module: file name (``mod.lua``), language (``"LUA"``) and its source."""

    name: str
    content: bytes = field(repr=False)
    language: str = "LUA"


@dataclass(frozen=True, slots=True)
class XdrToken:
    """One record as shipped by XDR, as stored in ASBX files (asb-format.md §13).

    ``payload`` is the complete wire message (8-byte proto header + AS_MSG) as received; the set,
    bins and metadata stay inside it.
    """

    namespace: str
    digest: bytes
    payload: bytes = field(repr=False)
