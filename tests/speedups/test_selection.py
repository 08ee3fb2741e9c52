"""AEROBACKUP_PURE_PYTHON selects the reference everywhere; the CLI names the active one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")

PROBE = (
    "import aerobackup.speedups as s\n"
    "from aerobackup.wire import parse, messages\n"
    "from aerobackup.plugins.codecs import asb_encode, asb_decode\n"
    "fns = [parse.parse_records, messages.batch_write_request, asb_encode.encode_batch,"
    " asb_decode.parse_records_fast]\n"
    "print(s.IMPLEMENTATION, sorted({type(f).__name__ for f in fns}), asb_decode._Columns.finish.__name__)\n"
)


def _run(args: list[str], pure: str | None) -> str:
    env = dict(os.environ)
    env.pop("AEROBACKUP_PURE_PYTHON", None)
    if pure is not None:
        env["AEROBACKUP_PURE_PYTHON"] = pure
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize(("pure", "expected"), [
    (None, "native ['builtin_function_or_method'] <lambda>"),
    ("0", "native ['builtin_function_or_method'] <lambda>"),
    ("1", "python ['function'] finish"),
    ("yes", "python ['function'] finish"),
])
def test_environment_variable(pure: str | None, expected: str) -> None:
    assert _run(["-c", PROBE], pure).strip() == expected


def test_plugins_command_names_the_implementation() -> None:
    assert _run(["-m", "aerobackup", "plugins"], None).splitlines()[-1] == (
        "speedups: native (C extension aerobackup._speedups)")
    assert _run(["-m", "aerobackup", "plugins"], "1").splitlines()[-1] == "speedups: python (AEROBACKUP_PURE_PYTHON=1)"
