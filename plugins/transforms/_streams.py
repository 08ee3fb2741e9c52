"""Small helpers shared by the transform plugins."""

from __future__ import annotations

from typing import Any

__all__ = ["source_name"]


def source_name(stream: Any) -> str | None:
    """The file name a stream carries (``open()`` files, our wrappers), for error messages."""
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else None
