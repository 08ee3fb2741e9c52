"""Storage ``gcs``: Google Cloud Storage, on gcsfs.

URL ``gs://bucket/prefix`` (also ``gcs://``). Options (strings; ``_`` and ``-`` are the same):

=====================  ==========================================================================
``key-path``           service-account JSON file (Go ``--gcp-key-path``); otherwise the SDK's
                       default credentials
``endpoint``           endpoint override (``--gcp-endpoint-override``, also ``endpoint-override``);
                       as in the reference, an override switches authentication off
``project``            project for bucket-level calls (optional)
``part-size``          resumable-upload chunk, a multiple of 256 KiB (``--gcp-chunk-size``, also
                       ``chunk-size``); default 5 MiB
``retries``            attempts per request (``--gcp-retry-max-attempts``, also
                       ``retry-max-attempts``); default 3
=====================  ==========================================================================

Uploads are GCS resumable uploads: chunks go up in order (the protocol allows no parallel
chunks, so there is no upload-concurrency option), the object appears when the final chunk is
sent on clean exit, and an error cancels the upload session (nothing appears). GCS has no part
count limit; objects are at most 5 TiB.
"""

from __future__ import annotations

import functools
from typing import Any

from aerobackup import hookimpl
from aerobackup.errors import ConfigError
from aerobackup.hookspecs import RegisterStorage
from aerobackup.protocols import StorageInfo, StorageURL
from aerobackup.storage import parse_size

from ._common import check_options, option_int
from .fsspec_base import FsspecFileWriter, FsspecStorage, StorageErrors

__all__ = ["open_gcs", "register_storages"]

MiB = 1 << 20
CHUNK_UNIT = 256 * 1024
MAX_OBJECT = 5 << 40
_ALIASES = {"endpoint-override": "endpoint", "chunk-size": "part-size", "retry-max-attempts": "retries"}
_KNOWN = {"key-path", "endpoint", "project", "part-size", "retries", *_ALIASES}


@functools.lru_cache(maxsize=8)
def _filesystem_class(retries: int) -> Any:
    """gcsfs fixes its request retries (6, with back-off up to 32 s) when its class is defined;
    a subclass re-wraps the request method with the attempts the user asked for."""
    from gcsfs.core import GCSFileSystem
    from gcsfs.retry import retry_request

    # The core class, not gcsfs's default export: that one probes buckets over gRPC for
    # experimental zonal/HNS features, which emulators (and plain buckets) do not need.
    base = GCSFileSystem
    raw = getattr(base._request, "__wrapped__", None)
    if raw is None:  # a gcsfs without the decorator's handle: keep its own retries
        return base
    return type(f"GCSFileSystem{retries}", (base,), {"_request": retry_request(retries=retries)(raw)})


def open_gcs(url: StorageURL) -> FsspecStorage:
    import gcsfs  # here, not at the top: the `gcs` extra may be absent

    opts = check_options(url.options, _KNOWN, "gcs")
    for alias, key in _ALIASES.items():
        if alias in opts:
            opts.setdefault(key, opts.pop(alias))
    bucket = url.path.split("/", 1)[0]
    if not bucket:
        raise ConfigError("url", f"gs://{url.path}: a bucket is needed after gs://")
    part_size = parse_size(opts["part-size"], option="part-size") if opts.get("part-size") else 5 * MiB
    if part_size < CHUNK_UNIT or part_size % CHUNK_UNIT:
        raise ConfigError("part-size", f"GCS chunk size must be a multiple of 256 KiB, got {opts['part-size']}")
    retries = option_int(opts, "retries", 3, minimum=1)
    endpoint = opts.get("endpoint") or None
    if endpoint and "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    kwargs: dict[str, Any] = {"skip_instance_cache": True, "block_size": part_size}
    if endpoint:
        kwargs.update(endpoint_url=endpoint, token="anon")
    elif opts.get("key-path"):
        kwargs["token"] = opts["key-path"]
    if opts.get("project"):
        kwargs["project"] = opts["project"]
    location = f"gs://{url.path.strip('/')}"
    errors = StorageErrors(location, endpoint or "Google Cloud Storage")
    try:
        fs = _filesystem_class(retries)(**kwargs)
    except Exception as exc:  # e.g. an unreadable or invalid key file
        raise errors.translate(exc, what="connect") from exc
    del gcsfs

    def make_writer(path: str, name: str) -> FsspecFileWriter:
        return FsspecFileWriter(lambda: fs.open(path, "wb", block_size=part_size), errors, name, part_size)

    info = StorageInfo(max_connections=16, atomic_replace=True, part_size=part_size, max_object_size=MAX_OBJECT)
    return FsspecStorage(fs, url.path, info=info, errors=errors, make_writer=make_writer, read_block_size=8 * MiB)


@hookimpl
def register_storages(register: RegisterStorage) -> None:
    register("gcs", open_gcs, schemes=("gs", "gcs"), extra="gcs")
