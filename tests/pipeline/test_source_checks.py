"""A backup of something that does not exist fails at once with one clear line, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from aerobackup import BackupConfig, Client, ClusterError
from aerobackup.testing import Emulator

from tests.pipeline.conftest import many


def test_unknown_set_is_an_error(server: Emulator, client: Client, tmp_path: Path) -> None:
    many(server, 5, set_name="present")
    with pytest.raises(ClusterError, match=r"^set 'nosuchset' not found in namespace 'test' \(sets: present\)$"):
        client.backup(BackupConfig(namespace="test", set_list=("nosuchset",)), str(tmp_path / "b")).wait(30)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_unknown_namespace_is_an_error(server: Emulator, client: Client, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"^namespace 'nope' not found in the cluster \(namespaces: .*test"):
        client.backup(BackupConfig(namespace="nope"), str(tmp_path / "b")).wait(30)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
