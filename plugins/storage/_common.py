"""Pieces every built-in storage shares: the write handle and option checking.

The write handle is what ``open_write`` yields. Its ``close()`` only ends writing; the object is
published by the ``with`` block's clean exit, never by ``close()`` (transforms close what they
wrap, and CPython closes dropped file objects from their finalizer: publishing there would
publish a partial file after a crash).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping

from aerobackup.errors import ConfigError

__all__ = ["COMMON_OPTIONS", "WriteHandle", "check_options", "option_bool", "option_int"]

#: Options any storage accepts (hints from the pipeline).
COMMON_OPTIONS = frozenset({"file-limit"})


class WriteHandle(io.RawIOBase):
    """A binary, write-only stream passing bytes to ``sink``; ``close()`` does not publish."""

    def __init__(self, sink: Callable[[memoryview], None], name: str) -> None:
        super().__init__()
        self._sink = sink
        self.name = name
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError(f"write to closed backup file {self.name}")
        view = memoryview(data).cast("B")
        if view.nbytes:
            self._sink(view)
            self.bytes_written += view.nbytes
        return view.nbytes

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def normalise_options(options: Mapping[str, str]) -> dict[str, str]:
    """Keys in kebab-case (``part_size`` and ``part-size`` are one option)."""
    return {k.strip().lower().replace("_", "-"): v for k, v in options.items()}


def check_options(options: Mapping[str, str], known: Iterable[str], storage: str) -> dict[str, str]:
    """Refuse an option this storage does not know, naming it and the ones it does."""
    opts = normalise_options(options)
    allowed = set(known) | COMMON_OPTIONS
    for key in opts:
        if key not in allowed:
            raise ConfigError(key, f"unknown option for storage '{storage}' (known: {', '.join(sorted(allowed))})")
    return opts


def option_int(opts: Mapping[str, str], key: str, default: int, *, minimum: int = 0) -> int:
    raw = opts.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(key, f"not a whole number: {raw!r}") from None
    if value < minimum:
        raise ConfigError(key, f"must be at least {minimum}, got {value}")
    return value


def option_bool(opts: Mapping[str, str], key: str, default: bool = False) -> bool:
    raw = opts.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(key, f"not true or false: {raw!r}")
