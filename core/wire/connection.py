"""One TCP (or TLS) connection to one node, and a small pool of them per node.

Framing (wire-protocol.md §1), info requests (§2.1) and login / authenticate (§3) live here.
A connection carries one command at a time (§9); after any error it is closed, never
returned to the pool, so a half-read reply can never be mistaken for the next one.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterable

from ..config import TlsConfig
from ..errors import ClusterError
from .protocol import PROTO_SIZE_MAX, MsgType, pack_proto

__all__ = [
    "Connection",
    "ConnectionPool",
    "Credentials",
    "WireTimeout",
    "WireConnectionError",
    "hash_password",
]

_PROTO = struct.Struct(">Q")
_ADMIN_HEADER = struct.Struct(">BBBB12x")
_FIELD = struct.Struct(">IB")

# Security commands and field ids (§3.1).
_AUTHENTICATE, _LOGIN = 0, 20
_F_USER, _F_CREDENTIAL, _F_CLEAR_PASSWORD, _F_SESSION_TOKEN, _F_SESSION_TTL = 0, 3, 4, 5, 6
_SEC_OK, _SEC_NOT_SUPPORTED, _SEC_NOT_CONFIGURED = 0, 51, 52
_WAITALL = getattr(socket, "MSG_WAITALL", 0)
_BCRYPT_SALT = b"$2a$10$7EqJtq98hPqEX7fNZaFWoO"  # fixed salt of every Aerospike client (§3.2)


class WireConnectionError(ClusterError):
    """The connection failed or broke (refused, reset, closed mid-reply). Worth retrying."""


class WireTimeout(WireConnectionError):
    """A connect or read timed out on our side. Worth retrying."""


def hash_password(password: str) -> bytes:
    """The credential sent at login: bcrypt of the password with the fixed client salt."""
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - bcrypt is a dependency
        raise ClusterError("login needs the module 'bcrypt': pip install bcrypt") from None
    return bytes(bcrypt.hashpw(password.encode("utf-8"), _BCRYPT_SALT))


class Credentials:
    """User, password and the session token shared by the connections of one cluster."""

    __slots__ = ("user", "credential", "password", "external", "token", "expires", "lock")

    def __init__(self, user: str, password: str, *, external: bool = False) -> None:
        self.user = user
        self.password = password
        self.credential = hash_password(password)
        self.external = external
        self.token: bytes | None = None
        self.expires = 0.0
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r})"


def _admin_message(command: int, fields: Iterable[tuple[int, bytes]]) -> bytes:
    items = list(fields)
    body = bytearray(_ADMIN_HEADER.pack(0, 0, command, len(items)))
    for fid, data in items:
        body += _FIELD.pack(len(data) + 1, fid)
        body += data
    return pack_proto(MsgType.ADMIN, len(body)) + bytes(body)


class Connection:
    """A socket to one node. Not thread-safe: one command at a time."""

    __slots__ = ("address", "sock", "closed", "last_used", "_kernel_timeouts", "_timeout")

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        socket_timeout: float | None,
        tls: TlsConfig | None = None,
    ) -> None:
        self.address = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout or None)
        except TimeoutError:
            raise WireTimeout(f"{self.address}: connect timed out after {connect_timeout:g} s") from None
        except OSError as exc:
            raise WireConnectionError(f"{self.address}: cannot connect: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None and tls.enable:
            sock = _wrap_tls(sock, host, tls)
        self.sock = sock
        self.closed = False
        self.last_used = time.monotonic()
        # Plain sockets stay in blocking mode with kernel timeouts (SO_RCVTIMEO), so that a whole
        # reply body arrives in one recv(MSG_WAITALL) call with the GIL released; Python-level
        # timeouts would make the socket non-blocking and cost one GIL hand-off per TCP chunk.
        self._kernel_timeouts = not isinstance(sock, ssl.SSLSocket) and hasattr(socket, "SO_RCVTIMEO")
        self._timeout: float | None = -1.0
        self.set_timeout(socket_timeout)

    def set_timeout(self, seconds: float | None) -> None:
        seconds = seconds or None
        if seconds == self._timeout:
            return
        self._timeout = seconds
        if not self._kernel_timeouts:
            self.sock.settimeout(seconds)
            return
        self.sock.settimeout(None)
        whole = int(seconds or 0)
        timeval = struct.pack("ll", whole, int(((seconds or 0) - whole) * 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:  # pragma: no cover
                pass

    def send(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self.sock.sendall(data)
        except (TimeoutError, BlockingIOError):
            self.close()
            raise WireTimeout(f"{self.address}: send timed out") from None
        except OSError as exc:
            self.close()
            raise WireConnectionError(f"{self.address}: send failed: {exc.strerror or exc}") from None

    def _recv(self, n: int) -> bytes:
        """Exactly ``n`` bytes. One ``recv`` call in the usual case: the kernel fills a fresh
        bytes object (no zero-fill, no second copy)."""
        recv = self.sock.recv
        flags = _WAITALL if self._kernel_timeouts else 0
        try:
            data = recv(n, flags)
            if len(data) == n:
                return data
            parts, got = [data], len(data)
            while data and got < n:
                data = recv(n - got, flags)
                parts.append(data)
                got += len(data)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO expired
            self.close()
            raise WireTimeout(f"{self.address}: no reply within the socket timeout") from None
        except OSError as exc:
            self.close()
            raise WireConnectionError(f"{self.address}: read failed: {exc.strerror or exc}") from None
        if got < n:
            self.close()
            raise WireConnectionError(f"{self.address}: connection closed by the server")
        return b"".join(parts)

    def read_proto(self) -> tuple[int, bytes, int]:
        """Read one proto: (type, buffer, offset of the body in buffer).

        A compressed reply (type 4) is inflated and reported as type 3; its buffer is the
        inner message and the body starts at offset 8 (§1.3).
        """
        value = _PROTO.unpack(self._recv(8))[0]
        version, msg_type, size = value >> 56, (value >> 48) & 0xFF, value & 0xFFFF_FFFF_FFFF
        if version != 2 or size > PROTO_SIZE_MAX:
            self.close()
            raise WireConnectionError(
                f"{self.address}: bad reply header {value:016x} (version {version}, size {size})"
            )
        body = self._recv(size) if size else b""
        self.last_used = time.monotonic()
        if msg_type == MsgType.COMPRESSED:
            return MsgType.AS_MSG, _inflate(body, self.address), 8
        return msg_type, body, 0

    # -- info (§2) -------------------------------------------------------------------------

    def info(self, commands: Iterable[str]) -> dict[str, str]:
        """Send info commands; return {command: value} (values as the server wrote them)."""
        text = "".join(c + "\n" for c in commands).encode("utf-8")
        self.send(pack_proto(MsgType.INFO, len(text)) + text)
        msg_type, buf, start = self.read_proto()
        if msg_type != MsgType.INFO:
            self.close()
            raise WireConnectionError(f"{self.address}: info reply of type {msg_type}")
        out: dict[str, str] = {}
        for line in buf[start:].decode("utf-8", "replace").split("\n"):
            if not line:
                continue
            name, _, value = line.partition("\t")
            out[name] = value
        return out

    # -- security (§3) ---------------------------------------------------------------------

    def _admin(self, command: int, fields: Iterable[tuple[int, bytes]]) -> tuple[int, dict[int, bytes]]:
        self.send(_admin_message(command, fields))
        msg_type, buf, start = self.read_proto()
        if msg_type != MsgType.ADMIN or len(buf) - start < 16:
            self.close()
            raise WireConnectionError(f"{self.address}: bad security reply (type {msg_type})")
        result, n_fields = buf[start + 1], buf[start + 3]
        pos = start + 16
        reply: dict[int, bytes] = {}
        for _ in range(n_fields):
            size, fid = _FIELD.unpack_from(buf, pos)
            reply[fid] = buf[pos + 5 : pos + 4 + size]
            pos += 4 + size
        return result, reply

    def login(self, creds: Credentials) -> None:
        """Log in (command 20) and keep the session token in ``creds`` for later connections."""
        fields = [(_F_USER, creds.user.encode()), (_F_CREDENTIAL, creds.credential)]
        if creds.external:
            fields.append((_F_CLEAR_PASSWORD, creds.password.encode()))
        result, reply = self._admin(_LOGIN, fields)
        if result == _SEC_NOT_CONFIGURED:  # security disabled: proceed without a session
            creds.token, creds.expires = None, float("inf")
            return
        if result == _SEC_NOT_SUPPORTED:
            self.close()
            raise ClusterError(f"{self.address}: login refused: security is not supported (result 51, "
                               "Community Edition?)", code=51)
        if result != _SEC_OK:
            self.close()
            raise ClusterError(f"{self.address}: login as {creds.user!r} failed (security result {result})",
                               code=result)
        token = reply.get(_F_SESSION_TOKEN)
        if not token:
            self.close()
            raise ClusterError(f"{self.address}: login reply carried no session token")
        ttl = int.from_bytes(reply[_F_SESSION_TTL], "big") if _F_SESSION_TTL in reply else 0
        creds.token = token
        creds.expires = time.monotonic() + (ttl - 60 if ttl > 60 else 1e18 if not ttl else ttl)

    def authenticate(self, creds: Credentials) -> None:
        """Authenticate a new connection with the session token (§3.3); log in when needed."""
        with creds.lock:
            if creds.token is None or time.monotonic() >= creds.expires:
                if creds.expires == float("inf"):
                    return  # security not configured on the server
                self.login(creds)
                return
            token = creds.token
        result, _ = self._admin(_AUTHENTICATE, [(_F_USER, creds.user.encode()), (_F_SESSION_TOKEN, token)])
        if result == _SEC_OK:
            return
        with creds.lock:
            creds.token = None
            self.login(creds)


def _inflate(body: bytes, address: str) -> bytes:
    if len(body) < 8:
        raise WireConnectionError(f"{address}: compressed reply shorter than 8 bytes")
    expect = int.from_bytes(body[:8], "big")
    try:
        inner = zlib.decompress(memoryview(body)[8:])
    except zlib.error as exc:
        raise WireConnectionError(f"{address}: cannot inflate a compressed reply: {exc}") from None
    if len(inner) != expect or len(inner) < 8 or inner[0] != 2 or inner[1] != MsgType.AS_MSG:
        raise WireConnectionError(f"{address}: compressed reply does not hold an AS_MSG of {expect} bytes")
    return inner


def _wrap_tls(sock: socket.socket, host: str, tls: TlsConfig) -> socket.socket:
    ctx = ssl.create_default_context(cafile=tls.ca_file, capath=tls.ca_path)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, tls.key_file_password)
    server_name = tls.name or host
    try:
        return ctx.wrap_socket(sock, server_hostname=server_name)
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise WireConnectionError(f"{host}: TLS handshake failed (tls name {server_name!r}): {exc}") from None


class ConnectionPool:
    """Idle connections to one node, at most ``size`` kept; more are made on demand."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        size: int = 8,
        connect_timeout: float = 1.0,
        tls: TlsConfig | None = None,
        credentials: Credentials | None = None,
        idle_timeout: float = 0.0,
    ) -> None:
        self.host, self.port = host, port
        self.size = size
        self.connect_timeout = connect_timeout
        self.tls = tls
        self.credentials = credentials
        self.idle_timeout = idle_timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def get(self, socket_timeout: float | None) -> Connection:
        """An idle connection, or a new one (authenticated when credentials are set)."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if self.idle_timeout and now - conn.last_used > self.idle_timeout:
                    conn.close()
                    continue
                conn.set_timeout(socket_timeout)
                return conn
        conn = Connection(self.host, self.port, connect_timeout=self.connect_timeout,
                          socket_timeout=socket_timeout, tls=self.tls)
        if self.credentials is not None:
            try:
                conn.authenticate(self.credentials)
            except BaseException:
                conn.close()
                raise
        return conn

    def put(self, conn: Connection) -> None:
        """Return a connection after a complete reply; broken ones are dropped."""
        if conn.closed:
            return
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
