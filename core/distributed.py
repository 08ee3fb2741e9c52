"""Scale-out: backup and restore tasks on a Dask or Ray cluster, or on any ``Executor``.

No scheduler of our own (DESIGN §7): the job's partition ranges (backup) or files (restore)
become plain picklable task descriptions, submitted to an engine the user already runs:

* ``executor="dask"`` with ``scheduler="tcp://host:8786"``, or a ``distributed.Client`` object
  (extra ``aerobackup[dask]``);
* ``executor="ray"`` with ``scheduler`` = a Ray address, or Ray already initialised in this
  process (extra ``aerobackup[ray]``);
* any ``concurrent.futures.Executor`` object (library only), e.g. a ``ProcessPoolExecutor``.

A worker rebuilds everything from names (``Runtime.discover()``, the storage URL, the cluster
config); no live object crosses the wire. There is no manager process: each backup task keeps a
small *journal* beside the files (a ``BackupState`` of its own partitions, saved through the
storage's atomic writes around each publish, exactly like the job's state file). A task that is
run again (a dead worker rescheduled by the engine, or our retry of a failed task) reads its
journal and goes on from its last committed partition cursor, so nothing is lost or doubled.
File numbers never collide: task *k* of *T* names its *n*-th file ``base + k + n·T``.

The coordinator (the job's thread) merges each task's final journal into the job's stats and
state file as futures complete, retries failed tasks, and on cancel sets a cancel flag the tasks
poll (a Dask ``Event``, a Ray actor, or a marker file for plain executors). ``continue`` merges
any journals an interrupted run left behind, then resumes like a local run. Restore sends one
file per task; the workers only write records: indexes and UDFs are collected and applied once,
by the coordinator.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import dataclasses
import importlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from .config import BackupConfig, ClusterConfig, RestoreConfig
from .datapath import PartitionCursor, RecordSink
from .errors import AerobackupError, BackupNotFoundError, ConfigError, JobCancelled
from .jobs import BackupStats, Counters, JobControl, RestoreStats
from .model import UDF, SIndex
from .protocols import StorageBackend, StorageURL
from .runtime import Runtime
from .state import DONE, BackupState, StateStore, load_state
from .tasks import BackupTask, split_ranges

__all__ = [
    "DISTRIBUTED_NAMES",
    "BackupPiece",
    "RestorePiece",
    "check_backup_config",
    "check_restore_config",
    "is_distributed",
    "merge_task_journals",
    "open_backend",
    "run_backup_distributed",
    "run_restore_distributed",
]

log = logging.getLogger("aerobackup.distributed")

#: Executor names served by this module (besides Executor / distributed.Client objects).
DISTRIBUTED_NAMES = ("dask", "ray")
#: Attempts of one task beyond the engine's own rescheduling (each resumes from its journal).
TASK_RETRIES = 3
#: Tasks per worker: enough that a slow range does not leave the other workers idle.
TASKS_PER_WORKER = 4
#: Seconds between two looks at the cancel flag from a task.
POLL_INTERVAL = 0.25
JOURNAL_MARK = ".task-"
#: Seconds a cancelled job waits for its running tasks to see the flag and stop.
CANCEL_WAIT = 120.0
_STAT_KEYS = ("records_read", "records_written", "records_skipped", "records_filtered", "bytes_raw", "bytes_written")


def is_distributed(executor: object) -> bool:
    """True for ``"dask"``, ``"ray"`` and executor objects (anything but a name string)."""
    return executor in DISTRIBUTED_NAMES if isinstance(executor, str) else executor is not None


# --- cancel flags ------------------------------------------------------------------------------


def _engine(name: str) -> Any:
    """Import an optional engine (typed as Any: its stubs are not ours to check)."""
    return importlib.import_module(name)


class CancelFlag(Protocol):
    """Picklable; ``is_set`` is called from tasks (rate-limited), ``set`` by the coordinator."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


@dataclass
class _FileFlag:
    """A marker file: for executors on this machine (threads, local processes)."""

    path: str

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def set(self) -> None:
        with open(self.path, "wb"):
            pass


class _DaskFlag:
    """A named ``distributed.Event`` on the scheduler; resolved lazily in the calling thread."""

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._event: Any = None
        self._client = client

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.name, self._event, self._client = state["name"], None, None

    def _ev(self) -> Any:
        if self._event is None:
            event = _engine("distributed").Event
            self._event = event(self.name, client=self._client) if self._client is not None else event(self.name)
        return self._event

    def is_set(self) -> bool:
        return bool(self._ev().is_set())

    def set(self) -> None:
        self._ev().set()


class _RayFlag:
    """A tiny Ray actor holding one boolean."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def is_set(self) -> bool:
        return bool(_engine("ray").get(self.actor.is_set.remote(), timeout=30))

    def set(self) -> None:
        _engine("ray").get(self.actor.set.remote(), timeout=30)


class _Poll:
    """Looks at a flag at most every POLL_INTERVAL seconds (a remote call each time)."""

    def __init__(self, flag: CancelFlag) -> None:
        self.flag = flag
        self._next = 0.0
        self._set = False

    def __call__(self) -> bool:
        if self._set:
            return True
        now = time.monotonic()
        if now >= self._next:
            self._next = now + POLL_INTERVAL
            try:
                self._set = self.flag.is_set()
            except Exception:  # the coordinator is gone or slow: keep working, look again later
                log.debug("cancel flag not readable", exc_info=True)
        return self._set


# --- engines -----------------------------------------------------------------------------------


class Backend:
    """An engine seen as a ``concurrent.futures`` executor plus a cancel flag and a worker count."""

    def __init__(self, executor: cf.Executor, flag: CancelFlag, workers: int, name: str,
                 close: Callable[[], None] = lambda: None,
                 cancel: Callable[[cf.Future[Any]], None] | None = None) -> None:
        self.executor = executor
        self.flag = flag
        self.workers = max(1, workers)
        self.name = name
        self._close = close
        self._cancel = cancel

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        return self.executor.submit(fn, *args)

    def cancel(self, fut: cf.Future[Any]) -> None:
        """Drop a task that has not started. Engines whose local futures do not track the remote
        task (Dask, Ray) are left to the cancel flag: a cancelled local future would not tell
        when the task has really stopped writing."""
        if self._cancel is None:
            fut.cancel()

    def close(self) -> None:
        self._close()


def open_backend(executor: object, scheduler: str | None, where: str) -> Backend:
    """The engine for ``executor`` (``where`` prefixes error messages, e.g. ``backup``)."""
    if isinstance(executor, str):
        if executor == "dask":
            return _dask_backend(None, scheduler, where)
        if executor == "ray":
            return _ray_backend(scheduler, where)
        raise ConfigError(f"{where}.executor", f"not a distributed executor: {executor!r}")
    if type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "get_executor"):
        return _dask_backend(executor, None, where)
    if isinstance(executor, cf.Executor):
        folder = tempfile.mkdtemp(prefix="aerobackup-cancel-")
        workers = int(getattr(executor, "_max_workers", 0) or os.cpu_count() or 1)
        return Backend(executor, _FileFlag(os.path.join(folder, "cancel")), workers, type(executor).__name__,
                       close=lambda: shutil.rmtree(folder, ignore_errors=True))
    raise ConfigError(f"{where}.executor", f"must be 'threads', 'processes', 'dask', 'ray' or a "
                                           f"concurrent.futures.Executor (got {type(executor).__name__})")


def _dask_backend(client: Any, scheduler: str | None, where: str) -> Backend:
    try:
        distributed = _engine("distributed")
    except ImportError:
        raise ConfigError(f"{where}.executor", "'dask' needs the dask extra: pip install 'aerobackup[dask]'") from None
    owned = client is None
    if owned:
        if not scheduler:
            raise ConfigError(f"{where}.scheduler", "executor 'dask' needs a scheduler address "
                                                    "(tcp://host:8786) or a distributed.Client as executor")
        try:
            client = distributed.Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"{where}.scheduler", f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    workers = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
    flag = _DaskFlag(f"aerobackup-cancel-{uuid.uuid4().hex}", client)
    ex = client.get_executor(pure=False)  # pure=False: a resubmitted task runs again

    def close() -> None:
        ex.shutdown(wait=False)
        if owned:
            client.close()

    return Backend(ex, flag, workers, "dask", close=close, cancel=lambda fut: None)


def _ray_backend(address: str | None, where: str) -> Backend:
    try:
        ray = _engine("ray")
    except ImportError:
        raise ConfigError(f"{where}.executor", "'ray' needs the ray extra: pip install 'aerobackup[ray]'") from None
    owned = False
    if not ray.is_initialized():
        if not address:
            raise ConfigError(f"{where}.scheduler", "executor 'ray' needs a Ray address, or Ray initialised "
                                                    "in this process (ray.init())")
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise ConfigError(f"{where}.scheduler", f"cannot reach the Ray cluster {address}: {exc}") from None
        owned = True
    workers = int(ray.cluster_resources().get("CPU", 1))

    class _Flag:  # the actor class is made here so that importing this module needs no Ray
        def __init__(self) -> None:
            self.value = False

        def set(self) -> None:
            self.value = True

        def is_set(self) -> bool:
            return self.value

    actor = ray.remote(num_cpus=0)(_Flag).remote()

    class _RayExecutor(cf.Executor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
            ref = ray.remote(fn).options(max_retries=TASK_RETRIES).remote(*args, **kwargs)
            fut: cf.Future[Any] = ref.future()
            return fut

    def close() -> None:
        ray.kill(actor)
        if owned:
            ray.shutdown()

    return Backend(_RayExecutor(), _RayFlag(actor), workers, "ray", close=close, cancel=lambda fut: None)


# --- checks ------------------------------------------------------------------------------------


def check_backup_config(config: BackupConfig, source_spec: Any, storage_spec: str | StorageURL | None) -> None:
    """What a distributed backup cannot do, as one clear error before anything starts."""
    p = "backup"
    if config.output_file is not None:
        raise ConfigError(f"{p}.output_file", "a distributed backup writes a directory, not one file")
    if config.node_list or config.parallel_nodes:
        raise ConfigError(f"{p}.node_list", "a distributed backup splits partitions, not nodes")
    if config.max_records:
        raise ConfigError(f"{p}.max_records", "cannot be shared between distributed tasks")
    if not isinstance(source_spec, ClusterConfig):
        raise ConfigError(f"{p}.executor", "a distributed backup needs a cluster config (hosts), "
                                           "not a record source object: workers connect on their own")
    if storage_spec is None:
        raise ConfigError(f"{p}.executor", "a distributed backup needs the destination as a path or URL, "
                                           "not a storage object: workers open it by name")


def check_restore_config(config: RestoreConfig, sink_spec: Any, files: Sequence[Any]) -> None:
    """What a distributed restore cannot do, as one clear error before anything starts."""
    if not isinstance(sink_spec, ClusterConfig):
        raise ConfigError("restore.executor", "a distributed restore needs a cluster config (hosts), "
                                              "not a record sink object: workers connect on their own")
    for f in files:
        _piece_location(f)


def _share(limit: int, tasks: int) -> int:
    """A job-wide rate limit split evenly between the tasks that run at once (0: no limit)."""
    return max(1, limit // tasks) if limit else 0


def _location(spec: str | StorageURL) -> StorageURL:
    """A location with its storage options; a local path made absolute (workers may run elsewhere)."""
    url = StorageURL.parse(spec) if isinstance(spec, str) else spec
    return url if url.scheme else dataclasses.replace(url, path=os.path.abspath(url.path))


# --- worker side --------------------------------------------------------------------------------

_RUNTIMES: dict[str | None, Runtime] = {}


def _runtime() -> Runtime:
    """The worker process's plugin registry, discovered once per process (by name, from the
    installed entry points; it holds no connection, so tasks of any job may share it)."""
    key = os.environ.get("AEROBACKUP_PLUGINS")
    rt = _RUNTIMES.get(key)
    if rt is None:
        rt = _RUNTIMES[key] = Runtime.discover()
    return rt


# --- backup: the task --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupPiece:
    """One backup task as sent to a worker: plain values only."""

    index: int
    cursors: tuple[PartitionCursor, ...]
    first: bool
    journal: str  # name of the task's journal in the storage
    number: int  # its first file number (then + stride per file)
    stride: int
    config: BackupConfig  # executor "threads", no state file of its own
    prefix: str
    suffix: str
    storage: StorageURL  # with its options; a local path made absolute
    cluster: ClusterConfig
    sindexes: tuple[SIndex, ...]
    udfs: tuple[UDF, ...]
    flag: Any  # a CancelFlag
    records_per_second: int
    bandwidth: int


def _journal_stats(state: BackupState) -> dict[str, int]:
    task = state.fingerprint.get("task") or {}
    return {k: int(v) for k, v in (task.get("stats") or {}).items()}


def _load_journal(storage: StorageBackend, name: str) -> BackupState:
    """A task's journal, its pending file settled; if that file was published, the stats it
    brings (saved with ``prepare``; its stored size from the listing) are counted too."""
    state = load_state(storage, name)
    task = state.fingerprint.get("task") or {}
    at = task.pop("at", None)
    if at and at.get("file") in state.files:
        stats = {k: int(v) for k, v in at["stats"].items()}
        sizes = {o.name: o.size for o in storage.list(at["file"])}
        stats["bytes_written"] = stats.get("bytes_written", 0) + int(sizes.get(at["file"], 0))
        task["stats"] = stats
    return state


def run_backup_piece(piece: BackupPiece) -> bytes:
    """Worker side: run (or resume, from its journal) one backup task; return the final journal."""
    from .backup import BackupCoordinator, TaskEnv, _TaskRun, file_name
    from .cluster import Cluster
    from .protocols import EncoderOptions
    from .tasks import build_transforms

    poll = _Poll(piece.flag)
    if poll():  # queued when the job was cancelled: touch nothing
        raise JobCancelled("backup cancelled")
    rt = _runtime()
    storage = rt.storage(piece.storage)
    if _exists(storage, piece.journal):
        state = _load_journal(storage, piece.journal)  # a rerun: settle and go on
    else:
        state = BackupState(namespace=piece.config.namespace,
                            scope=[(c.partition, None if c.after_digest is None else
                                    base64.b64encode(c.after_digest).decode()) for c in piece.cursors],
                            next_file=piece.number,
                            fingerprint={"task": {"index": piece.index, "stride": piece.stride, "stats": {}}})
    store = StateStore(state, storage, piece.journal)
    store.save()
    config = piece.config
    cursors = tuple(state.remaining())
    first = piece.first and not state.first_file_done
    stride = piece.stride
    counters = Counters(BackupStats)
    counters.add(**{k: v for k, v in _journal_stats(state).items() if k in _STAT_KEYS})

    class _Coordinator(BackupCoordinator):
        def next_name(self) -> str:
            with self._lock:
                n = state.next_file
                state.next_file = n + stride
            return file_name(self.prefix, n, self.suffix)

        run: Any = None

        def _stats(self) -> dict[str, int]:
            # the counters plus the run's not yet flushed counts (a file closed while rotating
            # inside a batch holds records not yet added)
            snap = self.counters.snapshot()
            pending = getattr(self.run, "_pending_stats", None) or {}
            return {k: getattr(snap, k) + int(pending.get(k, 0)) for k in _STAT_KEYS}

        def _keep_stats(self) -> None:
            task = state.fingerprint["task"]
            task["stats"] = self._stats()
            task.pop("at", None)

        def prepare(self, name: str, progress: Mapping[int, str], first: bool) -> None:
            # what the job has with this file published, in case we die before confirm
            state.fingerprint["task"]["at"] = {"file": name, "stats": self._stats()}
            super().prepare(name, progress, first)

        def abandon(self, name: str) -> None:
            state.fingerprint["task"].pop("at", None)
            super().abandon(name)

        def confirm(self, name: str, progress: Mapping[int, str]) -> None:
            self._keep_stats()
            super().confirm(name, progress)

        def progress_only(self, progress: Mapping[int, str]) -> None:
            self._keep_stats()
            super().progress_only(progress)

        def add(self, deltas: Mapping[str, int]) -> bool:
            super().add(deltas)
            if poll():
                self.cancel_event.set()
            return self.cancel_event.is_set()

        def cancelled(self) -> bool:
            if poll():
                self.cancel_event.set()
            return self.cancel_event.is_set()

    coord = _Coordinator(config=config, prefix=piece.prefix, suffix=piece.suffix, store=store,
                         sindexes=list(piece.sindexes), udfs=list(piece.udfs),
                         throttle_rps=piece.records_per_second, throttle_bw=piece.bandwidth)
    coord.counters = counters
    if cursors or first:
        encoder = rt.encoder(config.encoder, EncoderOptions(compact=config.compact))
        transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "backup")
        source = Cluster.connect(piece.cluster)
        try:
            env = TaskEnv(source, storage, encoder, transforms)
            run = _TaskRun(BackupTask(piece.index, cursors, None, first), coord, env, cast(Any, source))
            run.track = True  # progress per partition is what a rerun resumes from
            coord.run = run
            run.run()
        finally:
            source.close()
    coord.run = None  # everything is flushed now
    coord._keep_stats()
    store.save()
    return state.to_json()


# --- backup: the coordinator ------------------------------------------------------------------


def _journal_base(config: BackupConfig) -> str:
    name = config.state_file or config.continue_from
    return name if name else f".aerobackup-{uuid.uuid4().hex[:12]}"


def _merge_journal(main: BackupState, journal: BackupState) -> list[str]:
    """Fold a task's journal into the job's state; returns the files it adds."""
    for pid, value in journal.partitions.items():
        if main.partitions.get(pid) != DONE:
            main.partitions[pid] = value
    new = [f for f in journal.files if f not in main.files]
    main.files.extend(new)
    main.next_file = max(main.next_file, journal.next_file)
    if journal.first_file_done:
        main.first_file_done = True
        main.first_file = journal.first_file
    return new


def merge_task_journals(storage: StorageBackend, state_name: str, state: BackupState) -> int:
    """On ``continue``: fold journals an interrupted distributed run left beside its state file
    into ``state`` (saved, then the journals removed). Returns how many were merged."""
    prefix = state_name + JOURNAL_MARK
    journals = sorted(o.name for o in storage.list(prefix) if o.name.startswith(prefix))
    if not journals:
        return 0
    for name in journals:
        _merge_journal(state, _load_journal(storage, name))
    StateStore(state, storage, state_name).save()
    for name in journals:
        storage.remove(name)
    return len(journals)


def _plan(tasks: Sequence[BackupTask], n: int) -> list[tuple[tuple[PartitionCursor, ...], bool]]:
    cursors = [c for t in tasks for c in t.cursors]
    first = any(t.first for t in tasks)
    ranges = split_ranges(cursors, n) if cursors else [()]
    return [(r, first and i == 0) for i, r in enumerate(ranges)]


def run_backup_distributed(tasks: Sequence[BackupTask], coord: Any, storage: StorageBackend,
                           storage_spec: str | StorageURL,
                           source_spec: ClusterConfig, control: JobControl) -> None:
    """Run a planned backup's tasks on the configured engine; merge as they complete."""
    config: BackupConfig = coord.config
    backend = open_backend(config.executor, config.scheduler, "backup")
    try:
        store: StateStore = coord.store
        main = store.state
        ranges = _plan(tasks, max(config.parallel_read, backend.workers * TASKS_PER_WORKER))
        concurrent = max(1, min(backend.workers, len(ranges)))
        base = _journal_base(config)
        worker_config = dataclasses.replace(config, executor="threads", scheduler=None, state_file=None,
                                            continue_from=None, remove_files=False)
        pieces = [
            BackupPiece(index=i, cursors=r, first=first, journal=f"{base}{JOURNAL_MARK}{i:05d}",
                        number=main.next_file + i, stride=len(ranges), config=worker_config, prefix=coord.prefix,
                        suffix=coord.suffix, storage=_location(storage_spec), cluster=source_spec,
                        sindexes=tuple(coord.sindexes_list), udfs=tuple(coord.udfs_list), flag=backend.flag,
                        records_per_second=_share(config.records_per_second, concurrent),
                        bandwidth=_share(config.bandwidth, concurrent))
            for i, (r, first) in enumerate(ranges)
        ]
        counters: Counters = control.counters

        def merge(journal: BackupState) -> None:
            for name in _merge_journal(main, journal):
                coord.published.append(name)
                counters.file_written(name)
            counters.add(**{k: v for k, v in _journal_stats(journal).items() if k in _STAT_KEYS})
            counters.set(partitions_done=sum(1 for v in main.partitions.values() if v == DONE))
            store.save()

        def finished(piece: BackupPiece, result: Any) -> None:
            merge(BackupState.from_json(cast(bytes, result), piece.journal))

        def collect(piece: BackupPiece) -> None:  # an unfinished task: what its journal committed
            if _exists(storage, piece.journal):
                merge(_load_journal(storage, piece.journal))

        error = _drive("backup", backend, run_backup_piece, pieces, control, finished, collect)
        # every journal is merged and the state saved: now they may go (not earlier: an engine
        # that recomputes a lost result finds its journal done and writes nothing twice)
        for p in pieces:
            _remove_quietly(storage, p.journal)
        if error is not None:
            raise error
    finally:
        backend.close()


def _exists(storage: StorageBackend, name: str) -> bool:
    try:
        return any(o.name == name for o in storage.list(name))
    except BackupNotFoundError:  # the folder is not there yet
        return False


def _remove_quietly(storage: StorageBackend, name: str) -> None:
    try:
        if _exists(storage, name):
            storage.remove(name)
    except (OSError, AerobackupError):
        log.warning("could not remove task journal %s", name)


_PERMANENT = (ConfigError, JobCancelled)


def _drive(kind: str, backend: Backend, fn: Callable[[Any], Any], pieces: Sequence[Any], control: JobControl,
           finished: Callable[[Any, Any], None], collect: Callable[[Any], None]) -> BaseException | None:
    """Submit every piece, merge results as they complete, retry failures (a rerun resumes from
    its journal), and on cancel or a final failure stop the rest and collect what they committed.
    Returns the job's error (JobCancelled when cancelled), None when every piece finished."""
    futures: dict[cf.Future[Any], int] = {backend.submit(fn, p): i for i, p in enumerate(pieces)}
    attempts = [0] * len(pieces)
    done_pieces: set[int] = set()
    error: BaseException | None = None
    while futures and error is None:
        if control.cancelled:
            break
        ready, _ = cf.wait(list(futures), timeout=0.2, return_when=cf.FIRST_COMPLETED)
        for fut in ready:
            i = futures.pop(fut)
            exc = None if fut.cancelled() else fut.exception()
            if fut.cancelled():
                exc = JobCancelled("task cancelled")
            if exc is None:
                finished(pieces[i], fut.result())
                done_pieces.add(i)
                continue
            attempts[i] += 1
            if isinstance(exc, _PERMANENT) or attempts[i] > TASK_RETRIES or control.cancelled:
                error = error or exc
                continue
            log.warning("task %d failed (%s: %s); retrying (attempt %d of %d)", i, type(exc).__name__, exc,
                        attempts[i] + 1, TASK_RETRIES + 1)
            futures[backend.submit(fn, pieces[i])] = i
    if futures or error is not None or control.cancelled:
        try:
            backend.flag.set()
        except Exception:  # the engine is gone: tasks end on their own errors
            log.debug("could not set the cancel flag", exc_info=True)
        control.cancel_event.set()
        for fut in futures:
            backend.cancel(fut)
        cf.wait(list(futures), timeout=CANCEL_WAIT)
        for fut, i in futures.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                finished(pieces[i], fut.result())
                done_pieces.add(i)
        for i, p in enumerate(pieces):
            if i not in done_pieces:
                collect(p)
        if error is not None and not isinstance(error, JobCancelled):
            return error
        return JobCancelled(f"{kind} cancelled")
    return None


# --- restore -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestorePiece:
    """One restore task: one file, named by its storage location."""

    location: StorageURL  # the storage holding the file (a local path made absolute)
    name: str
    where: str  # for messages
    config: RestoreConfig
    cluster: ClusterConfig
    flag: Any


class _MetadataCollector:
    """A sink wrapper in the worker: records go to the cluster, UDFs are kept for the coordinator."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self.udfs: list[UDF] = []

    def put_udf(self, udf: UDF) -> None:
        if udf not in self.udfs:
            self.udfs.append(udf)

    def create_sindex(self, index: SIndex) -> None:  # pragma: no cover - workers run with indexes_last
        raise AerobackupError("a distributed restore task may not create indexes")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)


class _PolledControl(JobControl):
    def __init__(self, counters: Counters, flag: CancelFlag) -> None:
        super().__init__(counters)
        self._poll = _Poll(flag)

    def check(self) -> None:
        if self._poll():
            self.cancel_event.set()
        super().check()


def run_restore_piece(piece: RestorePiece) -> tuple[dict[str, int], list[SIndex], list[UDF]]:
    """Worker side: restore one file; return the counts, and the indexes and UDFs it carried."""
    from .cluster import Cluster
    from .restore import InputFile, _Restore
    from .tasks import build_transforms

    rt = _runtime()
    storage = rt.storage(piece.location)
    config = piece.config
    counters = Counters(RestoreStats)
    control = _PolledControl(counters, piece.flag)
    control.check()
    transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "restore")
    sink = Cluster.connect(piece.cluster)
    collector = _MetadataCollector(sink)
    job = _Restore(config=config, rt=rt, sink=cast(RecordSink, collector), transforms=transforms, control=control)
    try:
        job.read_file(InputFile(storage, piece.name, piece.where))
        job.drain()
    except BaseException:
        if job.pool is not None:
            job.pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        sink.close()
    snap = counters.snapshot()
    values = {f.name: getattr(snap, f.name) for f in dataclasses.fields(snap)
              if isinstance(getattr(snap, f.name), int) and f.name not in ("files_total", "udfs_created")}
    return values, list(job.sindexes), collector.udfs


def _piece_location(f: Any) -> tuple[StorageURL, str]:
    """(storage location, name) of an input file, from the location the user gave."""
    where, name = str(f.where), str(f.name)
    if where == "-" or not where.endswith(name):
        raise ConfigError("restore.executor", f"{where}: a distributed restore needs backup files given as "
                                              "paths or URLs (not stdin or storage objects)")
    return _location(where[: len(where) - len(name)].rstrip("/") or "/"), name


def run_restore_distributed(rt: Runtime, sink: RecordSink, files: Sequence[Any], config: RestoreConfig,
                            control: JobControl, sink_spec: Any) -> None:
    """Restore each file as a task on the engine; indexes and UDFs once, here, at the end."""
    from .restore import _Restore
    from .tasks import build_transforms

    located = [_piece_location(f) for f in files]
    backend = open_backend(config.executor, config.scheduler, "restore")
    try:
        concurrent = max(1, min(backend.workers, len(files)))
        worker_config = dataclasses.replace(
            config, executor="threads", scheduler=None, indexes_last=True, wait_for_indexes=False,
            records_per_second=_share(config.records_per_second, concurrent),
            bandwidth=_share(config.bandwidth, concurrent))
        pieces = [RestorePiece(loc, name, str(f.where), worker_config, sink_spec, backend.flag)
                  for (loc, name), f in zip(located, files, strict=True)]
        counters = control.counters
        counters.set(files_total=len(files))
        sindexes: list[SIndex] = []
        udfs: list[UDF] = []

        def finished(piece: RestorePiece, result: Any) -> None:
            values, six, found = result
            counters.add(**values)
            sindexes.extend(s for s in six if s not in sindexes)
            udfs.extend(u for u in found if u not in udfs)

        error = _drive("restore", backend, run_restore_piece, pieces, control, finished, lambda piece: None)
        if error is not None:
            raise error
    finally:
        backend.close()
    for udf in udfs:
        control.check()
        sink.put_udf(udf)
        counters.add(udfs_created=1)
    if sindexes:
        transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "restore")
        job = _Restore(config=config, rt=rt, sink=sink, transforms=transforms, control=control)
        job.sindexes = sindexes
        try:
            job.finish_metadata()
        finally:
            job.drain()


_ = (Iterable,)
