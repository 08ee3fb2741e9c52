"""The backup pipeline: cluster -> partition tasks -> encoder -> transforms -> storage.

``start_backup`` checks the destination, reads metadata, plans partition-range tasks (or node
tasks) and runs them on an executor; each task scans its partitions, encodes each RecordBatch
and writes its own files (``<prefix or namespace>_<NNNNN><suffix>`` numbered from one
counter, as C asbackup names them), rotating at the file-size limit. The first task's first
file carries ``# first-file``, the sindexes and the UDFs. In single-file mode every task writes
into one shared file. A file appears under its final name only when complete (the storage's
atomic ``open_write``); with a state file, progress is recorded around each publish (see
``aerobackup.state``) so ``continue_from`` finishes the backup with every record exactly once.
"""

from __future__ import annotations

import base64
import io
import logging
import multiprocessing
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, BinaryIO, cast

from .config import BackupConfig, ClusterConfig
from .datapath import PartitionCursor, PartitionsDone, RecordSource, ScanRequest
from .distributed import check_backup_config, is_distributed, merge_task_journals, run_backup_distributed
from .errors import AerobackupError, ClusterError, ConfigError, JobCancelled, StorageError
from .jobs import BackupStats, Counters, JobControl
from .model import UDF, RecordBatch, SIndex
from .protocols import Encoder, EncoderOptions, StorageBackend, StorageURL, Transform
from .ratelimit import Throttle
from .runtime import Runtime
from .state import DONE, BackupState, StateStore, load_state
from .storage import check_file_limit, exists, prepare_backup_location
from .tasks import (
    BackupTask,
    build_transforms,
    plan_partitions,
    run_tasks,
    split_ranges,
    with_info_retry,
    wrap_writer,
)

__all__ = [
    "BackupCoordinator",
    "OpenFile",
    "TaskEnv",
    "file_name",
    "list_nodes",
    "make_backup_runner",
    "run_backup_task",
    "scan_request",
    "slice_batch",
]

log = logging.getLogger("aerobackup.backup")


def file_name(prefix: str, number: int, suffix: str) -> str:
    """C asbackup's naming: ``<prefix>_%05d<suffix>`` (more digits past 99999)."""
    return f"{prefix}_{number:05d}{suffix}"


def slice_batch(batch: RecordBatch, lo: int, hi: int) -> RecordBatch:
    """Records ``lo..hi-1`` of a batch, sharing its buffer (no particle bytes are copied)."""
    if lo == 0 and hi >= len(batch):
        return batch
    b0, b1 = batch.bin_index[lo], batch.bin_index[hi]
    return RecordBatch(
        batch.namespace,
        batch.buffer,
        batch.sets[lo:hi],
        batch.digests[lo:hi],
        batch.keys[lo:hi],
        batch.generations[lo:hi],
        batch.void_times[lo:hi],
        [x - b0 for x in batch.bin_index[lo : hi + 1]],
        batch.bin_names[b0:b1],
        batch.bin_types[b0:b1],
        batch.bin_starts[b0:b1],
        batch.bin_ends[b0:b1],
    )


# --- writing one file -------------------------------------------------------------------------


class _CountingSink(io.RawIOBase):
    """Counts the bytes that reach the storage; closing it does not close the storage stream
    (the storage publishes on leaving its ``with`` block)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw = raw
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = len(data)
        self.raw.write(data)
        self.count += n
        return n

    def flush(self) -> None:
        if not self.closed:
            self.raw.flush()

    def close(self) -> None:
        if not self.closed:
            self.raw.flush()
        super().close()


class OpenFile:
    """One backup file being written through the transforms into the storage."""

    def __init__(self, storage: StorageBackend, name: str, transforms: Sequence[Transform]) -> None:
        self.name = name
        self._cm = storage.open_write(name)
        raw = self._cm.__enter__()
        self._sink = _CountingSink(raw)
        self._out = wrap_writer(cast(BinaryIO, self._sink), transforms)
        self.raw_bytes = 0
        self.records = 0
        self.lock = threading.Lock()

    @property
    def stored(self) -> int:
        return self._sink.count

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self.raw_bytes += len(data)

    def finish(self) -> None:
        """Flush the transforms' framing (the file is not yet published)."""
        self._out.close()
        if not self._sink.closed:
            self._sink.close()

    def publish(self) -> None:
        self._cm.__exit__(None, None, None)

    def abort(self, exc: BaseException | None = None) -> None:
        err = exc if exc is not None else JobCancelled("aborted")
        try:
            self._cm.__exit__(type(err), err, err.__traceback__)
        except BaseException:  # the abort itself failed: nothing more we can do here
            log.debug("abort of %s failed", self.name, exc_info=True)


# --- the coordinator: everything tasks share ---------------------------------------------------


class BackupCoordinator:
    """Shared by the tasks of one backup: file numbers, state, stats, limits, metadata."""

    def __init__(
        self,
        *,
        config: BackupConfig,
        prefix: str,
        suffix: str,
        store: StateStore,
        sindexes: list[SIndex],
        udfs: list[UDF],
        throttle_rps: int,
        throttle_bw: int,
    ) -> None:
        self.config = config
        self.prefix = prefix
        self.suffix = suffix
        self.store = store
        self.sindexes_list = sindexes
        self.udfs_list = udfs
        self.counters = Counters(BackupStats)
        self.cancel_event = threading.Event()
        self.throttle_ = Throttle(throttle_rps, throttle_bw, self.cancel_event)
        self._lock = threading.Lock()
        self._budget = config.max_records if config.max_records > 0 else -1
        self._done: set[int] = set()
        self.published: list[str] = []
        self.single: OpenFile | None = None

    # -- called by tasks (also through a manager proxy) --
    def next_name(self) -> str:
        return file_name(self.prefix, self.store.next_file_number(), self.suffix)

    def metadata(self) -> tuple[list[SIndex], list[UDF]]:
        return self.sindexes_list, self.udfs_list

    def prepare(self, name: str, progress: Mapping[int, str], first: bool) -> None:
        self.store.prepare(name, progress, first)

    def confirm(self, name: str, progress: Mapping[int, str]) -> None:
        self.store.confirm(name)
        with self._lock:
            self.published.append(name)
        self.counters.file_written(name)
        self._mark(progress)

    def abandon(self, name: str) -> None:
        self.store.abandon(name)

    def progress_only(self, progress: Mapping[int, str]) -> None:
        self.store.progress_only(progress)
        self._mark(progress)

    def _mark(self, progress: Mapping[int, str]) -> None:
        done = [p for p, v in progress.items() if v == DONE]
        if done:
            with self._lock:
                self._done.update(done)
                n = len(self._done)
            self.counters.set(partitions_done=n)

    def add(self, deltas: Mapping[str, int]) -> bool:
        """Add to the stats; returns True when the job is cancelled."""
        self.counters.add_many(deltas)
        return self.cancel_event.is_set()

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def take(self, n: int) -> int:
        """How many of ``n`` records may still be written under max_records."""
        if self._budget < 0:
            return n
        with self._lock:
            allowed = min(n, self._budget)
            self._budget -= allowed
            return allowed

    def throttle(self, records: int, nbytes: int) -> None:
        self.throttle_.acquire(records, nbytes)

    def write_single(self, data: bytes, records: int) -> None:
        assert self.single is not None
        with self.single.lock:
            self.single.write(data)
            self.single.records += records
        self.counters.add(bytes_raw=len(data))


# --- the task ---------------------------------------------------------------------------------


@dataclass(slots=True)
class TaskEnv:
    """What a task needs to run: built once per job (threads) or per worker process."""

    source: Any  # a RecordSource, or a ClusterConfig to connect from a worker process
    storage: StorageBackend
    encoder: Encoder
    transforms: list[Transform]

    def connect(self) -> tuple[RecordSource, bool]:
        if isinstance(self.source, ClusterConfig):
            from .cluster import Cluster  # noqa: PLC0415 - only worker processes connect here

            return cast(RecordSource, Cluster.connect(self.source)), True
        return cast(RecordSource, self.source), False


def scan_request(config: BackupConfig, cursors: tuple[PartitionCursor, ...], node: str | None) -> ScanRequest:
    def ns(d: Any) -> int | None:
        return None if d is None else int(d.timestamp() * 1_000_000_000)

    return ScanRequest(
        namespace=config.namespace,
        partitions=cursors,
        set_names=config.set_list,
        bin_names=config.bin_list,
        no_bins=config.no_bins,
        filter_expression=None if config.filter_expression is None else base64.b64decode(config.filter_expression),
        modified_after_ns=ns(config.modified_after),
        modified_before_ns=ns(config.modified_before),
        no_ttl_only=config.no_ttl_only,
        node=node,
        socket_timeout_ms=config.socket_timeout_ms,
        total_timeout_ms=config.total_timeout_ms,
        max_retries=config.max_retries,
        sleep_between_retries_ms=config.sleep_between_retries_ms,
    )


def run_backup_task(task: BackupTask, coord: BackupCoordinator, env: TaskEnv) -> int:
    """Scan the task's partitions and write its files. Returns the records written."""
    source, owned = env.connect()
    try:
        return _TaskRun(task, coord, env, source).run()
    finally:
        if owned:
            close = getattr(source, "close", None)
            if close is not None:
                close()


class _TaskRun:
    def __init__(self, task: BackupTask, coord: BackupCoordinator, env: TaskEnv, source: RecordSource) -> None:
        self.task = task
        self._pending_stats: dict[str, int] = {"records_read": 0, "records_written": 0, "bytes_raw": 0,
                                               "records_skipped": 0}
        self.coord = coord
        self.env = env
        self.source = source
        self.config: BackupConfig = coord.config
        self.single = self.config.output_file is not None
        self.track = bool(self.config.state_file) or self.config.continue_from is not None
        self.limit = 0 if self.single else self.config.file_limit
        self.file: OpenFile | None = None
        self.progress: dict[int, str] = {}  # progress inside the open file
        self.loose: dict[int, str] = {}  # progress with no open file (safe to commit)
        self.first_pending = task.first
        self._is_first = False
        self.written = 0
        self._seen_records = 0  # encoded so far: the average record size predicts rotations
        self._seen_bytes = 0

    def run(self) -> int:
        try:
            if self.first_pending and not self.single:
                self._open()
            if self.task.cursors:
                self._scan()
            else:
                self._flush_stats()
            if self.file is not None:
                self._close()
            elif self.loose:
                self.coord.progress_only(self.loose)
                self.loose = {}
        except BaseException as exc:
            if self.file is not None:
                self.file.abort(exc)
                self.file = None
            raise
        return self.written

    # -- files --
    def _open(self) -> None:
        name = self.coord.next_name()
        f = OpenFile(self.env.storage, name, self.env.transforms)
        self.file = f
        first = self.first_pending
        head = self.env.encoder.header(self.config.namespace, first)
        if first:
            sindexes, udfs = self.coord.metadata()
            head += self.env.encoder.metadata(sindexes, udfs)
            self.first_pending = False
        f.write(head)
        self._pending_stats["bytes_raw"] += len(head)
        self._is_first = first
        self.progress = dict(self.loose)
        self.loose = {}

    def _close(self) -> None:
        f = self.file
        assert f is not None
        self.file = None
        f.finish()
        self.coord.prepare(f.name, self.progress, self._is_first)
        try:
            f.publish()
        except BaseException:
            self.coord.abandon(f.name)
            raise
        self._flush_stats(bytes_written=f.stored)
        self.coord.confirm(f.name, self.progress)
        self.progress = {}

    # -- scanning --
    def _scan(self) -> None:
        task, coord, enc = self.task, self.coord, self.env.encoder
        request = scan_request(self.config, task.cursors, task.node)
        throttle = self.config.records_per_second > 0 or self.config.bandwidth > 0
        capped = self.config.max_records > 0
        # optional encoder capability: bytes plus each record's length, to rotate files by
        # splitting one encoded batch (see _write_split)
        sized: Callable[[RecordBatch], tuple[bytes, list[int]]] | None = (
            getattr(enc, "encode_with_sizes", None) if self.limit else None)
        stopped = False
        for item in self.source.scan(request):
            if isinstance(item, PartitionsDone):
                target = self.progress if self.file is not None else self.loose
                for pid in item.partitions:
                    target[pid] = DONE
                if self.file is None and self.loose and self.track:
                    coord.progress_only(self.loose)
                    self.loose = {}
                continue
            n = len(item)
            if n == 0:
                continue
            self._pending_stats["records_read"] += n
            if capped:
                allowed = coord.take(n)
                if allowed < n:
                    self._pending_stats["records_skipped"] += n - allowed
                    item = slice_batch(item, 0, allowed)
                    stopped = True
                    n = allowed
            if n:
                sizes: list[int] | None = None
                if sized is not None and self._near_limit(n):
                    data, sizes = sized(item)
                else:
                    data = enc.encode(item)
                self._seen_records += n
                self._seen_bytes += len(data)
                if throttle:
                    coord.throttle(n, len(data))
                self._write(item, data, sizes)
            if self._flush_stats():
                raise JobCancelled("backup cancelled")
            if stopped:
                break
        if not stopped:
            target = self.progress if self.file is not None else self.loose
            for c in task.cursors:
                if task.node is None:
                    target[c.partition] = DONE

    def _near_limit(self, n: int) -> bool:
        """Whether ``n`` more records may reach the file limit (then the batch is encoded with
        its record sizes up front, saving a second encoding in ``_write``)."""
        stored = self.file.stored if self.file is not None else 0
        if not self._seen_records:
            return stored + n * 1024 >= self.limit
        return stored + n * self._seen_bytes * 3 // (2 * self._seen_records) >= self.limit

    def _write(self, batch: RecordBatch, data: bytes, sizes: list[int] | None = None) -> None:
        if self.single:
            self.coord.write_single(data, len(batch))
            self._pending_stats["records_written"] += len(batch)
            self.written += len(batch)
            return
        if self.file is None:
            self._open()
        f = self.file
        assert f is not None
        if not self.limit or f.stored + len(data) < self.limit:
            f.write(data)
            self._account(batch, 0, len(batch), len(data))
            return
        if sizes is None:
            sized = getattr(self.env.encoder, "encode_with_sizes", None)
            if sized is None:
                self._write_each(batch)
                return
            data, sizes = sized(batch)
        if len(sizes) != len(batch) or sum(sizes) != len(data):  # a faulty plugin: the safe path
            log.warning("encoder %s: encode_with_sizes lengths do not match its bytes",
                        type(self.env.encoder).__name__)
            self._write_each(batch)
            return
        self._write_split(batch, data, sizes)

    def _write_split(self, batch: RecordBatch, data: bytes, sizes: list[int]) -> None:
        """Near the limit: rotate before the record that finds the file full, as asbackup does
        (asb-format.md §2.1), cutting the encoded batch at record boundaries.

        Without transforms the stored size is the bytes written, so the records up to the one
        that reaches the limit go in one write; with transforms the stored size moves with
        their buffering, so it is checked after every record, as asbackup does."""
        limit = self.limit
        plain = not self.env.transforms
        ends = list(accumulate(sizes))  # ends[k]: offset just past record k
        n = len(batch)
        f = self.file
        assert f is not None
        i = pos = 0
        seg_lo = seg_pos = 0  # first record and offset of the open file's share of the batch
        while i < n:
            if f.stored >= limit:
                if i > seg_lo:
                    self._account(batch, seg_lo, i, pos - seg_pos)
                seg_lo, seg_pos = i, pos
                self._close()
                self._open()
                f = self.file
                assert f is not None
            j = min(bisect_left(ends, pos + limit - f.stored, i) + 1, n) if plain else i + 1
            end = ends[j - 1]
            f.write(data[pos:end])
            i, pos = j, end
        if i > seg_lo:
            self._account(batch, seg_lo, i, pos - seg_pos)

    def _write_each(self, batch: RecordBatch) -> None:
        """``_write_split`` for an encoder without ``encode_with_sizes``: one record at a time."""
        enc = self.env.encoder
        for i in range(len(batch)):
            f = self.file
            assert f is not None
            if f.stored >= self.limit:
                self._close()
                self._open()
                f = self.file
                assert f is not None
            one = enc.encode(slice_batch(batch, i, i + 1))
            f.write(one)
            self._account(batch, i, i + 1, len(one))

    def _account(self, batch: RecordBatch, lo: int, hi: int, nbytes: int) -> None:
        st = self._pending_stats
        st["records_written"] += hi - lo
        st["bytes_raw"] += nbytes
        self.written += hi - lo
        if self.track:
            prog = self.progress
            digests = batch.digests
            last: dict[int, bytes] = {}
            for i in range(lo, hi):
                d = digests[i]
                last[(d[0] | (d[1] << 8)) & 4095] = d
            for pid, d in last.items():
                if prog.get(pid) != DONE:
                    prog[pid] = base64.b64encode(d).decode()

    def _flush_stats(self, bytes_written: int = 0) -> bool:
        st = self._pending_stats
        deltas = {k: v for k, v in st.items() if v}
        if bytes_written:
            deltas["bytes_written"] = bytes_written
        for k in st:
            st[k] = 0
        return bool(self.coord.add(deltas))


# --- the job ---------------------------------------------------------------------------------


def _check_destination(storage: StorageBackend, config: BackupConfig, suffix: str, where: str) -> None:
    if config.continue_from is not None:
        return
    if config.output_file is not None:
        name = config.output_file
        if name != "-" and exists(storage, name):
            if not config.remove_files:
                raise StorageError(f"{where}: output file {name!r} already exists; use remove_files to overwrite it")
            storage.remove(name)
        return
    check_file_limit(storage, config.file_limit, location=where)
    prepare_backup_location(storage, remove_files=config.remove_files, suffixes=(suffix,), location=where,
                            extra_names=(config.state_file,) if config.state_file else ())


def _check_source(source: RecordSource, config: BackupConfig) -> None:
    """Unknown namespace or set: one clear error before any file is written (when the source can
    tell: ``namespaces()`` and the ``sets/<ns>`` info answer)."""
    namespaces = getattr(source, "namespaces", None)
    if namespaces is not None:
        def listed() -> list[str]:
            names = list(namespaces())
            if not names:  # a cluster always has a namespace: the answer was an error
                raise ClusterError("the cluster listed no namespaces")
            return names

        known = with_info_retry(listed, config.info_retry)
        if config.namespace not in known:
            raise ClusterError(f"namespace {config.namespace!r} not found in the cluster "
                               f"(namespaces: {', '.join(known) or 'none'})", code=20)
    info = getattr(source, "info", None)
    if config.set_list and info is not None:
        answer = str(with_info_retry(lambda: info(f"sets/{config.namespace}"), config.info_retry))
        sets = {kv.partition("=")[2] for part in answer.split(";") for kv in part.split(":")
                if kv.startswith("set=")}
        for name in config.set_list:
            if name and name not in sets:
                raise ClusterError(f"set {name!r} not found in namespace {config.namespace!r} "
                                   f"(sets: {', '.join(sorted(sets)) or 'none'})")


def _node_names(source: RecordSource, config: BackupConfig) -> list[str]:
    """Node names for node tasks: ``node_list`` addresses resolved by the source, or all nodes."""
    if config.node_list:
        resolve = getattr(source, "node_for_address", None)
        return [str(resolve(a).name) if resolve is not None else a for a in config.node_list]
    nodes = list_nodes(source)
    if nodes is None:
        raise ConfigError("backup.parallel_nodes", "this record source cannot list its nodes")
    return [str(getattr(n, "name", n)) for n in nodes]


def list_nodes(source: object) -> list[Any] | None:
    """The source's nodes (a ``nodes`` property or method), or None when it has none."""
    nodes = getattr(source, "nodes", None)
    if nodes is None:
        return None
    return list(nodes() if callable(nodes) else nodes)


def _metadata(source: RecordSource, config: BackupConfig) -> tuple[list[SIndex], list[UDF]]:
    retry = config.info_retry
    sindexes: list[SIndex] = [] if config.no_indexes else list(
        with_info_retry(lambda: source.sindexes(config.namespace), retry))
    if config.set_list and sindexes:  # as asbackup: indexes of other sets (and set-less ones) are left out
        sindexes = [s for s in sindexes if s.set and s.set in config.set_list]
    udfs: list[UDF] = [] if config.no_udfs else list(with_info_retry(source.udfs, retry))
    return sindexes, udfs


def _fingerprint(config: BackupConfig) -> dict[str, Any]:
    return {"namespace": config.namespace, "set_list": list(config.set_list), "bin_list": list(config.bin_list)}


def make_backup_runner(
    *,
    rt: Runtime,
    source: RecordSource,
    source_spec: Any,
    storage: StorageBackend,
    where: str,
    config: BackupConfig,
    storage_spec: str | StorageURL | None = None,
) -> Any:
    """Prepare a backup (checks that need no waiting happen here, so errors surface at once)
    and return the function the job thread runs. ``storage_spec`` (the destination's path or URL)
    lets a distributed executor's workers open the storage by name."""
    if config.output_file is not None and config.state_file is not None:
        raise ConfigError("backup.state_file", "needs directory output, not output_file")
    distributed = is_distributed(config.executor)
    if distributed:
        check_backup_config(config, source_spec, storage_spec)
    suffix = rt.codec_suffix(config.encoder)
    encoder = rt.encoder(config.encoder, EncoderOptions(compact=config.compact))
    transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "backup")
    prefix = config.output_file_prefix or config.namespace

    _check_source(source, config)  # before the job starts: errors surface at once
    _check_destination(storage, config, suffix, where)

    def run(control: JobControl) -> None:
        resumed: BackupState | None = None
        if config.continue_from is not None:
            resumed = load_state(storage, config.continue_from)
            merge_task_journals(storage, config.continue_from, resumed)  # left by a distributed run
            if resumed.namespace != config.namespace:
                raise ConfigError("backup.continue_from",
                                  f"state file is for namespace {resumed.namespace!r}, not {config.namespace!r}")
        sindexes: list[SIndex] = []
        udfs: list[UDF] = []
        if resumed is not None and resumed.first_file_done:
            pass
        else:
            sindexes, udfs = _metadata(source, config)

        # Plan: partition groups -> tasks.
        tasks: list[BackupTask] = []
        if resumed is not None:
            state = resumed
            remaining = state.remaining()
            groups = [remaining] if remaining else []
        else:
            groups = [] if config.no_records else plan_partitions(config.partition_filters, config.after_digest)
            scope = [(c.partition, None if c.after_digest is None else base64.b64encode(c.after_digest).decode())
                     for g in groups for c in g]
            state = BackupState(namespace=config.namespace, scope=scope, fingerprint=_fingerprint(config))
        total_partitions = sum(len(g) for g in groups)
        nodes: list[str] = []
        if (config.node_list or config.parallel_nodes) and groups:
            nodes = _node_names(source, config)
            cursors = tuple(c for g in groups for c in g)
            tasks = [BackupTask(i, cursors, node=n) for i, n in enumerate(nodes)]
        else:
            n_ranges = max(config.parallel_read, config.parallel_write)
            for g in groups:
                digest_group = g[0].after_digest is not None and len(g) == 1
                parts = [tuple(g)] if digest_group else split_ranges(g, max(1, n_ranges // max(1, len(groups))))
                for part in parts:
                    tasks.append(BackupTask(len(tasks), part))
        need_first = not (resumed is not None and resumed.first_file_done)
        if need_first:
            if tasks:
                tasks[0] = BackupTask(0, tasks[0].cursors, tasks[0].node, first=True)
            else:
                tasks = [BackupTask(0, (), None, first=True)]

        persistent = config.state_file or config.continue_from
        store = StateStore(state, storage if persistent else None, config.state_file or config.continue_from)
        store.save()  # a run that fails before its first file still leaves a state to continue from
        coord = BackupCoordinator(config=config, prefix=prefix, suffix=suffix, store=store, sindexes=sindexes,
                                  udfs=udfs, throttle_rps=config.records_per_second, throttle_bw=config.bandwidth)
        coord.cancel_event = control.cancel_event
        coord.throttle_ = Throttle(config.records_per_second, config.bandwidth, control.cancel_event)
        coord.counters = control.counters
        control.counters.set(partitions_total=total_partitions, sindexes=len(sindexes), udfs=len(udfs),
                             partitions_done=store.done_count())
        if need_first and config.output_file is None:
            _write_expression_metadata(storage, encoder, transforms, config, sindexes, suffix, control)
        env = TaskEnv(source, storage, encoder, transforms)
        workers = len(nodes) if nodes else config.parallel_read
        try:
            if config.output_file is not None:
                coord.single = OpenFile(storage, config.output_file, transforms)
                head = encoder.header(config.namespace, True) + encoder.metadata(sindexes, udfs)
                coord.single.write(head)
                control.counters.add(bytes_raw=len(head))
                tasks = [BackupTask(t.index, t.cursors, t.node, first=False) for t in tasks]
                run_tasks(run_backup_task, tasks, workers=workers, executor="threads",
                          cancel=control.cancel_event, args=(coord, env))
                single = coord.single
                coord.single = None
                single.finish()
                single.publish()
                control.counters.add(bytes_written=single.stored)
                control.counters.file_written(single.name)
            elif distributed:
                assert storage_spec is not None  # check_backup_config
                run_backup_distributed(tasks, coord, storage, storage_spec, source_spec, control)
            elif config.executor == "processes":
                _run_in_processes(tasks, coord, env, source_spec, workers, control)
            else:
                run_tasks(run_backup_task, tasks, workers=workers, executor="threads",
                          cancel=control.cancel_event, args=(coord, env))
            # every task ran to its end: the backup is complete even if a cancel came late
        except BaseException as exc:
            if coord.single is not None:
                coord.single.abort(exc)
            _after_failure(exc, coord, storage, where, config)
            raise
        store.save()

    return run


def _write_expression_metadata(storage: StorageBackend, encoder: Any, transforms: Sequence[Transform],
                               config: BackupConfig, sindexes: list[SIndex], suffix: str,
                               control: JobControl) -> None:
    """Expression indexes go to a file of their own (``metadata_<ns>_1.asb``, version 3.2, as
    backup-go writes them), so the data files stay readable by C asrestore (asb-format §5.3).
    The codec decides the bytes; a codec without the capability writes nothing."""
    make = getattr(encoder, "expression_metadata", None)
    data = make(config.namespace, sindexes) if make is not None else b""
    if not data:
        return
    name = f"metadata_{config.namespace}_1{suffix}"
    out = OpenFile(storage, name, transforms)
    try:
        out.write(data)
        out.finish()
    except BaseException as exc:
        out.abort(exc)
        raise
    out.publish()
    control.counters.add(bytes_raw=len(data), bytes_written=out.stored)
    control.counters.file_written(name)


def _run_in_processes(tasks: list[BackupTask], coord: BackupCoordinator, env: TaskEnv, source_spec: Any,
                      workers: int, control: JobControl) -> None:
    """Serve the coordinator from a manager and run the tasks in worker processes."""
    ctx = multiprocessing.get_context("spawn")
    with _ProcessCoordinator(coord, ctx) as proxy:
        worker_env = TaskEnv(source_spec, env.storage, env.encoder, env.transforms)
        run_tasks(_process_task, tasks, workers=workers, executor="processes", cancel=control.cancel_event,
                  args=(proxy, worker_env))


class _ProcessCoordinator:
    """A thread-served view of the coordinator for worker processes (multiprocessing Listener)."""

    def __init__(self, coord: BackupCoordinator, ctx: Any) -> None:
        from multiprocessing.connection import Listener

        self.coord = coord
        self.listener = Listener(("127.0.0.1", 0), authkey=multiprocessing.current_process().authkey)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def __enter__(self) -> _CoordinatorClient:
        threading.Thread(target=self._accept, daemon=True, name="aerobackup-coord").start()
        return _CoordinatorClient(self.listener.address, bytes(multiprocessing.current_process().authkey),
                                  self.coord.config)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: Any) -> None:
        allowed = {"next_name", "metadata", "prepare", "confirm", "abandon", "progress_only", "add", "cancelled",
                   "take", "throttle"}
        with conn:
            while True:
                try:
                    method, args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    if method not in allowed:
                        raise AerobackupError(f"unknown coordinator call {method}")
                    conn.send((True, getattr(self.coord, method)(*args)))
                except BaseException as exc:  # sent back to the worker, raised there
                    conn.send((False, exc))


class _CoordinatorClient:
    """The worker side: forwards calls to the coordinator over one connection per process."""

    def __init__(self, address: Any, authkey: bytes, config: BackupConfig) -> None:
        self.address = address
        self.authkey = authkey
        self.config = config
        self._conn: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"address": self.address, "authkey": self.authkey, "config": self.config, "_conn": None}

    def _call(self, method: str, *args: Any) -> Any:
        if self._conn is None:
            from multiprocessing.connection import Client as _Conn

            self._conn = _Conn(self.address, authkey=self.authkey)
        self._conn.send((method, args))
        ok, value = self._conn.recv()
        if not ok:
            raise value
        return value

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args: self._call(method, *args)


def _process_task(task: BackupTask, coord: Any, env: TaskEnv) -> int:
    return run_backup_task(task, coord, env)


def _after_failure(exc: BaseException, coord: BackupCoordinator, storage: StorageBackend, where: str,
                   config: BackupConfig) -> None:
    """Leave nothing that looks like a complete backup, and say which files were written."""
    files = sorted(coord.published)
    if not files:
        return
    if config.state_file or config.continue_from:
        note = (f"{len(files)} file(s) of the incomplete backup kept in {where} ({', '.join(files)}); "
                f"finish it with continue_from={config.state_file or config.continue_from!r}")
    else:
        removed = []
        for name in files:
            try:
                storage.remove(name)
                removed.append(name)
            except (OSError, AerobackupError):
                log.warning("could not remove incomplete backup file %s", name)
        kept = sorted(set(files) - set(removed))
        note = f"removed {len(removed)} file(s) of the incomplete backup from {where}"
        if kept:
            note += f"; could not remove (incomplete): {', '.join(kept)}"
    log.warning("%s", note)
    exc.partial_files = files  # type: ignore[attr-defined]
    if hasattr(exc, "add_note"):
        exc.add_note(note)

