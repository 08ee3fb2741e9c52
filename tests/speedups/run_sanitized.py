"""Run pytest with another build of the extension (AddressSanitizer, gcov) as aerobackup._speedups.

    gcc -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1 -shared -fPIC \\
        $(python3-config --includes) core/_speedups.c -o build/asan/_speedups.so
    LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so) \\
    ASAN_OPTIONS=detect_leaks=0,abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 PYTHONMALLOC=malloc \\
        python tests/speedups/run_sanitized.py build/asan/_speedups.so tests/speedups tests/codecs

The emulator's extension is swapped the same way with ``--emulator PATH`` before the pytest
arguments (build it from core/testing/_emulator_speedups.c with the same flags).

``PYTHONMALLOC=malloc`` makes every Python object its own heap block, so that ASan sees reads
past a bytes object. The build is loaded before anything imports ``aerobackup.speedups``, so the
hooks in the wire and codec modules bind to it too.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def _load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    path, *pytest_args = sys.argv[1:]
    emulator = None
    if pytest_args[:1] == ["--emulator"]:
        emulator, pytest_args = pytest_args[1], pytest_args[2:]
    mod = _load("aerobackup._speedups", path)
    import aerobackup

    sys.modules["aerobackup._speedups"] = mod
    aerobackup._speedups = mod  # type: ignore[attr-defined]
    import aerobackup.speedups

    if emulator is not None:
        import aerobackup.testing

        emu = _load("aerobackup.testing._emulator_speedups", emulator)
        sys.modules["aerobackup.testing._emulator_speedups"] = emu
        from aerobackup.testing import _streams

        _streams._NATIVE = emu
        print(f"aerobackup.testing._emulator_speedups from {emulator}", file=sys.stderr)

    assert aerobackup.speedups.native_module() is mod, "the build under test is not the one in use"
    print(f"aerobackup._speedups from {path}", file=sys.stderr)
    import pytest

    return int(pytest.main(["-p", "no:cacheprovider", *pytest_args]))


if __name__ == "__main__":
    sys.exit(main())
