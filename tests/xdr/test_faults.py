"""Faults between the cluster and the receiver: a connection cut mid-stream and a receiver too
slow for the cluster's ack timeout. XDR re-ships what was not acked; the backup must hold every
record exactly once (nothing lost, nothing doubled) and restore equal."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, BinaryIO

from aerobackup import Runtime
from aerobackup.plugins.codecs.asbx import AsbxDecoder
from aerobackup.protocols import DecoderOptions, ObjectInfo, StorageInfo
from aerobackup.testing import Emulator
from aerobackup.testing.storage_contract import MemoryStorage

from tests.xdr.conftest import run_backup, run_restore


def load(em: Emulator, n: int) -> None:
    expires = em.clock.cl_seconds() + 86400
    for i in range(n):
        em.put_raw(
            "test",
            "s",
            i,
            [("v", 3, b"value-%06d" % i), ("i", 1, i.to_bytes(8, "big"))],
            void_time=0 if i % 2 else expires,
        )


def digests_in(storage: MemoryStorage) -> Counter[bytes]:
    seen: Counter[bytes] = Counter()
    for name, data in storage.objects.items():
        for token in AsbxDecoder(DecoderOptions(file=name)).decode(io.BytesIO(data)):
            seen[token.digest] += 1
    return seen


def test_connection_cut_mid_stream(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    load(source, 2000)
    shipper = source.shippers[0]
    shipper.faults.drop_after = 700
    storage = MemoryStorage()
    stats = run_backup(source, storage, runtime, ack_queue_size=64)
    assert shipper.faults.drop_after is None  # the cut happened
    assert shipper.totals["retry_conn_reset"] >= 1 and shipper.totals["success"] >= 2000
    seen = digests_in(storage)
    assert len(seen) == 2000  # nothing lost
    assert max(seen.values()) == 1  # nothing doubled
    assert stats.records_written == 2000
    restored = run_restore(target, storage, runtime)
    assert restored.records_written == 2000
    assert {r.digest: r.bins for r in target.records("test")} == {r.digest: r.bins for r in source.records("test")}


def test_cut_right_at_the_start(source: Emulator, runtime: Runtime) -> None:
    load(source, 300)
    source.shippers[0].faults.drop_after = 1
    source.shippers[0].faults.refuse_connect = 3  # and the first reconnections fail
    storage = MemoryStorage()
    run_backup(source, storage, runtime)
    seen = digests_in(storage)
    assert len(seen) == 300 and max(seen.values()) == 1


class SlowStorage(MemoryStorage):
    """Every write into a file takes ``delay`` seconds: a receiver slower than XDR's patience."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        return self._slow(name)

    @contextmanager
    def _slow(self, name: str) -> Iterator[BinaryIO]:
        with super().open_write(name) as f:
            yield _Slow(f, self.delay)  # type: ignore[misc]

    def info(self) -> StorageInfo:
        return super().info()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return super().list(prefix)


class _Slow:
    def __init__(self, f: Any, delay: float) -> None:
        self.f = f
        self.delay = delay

    def write(self, data: bytes) -> int:
        time.sleep(self.delay)
        return int(self.f.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


def test_slow_receiver(source: Emulator, target: Emulator, runtime: Runtime) -> None:
    load(source, 600)
    shipper = source.shippers[0]
    shipper.faults.ack_timeout = 0.15  # XDR gives a connection up when acks take longer
    storage = SlowStorage(0.25)
    t = time.monotonic()
    stats = run_backup(source, storage, runtime, result_queue_size=16, ack_queue_size=32)
    assert time.monotonic() - t < 60
    assert shipper.totals["retry_conn_reset"] >= 1  # XDR gave connections up and re-shipped
    assert stats.records_skipped >= 1  # re-sent copies recognised, not written again
    seen = digests_in(storage)
    assert len(seen) == 600 and max(seen.values()) == 1
    assert stats.records_written == 600
    restored = run_restore(target, storage, runtime)
    assert restored.records_written == 600
