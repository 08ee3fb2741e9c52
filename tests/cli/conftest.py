"""Helpers for the CLI tests: run the installed command, resolve flags without touching $HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aerobackup.cli.mapping import Resolved, resolve

BIN = Path(sys.executable).with_name("aerobackup")


def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``aerobackup`` as a subprocess (HOME isolated unless env says otherwise)."""
    full_env = {**os.environ, "HOME": str(cwd or Path.cwd()), "COLUMNS": "120", **(env or {})}
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "aerobackup"]
    return subprocess.run([*exe, *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=timeout, input=input if input is not None else "")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def res(home: Path) -> Any:
    """resolve() with an empty HOME, no system file and no terminal."""

    def call(command: str, prompt: Any = None, resolver: Any = None, **flags: Any) -> Resolved:
        return resolve(command, flags, prompt=prompt, resolver=resolver, environ={"HOME": str(home)},
                       system_path=None)

    return call
