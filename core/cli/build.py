"""Building the config objects of a command from converted option values.

``cluster``, ``backup_configs`` and ``restore_configs`` read a ``Values`` and fill a ``Resolved``;
a validation error of a config dataclass is reported against the flag or file key that set the
field. Storage flags become the storage plugins' options, in their names and units.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import (
    BackupConfig,
    ClusterConfig,
    CompressionPolicy,
    EncryptionPolicy,
    PartitionFilter,
    RestoreConfig,
    RestoreNamespaceConfig,
    RetryPolicy,
    SecretAgentConfig,
    TlsConfig,
)
from ..errors import ConfigError
from ..protocols import StorageURL
from ..xdr.config import BackupXdrConfig
from .values import Prompt, Values, parse_hosts, parse_partition_list, parse_time

if TYPE_CHECKING:
    from .mapping import Resolved

__all__ = ["asbx_refusal", "backup_configs", "build", "cluster_config", "restore_configs", "xdr_configs"]

MIB = 1024 * 1024
_PROVIDERS = {"s3": ("s3", "s3_bucket_name"), "gcp": ("gs", "gcp_bucket_name"),
              "azure": ("az", "azure_container_name")}


def build(v: Values, cls: type[Any], fields: Mapping[str, str], **kwargs: Any) -> Any:
    """``cls(**kwargs)``; a validation error is reported against the option that set the field."""
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        for prefix, dest in sorted(fields.items(), key=lambda kv: -len(kv[0])):
            matches = exc.field == prefix or exc.field.startswith(prefix + ".") or exc.field.endswith("." + prefix)
            if matches and v.given(dest):
                raise ConfigError("", f"{v.where(dest)}: {exc.message}") from None
        raise


def cluster_config(v: Values, prompt: Prompt | None) -> ClusterConfig:
    port = v.get("port", 3000)
    try:
        hosts = parse_hosts(v.get("host", "127.0.0.1"), port, v.get("tls_name"))
    except ConfigError as exc:
        raise v.fail("host", exc.message) from None
    user = v.get("user")
    password = v.get("password")
    if user and password is None:
        if prompt is None:
            raise v.fail("user", "needs a password: add -P PASS (or -P alone on a terminal), or env:VAR / "
                                 "file:PATH")
        password = prompt("Password: ")
    tls = None
    if v.get("tls_enable", False) or any(v.given(d) for d in ("tls_cafile", "tls_capath", "tls_certfile",
                                                              "tls_keyfile")):
        tls = TlsConfig(enable=bool(v.get("tls_enable", False)), name=v.get("tls_name"),
                        ca_file=v.get("tls_cafile"), ca_path=v.get("tls_capath"), cert_file=v.get("tls_certfile"),
                        key_file=v.get("tls_keyfile"), key_file_password=v.get("tls_keyfile_password"),
                        protocols=v.get("tls_protocols"))
    cluster: ClusterConfig = build(v, ClusterConfig, {"cluster.hosts": "host", "cluster.password": "password",
                                     "cluster.auth_mode": "auth", "cluster.client_timeout_ms": "client_timeout"},
                  hosts=hosts, user=user, password=password, auth_mode=v.get("auth", "INTERNAL"),
                  services_alternate=v.get("services_alternate", False), tls=tls,
                  client_timeout_ms=v.get("client_timeout", 30000),
                  login_timeout_ms=v.get("client_login_timeout", 10000),
                  idle_timeout_ms=v.get("client_idle_timeout", 0))
    return cluster


def _transforms(v: Values, sa: SecretAgentConfig | None, *, level: bool) -> dict[str, Any]:
    compression_level = v.get("compression_level", 0) if level else 0
    if compression_level and v.get("compress", "none") == "none":
        raise v.fail("compression_level", "needs -z/--compress zstd")
    keys = [d for d in ("encryption_key_file", "encryption_key_env", "encryption_key_secret") if v.given(d)]
    if v.get("encrypt", "none") != "none" and not keys:
        raise v.fail("encrypt", "needs a key: --encryption-key-file, --encryption-key-env or --encryption-key-secret")
    if len(keys) > 1:
        raise v.fail(keys[1], f"cannot be combined with {v.where(keys[0])}: give one key")
    if keys and v.get("encrypt", "none") == "none":
        raise v.fail(keys[0], "given without -y/--encrypt aes128|aes256")
    compression = build(v, CompressionPolicy, {"compression.mode": "compress", "compression.level":
                                                "compression_level"},
                         mode=v.get("compress", "none"), level=compression_level or None)
    encryption = build(v, EncryptionPolicy, {"encryption.mode": "encrypt", "encryption.key_file":
                                              "encryption_key_file", "encryption.key_env": "encryption_key_env",
                                              "encryption.key_secret": "encryption_key_secret"},
                        mode=v.get("encrypt", "none"), key_file=v.get("encryption_key_file"),
                        key_env=v.get("encryption_key_env"), key_secret=v.get("encryption_key_secret"))
    return {"compression": compression, "encryption": encryption, "secret_agent": sa}


def _ms_to_s(value: Any) -> str:
    return str(max(1, -(-int(value) // 1000)))


def _mib(value: Any) -> str:
    return f"{int(value)}MiB"


#: option name (or Go YAML key under aws.s3 / gcp.storage / azure.blob) -> (storage option, conversion)
_STORAGE_KEYS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "s3_region": ("region", str), "s3_profile": ("profile", str), "s3_endpoint_override": ("endpoint", str),
    "s3_access_key_id": ("access-key-id", str), "s3_secret_access_key": ("secret-access-key", str),
    "s3_connect_timeout": ("connect-timeout", _ms_to_s), "s3_request_timeout": ("request-timeout", _ms_to_s),
    "s3_retry_max_attempts": ("retries", str), "s3_min_part_size": ("part-size", _mib),
    "s3_max_async_uploads": ("upload-concurrency", str), "s3_storage_class": ("storage-class", str),
    "gcp_key_path": ("key-path", str), "gcp_endpoint_override": ("endpoint", str),
    "gcp_chunk_size": ("part-size", _mib), "gcp_retry_max_attempts": ("retries", str),
    "azure_account_name": ("account-name", str), "azure_account_key": ("account-key", str),
    "azure_tenant_id": ("tenant-id", str), "azure_client_id": ("client-id", str),
    "azure_client_secret": ("client-secret", str), "azure_endpoint": ("endpoint", str),
    "azure_access_tier": ("access-tier", str), "azure_block_size": ("part-size", _mib),
    "azure_upload_concurrency": ("upload-concurrency", str), "azure_retry_max_attempts": ("retries", str),
}


def _storage_options(v: Values, extra: Mapping[str, Any], scheme: str, warnings: list[str]) -> dict[str, str]:
    """Storage options for a location of ``scheme`` from the provider's flags (and Go YAML keys);
    what the storage plugins have no use for is reported as having no effect."""
    provider = {"s3": "s3", "gs": "gcp", "gcs": "gcp", "az": "azure", "abfs": "azure"}.get(scheme)
    if provider is None:
        return {}
    prefix = provider + "_"
    given: dict[str, Any] = {d: v.get(d) for d in v.table if d.startswith(prefix) and v.given(d)}
    given.update({d: val for d, val in extra.items() if d.startswith(prefix) and d not in given})
    opts: dict[str, str] = {}
    for dest, value in given.items():
        if dest in ("s3_bucket_name", "gcp_bucket_name", "azure_container_name"):
            continue
        if dest not in _STORAGE_KEYS:
            warnings.append(f"{v.where(dest)} has no effect here")
            continue
        key, conv = _STORAGE_KEYS[dest]
        opts[key] = str(value).lower() if isinstance(value, bool) else conv(value)
    return opts


def _location(v: Values, path_dest: str, extra: Mapping[str, Any], warnings: list[str]) -> StorageURL:
    """A -d/-o/-i value as a storage URL; with a Go-style bucket option, a path in that bucket."""
    path = v.get(path_dest)
    buckets = [(scheme, dest) for scheme, dest in _PROVIDERS.values() if v.given(dest)]
    if len(buckets) > 1:
        raise v.fail(buckets[1][1], f"only one cloud provider can be configured (also {v.where(buckets[0][1])})")
    if buckets:
        scheme, dest = buckets[0]
        if "://" in path:
            raise v.fail(path_dest, f"is a URL ({path}) but {v.where(dest)} names a bucket: give a path in it")
        url = StorageURL.parse(f"{scheme}://{v.get(dest)}/{path.lstrip('/')}".rstrip("/"))
    else:
        url = StorageURL.parse(path)
    return StorageURL(url.scheme, url.path, _storage_options(v, extra, url.scheme, warnings))


def _split_file(url: StorageURL) -> tuple[StorageURL, str]:
    """A file URL as (its folder, its name); ``-`` stays the stdio storage."""
    if url.scheme == "stdio":
        return url, "-"
    head, _, name = url.path.rstrip("/").rpartition("/")
    if not name:
        raise ConfigError("", f"not a file name: {url}")
    if not head:
        head = "/" if url.path.startswith("/") else ("." if not url.scheme else "")
    return StorageURL(url.scheme, head, url.options), name


def _state_name(v: Values, dest: str, storage: StorageURL | None, namespace: str) -> str | None:
    """A state file is kept in the backup directory: a bare name, or a path into that directory
    (as asbackup takes it), or the directory itself (then ``<namespace>.asb.state``)."""
    if not v.given(dest):
        return None
    value = str(v.get(dest))
    default = f"{namespace}.asb.state"
    if storage is None:
        return value
    if "/" not in value and "://" not in value:
        return value
    if storage.scheme:
        root = str(storage).rstrip("/") + "/"
        if value.rstrip("/") + "/" == root:
            return default
        if value.startswith(root):
            return value[len(root):]
    else:
        root_path = os.path.abspath(storage.path)
        path = os.path.abspath(value)
        if path == root_path:
            return default
        if path.startswith(root_path + os.sep):
            return os.path.relpath(path, root_path).replace(os.sep, "/")
    raise v.fail(dest, f"must be in the backup directory {storage} (got {value!r}); give a file name")


def backup_configs(v: Values, res: Resolved, sa: SecretAgentConfig | None, extra: Mapping[str, Any], *,
                   estimate: bool) -> None:
    estimate = estimate or v.get("estimate", False)
    res.remove_artifacts = v.get("remove_artifacts", False)
    if not v.given("namespace") and not res.remove_artifacts:
        raise ConfigError("", "-n/--namespace: is required (the namespace to back up)")
    if v.given("continue_") and not v.given("directory") and not v.given("output_file"):
        state = str(v.get("continue_"))  # asbackup -c DIR/NS.asb.state: the backup is in DIR
        folder = state.rstrip("/").rpartition("/")[0]
        if folder:
            v.raw["directory"] = folder
            v.origin["directory"] = v.where("continue_")
    directory, output_file = v.given("directory"), v.given("output_file")
    if directory and output_file:
        raise v.fail("output_file", f"cannot be combined with {v.where('directory')}: choose one")
    if not (directory or output_file or estimate):
        raise ConfigError("", "give a directory (-d), an output file (-o), or make an estimate (-e)")
    if res.remove_artifacts and not directory and not output_file:
        raise v.fail("remove_artifacts", "needs a directory (-d) or an output file (-o)")
    kw: dict[str, Any] = {}
    if directory:
        res.storage = _location(v, "directory", extra, res.warnings)
    elif output_file:
        res.storage, name = _split_file(_location(v, "output_file", extra, res.warnings))
        kw["output_file"] = name
    node_list = v.get("node_list", ())
    parallel = v.get("parallel", 16 if node_list else 1)
    if v.given("after_digest") and v.given("partition_list"):
        raise v.fail("after_digest", f"cannot be combined with {v.where('partition_list')}")
    filters: tuple[PartitionFilter, ...] = ()
    if v.given("partition_list"):
        try:
            filters = parse_partition_list(v.get("partition_list"))
        except ConfigError as exc:
            raise v.fail("partition_list", exc.message) from None
    if v.given("filter_exp") and (v.given("modified_after") or v.given("modified_before") or v.get("no_ttl_only")):
        raise v.fail("filter_exp", "cannot be combined with --modified-after/--modified-before/--no-ttl-only")
    if v.given("filter_exp") and len(v.get("set", ())) > 1:
        raise v.fail("filter_exp", "cannot be combined with more than one set")
    times = {}
    for dest in ("modified_after", "modified_before"):
        if v.given(dest):
            try:
                times[dest] = parse_time(v.get(dest))
            except ConfigError as exc:
                raise v.fail(dest, exc.message) from None
    if v.given("filter_exp"):
        try:
            base64.b64decode(v.get("filter_exp"), validate=True)
        except (binascii.Error, ValueError):
            raise v.fail("filter_exp", "must be a base64 encoded expression") from None
    racks = []
    for rack in v.get("prefer_racks", ()):
        if not rack.isdigit():
            raise v.fail("prefer_racks", f"rack ids are integers (got {rack!r})")
        racks.append(int(rack))
    namespace = v.get("namespace", "")
    state_file = _state_name(v, "state_file_dst", res.storage, namespace)
    continue_from = _state_name(v, "continue_", res.storage, namespace)
    if continue_from is not None and state_file is None:
        state_file = continue_from  # a second interruption stays resumable
    is_file = output_file
    fields = {"backup.namespace": "namespace", "backup.parallel_read": "parallel", "backup.node_list": "node_list",
              "backup.after_digest": "after_digest", "backup.state_file": "state_file_dst",
              "backup.continue_from": "continue_", "backup.output_file": "output_file",
              "backup.modified_before": "modified_before", "backup.estimate": "estimate",
              "backup.estimate_samples": "estimate_samples", "backup.file_limit": "file_limit",
              "backup.partition_filters": "partition_list", "compression": "compress", "encryption": "encrypt"}
    res.backup = build(
        v, BackupConfig, fields,
        namespace=v.get("namespace", "") or "-", set_list=v.get("set", ()), bin_list=v.get("bin_list", ()),
        partition_filters=filters, after_digest=v.get("after_digest"), node_list=node_list,
        rack_list=tuple(racks), modified_after=times.get("modified_after"),
        modified_before=times.get("modified_before"), no_ttl_only=v.get("no_ttl_only", False),
        filter_expression=v.get("filter_exp"), no_records=v.get("no_records", False),
        no_indexes=v.get("no_indexes", False), no_udfs=v.get("no_udfs", False), no_bins=v.get("no_bins", False),
        max_records=v.get("max_records", 0), parallel_read=parallel, parallel_write=1 if is_file else parallel,
        file_limit=0 if is_file else v.get("file_limit", 250) * MIB,
        output_file_prefix=v.get("output_file_prefix", ""), remove_files=v.get("remove_files", False),
        compact=v.get("compact", False), records_per_second=v.get("records_per_second", 0),
        bandwidth=v.get("nice", 0) * MIB, state_file=state_file, continue_from=continue_from,
        page_size=v.get("scan_page_size", 10000), socket_timeout_ms=v.get("socket_timeout", 10000),
        total_timeout_ms=v.get("total_timeout", 0), max_retries=v.get("max_retries", 5),
        sleep_between_retries_ms=v.get("sleep_between_retries", 0), info_timeout_ms=v.get("info_timeout", 10000),
        info_retry=RetryPolicy(base_timeout_ms=v.get("info_retry_interval", 1000),
                               multiplier=v.get("info_retry_multiplier", 1.0),
                               max_retries=v.get("info_max_retries", 3)),
        estimate=estimate, estimate_samples=v.get("estimate_samples", 10000),
        executor=v.get("executor", "threads"), scheduler=v.get("scheduler"), **kw, **_transforms(v, sa, level=True),
    )


def restore_configs(v: Values, res: Resolved, sa: SecretAgentConfig | None, extra: Mapping[str, Any], *,
                    validate: bool) -> None:
    ns = None
    if v.given("namespace"):
        parts = [p.strip() for p in v.get("namespace").split(",")]
        if len(parts) > 2 or not all(parts):
            raise v.fail("namespace", f"must be SRC or SRC,DST (got {v.get('namespace')!r})")
        ns = RestoreNamespaceConfig(source=parts[0], destination=parts[-1])
    given = [d for d in ("directory", "input_file", "directory_list") if v.given(d)]
    if len(given) > 1:
        raise v.fail(given[1], f"cannot be combined with {v.where(given[0])}: choose one")
    if not given:
        raise ConfigError("", "give a directory (-d), an input file (-i) or a --directory-list")
    if v.given("parent_directory") and not v.given("directory_list"):
        raise v.fail("parent_directory", "needs --directory-list")
    if given[0] == "directory":
        res.storage = _location(v, "directory", extra, res.warnings)
        res.inputs = (str(res.storage),)
    elif given[0] == "input_file":
        url = _location(v, "input_file", extra, res.warnings)
        res.inputs = (str(url),)
        res.storage, res.input_file = _split_file(url)
    else:
        parent = v.get("parent_directory", "")
        urls = []
        for d in v.get("directory_list"):
            path = f"{parent.rstrip('/')}/{d}" if parent else d
            url = StorageURL.parse(path)
            urls.append(StorageURL(url.scheme, url.path, _storage_options(v, extra, url.scheme, res.warnings)))
        res.locations = tuple(urls)
        res.inputs = tuple(str(u) for u in urls)
        res.storage = urls[0]
    if v.given("sleep_between_retries"):
        res.warnings.append(f"{v.where('sleep_between_retries')} is deprecated and has no effect "
                            "(as in asrestore); use --retry-scale-factor")
    if v.given("event_loops"):
        res.warnings.append(f"{v.where('event_loops')} has no effect here")
    bandwidth, tps = 0, 0
    if v.given("nice"):
        parts = [p.strip() for p in str(v.get("nice")).split(",")]
        if len(parts) > 2 or not all(p.isdigit() for p in parts):
            raise v.fail("nice", f"must be MIB_S or MIB_S,TPS with whole numbers (got {v.get('nice')!r})")
        bandwidth = int(parts[0])
        tps = int(parts[1]) if len(parts) == 2 else 0
    bandwidth = v.get("bandwidth", bandwidth)
    tps = v.get("records_per_second", tps)
    batch_writes_off = v.get("disable_batch_writes", False)
    info_timeout = v.get("timeout", 10000)
    base_ms = (v.get("retry_base_interval") if v.given("retry_base_interval")
               else v.get("retry_scale_factor", 150000) // 1000)
    mode = v.get("mode", "auto")
    res.detect_format = mode == "auto"
    res.mode = mode
    total_timeout = v.get("total_timeout", 0) or info_timeout  # asrestore: 0 means "use --timeout"
    if mode == "asbx" and not v.given("total_timeout"):
        total_timeout = 0  # an ASBX restore has no batch deadline (socket_timeout holds)
    fields = {"restore.namespace": "namespace", "restore.unique": "unique", "restore.extra_ttl": "extra_ttl",
              "restore.batch_size": "batch_size", "restore.parallel": "parallel", "compression": "compress",
              "encryption": "encrypt", "restore.decoder": "mode", **_ASBX_FIELDS}
    res.restore = build(
        v, RestoreConfig, fields,
        namespace=ns, set_list=v.get("set_list", ()), bin_list=v.get("bin_list", ()),
        no_records=v.get("no_records", False), no_indexes=v.get("no_indexes", False),
        no_udfs=v.get("no_udfs", False), indexes_last=True, wait_for_indexes=v.get("wait", False),
        unique=v.get("unique", False), replace=v.get("replace", False), no_generation=v.get("no_generation", False),
        extra_ttl=v.get("extra_ttl", 0), disable_batch_writes=batch_writes_off,
        batch_size=v.get("batch_size", 16 if batch_writes_off else 128),
        max_async_batches=v.get("max_async_batches", 32), parallel=v.get("parallel", 4),
        records_per_second=tps, bandwidth=bandwidth * MIB, ignore_record_error=v.get("ignore_record_error", False),
        decoder="asbx" if mode == "asbx" else "asb",
        retry=RetryPolicy(base_timeout_ms=base_ms, multiplier=v.get("retry_multiplier", 1.0),
                          max_retries=v.get("max_retries", 5)),
        socket_timeout_ms=v.get("socket_timeout", 10000),
        total_timeout_ms=total_timeout,
        info_timeout_ms=info_timeout, validate_only=validate or v.get("validate", False),
        executor=v.get("executor", "threads"), scheduler=v.get("scheduler"), **_transforms(v, sa, level=False),
    )
    if mode == "asbx":
        from ..xdr.restore_asbx import check_config

        try:
            check_config(res.restore)
        except ConfigError as exc:
            raise asbx_refusal(exc, v.origin) from None


#: RestoreConfig fields an ASBX restore refuses, and the options that set them.
_ASBX_FIELDS = {
    "restore.set_list": "set_list", "restore.bin_list": "bin_list", "restore.no_records": "no_records",
    "restore.no_indexes": "no_indexes", "restore.no_udfs": "no_udfs",
    "restore.disable_batch_writes": "disable_batch_writes", "restore.max_async_batches": "max_async_batches",
    "restore.wait_for_indexes": "wait", "restore.total_timeout_ms": "total_timeout", "restore.executor": "executor",
}


def asbx_refusal(exc: ConfigError, origin: Mapping[str, str]) -> ConfigError:
    """An option an ASBX restore refuses, named as the user gave it (flag or file key)."""
    dest = {"restore.namespace": "namespace", "restore.extra_ttl": "extra_ttl", "restore.batch_size": "batch_size",
            **_ASBX_FIELDS}.get(exc.field)
    if dest is not None and dest in origin:
        return ConfigError("", f"{origin[dest]}: {exc.message}")
    return exc


def _receiver_tls(v: Values) -> TlsConfig | None:
    """The XDR receiver's TLS (--xdr-tls-*): on with a certificate; a CA file requires client certificates."""
    cert, key, ca = v.get("xdr_tls_certfile"), v.get("xdr_tls_keyfile"), v.get("xdr_tls_cafile")
    if cert is None:
        for flag, given in (("--xdr-tls-keyfile", key), ("--xdr-tls-cafile", ca)):
            if given is not None:
                raise ConfigError("", f"{flag}: needs --xdr-tls-certfile (the receiver's certificate)")
        return None
    for flag, path in (("--xdr-tls-certfile", cert), ("--xdr-tls-keyfile", key), ("--xdr-tls-cafile", ca)):
        if path is not None and not os.path.isfile(path):
            raise ConfigError("", f"{flag}: no such file: {path}")
    return TlsConfig(enable=True, cert_file=cert, key_file=key, ca_file=ca)


def xdr_configs(v: Values, res: Resolved, sa: SecretAgentConfig | None, extra: Mapping[str, Any]) -> None:
    """``backup xdr``: the BackupXdrConfig (the Go CLI's flags), or a clean-up with --stop-xdr/--unblock-mrt."""
    if not v.given("namespace"):
        raise ConfigError("", "-n/--namespace: is required (the namespace to back up)")
    res.stop_xdr, res.unblock_mrt = v.get("stop_xdr", False), v.get("unblock_mrt", False)
    clean_up = res.stop_xdr or res.unblock_mrt
    if v.given("directory"):
        res.storage = _location(v, "directory", extra, res.warnings)
    elif not clean_up:
        raise ConfigError("", "give a directory (-d) for the ASBX files")
    res.remove_files = v.get("remove_files", False)
    fields = {"backup_xdr.namespace": "namespace", "backup_xdr.dc": "dc", "backup_xdr.local_address": "local_address",
              "backup_xdr.local_port": "local_port", "backup_xdr.rewind": "rewind",
              "backup_xdr.max_throughput": "max_throughput", "backup_xdr.parallel_write": "parallel_write",
              "backup_xdr.file_limit": "file_limit", "backup_xdr.read_timeout_ms": "read_timeout",
              "backup_xdr.write_timeout_ms": "write_timeout", "backup_xdr.result_queue_size": "results_queue_size",
              "backup_xdr.ack_queue_size": "ack_queue_size", "backup_xdr.max_connections": "max_connections",
              "backup_xdr.info_polling_period_ms": "info_polling_period",
              "backup_xdr.start_timeout_ms": "start_timeout", "compression": "compress", "encryption": "encrypt"}
    res.backup_xdr = build(
        v, BackupXdrConfig, fields,
        namespace=v.get("namespace"), dc=v.get("dc", "dc"), local_address=v.get("local_address", "127.0.0.1"),
        local_port=v.get("local_port", 8080), rewind=str(v.get("rewind", "all")).strip().lower(),
        max_throughput=v.get("max_throughput", 0), forward=v.get("forward", False),
        parallel_write=v.get("parallel_write", max(1, min(os.cpu_count() or 1, 1024))),
        file_limit=v.get("file_limit", 250) * MIB, read_timeout_ms=v.get("read_timeout", 1000),
        write_timeout_ms=v.get("write_timeout", 1000), result_queue_size=v.get("results_queue_size", 256),
        ack_queue_size=v.get("ack_queue_size", 256), max_connections=v.get("max_connections", 100),
        info_polling_period_ms=v.get("info_polling_period", 1000), start_timeout_ms=v.get("start_timeout", 30000),
        tls=_receiver_tls(v),
        info_retry=RetryPolicy(base_timeout_ms=v.get("info_retry_interval", 1000),
                               multiplier=v.get("info_retry_multiplier", 1.0),
                               max_retries=v.get("info_max_retries", 3)),
        **_transforms(v, sa, level=True),
    )
