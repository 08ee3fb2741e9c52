"""BackupXdrConfig validation (ConfigBackupXDR's rules) and the ASBX restore's refusals."""

from __future__ import annotations

import pytest
from aerobackup import ConfigError, RestoreConfig, RestoreNamespaceConfig
from aerobackup.config import TlsConfig, from_mapping
from aerobackup.xdr import BackupXdrConfig
from aerobackup.xdr.backup_xdr import start_xdr_commands
from aerobackup.xdr.restore_asbx import check_config


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"namespace": ""}, "backup_xdr.namespace: is required"),
        ({"dc": ""}, "backup_xdr.dc: must not be empty"),
        ({"dc": "d" * 32}, "backup_xdr.dc: must be shorter than 32 characters (got 32)"),
        ({"dc": "dc 1"}, "backup_xdr.dc: must match ^[a-zA-Z0-9_\\-$]+$ (got 'dc 1')"),
        ({"rewind": "0"}, "backup_xdr.rewind: must be a positive number of seconds or 'all' (got '0')"),
        ({"rewind": "ALL"}, "backup_xdr.rewind: must be a positive number of seconds or 'all' (got 'ALL')"),
        ({"max_throughput": 150}, "backup_xdr.max_throughput: must be a multiple of 100 (got 150)"),
        ({"parallel_write": 0}, "backup_xdr.parallel_write: must be 1 to 1024 (got 0)"),
        ({"local_port": 70000}, "backup_xdr.local_port: must be 0 to 65535 (got 70000)"),
        (
            {"local_address": "0.0.0.0"},
            "backup_xdr.local_address: is also the address the nodes are told to "
            "connect to: give one they can reach, not '0.0.0.0'",
        ),
        ({"max_connections": 0}, "backup_xdr.max_connections: must be at least 1 (got 0)"),
        ({"info_polling_period_ms": 0}, "backup_xdr.info_polling_period_ms: must be at least 1 (got 0)"),
        ({"ack_queue_size": -1}, "backup_xdr.ack_queue_size: must not be negative (got -1)"),
        ({"encoder": "asb"}, "backup_xdr.encoder: an XDR backup writes ASBX only (got 'asb')"),
        ({"tls": TlsConfig()}, "backup_xdr.tls.cert_file: the receiver needs a certificate to serve TLS"),
    ],
)
def test_invalid(options: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"namespace": "test"}
    with pytest.raises(ConfigError) as info:
        BackupXdrConfig(**{**base, **options})  # type: ignore[arg-type]
    assert str(info.value) == message


def test_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        BackupXdrConfig("test")  # type: ignore[misc]
    config = BackupXdrConfig(namespace="test", rewind="3600")
    assert config.rewind_seconds == 3600
    with pytest.raises(AttributeError):
        config.dc = "x"  # type: ignore[misc]


def test_from_mapping_kebab_case() -> None:
    config = from_mapping(
        BackupXdrConfig, {"namespace": "test", "local-port": "3005", "max-connections": 10}, path="backup_xdr"
    )
    assert (config.local_port, config.max_connections) == (3005, 10)


def test_info_commands_in_order() -> None:
    config = BackupXdrConfig(namespace="test", dc="dc1", rewind="60", max_throughput=300, forward=True)
    assert start_xdr_commands(config, "10.0.0.5:8080") == [
        "set-config:context=xdr;dc=dc1;action=create",
        "set-config:context=xdr;dc=dc1;connector=true",
        "set-config:context=xdr;dc=dc1;node-address-port=10.0.0.5:8080;action=add",
        "set-config:context=xdr;dc=dc1;namespace=test;max-throughput=300",
        "set-config:context=xdr;dc=dc1;namespace=test;action=add;rewind=60",
        "set-config:context=xdr;dc=dc1;namespace=test;forward=true",
    ]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"namespace": RestoreNamespaceConfig(source="a", destination="b")}, "restore.namespace"),
        ({"set_list": ("s",)}, "restore.set_list"),
        ({"bin_list": ("b",)}, "restore.bin_list"),
        ({"no_records": True}, "restore.no_records"),
        ({"no_indexes": True}, "restore.no_indexes"),
        ({"no_udfs": True}, "restore.no_udfs"),
        ({"disable_batch_writes": True}, "restore.disable_batch_writes"),
        ({"extra_ttl": 60}, "restore.extra_ttl"),
    ],
)
def test_restore_options_that_do_not_apply(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_config(RestoreConfig(decoder="asbx", **options))  # type: ignore[arg-type]
    assert str(info.value) == f"{field}: does not apply to ASBX (XDR) restores"


def test_restore_batch_settings_refused() -> None:
    with pytest.raises(ConfigError, match=r"^restore.batch_size: does not apply to ASBX"):
        check_config(RestoreConfig(decoder="asbx", batch_size=10))
    with pytest.raises(ConfigError, match=r"^restore.max_async_batches: does not apply to ASBX"):
        check_config(RestoreConfig(decoder="asbx", max_async_batches=2))
    with pytest.raises(ConfigError, match=r"^restore.wait_for_indexes: does not apply to ASBX"):
        check_config(RestoreConfig(decoder="asbx", wait_for_indexes=True))
    with pytest.raises(ConfigError, match=r"^restore.total_timeout_ms: does not apply to ASBX"):
        check_config(RestoreConfig(decoder="asbx", total_timeout_ms=1000))
    with pytest.raises(ConfigError, match=r"^restore.executor: ASBX \(XDR\) restores run on threads"):
        check_config(RestoreConfig(decoder="asbx", executor="processes"))
    with pytest.raises(ConfigError, match=r"^restore.decoder: an ASBX restore reads ASBX files"):
        check_config(RestoreConfig())
