"""A scripted loopback peer for connection-level tests (compression, drops, login).

It serves bytes recorded from a real server (conformance/wire-traces) according to a handler;
it is not an Aerospike emulator. Every wait is bounded and the server stops on ``close()``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aerobackup.wire.connection import ConnectionPool

#: handler(connection number, request bytes incl. header) -> reply bytes, or None to close.
Handler = Callable[[int, bytes], bytes | None]


def read_proto(sock: socket.socket) -> bytes | None:
    head = _read(sock, 8)
    if head is None:
        return None
    size = int.from_bytes(head[2:8], "big")
    body = _read(sock, size) if size else b""
    return None if body is None else head + body


def _read(sock: socket.socket, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except OSError:
            return None
        if not chunk:
            return None
        out += chunk
    return bytes(out)


class ScriptedServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._conns = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._conns += 1
            threading.Thread(target=self._client, args=(conn, self._conns), daemon=True).start()

    def _client(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(5)
        with conn:
            while not self._stop.is_set():
                request = read_proto(conn)
                if request is None:
                    return
                self.requests.append((number, request))
                reply = self.handler(number, request)
                if reply is None:
                    return
                try:
                    conn.sendall(reply)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=2)


@dataclass(eq=False)
class OneNode:
    """A router of one node owning every partition (what run_scan / write_records need)."""

    port: int
    name: str = "N1"
    pool: ConnectionPool = field(init=False)
    refreshes: int = 0

    def __post_init__(self) -> None:
        self.pool = ConnectionPool("127.0.0.1", self.port, size=4, connect_timeout=2.0)

    def owner_node(self, namespace: str, partition: int) -> OneNode:
        return self

    def sole_owner(self, namespace: str) -> OneNode:
        return self

    def refresh(self) -> None:
        self.refreshes += 1
