"""Package layout: core/ installs as `aerobackup`, plugins/ as `aerobackup.plugins`.

Kept in setup.py (metadata lives in pyproject.toml) because the package list is computed from
both trees, and the optional native extension aerobackup._speedups is declared here.

The extension is optional, in the style of msgpack and PyYAML: when it cannot be built (no
compiler, no Python headers) the build warns and installs the pure-Python package, which is
complete on its own. ``AEROBACKUP_NO_EXTENSIONS=1`` skips the build on purpose.
"""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

packages = ["aerobackup", "aerobackup.plugins"]
packages += [f"aerobackup.{p}" for p in find_packages("core")]
packages += [f"aerobackup.plugins.{p}" for p in find_packages("plugins")]


class OptionalBuildExt(build_ext):
    """build_ext that turns any failure into a warning: the pure-Python path is complete."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - compiler missing, headers missing, ...
            self._warn(exc, "aerobackup._speedups / aerobackup.testing._emulator_speedups")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._warn(exc, ext.name)

    @staticmethod
    def _warn(exc: BaseException, name: str = "aerobackup._speedups") -> None:
        print(
            f"WARNING: the optional C extension {name} could not be built ({exc}); "
            "installing the pure-Python implementation (same results, slower).",
            file=sys.stderr,
        )


ext_modules = []
if os.environ.get("AEROBACKUP_NO_EXTENSIONS") != "1" and sys.implementation.name == "cpython":
    flags = ["-O2"] if os.name != "nt" else []
    ext_modules.append(Extension("aerobackup._speedups", sources=["core/_speedups.c"], extra_compile_args=flags))
    # the emulator's batch-write row parser (aerobackup.testing): same optional build, same fallback
    ext_modules.append(
        Extension("aerobackup.testing._emulator_speedups", sources=["core/testing/_emulator_speedups.c"],
                  extra_compile_args=flags)
    )

setup(
    packages=packages,
    package_dir={"aerobackup": "core", "aerobackup.plugins": "plugins"},
    package_data={"aerobackup": ["py.typed"]},
    ext_modules=ext_modules,
    cmdclass={"build_ext": OptionalBuildExt},
)
