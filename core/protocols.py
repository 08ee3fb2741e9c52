"""The interfaces each plugin kind implements: small structural Protocols.

A plugin implements only these; conveniences (``exists``, copying, retries, rate limits) live
in the core and wrap them. Everything here is typing: no behaviour, no imports of plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from .model import UDF, RecordBatch, SIndex, XdrToken

__all__ = [
    "Decoder",
    "DecoderFactory",
    "DecoderOptions",
    "Encoder",
    "EncoderFactory",
    "EncoderOptions",
    "KeySource",
    "KeySourceFactory",
    "KeySourceOptions",
    "ObjectInfo",
    "StorageBackend",
    "StorageFactory",
    "StorageInfo",
    "StorageURL",
    "Transform",
    "TransformFactory",
    "TransformOptions",
]


# --- storage -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorageURL:
    """A parsed backup location. ``scheme`` is "" for a plain path (the local storage).

    ``path`` is the location without its scheme (``bucket/prefix`` for ``s3://bucket/prefix``);
    ``options`` are storage settings from flags or config (region, endpoint, ...), strings only.
    """

    scheme: str
    path: str
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, options: Mapping[str, str] | None = None) -> StorageURL:
        opts = dict(options or {})
        if url == "-":
            return cls("stdio", "-", opts)
        scheme, sep, rest = url.partition("://")
        if sep and scheme and scheme.replace("+", "").replace("-", "").isalnum():
            return cls(scheme.lower(), rest, opts)
        return cls("", url, opts)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.path}" if self.scheme and self.scheme != "stdio" else self.path


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its name relative to the storage root, and its size in bytes."""

    name: str
    size: int


@dataclass(frozen=True, slots=True)
class StorageInfo:
    """What a back-end can do, so the core can plan around it."""

    max_connections: int = 16
    atomic_replace: bool = True
    single_stream: bool = False  # stdio: one file only, no listing
    # Multipart stores (S3: 10,000 parts): the part size in use and the most parts one object
    # may have, so the core can refuse a file limit that cannot fit before writing anything.
    part_size: int | None = None
    max_parts: int | None = None
    max_object_size: int | None = None


@runtime_checkable
class StorageBackend(Protocol):
    """Where backup files live. Names are '/'-separated, relative to the storage root.

    ``open_write`` is a context manager: the object appears under its final name only when the
    ``with`` block exits cleanly; on an exception nothing is left under that name. A storage
    never interprets file contents, never retries, never throttles (the core wraps it for that).
    """

    def info(self) -> StorageInfo: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose name starts with ``prefix``, in name order."""
        ...

    def open_read(self, name: str) -> BinaryIO: ...

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    def remove(self, name: str) -> None: ...


StorageFactory = Callable[[StorageURL], StorageBackend]


# --- transforms ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransformOptions:
    """Settings a transform factory receives: a level (compression) and key material (AES)."""

    level: int | None = None
    key: bytes | None = field(default=None, repr=False)


@runtime_checkable
class Transform(Protocol):
    """Reversible byte-stream stage. Backup wraps writers codec → zstd → AES → storage; restore
    wraps readers in reverse. Transforms see bytes, never records; each owns its framing.
    Closing a wrapper closes what it wraps."""

    name: str

    def wrap_writer(self, sink: BinaryIO) -> BinaryIO: ...

    def wrap_reader(self, source: BinaryIO) -> BinaryIO: ...


TransformFactory = Callable[[TransformOptions], Transform]


# --- codecs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """How to write: ``compact`` skips base64 for blobs (asbackup --compact)."""

    compact: bool = False


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """How to read. ``file`` names the input in errors; ``batch_size`` caps records per batch."""

    file: str | None = None
    batch_size: int = 1024


@runtime_checkable
class Encoder(Protocol):
    """Turns records and metadata into file bytes. Stateless between calls except for options."""

    def header(self, namespace: str, first_file: bool) -> bytes: ...

    def metadata(self, sindexes: Iterable[SIndex], udfs: Iterable[UDF]) -> bytes: ...

    def encode(self, batch: RecordBatch) -> bytes: ...


@runtime_checkable
class Decoder(Protocol):
    """Reads a whole stream, yielding metadata and batches in file order.

    Every format problem raises ``FormatError`` with file, line, column and byte offset.
    ASBX decoders yield ``XdrToken`` items instead of batches.
    """

    def decode(self, stream: BinaryIO) -> Iterator[SIndex | UDF | RecordBatch | XdrToken]: ...


EncoderFactory = Callable[[EncoderOptions], Encoder]
DecoderFactory = Callable[[DecoderOptions], Decoder]


# --- key sources ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySourceOptions:
    """Settings a key source may need (the Secret Agent's address, TLS, timeout)."""

    secret_agent: object | None = None  # an aerobackup.config.SecretAgentConfig


@runtime_checkable
class KeySource(Protocol):
    """Loads key material. ``load(spec)``: a file path, a variable name, or an agent resource.

    Returns the material as the reference tools read it (PEM text of an RSA key, or raw bytes);
    never logs it, never puts it in an error or a repr.
    """

    def load(self, spec: str) -> bytes: ...


KeySourceFactory = Callable[[KeySourceOptions], KeySource]
