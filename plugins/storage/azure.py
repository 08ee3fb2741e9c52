"""Storage ``azure``: Azure Blob Storage, on adlfs (and azure-storage-blob under it).

URL ``az://container/prefix`` (also ``abfs://``, ``azure://``). Options (strings; ``_`` and ``-`` are
the same):

=======================  ========================================================================
``account-name``         storage account (Go ``--azure-account-name``)
``account-key``          shared key (``--azure-account-key``); with the name: shared-key auth
``tenant-id``,           AAD client-secret auth when all three are set (``--azure-tenant-id`` …)
``client-id``,
``client-secret``
``connection-string``    a full connection string instead of the above
``sas-token``            a SAS token
``endpoint``             the blob service URL, e.g. ``http://127.0.0.1:10000/devstoreaccount1``
                         (``--azure-endpoint``); default ``https://<account>.blob.core.windows.net``
``part-size``            block size (``--azure-block-size``, also ``block-size``); default 5 MiB
``upload-concurrency``   blocks of one file staged at once (``--azure-upload-concurrency``); default 4
``access-tier``          Hot, Cool, Cold or Archive for new blobs (``--azure-access-tier``)
``retries``              attempts per request (``--azure-retry-max-attempts``); default 3
=======================  ========================================================================

Uploads stage blocks (concurrently, bounded memory) and commit the block list on clean exit;
on an error the list is never committed, so nothing appears under the name (Azure drops the
uncommitted blocks itself). Limits: 50,000 blocks per blob, blocks up to 4,000 MiB.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import urlsplit

from aerobackup import hookimpl
from aerobackup.errors import ConfigError
from aerobackup.hookspecs import RegisterStorage
from aerobackup.protocols import StorageInfo, StorageURL
from aerobackup.storage import parse_size

from ._common import check_options, option_int
from .fsspec_base import FsspecStorage, MultipartWriter, StorageErrors

__all__ = ["ACCESS_TIERS", "AzureUploader", "open_azure", "register_storages"]

MiB = 1 << 20
MAX_BLOCKS = 50_000
MAX_BLOCK = 4000 * MiB
ACCESS_TIERS = ("Hot", "Cool", "Cold", "Archive")
_ALIASES = {"block-size": "part-size", "retry-max-attempts": "retries", "endpoint-override": "endpoint"}
_KNOWN = {
    "account-name",
    "account-key",
    "tenant-id",
    "client-id",
    "client-secret",
    "connection-string",
    "sas-token",
    "endpoint",
    "part-size",
    "upload-concurrency",
    "access-tier",
    "retries",
    *_ALIASES,
}


class AzureUploader:
    """One blob's staged blocks, through adlfs's async client on its event loop (thread-safe)."""

    def __init__(self, fs: Any, path: str, tier: str | None) -> None:
        from azure.storage.blob import StandardBlobTier

        self.fs = fs
        self.container, self.blob = path.split("/", 1)
        self.tier = StandardBlobTier(tier) if tier else None
        self.prefix = uuid.uuid4().hex  # block ids of this upload only; all ids of a blob have one length

    def _client(self) -> Any:
        return self.fs.service_client.get_blob_client(self.container, self.blob)

    def _run(self, coro_fn: Any) -> Any:
        from fsspec.asyn import sync

        return sync(self.fs.loop, coro_fn)

    def put_whole(self, data: bytearray) -> None:
        async def go() -> None:
            await self._client().upload_blob(bytes(data), overwrite=True, standard_blob_tier=self.tier)

        self._run(go)

    def begin(self) -> None:
        pass  # blocks need no session

    def upload(self, number: int, data: bytes) -> object:
        block_id = base64.b64encode(f"{self.prefix}-{number:06d}".encode()).decode()

        async def go() -> None:
            await self._client().stage_block(block_id, data, length=len(data))

        self._run(go)
        return block_id

    def complete(self, parts: list[object]) -> None:
        from azure.storage.blob import BlobBlock

        async def go() -> None:
            blocks = [BlobBlock(block_id=str(p)) for p in parts]
            await self._client().commit_block_list(blocks, standard_blob_tier=self.tier)

        self._run(go)

    def abort(self) -> None:
        pass  # never committed: invisible, and Azure garbage-collects uncommitted blocks


def _options(url: StorageURL) -> dict[str, str]:
    opts = check_options(url.options, _KNOWN, "azure")
    for alias, key in _ALIASES.items():
        if alias in opts:
            opts.setdefault(key, opts.pop(alias))
    for key in ("account-key", "client-secret", "connection-string", "sas-token"):
        if opts.get(key, "").startswith("secrets:"):
            raise ConfigError(key, "a 'secrets:' reference must be resolved (Secret Agent) before opening the storage")
    return opts


def open_azure(url: StorageURL) -> FsspecStorage:
    import adlfs  # here, not at the top: the `azure` extra may be absent

    opts = _options(url)
    container = url.path.split("/", 1)[0]
    if not container:
        raise ConfigError("url", f"az://{url.path}: a container is needed after az://")
    part_size = parse_size(opts["part-size"], option="part-size") if opts.get("part-size") else 5 * MiB
    if not 1 <= part_size <= MAX_BLOCK:
        raise ConfigError("part-size", f"Azure block size must be 1 byte to 4000 MiB, got {opts['part-size']}")
    concurrency = option_int(opts, "upload-concurrency", 4, minimum=1)
    retries = option_int(opts, "retries", 3, minimum=1)
    tier = opts.get("access-tier") or None
    if tier:
        matches = [t for t in ACCESS_TIERS if t.lower() == tier.lower()]
        if not matches:
            raise ConfigError("access-tier", f"unknown Azure access tier {tier!r} (one of {', '.join(ACCESS_TIERS)})")
        tier = matches[0]
    endpoint = (opts.get("endpoint") or "").rstrip("/") or None
    account = opts.get("account-name")
    kwargs: dict[str, Any] = {"skip_instance_cache": True, "blocksize": part_size, "max_concurrency": concurrency}
    parts = urlsplit(endpoint or f"https://{account}.blob.core.windows.net")
    blob_endpoint = endpoint or f"https://{account}.blob.core.windows.net"
    connection_string = opts.get("connection-string")
    if not connection_string and account and opts.get("account-key"):
        connection_string = (
            f"DefaultEndpointsProtocol={parts.scheme or 'https'};AccountName={account};"
            f"AccountKey={opts['account-key']};BlobEndpoint={blob_endpoint};"
        )
    elif not connection_string and opts.get("sas-token") and (endpoint or account):
        connection_string = f"BlobEndpoint={blob_endpoint};SharedAccessSignature={opts['sas-token'].lstrip('?')}"
    if connection_string:
        kwargs["connection_string"] = connection_string
    else:  # AAD client secret, or the SDK's defaults
        if account:
            kwargs["account_name"] = account
        for key, arg in (("tenant-id", "tenant_id"), ("client-id", "client_id"), ("client-secret", "client_secret")):
            if opts.get(key):
                kwargs[arg] = opts[key]
        if endpoint:
            kwargs["account_host"] = parts.netloc
    location = f"az://{url.path.strip('/')}"
    shown = endpoint or (f"https://{account}.blob.core.windows.net" if account else "Azure Blob Storage")
    errors = StorageErrors(location, shown, container_word="container")
    try:
        fs = adlfs.AzureBlobFileSystem(**kwargs)
        if connection_string:
            # adlfs passes no client options on; its client would retry a dead endpoint for
            # minutes (the SDK's 10 attempts with back-off). Ours: the attempts asked for.
            from azure.storage.blob.aio import BlobServiceClient

            fs.service_client = BlobServiceClient.from_connection_string(
                connection_string, retry_total=retries - 1, connection_timeout=10, retry_backoff_factor=0.5
            )
    except Exception as exc:
        raise errors.translate(exc, what="connect") from exc

    def make_writer(path: str, name: str) -> MultipartWriter:
        return MultipartWriter(
            AzureUploader(fs, path, tier),
            part_size=part_size,
            concurrency=concurrency,
            max_parts=MAX_BLOCKS,
            errors=errors,
            name=name,
        )

    info = StorageInfo(
        max_connections=max(16, concurrency * 4),
        atomic_replace=True,
        part_size=part_size,
        max_parts=MAX_BLOCKS,
        max_object_size=MAX_BLOCKS * MAX_BLOCK,
    )
    return FsspecStorage(fs, url.path, info=info, errors=errors, make_writer=make_writer, read_block_size=8 * MiB)


@hookimpl
def register_storages(register: RegisterStorage) -> None:
    register("azure", open_azure, schemes=("az", "abfs", "abfss", "azure"), extra="azure")
