"""Helpers for the transform tests."""

from __future__ import annotations

import io
import re


class Closing(io.BytesIO):
    """A BytesIO that remembers it was closed and keeps its value readable afterwards."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.closed_flag = False
        self._final = b""

    def close(self) -> None:
        if not self.closed_flag:
            self._final = super().getvalue()
            self.closed_flag = True
        super().close()

    def getvalue(self) -> bytes:
        return self._final if self.closed_flag else super().getvalue()


def masked_lines(text: bytes) -> list[bytes]:
    """Lines sorted, with `+ t` values masked: how two asbackup runs of one data set compare."""
    return sorted(re.sub(rb"^\+ t \d+$", b"+ t *", line) for line in text.split(b"\n"))
