"""ASBX restore: send each stored XDR message back to the cluster as the write it was.

Files are restored per writer prefix, each prefix's files in file-number order (asb-format
§13.3): that replays one backup writer's XDR events in the order they were shipped, so a later
version of a record is never overwritten by an earlier one. Prefixes run in parallel (up to
``config.parallel``). Each payload keeps its bytes (TTL, LUT, ops) except the bits the restore
policy rewrites (wire-protocol.md §10.5): the generation check in info2 and the record-exists
action in info2/info3. It goes to the node that owns the record's partition; messages for one
node are pipelined on one connection, so one record's versions keep their order.

Options that mean nothing for ASBX (namespace change, set/bin lists, no-records/indexes/UDFs,
batch-write settings, extra TTL) are refused with a message naming them, never ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, BinaryIO

from ..config import RestoreConfig
from ..errors import AerobackupError, BackupNotFoundError, ClusterError, ConfigError, JobCancelled, RecordError
from ..jobs import Counters, Job, JobControl, ProgressCallback, RestoreStats
from ..model import XdrToken, partition_id
from ..protocols import DecoderOptions, StorageBackend
from ..ratelimit import Throttle
from ..runtime import Runtime
from ..transforms_chain import open_backup_reader
from ..wire.connection import Connection, WireConnectionError
from ..wire.protocol import TRANSIENT_RESULTS, Info2, Info3, Result
from . import asbx_io
from .backup_xdr import build_transforms

__all__ = ["PayloadPolicy", "check_config", "restore_asbx", "rewrite_payload"]

log = logging.getLogger("aerobackup.xdr")

_WINDOW = 512  # messages read from the files before they are sent (per node, pipelined) and answered
_WINDOW_BYTES = 4 << 20  # ... or fewer when they are big: bounded memory, and replies never fill a buffer
_DEFAULT_BATCH_SIZE = 128
_DEFAULT_ASYNC_BATCHES = 32
_INFO2_GEN_BITS = Info2.GENERATION | Info2.GENERATION_GT
_INFO3_EXISTS_BITS = Info3.UPDATE_ONLY | Info3.CREATE_OR_REPLACE | Info3.REPLACE_ONLY


class PayloadPolicy:
    """The info2/info3 bits a restore policy puts into every payload (§10.5)."""

    __slots__ = ("info2_set", "info3_set")

    def __init__(self, *, generation: str = "gt", exists: str = "update") -> None:
        gen_bits = {"gt": Info2.GENERATION_GT, "eq": Info2.GENERATION, "none": 0}
        info2 = gen_bits[generation]
        info3 = 0
        if exists == "create_only":
            info2 |= Info2.CREATE_ONLY
        elif exists == "replace":
            info3 = Info3.CREATE_OR_REPLACE
        elif exists == "replace_only":
            info3 = Info3.REPLACE_ONLY
        elif exists == "update_only":
            info3 = Info3.UPDATE_ONLY
        elif exists != "update":
            raise ValueError(f"unknown exists policy {exists!r}")
        self.info2_set = info2
        self.info3_set = info3

    @classmethod
    def from_config(cls, config: RestoreConfig) -> PayloadPolicy:
        exists = "replace" if config.replace else "create_only" if config.unique else "update"
        return cls(generation="none" if config.no_generation else "gt", exists=exists)


def rewrite_payload(payload: bytes, policy: PayloadPolicy) -> bytes:
    """The payload with the policy's generation and exists bits (offsets in the full message:
    info1 byte 9, info2 byte 10, info3 byte 11). The XDR bit of info1 is cleared too (the
    backup already did; a file from elsewhere may not have)."""
    if len(payload) < 30 or payload[0] != 2 or payload[1] != 3:
        raise ValueError("not an AS_MSG proto")
    info1 = payload[9] & ~0x10
    info2 = (payload[10] & ~(_INFO2_GEN_BITS | Info2.CREATE_ONLY)) | policy.info2_set
    info3 = (payload[11] & ~_INFO3_EXISTS_BITS) | policy.info3_set
    return payload[:9] + bytes((info1, info2, info3)) + payload[12:]


def check_config(config: RestoreConfig) -> None:
    """Refuse settings that do not apply to an ASBX restore (RestoreConfig refuses the rest when
    its decoder is ``asbx``)."""
    if config.decoder != "asbx":
        raise ConfigError(
            "restore.decoder", f"an ASBX restore reads ASBX files: set decoder 'asbx' (got {config.decoder!r})"
        )
    if config.batch_size != _DEFAULT_BATCH_SIZE:
        raise ConfigError(
            "restore.batch_size", "does not apply to ASBX (XDR) restores: records are sent one message each"
        )
    if config.max_async_batches != _DEFAULT_ASYNC_BATCHES:
        raise ConfigError("restore.max_async_batches", "does not apply to ASBX (XDR) restores")
    if config.wait_for_indexes:
        raise ConfigError("restore.wait_for_indexes", "does not apply to ASBX (XDR) restores: they hold no indexes")
    if config.total_timeout_ms:
        raise ConfigError("restore.total_timeout_ms", "does not apply to ASBX (XDR) restores (socket_timeout_ms does)")
    if config.executor != "threads":
        raise ConfigError("restore.executor", "ASBX (XDR) restores run on threads (one per file group)")


def restore_asbx(
    config: RestoreConfig,
    storage: StorageBackend,
    cluster: Any,
    *,
    runtime: Runtime | None = None,
    files: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 1.0,
) -> Job[RestoreStats]:
    """Start restoring the ``.asbx`` files of ``storage`` (or the named ``files``) into ``cluster``.

    ``cluster`` is an ``aerobackup.cluster.Cluster`` (it needs ``owner_node(namespace,
    partition)`` returning a node with a connection ``pool``). With ``config.validate_only`` the
    files are read and checked, nothing is written. Returns the job handle.
    """
    check_config(config)
    counters = Counters(RestoreStats)
    rt = runtime if runtime is not None else Runtime.discover()

    def run(control: JobControl) -> None:
        _Restore(config, storage, cluster, rt, control, counters, files).run()

    return Job("restore-asbx", run, counters, progress=progress, progress_interval=progress_interval)


class _Restore:
    def __init__(
        self,
        config: RestoreConfig,
        storage: StorageBackend,
        cluster: Any,
        rt: Runtime,
        control: JobControl,
        counters: Counters,
        files: Sequence[str] | None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.cluster = cluster
        self.rt = rt
        self.control = control
        self.counters = counters
        self.files = files
        self.policy = PayloadPolicy.from_config(config)
        self.transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        # records_per_second and bandwidth hold for the whole job, all file groups together
        self.throttle = Throttle(config.records_per_second, config.bandwidth, cancelled=control.cancel_event)
        self._decoder_factory: Callable[[str], Any] | None = None
        try:
            rt.offer("codec", "asbx")
            self._decoder_factory = lambda name: rt.decoder("asbx", DecoderOptions(file=name))
        except AerobackupError:  # no asbx codec plugin installed: the core reader does the same job
            self._decoder_factory = None

    def run(self) -> None:
        names = (
            list(self.files)
            if self.files is not None
            else [o.name for o in self.storage.list("") if o.name.endswith(asbx_io.SUFFIX)]
        )
        if not names:
            raise BackupNotFoundError("no ASBX files (*.asbx) found at the restore location")
        groups = asbx_io.order_files(names)
        self.counters.set(files_total=len(names))
        workers = min(self.config.parallel, len(groups))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asbx-restore") as pool:
            futures = [pool.submit(self._group, g) for g in groups]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f.exception() for f in futures if f in done and f.exception() is not None]
            if failed:
                self.error = failed[0]
                self._stop.set()  # the other groups stop at their next check
        if self.error is not None:
            raise self.error
        self.control.check()

    def _check(self) -> None:
        self.control.check()
        if self._stop.is_set():
            raise JobCancelled("stopped: another file group failed")

    # --- one prefix: its files in order ------------------------------------------------------

    def _group(self, group: list[asbx_io.AsbxName]) -> None:
        writer = None if self.config.validate_only else _NodeWriter(self)
        try:
            for entry in group:
                self._check()
                self._file(entry, writer)
            if writer is not None:
                writer.flush()
        finally:
            if writer is not None:
                writer.close()

    def _file(self, entry: asbx_io.AsbxName, writer: _NodeWriter | None) -> None:
        name = entry.name
        raw = self.storage.open_read(name)
        try:
            stream = open_backup_reader(raw, self.transforms, name)
            tokens = self._tokens(stream, name, entry)
            n = nbytes = 0
            for token in tokens:
                n += 1
                nbytes += 26 + len(token.payload)
                if writer is not None:
                    writer.add(token)
                if n % 1024 == 0:
                    self.counters.add(records_read=1024, bytes_read=nbytes)
                    nbytes = 0
                    self._check()
            self.counters.add(records_read=n % 1024, bytes_read=nbytes)
            self.counters.add(files=1)
        finally:
            raw.close()

    def _tokens(self, stream: BinaryIO, name: str, entry: asbx_io.AsbxName) -> Any:
        if self._decoder_factory is not None:
            return self._decoder_factory(name).decode(stream)
        return asbx_io.iter_tokens(stream, file=name, expect_number=entry.number)


class _NodeWriter:
    """Pipelines payloads to the owner node of each record, one connection per node."""

    def __init__(self, restore: _Restore) -> None:
        self.r = restore
        self.cluster = restore.cluster
        self.policy = restore.policy
        self.timeout = (restore.config.socket_timeout_ms / 1000) or None
        self.pending: dict[Any, list[tuple[XdrToken, bytes]]] = {}
        self.count = 0
        self.nbytes = 0
        self.conns: dict[Any, Connection] = {}

    def add(self, token: XdrToken) -> None:
        node = self.cluster.owner_node(token.namespace, partition_id(token.digest))
        if node is None:
            raise ClusterError(
                f"namespace {token.namespace!r}: no node owns partition "
                f"{partition_id(token.digest)} (is the namespace in the cluster?)"
            )
        try:
            payload = rewrite_payload(token.payload, self.policy)
        except ValueError:
            raise RecordError(f"record {token.digest.hex()}: the stored payload is not an AS_MSG write") from None
        self.pending.setdefault(node, []).append((token, payload))
        self.count += 1
        self.nbytes += len(payload)
        if self.count >= _WINDOW or self.nbytes >= _WINDOW_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.count and self.r.throttle.enabled:
            self.r.throttle.acquire(self.count, self.nbytes)
        pending, self.pending, self.count, self.nbytes = self.pending, {}, 0, 0
        for node, items in pending.items():
            self._send(node, items, attempt=0)

    def _send(self, node: Any, items: list[tuple[XdrToken, bytes]], attempt: int) -> None:
        retry_policy = self.r.config.retry
        try:
            conn = self.conns.get(node)
            if conn is None or conn.closed:
                conn = self.conns[node] = node.pool.get(self.timeout)
            conn.send(b"".join(p for _t, p in items))
            results = _read_results(conn, len(items))
        except WireConnectionError as exc:
            self.conns.pop(node, None)
            if attempt >= retry_policy.max_retries:
                raise ClusterError(
                    f"node {getattr(node, 'address', node)}: writes failed after {attempt + 1} attempts: {exc}"
                ) from None
            time.sleep(retry_policy.delay(attempt))
            self._send(node, items, attempt + 1)
            return
        # Retry what failed transiently, and with it any later version of the same record sent in
        # this window (else the retried older version would land last).
        again: list[tuple[XdrToken, bytes]] = []
        held: set[bytes] = set()
        done_items: list[tuple[XdrToken, bytes]] = []
        done_results: list[int] = []
        code = Result.TIMEOUT
        for item, rc in zip(items, results, strict=True):
            if rc in TRANSIENT_RESULTS:
                code = rc
            if rc in TRANSIENT_RESULTS or item[0].digest in held:
                again.append(item)
                held.add(item[0].digest)
            else:
                done_items.append(item)
                done_results.append(rc)
        self._account(done_items, done_results)
        if again:
            if attempt >= retry_policy.max_retries:
                if self.r.config.ignore_record_error:
                    self.r.counters.add(records_failed=len(again))
                    return
                self._fail(again[0][0], code, f"(still, after {attempt + 1} attempts)")
            time.sleep(retry_policy.delay(attempt))
            self._send(node, again, attempt + 1)

    def _account(self, items: list[tuple[XdrToken, bytes]], results: list[int]) -> None:
        written = newer = existed = failed = 0
        for (token, payload), rc in zip(items, results, strict=True):
            if rc == Result.OK:
                written += 1
            elif rc == Result.GENERATION:
                newer += 1
            elif rc == Result.RECORD_EXISTS:
                existed += 1
            elif rc == Result.NOT_FOUND and payload[10] & Info2.DELETE:
                written += 1  # deleting what is not there: the outcome the backup recorded
            elif rc in TRANSIENT_RESULTS:
                continue
            elif self.r.config.ignore_record_error:
                failed += 1
            else:
                self._fail(token, rc, "")
        self.r.counters.add(
            records_written=written, skipped_newer=newer, skipped_existing=existed, records_failed=failed
        )

    def _fail(self, token: XdrToken, rc: int, extra: str) -> None:
        if self.r.config.ignore_record_error:
            self.r.counters.add(records_failed=1)
            return
        raise RecordError(
            f"record {token.digest.hex()} in namespace {token.namespace}: the server answered "
            f"result {rc}{' ' + extra if extra else ''}",
            code=rc,
        )

    def close(self) -> None:
        for node, conn in self.conns.items():
            if conn.closed:
                continue
            node.pool.put(conn)
        self.conns.clear()


def _read_results(conn: Connection, count: int) -> list[int]:
    """The result codes of ``count`` replies, read in bulk (a write's reply is a bare 30-byte
    message, so one read usually holds many). Anything but an AS_MSG reply breaks the connection
    (the caller retries on a new one)."""
    sock = conn.sock
    buf = bytearray()
    chunk = bytearray(64 * 1024)
    view = memoryview(chunk)
    out: list[int] = []
    pos = 0
    try:
        while len(out) < count:
            while len(buf) - pos >= 8 and len(out) < count:
                value = int.from_bytes(buf[pos : pos + 8], "big")
                version, mtype, size = value >> 56, (value >> 48) & 0xFF, value & 0xFFFF_FFFF_FFFF
                if version != 2 or mtype != 3:
                    conn.close()
                    head = bytes(buf[pos : pos + 8]).hex()
                    raise WireConnectionError(f"{conn.address}: unexpected reply header {head}")
                if len(buf) - pos - 8 < size:
                    break
                out.append(buf[pos + 13] if size >= 22 else Result.UNKNOWN)
                pos += 8 + size
            if len(out) >= count:
                break
            n = sock.recv_into(view)
            if not n:
                conn.close()
                raise WireConnectionError(f"{conn.address}: connection closed by the server")
            del buf[:pos]
            pos = 0
            buf += view[:n]
    except TimeoutError:
        conn.close()
        raise WireConnectionError(f"{conn.address}: no reply within the socket timeout") from None
    except OSError as exc:
        conn.close()
        raise WireConnectionError(f"{conn.address}: read failed: {exc}") from None
    if len(buf) > pos:  # more bytes than replies: the connection is out of step
        conn.close()
    return out
