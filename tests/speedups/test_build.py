"""The package's own build: the extension is built when a compiler is there, and its absence
is a warning, never a failed install. Normal and editable installs into a scratch virtualenv,
the way users install (pip with build isolation: the build requirements of pyproject.toml come
from the package index, so these tests need it); the runtime dependencies are not installed
(``--no-deps``) but taken from this interpreter's site-packages on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ..paths import REPO

pytestmark = pytest.mark.slow


def _source(tmp_path: Path) -> Path:
    """The committed tree plus the working copies of the files the build reads."""
    src = tmp_path / "src"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    for name in ("setup.py", "core/_speedups.c", "core/speedups.py", "core/testing/_emulator_speedups.c",
                 "core/testing/_streams.py"):
        (src / name).write_bytes((REPO / name).read_bytes())
    return src


def _venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def _pip(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    py = venv / "bin" / "python"
    cmd = [str(py), "-m", "pip", "install", "--no-deps", *args]
    full = dict(os.environ, **(env or {}))
    full.pop("PYTHONPATH", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=600, check=False)


def _which(venv: Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    site = next((venv / "lib").glob("python*/site-packages"))
    full = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{sysconfig.get_paths()['purelib']}", **(env or {}))
    full.pop("AEROBACKUP_PURE_PYTHON", None)
    code = "import aerobackup.speedups as s, aerobackup; print(s.describe()); print(aerobackup.__file__)"
    out = subprocess.run([str(venv / "bin" / "python"), "-S", "-c", f"import site; site.addsitedir({str(site)!r}); "
                          + code], capture_output=True, text=True, env=full, cwd=cwd, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_normal_install_builds_the_extension(tmp_path: Path) -> None:
    src, venv = _source(tmp_path), _venv(tmp_path)
    r = _pip(venv, str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    site = next((venv / "lib").glob("python*/site-packages"))
    assert list(site.glob("aerobackup/_speedups*.so"))
    assert list(site.glob("aerobackup/testing/_emulator_speedups*.so"))
    out = _which(venv, tmp_path)
    assert "speedups: native" in out and str(venv) in out


def test_install_without_a_compiler_falls_back_with_a_warning(tmp_path: Path) -> None:
    src, venv = _source(tmp_path), _venv(tmp_path)
    r = _pip(venv, "-v", str(src), env={"CC": str(tmp_path / "no-such-compiler")})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the optional C extension aerobackup._speedups could not be built" in r.stdout + r.stderr
    assert "the optional C extension aerobackup.testing._emulator_speedups could not be built" in r.stdout + r.stderr
    assert not list(next((venv / "lib").glob("python*/site-packages")).glob("aerobackup/**/_*speedups*.so"))
    assert "speedups: python (extension not available" in _which(venv, tmp_path)


def test_editable_install_builds_in_place(tmp_path: Path) -> None:
    src, venv = _source(tmp_path), _venv(tmp_path)
    r = _pip(venv, "-e", str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    assert list((src / "core").glob("_speedups*.so"))
    assert list((src / "core" / "testing").glob("_emulator_speedups*.so"))
    out = _which(venv, tmp_path)
    assert "speedups: native" in out and str(src / "core") in out
