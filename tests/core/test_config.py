"""Config validation: each rule by its message; loading from mappings."""

from __future__ import annotations

import datetime as dt

import pytest
from aerobackup import (
    BackupConfig,
    ClusterConfig,
    CompressionPolicy,
    ConfigError,
    EncryptionPolicy,
    PartitionFilter,
    RestoreConfig,
    RestoreNamespaceConfig,
    RetryPolicy,
    SecretAgentConfig,
    from_mapping,
)

DIGEST = "EjRWeJq83vEjRRI0VniavN7xI0U="  # partition 0x412 = 1042


def rejects(field: str, message: str) -> pytest.RaisesContext[ConfigError]:
    return pytest.raises(ConfigError, match=f"^{field}: {message}")


def test_defaults_match_the_reference() -> None:
    cfg = BackupConfig(namespace="test")
    assert (cfg.parallel_read, cfg.parallel_write, cfg.file_limit) == (1, 1, 250 * 1024 * 1024)
    assert cfg.compression.mode == "none" and cfg.encryption.mode == "none"
    rc = RestoreConfig()
    assert (rc.batch_size, rc.max_async_batches, rc.extra_ttl, rc.no_generation) == (128, 32, 0, False)
    assert RetryPolicy() == RetryPolicy(base_timeout_ms=1000, multiplier=1.0, max_retries=5)


def test_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        BackupConfig("test")  # type: ignore[misc]
    cfg = BackupConfig(namespace="test")
    with pytest.raises(AttributeError):
        cfg.namespace = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"namespace": ""}, "backup.namespace", "is required"),
        ({"parallel_read": 0}, "backup.parallel_read", r"must be at least 1 \(got 0\)"),
        ({"parallel_write": -2}, "backup.parallel_write", r"must be at least 1 \(got -2\)"),
        ({"max_records": -1}, "backup.max_records", r"must not be negative \(got -1\)"),
        ({"file_limit": -5}, "backup.file_limit", r"must not be negative \(got -5\)"),
        ({"records_per_second": -1}, "backup.records_per_second", "must not be negative"),
        ({"bandwidth": -1}, "backup.bandwidth", "must not be negative"),
        (
            {"node_list": ("1.2.3.4:3000",), "partition_filters": (PartitionFilter.id(3),)},
            "backup.node_list",
            "cannot be combined with partition_filters",
        ),
        (
            {"node_list": ("1.2.3.4:3000",), "after_digest": DIGEST},
            "backup.node_list",
            "cannot be combined with after_digest",
        ),
        (
            {"after_digest": DIGEST, "partition_filters": (PartitionFilter.id(3),)},
            "backup.after_digest",
            "cannot be combined with partition_filters",
        ),
        ({"after_digest": "not base64!"}, "backup.after_digest", "not valid base64"),
        ({"after_digest": "AAAA"}, "backup.after_digest", r"must decode to 20 bytes \(got 3\)"),
        ({"state_file": "s.state", "file_limit": 0}, "backup.state_file", "needs a file_limit"),
        (
            {"node_list": ("1.2.3.4:3000",), "state_file": "x.state"},
            "backup.state_file",
            "cannot be used with node_list or parallel_nodes",
        ),
        (
            {"continue_from": "x.state", "remove_files": True},
            "backup.continue_from",
            "cannot be combined with remove_files",
        ),
        (
            {"modified_after": dt.datetime(2024, 2, 1), "modified_before": dt.datetime(2024, 1, 1)},
            "backup.modified_before",
            "must be later than modified_after",
        ),
        ({"executor": "gpu"}, "backup.executor", "must be 'threads' or 'processes'"),
    ],
)
def test_backup_rules(kwargs: dict[str, object], field: str, message: str) -> None:
    args = {"namespace": "test", **kwargs}
    with rejects(field, message):
        BackupConfig(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"unique": True, "replace": True}, "restore.unique", "cannot be combined with replace"),
        ({"batch_size": 0}, "restore.batch_size", r"must be at least 1 \(got 0\)"),
        ({"max_async_batches": 0}, "restore.max_async_batches", "must be at least 1"),
        ({"parallel": 0}, "restore.parallel", "must be at least 1"),
        ({"extra_ttl": -1}, "restore.extra_ttl", r"must be 0 to 2147483647 \(got -1\)"),
        ({"extra_ttl": 2147483648}, "restore.extra_ttl", "must be 0 to 2147483647"),
        ({"bandwidth": -3}, "restore.bandwidth", "must not be negative"),
        ({"decoder": "asbx", "set_list": ("a",)}, "restore.set_list", "does not apply to ASBX"),
        ({"decoder": "asbx", "extra_ttl": 5}, "restore.extra_ttl", "does not apply to ASBX"),
    ],
)
def test_restore_rules(kwargs: dict[str, object], field: str, message: str) -> None:
    with rejects(field, message):
        RestoreConfig(**kwargs)  # type: ignore[arg-type]


def test_compression_level_without_compression() -> None:
    with rejects("compression.level", r"set without compression.mode \(use mode 'zstd'\)"):
        CompressionPolicy(level=5)
    with rejects("compression.level", r"must be 1 to 22 \(got 23\)"):
        CompressionPolicy(mode="zstd", level=23)
    with rejects("compression.mode", "must be 'zstd' or 'none'"):
        CompressionPolicy(mode="gzip")
    assert CompressionPolicy(mode="ZSTD", level=3).mode == "zstd"


def test_encryption_mode_without_key() -> None:
    with rejects("encryption.key_file", "encryption mode aes256 needs a key"):
        EncryptionPolicy(mode="aes256")
    with rejects("encryption.key_env", "only one key source may be set"):
        EncryptionPolicy(mode="aes128", key_file="k.pem", key_env="KEY")
    with rejects("encryption.key_file", "set without encryption.mode"):
        EncryptionPolicy(key_file="k.pem")
    with rejects("encryption.mode", "must be 'aes128', 'aes256' or 'none'"):
        EncryptionPolicy(mode="des", key_file="k.pem")
    policy = EncryptionPolicy(mode="AES128", key_env="KEY")
    assert policy.mode == "aes128" and policy.enabled


def test_cluster_and_agent_rules() -> None:
    with rejects("cluster.hosts", "needs at least one seed host"):
        ClusterConfig(hosts=())
    with rejects("cluster.password", "given without cluster.user"):
        ClusterConfig(password="secret")
    with rejects("secret_agent.connection_type", "must be 'tcp' or 'unix'"):
        SecretAgentConfig(connection_type="udp")
    with rejects("secret_agent.port", r"must be 1 to 65535 \(got 70000\)"):
        SecretAgentConfig(port=70000)
    assert ClusterConfig(hosts=("a:3100", "b", "c:tls1:4000")).seeds() == [("a", 3100), ("b", 3000), ("c", 4000)]


def test_secrets_stay_out_of_reprs() -> None:
    assert "hunter2" not in repr(ClusterConfig(user="u", password="hunter2"))


def test_partition_filters() -> None:
    assert PartitionFilter.all().partitions() == range(0, 4096)
    assert PartitionFilter.range(100, 5).partitions() == range(100, 105)
    assert PartitionFilter.id(7).partitions() == range(7, 8)
    after = PartitionFilter.after_digest(DIGEST)
    assert (after.begin, after.count, after.digest) == (1042, 4096 - 1042, DIGEST)
    by = PartitionFilter.by_digest(DIGEST)
    assert (by.begin, by.count) == (1042, 1)
    with rejects("backup.partition_filters.begin", r"must be 0 to 4095 \(got 4096\)"):
        PartitionFilter(begin=4096, count=1)
    with rejects("backup.partition_filters.count", r"must be 1 to 96 for begin 4000 \(got 100\)"):
        PartitionFilter(begin=4000, count=100)
    with rejects("backup.partition_filters.digest", "digest is in partition 1042, not 5"):
        PartitionFilter(begin=5, count=1, digest=DIGEST)


def test_from_mapping_builds_nested_configs() -> None:
    cfg = from_mapping(
        BackupConfig,
        {
            "namespace": "test",
            "set-list": "a,b",
            "parallel-read": "8",
            "compact": "true",
            "compression": {"mode": "zstd", "level": 9},
            "modified-after": "2024-01-31T12:00:00",
            "partition-filters": [{"begin": 0, "count": 10}],
        },
    )
    assert cfg.set_list == ("a", "b") and cfg.parallel_read == 8 and cfg.compact is True
    assert cfg.compression == CompressionPolicy(mode="zstd", level=9)
    assert cfg.modified_after == dt.datetime(2024, 1, 31, 12)
    assert cfg.partition_filters == (PartitionFilter(begin=0, count=10),)
    rc = from_mapping(RestoreConfig, {"namespace": {"source": "a", "destination": "b"}})
    assert rc.namespace == RestoreNamespaceConfig(source="a", destination="b")


def test_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"^backup.parralel: unknown key \(known: .*parallel_read"):
        from_mapping(BackupConfig, {"namespace": "test", "parralel": 3})
    with pytest.raises(ConfigError, match=r"^backup.compression.levle: unknown key"):
        from_mapping(BackupConfig, {"namespace": "test", "compression": {"levle": 3}})


def test_from_mapping_names_bad_values() -> None:
    with rejects("backup.parallel_read", r"must be an integer \(got 'many'\)"):
        from_mapping(BackupConfig, {"namespace": "test", "parallel_read": "many"})
    with rejects("backup.compact", r"must be true or false \(got 'maybe'\)"):
        from_mapping(BackupConfig, {"namespace": "test", "compact": "maybe"})
    with rejects("backup.namespace", "is required"):
        from_mapping(BackupConfig, {"compact": True})
    with rejects("backup.parallel_read", r"must be at least 1 \(got 0\)"):
        from_mapping(BackupConfig, {"namespace": "test", "parallel_read": 0})
