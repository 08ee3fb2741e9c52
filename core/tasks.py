"""Partition-range tasks and the executors that run them.

A task is plain picklable data (which partitions, from which digest, on which node, whether it
writes the first file); the pipelines turn a config into tasks and hand them to an executor:
threads by default (sockets, zstd and AES release the GIL), or worker processes when one core
is not enough. Both run the same task function and report through the same coordinator
interface; in process mode the coordinator lives in a manager process and tasks call it by
proxy (one call per batch at most).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from .config import PARTITIONS, CompressionPolicy, EncryptionPolicy, PartitionFilter, RetryPolicy, SecretAgentConfig
from .datapath import PartitionCursor
from .errors import ClusterError, ConfigError, JobCancelled
from .keys import load_aes_key
from .protocols import Transform, TransformOptions
from .runtime import Runtime
from .transforms_chain import open_backup_reader, open_backup_writer
from .wire.protocol import TRANSIENT_RESULTS

__all__ = [
    "BackupTask",
    "build_transforms",
    "plan_partitions",
    "run_tasks",
    "split_ranges",
    "with_info_retry",
    "wrap_reader",
    "wrap_writer",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BackupTask:
    """One unit of backup work: these partitions (or one node's share of them)."""

    index: int
    cursors: tuple[PartitionCursor, ...]
    node: str | None = None
    first: bool = False  # writes the first file: `# first-file`, sindexes, UDFs

    @property
    def partitions(self) -> tuple[int, ...]:
        return tuple(c.partition for c in self.cursors)


def plan_partitions(filters: Sequence[PartitionFilter], after_digest: str | None) -> list[list[PartitionCursor]]:
    """The job's partitions as groups that must each stay one task (a filter with a digest)
    or may be split (a plain range). Returns ``[[cursor, ...], ...]``."""
    if after_digest is not None:
        filters = (PartitionFilter.after_digest(after_digest),)
    if not filters:
        filters = (PartitionFilter.all(),)
    groups: list[list[PartitionCursor]] = []
    seen: set[int] = set()
    for f in filters:
        digest = f.digest_bytes
        cursors = []
        for pid in f.partitions():
            if pid in seen:
                continue
            seen.add(pid)
            cursors.append(PartitionCursor(pid, digest if pid == f.begin else None))
        if cursors:
            groups.append(cursors)
    return groups


def split_ranges(cursors: Sequence[PartitionCursor], n: int) -> list[tuple[PartitionCursor, ...]]:
    """Split cursors into at most ``n`` contiguous, nearly equal, non-empty ranges."""
    n = max(1, min(n, len(cursors)))
    size, extra = divmod(len(cursors), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(tuple(cursors[start:end]))
        start = end
    return [r for r in out if r]


assert PARTITIONS == 4096


# --- transforms ------------------------------------------------------------------------------


def build_transforms(
    rt: Runtime,
    compression: CompressionPolicy,
    encryption: EncryptionPolicy,
    secret_agent: SecretAgentConfig | None,
    prefix: str,
) -> list[Transform]:
    """Transforms in write order (zstd, then AES), the AES key loaded through the key sources."""
    out: list[Transform] = []
    if compression.enabled:
        out.append(rt.transform(compression.mode, TransformOptions(level=compression.level or 3)))
    if encryption.enabled:
        key = load_aes_key(encryption, rt, secret_agent=secret_agent)
        if key is None:  # pragma: no cover - EncryptionPolicy validates this
            raise ConfigError(f"{prefix}.encryption.key_file", "no key source")
        out.append(rt.transform(encryption.mode, TransformOptions(key=key)))
    return out


def wrap_writer(raw: BinaryIO, transforms: Sequence[Transform]) -> BinaryIO:
    """codec -> zstd -> AES -> raw (``transforms`` in write order)."""
    return open_backup_writer(raw, transforms)


def wrap_reader(raw: BinaryIO, transforms: Sequence[Transform], name: str) -> BinaryIO:
    """raw -> AES -> zstd -> codec, with the first decoded bytes checked so that a wrong key
    or a missing/extra compression is reported as such, naming the file."""
    return open_backup_reader(raw, transforms, name)


# --- info retries -----------------------------------------------------------------------------


def with_info_retry(call: Callable[[], R], policy: RetryPolicy, cancel: threading.Event | None = None) -> R:
    """Run an info call (metadata, sindex/UDF creation), retrying a transient ClusterError (no
    code, or a transient result code) with ``policy``'s back-off (backup-go's InfoRetryPolicy)."""
    attempt = 0
    while True:
        try:
            return call()
        except ClusterError as exc:
            transient = exc.code is None or exc.code in TRANSIENT_RESULTS
            if not transient or attempt >= policy.max_retries or (cancel is not None and cancel.is_set()):
                raise
            time.sleep(policy.delay(attempt))
            attempt += 1


# --- executors -------------------------------------------------------------------------------


def run_tasks(
    fn: Callable[..., R],
    tasks: Iterable[T],
    *,
    workers: int,
    executor: str,
    cancel: threading.Event,
    args: tuple[Any, ...] = (),
) -> list[R]:
    """Run ``fn(task, *args)`` for every task on threads or processes; stop at the first error.

    On an error (or a cancel) the remaining tasks are not started, running ones are asked to stop
    through ``cancel``, and the first error is raised once all have ended.
    """
    task_list = list(tasks)
    if not task_list:
        return []
    pool: ThreadPoolExecutor | ProcessPoolExecutor
    if executor == "processes":
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aerobackup-task")
    results: list[R] = []
    with pool:
        futures: list[Future[R]] = [pool.submit(fn, t, *args) for t in task_list]
        pending = set(futures)
        error: BaseException | None = None
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for fut in done:
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is not None and error is None:
                    error = exc
            if error is not None or cancel.is_set():
                cancel.set()
                for fut in pending:
                    fut.cancel()
        skipped = 0
        for fut in futures:
            if fut.cancelled():
                skipped += 1
            elif fut.exception() is None:
                results.append(fut.result())
        if error is not None:
            raise error
        if skipped:
            raise JobCancelled(f"cancelled with {skipped} of {len(futures)} tasks not started")
    return results
