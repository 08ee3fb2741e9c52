"""Job handles and statistics for backups and restores.

A job runs on its own thread and is controlled through its handle: ``wait(timeout)`` returns the
final statistics or raises the job's error, ``cancel()`` asks it to stop, ``done`` and ``stats``
may be read at any time from any thread. Statistics are counted in a ``Counters`` object (plain
integers under one lock, updated once per batch, never per record) and handed out as frozen
snapshots, so a progress callback can keep them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import AerobackupError, JobCancelled

__all__ = [
    "BackupStats",
    "Counters",
    "Job",
    "JobControl",
    "ProgressCallback",
    "RestoreStats",
]

log = logging.getLogger("aerobackup.jobs")


@dataclass(frozen=True, slots=True)
class BackupStats:
    """A snapshot of a backup's progress. Bytes ``raw`` are the codec's output; ``written``
    are the bytes stored after compression and encryption."""

    records_read: int = 0
    records_written: int = 0
    records_skipped: int = 0  # left out by max_records once the cap was reached
    records_filtered: int = 0  # dropped by a client-side filter
    bytes_raw: int = 0
    bytes_written: int = 0
    files: int = 0
    sindexes: int = 0
    udfs: int = 0
    partitions_done: int = 0
    partitions_total: int = 0
    elapsed: float = 0.0
    files_written: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        """Records written per second so far."""
        return self.records_written / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def bytes_rate(self) -> float:
        return self.bytes_written / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def estimated_remaining(self) -> float | None:
        """Seconds left, from the share of partitions done (None until one is done)."""
        if self.partitions_total <= 0 or self.partitions_done <= 0:
            return None
        frac = min(1.0, self.partitions_done / self.partitions_total)
        return self.elapsed * (1.0 - frac) / frac


@dataclass(frozen=True, slots=True)
class RestoreStats:
    """A snapshot of a restore's (or a validation's) progress."""

    records_read: int = 0
    records_written: int = 0
    skipped_expired: int = 0
    skipped_existing: int = 0  # create-only and the record existed
    skipped_newer: int = 0  # generation policy: the server's record is as new or newer
    skipped_filtered: int = 0  # set list, or no bins left after the bin list
    records_failed: int = 0  # record-level errors ignored by ignore_record_error
    sindexes_read: int = 0
    udfs_read: int = 0
    sindexes_created: int = 0
    sindexes_existing: int = 0  # already there with the same definition: left alone
    sindexes_ready: int = 0  # built, when wait_for_indexes
    udfs_created: int = 0
    bytes_read: int = 0
    files: int = 0
    files_total: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Records read per second so far."""
        return self.records_read / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def estimated_remaining(self) -> float | None:
        if self.files_total <= 0 or self.files <= 0:
            return None
        frac = min(1.0, self.files / self.files_total)
        return self.elapsed * (1.0 - frac) / frac


S = TypeVar("S", BackupStats, RestoreStats)
ProgressCallback = Callable[[Any], None]


class Counters:
    """Mutable counters behind one lock; ``snapshot`` makes the frozen stats object."""

    def __init__(self, kind: type[BackupStats] | type[RestoreStats]) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._values: dict[str, int] = {
            f.name: 0 for f in dataclasses.fields(kind) if f.type in ("int", int)
        }
        self._files: list[str] = []
        self._start = time.monotonic()
        self._end: float | None = None

    def add(self, **deltas: int) -> None:
        with self._lock:
            values = self._values
            for key, value in deltas.items():
                values[key] += value

    def add_many(self, deltas: Mapping[str, int]) -> None:
        self.add(**deltas)

    def set(self, **values: int) -> None:
        with self._lock:
            self._values.update(values)

    def get(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def file_written(self, name: str) -> None:
        with self._lock:
            self._files.append(name)
            if "files" in self._values:
                self._values["files"] += 1

    def finish(self) -> None:
        with self._lock:
            if self._end is None:
                self._end = time.monotonic()

    def snapshot(self) -> Any:
        with self._lock:
            elapsed = (self._end if self._end is not None else time.monotonic()) - self._start
            extra: dict[str, Any] = {"elapsed": elapsed}
            if self._kind is BackupStats:
                extra["files_written"] = tuple(sorted(self._files))
            kwargs: dict[str, Any] = {**self._values, **extra}
            return self._kind(**kwargs)


class JobControl:
    """What a running job consults: the cancel flag and its counters."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.cancel_event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        """Raise JobCancelled if the job was asked to stop."""
        if self.cancel_event.is_set():
            raise JobCancelled("job cancelled")


class Job(Generic[S]):
    """Handle of one running backup or restore. Thread-safe."""

    def __init__(
        self,
        kind: str,
        run: Callable[[JobControl], None],
        counters: Counters,
        *,
        progress: ProgressCallback | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        self.kind = kind
        self._counters = counters
        self._control = JobControl(counters)
        self._run = run
        self._progress = progress
        self._interval = progress_interval
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._report_lock = threading.Lock()
        self._reported_final = False
        self._thread = threading.Thread(target=self._main, name=f"aerobackup-{kind}", daemon=True)
        self._thread.start()
        if progress is not None:
            threading.Thread(target=self._ticker, name=f"aerobackup-{kind}-progress", daemon=True).start()

    def _main(self) -> None:
        try:
            self._run(self._control)
        except BaseException as exc:  # handed to wait(); the thread itself never raises
            self._error = exc
            if not isinstance(exc, AerobackupError):
                log.debug("%s job failed", self.kind, exc_info=True)
        finally:
            self._counters.finish()
            if self._progress is not None:
                self._report(final=True)  # the last call sees the final stats, before wait() returns
            self._done.set()

    def _ticker(self) -> None:
        while not self._done.wait(self._interval):
            self._report()

    def _report(self, final: bool = False) -> None:
        assert self._progress is not None
        with self._report_lock:
            if self._reported_final:
                return
            self._reported_final = final
            try:
                self._progress(self._counters.snapshot())
            except Exception:  # a broken callback must not break the job
                log.warning("progress callback of the %s job raised", self.kind, exc_info=True)

    # --- public handle ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def stats(self) -> S:
        return self._counters.snapshot()  # type: ignore[no-any-return]

    @property
    def error(self) -> BaseException | None:
        """The job's error once it is done (None while running or when it succeeded)."""
        return self._error if self._done.is_set() else None

    @property
    def cancelled(self) -> bool:
        return self._control.cancelled

    def cancel(self) -> None:
        """Ask the job to stop; ``wait`` then raises JobCancelled (unless it had finished)."""
        self._control.cancel_event.set()

    def wait(self, timeout: float | None = None) -> S:
        """Wait for the job; return its final stats or raise its error.

        Raises TimeoutError if it is still running after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.kind} job still running after {timeout} s")
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.stats

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<{type(self).__name__} {self.kind} {state}>"
