"""Package layout: core/ installs as `aerobackup`, plugins/ as `aerobackup.plugins`.

Kept in setup.py (metadata lives in pyproject.toml) because the package list is computed from
both trees, and a later native extension (aerobackup._speedups) is declared here.
"""

from setuptools import find_packages, setup

packages = ["aerobackup", "aerobackup.plugins"]
packages += [f"aerobackup.{p}" for p in find_packages("core")]
packages += [f"aerobackup.plugins.{p}" for p in find_packages("plugins")]

setup(
    packages=packages,
    package_dir={"aerobackup": "core", "aerobackup.plugins": "plugins"},
    package_data={"aerobackup": ["py.typed"]},
)
