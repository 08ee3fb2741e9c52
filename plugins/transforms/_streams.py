"""Small helpers shared by the transform plugins."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

__all__ = ["ReaderBase", "source_name"]


def source_name(stream: Any) -> str | None:
    """The file name a stream carries (``open()`` files, our wrappers), for error messages."""
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else None


class ReaderBase(io.BufferedIOBase):
    """A readable transform stage over ``self._inner``: ``readinto`` through ``read``, and
    closing the stage closes what it reads from. Subclasses provide ``read`` and ``read1``."""

    _inner: BinaryIO

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._inner.close()
        finally:
            super().close()
