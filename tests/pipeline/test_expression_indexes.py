"""Expression indexes survive a backup and a restore (asb-format §5.3): they go to a metadata
file of their own, so the data files stay readable by C asrestore."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgpack
from aerobackup import BackupConfig, Client, RestoreConfig
from aerobackup.testing import Emulator

from tests.pipeline.conftest import many

# what the client packs for exp.int_bin("a") + 1 (any packed expression works for the round trip)
EXPRESSION = base64.b64encode(msgpack.packb([20, [81, 2, "a"], 1])).decode()


def _sindex_list(ac: Any) -> str:
    return str(ac.info_random_node("sindex-list:ns=test;b64=true"))


def test_expression_index_round_trip(server: Emulator, client: Client, ac: Any, tmp_path: Path) -> None:
    many(server, 20, set_name="s")
    answer = ac.info_random_node(
        f"sindex-create:ns=test;set=s;indexname=idx_exp;indextype=default;type=numeric;exp={EXPRESSION}")
    assert answer.strip().endswith("ok"), answer
    ac.info_random_node("sindex-create:ns=test;set=s;indexname=idx_b0;indextype=default;indexdata=b0,numeric")

    client.backup(BackupConfig(namespace="test"), str(tmp_path / "bk")).wait(timeout=60)

    meta = (tmp_path / "bk" / "metadata_test_1.asb").read_bytes()
    assert meta.startswith(b"Version 3.2\n# namespace test\n")
    assert b"* e test s idx_exp N 1 " in meta and meta.rstrip().endswith(EXPRESSION.encode())
    data = (tmp_path / "bk" / "test_00000.asb").read_bytes()
    assert data.startswith(b"Version 3.1\n") and b"* e " not in data and b"idx_exp" not in data
    assert b"* i test s idx_b0 N 1 b0 N" in data

    for name in ("idx_exp", "idx_b0"):
        assert ac.info_random_node(f"sindex-delete:ns=test;indexname={name}").strip().endswith("ok")
    assert "idx_exp" not in _sindex_list(ac)
    stats = client.restore(RestoreConfig(), str(tmp_path / "bk")).wait(timeout=60)
    assert stats.records_read == 20
    listed = _sindex_list(ac)
    exp_entry = next(e for e in listed.split(";") if "indexname=idx_exp" in e)
    assert f"exp={EXPRESSION}" in exp_entry and "set=s" in exp_entry
    assert "indexname=idx_b0" in listed
