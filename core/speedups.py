"""Which implementation of the hot-path inner loops is active: the C extension or pure Python.

``aerobackup._speedups`` is an optional compiled module (built by setup.py when a compiler is
there) holding C versions of a few per-record loops. The pure-Python functions stay the
reference: the C versions give identical output byte for byte and identical errors (they hand
any input they do not accept back to the Python function). ``AEROBACKUP_PURE_PYTHON=1`` in the
environment selects pure Python even when the extension is installed; it is read once, when
``aerobackup`` modules are first imported.

Modules that have a native twin do, at their end::

    native = speedups.native_function("parse_records")
    if native is not None:
        parse_records = native
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["ENV_VAR", "IMPLEMENTATION", "REASON", "describe", "load_extension", "native_function", "native_module"]

#: Set to 1 to use the pure-Python implementation even when the extension is installed.
ENV_VAR = "AEROBACKUP_PURE_PYTHON"


def load_extension(name: str) -> tuple[ModuleType | None, str]:
    """Import the optional extension ``aerobackup.<name>`` unless pure Python is selected: the
    module (or None) and why. Also used by the emulator for its own extension."""
    if os.environ.get(ENV_VAR, "") not in ("", "0"):
        return None, f"{ENV_VAR}={os.environ[ENV_VAR]}"
    try:
        mod = importlib.import_module(f"{__package__}.{name}")
    except ImportError as exc:
        return None, f"extension not available: {exc}"
    return mod, f"C extension aerobackup.{name}"


_MODULE, REASON = load_extension("_speedups")
#: "native" when the C extension is in use, else "python".
IMPLEMENTATION = "native" if _MODULE is not None else "python"


def native_module() -> ModuleType | None:
    """The loaded extension module, or None when pure Python is in use."""
    return _MODULE


def native_function(name: str) -> Callable[..., Any] | None:
    """The C twin of a reference function, or None (pure Python selected or not built)."""
    if _MODULE is None:
        return None
    fn: Callable[..., Any] | None = getattr(_MODULE, name, None)
    return fn


def describe() -> str:
    """One line for ``aerobackup plugins`` / ``--version``: which implementation and why."""
    return f"speedups: {IMPLEMENTATION} ({REASON})"
