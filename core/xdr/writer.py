"""The ASBX writers of an XDR backup: one thread per writer, files rotated at the limit.

A writer takes the records of one read of one receiver connection at a time (several reads per
wake-up), appends them to its open file through the transforms, and only then tells the receiver
they may be acked (``mark_done``). The open file is discarded, never published, when the job
fails or is cancelled.
"""

from __future__ import annotations

import logging
import queue
import threading
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

from ..errors import JobCancelled
from ..jobs import Counters
from ..model import XdrToken
from ..protocols import StorageBackend, Transform
from ..transforms_chain import open_backup_writer
from . import asbx_io
from .config import BackupXdrConfig
from .receiver import AckSlot

__all__ = ["Files", "Writer"]

log = logging.getLogger("aerobackup.xdr")

_BATCH = 512  # entries a writer takes from its queue at once


class Files:
    """Shared by the writers: the file-number counter and the list of finished files."""

    def __init__(
        self, config: BackupXdrConfig, storage: StorageBackend, transforms: list[Transform], counters: Counters
    ) -> None:
        self.config = config
        self.storage = storage
        self.transforms = transforms
        self.counters = counters
        self._lock = threading.Lock()
        self._next = 0

    def next_number(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


class _OpenFile:
    def __init__(self, files: Files, worker: int) -> None:
        ns = files.config.namespace
        self.number = files.next_number()
        self.name = asbx_io.file_name(worker, ns, self.number)
        self._cm: AbstractContextManager[BinaryIO] = files.storage.open_write(self.name)
        raw = self._cm.__enter__()
        self._counting = _Counting(raw)
        try:
            self.out = open_backup_writer(self._counting, files.transforms)  # type: ignore[arg-type]
            self.out.write(asbx_io.header(ns, self.number))
        except BaseException as exc:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self.raw_bytes = asbx_io.HEADER_SIZE
        self.entries = 0

    def close(self) -> int:
        """Finish the transforms and publish the file; returns the bytes stored."""
        self.out.close()
        self._cm.__exit__(None, None, None)
        return self._counting.count

    def abort(self, exc: BaseException) -> None:
        try:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
        except BaseException:  # nothing more to do for a file we are discarding
            log.debug("discarding %s failed", self.name, exc_info=True)


class _Counting:
    """Counts bytes on their way to the storage stream; closing does not close it (the storage
    publishes when its ``with`` block ends)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0
        self.closed = False

    def write(self, data: Any) -> int:
        self.raw.write(data)
        n = len(data)
        self.count += n
        return n

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.closed = True


class Writer:
    """One writer thread: takes tokens of its partitions, appends them to its current file."""

    def __init__(self, index: int, files: Files, receiver_done: Any, queue_size: int) -> None:
        self.index = index
        self.files = files
        self._mark_done = receiver_done
        # items are the records of one read of one connection
        self.queue: queue.Queue[list[tuple[XdrToken, AckSlot]] | None] = queue.Queue(maxsize=max(1, queue_size))
        self.error: BaseException | None = None
        self._file: _OpenFile | None = None
        self.thread = threading.Thread(target=self._run, name=f"xdr-writer-{index}", daemon=True)
        self.thread.start()

    def put(self, items: list[tuple[XdrToken, AckSlot]]) -> None:
        while True:
            if self.error is not None:
                raise self.error  # ends the receiving connection; the job reports the error
            try:
                self.queue.put(items, timeout=0.2)  # a full queue is back-pressure; re-check errors
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        q = self.queue
        config = self.files.config
        limit, ns = config.file_limit, config.namespace
        counters = self.files.counters
        try:
            while True:
                try:
                    first = q.get(timeout=0.2)
                except queue.Empty:
                    if self.error is not None:  # aborted while idle
                        raise self.error from None
                    continue
                if first is None:
                    break
                items = list(first)
                stop = False
                while len(items) < _BATCH:
                    try:
                        nxt = q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    items.extend(nxt)
                chunk: list[bytes] = []
                raw = written = foreign = 0
                for token, _slot in items:
                    if token.namespace != ns:
                        foreign += 1
                        continue
                    size = asbx_io.ENTRY_PREFIX + len(token.payload)
                    f = self._file
                    if f is None or (limit and f.entries and f.raw_bytes + size > limit):
                        if chunk:
                            assert f is not None
                            f.out.write(b"".join(chunk))
                            chunk = []
                        self._rotate()
                        f = self._file
                        assert f is not None
                    chunk.append(asbx_io.entry_prefix(token.digest, len(token.payload)))
                    chunk.append(token.payload)
                    f.raw_bytes += size
                    f.entries += 1
                    raw += size
                    written += 1
                if chunk:
                    assert self._file is not None
                    self._file.out.write(b"".join(chunk))
                counters.add(records_read=len(items), records_written=written, records_filtered=foreign, bytes_raw=raw)
                self._mark_done([slot for _token, slot in items])
                if stop:
                    break
            if self.error is not None:  # aborted: the open file must not look complete
                raise self.error
            self._close_file()
        except BaseException as exc:
            self.error = exc
            if self._file is not None:
                self._file.abort(exc)
                self._file = None
            # unblock a receiver thread waiting on our full queue; its records stay unacked
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break

    def _rotate(self) -> None:
        self._close_file()
        self._file = _OpenFile(self.files, self.index)
        self.files.counters.add(bytes_raw=asbx_io.HEADER_SIZE)

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            stored = f.close()
            self.files.counters.add(bytes_written=stored)
            self.files.counters.file_written(f.name)

    def finish(self, timeout: float | None = None) -> None:
        """Write what is queued, close the file, stop."""
        if self.thread.is_alive():
            self.queue.put(None)
        self.thread.join(timeout)

    def abort(self) -> None:
        if self.error is None:
            self.error = JobCancelled("XDR backup cancelled")
        if self.thread.is_alive():
            try:
                self.queue.put_nowait(None)
            except queue.Full:
                pass
