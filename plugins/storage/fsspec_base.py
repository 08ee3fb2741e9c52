"""What the cloud storages (s3, gcs, azure) share, on top of an fsspec filesystem.

``FsspecStorage`` implements the storage protocol with the filesystem for listing, reading and
removing, and a per-store writer for ``open_write``:

* ``MultipartWriter`` (S3 multipart uploads, Azure block blobs): the stream is cut into parts
  of ``part_size`` that up to ``concurrency`` threads upload while the caller keeps writing.
  Memory is bounded: at most ``concurrency`` parts in flight plus the one being filled. The part
  count is checked before each part (S3: 10,000) so an oversized file fails with a clear
  message. The object is completed only when the ``with`` block exits cleanly; on an error the
  upload is aborted and nothing appears under the name (an existing object stays as it was).
* ``FsspecFileWriter`` (GCS resumable uploads): the filesystem's own buffered file, committed on
  clean exit and discarded on error. Its finalizer is disarmed so a dropped handle never
  completes a partial upload.

Reads are ranged GETs of ``read_block_size`` with ``read_ahead`` ranges fetched ahead by worker
threads, so a sequential restore does not pay one round trip per block.

Every library exception is turned into a one-line ``StorageError`` naming the location (see
``StorageErrors``): not found, access denied, unreachable endpoint (``TransientStorageError``).
"""

from __future__ import annotations

import collections
import io
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from aerobackup.errors import BackupNotFoundError, StorageError, TransientStorageError
from aerobackup.protocols import ObjectInfo, StorageInfo

from ._common import WriteHandle

__all__ = [
    "FsspecFileWriter",
    "FsspecStorage",
    "MultipartWriter",
    "PartUploader",
    "ReadHandle",
    "StorageErrors",
]

_CONNECT_ERRORS = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ServiceRequestError",
    "ServiceResponseError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "TimeoutError",
    "ClientOSError",
)
_AUTH_CODES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AuthenticationFailed",
    "AuthorizationFailure",
    "InvalidAuthenticationInfo",
    "ExpiredToken",
    "InvalidToken",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class StorageErrors:
    """Turns client-library exceptions into aerobackup errors for one location."""

    location: str  # e.g. "s3://bucket/prefix"
    endpoint: str  # e.g. "http://127.0.0.1:9000" or "AWS S3 (eu-west-1)"
    container_word: str = "bucket"

    def translate(self, exc: BaseException, *, what: str, name: str = "") -> StorageError:
        if isinstance(exc, StorageError):
            return exc
        where = f"{self.location.rstrip('/')}/{name}" if name else self.location
        chain = list(_chain(exc))
        names = {type(e).__name__ for e in chain}
        text = " | ".join(str(e) for e in chain)
        status = next(
            (
                getattr(e, "status_code", None) or getattr(e, "status", None)
                for e in chain
                if isinstance(getattr(e, "status_code", None) or getattr(e, "status", None), int)
            ),
            None,
        )
        if names & set(_CONNECT_ERRORS) or (isinstance(exc, OSError) and exc.errno in (111, 113, 110)):
            return TransientStorageError(f"{where}: cannot {what}: cannot reach {self.endpoint}: {_short(exc)}")
        if (
            any(code in text for code in _AUTH_CODES)
            or status in (401, 403)
            or any(
                isinstance(e, PermissionError)
                or type(e).__name__ in ("ClientAuthenticationError", "RefreshError", "DefaultCredentialsError")
                for e in chain
            )
        ):
            return StorageError(
                f"{where}: cannot {what}: access denied by {self.endpoint} "
                f"(check the credentials and their rights): {_short(exc)}"
            )
        if (
            "NoSuchBucket" in text
            or "ContainerNotFound" in text
            or ("bucket" in text.lower() and "not found" in text.lower())
        ):
            container = self.location.split("://", 1)[-1].split("/", 1)[0]
            return BackupNotFoundError(f"{where}: cannot {what}: {self.container_word} '{container}' does not exist")
        if any(isinstance(e, FileNotFoundError) for e in chain) or status == 404 or "BlobNotFound" in text:
            if "upload" in what:  # nothing to find when writing but the bucket itself
                container = self.location.split("://", 1)[-1].split("/", 1)[0]
                return BackupNotFoundError(
                    f"{where}: cannot {what}: {self.container_word} '{container}' does not exist"
                )
            return BackupNotFoundError(f"{where}: no such file")
        if status in (408, 429, 500, 502, 503, 504) or "SlowDown" in text or "Throttl" in text:
            return TransientStorageError(f"{where}: cannot {what}: {self.endpoint} is busy: {_short(exc)}")
        return StorageError(f"{where}: cannot {what}: {_short(exc)}")


class ReadHandle(io.RawIOBase):
    """A read-only stream over a filesystem file, translating library errors."""

    def __init__(self, inner: Any, errors: StorageErrors, name: str) -> None:
        super().__init__()
        self._inner = inner
        self._errors = errors
        self.name = name

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._inner.read(size))
        except Exception as exc:
            raise self._errors.translate(exc, what="read", name=self.name) from exc

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            except Exception:
                pass  # a reader's close frees a connection; nothing to lose
        super().close()


class _Prefetcher:
    """Sequential reads of one object as ranged GETs of ``block`` bytes, ``depth`` of them
    fetched ahead by worker threads (bounded memory: about ``depth + 1`` blocks). Hides the
    round-trip latency that a one-range-at-a-time reader pays per block."""

    def __init__(self, fs: Any, path: str, size: int, block: int, depth: int) -> None:
        self.fs, self.path, self.size, self.block = fs, path, size, block
        self._pool = ThreadPoolExecutor(depth, thread_name_prefix="aerobackup-read") if size > block else None
        self._pending: collections.deque[Future[bytes]] = collections.deque()
        self._next = 0
        self._current = memoryview(b"")
        self._pos = 0
        for _ in range(max(1, depth)):
            self._schedule()

    def _schedule(self) -> None:
        if self._next >= self.size:
            return
        start, end = self._next, min(self._next + self.block, self.size)
        self._next = end
        if self._pool is not None:
            self._pending.append(self._pool.submit(self.fs.cat_file, self.path, start=start, end=end))
        else:
            done: Future[bytes] = Future()
            done.set_result(self.fs.cat_file(self.path, start=start, end=end))
            self._pending.append(done)

    def read(self, size: int = -1) -> bytes:
        want = self.size if size is None or size < 0 else size
        out: list[memoryview] = []
        while want > 0:
            if self._pos >= len(self._current):
                if not self._pending:
                    break
                self._current = memoryview(self._pending.popleft().result())
                self._pos = 0
                self._schedule()
            piece = self._current[self._pos : self._pos + want]
            self._pos += len(piece)
            want -= len(piece)
            out.append(piece)
        return out[0].tobytes() if len(out) == 1 else b"".join(out)

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class PartUploader(Protocol):
    """Store-specific primitives of a multipart upload of one object."""

    def put_whole(self, data: bytearray) -> None:
        """Store a small object in one request (no part was uploaded)."""

    def begin(self) -> None:
        """Start the upload (S3: create the multipart upload)."""

    def upload(self, number: int, data: bytes) -> object:
        """Upload part ``number`` (from 1); return what ``complete`` needs for it."""

    def complete(self, parts: list[object]) -> None:
        """Publish the object from its parts, in order."""

    def abort(self) -> None:
        """Discard uploaded parts; nothing may appear under the name."""


class MultipartWriter:
    """Cuts a stream into parts and uploads them concurrently; see the module docstring."""

    def __init__(
        self,
        uploader: PartUploader,
        *,
        part_size: int,
        concurrency: int,
        max_parts: int | None,
        errors: StorageErrors,
        name: str,
    ) -> None:
        self.uploader = uploader
        self.part_size = part_size
        self.concurrency = max(1, concurrency)
        self.max_parts = max_parts
        self.errors = errors
        self.name = name
        self._buffer = bytearray()
        self._parts: dict[int, Future[object]] = {}
        self._slots = threading.Semaphore(self.concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._failure: BaseException | None = None
        self._started = False

    # called from the caller's thread ------------------------------------------------------

    def write(self, data: memoryview) -> None:
        self._raise_failure()
        view = memoryview(data)
        while view.nbytes:
            room = self.part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= self.part_size:
                # hand the full buffer over (no copy) and start a new one
                part, self._buffer = self._buffer, bytearray()
                self._submit(part)

    def _submit(self, part: bytearray) -> None:
        number = len(self._parts) + 1
        if self.max_parts is not None and number > self.max_parts:
            limit = self.max_parts * self.part_size
            raise StorageError(
                f"{self.errors.location.rstrip('/')}/{self.name}: the file outgrew {self.max_parts} parts of "
                f"{self.part_size >> 20} MiB ({limit >> 20} MiB): set a larger part size (part-size) "
                "or a file limit below that"
            )
        if not self._started:
            self._call(self.uploader.begin, "start the upload")
            self._started = True
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="aerobackup-upload")
        # Bounded memory: wait for a free slot before holding another part in flight.
        while not self._slots.acquire(timeout=0.5):
            self._raise_failure()
        assert self._pool is not None
        # bytes, not the bytearray: the SDKs wrap a body in BytesIO, which shares a bytes object
        # but copies a bytearray (two copies of every part in flight instead of one)
        future = self._pool.submit(self._upload, number, bytes(part))
        part.clear()
        self._parts[number] = future

    def _upload(self, number: int, part: bytes) -> object:
        try:
            if self._failure is not None:
                raise StorageError("upload abandoned after an earlier part failed")
            return self.uploader.upload(number, part)
        except BaseException as exc:
            if self._failure is None:
                self._failure = exc
            raise
        finally:
            self._slots.release()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self.errors.translate(self._failure, what="upload", name=self.name) from self._failure

    def _call(self, fn: Callable[..., Any], what: str, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise self.errors.translate(exc, what=what, name=self.name) from exc

    def finish(self) -> None:
        """Publish (clean exit of the ``with`` block)."""
        self._raise_failure()
        if not self._started:
            part, self._buffer = self._buffer, bytearray()
            self._call(self.uploader.put_whole, "upload", part)
            return
        try:
            if self._buffer:
                part, self._buffer = self._buffer, bytearray()
                self._submit(part)
            tokens = []
            for number in sorted(self._parts):
                try:
                    tokens.append(self._parts[number].result())
                except Exception:
                    self._raise_failure()
                    raise
            self._call(self.uploader.complete, "complete the upload", tokens)
        except BaseException:
            self.abort()
            raise
        finally:
            self._shutdown()

    def abort(self) -> None:
        """Discard (error in the ``with`` block): nothing appears under the name."""
        self._failure = self._failure or StorageError("aborted")
        for future in self._parts.values():
            future.cancel()
        self._shutdown()
        if self._started:
            self._started = False
            try:
                self.uploader.abort()
            except Exception:
                pass  # best effort: an unfinished upload is never visible under the name
        self._buffer = bytearray()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _disarm_finalizer(f: Any) -> None:
    """fsspec's buffered files call ``close()`` — which completes the upload — from ``__del__``.
    Swap in a subclass without that, so only our clean exit ever publishes."""
    cls = type(f)
    guarded = _GUARDED.get(cls)
    if guarded is None:
        guarded = type(f"Guarded{cls.__name__}", (cls,), {"__del__": lambda self: None})
        _GUARDED[cls] = guarded
    f.__class__ = guarded


_GUARDED: dict[type, type] = {}


class FsspecFileWriter:
    """Writes through the filesystem's buffered file: commit on clean exit, discard on error.

    A worker thread feeds the file whole chunks while the caller fills the next one, so the
    (sequential) upload of one chunk overlaps the production of the next. Memory: about three
    chunks (the one being filled, one queued, the one the file is sending).
    """

    def __init__(self, open_file: Callable[[], Any], errors: StorageErrors, name: str, chunk_size: int) -> None:
        self._errors = errors
        self._name = name
        self._chunk_size = chunk_size
        try:
            self._file = open_file()
        except Exception as exc:
            raise errors.translate(exc, what="start the upload", name=name) from exc
        _disarm_finalizer(self._file)
        self._buffer = bytearray()
        self._queue: queue.Queue[bytearray | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._aborting = False
        self._worker = threading.Thread(target=self._feed, name="aerobackup-upload", daemon=True)
        self._worker.start()

    def _feed(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._failure is None and not self._aborting:
                try:
                    self._file.write(chunk)
                except BaseException as exc:
                    self._failure = exc

    def _raise_failure(self, what: str = "upload") -> None:
        if self._failure is not None:
            raise self._errors.translate(self._failure, what=what, name=self._name) from self._failure

    def _put(self, item: bytearray | None) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self._worker.is_alive():
                    return
                if item is not None:
                    self._raise_failure()

    def write(self, data: memoryview) -> None:
        self._raise_failure()
        self._buffer += data
        if len(self._buffer) >= self._chunk_size:
            chunk, self._buffer = self._buffer, bytearray()
            self._put(chunk)

    def finish(self) -> None:
        try:
            if self._buffer:
                chunk, self._buffer = self._buffer, bytearray()
                self._put(chunk)
            self._put(None)
            self._worker.join()
            self._raise_failure()
            try:
                self._file.close()
            except Exception as exc:
                raise self._errors.translate(exc, what="complete the upload", name=self._name) from exc
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self._aborting = True
        self._buffer = bytearray()
        while True:  # drop queued chunks, then stop the worker
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._put(None)
        self._worker.join()
        try:
            self._file.discard()
        except Exception:
            pass
        self._file.closed = True  # fsspec's own flag: later close() calls do nothing


class _Writer(Protocol):
    def write(self, data: memoryview) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class FsspecStorage:
    """A storage on an fsspec filesystem under ``root`` ("bucket/prefix"); see the module doc."""

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        info: StorageInfo,
        errors: StorageErrors,
        make_writer: Callable[[str, str], _Writer],
        read_block_size: int = 8 << 20,
        read_ahead: int = 3,
    ) -> None:
        self.fs = fs
        self.root = root.strip("/")
        self._info = info
        self.errors = errors
        self._make_writer = make_writer
        self.read_block_size = read_block_size
        self.read_ahead = read_ahead  # ranges fetched ahead by each reader

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.errors.location!r})"

    def info(self) -> StorageInfo:
        return self._info

    def path(self, name: str) -> str:
        if not name:
            return self.root
        if name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
            raise StorageError(f"{self.errors.location}: invalid backup file name {name!r}")
        return f"{self.root}/{name}"

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # List the deepest "directory" that contains the prefix, then filter by the prefix.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = f"{self.root}/{directory}".rstrip("/") if directory else self.root
        try:
            self.fs.invalidate_cache()
            found = self.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            found = {}
        except Exception as exc:
            raise self.errors.translate(exc, what="list") from exc
        if isinstance(found, list):  # adlfs answers a list of names for a path that is an object
            try:
                details = [d if isinstance(d, dict) else self.fs.info(d) for d in found]
            except Exception as exc:
                raise self.errors.translate(exc, what="list") from exc
            found = {d["name"]: d for d in details}
        if not found:
            self._check_container()
        start = len(self.root) + 1
        items = []
        for full, detail in found.items():
            full = full.strip("/")
            if detail.get("type") == "directory":
                continue
            if full == self.root:  # the location is itself an object (single-file mode)
                if prefix == "":
                    items.append(ObjectInfo("", int(detail.get("size") or 0)))
                continue
            name = full[start:]
            if name.startswith(prefix) and not name.endswith("/"):
                items.append(ObjectInfo(name, int(detail.get("size") or 0)))
        items.sort(key=lambda o: o.name)
        return iter(items)

    def _check_container(self) -> None:
        """An empty listing: fine in an existing bucket; a clear error when the bucket is missing."""
        container = self.root.split("/", 1)[0]
        try:
            self.fs.invalidate_cache()
            present = self.fs.exists(container)
        except Exception as exc:
            raise self.errors.translate(exc, what="list") from exc
        if not present:
            raise BackupNotFoundError(
                f"{self.errors.location}: {self.errors.container_word} '{container}' does not exist"
            )

    def open_read(self, name: str) -> BinaryIO:
        path = self.path(name)
        try:
            self.fs.invalidate_cache(path)
            detail = self.fs.info(path)
            if detail.get("type") == "directory":
                raise FileNotFoundError(path)
            inner = _Prefetcher(self.fs, path, int(detail.get("size") or 0), self.read_block_size, self.read_ahead)
        except Exception as exc:
            raise self.errors.translate(exc, what="open for reading", name=name) from exc
        return ReadHandle(inner, self.errors, name)  # type: ignore[return-value]

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        return self._write(name)

    @contextmanager
    def _write(self, name: str) -> Iterator[BinaryIO]:
        writer = self._make_writer(self.path(name), name)
        handle = WriteHandle(writer.write, name)
        try:
            yield handle  # type: ignore[misc]
        except BaseException:
            writer.abort()
            raise
        finally:
            handle.close()
        writer.finish()

    def remove(self, name: str) -> None:
        path = self.path(name)
        try:
            self.fs.invalidate_cache()
            self.fs.info(path)  # object stores delete missing keys silently: say so instead
            self.fs.rm_file(path)
        except Exception as exc:
            raise self.errors.translate(exc, what="remove", name=name) from exc
        finally:
            self.fs.invalidate_cache()
