"""The backup state file: per-partition progress, saved atomically as files are published.

A partition is *done*, *started* (with the digest of the last record written into a published
file) or absent (not started). Progress only ever describes records inside published files,
and each file is published in two steps:

1. ``prepare``: the state is saved with the file listed as *pending* with the progress it
   brings;
2. the storage publishes the file under its final name;
3. ``confirm``: the pending progress is merged and the state saved again.

On ``continue`` a pending file that exists in the storage is confirmed and one that does not
is forgotten, so a crash at any point leaves every record in exactly one published file once
the backup is continued (no overlap with atomic storages; see docs/library.md). Metadata: the
state remembers whether the first file (sindexes and UDFs) was published; if not, the
continued run writes it, so metadata is never lost.

The file is JSON; it is written through the storage's atomic ``open_write`` like a backup file.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .datapath import PartitionCursor
from .errors import FormatError
from .protocols import StorageBackend

__all__ = ["DONE", "BackupState", "StateStore", "load_state"]

STATE_VERSION = 1
#: Progress value of a finished partition (other values: base64 of the last digest written).
DONE = "done"


@dataclass(slots=True)
class BackupState:
    """Everything a continued backup needs to know about the interrupted one."""

    namespace: str
    scope: list[tuple[int, str | None]]  # the job's partitions and their starting digests
    partitions: dict[int, str] = field(default_factory=dict)  # pid -> DONE | b64 last digest
    pending: dict[str, dict[int, str]] = field(default_factory=dict)  # file -> its progress
    files: list[str] = field(default_factory=list)
    next_file: int = 0
    first_file_done: bool = False
    first_file: str | None = None  # name of the pending/published first file
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {
            "version": STATE_VERSION,
            "namespace": self.namespace,
            "scope": [[p, d] for p, d in self.scope],
            "partitions": {str(p): v for p, v in sorted(self.partitions.items())},
            "pending": {n: {str(p): v for p, v in prog.items()} for n, prog in self.pending.items()},
            "files": self.files,
            "next_file": self.next_file,
            "first_file_done": self.first_file_done,
            "first_file": self.first_file,
            "fingerprint": self.fingerprint,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, name: str) -> BackupState:
        try:
            doc = json.loads(data)
            if doc.get("version") != STATE_VERSION:
                raise FormatError(f"unsupported state file version {doc.get('version')!r}", file=name)
            return cls(
                namespace=doc["namespace"],
                scope=[(int(p), d) for p, d in doc["scope"]],
                partitions={int(p): v for p, v in doc["partitions"].items()},
                pending={n: {int(p): v for p, v in prog.items()} for n, prog in doc["pending"].items()},
                files=list(doc["files"]),
                next_file=int(doc["next_file"]),
                first_file_done=bool(doc["first_file_done"]),
                first_file=doc.get("first_file"),
                fingerprint=dict(doc.get("fingerprint", {})),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FormatError(f"not a backup state file ({type(exc).__name__}: {exc})", file=name) from None

    def remaining(self) -> list[PartitionCursor]:
        """Cursors of the partitions still to back up, each after its last written digest."""
        out = []
        for pid, start in self.scope:
            progress = self.partitions.get(pid)
            if progress == DONE:
                continue
            if progress is not None:
                out.append(PartitionCursor(pid, base64.b64decode(progress)))
            else:
                out.append(PartitionCursor(pid, None if start is None else base64.b64decode(start)))
        return out


def load_state(storage: StorageBackend, name: str) -> BackupState:
    """Read a state file and settle its pending files against what the storage holds."""
    with storage.open_read(name) as f:
        state = BackupState.from_json(f.read(), name)
    present = {o.name for o in storage.list("")}
    for fname, progress in list(state.pending.items()):
        if fname in present:
            _merge(state.partitions, progress)
            state.files.append(fname)
            if fname == state.first_file:
                state.first_file_done = True
    state.pending.clear()
    return state


def _merge(partitions: dict[int, str], progress: Mapping[int, str]) -> None:
    for pid, value in progress.items():
        if partitions.get(pid) != DONE:
            partitions[pid] = value


class StateStore:
    """Thread-safe keeper of a BackupState, saved to ``name`` in ``storage`` on every change.

    With no storage (no state file configured) it still tracks progress in memory, which the
    job uses for its statistics.
    """

    def __init__(self, state: BackupState, storage: StorageBackend | None, name: str | None) -> None:
        self.state = state
        self._storage = storage
        self._name = name
        self._lock = threading.Lock()

    @property
    def persistent(self) -> bool:
        return self._storage is not None

    def _save(self) -> None:
        if self._storage is None or self._name is None:
            return
        data = self.state.to_json()
        with self._storage.open_write(self._name) as f:
            f.write(data)

    def next_file_number(self) -> int:
        with self._lock:
            n = self.state.next_file
            self.state.next_file += 1
            return n

    def prepare(self, name: str, progress: Mapping[int, str], first: bool) -> None:
        with self._lock:
            self.state.pending[name] = dict(progress)
            if first:
                self.state.first_file = name
            self._save()

    def confirm(self, name: str) -> None:
        with self._lock:
            progress = self.state.pending.pop(name, {})
            _merge(self.state.partitions, progress)
            self.state.files.append(name)
            if name == self.state.first_file:
                self.state.first_file_done = True
            self._save()

    def abandon(self, name: str) -> None:
        with self._lock:
            self.state.pending.pop(name, None)
            self._save()

    def progress_only(self, progress: Mapping[int, str]) -> None:
        """Progress reached without a new file (a task that found no records)."""
        with self._lock:
            _merge(self.state.partitions, progress)
            self._save()

    def done_count(self, pids: Iterable[int] | None = None) -> int:
        with self._lock:
            return sum(1 for v in self.state.partitions.values() if v == DONE)

    def save(self) -> None:
        with self._lock:
            self._save()
