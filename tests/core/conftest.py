"""Fixtures for the plugin-loader tests: real distributions on sys.path, no global state."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.paths import REPO

MakeDist = Callable[..., Path]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeDist:
    """Write a module plus an installed-distribution record (dist-info) and put them on sys.path.

    importlib.metadata then reports the entry points exactly as for a pip-installed package.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(dist: str, module: str, source: str, entry_points: dict[str, str], version: str = "1.0") -> Path:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[aerobackup]\n{lines}\n")
        importlib.invalidate_caches()
        sys.modules.pop(module, None)
        return site

    return make


@pytest.fixture(scope="session")
def mem2_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party package tests/thirdparty/aerobackup-mem2, pip-installed into a folder."""
    target = tmp_path_factory.mktemp("mem2-site")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        str(target),
        str(REPO / "tests" / "thirdparty" / "aerobackup-mem2"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target
