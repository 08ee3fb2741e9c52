"""XDR for the emulator: make emulated nodes play Enterprise Edition for an XDR backup.

A real EE node, told through info commands (wire-protocol.md §2.6) to create a DC in connector
mode, point it at ``host:port`` and add a namespace with a rewind, connects to that address and
ships every record of the namespace (the rewind, partition by partition) and then every later
write and delete, one AS_MSG per record (§10.2), waiting for a 30-byte ack per message (§10.3)
and re-shipping what was not acked. ``get-stats:context=xdr`` reports ``lag``, ``recoveries``
and ``recoveries_pending``. This module does the same for an :class:`Emulator` (or every node of
an :class:`EmulatedCluster`, each shipping the partitions it owns)::

    shippers = XdrShipper.attach(cluster)      # the nodes now answer XDR commands as EE does
    shippers[0].faults.drop_after = 50         # cut the connection after 50 messages, once
    ...
    XdrShipper.detach_all(shippers)

Without a shipper the emulator stays Community Edition and refuses XDR with ``ERROR:25``.

It hooks the emulator without changing its code: the node's message handler is wrapped to
answer the XDR info commands, and the namespace stores' ``put``/``remove`` are wrapped (``put_new`` too) to learn
of writes and deletes (so an expiry found by a read is shipped as a delete: the real server
ships no expiries; tests do not rely on either).

Facts that are not in the spec and were chosen here: a never-expiring record is shipped with
TTL 0xFFFFFFFF (-1, "never expire"); a delete is info2 WRITE|DELETE with the set and key the
record had, its LUT, the generation it had plus one (so a restore's "newer generation" check
lets it through) and no ops; ``lag`` is 0 when nothing is queued, in flight or waiting for a
retry, else the whole seconds since the oldest such record was queued (at least 1).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..wire.protocol import pack_proto
from ._store import NamespaceStore, Record, partition_id
from ._xdr_stream import ShipperFaults, Stream, ship_message

__all__ = ["ShipperFaults", "XdrShipper", "ship_message"]


class _Dc:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connector = False
        self.dest: tuple[str, int] | None = None
        self.namespaces: dict[str, dict[str, str]] = {}
        self.streams: dict[str, Stream] = {}


def _params(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        k, sep, v = part.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


class XdrShipper:
    """The XDR side of one emulated node. Build with :meth:`attach`."""

    def __init__(
        self, node: Any, *, window: int = 64, tls: ssl.SSLContext | None = None, tls_name: str | None = None
    ) -> None:
        self.node = node
        self.window = window
        #: client-side TLS to the receiver (a real DC's TLS settings)
        self.tls = tls
        self.tls_name = tls_name
        self.faults = ShipperFaults()
        #: counters of the streams that have ended (success, retry_conn_reset, retry_dest, ...)
        self.totals: dict[str, int] = {}
        self.dcs: dict[str, _Dc] = {}
        self.mrt_disabled: set[str] = set()
        self._lock = threading.Lock()
        self._orig_handle: Callable[..., bool] | None = None

    # --- installing -------------------------------------------------------------------------

    @classmethod
    def attach(
        cls, target: Any, *, window: int = 64, tls: ssl.SSLContext | None = None, tls_name: str | None = None
    ) -> list[XdrShipper]:
        """Give a node (an Emulator) or every node of an EmulatedCluster an XDR shipper
        (``tls``: connect to the receiver with this client context, checking ``tls_name``)."""
        nodes = list(getattr(target, "nodes", None) or [target])
        shippers = [cls(n, window=window, tls=tls, tls_name=tls_name) for n in nodes]
        for s in shippers:
            s._install()
        return shippers

    @staticmethod
    def detach_all(shippers: Iterable[XdrShipper]) -> None:
        for s in shippers:
            s.detach()

    def _install(self) -> None:
        node = self.node
        self._orig_handle = node._handle
        node._handle = self._handle
        for ns in node.store.namespaces.values():
            hooks = getattr(ns, "_xdr_hooks", None)
            if hooks is None:
                hooks = []
                _wrap_store(ns, hooks)
            hooks.append(self._changed)

    def forget_dcs(self) -> None:
        """Lose every DC as a restarted node loses its dynamic XDR set-up (streams stop)."""
        with self._lock:
            dcs, self.dcs = list(self.dcs.values()), {}
        for dc in dcs:
            for stream in dc.streams.values():
                stream.stop()

    def detach(self) -> None:
        """Stop shipping and restore the node's own behaviour."""
        for dc in list(self.dcs.values()):
            for stream in dc.streams.values():
                stream.stop()
        self.dcs.clear()
        if self._orig_handle is not None:
            self.node._handle = self._orig_handle
            self._orig_handle = None
        for ns in self.node.store.namespaces.values():
            hooks = getattr(ns, "_xdr_hooks", [])
            if self._changed in hooks:
                hooks.remove(self._changed)

    def _changed(self, ns: NamespaceStore, digest: bytes, removed: tuple[bytes, bytes | None, int, int] | None) -> None:
        for dc in list(self.dcs.values()):
            stream = dc.streams.get(ns.name)
            if stream is not None:
                stream.changed(digest, removed)

    # --- info -------------------------------------------------------------------------------

    def _handle(self, sock: socket.socket, mtype: int, body: bytes) -> bool:
        assert self._orig_handle is not None
        if mtype != 1 or not body:
            return self._orig_handle(sock, mtype, body)
        text = body.decode("utf-8", "replace")
        lines = text[: text.rfind("\n")].split("\n") if "\n" in text else []
        answers = [self.handle_info(line) for line in lines]
        if all(a is None for a in answers):
            return self._orig_handle(sock, mtype, body)
        from ._info import answer_info

        out = []
        for line, answer in zip(lines, answers, strict=True):
            if answer is None:
                out.append(answer_info(self.node, (line + "\n").encode()).decode("utf-8", "replace"))
            else:
                out.append(f"{line}\t{answer}\n")
        reply = "".join(out).encode()
        sock.sendall(pack_proto(1, len(reply)) + reply)
        return True

    def handle_info(self, line: str) -> str | None:
        """The answer to one info command if it is about XDR (or the MRT fence), else None."""
        name, _, rest = line.partition(":")
        p = _params(rest)
        ctx = p.get("context")
        if name == "set-config" and ctx == "namespace" and "disable-mrt-writes" in p:
            ns = p.get("namespace", p.get("id", ""))
            if ns not in self.node.store.namespaces:
                return "ERROR:4:namespace not found"
            (self.mrt_disabled.add if p["disable-mrt-writes"] == "true" else self.mrt_disabled.discard)(ns)
            return "ok"
        if ctx != "xdr":
            return None
        with self._lock:
            if name == "get-config":
                return f"dcs={','.join(self.dcs)};src-id=0;trace-sample=0"
            if name == "get-stats":
                dc = self.dcs.get(p.get("dc", ""))
                if dc is None:
                    return f"ERROR::DC not found: {p.get('dc', '')}"
                stream = dc.streams.get(p.get("namespace", ""))
                if stream is None:
                    return "ERROR::namespace not found"
                return stream.stat_text()
            if name == "set-config":
                return self._set_config(p)
        return None

    def _set_config(self, p: dict[str, str]) -> str:
        name = p.get("dc", "")
        action = p.get("action")
        if not name:
            return "ERROR:4:missing dc"
        if action == "create" and "namespace" not in p and "node-address-port" not in p:
            if name in self.dcs:
                return "ERROR:4:DC already exists"
            self.dcs[name] = _Dc(name)
            return "ok"
        dc = self.dcs.get(name)
        if dc is None:
            return "ERROR:4:DC not found"
        if action == "delete" and "namespace" not in p and "node-address-port" not in p:
            for stream in dc.streams.values():
                stream.stop()
            del self.dcs[name]
            return "ok"
        if "connector" in p:
            dc.connector = p["connector"] == "true"
            return "ok"
        if "node-address-port" in p:
            host, _, port = p["node-address-port"].rpartition(":")
            if action == "add":
                if not host or not port.isdigit():
                    return "ERROR:4:bad node-address-port"
                dc.dest = (host, int(port))
            elif action == "remove":
                dc.dest = None
            return "ok"
        ns_name = p.get("namespace")
        if ns_name is not None:
            ns = self.node.store.namespaces.get(ns_name)
            if ns is None:
                return "ERROR:4:namespace not found"
            settings = dc.namespaces.setdefault(ns_name, {})
            if action == "add":
                if dc.dest is None:
                    return "ERROR:4:DC has no node-address-port"
                rewind = p.get("rewind")
                if rewind is not None and rewind != "all" and not rewind.isdigit():
                    return "ERROR:4:bad rewind"
                seconds = None if rewind in (None, "all") else int(rewind)
                if rewind is None:
                    seconds = 0  # no rewind: ship only what is written from now on
                stream = Stream(self, name, ns, dc.dest, seconds, int(settings.get("max-throughput", "0")))
                if rewind is None:
                    stream.recoveries_pending = 0
                dc.streams[ns_name] = stream
                return "ok"
            if action == "remove":
                if ns_name in dc.streams:
                    dc.streams.pop(ns_name).stop()
                return "ok"
            for key in ("max-throughput", "forward"):
                if key in p:
                    settings[key] = p[key]
                    return "ok"
        return "ERROR:4:invalid set-config parameter"


def _wrap_store(ns: NamespaceStore, hooks: list[Callable[..., None]]) -> None:
    """Tell ``hooks`` of every put and remove on this namespace store (instance attributes only)."""
    put, put_new, remove = ns.put, ns.put_new, ns.remove

    def put_hook(rec: Record) -> None:
        put(rec)
        for h in list(hooks):
            h(ns, rec.digest, None)

    def put_new_hook(part: int, rec: Record) -> None:  # the batch-write fast path creates through this
        put_new(part, rec)
        for h in list(hooks):
            h(ns, rec.digest, None)

    def remove_hook(digest: bytes) -> None:
        old = ns.parts[partition_id(digest)].get(digest)
        remove(digest)
        if old is not None:
            for h in list(hooks):
                h(ns, digest, (old.set_name, old.key, time.time_ns(), old.gen + 1))

    # instance attributes shadow the methods for this store only; the class stays untouched
    setattr(ns, "put", put_hook)  # noqa: B010
    setattr(ns, "put_new", put_new_hook)  # noqa: B010
    setattr(ns, "remove", remove_hook)  # noqa: B010
    setattr(ns, "_xdr_hooks", hooks)  # noqa: B010
