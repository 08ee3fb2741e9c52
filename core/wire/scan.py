"""Partition scans over our own connections (wire-protocol.md §6), with exact resume.

Each round sends one partition query per owning node (partitions from their start in
PID_ARRAY, resumed ones in DIGEST_ARRAY), streams the reply protos and yields one RecordBatch
per proto. A partition is complete when its node's stream ends with LAST result 0 and no
unavailable marker named it (a real server sends markers only for unavailable partitions).
Unavailable partitions, broken connections and transient results are retried in the next
round, after a map refresh, from the digest of the last record received, so every record
is yielded exactly once (the server returns only digests strictly below the resume digest).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..datapath import PartitionsDone, ScanItem, ScanRequest
from ..errors import ClusterError
from ..model import RecordBatch
from .connection import Connection, ConnectionPool, WireConnectionError
from .expressions import scan_filter
from .messages import scan_request
from .parse import MALFORMED, ParseState, parse_records
from .protocol import MsgType, Result

__all__ = ["NodeHandle", "Router", "ScanStats", "run_scan"]

#: Scan results worth another round (§4.4 transient codes for scans).
_RETRY_SCAN = frozenset({Result.TIMEOUT, Result.UNAVAILABLE, Result.KEY_BUSY, Result.DEVICE_OVERLOAD,
                         Result.CLUSTER_KEY_MISMATCH, Result.QUERY_ABORT})


class NodeHandle(Protocol):
    name: str
    pool: ConnectionPool


class Router(Protocol):
    """What a scan needs from the cluster view."""

    def owner_node(self, namespace: str, partition: int) -> NodeHandle | None: ...

    def sole_owner(self, namespace: str) -> NodeHandle | None:
        """The node owning every partition of ``namespace``, or None (writes then route per
        record)."""
        ...

    def refresh(self) -> None: ...


@dataclass(slots=True)
class ScanStats:
    """Counters of one scan (for logs and tests)."""

    records: int = 0
    rounds: int = 0
    retried_partitions: int = 0
    errors: list[str] = field(default_factory=list)


def run_scan(router: Router, req: ScanRequest, stats: ScanStats | None = None) -> Iterator[ScanItem]:
    """Yield RecordBatch items and PartitionsDone markers for ``req`` (see module docstring)."""
    if stats is None:
        stats = ScanStats()
    # partition -> resume digest (None: from the start). Updated as records arrive.
    pending: dict[int, bytes | None] = {c.partition: c.after_digest for c in req.partitions}
    set_name = req.set_names[0] if len(req.set_names) == 1 else None
    expression = scan_filter(
        user=req.filter_expression,
        set_names=req.set_names,
        modified_after_ns=req.modified_after_ns,
        modified_before_ns=req.modified_before_ns,
        no_ttl_only=req.no_ttl_only,
    )
    deadline = time.monotonic() + req.total_timeout_ms / 1000 if req.total_timeout_ms else None
    base = stats.records
    attempt = 0
    while pending:
        stats.rounds += 1
        groups: dict[str, tuple[NodeHandle, list[int]]] = {}
        unowned = 0
        for p in sorted(pending):
            node = router.owner_node(req.namespace, p)
            if node is None:
                unowned += 1
            elif req.node is not None and node.name != req.node:
                del pending[p]  # another node's partition: not this node-list scan's business
            else:
                groups.setdefault(node.name, (node, []))[1].append(p)
        failed = unowned > 0
        if unowned:
            stats.errors.append(f"{unowned} partitions of {req.namespace!r} have no owner in the map")
        if len(groups) > 1 and not req.max_records:
            # Nodes stream at the same time: a real node produces records slower than we parse
            # them, so sequential node scans would leave the parser idle.
            if not (yield from _scan_nodes_concurrently(list(groups.values()), req, pending, set_name,
                                                        expression, deadline, stats)):
                failed = True
        else:
            for node, pids in groups.values():
                budget = req.max_records - (stats.records - base) if req.max_records else 0
                outcome = yield from _scan_node(node, req, pids, pending, set_name, expression, budget,
                                                deadline, stats)
                if req.max_records and stats.records - base >= req.max_records:
                    return
                if outcome < 0:
                    failed = True
        if not pending:
            return
        if not failed:  # nothing retryable happened yet partitions remain: cannot progress
            raise ClusterError(f"scan of {req.namespace!r} left partitions {sorted(pending)[:8]} unserved")
        attempt += 1
        stats.retried_partitions += len(pending)
        if attempt > req.max_retries:
            why = f": {stats.errors[-1]}" if stats.errors else ""
            raise ClusterError(
                f"scan of {req.namespace!r} gave up after {req.max_retries} retries with "
                f"{len(pending)} partitions unfinished{why}"
            )
        if deadline is not None and time.monotonic() >= deadline:
            raise ClusterError(f"scan of {req.namespace!r} exceeded its total timeout of {req.total_timeout_ms} ms",
                               code=Result.TIMEOUT)
        if req.sleep_between_retries_ms:
            time.sleep(req.sleep_between_retries_ms / 1000)
        try:
            router.refresh()
        except ClusterError as exc:
            stats.errors.append(str(exc))


def _scan_nodes_concurrently(
    groups: list[tuple[NodeHandle, list[int]]],
    req: ScanRequest,
    pending: dict[int, bytes | None],
    set_name: str | None,
    expression: bytes | None,
    deadline: float | None,
    stats: ScanStats,
) -> Generator[ScanItem, None, bool]:
    """Run ``_scan_node`` for every node on its own thread and yield their items as they come.

    Each node's items keep their order (its PartitionsDone follows its records). Returns False
    when some node must be retried. Workers touch only their own partitions in ``pending``
    and keep their own counters, merged into ``stats`` at the end.
    """
    items: queue.Queue[tuple[int, str, object]] = queue.Queue(maxsize=2 * len(groups) + 2)
    stop = threading.Event()
    local = [ScanStats() for _ in groups]

    def work(k: int, node: NodeHandle, pids: list[int]) -> None:
        gen = _scan_node(node, req, pids, pending, set_name, expression, 0, deadline, local[k])
        try:
            while True:
                try:
                    item: object = next(gen)
                except StopIteration as end:
                    _offer(items, stop, (k, "done", end.value))
                    return
                if not _offer(items, stop, (k, "item", item)):
                    return  # the consumer went away
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            _offer(items, stop, (k, "error", exc))
        finally:
            gen.close()  # closes the node's connection if the stream did not finish

    threads = [threading.Thread(target=work, args=(k, node, pids), name=f"scan {node.name}", daemon=True)
               for k, (node, pids) in enumerate(groups)]
    for t in threads:
        t.start()
    ok = True
    error: BaseException | None = None
    running = len(threads)
    try:
        while running:
            k, kind, value = items.get()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "done":
                running -= 1
                ok = ok and isinstance(value, int) and value >= 0
            else:  # a permanent failure: stop the other nodes too and report it
                error = value  # type: ignore[assignment]
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5.0)
        for one in local:
            stats.records += one.records
            stats.errors.extend(one.errors)
    if error is not None:
        raise error
    return ok


def _offer(items: queue.Queue[tuple[int, str, object]], stop: threading.Event,
           entry: tuple[int, str, object]) -> bool:
    """Put ``entry`` unless the consumer has stopped; False when it has."""
    while not stop.is_set():
        try:
            items.put(entry, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class _Prefetch:
    """Reads the reply protos of one stream on a helper thread, so that receiving the next proto
    overlaps parsing the previous one (socket reads and inflation release the GIL).

    The thread ends after a proto that is a lone end message (LAST, or a start error: how real
    servers frame the end); if the end arrives inside a larger proto, the caller closes the
    connection instead of pooling it, which unblocks the thread.
    """

    def __init__(self, conn: Connection, depth: int = 4) -> None:
        self._conn = conn
        self._queue: queue.Queue[tuple[int, bytes, int] | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=f"scan-reader {conn.address}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._conn.read_proto()
                msg_type, buf, start = item
                end = False
                if msg_type == MsgType.AS_MSG and len(buf) - start == 22:
                    info3, result = buf[start + 3], buf[start + 5]
                    end = bool(info3 & 0x01) or (result != 0 and not info3 & 0x04)
                self._put(item)
                if end:
                    self._finished = True
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put(exc)

    def _put(self, item: tuple[int, bytes, int] | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self) -> tuple[int, bytes, int]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> bool:
        """True when the thread saw the end of the stream and has exited (the socket is clean)."""
        if not self._finished:
            return False
        self._thread.join(timeout=1.0)
        return not self._thread.is_alive()


def _scan_node(
    node: NodeHandle,
    req: ScanRequest,
    pids: list[int],
    pending: dict[int, bytes | None],
    set_name: str | None,
    expression: bytes | None,
    budget: int,
    deadline: float | None,
    stats: ScanStats,
) -> Generator[ScanItem, None, int]:
    """Scan ``pids`` on one node. Returns records received, or -1 when the node must be retried.

    A generator used with ``yield from``; its return value is the outcome.
    """
    fresh = [p for p in pids if pending[p] is None]
    resume = [d for p in pids if (d := pending[p]) is not None]
    message = scan_request(
        req.namespace, fresh, resume, set_name=set_name, bin_names=req.bin_names, no_bins=req.no_bins,
        max_records=budget, records_per_second=req.records_per_second, filter_expression=expression,
        socket_timeout_ms=req.socket_timeout_ms, total_timeout_ms=req.total_timeout_ms,
    )
    timeout = req.socket_timeout_ms / 1000 if req.socket_timeout_ms else None
    state = ParseState()
    received = 0
    done = False
    try:
        conn = node.pool.get(timeout)
    except WireConnectionError as exc:
        stats.errors.append(str(exc))
        return -1
    reader: _Prefetch | None = None
    try:
        conn.send(message)
        reader = _Prefetch(conn)
        namespace = req.namespace
        while not state.last:
            msg_type, buf, start = reader.get()
            if msg_type != MsgType.AS_MSG:
                raise WireConnectionError(f"{conn.address}: unexpected proto type {msg_type} in a scan reply")
            batch = RecordBatch(namespace, buf)
            try:
                n = parse_records(buf, start, len(buf), batch, state)
            except MALFORMED as exc:
                raise WireConnectionError(f"{conn.address}: malformed scan reply: {exc}") from None
            if n:
                for d in batch.digests:  # resume point of each partition: its last record
                    pending[(d[0] | (d[1] << 8)) & 4095] = d
                received += n
                stats.records += n
                yield batch
            if deadline is not None and time.monotonic() >= deadline and not state.last:
                raise WireConnectionError(f"{conn.address}: scan exceeded its total timeout")
        done = True
    except WireConnectionError as exc:
        stats.errors.append(str(exc))
        return -1
    finally:
        if reader is not None:
            reader.stop()
        if done and reader is not None and reader.join():
            node.pool.put(conn)
        else:  # broken, timed out, the consumer stopped early, or the reader is still reading
            conn.close()
    if state.result:
        message_text = f"{node.name}: scan of {req.namespace!r} failed with result {state.result}"
        if state.result in _RETRY_SCAN:
            stats.errors.append(message_text)
            return -1
        raise ClusterError(message_text, code=state.result)
    if budget and received >= budget:
        return received  # stopped by the record limit: no partition is known complete
    unavailable = set(state.unavailable)
    finished = tuple(p for p in pids if p not in unavailable)
    for p in finished:
        del pending[p]
    if finished:
        yield PartitionsDone(finished)
    if unavailable:
        stats.errors.append(f"{node.name}: {len(unavailable)} partitions unavailable")
        return -1
    return received
