"""In-memory fakes for testing pipelines without a cluster: a record source and sink, a storage,
and a tiny codec. They implement the same Protocols as the real pieces, honour the same
semantics (scan filters, write policies, atomic publish) and are picklable, so they also run in
worker processes. Use the emulator and the real plugins for end-to-end tests; use these to test
pipeline logic in isolation and to inject faults precisely.
"""

from __future__ import annotations

import io
import pickle
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, BinaryIO

from ..datapath import ExistsPolicy, GenerationPolicy, PartitionsDone, ScanItem, ScanRequest, WritePolicy
from ..errors import BackupNotFoundError, ClusterError
from ..hookspecs import hookimpl
from ..model import CITRUSLEAF_EPOCH, UDF, Record, RecordBatch, SIndex, partition_id
from ..protocols import (
    DecoderOptions,
    EncoderOptions,
    ObjectInfo,
    StorageInfo,
    StorageURL,
    TransformOptions,
)

__all__ = ["FakeCluster", "FakeCodecPlugin", "MemStorage", "fake_runtime"]


class FakeCluster:
    """A RecordSource and RecordSink over dicts: namespace -> digest -> Record.

    ``fail_after_batches``: raise ClusterError after that many scan batches (then reset), to
    simulate a crash mid-backup. ``write_faults``: the next N ``write`` calls raise a transient
    ClusterError after applying half of the batch (a dropped connection mid-batch).
    """

    def __init__(self, *, batch_size: int = 100, nodes: Sequence[str] = ("127.0.0.1:3000",)) -> None:
        self.data: dict[str, dict[bytes, Record]] = {}
        self.indexes: list[SIndex] = []
        self.udf_modules: list[UDF] = []
        self.batch_size = batch_size
        self.node_names = list(nodes)
        self.fail_after_batches: int | None = None
        self.write_faults = 0
        self.write_calls = 0
        self.scans: list[ScanRequest] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # --- loading --------------------------------------------------------------------------

    def put(self, rec: Record) -> None:
        self.data.setdefault(rec.namespace, {})[rec.digest] = rec

    def records(self, namespace: str) -> list[Record]:
        return sorted(self.data.get(namespace, {}).values(), key=lambda r: r.digest)

    def nodes(self) -> list[str]:
        return list(self.node_names)

    def owner(self, pid: int) -> str:
        return self.node_names[pid % len(self.node_names)]

    def record_count(self, namespace: str) -> int:
        return len(self.data.get(namespace, {}))

    # --- RecordSource ----------------------------------------------------------------------

    def scan(self, request: ScanRequest) -> Iterator[ScanItem]:
        with self._lock:
            self.scans.append(request)
        by_pid: dict[int, list[Record]] = {}
        for rec in self.data.get(request.namespace, {}).values():
            by_pid.setdefault(partition_id(rec.digest), []).append(rec)
        now = _now_cl()
        sent = 0
        batches = 0
        for cursor in request.partitions:
            pid = cursor.partition
            if request.node is not None and self.owner(pid) != request.node:
                continue
            recs = sorted(by_pid.get(pid, []), key=lambda r: r.digest)
            if cursor.after_digest is not None:
                recs = [r for r in recs if r.digest > cursor.after_digest]
            out: list[Record] = []
            for rec in recs:
                if request.set_names and rec.set not in request.set_names:
                    continue
                if request.no_ttl_only and rec.void_time != 0:
                    continue
                if rec.void_time and rec.void_time <= now:
                    continue
                if request.bin_names:
                    rec = Record(rec.namespace, rec.set, rec.digest, rec.key, rec.generation, rec.void_time,
                                 tuple(b for b in rec.bins if b.name in request.bin_names))
                if request.no_bins:
                    rec = Record(rec.namespace, rec.set, rec.digest, rec.key, rec.generation, rec.void_time, ())
                out.append(rec)
                sent += 1
                if request.max_records and sent >= request.max_records:
                    break
            for i in range(0, len(out), self.batch_size):
                if self.fail_after_batches is not None:
                    if batches >= self.fail_after_batches:
                        self.fail_after_batches = None
                        raise ClusterError("connection reset by the fake cluster")
                batches += 1
                yield RecordBatch.from_records(request.namespace, out[i : i + self.batch_size])
            yield PartitionsDone((pid,))
            if request.max_records and sent >= request.max_records:
                return

    def sindexes(self, namespace: str) -> list[SIndex]:
        return [i for i in self.indexes if i.namespace == namespace]

    def udfs(self) -> list[UDF]:
        return list(self.udf_modules)

    # --- RecordSink ------------------------------------------------------------------------

    def write(self, batch: RecordBatch, ttls: Sequence[int], policy: WritePolicy) -> list[int]:
        with self._lock:
            self.write_calls += 1
            fault = self.write_faults > 0
            if fault:
                self.write_faults -= 1
            codes: list[int] = []
            now = _now_cl()
            limit = len(batch) // 2 if fault else len(batch)
            for i, rec in enumerate(batch.records()):
                if i >= limit:
                    break
                ns = self.data.setdefault(batch.namespace, {})
                old = ns.get(rec.digest)
                if old is not None and old.void_time and old.void_time <= now:
                    old = None
                if old is not None and policy.exists is ExistsPolicy.CREATE_ONLY:
                    codes.append(5)
                    continue
                if (old is not None and policy.generation is GenerationPolicy.GT
                        and not rec.generation > old.generation):
                    codes.append(3)
                    continue
                ttl = ttls[i]
                void = 0 if ttl == -1 else now + ttl
                bins = rec.bins
                if old is not None and policy.exists is ExistsPolicy.UPDATE:
                    merged = {b.name: b for b in old.bins}
                    merged.update({b.name: b for b in rec.bins})
                    bins = tuple(merged.values())
                gen = (old.generation + 1) if old is not None else 1
                ns[rec.digest] = Record(batch.namespace, rec.set, rec.digest, rec.key, gen, void, bins)
                codes.append(0)
            if fault:
                raise ClusterError("connection dropped by the fake cluster", code=None)
            return codes

    def create_sindex(self, index: SIndex) -> None:
        with self._lock:
            for old in self.indexes:
                if old.namespace == index.namespace and old.name == index.name:
                    if old != index:
                        raise ClusterError(f"index {index.name} exists with another definition", code=200)
                    return
            self.indexes.append(index)

    def put_udf(self, udf: UDF) -> None:
        with self._lock:
            self.udf_modules = [u for u in self.udf_modules if u.name != udf.name] + [udf]


def _now_cl() -> int:
    import time

    return int(time.time()) - CITRUSLEAF_EPOCH


# --- storage --------------------------------------------------------------------------------


class MemStorage:
    """An in-memory StorageBackend: objects appear only when their ``with`` block exits cleanly."""

    def __init__(self, url: StorageURL | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_writes_after: int | None = None  # bytes; simulate a full disk

    def info(self) -> StorageInfo:
        return StorageInfo()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for name in sorted(self.objects):
            if name.startswith(prefix):
                yield ObjectInfo(name, len(self.objects[name]))

    def open_read(self, name: str) -> BinaryIO:
        try:
            return io.BytesIO(self.objects[name])
        except KeyError:
            raise BackupNotFoundError(f"mem: no object {name!r}") from None

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        @contextmanager
        def _cm() -> Iterator[BinaryIO]:
            buf = io.BytesIO()
            yield buf
            self.objects[name] = buf.getvalue()

        return _cm()

    def remove(self, name: str) -> None:
        self.objects.pop(name, None)


# --- a tiny codec (pickled frames) so pipelines can be tested before/without the ASB plugin ---

_FRAME = struct.Struct(">I")
_MAGIC = b"Version 0.0\n"


class _FakeEncoder:
    def __init__(self, options: EncoderOptions) -> None:
        self.options = options

    def header(self, namespace: str, first_file: bool) -> bytes:
        # starts like an ASB file so the transform chain's head check accepts it
        return _MAGIC + _frame(("header", namespace, first_file))

    def metadata(self, sindexes: Iterable[SIndex], udfs: Iterable[UDF]) -> bytes:
        return b"".join([_frame(("sindex", s)) for s in sindexes] + [_frame(("udf", u)) for u in udfs])

    def encode(self, batch: RecordBatch) -> bytes:
        return _frame(("records", batch.namespace, list(batch.records())))


class _FakeDecoder:
    def __init__(self, options: DecoderOptions) -> None:
        self.options = options

    def decode(self, stream: BinaryIO) -> Iterator[SIndex | UDF | RecordBatch]:
        from ..errors import FormatError

        if stream.read(len(_MAGIC)) != _MAGIC:
            raise FormatError("not a fake-codec file", file=self.options.file)
        while True:
            head = stream.read(4)
            if not head:
                return
            if len(head) < 4:
                raise FormatError("truncated frame", file=self.options.file)
            (size,) = _FRAME.unpack(head)
            body = stream.read(size)
            if len(body) < size:
                raise FormatError("truncated frame", file=self.options.file)
            item = pickle.loads(body)
            if item[0] in ("sindex", "udf"):
                yield item[1]
            elif item[0] == "records":
                recs = item[2]
                for i in range(0, max(len(recs), 1), self.options.batch_size):
                    if recs:
                        yield RecordBatch.from_records(item[1], recs[i : i + self.options.batch_size])


def _frame(obj: object) -> bytes:
    body = pickle.dumps(obj)
    return _FRAME.pack(len(body)) + body


class _Identity:
    name = "identity"

    def __init__(self, options: TransformOptions) -> None:
        pass

    def wrap_writer(self, sink: BinaryIO) -> BinaryIO:
        return sink

    def wrap_reader(self, source: BinaryIO) -> BinaryIO:
        return source


class FakeCodecPlugin:
    """Registers codec ``fake`` (suffix ``.fake``), storage ``mem`` and transform ``identity``."""

    def __init__(self) -> None:
        self.storages: dict[str, MemStorage] = {}

    @hookimpl
    def register_codecs(self, register: Any) -> None:
        register("fake", _FakeEncoder, _FakeDecoder, suffix=".fake")

    @hookimpl
    def register_storages(self, register: Any) -> None:
        def factory(url: StorageURL) -> MemStorage:
            return self.storages.setdefault(url.path, MemStorage(url))

        register("mem", factory, schemes=("mem",))

    @hookimpl
    def register_transforms(self, register: Any) -> None:
        register("identity", _Identity)


def fake_runtime(*extra: object) -> Any:
    """A Runtime with the fake plugins (and any ``extra`` plugin objects), no entry points."""
    from ..runtime import Runtime

    return Runtime.from_plugins([FakeCodecPlugin(), *extra])
