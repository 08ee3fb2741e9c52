"""Storage ``s3``: Amazon S3 and S3-compatible stores (MinIO, moto, …), on s3fs.

URL ``s3://bucket/prefix`` (directory mode) or ``s3://bucket/path/file.asb`` (single file, name
``""``). Options (strings, from flags or config; ``_`` and ``-`` are the same):

=====================  ==========================================================================
``region``             AWS region (C/Go ``--s3-region``)
``profile``            shared-config profile (``--s3-profile``)
``endpoint``           endpoint override, e.g. ``http://127.0.0.1:9000`` (``--s3-endpoint-override``,
                       also accepted as ``endpoint-override``); a bare ``host:port`` means HTTP;
                       path-style addressing is used with an override, as the reference does
``access-key-id``      static credentials, used only when both are set (``secret-access-key``);
``secret-access-key``  ``secrets:`` references must be resolved before the storage is opened
``session-token``      optional, with static credentials
``part-size``          multipart part size, 5 MiB … 5 GiB (``--s3-min-part-size``, ``--s3-chunk-size``,
                       also ``chunk-size``, ``min-part-size``); default: 5 MiB, or like the C tool
                       ``ceil(file-limit / 10000)`` when the pipeline passes ``file-limit``
``upload-concurrency`` parts of one file uploaded at once (``--s3-max-async-uploads``,
                       ``--s3-upload-concurrency``; also ``max-async-uploads``); default 4
``storage-class``      STANDARD, STANDARD_IA, GLACIER_IR, … (``--s3-storage-class``)
``retries``            attempts per request inside the SDK (``--s3-retry-max-attempts``;
                       also ``retry-max-attempts``); default 3
``connect-timeout``    seconds (default 10); ``request-timeout``: seconds (default 600)
=====================  ==========================================================================

Limits enforced: 10,000 parts per object (checked up front by
``aerobackup.storage.check_file_limit`` through ``StorageInfo``, and again by the writer), part
size 5 MiB … 5 GiB, 5 TiB per object.
"""

from __future__ import annotations

from typing import Any

from aerobackup import hookimpl
from aerobackup.errors import ConfigError
from aerobackup.hookspecs import RegisterStorage
from aerobackup.protocols import StorageInfo, StorageURL
from aerobackup.storage import parse_size

from ._common import check_options, option_int
from .fsspec_base import FsspecStorage, MultipartWriter, StorageErrors

__all__ = ["MAX_PARTS", "MIN_PART", "S3Uploader", "STORAGE_CLASSES", "open_s3", "register_storages"]

MiB = 1 << 20
MIN_PART = 5 * MiB
MAX_PART = 5 << 30
MAX_PARTS = 10_000
MAX_OBJECT = 5 << 40
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
)
_ALIASES = {
    "endpoint-override": "endpoint",
    "chunk-size": "part-size",
    "min-part-size": "part-size",
    "max-async-uploads": "upload-concurrency",
    "retry-max-attempts": "retries",
}
_KNOWN = {
    "region",
    "profile",
    "endpoint",
    "access-key-id",
    "secret-access-key",
    "session-token",
    "part-size",
    "upload-concurrency",
    "storage-class",
    "retries",
    "connect-timeout",
    "request-timeout",
    *_ALIASES,
}


class S3Uploader:
    """One object's multipart upload through s3fs's client (thread-safe: calls run on s3fs's loop)."""

    def __init__(self, fs: Any, path: str, storage_class: str | None) -> None:
        self.fs = fs
        self.bucket, self.key = path.split("/", 1)
        self.extra = {"StorageClass": storage_class} if storage_class else {}
        self.upload_id: str | None = None

    def put_whole(self, data: bytearray) -> None:
        self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=data, **self.extra)

    def begin(self) -> None:
        out = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key, **self.extra)
        self.upload_id = out["UploadId"]

    def upload(self, number: int, data: bytes) -> object:
        out = self.fs.call_s3(
            "upload_part", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": out["ETag"]}

    def complete(self, parts: list[object]) -> None:
        self.fs.call_s3(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )

    def abort(self) -> None:
        if self.upload_id:
            self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None


def _options(url: StorageURL) -> dict[str, str]:
    opts = check_options(url.options, _KNOWN, "s3")
    for alias, key in _ALIASES.items():
        if alias in opts:
            opts.setdefault(key, opts.pop(alias))
    for key in ("access-key-id", "secret-access-key", "session-token"):
        if opts.get(key, "").startswith("secrets:"):
            raise ConfigError(key, "a 'secrets:' reference must be resolved (Secret Agent) before opening the storage")
    return opts


def _part_size(opts: dict[str, str]) -> int:
    raw = opts.get("part-size")
    if raw:
        size = parse_size(raw, option="part-size")
        if not MIN_PART <= size <= MAX_PART:
            raise ConfigError("part-size", f"S3 part size must be 5 MiB to 5 GiB, got {raw}")
        return size
    limit = parse_size(opts["file-limit"], option="file-limit") if opts.get("file-limit") else 0
    return int(max(MIN_PART, -(-int(limit) // MAX_PARTS)))  # the C tool's rule when unset


def open_s3(url: StorageURL) -> FsspecStorage:
    import s3fs  # here, not at the top: the `s3` extra may be absent

    opts = _options(url)
    bucket = url.path.split("/", 1)[0]
    if not bucket:
        raise ConfigError("url", f"s3://{url.path}: a bucket is needed after s3://")
    part_size = _part_size(opts)
    concurrency = option_int(opts, "upload-concurrency", 4, minimum=1)
    retries = option_int(opts, "retries", 3, minimum=1)
    storage_class = opts.get("storage-class") or None
    if storage_class and storage_class.upper() not in STORAGE_CLASSES:
        raise ConfigError(
            "storage-class", f"unknown S3 storage class {storage_class!r} (one of {', '.join(STORAGE_CLASSES)})"
        )
    endpoint = opts.get("endpoint") or None
    if endpoint and "://" not in endpoint:
        endpoint = f"http://{endpoint}"  # as the C tool: a bare host:port is HTTP
    client_kwargs: dict[str, Any] = {}
    if opts.get("region"):
        client_kwargs["region_name"] = opts["region"]
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    config_kwargs: dict[str, Any] = {
        "retries": {"total_max_attempts": retries, "mode": "standard"},
        "connect_timeout": option_int(opts, "connect-timeout", 10, minimum=1),
        "read_timeout": option_int(opts, "request-timeout", 600, minimum=1),
        "max_pool_connections": max(10, concurrency * 2),
    }
    if endpoint:
        config_kwargs["s3"] = {"addressing_style": "path"}
    kwargs: dict[str, Any] = {}
    if opts.get("access-key-id") and opts.get("secret-access-key"):
        kwargs.update(key=opts["access-key-id"], secret=opts["secret-access-key"])
        if opts.get("session-token"):
            kwargs["token"] = opts["session-token"]
    if opts.get("profile"):
        kwargs["profile"] = opts["profile"]
    fs = s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        config_kwargs=config_kwargs,
        skip_instance_cache=True,
        default_block_size=part_size,
        **kwargs,
    )
    fs.retries = 1  # s3fs's own loop off: botocore retries (above); RetryingStorage decides the rest
    location = f"s3://{url.path.strip('/')}"
    errors = StorageErrors(location, endpoint or f"AWS S3 ({opts.get('region') or 'default region'})")

    def make_writer(path: str, name: str) -> MultipartWriter:
        return MultipartWriter(
            S3Uploader(fs, path, storage_class.upper() if storage_class else None),
            part_size=part_size,
            concurrency=concurrency,
            max_parts=MAX_PARTS,
            errors=errors,
            name=name,
        )

    info = StorageInfo(
        max_connections=max(16, concurrency * 4),
        atomic_replace=True,
        part_size=part_size,
        max_parts=MAX_PARTS,
        max_object_size=MAX_OBJECT,
    )
    return FsspecStorage(
        fs, url.path, info=info, errors=errors, make_writer=make_writer, read_block_size=max(part_size, 8 * MiB)
    )


@hookimpl
def register_storages(register: RegisterStorage) -> None:
    register("s3", open_s3, schemes=("s3", "s3a"), extra="s3")
