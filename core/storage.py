"""Conveniences over a ``StorageBackend``: the things every storage would otherwise repeat.

A storage plugin implements five primitives (``protocols.StorageBackend``); everything built on
them lives here, once: ``exists``, ``read_bytes``/``write_bytes``, the restore listing (backup files
only, stable order, a directory list or a parent directory), the backup pre-check of a
non-empty directory (with ``remove-files``), the up-front file-limit check for multipart stores,
size options, and ``RetryingStorage`` — the one place that retries (STYLE §6.1).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO, TypeVar

from .errors import BackupNotFoundError, ConfigError, StorageError, TransientStorageError
from .protocols import ObjectInfo, StorageBackend, StorageInfo

__all__ = [
    "BACKUP_SUFFIXES",
    "RetryingStorage",
    "check_file_limit",
    "exists",
    "is_backup_file",
    "join_name",
    "list_backup_files",
    "parse_size",
    "prepare_backup_location",
    "read_bytes",
    "write_bytes",
]

#: What counts as a backup file in a directory (ASB text, ASBX binary).
BACKUP_SUFFIXES: tuple[str, ...] = (".asb", ".asbx")

_T = TypeVar("_T")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, *, option: str) -> int:
    """``"8MiB"``, ``"8M"``, ``"8388608"`` → bytes (binary units). ``option`` names it in errors."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(option, f"not a size: {text!r} (use bytes, or a number with K, M, G or T)")
    number, unit, _ = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def join_name(directory: str, name: str) -> str:
    """``directory/name`` with exactly one '/', '' meaning the root."""
    directory = directory.strip("/")
    return f"{directory}/{name}" if directory else name


def exists(storage: StorageBackend, name: str) -> bool:
    """Whether an object of exactly this name exists."""
    return any(obj.name == name for obj in storage.list(name))


def read_bytes(storage: StorageBackend, name: str) -> bytes:
    """The whole object (small files only: state files, metadata)."""
    with storage.open_read(name) as f:
        return f.read()


def write_bytes(storage: StorageBackend, name: str, data: bytes) -> None:
    """Write a whole object; it appears only once complete."""
    with storage.open_write(name) as f:
        f.write(data)


def is_backup_file(name: str, suffixes: Sequence[str] = BACKUP_SUFFIXES) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not base.startswith(".") and base.lower().endswith(tuple(suffixes))


def _direct_children(storage: StorageBackend, directory: str) -> Iterator[ObjectInfo]:
    """Objects directly in ``directory`` (not in its sub-directories), in name order."""
    prefix = f"{directory.strip('/')}/" if directory.strip("/") else ""
    for obj in storage.list(prefix):
        if "/" not in obj.name[len(prefix) :]:
            yield obj


def list_backup_files(
    storage: StorageBackend,
    *,
    directories: Sequence[str] | None = None,
    parent: str = "",
    suffixes: Sequence[str] = BACKUP_SUFFIXES,
    location: str | None = None,
) -> list[ObjectInfo]:
    """The backup files a restore reads, in a stable order.

    Without ``directories``: the files directly in the storage root. With them (restore's
    ``--directory-list``, each joined to ``parent``, i.e. ``--parent-directory``): each
    directory's files, directory by directory in the given order. Within a directory the order
    is name order. Other files (state files, notes, hidden files) are skipped. A location with no
    backup file at all raises ``BackupNotFoundError`` naming it.
    """
    dirs = [join_name(parent, d) for d in directories] if directories else [parent.strip("/")]
    found: list[ObjectInfo] = []
    for directory in dirs:
        found.extend(o for o in _direct_children(storage, directory) if is_backup_file(o.name, suffixes))
    if not found:
        where = location or "the backup location"
        shown = ", ".join(repr(d) if d else "(root)" for d in dirs)
        raise BackupNotFoundError(f"no backup files ({', '.join(suffixes)}) in {where}: directories {shown}")
    return found


def prepare_backup_location(
    storage: StorageBackend,
    *,
    remove_files: bool,
    directory: str = "",
    suffixes: Sequence[str] = BACKUP_SUFFIXES,
    location: str | None = None,
    extra_names: Sequence[str] = (),
) -> list[str]:
    """Before a directory backup: refuse a directory that already holds backup files, or, with
    ``remove_files`` (``--remove-files``), delete them (and ``extra_names`` such as a state
    file). Returns the names removed."""
    try:
        existing = [o.name for o in _direct_children(storage, directory) if is_backup_file(o.name, suffixes)]
    except BackupNotFoundError:
        return []  # a directory that does not exist yet is empty; writing creates it
    if existing and not remove_files:
        where = location or (directory or "the backup directory")
        raise StorageError(
            f"{where} is not empty: it holds {len(existing)} backup file(s), e.g. {existing[0]!r}; "
            "use remove-files (-r) to delete them first, or choose another directory"
        )
    removed: list[str] = []
    if remove_files:
        wanted = set(existing) | {join_name(directory, n) for n in extra_names}
        for name in sorted(wanted):
            try:
                storage.remove(name)
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed


def check_file_limit(storage: StorageBackend | StorageInfo, file_limit: int, *, location: str = "") -> None:
    """Fail before any upload when files of ``file_limit`` bytes cannot fit the store's limits.

    S3 allows 10,000 parts per object: with 5 MiB parts one object holds at most 50,000 MiB.
    ``file_limit`` 0 means no limit (one file): nothing to check up front; the writer itself
    refuses the 10,001st part.
    """
    info = storage if isinstance(storage, StorageInfo) else storage.info()
    where = f" on {location}" if location else ""
    if file_limit <= 0:
        return
    if info.max_object_size is not None and file_limit > info.max_object_size:
        raise ConfigError(
            "file-limit",
            f"file limit of {_mib(file_limit)} exceeds the largest object this storage can hold "
            f"({_mib(info.max_object_size)}){where}",
        )
    if info.part_size and info.max_parts:
        parts = -(-file_limit // info.part_size)
        if parts > info.max_parts:
            needed = -(-file_limit // info.max_parts)
            raise ConfigError(
                "file-limit",
                f"file limit of {_mib(file_limit)} needs {parts} parts of {_mib(info.part_size)}{where}, "
                f"but one object may have at most {info.max_parts} parts: set the part size "
                f"(part-size) to at least {_mib(needed, up=True)} or lower the file limit",
            )


def _mib(n: int, *, up: bool = False) -> str:
    if n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if up:
        return f"{-(-n // (1 << 20))} MiB"
    return f"{n / (1 << 20):.1f} MiB"


class RetryingStorage:
    """A ``StorageBackend`` that retries ``TransientStorageError`` with capped, jittered back-off.

    Retried: ``info``, ``list`` (the whole listing is taken again), opening a reader, ``remove``,
    and opening a writer. Not retried: bytes already streamed through an open reader or writer
    (the caller owns that stream; a failed write leaves nothing and the job retries the file).
    Final errors pass through untouched.
    """

    def __init__(
        self,
        inner: StorageBackend,
        *,
        attempts: int = 5,
        base_delay: float = 0.2,
        max_delay: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ConfigError("retries", f"attempts must be at least 1, got {attempts}")
        self.inner = inner
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep

    def _retry(self, call: Callable[[], _T]) -> _T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except TransientStorageError:
                if attempt == self.attempts:
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                self._sleep(delay * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")  # pragma: no cover

    def info(self) -> StorageInfo:
        return self._retry(self.inner.info)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(self._retry(lambda: list(self.inner.list(prefix))))

    def open_read(self, name: str) -> BinaryIO:
        return self._retry(lambda: self.inner.open_read(name))

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        return self._open_write(name)

    @contextmanager
    def _open_write(self, name: str) -> Iterator[BinaryIO]:
        def enter() -> tuple[AbstractContextManager[BinaryIO], BinaryIO]:
            manager = self.inner.open_write(name)
            return manager, manager.__enter__()

        manager, handle = self._retry(enter)
        with manager_exit(manager):
            yield handle

    def remove(self, name: str) -> None:
        self._retry(lambda: self.inner.remove(name))


@contextmanager
def manager_exit(manager: AbstractContextManager[BinaryIO]) -> Iterator[None]:
    """Run an already-entered context manager's ``__exit__`` with the block's outcome."""
    try:
        yield
    except BaseException as exc:
        if not manager.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        manager.__exit__(None, None, None)
