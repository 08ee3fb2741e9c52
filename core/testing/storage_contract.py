"""The storage contract suite, and ``MemoryStorage``: shipped so every storage plugin — ours and
third parties' — is held to the same behaviour.

Use it by subclassing and supplying a ``storage`` fixture (a fresh, empty location per test)::

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self, tmp_path):
            return MyStorage(tmp_path)

A store that splits uploads into parts can set ``multipart_size`` (a size that spans several
parts) so the suite streams a multipart object through it.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO

import pytest

from ..errors import BackupNotFoundError
from ..protocols import ObjectInfo, StorageBackend, StorageInfo

__all__ = ["MemoryStorage", "StorageContract", "pattern_bytes"]


def pattern_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (a SHA-256 chain), fast enough for MiBs."""
    out = bytearray()
    block = hashlib.sha256(seed.to_bytes(8, "big")).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64  # 2 KiB per hash: pattern is still position-dependent at KiB scale
        out += len(out).to_bytes(8, "big")
    return bytes(out[:size])


class _MemoryWriter(io.BytesIO):
    """A BytesIO whose ``close()`` keeps the bytes (the storage publishes them on clean exit)."""

    def close(self) -> None:
        if not self.closed:
            self.final = self.getvalue()
        super().close()


class MemoryStorage:
    """A dict-backed ``StorageBackend`` for tests: the reference behaviour in 50 lines."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects: dict[str, bytes] = dict(objects or {})
        self._lock = threading.Lock()

    def info(self) -> StorageInfo:
        return StorageInfo(max_connections=64, atomic_replace=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = sorted((n, len(b)) for n, b in self.objects.items() if n.startswith(prefix))
        return iter([ObjectInfo(n, s) for n, s in items])

    def open_read(self, name: str) -> BinaryIO:
        with self._lock:
            data = self.objects.get(name)
        if data is None:
            raise BackupNotFoundError(f"memory://{name}: no such file")
        return io.BytesIO(data)

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        return self._write(name)

    @contextmanager
    def _write(self, name: str) -> Iterator[BinaryIO]:
        buffer = _MemoryWriter()
        yield buffer  # an exception here skips publishing: nothing appears
        data = buffer.final if buffer.closed else buffer.getvalue()
        with self._lock:
            self.objects[name] = data

    def remove(self, name: str) -> None:
        with self._lock:
            if self.objects.pop(name, None) is None:
                raise BackupNotFoundError(f"memory://{name}: no such file")


class _Crash(Exception):
    """Raised inside a write to simulate a failure mid-file."""


class StorageContract:
    """Behaviour every ``StorageBackend`` must have. Subclass and provide a ``storage`` fixture."""

    #: Bytes for the multipart test: several parts for a store that splits uploads.
    multipart_size: int = 3 * 1024 * 1024 + 12345

    @pytest.fixture
    def storage(self) -> StorageBackend:
        raise NotImplementedError("subclass StorageContract and provide a 'storage' fixture")

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _put(storage: StorageBackend, name: str, data: bytes) -> None:
        with storage.open_write(name) as f:
            f.write(data)

    @staticmethod
    def _get(storage: StorageBackend, name: str) -> bytes:
        with storage.open_read(name) as f:
            return f.read()

    @staticmethod
    def _names(storage: StorageBackend, prefix: str = "") -> list[str]:
        return [o.name for o in storage.list(prefix)]

    # --- the contract ----------------------------------------------------------------------

    def test_satisfies_protocol(self, storage: StorageBackend) -> None:
        assert isinstance(storage, StorageBackend)
        assert isinstance(storage.info(), StorageInfo)

    def test_empty_location_lists_nothing(self, storage: StorageBackend) -> None:
        assert list(storage.list("")) == []

    def test_round_trip(self, storage: StorageBackend) -> None:
        self._put(storage, "ns_1.asb", b"Version 3.1\n# namespace test\n")
        assert self._get(storage, "ns_1.asb") == b"Version 3.1\n# namespace test\n"

    def test_list_names_in_order_with_sizes(self, storage: StorageBackend) -> None:
        for name, size in [("b.asb", 3), ("a.asb", 1), ("c/d.asb", 4), ("a2.asb", 0)]:
            self._put(storage, name, b"x" * size)
        assert list(storage.list("")) == [
            ObjectInfo("a.asb", 1),
            ObjectInfo("a2.asb", 0),
            ObjectInfo("b.asb", 3),
            ObjectInfo("c/d.asb", 4),
        ]

    def test_list_prefix(self, storage: StorageBackend) -> None:
        for name in ["x/1.asb", "x/2.asb", "xy/3.asb", "y/4.asb"]:
            self._put(storage, name, b"1")
        assert self._names(storage, "x/") == ["x/1.asb", "x/2.asb"]
        assert self._names(storage, "x") == ["x/1.asb", "x/2.asb", "xy/3.asb"]
        assert self._names(storage, "z/") == []

    def test_many_small_writes(self, storage: StorageBackend) -> None:
        chunks = [bytes([i % 251]) * (i * 7 % 1000 + 1) for i in range(500)]
        with storage.open_write("many.asb") as f:
            for c in chunks:
                f.write(c)
        assert self._get(storage, "many.asb") == b"".join(chunks)

    def test_empty_object(self, storage: StorageBackend) -> None:
        with storage.open_write("empty.asb"):
            pass
        assert list(storage.list("empty")) == [ObjectInfo("empty.asb", 0)]
        assert self._get(storage, "empty.asb") == b""

    def test_multipart_object_streams_intact(self, storage: StorageBackend) -> None:
        data = pattern_bytes(self.multipart_size, seed=7)
        with storage.open_write("big/0001.asb") as f:
            for start in range(0, len(data), 256 * 1024 + 3):
                f.write(data[start : start + 256 * 1024 + 3])
        assert list(storage.list("big/")) == [ObjectInfo("big/0001.asb", len(data))]
        with storage.open_read("big/0001.asb") as r:
            back = bytearray()
            while chunk := r.read(1 << 20):
                back += chunk
        assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()

    def test_read_in_small_pieces(self, storage: StorageBackend) -> None:
        data = pattern_bytes(70_000, seed=1)
        self._put(storage, "p.asb", data)
        with storage.open_read("p.asb") as r:
            pieces = []
            while piece := r.read(4093):
                pieces.append(piece)
        assert b"".join(pieces) == data

    def test_failed_write_leaves_nothing(self, storage: StorageBackend) -> None:
        with pytest.raises(_Crash), storage.open_write("ns/1.asb") as f:
            f.write(b"partial")
            raise _Crash("crash mid-file")
        assert list(storage.list("ns/")) == []

    def test_failed_multipart_write_leaves_nothing(self, storage: StorageBackend) -> None:
        data = pattern_bytes(self.multipart_size, seed=3)
        with pytest.raises(_Crash), storage.open_write("ns/big.asb") as f:
            f.write(data)
            f.write(data[:1000])
            raise _Crash("crash after several parts")
        assert list(storage.list("ns/")) == []

    def test_closed_handle_is_not_published_until_clean_exit(self, storage: StorageBackend) -> None:
        # Transforms close what they wrap: close() alone must not publish.
        with pytest.raises(_Crash), storage.open_write("c.asb") as f:
            f.write(b"complete bytes")
            f.close()
            raise _Crash("failure after close, before the with block ends")
        assert self._names(storage) == []
        with storage.open_write("c.asb") as f:
            f.write(b"complete bytes")
            f.close()
        assert self._get(storage, "c.asb") == b"complete bytes"

    def test_failed_overwrite_keeps_old_object(self, storage: StorageBackend) -> None:
        self._put(storage, "keep.asb", b"old")
        with pytest.raises(_Crash), storage.open_write("keep.asb") as f:
            f.write(b"new but broken")
            raise _Crash("crash")
        assert self._get(storage, "keep.asb") == b"old"

    def test_overwrite_replaces(self, storage: StorageBackend) -> None:
        self._put(storage, "o.asb", b"first version")
        self._put(storage, "o.asb", b"second")
        assert self._get(storage, "o.asb") == b"second"
        assert list(storage.list("o")) == [ObjectInfo("o.asb", 6)]

    def test_remove(self, storage: StorageBackend) -> None:
        self._put(storage, "r1.asb", b"1")
        self._put(storage, "r2.asb", b"2")
        storage.remove("r1.asb")
        assert self._names(storage) == ["r2.asb"]

    def test_read_missing_is_not_found(self, storage: StorageBackend) -> None:
        with pytest.raises(BackupNotFoundError, match="nothing-here.asb"):
            storage.open_read("nothing-here.asb").read()

    def test_remove_missing_is_not_found(self, storage: StorageBackend) -> None:
        with pytest.raises(BackupNotFoundError, match="nothing-here.asb"):
            storage.remove("nothing-here.asb")

    def test_write_handle_is_binary(self, storage: StorageBackend) -> None:
        with storage.open_write("bin.asb") as f:
            assert f.writable()
            n = f.write(b"\x00\xff\r\n")
            assert n in (None, 4)
            f.flush()
        assert self._get(storage, "bin.asb") == b"\x00\xff\r\n"

    def test_concurrent_writers(self, storage: StorageBackend) -> None:
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                self._put(storage, f"t/{i:02d}.asb", pattern_bytes(10_000 + i, seed=i))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert [o.size for o in storage.list("t/")] == [10_000 + i for i in range(4)]
        assert self._get(storage, "t/03.asb") == pattern_bytes(10_003, seed=3)
