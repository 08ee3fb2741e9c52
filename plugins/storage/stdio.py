"""Storage ``stdio``: ``-`` as the location writes one backup file to standard output, or reads
one from standard input (``aerobackup backup -o - | ssh host 'cat > b.asb'``, ``zcat … | restore -i -``).

It is a single stream (``StorageInfo.single_stream``): one file per run (so no file limit),
nothing to list or remove, and the name passed to ``open_read``/``open_write`` is ignored.
Bytes go out as they are written, so a failed backup cannot be taken back: the reader sees a
truncated stream (ASB files end with no trailer; the job's exit code says it failed).
A reader that goes away (``| head``) ends the backup with one quiet line, not a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO

from aerobackup import hookimpl
from aerobackup.errors import StorageError
from aerobackup.hookspecs import RegisterStorage
from aerobackup.protocols import ObjectInfo, StorageInfo, StorageURL

from ._common import WriteHandle, check_options

__all__ = ["StdioStorage", "open_stdio", "register_storages"]


class StdioStorage:
    """Standard input and output as a one-file storage. Streams are injectable for tests."""

    def __init__(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self._written = False
        self._read = False

    def info(self) -> StorageInfo:
        return StorageInfo(max_connections=1, atomic_replace=False, single_stream=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Nothing to list: a stream has no names. Restore opens it directly (single_stream).
        return iter([])

    def open_read(self, name: str = "") -> BinaryIO:
        if self._read:
            raise StorageError("standard input holds one backup file only; it was already read")
        self._read = True
        stream = self._stdin if self._stdin is not None else sys.stdin.buffer
        # Closing our reader must not close the process's stdin.
        return os.fdopen(os.dup(stream.fileno()), "rb") if _has_fd(stream) else stream

    def open_write(self, name: str = "") -> AbstractContextManager[BinaryIO]:
        return self._write()

    @contextmanager
    def _write(self) -> Iterator[BinaryIO]:
        if self._written:
            raise StorageError(
                "standard output takes one backup file only: use no file limit (0) "
                "and one writer (parallel 1) with output '-'"
            )
        self._written = True
        out = self._stdout if self._stdout is not None else sys.stdout.buffer

        def sink(data: memoryview) -> None:
            try:
                out.write(data)
            except BrokenPipeError:
                _silence_stdout(out)
                raise StorageError("standard output was closed by its reader (broken pipe)") from None

        handle = WriteHandle(sink, "<stdout>")
        try:
            yield handle  # type: ignore[misc]  # a RawIOBase is a binary stream
            try:
                out.flush()
            except BrokenPipeError:
                _silence_stdout(out)
                raise StorageError("standard output was closed by its reader (broken pipe)") from None
        finally:
            handle.close()

    def remove(self, name: str) -> None:
        raise StorageError("cannot remove files on standard input/output ('-')")


def _has_fd(stream: BinaryIO) -> bool:
    try:
        stream.fileno()
    except (OSError, AttributeError, ValueError):
        return False
    return True


def _silence_stdout(out: BinaryIO) -> None:
    """After EPIPE, point the stream's descriptor at /dev/null so the interpreter's own final
    flush does not print 'Exception ignored ... BrokenPipeError' (the Python docs' recipe)."""
    if not _has_fd(out):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, out.fileno())
    finally:
        os.close(devnull)


def open_stdio(url: StorageURL) -> StdioStorage:
    check_options(url.options, (), "stdio")
    return StdioStorage()


@hookimpl
def register_storages(register: RegisterStorage) -> None:
    register("stdio", open_stdio, schemes=("stdio",))
