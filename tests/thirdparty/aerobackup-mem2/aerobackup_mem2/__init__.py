"""An in-memory storage for ``mem2://`` URLs: what a third-party storage plugin looks like.

It imports nothing from aerobackup but the public API, and is installed with pip like any
plugin; aerobackup finds it through its ``aerobackup`` entry point.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from aerobackup import BackupNotFoundError, ObjectInfo, StorageInfo, StorageURL, hookimpl


class Mem2Storage:
    """Objects live in a dict owned by this instance; a write is published on a clean exit."""

    def __init__(self, url: StorageURL) -> None:
        self.root = url.path
        self.objects: dict[str, bytes] = {}

    def info(self) -> StorageInfo:
        return StorageInfo(max_connections=1)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for name in sorted(self.objects):
            if name.startswith(prefix):
                yield ObjectInfo(name, len(self.objects[name]))

    def open_read(self, name: str) -> BinaryIO:
        try:
            return io.BytesIO(self.objects[name])
        except KeyError:
            raise BackupNotFoundError(f"mem2://{self.root}/{name}: no such object") from None

    @contextmanager
    def open_write(self, name: str) -> Iterator[BinaryIO]:
        buf = io.BytesIO()
        yield buf
        self.objects[name] = buf.getvalue()

    def remove(self, name: str) -> None:
        self.objects.pop(name, None)


@hookimpl
def register_storages(register):  # type: ignore[no-untyped-def]
    register("mem2", Mem2Storage, schemes=("mem2",))
