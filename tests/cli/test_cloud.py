"""The command with cloud storage flags, against a real local S3 server (moto), never a mock."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aerobackup.testing.storage_fixtures import s3_emulator  # noqa: F401 - fixture

from tests.cli.conftest import run_cli
from tests.cli.test_commands import load, read_back


@pytest.fixture
def bucket(s3_emulator: Any) -> str:  # noqa: F811
    boto3 = pytest.importorskip("boto3")
    name = f"cli{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_emulator.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=name)
    return name


def test_s3_with_c_and_go_flags(aerospike_client: Any, aerospike_server: Any, s3_emulator: Any,  # noqa: F811
                                bucket: str, tmp_path: Path) -> None:
    import boto3

    want = load(aerospike_client, 200)
    host = ["-h", "127.0.0.1", "-p", str(aerospike_server.port)]
    s3 = ["--s3-endpoint-override", s3_emulator.endpoint, "--s3-region", "us-east-1", "--s3-access-key-id",
          "testing", "--s3-secret-access-key", "testing"]
    r = run_cli("backup", *host, "-n", "test", "-d", f"s3://{bucket}/nightly", "-z", "zstd", *s3, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    objects = boto3.client("s3", endpoint_url=s3_emulator.endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing").list_objects_v2(
        Bucket=bucket)["Contents"]
    assert [o["Key"] for o in objects] == ["nightly/test_00000.asb"]
    # the Go CLI's way: a bucket flag and a path in it
    r = run_cli("restore", *host, "-n", "test,bar", "--s3-bucket-name", bucket, "-d", "nightly", "-z", "zstd", *s3,
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "records   200 read, 200 restored" in r.stdout
    read_back(aerospike_client, want)
