"""The emulated Aerospike node: a TCP server speaking the real wire protocol on loopback.

One thread per client connection (the client pools connections and sends one request at a
time on each, §9); a slow or stuck peer never holds up the others. Malformed input is handled
as the real server does (§9.1): bad proto headers close the connection without a reply, bad
AS_MSGs are answered with result 4, a short message waits until the peer sends the rest or
closes.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..wire.protocol import PROTO_SIZE_MAX, Info1, Info2
from ._info import answer_info, replicas_bitmap
from ._msg import error_reply, parse_msg, proto
from ._ops import execute
from ._store import N_PARTITIONS, Clock, NamespaceStore, Record, Store, partition_id
from ._streams import run_batch, run_scan
from ._udf import LuaRunner
from .faults import Faults
from .records import RawRecord, key_digest, key_particle

if TYPE_CHECKING:
    from .cluster import EmulatedCluster

__all__ = ["Emulator", "RawRecord", "key_digest"]

_log = logging.getLogger("aerobackup.testing")
_SECURITY_NOT_SUPPORTED = b"\x02\x02\x00\x00\x00\x00\x00\x10\x00\x33" + bytes(14)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None when the peer closes first. Memory grows with what actually
    arrives, so a header announcing 128 MiB costs nothing until the bytes come."""
    if n == 0:
        return b""
    if n > _PREALLOC:
        chunks = []
        got = 0
        while got < n:
            chunk = sock.recv(min(n - got, _PREALLOC))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return bytes(buf)


_PREALLOC = 1 << 20


class Emulator:
    """An emulated Aerospike CE 8.1.2.0 node (or a one-node cluster) on ``host:port``.

    ``with Emulator(port=0, namespaces=("test", "bar")) as srv: ... srv.host, srv.port``
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        namespaces: Sequence[str] = ("test", "bar"),
        *,
        default_ttl: int = 0,
        store: Store | None = None,
        cluster: EmulatedCluster | None = None,
        node_index: int = 0,
    ) -> None:
        self.store = store if store is not None else Store(tuple(namespaces), default_ttl=default_ttl)
        self.faults: Faults = cluster.faults if cluster is not None else Faults()
        self.cluster = cluster
        self.cluster_name: str | None = None
        self._bind_host = host
        self._bind_port = port
        self._node_index = node_index
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._running = False
        self._started_at = time.monotonic()
        self._lua = LuaRunner()
        #: requests served per kind, and single-record requests for partitions this node does
        #: not own ("misrouted": a real server would proxy them)
        self.stats: dict[str, int] = {"read": 0, "write": 0, "batch": 0, "scan": 0, "info": 0, "misrouted": 0}

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and start serving (returns self)."""
        if self._running:
            return self
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self._bind_host, self._bind_port))
        lsock.listen(256)
        self._listener = lsock
        self._running = True
        self._started_at = time.monotonic()
        t = threading.Thread(target=self._accept_loop, name=f"aerobackup-emulator-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (bounded wait)."""
        self._running = False
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._bind_host

    @property
    def port(self) -> int:
        if self._listener is None:
            return self._bind_port
        return int(self._listener.getsockname()[1])

    @property
    def clock(self) -> Clock:
        """The shared :class:`~aerobackup.testing.Clock` (``advance(seconds)``, ``freeze()``)."""
        return self.store.clock

    def client_config(self) -> dict[str, Any]:
        """A config dict for ``aerospike.client(...)`` pointing at this node."""
        return {"hosts": [(self.host, self.port)]}

    # --- identity and cluster view (used by the info answers) -------------------------------------

    @property
    def node_name(self) -> str:
        return f"{0xBB9000000000000 + (self._node_index << 32) + self.port:X}"

    @property
    def cluster_size(self) -> int:
        return len(self.cluster.nodes) if self.cluster is not None else 1

    @property
    def cluster_key(self) -> str:
        return "7BF877177D0B"

    @property
    def partition_generation(self) -> int:
        return self.cluster.partition_generation if self.cluster is not None else 0

    @property
    def peers_generation(self) -> int:
        return self.cluster.peers_generation if self.cluster is not None else 0

    def owns(self, pid: int) -> bool:
        return self.cluster is None or self.cluster.owner_index(pid) == self._node_index

    def peers(self) -> list[Emulator]:
        return [n for n in self.cluster.nodes if n is not self] if self.cluster is not None else []

    def peers_text(self) -> str:
        peers = ",".join(f"[{n.node_name},,[{n.host}:{n.port}]]" for n in self.peers())
        return f"{self.peers_generation},3000,[{peers}]"

    def services(self) -> str:
        return ";".join(f"{n.host}:{n.port}" for n in self.peers())

    def replicas_text(self, command: str) -> str:
        bitmap = replicas_bitmap([self.owns(p) for p in range(N_PARTITIONS)])
        if command == "replicas-all":
            return ";".join(f"{ns}:1,{bitmap}" for ns in self.store.namespaces)
        if command == "replicas-master":
            return ";".join(f"{ns}:{bitmap}" for ns in self.store.namespaces)
        return ";".join(f"{ns}:0,1,{bitmap}" for ns in self.store.namespaces)

    def uptime(self) -> float:
        return time.monotonic() - self._started_at

    def connection_count(self) -> int:
        return len(self._conns)

    def store_records(self, ns: NamespaceStore) -> Iterator[Record]:
        """Live records of a namespace in the partitions this node owns (what its statistics,
        ``sets`` and ``namespace/<ns>`` answers count, as a real node counts its own share)."""
        live = self.store.is_live
        for pid in range(N_PARTITIONS):
            if self.owns(pid):
                for r in list(ns.parts[pid].values()):
                    if live(r):
                        yield r

    def lua_compile_error(self, name: str, source: bytes) -> tuple[int, str] | None:
        return self._lua.compile_error(name, source)

    # --- helpers for other tests (no wire involved) -----------------------------------------------

    def _ns(self, namespace: str) -> NamespaceStore:
        ns = self.store.namespaces.get(namespace)
        if ns is None:
            raise KeyError(f"unknown namespace {namespace!r} (emulated: {', '.join(self.store.namespaces)})")
        return ns

    def put_raw(
        self,
        namespace: str,
        set_name: str,
        key: int | str | bytes | bytearray | None = None,
        bins: Iterable[tuple[str | bytes, int, bytes]] = (),
        *,
        digest: bytes | None = None,
        store_key: bool = True,
        generation: int = 1,
        void_time: int = 0,
        lut: int | None = None,
    ) -> bytes:
        """Store a record exactly as given (raw particles, any type) and return its digest.

        ``key`` is the user key (its digest is computed) unless ``digest`` is given; the key is
        stored when ``store_key``. ``void_time`` is in seconds since 2010-01-01 (0 = never);
        ``lut`` in Unix nanoseconds (default now).
        """
        ns = self._ns(namespace)
        if digest is None:
            if key is None:
                raise ValueError("put_raw needs a key or a digest")
            digest = key_digest(set_name, key)
        if len(digest) != 20:
            raise ValueError(f"a digest is 20 bytes (got {len(digest)})")
        stored_key = key_particle(key) if key is not None and store_key else None
        rec_bins = {(n.encode() if isinstance(n, str) else bytes(n)): (pt, bytes(v)) for n, pt, v in bins}
        rec = Record(
            bytes(digest),
            set_name.encode(),
            stored_key,
            generation,
            void_time,
            self.store.clock.now_ns() if lut is None else lut,
            rec_bins,
        )
        with self.store.lock:
            ns.note_set(rec.set_name)
            ns.put(rec)
        return bytes(digest)

    def get_raw(
        self,
        namespace: str,
        set_name: str = "",
        key: int | str | bytes | bytearray | None = None,
        *,
        digest: bytes | None = None,
    ) -> RawRecord | None:
        """The live stored record (raw particles and metadata), or None."""
        ns = self._ns(namespace)
        if digest is None:
            if key is None:
                raise ValueError("get_raw needs a key or a digest")
            digest = key_digest(set_name, key)
        rec = self.store.get(ns, bytes(digest))
        return None if rec is None else RawRecord(namespace, rec)

    def records(self, namespace: str, set_name: str | None = None) -> list[RawRecord]:
        """Every live record of a namespace (or of one set), in partition then scan order."""
        ns = self._ns(namespace)
        want = set_name.encode() if set_name is not None else None
        out = []
        for pid in range(N_PARTITIONS):
            part = ns.parts[pid]
            for d in ns.ordered(pid):
                rec = part.get(d)
                if rec is not None and self.store.is_live(rec) and (want is None or rec.set_name == want):
                    out.append(RawRecord(namespace, rec))
        return out

    def reset(self) -> None:
        """Forget every record, set, UDF module and index; heal faults; real time again."""
        with self.store.lock:
            for ns in self.store.namespaces.values():
                ns.clear()
                ns.sets.clear()
                ns.truncate_lut = 0
            self.store.udfs.clear()
            self.store.sindexes.clear()
        self.faults.clear()
        self.store.clock.reset()
        for kind in self.stats:
            self.stats[kind] = 0

    def truncate(self, namespace: str, set_name: str | None = None) -> None:
        """Remove every record of a namespace (or set), as the truncate info command does."""
        self.store.truncate(self._ns(namespace), set_name.encode() if set_name else None, 1 << 62)

    # --- serving ---------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running:
            try:
                conn, _addr = self._listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                if not self._running:
                    return
                continue  # e.g. the peer reset before we looked at it
            with self._conns_lock:
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while self._running:
                hdr = _recv_exact(sock, 8)
                if hdr is None:
                    return
                version, mtype = hdr[0], hdr[1]
                size = int.from_bytes(hdr[2:8], "big")
                if not (version == 2 or (version == 0 and mtype == 2)) or not 1 <= mtype <= 5:
                    return  # bad header or TLS bytes: close without a reply (§9.1)
                if size > PROTO_SIZE_MAX:
                    return
                body = _recv_exact(sock, size)
                if body is None:
                    return
                try:
                    keep = self._handle(sock, mtype, body)
                except OSError:
                    raise
                except Exception:  # an emulator bug must cost one connection, not the server
                    _log.exception("emulator: failed to answer a type-%d message; closing", mtype)
                    return
                if not keep:
                    return
        except OSError:
            return
        finally:
            with self._conns_lock:
                self._conns.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _handle(self, sock: socket.socket, mtype: int, body: bytes) -> bool:
        """Answer one message; False closes the connection."""
        if mtype == 1:
            if not self.faults.on_request("info"):
                return False
            self.stats["info"] += 1
            code = self.faults.error_for("info", None)
            reply = answer_info(self, body) if not code else f"ERROR:{code}:injected\n".encode()
            sock.sendall(proto(1, reply))
            return True
        if mtype == 2:
            sock.sendall(_SECURITY_NOT_SUPPORTED)
            return True
        if mtype == 4:
            sock.sendall(error_reply(25))
            return True
        if mtype == 5:
            return True  # CE discards internal XDR messages without answering (§1.2)
        return self._as_msg(sock, body)

    def _as_msg(self, sock: socket.socket, body: bytes) -> bool:
        m = parse_msg(body)
        if m is None:
            sock.sendall(error_reply(4))
            return True
        if m.info1 & Info1.BATCH:
            if not self.faults.on_request("batch"):
                return False
            self.stats["batch"] += 1
            run_batch(self, m, sock.sendall)
            return True
        ns_name = m.fields.get(0)
        digest = m.fields.get(4)
        if digest is None:
            if not self.faults.on_request("scan"):
                return False
            self.stats["scan"] += 1
            if ns_name is None:
                sock.sendall(error_reply(20))
            else:
                run_scan(self, m, ns_name, sock.sendall)
            return True
        write = bool(m.info2 & Info2.WRITE)
        kind = "write" if write else "read"
        if not self.faults.on_request(kind):
            return False
        self.stats[kind] += 1
        if ns_name is None:
            sock.sendall(error_reply(20))
            return True
        ns = self.store.namespaces.get(ns_name.decode("utf-8", errors="replace"))
        if ns is None:
            sock.sendall(error_reply(20))
            return True
        if len(digest) != 20:
            sock.sendall(error_reply(4))
            return True
        pid = partition_id(digest)
        code = 0
        if not self.owns(pid):
            self.stats["misrouted"] += 1
            if self.cluster is not None and not self.cluster.proxy:
                code = 11
        code = code or self.faults.error_for(kind, digest)
        if not code and pid in self.faults.unavailable:
            code = 11
        if not code and write and self.faults.stop_writes:
            code = 8
        if code:
            sock.sendall(error_reply(code))
            return True
        if write and 30 in m.fields and not m.ops:
            reply = self._lua.apply(self.store, ns, digest, m)
        else:
            reply = execute(self.store, ns, digest, m.info1, m.info2, m.info3, m.gen, m.ttl, m.fields, m.ops)
        sock.sendall(proto(3, reply))
        return True
