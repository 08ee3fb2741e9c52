"""The differential tests skip when the C extension is missing; this test makes sure that never
happens silently on a machine that can build it."""

from __future__ import annotations

import os
import shutil
import sysconfig

import pytest


def test_extension_is_built_where_a_compiler_exists() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if os.environ.get("AEROBACKUP_NO_EXTENSIONS") or shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) or AEROBACKUP_NO_EXTENSIONS set: pure Python is expected")
    import aerobackup._speedups  # noqa: F401  (fails the test when the build silently fell back)
