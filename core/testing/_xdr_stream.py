"""The shipping side of the emulator's XDR (see ``aerobackup.testing.xdr_shipper``): the message
XDR sends per record, and one stream per DC and namespace that rewinds, follows changes, ships
with a window of messages in flight, reads the acks and re-ships what was not acked.
"""

from __future__ import annotations

import collections
import select
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..wire.protocol import Info1, Info2, Info3, pack_proto
from ._store import CL_EPOCH, N_PARTITIONS, NamespaceStore, Record, partition_id

if TYPE_CHECKING:
    from .xdr_shipper import XdrShipper

__all__ = ["ShipperFaults", "Stream", "close_socket", "ship_message"]

_MSG_HDR = struct.Struct(">BBBBBBIIIHH")
_FIELD_HDR = struct.Struct(">IB")
_OP_HDR = struct.Struct(">IBBBB")
_ACK_SIZE = 30
_NEVER = 0xFFFFFFFF


def _field(ftype: int, data: bytes) -> bytes:
    return _FIELD_HDR.pack(len(data) + 1, ftype) + data


def ship_message(
    ns: bytes,
    digest: bytes,
    rec: Record | None,
    *,
    now_cl: int,
    set_name: bytes = b"",
    key: bytes | None = None,
    lut_ns: int | None = None,
    gen: int = 0,
) -> bytes:
    """The whole proto XDR sends for a record (§10.2); ``rec`` None ships a delete (``gen``: the
    tombstone's generation, one more than the record had)."""
    if rec is not None:
        set_name, key, lut_ns = rec.set_name, rec.key, rec.lut
    lut_ms = (lut_ns if lut_ns is not None else int(time.time() * 1e9)) // 1_000_000 - CL_EPOCH * 1000
    fields = [_field(0, ns), _field(4, digest)]
    if set_name:
        fields.append(_field(1, set_name))
    if key is not None:
        fields.append(_field(2, key))
    fields.append(_field(14, max(0, lut_ms).to_bytes(8, "big")))
    if rec is None:
        header = _MSG_HDR.pack(22, Info1.XDR, Info2.WRITE | Info2.DELETE, 0, 0, 0, gen, 0, 0, len(fields), 0)
        body = header + b"".join(fields)
    else:
        ttl = _NEVER if rec.void_time == 0 else max(1, rec.void_time - now_cl)
        ops = []
        for name, (ptype, value) in rec.bins.items():
            ops.append(_OP_HDR.pack(4 + len(name) + len(value), 2, ptype, 0, len(name)) + name + value)
        header = _MSG_HDR.pack(
            22, Info1.XDR, Info2.WRITE, Info3.CREATE_OR_REPLACE, 0, 0, rec.gen, ttl, 0, len(fields), len(ops)
        )
        body = header + b"".join(fields) + b"".join(ops)
    return bytes(pack_proto(3, len(body)) + body)


@dataclass
class ShipperFaults:
    """Faults of the shipping side, settable while it runs.

    ``drop_after``: after this many more messages are sent, the connection is cut abruptly
    (acks in flight are lost), once; the shipper reconnects and re-ships what was not acked.
    ``ack_timeout``: seconds without an ack before the connection is given up as dead and
    its unacked messages re-shipped on a new one (a slow receiver trips it).
    ``refuse_connect``: connection attempts that fail before one succeeds.
    """

    drop_after: int | None = None
    ack_timeout: float = 10.0
    refuse_connect: int = 0


class _Item:
    __slots__ = ("digest", "queued", "rewind", "rec", "msg")

    def __init__(self, digest: bytes, queued: float, rewind: bool) -> None:
        self.digest = digest
        self.queued = queued
        self.rewind = rewind
        # the version shipped and its message: a re-ship of an unchanged record sends the same
        # bytes (the TTL is not recomputed), so the receiver can recognise it
        self.rec: Record | None = None
        self.msg: bytes | None = None


class Stream:
    """Ships one namespace of one DC from one node to one destination."""

    def __init__(
        self,
        shipper: XdrShipper,
        dc: str,
        ns: NamespaceStore,
        dest: tuple[str, int],
        rewind: int | None,
        max_throughput: int,
    ) -> None:
        self.shipper = shipper
        self.dc = dc
        self.ns = ns
        self.dest = dest
        self.max_throughput = max_throughput
        self.lock = threading.Condition()
        self.queue: collections.OrderedDict[bytes, _Item] = collections.OrderedDict()
        self.retry: collections.deque[_Item] = collections.deque()
        self.inflight: collections.deque[tuple[_Item, bytes]] = collections.deque()
        self.building: list[_Item] = []  # taken to be sent, messages being built: not shipped yet
        self.deleted: dict[bytes, tuple[bytes, bytes | None, int, int]] = {}
        self.stats = {
            "success": 0,
            "retry_conn_reset": 0,
            "retry_dest": 0,
            "recoveries": 0,
            "abandoned": 0,
            "not_found": 0,
        }
        self.stopped = threading.Event()
        self.sock: socket.socket | None = None
        self.progress_at = time.monotonic()  # last send or ack: a stalled connection is given up
        self.cut_sock: socket.socket | None = None  # the connection a drop_after fault cut
        self.io_lock = threading.Lock()  # TLS: sends and receives take turns on the session
        node = shipper.node
        self.partitions = [p for p in range(N_PARTITIONS) if node.owns(p)]
        self.recoveries_pending = len(self.partitions)
        self.rewind_cutoff_ns = None if rewind is None else node.store.clock.now_ns() - rewind * 1_000_000_000
        self.thread = threading.Thread(target=self._run, name=f"xdr-ship-{dc}-{ns.name}", daemon=True)
        self.thread.start()

    # --- what the info commands see --------------------------------------------------------

    def lag(self) -> int:
        with self.lock:
            oldest = [
                i.queued
                for i in (
                    next(iter(self.queue.values()), None),
                    self.retry[0] if self.retry else None,
                    self.inflight[0][0] if self.inflight else None,
                    self.building[0] if self.building else None,
                )
                if i is not None
            ]
            if not oldest and not self.recoveries_pending:
                return 0
        now = time.monotonic()
        return max(1, int(now - min(oldest))) if oldest else 1

    def stat_text(self) -> str:
        with self.lock:
            in_queue = len(self.queue) + len(self.retry)
            in_progress = len(self.inflight)
            s = dict(self.stats)
        s.update(lag=self.lag(), in_queue=in_queue, in_progress=in_progress, recoveries_pending=self.recoveries_pending)
        return ";".join(f"{k}={v}" for k, v in s.items())

    # --- feeding ----------------------------------------------------------------------------

    def changed(self, digest: bytes, removed: tuple[bytes, bytes | None, int, int] | None) -> None:
        if not self.shipper.node.owns(partition_id(digest)):
            return
        with self.lock:
            if removed is not None:
                self.deleted[digest] = removed
            else:
                self.deleted.pop(digest, None)
            if digest not in self.queue:
                self.queue[digest] = _Item(digest, time.monotonic(), False)
            self.lock.notify_all()

    def stop(self) -> None:
        self.stopped.set()
        with self.lock:
            self.lock.notify_all()
        sock = self.sock
        if sock is not None:
            close_socket(sock)
        self.thread.join(5.0)
        with self.lock:
            for key, value in self.stats.items():
                self.shipper.totals[key] = self.shipper.totals.get(key, 0) + value

    # --- shipping ---------------------------------------------------------------------------

    def _take(self, limit: int) -> list[_Item]:
        """Up to ``limit`` records to ship (called under the lock): retries first, then what is
        queued (live changes and the rewind's partitions listed so far), then the next partition
        of the rewind."""
        out: list[_Item] = []
        retry, queue = self.retry, self.queue
        while len(out) < limit:
            if retry:
                out.append(retry.popleft())
            elif queue:
                out.append(queue.popitem(last=False)[1])
            elif not self._rewind_some():
                break
        return out

    def _rewind_some(self) -> bool:
        """Queue the records of the next partition of the rewind (called under the lock)."""
        if not self.recoveries_pending:
            return False
        pid = self.partitions[len(self.partitions) - self.recoveries_pending]
        cutoff = self.rewind_cutoff_ns
        now = time.monotonic()
        store = self.shipper.node.store
        for digest in self.ns.ordered(pid):
            rec = self.ns.parts[pid].get(digest)
            if rec is None or not store.is_live(rec) or (cutoff is not None and rec.lut < cutoff):
                continue
            if digest not in self.queue:
                self.queue[digest] = _Item(digest, now, True)
        self.recoveries_pending -= 1
        self.stats["recoveries"] += 1
        return True

    def _message(self, item: _Item) -> bytes | None:
        store = self.shipper.node.store
        ns = self.ns
        rec = ns.parts[partition_id(item.digest)].get(item.digest)
        now_cl = int(store.clock.now()) - CL_EPOCH
        if rec is not None:
            if item.rec is not rec or item.msg is None:
                item.rec, item.msg = rec, ship_message(ns.name_bytes, item.digest, rec, now_cl=now_cl)
            return item.msg
        if item.rewind:
            self.stats["not_found"] += 1
            return None  # gone since the rewind listed it; its delete is queued separately
        with self.lock:
            gone = self.deleted.get(item.digest)
        set_name, key, lut, gen = gone if gone is not None else (b"", None, store.clock.now_ns(), 1)
        return ship_message(
            ns.name_bytes, item.digest, None, now_cl=now_cl, set_name=set_name, key=key, lut_ns=lut, gen=gen
        )

    def _connect(self) -> socket.socket | None:
        faults = self.shipper.faults
        delay = 0.02
        while not self.stopped.is_set():
            if faults.refuse_connect > 0:
                faults.refuse_connect -= 1
            else:
                try:
                    sock = socket.create_connection(self.dest, timeout=2.0)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    tls = self.shipper.tls
                    if tls is not None:
                        sock = tls.wrap_socket(sock, server_hostname=self.shipper.tls_name or self.dest[0])
                    sock.settimeout(None)
                    return sock
                except (OSError, ssl.SSLError):
                    pass
            self.stats["retry_conn_reset"] += 1
            self.stopped.wait(delay)
            delay = min(delay * 2, 0.5)
        return None

    def _run(self) -> None:
        while not self.stopped.is_set():
            sock = self._connect()
            if sock is None:
                return
            self.sock = sock
            acks = threading.Thread(target=self._read_acks, args=(sock,), daemon=True)
            acks.start()
            self._send_loop(sock)
            close_socket(sock)
            acks.join(5.0)
            self.sock = None
            with self.lock:  # everything unacked goes out again, in its order
                lost = [item for item, _msg in self.inflight]
                self.inflight.clear()
                if lost:
                    self.stats["retry_conn_reset"] += len(lost)
                self.retry.extendleft(reversed(lost))
                self.lock.notify_all()

    def _send_loop(self, sock: socket.socket) -> None:
        window = self.shipper.window
        faults = self.shipper.faults
        lock = self.lock
        self.progress_at = time.monotonic()
        while not self.stopped.is_set():
            with lock:
                while len(self.inflight) >= window and not self.stopped.is_set() and self.sock is sock:
                    lock.wait(0.05)
                    if time.monotonic() - self.progress_at > faults.ack_timeout:
                        return  # no ack for too long: give the connection up
                if self.sock is not sock:
                    return  # the ack reader saw the connection end
                if self.inflight and time.monotonic() - self.progress_at > faults.ack_timeout:
                    return
                items = self._take(min(window - len(self.inflight), 128))
                if not items:
                    lock.wait(0.05)
                    continue
                self.building = items
            cut = False
            if faults.drop_after is not None:
                if faults.drop_after <= len(items):
                    with lock:  # the rest goes out on the next connection
                        self.retry.extendleft(reversed(items[faults.drop_after :]))
                    items = items[: faults.drop_after]
                    faults.drop_after = None
                    cut = True
                else:
                    faults.drop_after -= len(items)
            pairs = []
            for item in items:
                msg = self._message(item)
                if msg is not None:
                    pairs.append((item, msg))
            with lock:
                self.inflight.extend(pairs)
                self.building = []
                if cut:  # acks that still arrive on this connection are lost with it
                    self.cut_sock = sock
            try:
                with self.io_lock:
                    if isinstance(sock, ssl.SSLSocket):
                        sock.settimeout(None)  # the ack reader's short timeout is for its reads only
                    sock.sendall(b"".join(m for _i, m in pairs))
            except OSError:
                return
            if cut:
                return  # cut: the acks in flight are lost with the connection
            self.progress_at = time.monotonic()
            if self.max_throughput:
                time.sleep(len(pairs) / self.max_throughput)

    def _read_acks(self, sock: socket.socket) -> None:
        buf = b""
        tls = isinstance(sock, ssl.SSLSocket)
        try:
            while True:
                if tls:  # one TLS session, two threads: wait outside the lock, read inside it
                    assert isinstance(sock, ssl.SSLSocket)
                    if not sock.pending() and not select.select([sock], [], [], 0.2)[0]:
                        if self.sock is not sock:
                            break
                        continue
                    with self.io_lock:
                        # Readable may mean a TLS 1.3 session ticket and no ack yet: a read without
                        # a timeout would then wait, holding the lock, for acks of messages the
                        # sender cannot send (seen once in CI as a backup receiving nothing).
                        sock.settimeout(0.05)
                        try:
                            data = sock.recv(65536)
                        except TimeoutError:
                            continue
                else:
                    data = sock.recv(65536)
                if not data:
                    break
                buf += data
                n = len(buf) // _ACK_SIZE
                if not n:
                    continue
                with self.lock:
                    if self.cut_sock is sock:
                        break
                    self.progress_at = time.monotonic()
                    for i in range(n):
                        result = buf[i * _ACK_SIZE + 13]
                        if not self.inflight:
                            break
                        item, _msg = self.inflight.popleft()
                        if result == 0:
                            self.stats["success"] += 1
                        else:  # the receiver asked for a retry
                            self.stats["retry_dest"] += 1
                            self.retry.append(item)
                    self.lock.notify_all()
                buf = buf[n * _ACK_SIZE :]
        except OSError:
            pass
        finally:
            with self.lock:
                if self.sock is sock:
                    self.sock = None
                self.lock.notify_all()


def close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
