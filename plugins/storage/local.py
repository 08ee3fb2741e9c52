"""Storage ``local``: a directory (``-d /backups/x``) or a single file (``-o /backups/x.asb``).

Writes are atomic: bytes go to a hidden temporary file beside the target, which is fsync'ed and
renamed over the final name only when the ``with`` block exits cleanly; on an error the
temporary file is deleted, so a crash never leaves a file that looks complete. The name ``""``
means the location itself (single-file mode). Every OS error becomes a one-line
``StorageError`` naming the path: missing, unreadable, not a directory, disk full.
"""

from __future__ import annotations

import builtins
import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

from aerobackup import hookimpl
from aerobackup.errors import BackupNotFoundError, StorageError
from aerobackup.hookspecs import RegisterStorage
from aerobackup.protocols import ObjectInfo, StorageInfo, StorageURL
from aerobackup.storage import parse_size

from ._common import WriteHandle, check_options

__all__ = ["TEMP_MARK", "LocalStorage", "open_local", "register_storages"]

#: Temporary files carry this mark; listings never show them.
TEMP_MARK = ".aerobackup-tmp-"
_DEFAULT_BUFFER = 1 << 20


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is not a directory"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return exc.strerror or str(exc)


class LocalStorage:
    """Files under ``root`` (a directory), or the single file ``root`` (name ``""``)."""

    def __init__(self, root: str | os.PathLike[str], *, buffer_size: int = _DEFAULT_BUFFER) -> None:
        self.root = Path(root).expanduser()
        self.buffer_size = buffer_size

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def info(self) -> StorageInfo:
        return StorageInfo(max_connections=64, atomic_replace=True)

    def _path(self, name: str) -> Path:
        if not name:
            return self.root
        parts = name.split("/")
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"{self.root}: invalid backup file name {name!r}")
        return self.root.joinpath(*parts)

    # --- listing ---------------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        root = self.root
        try:
            st = root.stat()
        except FileNotFoundError:
            raise BackupNotFoundError(f"{root}: no such directory") from None
        except OSError as exc:
            raise StorageError(f"{root}: cannot read: {_describe(exc)}") from None
        if not os.path.isdir(root):
            # single-file location: the file itself, under the name ""
            return iter([ObjectInfo("", st.st_size)] if prefix == "" else [])
        found: builtins.list[ObjectInfo] = []
        self._walk(root, "", prefix, found)
        found.sort(key=lambda o: o.name)
        return iter(found)

    def _walk(self, directory: Path, rel: str, prefix: str, out: builtins.list[ObjectInfo]) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise StorageError(f"{directory}: cannot read directory: {_describe(exc)}") from None
        for entry in entries:
            name = f"{rel}{entry.name}"
            if TEMP_MARK in entry.name:
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    sub = name + "/"
                    # descend only where names under it can match the prefix
                    if sub.startswith(prefix) or prefix.startswith(sub):
                        self._walk(Path(entry.path), sub, prefix, out)
                elif name.startswith(prefix):
                    out.append(ObjectInfo(name, entry.stat(follow_symlinks=True).st_size))
            except OSError as exc:
                raise StorageError(f"{entry.path}: cannot read: {_describe(exc)}") from None

    # --- reading ---------------------------------------------------------------------------

    def open_read(self, name: str) -> BinaryIO:
        path = self._path(name)
        try:
            return open(path, "rb", buffering=self.buffer_size)  # noqa: SIM115 - caller closes
        except FileNotFoundError:
            raise BackupNotFoundError(f"{path}: no such file") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot open for reading: {_describe(exc)}") from None

    # --- writing ---------------------------------------------------------------------------

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        return self._write(name)

    def _open_temp(self, final: Path) -> tuple[Path, BinaryIO]:
        """Create the hidden temporary file beside ``final`` (a seam for fault-injection tests)."""
        temp = final.with_name(f".{final.name}{TEMP_MARK}{secrets.token_hex(4)}")
        return temp, open(temp, "xb", buffering=self.buffer_size)  # noqa: SIM115

    @contextmanager
    def _write(self, name: str) -> Iterator[BinaryIO]:
        final = self._path(name)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{final.parent}: cannot create directory: {_describe(exc)}") from None
        if final.is_dir():
            raise StorageError(f"{final}: cannot write a backup file: is a directory")
        try:
            temp, fh = self._open_temp(final)
        except OSError as exc:
            raise StorageError(f"{final}: cannot create file: {_describe(exc)}") from None

        def sink(data: memoryview) -> None:
            try:
                fh.write(data)
            except OSError as exc:
                raise StorageError(
                    f"{final}: write failed after {handle.bytes_written} bytes: {_describe(exc)}"
                ) from None

        handle = WriteHandle(sink, str(final))
        published = False
        try:
            yield handle  # type: ignore[misc]  # a RawIOBase is a binary stream
            try:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                os.replace(temp, final)
                published = True
            except OSError as exc:
                raise StorageError(f"{final}: cannot complete the file: {_describe(exc)}") from None
            _fsync_dir(final.parent)
        finally:
            handle.close()
            if not published:
                try:
                    fh.close()
                except OSError:
                    pass  # the disk is full or gone: the temp file goes anyway
                try:
                    os.unlink(temp)
                except FileNotFoundError:
                    pass

    def remove(self, name: str) -> None:
        path = self._path(name)
        try:
            os.remove(path)
        except FileNotFoundError:
            raise BackupNotFoundError(f"{path}: no such file") from None
        except OSError as exc:
            raise StorageError(f"{path}: cannot remove: {_describe(exc)}") from None


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_local(url: StorageURL) -> LocalStorage:
    opts = check_options(url.options, {"buffer-size", "local-buffer-size"}, "local")
    raw = opts.get("buffer-size") or opts.get("local-buffer-size")
    size = parse_size(raw, option="buffer-size") if raw else _DEFAULT_BUFFER
    return LocalStorage(url.path or ".", buffer_size=max(size, 4096))


@hookimpl
def register_storages(register: RegisterStorage) -> None:
    register("local", open_local, schemes=("file",))
