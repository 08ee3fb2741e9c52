"""aerobackup: back up and restore Aerospike databases, with files compatible with asbackup,
asrestore and backup-go.

The public API is re-exported here; plugins import ``hookimpl`` from this module.
"""

from __future__ import annotations

from typing import Any

from .client import BackupJob, Client, RestoreJob
from .config import (
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
    from_mapping,
)
from .errors import (
    AerobackupError,
    BackupNotFoundError,
    ClusterError,
    ConfigError,
    DecryptionError,
    ExitCode,
    FormatError,
    JobCancelled,
    KeySourceError,
    PluginError,
    RecordError,
    StorageError,
    TransientStorageError,
    UnknownPluginError,
)
from .estimate import BackupEstimate
from .hookspecs import hookimpl
from .jobs import BackupStats, Job, RestoreStats
from .model import UDF, Bin, ParticleType, Record, RecordBatch, RecordBatchBuilder, SIndex, UserKey, XdrToken
from .protocols import (
    Decoder,
    DecoderOptions,
    Encoder,
    EncoderOptions,
    KeySource,
    KeySourceOptions,
    ObjectInfo,
    StorageBackend,
    StorageInfo,
    StorageURL,
    Transform,
    TransformOptions,
)
from .runtime import Runtime
from .validate import validate
from .xdr.config import BackupXdrConfig

__all__ = [
    "UDF",
    "BackupEstimate",
    "BackupJob",
    "BackupStats",
    "BackupXdrConfig",
    "Client",
    "Job",
    "RestoreJob",
    "RestoreStats",
    "validate",
    "AerobackupError",
    "BackupConfig",
    "BackupNotFoundError",
    "Bin",
    "ClusterConfig",
    "ClusterError",
    "CompressionPolicy",
    "ConfigError",
    "DecryptionError",
    "Decoder",
    "DecoderOptions",
    "Encoder",
    "EncoderOptions",
    "EncryptionPolicy",
    "ExitCode",
    "FormatError",
    "JobCancelled",
    "KeySource",
    "KeySourceError",
    "KeySourceOptions",
    "ObjectInfo",
    "ParticleType",
    "PartitionFilter",
    "PluginError",
    "Record",
    "RecordBatch",
    "RecordBatchBuilder",
    "RecordError",
    "RestoreConfig",
    "RestoreNamespaceConfig",
    "RetryPolicy",
    "Runtime",
    "SIndex",
    "SecretAgentConfig",
    "StorageBackend",
    "StorageError",
    "StorageInfo",
    "StorageURL",
    "TlsConfig",
    "Transform",
    "TransformOptions",
    "TransientStorageError",
    "UnknownPluginError",
    "UserKey",
    "XdrToken",
    "from_mapping",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read lazily from the installed metadata, as pluggy does
        from importlib.metadata import version

        return version("aerobackup")
    raise AttributeError(f"module 'aerobackup' has no attribute {name!r}")
