"""The narrow interfaces between the pipelines and the cluster.

The backup pipeline needs a ``RecordSource`` (partition scans plus metadata); the restore
pipeline a ``RecordSink`` (batch writes plus metadata creation). ``aerobackup.cluster.Cluster``
implements both over our own wire code; tests and other sources (a replay, a list) fit too.
Everything here is plain data, picklable, so a task can cross a process boundary.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .config import RetryPolicy
from .model import UDF, RecordBatch, SIndex

__all__ = [
    "ExistsPolicy",
    "GenerationPolicy",
    "PartitionCursor",
    "PartitionsDone",
    "RecordSink",
    "RecordSource",
    "ScanItem",
    "ScanRequest",
    "WritePolicy",
    "TTL_NEVER_EXPIRE",
]

#: TTL value meaning "never expire" on the wire (0xFFFFFFFF as u32).
TTL_NEVER_EXPIRE = -1


@dataclass(frozen=True, slots=True)
class PartitionCursor:
    """One partition to scan, resuming after ``after_digest`` when it is given."""

    partition: int
    after_digest: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRequest:
    """One partition scan. Records come back as RecordBatch items, partition by partition.

    ``modified_after_ns``/``modified_before_ns`` (nanoseconds since the Unix epoch, last-update
    time) and ``no_ttl_only`` are turned into a filter expression by the source and ANDed with
    ``filter_expression`` (packed expression bytes, e.g. base64-decoded ``asbackup -f``).
    ``node`` restricts the scan to partitions that node owns (node-list backups).
    """

    namespace: str
    partitions: tuple[PartitionCursor, ...]
    set_names: tuple[str, ...] = ()
    bin_names: tuple[str, ...] = ()
    no_bins: bool = False
    max_records: int = 0  # 0: no limit
    records_per_second: int = 0  # server-side throttle; 0: none
    filter_expression: bytes | None = None
    modified_after_ns: int | None = None
    modified_before_ns: int | None = None
    no_ttl_only: bool = False
    node: str | None = None
    socket_timeout_ms: int = 10000
    total_timeout_ms: int = 0
    max_retries: int = 5
    sleep_between_retries_ms: int = 0


@dataclass(frozen=True, slots=True)
class PartitionsDone:
    """These partitions are complete: every record of them has been yielded before this item."""

    partitions: tuple[int, ...]


ScanItem = RecordBatch | PartitionsDone


class ExistsPolicy(enum.Enum):
    UPDATE = "update"  # create or update bins (asrestore default)
    CREATE_ONLY = "create_only"  # fail (counted as existed) when the record exists (--unique)
    REPLACE = "replace"  # create or replace all bins (--replace)


class GenerationPolicy(enum.Enum):
    GT = "gt"  # write only if the record's generation in the backup is newer (default)
    IGNORE = "ignore"  # write regardless (--no-generation)


@dataclass(frozen=True, slots=True, kw_only=True)
class WritePolicy:
    """How a RecordSink writes. The user key is sent only for records that carry one."""

    exists: ExistsPolicy = ExistsPolicy.UPDATE
    generation: GenerationPolicy = GenerationPolicy.GT
    use_batch: bool = True
    socket_timeout_ms: int = 10000
    total_timeout_ms: int = 0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@runtime_checkable
class RecordSource(Protocol):
    """Where backups read from."""

    def scan(self, request: ScanRequest) -> Iterator[ScanItem]:
        """Yield batches and completion markers; transient failures are retried inside, per partition."""
        ...

    def sindexes(self, namespace: str) -> list[SIndex]: ...

    def udfs(self) -> list[UDF]: ...


@runtime_checkable
class RecordSink(Protocol):
    """Where restores write to."""

    def write(self, batch: RecordBatch, ttls: Sequence[int], policy: WritePolicy) -> list[int]:
        """Write every record of ``batch`` (TTL per record, -1 never expires) to ``batch.namespace``.

        Returns the server result code per record (0 written, 3 generation: newer exists,
        5 exists, ...). Transient codes are retried per ``policy.retry`` before being returned.
        """
        ...

    def create_sindex(self, index: SIndex) -> None: ...

    def put_udf(self, udf: UDF) -> None: ...
