"""The restore pipeline: storage -> transforms (reversed) -> decoder -> filters -> batch writes.

Input is a directory (every file with the codec's suffix, in name order), a list of them, a
single file, or ``-`` (stdin through the stdio storage). ``parallel`` reader threads each take
whole files, as asrestore does; each decoded RecordBatch is checked against the namespace
mapping (a record of another namespace is an error, as in C), filtered (set list, bin list,
records left without bins, expired records), given its restore TTL (void time + extra TTL - now;
``+ t 0`` never expires) and handed to at most ``max_async_batches`` concurrent writes.
Secondary indexes are created after the records unless ``indexes_last`` is off. A format error
stops the restore with its file, line and column; ``ignore_record_error`` only skips
record-level server errors. ``validate`` decodes and counts with no cluster at all.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

from .config import ClusterConfig, RestoreConfig
from .datapath import ExistsPolicy, GenerationPolicy, RecordSink, WritePolicy
from .distributed import check_restore_config, is_distributed, run_restore_distributed
from .errors import (
    AerobackupError,
    BackupNotFoundError,
    ClusterError,
    ConfigError,
    FormatError,
    JobCancelled,
    RecordError,
)
from .jobs import Counters, JobControl, RestoreStats
from .model import CITRUSLEAF_EPOCH, UDF, RecordBatch, SIndex, XdrToken
from .protocols import DecoderOptions, StorageBackend, StorageURL, Transform
from .ratelimit import Throttle
from .runtime import Runtime
from .tasks import build_transforms, run_tasks, with_info_retry, wrap_reader
from .wire.protocol import TRANSIENT_RESULTS, Result

__all__ = [
    "InputFile",
    "RestoreInput",
    "make_restore_runner",
    "resolve_inputs",
    "run_validate",
    "write_policy",
]

log = logging.getLogger("aerobackup.restore")

#: Record-level permanent errors: abort the restore unless ignore_record_error (asrestore's list).
RECORD_ERRORS = frozenset({
    Result.RECORD_TOO_BIG, Result.KEY_MISMATCH, Result.BIN_NAME, Result.FORBIDDEN,
    Result.INCOMPATIBLE_TYPE, Result.BIN_NOT_FOUND,
})
_RESULT_NAMES = {v: k for k, v in vars(Result).items() if isinstance(v, int)}

RestoreInput = str | StorageBackend | Sequence[str | StorageBackend]


@dataclass(frozen=True, slots=True)
class InputFile:
    storage: StorageBackend
    name: str
    where: str  # for messages: the location the user gave, joined with the name


def _join(parent: str, child: str) -> str:
    if StorageURL.parse(parent).scheme:
        return parent.rstrip("/") + "/" + child.lstrip("/")
    return os.path.join(parent, child)


def resolve_inputs(rt: Runtime, spec: RestoreInput, suffix: str, parent: str | None = None) -> list[InputFile]:
    """Every backup file of a directory / file / ``-`` / storage, or of a list of them."""
    entries: Sequence[str | StorageBackend]
    entries = [spec] if isinstance(spec, str) or not isinstance(spec, Sequence) else spec
    out: list[InputFile] = []
    for entry in entries:
        if not isinstance(entry, str):
            out.extend(_listed(entry, suffix, type(entry).__name__))
            continue
        loc = _join(parent, entry) if parent and entry != "-" else entry
        url = StorageURL.parse(loc)
        if url.scheme == "stdio":
            st = rt.storage(url)
            names = [o.name for o in st.list("")] or ["-"]
            out.extend(InputFile(st, n, "-") for n in names[:1])
            continue
        if not url.scheme and os.path.isfile(loc):
            folder, base = os.path.split(os.path.abspath(loc))
            out.append(InputFile(rt.storage(folder), base, loc))
            continue
        if not url.scheme and not os.path.exists(loc):
            raise BackupNotFoundError(f"{loc}: no such file or directory")
        st = rt.storage(url)
        files = _listed(st, suffix, loc)
        if not files and url.scheme and "/" in url.path.rstrip("/"):
            head, _, base = url.path.rstrip("/").rpartition("/")
            st2 = rt.storage(StorageURL(url.scheme, head, url.options))
            if any(o.name == base for o in st2.list(base)):
                files = [InputFile(st2, base, loc)]
        if not files:
            raise BackupNotFoundError(f"{loc}: no backup files (*{suffix}) found")
        out.extend(files)
    return out


def _listed(st: StorageBackend, suffix: str, where: str) -> list[InputFile]:
    return [InputFile(st, o.name, f"{where.rstrip('/')}/{o.name}") for o in st.list("") if o.name.endswith(suffix)]


def write_policy(config: RestoreConfig) -> WritePolicy:
    exists = ExistsPolicy.REPLACE if config.replace else (
        ExistsPolicy.CREATE_ONLY if config.unique else ExistsPolicy.UPDATE)
    return WritePolicy(
        exists=exists,
        generation=GenerationPolicy.IGNORE if config.no_generation else GenerationPolicy.GT,
        use_batch=not config.disable_batch_writes,
        socket_timeout_ms=config.socket_timeout_ms,
        total_timeout_ms=config.total_timeout_ms,
        retry=config.retry,
    )


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, counters: Counters) -> None:
        super().__init__()
        self.raw = raw
        self.counters = counters
        self.pending = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.pending += n
        if self.pending >= 1 << 20:
            self.counters.add(bytes_read=self.pending)
            self.pending = 0
        return n

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.pending += len(data)
        if self.pending >= 1 << 20:
            self.counters.add(bytes_read=self.pending)
            self.pending = 0
        return data

    def flush_count(self) -> None:
        if self.pending:
            self.counters.add(bytes_read=self.pending)
            self.pending = 0


def select(batch: RecordBatch, keep: Sequence[int], bins: set[str] | None) -> RecordBatch:
    """A batch of the records ``keep`` (and of them only the bins in ``bins``), sharing the buffer."""
    out = RecordBatch(batch.namespace, batch.buffer)
    bi, names, types, starts, ends = batch.bin_index, batch.bin_names, batch.bin_types, batch.bin_starts, batch.bin_ends
    for i in keep:
        out.sets.append(batch.sets[i])
        out.digests.append(batch.digests[i])
        out.keys.append(batch.keys[i])
        out.generations.append(batch.generations[i])
        out.void_times.append(batch.void_times[i])
        for j in range(bi[i], bi[i + 1]):
            if bins is None or names[j] in bins:
                out.bin_names.append(names[j])
                out.bin_types.append(types[j])
                out.bin_starts.append(starts[j])
                out.bin_ends.append(ends[j])
        out.bin_index.append(len(out.bin_names))
    return out


def _definition(s: SIndex) -> tuple[object, ...]:
    # asbackup writes a set-less index with the set "null" (conformance README): the same index
    set_name = "" if s.set in ("", "null") else s.set
    return set_name, s.bin, s.index_type, s.data_type, s.context or None, s.expression or None


def _describe(s: SIndex) -> str:
    what = f"expression {s.expression}" if s.expression else f"bin {s.bin!r}"
    ctx = f" context {s.context}" if s.context else ""
    return f"set {s.set or '(none)'!r}, {what}, {s.index_type.name.lower()} {s.data_type.name.lower()}{ctx}"


class _Restore:
    """State shared by the reader threads of one restore (or validation)."""

    def __init__(
        self,
        *,
        config: RestoreConfig,
        rt: Runtime,
        sink: RecordSink | None,
        transforms: list[Transform],
        control: JobControl,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.rt = rt
        self.sink = sink
        self.transforms = transforms
        self.control = control
        self.counters = control.counters
        self.clock = clock
        self.policy = write_policy(config)
        self.throttle = Throttle(config.records_per_second, config.bandwidth, control.cancel_event)
        self.sets = set(config.set_list) if config.set_list else None
        self.bins = set(config.bin_list) if config.bin_list else None
        self.src_ns = config.namespace.source if config.namespace else None
        self.dst_ns = config.namespace.destination if config.namespace else None
        self.validate = sink is None or config.validate_only
        self.sindexes: list[SIndex] = []
        self._existing: dict[str, dict[str, SIndex]] = {}
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        n = config.max_async_batches
        self.pool = None if self.validate else ThreadPoolExecutor(max_workers=n, thread_name_prefix="aerobackup-write")
        self.slots = threading.BoundedSemaphore(n)

    # --- per file ----------------------------------------------------------------------------

    def read_file(self, f: InputFile) -> None:
        cfg = self.config
        decoder = self.rt.decoder(cfg.decoder, DecoderOptions(file=f.name, batch_size=cfg.batch_size))
        with f.storage.open_read(f.name) as raw:
            counting = _CountingReader(raw, self.counters)
            stream = wrap_reader(cast(BinaryIO, counting), self.transforms, f.where)
            try:
                for item in decoder.decode(stream):
                    self._check()
                    if isinstance(item, RecordBatch):
                        if cfg.no_records and not self.validate:
                            break
                        self._records(item, f)
                    elif isinstance(item, SIndex):
                        self._sindex(item, f)
                    elif isinstance(item, UDF):
                        self._udf(item)
                    elif isinstance(item, XdrToken):
                        raise ConfigError("restore.decoder", f"{f.where}: ASBX (XDR) restores are not supported yet")
            except FormatError as exc:
                if exc.file is None:
                    exc.file = f.where
                raise
            finally:
                counting.flush_count()
        self.counters.add(files=1)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
        self.control.check()

    def _namespace_error(self, ns: str, what: str, f: InputFile) -> FormatError:
        return FormatError(f"invalid namespace {ns} in {what}, expected: {self.src_ns}", file=f.where)

    def _sindex(self, index: SIndex, f: InputFile) -> None:
        self.counters.add(sindexes_read=1)
        if self.src_ns is not None and self.src_ns != self.dst_ns:  # C renames/checks only with a mapping
            if index.namespace != self.src_ns:
                raise self._namespace_error(index.namespace, f"index {index.name}", f)
            index = replace(index, namespace=cast(str, self.dst_ns))
        if self.validate or self.config.no_indexes:
            return
        if self.sets is not None and index.set not in self.sets:
            return
        if self.config.indexes_last:
            with self._lock:
                if index not in self.sindexes:
                    self.sindexes.append(index)
        else:
            self._create_index(index)

    def _create_index(self, index: SIndex) -> None:
        """Create an index; one that exists with the same definition is left alone, one with
        another definition is an error naming both."""
        assert self.sink is not None
        lister = getattr(self.sink, "sindexes", None)
        if lister is not None:
            with self._lock:
                known = self._existing.get(index.namespace)
                if known is None:
                    known = self._existing[index.namespace] = {
                        s.name: s for s in with_info_retry(lambda: lister(index.namespace), self.config.info_retry)}
            old = known.get(index.name)
            if old is not None:
                if _definition(old) == _definition(index):
                    self.counters.add(sindexes_existing=1)
                    return
                raise ClusterError(
                    f"index {index.name!r} already exists in namespace {index.namespace!r} with another "
                    f"definition ({_describe(old)}; the backup has {_describe(index)}): drop it first, "
                    "or restore with no_indexes")
        sink = self.sink
        with_info_retry(lambda: sink.create_sindex(index), self.config.info_retry, self.control.cancel_event)
        self.counters.add(sindexes_created=1)

    def _udf(self, udf: UDF) -> None:
        self.counters.add(udfs_read=1)
        if self.validate or self.config.no_udfs:
            return
        assert self.sink is not None
        sink = self.sink
        with_info_retry(lambda: sink.put_udf(udf), self.config.info_retry, self.control.cancel_event)
        self.counters.add(udfs_created=1)

    def _records(self, batch: RecordBatch, f: InputFile) -> None:
        n = len(batch)
        if self.src_ns is not None and batch.namespace != self.src_ns:
            raise self._namespace_error(batch.namespace, "backup record", f)
        if self.validate:
            self.counters.add(records_read=n)
            return
        if self.dst_ns is not None:
            batch.namespace = self.dst_ns
        now = int(self.clock()) - CITRUSLEAF_EPOCH
        extra = self.config.extra_ttl
        sets, bins, bi, voids = self.sets, self.bins, batch.bin_index, batch.void_times
        names = batch.bin_names
        keep: list[int] = []
        ttls: list[int] = []
        filtered = expired = 0
        base = now - extra  # a record expired when 0 < void time <= base
        if sets is None and bins is None and len(set(bi)) == n + 1 and not any(t <= base for t in voids if t):
            # the usual batch (no filter, no empty or expired record): whole-list operations
            ttls = [t - base if t else -1 for t in voids]
            keep = list(range(n))
            n_loop = 0
        else:
            n_loop = n
        for i in range(n_loop):
            if sets is not None and batch.sets[i] not in sets:
                filtered += 1
                continue
            if bins is None:
                if bi[i + 1] == bi[i]:
                    filtered += 1
                    continue
            elif not any(names[j] in bins for j in range(bi[i], bi[i + 1])):
                filtered += 1
                continue
            t = voids[i]
            if t and t <= base:
                expired += 1
                continue
            ttls.append(t - base if t else -1)
            keep.append(i)
        self.counters.add(records_read=n, skipped_filtered=filtered, skipped_expired=expired)
        if not keep:
            return
        if len(keep) < n or bins is not None:
            batch = select(batch, keep, bins)
        if self.throttle.enabled:
            self.throttle.acquire(len(keep), batch.bin_ends[-1] - batch.bin_starts[0] if batch.bin_ends else 0)
        self._submit(batch, ttls, f)

    # --- writes ------------------------------------------------------------------------------

    def _submit(self, batch: RecordBatch, ttls: list[int], f: InputFile) -> None:
        assert self.pool is not None
        while not self.slots.acquire(timeout=0.2):
            self._check()
        try:
            fut = self.pool.submit(self._write, batch, ttls, f)
        except BaseException:
            self.slots.release()
            raise
        fut.add_done_callback(self._written)

    def _written(self, fut: Future[None]) -> None:
        self.slots.release()
        exc = fut.exception()
        if exc is not None:
            with self._lock:
                if self.error is None:
                    self.error = exc
            self.control.cancel_event.set()

    def _write(self, batch: RecordBatch, ttls: list[int], f: InputFile) -> None:
        assert self.sink is not None
        retry = self.config.retry
        attempt = 0
        while True:
            try:
                codes = self.sink.write(batch, ttls, self.policy)
                break
            except ClusterError as exc:
                transient = exc.code is None or exc.code in TRANSIENT_RESULTS
                if not transient or attempt >= retry.max_retries or self.control.cancelled:
                    raise
                log.info("retrying a batch of %d records after: %s", len(batch), exc)
                time.sleep(retry.delay(attempt))
                attempt += 1
        written = existed = fresher = failed = 0
        for i, code in enumerate(codes):
            if code == 0:
                written += 1
            elif code == Result.GENERATION:
                fresher += 1
            elif code == Result.RECORD_EXISTS:
                existed += 1
            elif code in RECORD_ERRORS and self.config.ignore_record_error:
                failed += 1
            else:
                self.counters.add(records_written=written, skipped_existing=existed, skipped_newer=fresher,
                                  records_failed=failed)
                digest = base64.b64encode(batch.digests[i]).decode()
                hint = "" if code not in RECORD_ERRORS else " (ignore_record_error skips such records)"
                raise RecordError(
                    f"{f.where}: writing record {digest} failed: {_RESULT_NAMES.get(code, 'error')} "
                    f"(result {code}){hint}", code=code)
        self.counters.add(records_written=written, skipped_existing=existed, skipped_newer=fresher,
                          records_failed=failed)

    def drain(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.error is not None:
            raise self.error

    def finish_metadata(self) -> None:
        if self.validate or self.sink is None:
            return
        for index in self.sindexes:
            self._check()
            self._create_index(index)
        if self.config.wait_for_indexes and self.sindexes:
            self._wait_for_indexes(self.sindexes)

    def _wait_for_indexes(self, indexes: Sequence[SIndex]) -> None:
        """Poll ``sindex/<ns>/<name>`` until each index reports ``load_pct=100`` (asrestore --wait)."""
        info = getattr(self.sink, "info", None)
        if info is None:
            return
        deadline = time.monotonic() + max(60.0, self.config.info_timeout_ms / 1000 * 6)
        for index in indexes:
            while True:
                self._check()
                answer = str(info(f"sindex/{index.namespace}/{index.name}"))
                fields = dict(kv.partition("=")[::2] for kv in answer.split(";") if "=" in kv)
                if fields.get("load_pct", "100") == "100":
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(f"index {index.name!r} of {index.namespace!r} still building "
                                       f"({fields.get('load_pct')} %) after the wait")
                time.sleep(0.2)
        self.counters.add(sindexes_ready=len(indexes))


def _run(
    rt: Runtime,
    sink: RecordSink | None,
    files: list[InputFile],
    config: RestoreConfig,
    control: JobControl,
    transforms: list[Transform],
) -> None:
    job = _Restore(config=config, rt=rt, sink=sink, transforms=transforms, control=control)
    control.counters.set(files_total=len(files))
    try:
        run_tasks(job.read_file, files, workers=min(config.parallel, len(files)) or 1, executor="threads",
                  cancel=control.cancel_event)
    except JobCancelled:
        if job.error is not None:
            job.drain()
        raise
    except BaseException:
        if job.pool is not None:
            job.pool.shutdown(wait=True, cancel_futures=True)
        raise
    job.drain()  # every file was read and every write done: complete even if a cancel came late
    job.finish_metadata()


def _restore_in_process(files: list[InputFile], config: RestoreConfig, sink_spec: Any) -> tuple[dict[str, int],
                                                                                              list[SIndex]]:
    """Worker-process side of ``executor="processes"``: restore whole files with a connection of
    its own; return the counts and the sindexes left for the parent to create."""
    rt = Runtime.discover()
    owned = isinstance(sink_spec, ClusterConfig)
    if owned:
        from .cluster import Cluster

        sink = cast(RecordSink, Cluster.connect(sink_spec))
    else:
        sink = cast(RecordSink, sink_spec)
    counters = Counters(RestoreStats)
    control = JobControl(counters)
    transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "restore")
    job = _Restore(config=config, rt=rt, sink=sink, transforms=transforms, control=control)
    try:
        for f in files:
            job.read_file(f)
        job.drain()
    finally:
        if owned:
            getattr(sink, "close", lambda: None)()
    snap = counters.snapshot()
    values = {k: getattr(snap, k) for k in snap.__dataclass_fields__ if isinstance(getattr(snap, k), int)}
    return values, job.sindexes


def _run_processes(sink: RecordSink, sink_spec: Any, files: list[InputFile], config: RestoreConfig,
                   control: JobControl) -> None:
    control.counters.set(files_total=len(files))
    results = run_tasks(_restore_in_process, [[f] for f in files], workers=min(config.parallel, len(files)) or 1,
                        executor="processes", cancel=control.cancel_event, args=(config, sink_spec))
    sindexes: list[SIndex] = []
    for values, six in results:
        control.counters.add(**{k: v for k, v in values.items() if k != "files_total"})
        sindexes += [s for s in six if s not in sindexes]
    for index in sindexes:
        sink.create_sindex(index)
        control.counters.add(sindexes_created=1)


def make_restore_runner(
    *,
    rt: Runtime,
    sink: RecordSink | None,
    inputs: RestoreInput,
    config: RestoreConfig,
    parent: str | None = None,
    sink_spec: Any = None,
) -> Callable[[JobControl], None]:
    """Check what can be checked at once and return the function the job thread runs.

    ``sink_spec`` (a ClusterConfig, or a picklable sink) lets ``executor="processes"`` connect
    from worker processes; without it the restore runs on threads."""
    suffix = rt.codec_suffix(config.decoder)
    transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "restore")
    files = resolve_inputs(rt, inputs, suffix, parent)

    distributed = is_distributed(config.executor) and sink is not None and not config.validate_only
    if distributed:
        check_restore_config(config, sink_spec, files)

    def run(control: JobControl) -> None:
        if distributed:
            run_restore_distributed(rt, cast(RecordSink, sink), files, config, control, sink_spec)
        elif config.executor == "processes" and sink is not None and sink_spec is not None \
                and not config.validate_only and len(files) > 1:
            _run_processes(sink, sink_spec, files, config, control)
        else:
            _run(rt, sink, files, config, control, transforms)

    return run


def run_validate(
    rt: Runtime, inputs: RestoreInput, config: RestoreConfig, parent: str | None = None
) -> RestoreStats:
    """Decode every file and count records, sindexes and UDFs; no cluster is contacted."""
    counters = Counters(RestoreStats)
    control = JobControl(counters)
    cfg = config if config.validate_only else replace(config, validate_only=True)
    run = make_restore_runner(rt=rt, sink=None, inputs=inputs, config=cfg, parent=parent)
    run(control)
    counters.finish()
    return cast(RestoreStats, counters.snapshot())


_ = AerobackupError
