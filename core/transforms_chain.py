"""Stacking transforms on a storage stream, and telling the user what a file really is.

``open_backup_writer(raw, transforms)`` stacks writers so bytes flow codec → zstd → AES → raw;
``open_backup_reader(raw, transforms, name)`` stacks readers the other way and then checks the
first decoded bytes. Nothing inside a backup file says whether it is compressed or encrypted
(asb-format §12.1), and a wrong key is not detected by AES-CTR: without this check a wrong key
or a missing ``--compress`` shows up much later as a baffling parse error (asrestore:
"Invalid version line"). Here it becomes one line naming the file and the likely cause:

* decoded bytes that start an ASB (``Version ``) or ASBX header: fine;
* zstd's magic where no zstd was asked for: "is zstd-compressed";
* an encrypted read whose result is neither: "wrong key or not an encrypted backup";
* a plain read of bytes that are neither: "not a plain backup (encrypted or corrupt?)".

``transforms`` are given in write order (``[zstd, aes256]``), as the config lists them.
The check reads at most ``HEAD_SIZE`` decoded bytes ahead and hands them back unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import BinaryIO, cast

from .errors import AerobackupError, DecryptionError, FormatError
from .protocols import Transform
from .streams import read_full

__all__ = [
    "HEAD_SIZE",
    "ZSTD_MAGIC",
    "describe_head",
    "is_backup_head",
    "open_backup_reader",
    "open_backup_writer",
    "order_transforms",
]

HEAD_SIZE = 16
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ASB = b"Version "
_COMPRESSION = "compression"
_ENCRYPTION = "encryption"


def is_backup_head(head: bytes) -> bool:
    """True when ``head`` (the first decoded bytes; may be short) can start an ASB or ASBX file."""
    if not head:
        return True  # an empty stream: the decoder reports it
    if head[:8] == _ASB[: len(head)]:
        return True
    # ASBX: version byte 1, 8-byte file number, 4 reserved zero bytes (asb-format §13.1)
    return head[0] == 1 and head[9:13] == bytes(len(head[9:13]))


def describe_head(head: bytes) -> str:
    """A few words on what raw bytes look like, for error hints."""
    if head.startswith(_ASB):
        return "a plain backup"
    if head.startswith(ZSTD_MAGIC):
        return "a zstd-compressed file"
    return "neither plain nor zstd-compressed"


def _kind(t: Transform) -> str | None:
    kind = getattr(t, "kind", None)
    if isinstance(kind, str):
        return kind
    name = t.name.lower()
    if name.startswith("aes"):
        return _ENCRYPTION
    if name in ("zstd", "gzip", "lz4", "xz"):
        return _COMPRESSION
    return None


def order_transforms(transforms: Sequence[Transform]) -> list[Transform]:
    """Write order: compression before encryption (anything else keeps its place in between)."""
    rank = {_COMPRESSION: 0, None: 1, _ENCRYPTION: 2}
    return sorted(transforms, key=lambda t: rank.get(_kind(t), 1))


def open_backup_writer(raw: BinaryIO, transforms: Sequence[Transform]) -> BinaryIO:
    """A writer whose bytes pass through ``transforms`` (write order) into ``raw``.

    Closing it ends every transform's framing (zstd's last frame) and closes ``raw``.
    """
    writer = raw
    for transform in reversed(order_transforms(transforms)):
        writer = transform.wrap_writer(writer)
    return writer


def open_backup_reader(
    raw: BinaryIO,
    transforms: Sequence[Transform],
    name: str,
    *,
    check_head: Callable[[bytes], bool] | None = is_backup_head,
    alternatives: Sequence[Sequence[Transform]] = (),
) -> BinaryIO:
    """A reader of ``raw`` undone through ``transforms`` (given in write order), whose first bytes
    have been checked with ``check_head`` (None: no check).

    Raises DecryptionError (wrong key, a plain or compressed file read with a key, an encrypted
    file read without one) or FormatError (compression mismatch, truncated header), each naming
    ``name``. Closing the reader closes ``raw``.

    ``alternatives`` are other transform lists to try, in order, when ``transforms`` meet a
    DecryptionError (e.g. the AES key asbackup derives from an environment variable holding a
    PKCS#8 body, beside the key backup-go derives: ``aerobackup.keys.aes_key_candidates``). The
    bytes already read are replayed, so ``raw`` need not be seekable. The first error is raised
    if none fits.
    """
    chains = [order_transforms(transforms)] + [order_transforms(a) for a in alternatives]
    replay = b""
    first: Exception | None = None
    for attempt, chain in enumerate(chains):
        more = attempt + 1 < len(chains)
        tap = _HeadTap(raw, name, replay=replay, record=more)
        reader: BinaryIO = cast(BinaryIO, tap)
        for transform in reversed(chain):
            reader = transform.wrap_reader(reader)
        if check_head is None:
            return reader
        encrypted = any(_kind(t) == _ENCRYPTION for t in chain)
        compressed = any(_kind(t) == _COMPRESSION for t in chain)
        try:
            head = read_full(reader, HEAD_SIZE)
        except AerobackupError as exc:
            error = _explain(exc, tap.head, name, encrypted=encrypted, compressed=compressed)
        else:
            if check_head(head):
                tap.stop_recording()
                return cast(BinaryIO, _Prefixed(head, reader, name))
            error = _mismatch(head, tap.head, name, encrypted=encrypted, compressed=compressed)
        first = first or error
        if not (more and isinstance(error, DecryptionError)):
            break
        replay = tap.detach()  # the failed chain must not close raw when it is collected
    assert first is not None
    raise first


def _explain(exc: AerobackupError, raw_head: bytes, name: str, *, encrypted: bool, compressed: bool) -> Exception:
    """An error met while decoding the first bytes, restated with its likely cause."""
    if "truncated" in str(exc) or "too short" in str(exc):
        return exc
    if encrypted and compressed:
        # the decrypted bytes are not zstd: the key is wrong or the file is not encrypted
        hint = f"; it looks like {describe_head(raw_head)}" if raw_head.startswith((_ASB, ZSTD_MAGIC)) else ""
        return DecryptionError(f"wrong key or not an encrypted backup (file {name}){hint}")
    if compressed and not encrypted and not raw_head.startswith(ZSTD_MAGIC):
        if raw_head.startswith(_ASB):
            return FormatError(f"{name}: not zstd-compressed (it is a plain backup): read it without compression")
        return DecryptionError(
            f"{name}: not zstd-compressed and not a plain backup: it may be encrypted "
            "(give the encryption mode and key) or corrupt"
        )
    return exc


def _mismatch(head: bytes, raw_head: bytes, name: str, *, encrypted: bool, compressed: bool) -> Exception:
    """Decoded bytes that start no backup: say what the file most likely is."""
    if head.startswith(ZSTD_MAGIC) and not compressed:
        return FormatError(f"{name}: is zstd-compressed: read it with compression zstd")
    if encrypted:
        hint = f"; it looks like {describe_head(raw_head)}" if raw_head.startswith((_ASB, ZSTD_MAGIC)) else ""
        return DecryptionError(f"wrong key or not an encrypted backup (file {name}){hint}")
    return DecryptionError(
        f"{name}: not a backup file in plain text: it may be encrypted (give the encryption mode and "
        f"key) or corrupt (starts with {head[:8].hex(' ')})"
    )


class _HeadTap(io.RawIOBase):
    """Passes ``raw`` through, remembering its first bytes (for hints) and carrying ``name``.

    With ``record`` it also keeps every byte served until ``stop_recording`` (bounded by what
    the transforms read to produce the head), so another chain can be tried on the same bytes.
    """

    def __init__(self, raw: BinaryIO, name: str, *, replay: bytes = b"", record: bool = False) -> None:
        super().__init__()
        self._raw = raw
        self.name = name
        self.head = b""
        self._replay = replay
        self._record: list[bytes] | None = [] if record else None
        self._detached = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._replay:
            if size is None or size < 0:
                data, self._replay = self._replay + self._raw.read(), b""
            else:
                data, self._replay = self._replay[:size], self._replay[size:]
        else:
            data = self._raw.read(-1 if size is None else size)
        if len(self.head) < HEAD_SIZE and data:
            self.head += data[: HEAD_SIZE - len(self.head)]
        if self._record is not None and data:
            self._record.append(data)
        elif len(self.head) >= HEAD_SIZE and not self._replay:
            self.read = self._raw.read  # type: ignore[method-assign, assignment]  # nothing left to watch
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def stop_recording(self) -> None:
        self._record = None

    def detach(self) -> bytes:
        """Everything served so far (plus what was still to replay); ``raw`` stays open."""
        self._detached = True
        served = b"".join(self._record or ()) + self._replay
        self._record, self._replay = None, b""
        return served

    def close(self) -> None:
        if not self.closed:
            try:
                if not self._detached:
                    self._raw.close()
            finally:
                super().close()


class _Prefixed(io.BufferedIOBase):
    """Serves ``head`` again, then reads on from ``inner``."""

    def __init__(self, head: bytes, inner: BinaryIO, name: str) -> None:
        super().__init__()
        self._head = head
        self._inner = inner
        self.name = name

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        head = self._head
        if not head:
            self.read = self._inner.read  # type: ignore[method-assign, assignment]  # head served
            return self._inner.read(-1 if size is None else size)
        if size is None or size < 0:
            self._head = b""
            return head + self._inner.read()
        if size <= len(head):
            self._head = head[size:]
            return head[:size]
        self._head = b""
        return head + self._inner.read(size - len(head))

    def read1(self, size: int = -1) -> bytes:
        if self._head:
            return self.read(size if size >= 0 else len(self._head))
        read1 = getattr(self._inner, "read1", self._inner.read)
        data: bytes = read1(size)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()
