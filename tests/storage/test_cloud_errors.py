"""Cloud storages against real emulators: clear errors (missing bucket, wrong credentials, an
emulator that is down, a missing extra), limits, and options checked with the providers' SDKs."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aerobackup.errors import BackupNotFoundError, ConfigError, PluginError, StorageError, TransientStorageError
from aerobackup.protocols import StorageURL
from aerobackup.runtime import Runtime
from aerobackup.storage import check_file_limit, list_backup_files
from aerobackup.testing.storage_contract import pattern_bytes
from aerobackup.testing.storage_emulators import Emulator, start_moto
from aerobackup.testing.storage_fixtures import StorageLocation, make_location

MiB = 1 << 20
CLOUD = ("s3", "gcs", "azure")


@pytest.fixture(params=CLOUD)
def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> StorageLocation:
    return make_location(str(request.param), request, tmp_path)


def _elsewhere(loc: StorageLocation, container: str) -> StorageLocation:
    scheme, rest = loc.url.split("://", 1)
    return StorageLocation(loc.backend, f"{scheme}://{container}/{rest.split('/', 1)[1]}", loc.options, loc.endpoint)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_bucket(cloud: StorageLocation) -> None:
    word = "container" if cloud.backend == "azure" else "bucket"
    storage = _elsewhere(cloud, "no-such-bucket-x1").open()
    with pytest.raises(BackupNotFoundError, match=rf"{word} 'no-such-bucket-x1' does not exist"):
        list(storage.list())
    with pytest.raises(BackupNotFoundError, match=rf"{word} 'no-such-bucket-x1' does not exist"):
        list_backup_files(storage)
    with pytest.raises(
        StorageError, match=r"no-such-bucket-x1/backup/a.asb: cannot (upload|start the upload|complete the upload)"
    ):
        with storage.open_write("a.asb") as f:
            f.write(b"x")


def test_emulator_down(cloud: StorageLocation) -> None:
    port = _free_port()
    options = dict(cloud.options)
    endpoint = options["endpoint"].replace(cloud.endpoint or "", f"http://127.0.0.1:{port}")
    options["endpoint"] = endpoint
    storage = Runtime.discover().storage(cloud.url, options)
    started = time.monotonic()
    with pytest.raises(TransientStorageError) as err:
        list(storage.list())
    assert f"cannot list: cannot reach http://127.0.0.1:{port}" in str(err.value)
    assert str(err.value).startswith(cloud.url)
    assert "\n" not in str(err.value)
    assert time.monotonic() - started < 30


@pytest.fixture
def s3_with_auth() -> Iterator[Emulator]:
    with start_moto(auth=True) as emulator:
        yield emulator


def test_s3_wrong_credentials(s3_with_auth: Emulator) -> None:
    storage = Runtime.discover().storage(
        "s3://bucket/x",
        {
            "endpoint": s3_with_auth.endpoint,
            "access-key-id": "AKIAWRONGWRONGWRONG1",
            "secret-access-key": "nope",
            "region": "us-east-1",
            "retries": "1",
        },
    )
    with pytest.raises(StorageError, match=rf"^s3://bucket/x: cannot list: access denied by {s3_with_auth.endpoint}"):
        list(storage.list())
    with pytest.raises(StorageError, match=r"^s3://bucket/x/a.asb: cannot upload: access denied"):
        with storage.open_write("a.asb") as f:
            f.write(b"x")


def test_azure_wrong_credentials(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    loc = make_location("azure", request, tmp_path)
    options = {**loc.options, "account-key": "d3Jvbmcga2V5IGZvciBhenVyaXRl" * 3}
    storage = Runtime.discover().storage(loc.url, options)
    with pytest.raises(StorageError, match=rf"^{loc.url}: cannot list: access denied by {loc.options['endpoint']}"):
        list(storage.list())


def test_gcs_unreadable_key_file(tmp_path: Path) -> None:
    # The GCS emulator accepts any request (no auth to get wrong); what a user can get wrong
    # locally is the key file, and that must be one clear line.
    with pytest.raises(StorageError, match=r"^gs://b/x: cannot connect: "):
        Runtime.discover().storage("gs://b/x", {"key-path": str(tmp_path / "missing.json")})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StorageError, match=r"^gs://b/x: cannot connect: "):
        Runtime.discover().storage("gs://b/x", {"key-path": str(bad)})


@pytest.mark.parametrize(
    ("scheme", "module", "extra"), [("s3", "s3fs", "s3"), ("gs", "gcsfs", "gcs"), ("az", "adlfs", "azure")]
)
def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, scheme: str, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import raises ImportError
    name = {"gs": "gcs", "az": "azure"}.get(scheme, scheme)
    with pytest.raises(PluginError) as err:
        Runtime.discover().storage(f"{scheme}://bucket/x")
    assert str(err.value) == (
        f"storage '{name}' needs the module '{module}': install the extra: pip install 'aerobackup[{extra}]'"
    )


def test_s3_too_many_parts_fails_before_and_during(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    loc = make_location("s3", request, tmp_path)
    storage = loc.open()
    info = storage.info()
    assert (info.part_size, info.max_parts) == (5 * MiB, 10_000)
    check_file_limit(storage, 50_000 * MiB)
    with pytest.raises(ConfigError, match=r"needs 10001 parts of 5 MiB on s3://.*at least 6 MiB"):
        check_file_limit(storage, 50_001 * MiB, location=loc.url)
    # Without a part size, a file-limit hint sizes parts like the C tool: ceil(limit / 10000).
    hinted = Runtime.discover().storage(loc.url, {**loc.options, "part-size": "", "file-limit": str(100_000 * MiB)})
    assert hinted.info().part_size == 10 * MiB
    check_file_limit(hinted, 100_000 * MiB)


def test_writer_refuses_part_beyond_limit_and_aborts(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import boto3

    loc = make_location("s3", request, tmp_path)
    storage = loc.open()
    from aerobackup.plugins.storage.fsspec_base import MultipartWriter
    from aerobackup.plugins.storage.s3 import S3Uploader

    bucket = loc.url.split("/")[2]
    writer = MultipartWriter(
        S3Uploader(storage.fs, f"{bucket}/backup/big.asb", None),  # type: ignore[attr-defined]
        part_size=5 * MiB,
        concurrency=2,
        max_parts=2,
        errors=storage.errors,
        name="big.asb",  # type: ignore[attr-defined]
    )
    data = pattern_bytes(11 * MiB)
    with pytest.raises(
        StorageError, match=r"big.asb: the file outgrew 2 parts of 5 MiB \(10 MiB\): set a larger part size"
    ):
        try:
            writer.write(memoryview(data))
            writer.finish()
        except BaseException:
            writer.abort()
            raise
    client = boto3.client(
        "s3",
        endpoint_url=loc.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_s3_failed_write_aborts_multipart_upload(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import boto3

    loc = make_location("s3", request, tmp_path)
    storage = loc.open()
    bucket = loc.url.split("/")[2]
    with pytest.raises(RuntimeError), storage.open_write("x.asb") as f:
        f.write(pattern_bytes(11 * MiB))
        raise RuntimeError("crash after two parts")
    client = boto3.client(
        "s3",
        endpoint_url=loc.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3_storage_class_reaches_the_server(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import boto3

    loc = make_location("s3", request, tmp_path)
    storage = Runtime.discover().storage(loc.url, {**loc.options, "storage_class": "standard_ia"})
    with storage.open_write("small.asb") as f:
        f.write(b"small")
    with storage.open_write("big.asb") as f:
        f.write(pattern_bytes(6 * MiB))
    client = boto3.client(
        "s3",
        endpoint_url=loc.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = loc.url.split("/")[2]
    for key in ("backup/small.asb", "backup/big.asb"):
        assert client.head_object(Bucket=bucket, Key=key)["StorageClass"] == "STANDARD_IA"
    assert client.get_object(Bucket=bucket, Key="backup/big.asb")["Body"].read() == pattern_bytes(6 * MiB)


def test_azure_access_tier_reaches_the_server(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from azure.storage.blob import BlobServiceClient

    loc = make_location("azure", request, tmp_path)
    storage = Runtime.discover().storage(loc.url, {**loc.options, "access-tier": "cool"})
    with storage.open_write("big.asb") as f:
        f.write(pattern_bytes(6 * MiB))
    service = BlobServiceClient(
        loc.options["endpoint"],
        credential={"account_name": loc.options["account-name"], "account_key": loc.options["account-key"]},
    )
    blob = service.get_blob_client(loc.url.split("/")[2], "backup/big.asb")
    props = blob.get_blob_properties()
    assert props.blob_tier == "Cool" and props.size == 6 * MiB
    assert blob.download_blob().readall() == pattern_bytes(6 * MiB)


def test_single_object_location(cloud: StorageLocation) -> None:
    # -o s3://bucket/dir/file.asb: the location is the object; its name is "".
    single = cloud.child("one.asb")
    storage = single.open()
    with storage.open_write("") as f:
        f.write(b"Version 3.1\n")
    assert [(o.name, o.size) for o in storage.list()] == [("", 12)]
    with storage.open_read("") as r:
        assert r.read() == b"Version 3.1\n"
    assert [o.name for o in cloud.open().list()] == ["one.asb"]


@pytest.mark.parametrize(
    ("scheme", "options", "message"),
    [
        ("s3", {"bucket-name": "x"}, r"^bucket-name: unknown option for storage 's3' \(known: "),
        ("s3", {"part-size": "1MiB"}, r"^part-size: S3 part size must be 5 MiB to 5 GiB, got 1MiB"),
        ("s3", {"storage-class": "COLDEST"}, r"^storage-class: unknown S3 storage class 'COLDEST'"),
        ("s3", {"upload-concurrency": "0"}, r"^upload-concurrency: must be at least 1, got 0"),
        (
            "s3",
            {"secret-access-key": "secrets:aws:key", "access-key-id": "a"},
            r"^secret-access-key: a 'secrets:' reference",
        ),
        ("gs", {"part-size": "300KiB"}, r"^part-size: GCS chunk size must be a multiple of 256 KiB"),
        ("az", {"access-tier": "Frozen"}, r"^access-tier: unknown Azure access tier 'Frozen'"),
    ],
)
def test_option_errors(scheme: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Runtime.discover().storage(StorageURL.parse(f"{scheme}://bucket/x", options))
