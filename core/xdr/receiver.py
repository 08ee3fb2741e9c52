"""The XDR receiver: a TCP (optionally TLS) server that the source cluster ships records to.

Protocol (wire-protocol.md §10): every message is one proto ``02 03 <size48>`` + AS_MSG, one
per record; for each the receiver answers exactly 30 bytes (proto header + a 22-byte header
that is zero except the result code: 0 = OK, 11 = retry), in the order the messages came.

Why acks wait: a message is acked only once the writer has put it into the open ASBX file
(``mark_done``), never on receipt, so a record the cluster believes shipped is in the backup.
Messages that arrive while the ack queue of their connection is full wait on the socket
(back-pressure reaches the cluster through TCP), and ``deliver`` may block on a full writer
queue for the same reason.

Each connection has a reader thread (parse, hand over) and an ack thread (write acks in order
as the writer finishes them). A re-sent message identical to one received a moment before
(XDR retries what it shipped on a connection that broke before the ack arrived) is not written
twice: it is acked when the first copy is written.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import TlsConfig
from ..errors import ConfigError
from ..model import XdrToken
from ..wire.protocol import PROTO_SIZE_MAX, Info1, MsgType, Result
from .messages import ACK_OK, ACK_RETRY, NOT_XDR, SKIP, parse_message

__all__ = ["AckSlot", "ReceiverStats", "XdrReceiver"]

log = logging.getLogger("aerobackup.xdr")

_RECENT = 16384  # messages remembered to recognise re-sends (a few in-flight windows)
_unpack_u64 = struct.Struct(">Q").unpack_from


class AckSlot:
    """One message's place in its connection's ack order; the writer sets ``done``."""

    __slots__ = ("done", "result")

    def __init__(self, result: int = Result.OK, done: bool = False) -> None:
        self.result = result
        self.done = done


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    connections: int  # accepted and served
    refused: int  # turned away: max_connections reached
    messages: int  # well-formed messages received (re-sends and skipped ones included)
    bytes: int
    duplicates: int  # re-sends recognised and not written again
    skipped: int  # transaction-monitor records
    retries: int  # messages answered "retry" (malformed)


Deliver = Callable[[list[tuple[XdrToken, AckSlot]]], None]


class _Conn:
    __slots__ = (
        "sock",
        "peer",
        "pending",
        "reading",
        "thread_r",
        "thread_w",
        "tls_lock",
        "messages",
        "bytes",
        "dup",
        "skipped",
        "retries",
    )

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.pending: collections.deque[AckSlot] = collections.deque()
        self.reading = True
        self.messages = self.bytes = self.dup = self.skipped = self.retries = 0
        self.thread_r: threading.Thread = threading.current_thread()
        self.thread_w: threading.Thread | None = None
        self.tls_lock: threading.Lock | None = None


class XdrReceiver:
    """Accepts the cluster's connections and hands the records to ``deliver``.

    ``deliver([(token, slot), ...])`` gets the records of one read, in arrival order; each slot
    must eventually be passed to ``mark_done`` (the backup's writer does it after writing the
    entry). It may block to apply back-pressure.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsConfig | None = None,
        max_connections: int = 4096,
        read_timeout: float = 1.0,
        write_timeout: float = 1.0,
        ack_queue_size: int = 256,
    ) -> None:
        self._deliver = deliver
        self.host = host
        self.port = port
        self._tls = _server_context(tls) if tls is not None and tls.enable else None
        self.max_connections = max_connections
        self.read_timeout = read_timeout or None
        self.write_timeout = write_timeout or None
        self.ack_queue_size = max(1, ack_queue_size)
        self.first_message = threading.Event()
        self._cond = threading.Condition()
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._closed_stats = [0, 0, 0, 0, 0]
        self._accepted = 0
        self._refused = 0
        self._recent: dict[bytes, tuple[bytes, AckSlot]] = {}
        self._recent_order: collections.deque[bytes] = collections.deque()
        self._recent_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Bind and start accepting; returns the address actually bound (port 0 → a free one)."""
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            listener = socket.create_server((self.host.strip("[]"), self.port), family=family, backlog=128)
        except OSError as exc:
            raise ConfigError(
                "backup_xdr.local_port", f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        listener.settimeout(0.2)  # so stop() is noticed without a wake-up connection
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="xdr-accept", daemon=True)
        self._accept_thread.start()
        return self.host, self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection (unacked messages stay unacked: XDR re-ships them)."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn.sock)
        with self._cond:
            self._cond.notify_all()
        for conn in conns:
            for t in (conn.thread_r, conn.thread_w):
                if t is not None and t is not threading.current_thread():
                    t.join(timeout)

    def __enter__(self) -> XdrReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- called by the writer ---------------------------------------------------------------

    def mark_done(self, slots: list[AckSlot]) -> None:
        """These messages are in the backup file: their acks may go out."""
        for slot in slots:
            slot.done = True
        with self._cond:
            self._cond.notify_all()

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def stats(self) -> ReceiverStats:
        with self._lock:
            totals = list(self._closed_stats)
            for c in self._conns:
                for i, v in enumerate((c.messages, c.bytes, c.dup, c.skipped, c.retries)):
                    totals[i] += v
            return ReceiverStats(self._accepted, self._refused, *totals)

    # --- accepting --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer = f"{addr[0]}:{addr[1]}"
            with self._lock:
                full = len(self._conns) >= self.max_connections
                if full:
                    self._refused += 1
            if full:
                log.warning("XDR receiver: refusing %s: %d connections already", peer, self.max_connections)
                sock.close()
                continue
            threading.Thread(target=self._serve, args=(sock, peer), name=f"xdr-conn-{peer}", daemon=True).start()

    def _serve(self, sock: socket.socket, peer: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ack_sock: socket.socket = sock
        if self._tls is not None:
            sock.settimeout(max(self.read_timeout or 5.0, 5.0))
            try:
                sock = self._tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.warning("XDR receiver: TLS handshake with %s failed: %s", peer, exc)
                sock.close()
                return
            ack_sock = sock
            # One TLS session is not safe to use from two threads at once: reads and acks take
            # turns under a lock, and the reader waits for data outside it (see _wait_readable).
            sock.settimeout(self.write_timeout)
        else:
            # A second socket object on a duplicate descriptor gives acks their own (write) timeout.
            ack_sock = socket.socket(fileno=os.dup(sock.fileno()))
            ack_sock.settimeout(self.write_timeout)
            sock.settimeout(self.read_timeout)
        conn = _Conn(sock, peer)
        if self._tls is not None:
            conn.tls_lock = threading.Lock()
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                if ack_sock is not sock:
                    ack_sock.close()
                return
            self._conns.add(conn)
            self._accepted += 1
        thread_w = threading.Thread(target=self._ack_loop, args=(conn, ack_sock), name=f"xdr-ack-{peer}", daemon=True)
        conn.thread_w = thread_w
        thread_w.start()
        try:
            self._read_loop(conn)
        except (OSError, ValueError) as exc:  # timeouts, resets, reads on a socket closed by stop()
            log.debug("XDR receiver: connection %s ended: %s", peer, exc)
        finally:
            with self._cond:
                conn.reading = False
                self._cond.notify_all()
            thread_w.join()
            _shutdown(sock)
            sock.close()
            if ack_sock is not sock:
                ack_sock.close()
            with self._lock:
                self._conns.discard(conn)
                for i, v in enumerate((conn.messages, conn.bytes, conn.dup, conn.skipped, conn.retries)):
                    self._closed_stats[i] += v

    # --- one connection ---------------------------------------------------------------------

    def _read_loop(self, conn: _Conn) -> None:
        """Read what the socket has, parse every whole message in it, hand them over as one
        batch: one wake-up of the writer and of the ack thread per read, not per message."""
        sock = conn.sock
        chunk = bytearray(256 * 1024)
        chunk_view = memoryview(chunk)
        buf = bytearray()
        cond, pending, limit = self._cond, conn.pending, self.ack_queue_size
        first = self.first_message
        names: dict[bytes, str] = {}
        while not self._stopping.is_set():
            if len(pending) >= limit:
                with cond:
                    while len(pending) >= limit and not self._stopping.is_set():
                        cond.wait(0.5)
            tls_lock = conn.tls_lock
            if tls_lock is None:
                n = sock.recv_into(chunk_view)
            else:
                self._wait_readable(conn)
                with tls_lock:
                    n = sock.recv_into(chunk_view)
            if not n:
                return  # the cluster closed the connection
            buf += chunk_view[:n]
            end = len(buf)
            pos = 0
            order: list[AckSlot | None] = []  # None: the slot of the next admitted record
            items: list[tuple[XdrToken, AckSlot]] = []
            fatal = False
            view = memoryview(buf)
            count = nbytes = 0
            try:
                while end - pos >= 8:
                    value = _unpack_u64(buf, pos)[0]
                    version, mtype, size = value >> 56, (value >> 48) & 0xFF, value & 0xFFFF_FFFF_FFFF
                    if version != 2 or mtype != MsgType.AS_MSG or size > PROTO_SIZE_MAX:
                        log.warning(
                            "XDR receiver: %s sent a bad proto header %s; dropping it",
                            conn.peer,
                            bytes(view[pos : pos + 8]).hex(),
                        )
                        fatal = True
                        break
                    if end - pos - 8 < size:
                        break
                    if size > 1 and buf[pos + 9] & Info1.XDR:  # §10.4: stored without the XDR bit
                        buf[pos + 9] &= NOT_XDR
                    msg = bytes(view[pos : pos + 8 + size])
                    pos += 8 + size
                    count += 1
                    nbytes += 8 + size
                    token = parse_message(msg, names)
                    if token is None:  # malformed: ask for a retry, then drop the connection (§10.3)
                        conn.retries += 1
                        order.append(AckSlot(Result.UNAVAILABLE, done=True))
                        fatal = True
                        break
                    if token is SKIP:
                        conn.skipped += 1
                        order.append(AckSlot(done=True))
                        continue
                    order.append(None)
                    items.append((token, AckSlot()))
            finally:
                view.release()
                conn.messages += count
                conn.bytes += nbytes
            if order and not first.is_set():
                first.set()
            admitted = iter(self._admit(items, conn)) if items else iter(())
            if order:
                with cond:
                    for slot in order:
                        pending.append(slot if slot is not None else next(admitted))
                    cond.notify_all()
            if fatal:
                return
            del buf[:pos]

    def _wait_readable(self, conn: _Conn) -> None:
        """TLS: wait (without the lock) until a read will not wait long; TimeoutError when idle
        past the read timeout."""
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        deadline = time.monotonic() + self.read_timeout if self.read_timeout else None
        while not sock.pending():
            if select.select([sock], [], [], 0.2)[0]:
                return
            if self._stopping.is_set():
                raise OSError("receiver stopped")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("no data within the read timeout")

    def _admit(self, items: list[tuple[XdrToken, AckSlot]], conn: _Conn) -> list[AckSlot]:
        """Hand records to the writer, except re-sends of ones just handed over; returns the slot
        each record's ack waits for (a re-send waits for its first copy to be written)."""
        out: list[AckSlot] = []
        new: list[tuple[XdrToken, AckSlot]] = []
        recent, order = self._recent, self._recent_order
        with self._recent_lock:
            for token, slot in items:
                digest, payload = token.digest, token.payload
                seen = recent.get(digest)
                if seen is not None and seen[0] == payload:
                    conn.dup += 1
                    out.append(seen[1])
                    continue
                if seen is None:
                    order.append(digest)
                    if len(order) > _RECENT:
                        recent.pop(order.popleft(), None)
                recent[digest] = (payload, slot)
                new.append((token, slot))
                out.append(slot)
            # deliver under the lock: copies of one record reach the writer in arrival order
            if new:
                self._deliver(new)
        return out

    def _ack_loop(self, conn: _Conn, sock: socket.socket) -> None:
        cond, pending = self._cond, conn.pending
        while True:
            with cond:
                while not (pending and pending[0].done):
                    if self._stopping.is_set() or (not conn.reading and not pending):
                        return
                    if not conn.reading:  # waiting for the writer to finish the last ones
                        if not cond.wait(self.write_timeout or 5.0):
                            return
                        continue
                    cond.wait(0.5)
                out = []
                while pending and pending[0].done:
                    out.append(ACK_OK if pending[0].result == Result.OK else ACK_RETRY)
                    pending.popleft()
                cond.notify_all()  # the reader may be waiting for room
            try:
                if conn.tls_lock is None:
                    sock.sendall(b"".join(out))
                else:
                    with conn.tls_lock:
                        sock.sendall(b"".join(out))
            except OSError as exc:
                log.debug("XDR receiver: cannot ack on %s: %s", conn.peer, exc)
                _shutdown(conn.sock)
                return


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _server_context(tls: TlsConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        if tls.cert_file:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, tls.key_file_password)
        if tls.ca_file or tls.ca_path:
            ctx.load_verify_locations(cafile=tls.ca_file, capath=tls.ca_path)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("backup_xdr.tls", f"cannot load the receiver's certificate or CA: {exc}") from None
    return ctx
