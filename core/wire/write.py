"""Record writes with raw particles: batch-index writes (§7) or one AS_MSG per record (§4.3).

Records are routed to their partition's master, one batch request per node (at most
``MAX_ROWS`` rows each). Per-record result codes come back to the caller; transient codes and
broken connections are retried with the policy's back-off, permanent codes never (3 "newer
generation exists" and 5 "exists" are outcomes, not errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..datapath import ExistsPolicy, GenerationPolicy, WritePolicy
from ..errors import ClusterError
from ..model import RecordBatch, partition_id
from .connection import WireConnectionError
from .messages import WriteFlags, batch_write_request, single_write_request
from .parse import MALFORMED, MSG_HEADER, parse_write_results
from .protocol import Info2, Info3, MsgType, Result
from .scan import NodeHandle, Router

__all__ = ["CONNECTION_FAILED", "MAX_ROWS", "RETRYABLE", "write_flags", "write_records"]

#: Rows per batch request. The server default batch-max-requests is 5000 (0 = unlimited on 8.x).
MAX_ROWS = 5000
#: Pseudo result code of a record whose node could not be reached (retried like a transient code).
CONNECTION_FAILED = -1
#: Codes retried with back-off (§4.4): timeout, unavailable, key busy, device overload, XDR key
#: busy, and a broken connection.
RETRYABLE = frozenset({Result.TIMEOUT, Result.UNAVAILABLE, Result.KEY_BUSY, Result.DEVICE_OVERLOAD,
                       Result.XDR_KEY_BUSY, CONNECTION_FAILED})
_NOT_STARTED = -2


def write_flags(policy: WritePolicy) -> WriteFlags:
    info2 = Info2.WRITE
    info3 = 0
    if policy.exists is ExistsPolicy.CREATE_ONLY:
        info2 |= Info2.CREATE_ONLY
    elif policy.exists is ExistsPolicy.REPLACE:
        info3 |= Info3.CREATE_OR_REPLACE
    use_gen = policy.generation is GenerationPolicy.GT
    if use_gen:
        info2 |= Info2.GENERATION_GT
    return WriteFlags(info2, info3, use_gen)


def write_records(
    router: Router,
    batch: RecordBatch,
    ttls: Sequence[int],
    policy: WritePolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Write every record of ``batch``; return the result code per record (see module docstring)."""
    n = len(batch)
    if len(ttls) != n:
        raise ValueError(f"{len(ttls)} TTLs given for {n} records")
    results = [_NOT_STARTED] * n
    flags = write_flags(policy)
    todo = list(range(n))
    attempt = 0
    names: dict[str, bytes] = {}
    errors: list[str] = []
    while todo:
        groups: dict[str, tuple[NodeHandle, list[int]]] = {}
        sole = router.sole_owner(batch.namespace)
        if sole is not None:  # one node owns every partition: no lookup per record
            groups[sole.name] = (sole, todo)
        else:
            for i in todo:
                node = router.owner_node(batch.namespace, partition_id(batch.digests[i]))
                if node is None:
                    results[i] = Result.UNAVAILABLE
                    continue
                groups.setdefault(node.name, (node, []))[1].append(i)
        def to_node(node: NodeHandle, rows: list[int]) -> None:
            for k in range(0, len(rows), MAX_ROWS if policy.use_batch else len(rows)):
                chunk = rows[k : k + MAX_ROWS] if policy.use_batch else rows
                try:
                    if policy.use_batch:
                        codes = _batch_write(node, batch, chunk, ttls, flags, policy, names)
                    else:
                        codes = _single_writes(node, batch, chunk, ttls, flags, policy)
                except WireConnectionError as exc:
                    codes = [CONNECTION_FAILED] * len(chunk)
                    errors.append(str(exc))
                if len(chunk) == n == len(codes):  # every row, in order (chunks keep todo's order)
                    results[:] = codes
                else:
                    for i, code in zip(chunk, codes, strict=True):
                        results[i] = code  # each node owns distinct rows: no two threads share an index

        if len(groups) > 1:  # one thread per node: the nodes work at the same time
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="write") as pool:
                for future in [pool.submit(to_node, node, rows) for node, rows in groups.values()]:
                    future.result()  # re-raises a permanent ClusterError from any node
        else:
            for node, rows in groups.values():
                to_node(node, rows)
        todo = [i for i in todo if results[i] in RETRYABLE] if not RETRYABLE.isdisjoint(results) else []
        if not todo or attempt >= policy.retry.max_retries:
            break
        sleep(policy.retry.delay(attempt))
        attempt += 1
        if any(results[i] in (Result.UNAVAILABLE, CONNECTION_FAILED) for i in todo):
            try:
                router.refresh()
            except ClusterError:
                pass
    failed = [i for i in range(n) if results[i] == CONNECTION_FAILED] if CONNECTION_FAILED in results else []
    if failed:
        why = f" (last error: {errors[-1]})" if errors else ""
        raise ClusterError(f"could not write {len(failed)} records of {batch.namespace!r} after "
                           f"{attempt} retries: the cluster was unreachable{why}")
    return results


def _batch_write(
    node: NodeHandle,
    batch: RecordBatch,
    rows: list[int],
    ttls: Sequence[int],
    flags: WriteFlags,
    policy: WritePolicy,
    names: dict[str, bytes],
) -> list[int]:
    message = batch_write_request(batch, rows, ttls, flags, timeout_ms=policy.total_timeout_ms, names=names)
    timeout = policy.socket_timeout_ms / 1000 if policy.socket_timeout_ms else None
    conn = node.pool.get(timeout)
    codes = [_NOT_STARTED] * len(rows)
    try:
        conn.send(message)
        last, status = False, 0
        while not last:
            msg_type, buf, start = conn.read_proto()
            if msg_type != MsgType.AS_MSG:
                raise WireConnectionError(f"{conn.address}: unexpected proto type {msg_type} in a batch reply")
            try:
                last, status = parse_write_results(buf, start, len(buf), codes)
            except MALFORMED as exc:
                raise WireConnectionError(f"{conn.address}: malformed batch reply: {exc}") from None
    except BaseException:
        conn.close()
        raise
    node.pool.put(conn)
    if status and status not in RETRYABLE and all(c == _NOT_STARTED for c in codes):
        raise ClusterError(f"{node.name}: batch write to {batch.namespace!r} refused with result {status}",
                           code=status)
    # Rows the server did not answer share the batch status (0 would be a lie: treat as lost).
    missing = status if status else Result.UNKNOWN
    return [missing if c == _NOT_STARTED else c for c in codes]


def _single_writes(
    node: NodeHandle,
    batch: RecordBatch,
    rows: list[int],
    ttls: Sequence[int],
    flags: WriteFlags,
    policy: WritePolicy,
) -> list[int]:
    timeout = policy.socket_timeout_ms / 1000 if policy.socket_timeout_ms else None
    codes: list[int] = []
    conn = node.pool.get(timeout)
    try:
        for i in rows:
            try:
                conn.send(single_write_request(batch, i, ttls[i], flags, timeout_ms=policy.total_timeout_ms))
                msg_type, buf, start = conn.read_proto()
            except WireConnectionError:
                codes.extend([CONNECTION_FAILED] * (len(rows) - len(codes)))
                return codes
            if msg_type != MsgType.AS_MSG or len(buf) - start < 22:
                conn.close()
                raise WireConnectionError(f"{conn.address}: bad write reply")
            codes.append(MSG_HEADER.unpack_from(buf, start)[1])
    finally:
        node.pool.put(conn)
    return codes
