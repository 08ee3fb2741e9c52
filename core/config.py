"""Configuration dataclasses for backup and restore, with validation that names the field.

Every field of the reference's ConfigBackup, ConfigRestore, EncryptionPolicy, CompressionPolicy,
SecretAgentConfig, RestoreNamespaceConfig, PartitionFilter and RetryPolicy has a pythonic twin
here with the same meaning and default (see docs/configuration.md, checked by a test). Configs
are frozen and keyword-only; ``from_mapping`` loads one from a dict (a YAML/TOML section) and
rejects unknown keys. Validation happens in ``__post_init__``: a config that exists is valid.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin

from .errors import ConfigError
from .model import partition_id

__all__ = [
    "BackupConfig",
    "ClusterConfig",
    "CompressionPolicy",
    "EncryptionPolicy",
    "PartitionFilter",
    "RestoreConfig",
    "RestoreNamespaceConfig",
    "RetryPolicy",
    "SecretAgentConfig",
    "TlsConfig",
    "from_mapping",
]

PARTITIONS = 4096
T = TypeVar("T")


def _check(ok: bool, field_path: str, message: str) -> None:
    if not ok:
        raise ConfigError(field_path, message)


def _check_executor(executor: object, scheduler: str | None, prefix: str) -> None:
    """A name, or an executor object (any ``concurrent.futures.Executor``, a ``distributed.Client``)."""
    if isinstance(executor, str):
        _check(executor in ("threads", "processes", "dask", "ray"), f"{prefix}.executor",
               f"must be 'threads' or 'processes' (or 'dask', 'ray', an Executor object; got {executor!r})")
    if scheduler is not None:
        _check(executor in ("dask", "ray"), f"{prefix}.scheduler", "needs executor 'dask' or 'ray'")


def _non_negative(obj: object, prefix: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(value is None or value >= 0, f"{prefix}.{name}", f"must not be negative (got {value})")


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """TLS to the cluster (or to the Secret Agent)."""

    enable: bool = True  # use TLS to the cluster
    name: str | None = None  # TLS name of the seed nodes (--tls-name)
    ca_file: str | None = None  # CA certificate file (--tls-cafile)
    ca_path: str | None = None  # folder of CA certificates (--tls-capath)
    cert_file: str | None = None  # client certificate for mutual TLS (--tls-certfile)
    key_file: str | None = None  # client private key (--tls-keyfile)
    key_file_password: str | None = field(default=None, repr=False)  # password of key_file; never printed
    protocols: str | None = None  # allowed TLS protocols, e.g. 'TLSv1.2 TLSv1.3'


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterConfig:
    """How to reach the cluster: seeds, credentials, TLS, client timeouts."""

    hosts: tuple[str, ...] = ("127.0.0.1:3000",)  # "host[:tls-name][:port]"
    user: str | None = None  # login user (-U); Enterprise clusters only
    password: str | None = field(default=None, repr=False)  # login password (-P); never printed
    auth_mode: str = "INTERNAL"  # INTERNAL, EXTERNAL, EXTERNAL_INSECURE or PKI (-A)
    services_alternate: bool = False  # use the nodes' alternate addresses (-S)
    tls: TlsConfig | None = None  # TLS settings; None for plain TCP
    client_timeout_ms: int = 30000  # connect/tend timeout (Go CLI --client-timeout)
    login_timeout_ms: int = 10000  # login timeout
    idle_timeout_ms: int = 0  # close pooled connections idle this long; 0 never

    def __post_init__(self) -> None:
        _check(len(self.hosts) > 0, "cluster.hosts", "needs at least one seed host")
        for host in self.hosts:
            _check(bool(host.strip()), "cluster.hosts", f"empty host in {list(self.hosts)}")
        _check(self.auth_mode.upper() in ("INTERNAL", "EXTERNAL", "EXTERNAL_INSECURE", "PKI"),
               "cluster.auth_mode", f"must be INTERNAL, EXTERNAL, EXTERNAL_INSECURE or PKI (got {self.auth_mode!r})")
        _check(self.password is None or self.user is not None, "cluster.password", "given without cluster.user")
        _non_negative(self, "cluster", "client_timeout_ms", "login_timeout_ms", "idle_timeout_ms")

    def seeds(self) -> list[tuple[str, int]]:
        """(host, port) pairs; a missing port is 3000; ``host:tls-name:port`` drops the TLS name."""
        out = []
        for entry in self.hosts:
            for host in entry.split(","):
                parts = host.strip().split(":")
                if host.strip().startswith("["):  # [v6addr]:port
                    addr, _, v6port = host.strip()[1:].partition("]:")
                    out.append((addr, int(v6port or 3000)))
                    continue
                try:
                    port = int(parts[-1]) if len(parts) > 1 else 3000
                except ValueError:
                    raise ConfigError("cluster.hosts", f"bad port in {host!r}") from None
                out.append((parts[0], port))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retries with exponential back-off: wait base * multiplier**attempt, at most max_retries times."""

    base_timeout_ms: int = 1000  # wait before the first retry
    multiplier: float = 1.0  # each later wait is the previous one times this
    max_retries: int = 5  # retries after the first attempt; 0 none

    def __post_init__(self) -> None:
        _non_negative(self, "retry", "base_timeout_ms", "max_retries")
        _check(self.multiplier >= 1.0, "retry.multiplier", f"must be at least 1.0 (got {self.multiplier})")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return self.base_timeout_ms / 1000.0 * self.multiplier**attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionPolicy:
    """``mode`` "zstd" or "none"; ``level`` 1-22 (zstd's default 3 when not given)."""

    mode: str = "none"  # 'zstd' or 'none' (-z)
    level: int | None = None  # zstd level 1-22; None: 3 (--compression-level)

    def __post_init__(self) -> None:
        mode = self.mode.lower()
        object.__setattr__(self, "mode", mode)
        _check(mode in ("none", "zstd"), "compression.mode", f"must be 'zstd' or 'none' (got {self.mode!r})")
        if self.level is not None:
            _check(mode != "none", "compression.level", "set without compression.mode (use mode 'zstd')")
            _check(1 <= self.level <= 22, "compression.level", f"must be 1 to 22 (got {self.level})")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptionPolicy:
    """``mode`` "aes128", "aes256" or "none", and exactly one key source when encrypting.

    ``key_file``: PEM RSA key file path (or ``secrets:resource:key``); ``key_env``: a variable
    holding the base64 key; ``key_secret``: a Secret Agent ``secrets:resource:key`` reference.
    """

    mode: str = "none"  # 'aes128', 'aes256' or 'none' (-y)
    key_file: str | None = None  # PEM RSA private key file, or secrets:resource:key (--encryption-key-file)
    key_env: str | None = None  # variable holding the base64 key (--encryption-key-env)
    key_secret: str | None = None  # Secret Agent reference secrets:resource:key (--encryption-key-secret)

    def __post_init__(self) -> None:
        mode = self.mode.lower().replace("-", "")
        object.__setattr__(self, "mode", mode)
        _check(mode in ("none", "aes128", "aes256"), "encryption.mode",
               f"must be 'aes128', 'aes256' or 'none' (got {self.mode!r})")
        sources = [n for n in ("key_file", "key_env", "key_secret") if getattr(self, n)]
        if mode != "none":
            _check(bool(sources), "encryption.key_file",
                   f"encryption mode {mode} needs a key: set one of key_file, key_env, key_secret")
        _check(len(sources) <= 1, f"encryption.{sources[-1] if sources else 'key_file'}",
               f"only one key source may be set (got {', '.join(sources)})")
        if sources and mode == "none":
            raise ConfigError(f"encryption.{sources[0]}", "set without encryption.mode (use aes128 or aes256)")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretAgentConfig:
    """Where the Aerospike Secret Agent listens (secret-agent.md)."""

    connection_type: str = "tcp"  # "tcp" or "unix"
    address: str | None = None  # agent host, or socket path for 'unix' (--sa-address)
    port: int | None = None  # agent TCP port (--sa-port)
    timeout_ms: int = 1000  # one deadline for connect, request and reply (--sa-timeout)
    ca_file: str | None = None  # CA file: TLS to the agent when set (--sa-cafile)
    tls_name: str | None = None  # name on the agent's certificate
    cert_file: str | None = None  # client certificate for mutual TLS
    key_file: str | None = None  # client key for mutual TLS
    is_base64: bool = False  # the agent's values are base64 (C tools: always)

    def __post_init__(self) -> None:
        _check(self.connection_type in ("tcp", "unix"), "secret_agent.connection_type",
               f"must be 'tcp' or 'unix' (got {self.connection_type!r})")
        _non_negative(self, "secret_agent", "timeout_ms")
        if self.port is not None:
            _check(0 < self.port < 65536, "secret_agent.port", f"must be 1 to 65535 (got {self.port})")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreNamespaceConfig:
    """Restore records of ``source`` into ``destination`` (records of another namespace are an error)."""

    source: str  # namespace the backup holds
    destination: str  # namespace to write into

    def __post_init__(self) -> None:
        _check(bool(self.source), "restore.namespace.source", "must not be empty")
        _check(bool(self.destination), "restore.namespace.destination", "must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionFilter:
    """Partitions ``begin`` .. ``begin + count - 1``; with ``digest`` (base64), start after it.

    ``PartitionFilter.all()``, ``.range(b, c)``, ``.id(p)``, ``.by_digest(d)`` (the digest's
    partition only, from that record on) and ``.after_digest(d)`` (after that record, then every
    later partition) mirror backup-go's constructors.
    """

    begin: int = 0  # first partition, 0-4095
    count: int = PARTITIONS  # number of partitions from begin
    digest: str | None = None  # base64 digest: start after this record

    def __post_init__(self) -> None:
        _check(0 <= self.begin < PARTITIONS, "backup.partition_filters.begin",
               f"must be 0 to 4095 (got {self.begin})")
        _check(1 <= self.count <= PARTITIONS - self.begin, "backup.partition_filters.count",
               f"must be 1 to {PARTITIONS - self.begin} for begin {self.begin} (got {self.count})")
        if self.digest is not None:
            d = _digest(self.digest, "backup.partition_filters.digest")
            _check(partition_id(d) == self.begin, "backup.partition_filters.digest",
                   f"digest is in partition {partition_id(d)}, not {self.begin}")

    @classmethod
    def all(cls) -> PartitionFilter:
        return cls()

    @classmethod
    def range(cls, begin: int, count: int) -> PartitionFilter:  # noqa: A003 - backup-go's name
        return cls(begin=begin, count=count)

    @classmethod
    def id(cls, pid: int) -> PartitionFilter:
        return cls(begin=pid, count=1)

    @classmethod
    def by_digest(cls, digest_b64: str) -> PartitionFilter:
        return cls(begin=partition_id(_digest(digest_b64, "backup.partition_filters.digest")), count=1,
                   digest=digest_b64)

    @classmethod
    def after_digest(cls, digest_b64: str) -> PartitionFilter:
        pid = partition_id(_digest(digest_b64, "backup.after_digest"))
        return cls(begin=pid, count=PARTITIONS - pid, digest=digest_b64)

    @property
    def digest_bytes(self) -> bytes | None:
        return None if self.digest is None else base64.b64decode(self.digest)

    def partitions(self) -> builtins.range:
        return range(self.begin, self.begin + self.count)


def _digest(value: str, field_path: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(field_path, f"not valid base64: {value!r}") from None
    _check(len(raw) == 20, field_path, f"must decode to 20 bytes (got {len(raw)})")
    return raw


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupConfig:
    """What to back up and how (backup-go ConfigBackup; asbackup flags in docs/configuration.md)."""

    namespace: str  # namespace to back up (-n)
    set_list: tuple[str, ...] = ()  # sets to back up; empty: all (-s)
    bin_list: tuple[str, ...] = ()  # bins to back up; empty: all (-B)
    partition_filters: tuple[PartitionFilter, ...] = ()  # empty: all 4096 partitions
    after_digest: str | None = None  # base64; resume after this record (asbackup -D)
    node_list: tuple[str, ...] = ()  # "addr:port" of nodes to back up (asbackup -l)
    rack_list: tuple[int, ...] = ()  # racks to read from (accepted; not used yet)
    parallel_nodes: bool = False  # one task per node instead of partition ranges
    modified_after: dt.datetime | None = None  # only records last updated at or after this time (-a)
    modified_before: dt.datetime | None = None  # only records last updated before this time (-b)
    no_ttl_only: bool = False  # only records that never expire (--no-ttl-only)
    filter_expression: str | None = None  # base64 packed expression (asbackup -f)
    no_records: bool = False  # metadata only (-R)
    no_indexes: bool = False  # leave out secondary indexes (-I)
    no_udfs: bool = False  # leave out UDF modules (-u)
    no_bins: bool = False  # record metadata only, no bin data (-x)
    max_records: int = 0  # 0: no limit
    parallel_read: int = 1  # concurrent partition scans (asbackup -w)
    parallel_write: int = 1  # concurrent files
    file_limit: int = 250 * 1024 * 1024  # bytes per file before rotation; 0: one file per writer
    output_file: str | None = None  # single-file output (asbackup -o)
    output_file_prefix: str = ""  # file name prefix instead of the namespace (-q)
    remove_files: bool = False  # clear the directory's backup files first (-r)
    compact: bool = False  # blobs as raw bytes, not base64 (-C)
    encoder: str = "asb"  # codec plugin: 'asb' (or 'asbx')
    compression: CompressionPolicy = field(default_factory=CompressionPolicy)  # compression settings
    encryption: EncryptionPolicy = field(default_factory=EncryptionPolicy)  # encryption settings
    secret_agent: SecretAgentConfig | None = None  # Secret Agent for secrets: values
    records_per_second: int = 0  # 0: no limit
    bandwidth: int = 0  # bytes per second; 0: no limit
    state_file: str | None = None  # keep per-partition progress here, inside the backup (--state-file-dst)
    continue_from: str | None = None  # state file of an interrupted run to resume (asbackup -c)
    page_size: int = 10000  # records per page when a state file is kept (bounds resume overlap)
    socket_timeout_ms: int = 10000  # per-read socket timeout of scans (--socket-timeout)
    total_timeout_ms: int = 0  # scan timeout; 0 none (--total-timeout)
    max_retries: int = 5  # scan retries per partition round (--max-retries)
    sleep_between_retries_ms: int = 0  # pause between scan retries
    info_timeout_ms: int = 10000  # timeout of info commands
    info_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=3))  # retries of info commands
    estimate: bool = False  # sample records and predict the backup size, write nothing (-e)
    estimate_samples: int = 10000  # records sampled by estimate (--estimate-samples)
    executor: str | object = "threads"  # "threads", "processes", "dask", "ray", or an Executor / distributed.Client
    scheduler: str | None = None  # Dask scheduler or Ray address for executor "dask" / "ray"

    def __post_init__(self) -> None:
        p = "backup"
        _check(bool(self.namespace), f"{p}.namespace", "is required")
        _non_negative(self, p, "max_records", "file_limit", "records_per_second", "bandwidth", "page_size",
                      "socket_timeout_ms", "total_timeout_ms", "max_retries", "sleep_between_retries_ms",
                      "info_timeout_ms", "estimate_samples")
        _check(self.parallel_read >= 1, f"{p}.parallel_read", f"must be at least 1 (got {self.parallel_read})")
        _check(self.parallel_write >= 1, f"{p}.parallel_write", f"must be at least 1 (got {self.parallel_write})")
        _check_executor(self.executor, self.scheduler, p)
        if self.node_list:
            _check(not self.partition_filters, f"{p}.node_list", "cannot be combined with partition_filters")
            _check(self.after_digest is None, f"{p}.node_list", "cannot be combined with after_digest")
        if self.after_digest is not None:
            _check(not self.partition_filters, f"{p}.after_digest", "cannot be combined with partition_filters")
            _digest(self.after_digest, f"{p}.after_digest")
        if self.parallel_nodes or self.node_list:
            _check(self.state_file is None and self.continue_from is None, f"{p}.state_file",
                   "cannot be used with node_list or parallel_nodes (progress is kept per partition)")
        if self.state_file is not None:
            _check(self.file_limit > 0, f"{p}.state_file", "needs a file_limit (state is saved as files close)")
        if self.continue_from is not None:
            _check(not self.remove_files, f"{p}.continue_from", "cannot be combined with remove_files")
            _check(self.output_file is None, f"{p}.continue_from", "needs a directory, not output_file")
        if self.output_file is not None:
            _check(self.parallel_write == 1 or self.file_limit == 0, f"{p}.output_file",
                   "writes one file: parallel_write must be 1")
        if self.modified_after and self.modified_before:
            _check(self.modified_after < self.modified_before, f"{p}.modified_before",
                   "must be later than modified_after")
        if self.estimate:
            _check(self.estimate_samples > 0, f"{p}.estimate_samples", "must be at least 1")
            _check(not self.node_list and not self.partition_filters and self.after_digest is None,
                   f"{p}.estimate", "samples the whole namespace: drop node_list/partition_filters/after_digest")
        _check(self.encoder in ("asb", "asbx") or bool(self.encoder), f"{p}.encoder", "must name a codec")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreConfig:
    """What to restore and how (backup-go ConfigRestore; asrestore flags in docs/configuration.md)."""

    namespace: RestoreNamespaceConfig | None = None  # source to destination namespace mapping (-n src,dst)
    set_list: tuple[str, ...] = ()  # sets to restore; empty: all (-s)
    bin_list: tuple[str, ...] = ()  # bins to restore; empty: all (-B)
    no_records: bool = False  # metadata only (-R)
    no_indexes: bool = False  # create no secondary indexes (-I)
    no_udfs: bool = False  # register no UDF modules (--no-udfs)
    indexes_last: bool = True  # create indexes after the records (faster; asrestore does too)
    wait_for_indexes: bool = False  # wait until created indexes are built
    unique: bool = False  # create only: never touch existing records
    replace: bool = False  # replace whole records (takes precedence over unique in the Go CLI)
    no_generation: bool = False  # write regardless of generation (default: only if newer)
    extra_ttl: int = 0  # seconds added to expirable records
    disable_batch_writes: bool = False  # one write per record instead of batches
    batch_size: int = 128  # records per batch write (--batch-size)
    max_async_batches: int = 32  # batch writes in flight (--max-async-batches)
    parallel: int = 4  # concurrent file readers
    records_per_second: int = 0  # write rate limit; 0 none
    bandwidth: int = 0  # read rate limit in bytes/s; 0 none
    ignore_record_error: bool = False  # count and skip records the server refuses (never format errors)
    decoder: str = "asb"  # codec plugin: 'asb' or 'asbx'
    compression: CompressionPolicy = field(default_factory=CompressionPolicy)  # compression of the backup files
    encryption: EncryptionPolicy = field(default_factory=EncryptionPolicy)  # encryption of the backup files
    secret_agent: SecretAgentConfig | None = None  # Secret Agent for secrets: values
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # retries of transient write errors
    info_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=3))  # retries of info commands
    socket_timeout_ms: int = 10000  # per-write socket timeout
    total_timeout_ms: int = 0  # write timeout; 0 none
    info_timeout_ms: int = 10000  # timeout of info commands
    validate_only: bool = False  # decode and count every file; no cluster needed (--validate)
    executor: str | object = "threads"  # "threads", "processes", "dask", "ray", or an Executor / distributed.Client
    scheduler: str | None = None  # Dask scheduler or Ray address for executor "dask" / "ray"

    def __post_init__(self) -> None:
        p = "restore"
        _non_negative(self, p, "records_per_second", "bandwidth", "socket_timeout_ms", "total_timeout_ms",
                      "info_timeout_ms")
        _check(0 <= self.extra_ttl <= 2147483647, f"{p}.extra_ttl", f"must be 0 to 2147483647 (got {self.extra_ttl})")
        _check(self.batch_size >= 1, f"{p}.batch_size", f"must be at least 1 (got {self.batch_size})")
        _check(self.max_async_batches >= 1, f"{p}.max_async_batches",
               f"must be at least 1 (got {self.max_async_batches})")
        _check(self.parallel >= 1, f"{p}.parallel", f"must be at least 1 (got {self.parallel})")
        _check(not (self.unique and self.replace), f"{p}.unique", "cannot be combined with replace")
        _check_executor(self.executor, self.scheduler, p)
        if self.decoder == "asbx":
            for name in ("set_list", "bin_list", "no_records", "no_indexes", "no_udfs", "disable_batch_writes",
                         "extra_ttl", "namespace"):
                _check(not getattr(self, name), f"{p}.{name}", "does not apply to ASBX (XDR) restores")


# --- loading from mappings (YAML / TOML sections, JSON) ----------------------------------

_C = TypeVar("_C")


def from_mapping(cls: type[_C], data: Mapping[str, Any], *, path: str = "") -> _C:
    """Build config dataclass ``cls`` from a mapping; keys may be kebab- or snake-case.

    Unknown keys, wrong types and invalid values raise ConfigError naming the dotted path.
    """
    prefix = path or cls.__name__.removesuffix("Config").lower()
    if not isinstance(data, Mapping):
        raise ConfigError(prefix, f"must be a mapping (got {type(data).__name__})")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in known:
            raise ConfigError(f"{prefix}.{raw_key}", f"unknown key (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        missing = [n for n, f in known.items()
                   if n not in kwargs and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{prefix}.{missing[0]}", "is required") from None
        raise ConfigError(prefix, str(exc)) from None


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            return _coerce(arg, value, path)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # type: ignore[arg-type]
            return value
        return from_mapping(hint, value, path=path)  # type: ignore[arg-type]
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(path, f"must be a list (got {type(value).__name__})")
        return tuple(_coerce(args[0], v.strip() if isinstance(v, str) else v, path) for v in items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(path, f"must be true or false (got {value!r})")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(path, f"must be an integer (got {value!r})")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(path, f"must be an integer (got {value!r})") from None
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(path, f"must be a number (got {value!r})") from None
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(path, f"must be a string (got {value!r})")
        return str(value)
    if hint is dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(path, f"must be a date and time like 2024-01-31T12:00:00 (got {value!r})") from None
    return value
