"""``secrets:<resource>:<key>`` values, fetched from the Aerospike Secret Agent (secret-agent.md).

Any string option may be given as ``secrets:resource:key``; ``resolve_secrets(config, agent)``
replaces every such value in a config (nested dataclasses, tuples, mappings) once, at start,
fetching each distinct reference once. The agent's own settings are never resolved.

The client follows the protocol both reference clients speak: one connection per secret; a
frame is magic ``0x51DEC1CC`` (4 bytes, big-endian), body length (4 bytes, big-endian), JSON
body; request ``{"Resource":…,"SecretKey":…}``, reply ``{"SecretValue":…}`` or ``{"Error":…}``.
It does what the spec's pitfall list asks: loops over short reads, treats early end of stream as
an error, checks the magic and caps the length (100 KiB, as the C client) before reading the
body, escapes JSON, bounds connect + write + read by one deadline, verifies the agent's TLS
certificate against the CA file (as backup-go; asbackup verifies nothing).

Reference parsing follows the C tools (split at the *last* colon; ``secrets:key`` sends no
``Resource``), a superset of backup-go's ``secrets:resource:key``. Values are base64-decoded
when ``SecretAgentConfig.is_base64`` is set (what the C tools always do, trailing whitespace
trimmed), else used verbatim (backup-go's default).

Secret values never appear in errors, logs or reprs; errors name the reference and the agent.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import SecretAgentConfig
from .errors import ConfigError, KeySourceError

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_PORT",
    "MAGIC",
    "MAX_RESPONSE",
    "PREFIX",
    "SecretAgentClient",
    "SecretRef",
    "decode_frame_header",
    "encode_frame",
    "fetch_secret",
    "is_secret",
    "parse_secret_ref",
    "resolve_secrets",
]

PREFIX = "secrets:"
MAGIC = 0x51DEC1CC
MAX_RESPONSE = 100 * 1024  # the C client's limit (SA_MAX_RECV_JSON_SIZE)
DEFAULT_ADDRESS = "127.0.0.1"  # the C tools' defaults
DEFAULT_PORT = 3005
DEFAULT_TIMEOUT_MS = 1000
_HEADER = struct.Struct(">II")
_STRICT_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A parsed ``secrets:`` value. ``resource`` is None for ``secrets:key`` (C form)."""

    resource: str | None
    key: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.resource}:{self.key}" if self.resource is not None else f"{PREFIX}{self.key}"


def is_secret(value: object) -> bool:
    """True for a string starting with the case-sensitive prefix ``secrets:``."""
    return isinstance(value, str) and value.startswith(PREFIX)


def parse_secret_ref(value: str) -> SecretRef:
    """``secrets:res:key`` → (res, key); ``secrets:a:b:key`` → (a:b, key); ``secrets:key`` → (None, key)."""
    if not value.startswith(PREFIX):
        raise KeySourceError(f"{value!r} is not a secret reference (expected secrets:<resource>:<key>)")
    rest = value[len(PREFIX) :]
    if not rest:
        raise KeySourceError("empty secret reference 'secrets:' (expected secrets:<resource>:<key>)")
    resource, sep, key = rest.rpartition(":")
    return SecretRef(resource if sep else None, key)


def encode_frame(body: bytes) -> bytes:
    """One protocol frame: magic, big-endian body length, body."""
    return _HEADER.pack(MAGIC, len(body)) + body


def decode_frame_header(header: bytes) -> int:
    """The body length a frame header announces; KeySourceError for a bad magic."""
    magic, length = _HEADER.unpack(header)
    if magic != MAGIC:
        raise KeySourceError(f"invalid magic number {magic:08x} (expected {MAGIC:08x})")
    return int(length)


def request_body(ref: SecretRef) -> bytes:
    """``{"Resource":"r","SecretKey":"k"}`` without spaces; no Resource member for ``secrets:k``."""
    members: dict[str, str] = {}
    if ref.resource is not None:
        members["Resource"] = ref.resource
    members["SecretKey"] = ref.key
    return json.dumps(members, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class SecretAgentClient:
    """Fetches secrets from one agent. Holds no secret values; safe to share between threads."""

    def __init__(self, config: SecretAgentConfig | None = None) -> None:
        self.config = config or SecretAgentConfig(address=DEFAULT_ADDRESS, port=DEFAULT_PORT)
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"SecretAgentClient({self.where})"

    @property
    def where(self) -> str:
        """The agent's address as errors show it."""
        cfg = self.config
        if cfg.connection_type == "unix":
            return f"unix:{cfg.address}"
        host, port = self._host_port()
        return f"{'[' + host + ']' if ':' in host else host}:{port}"

    @property
    def timeout(self) -> float:
        ms = self.config.timeout_ms if self.config.timeout_ms > 0 else DEFAULT_TIMEOUT_MS
        return ms / 1000.0

    def _host_port(self) -> tuple[str, int]:
        address = self.config.address or DEFAULT_ADDRESS
        port: int | None = None
        if address.startswith("["):  # [v6]:port
            host, _, tail = address[1:].partition("]")
            if tail.startswith(":") and tail[1:].isdigit():
                port = int(tail[1:])
        elif address.count(":") == 1:
            host, _, tail = address.partition(":")
            if tail.isdigit():
                port = int(tail)
            else:
                host = address
        else:
            host = address
        if self.config.port is not None:
            port = self.config.port
        return host, port if port is not None else DEFAULT_PORT

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            cfg = self.config
            try:
                ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError("secret_agent.ca_file", f"cannot load CA file {cfg.ca_file}: {_why(exc)}") from None
            if cfg.cert_file or cfg.key_file:
                if not (cfg.cert_file and cfg.key_file):
                    raise ConfigError("secret_agent.cert_file", "cert_file and key_file must be given together")
                try:
                    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigError(
                        "secret_agent.cert_file", f"cannot load client certificate {cfg.cert_file}: {_why(exc)}"
                    ) from None
            self._ssl = ctx
        return self._ssl

    def _connect(self, deadline: float) -> socket.socket:
        cfg = self.config
        if cfg.connection_type == "unix":
            if cfg.ca_file:
                raise ConfigError("secret_agent.ca_file", "TLS over a UNIX socket is not supported")
            if not cfg.address:
                raise ConfigError("secret_agent.address", "a UNIX socket connection needs the socket path")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(_left(deadline))
            try:
                sock.connect(cfg.address)
            except BaseException:
                sock.close()
                raise
            return sock
        host, port = self._host_port()
        sock = socket.create_connection((host, port), timeout=_left(deadline))
        if cfg.ca_file:
            try:
                sock.settimeout(_left(deadline))
                return self._context().wrap_socket(sock, server_hostname=cfg.tls_name or host)
            except BaseException:
                sock.close()
                raise
        return sock

    def fetch(self, ref: SecretRef | str) -> bytes:
        """The secret's value (base64-decoded when ``is_base64``). KeySourceError on any failure."""
        if isinstance(ref, str):
            ref = parse_secret_ref(ref)
        what = f"secret {ref} from the Secret Agent at {self.where}"
        deadline = time.monotonic() + self.timeout
        try:
            sock = self._connect(deadline)
            try:
                sock.settimeout(_left(deadline))
                sock.sendall(encode_frame(request_body(ref)))
                header = _recv_exactly(sock, 8, deadline)
                length = decode_frame_header(header)
                if length > MAX_RESPONSE:
                    raise KeySourceError(f"response too big ({length} bytes, limit {MAX_RESPONSE})")
                body = _recv_exactly(sock, length, deadline)
            finally:
                sock.close()
        except TimeoutError:
            raise KeySourceError(f"{what}: no answer within {self.timeout:g} s") from None
        except ConnectionRefusedError:
            raise KeySourceError(f"{what}: connection refused (is the agent running?)") from None
        except FileNotFoundError:
            raise KeySourceError(f"{what}: no socket at {self.config.address}") from None
        except ssl.SSLCertVerificationError as exc:
            raise KeySourceError(f"{what}: TLS certificate not trusted ({exc.verify_message})") from None
        except ssl.SSLError as exc:
            raise KeySourceError(f"{what}: TLS failed ({exc.reason or exc})") from None
        except OSError as exc:
            raise KeySourceError(f"{what}: {_why(exc)}") from None
        except KeySourceError as exc:
            raise KeySourceError(f"{what}: {exc}") from None
        return self._value(body, what)

    def _value(self, body: bytes, what: str) -> bytes:
        try:
            reply = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise KeySourceError(f"{what}: the agent's reply is not valid JSON") from None
        if not isinstance(reply, dict):
            raise KeySourceError(f"{what}: the agent's reply is not a JSON object")
        error = reply.get("Error")
        if isinstance(error, str) and error:
            raise KeySourceError(f"{what}: the agent says: {error}")
        value = reply.get("SecretValue")
        if not isinstance(value, str):
            raise KeySourceError(f"{what}: no SecretValue in the agent's reply")
        if not value.strip():
            raise KeySourceError(f"{what}: the secret is empty")
        if not self.config.is_base64:
            return value.encode("utf-8")
        text = value.rstrip(" \t\n\r\f\v")
        if not _STRICT_B64.fullmatch(text):
            raise KeySourceError(f"{what}: the value is not base64 (is_base64 is set)")
        return binascii.a2b_base64(text)


def fetch_secret(value: str, config: SecretAgentConfig | None) -> bytes:
    """Fetch one ``secrets:`` value with the agent ``config`` (the C tools' default agent if None)."""
    return SecretAgentClient(config).fetch(value)


def resolve_secrets(
    obj: T,
    agent: SecretAgentClient | SecretAgentConfig | None,
    *,
    path: str = "",
    keep: Callable[[str], bool] | None = None,
) -> T:
    """A copy of ``obj`` with every ``secrets:`` string replaced by its (UTF-8) value.

    Walks dataclasses, tuples, lists and mappings; ``SecretAgentConfig`` values are left alone
    (the agent's own settings are never secrets). ``keep(path)`` may spare other fields (a
    key-file option, whose secret is PEM content fetched later by the key source). Each distinct
    reference is fetched once. Failures are ConfigError naming the field.
    """
    client = agent if isinstance(agent, SecretAgentClient) else SecretAgentClient(agent)
    cache: dict[str, str] = {}

    def fetch(value: str, where: str) -> str:
        if value not in cache:
            try:
                data = client.fetch(value)
            except KeySourceError as exc:
                raise ConfigError(where, str(exc)) from None
            try:
                cache[value] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(where, f"secret {value} is not UTF-8 text") from None
        return cache[value]

    def walk(item: Any, where: str) -> Any:
        if keep is not None and where and keep(where):
            return item
        if isinstance(item, str):
            return fetch(item, where) if is_secret(item) else item
        if isinstance(item, SecretAgentConfig):
            return item
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            changes = {}
            for f in dataclasses.fields(item):
                if not f.init:
                    continue
                old = getattr(item, f.name)
                new = walk(old, f"{where}.{f.name}" if where else f.name)
                if new is not old:
                    changes[f.name] = new
            return dataclasses.replace(item, **changes) if changes else item
        if isinstance(item, tuple | list):
            new_items = [walk(v, f"{where}[{i}]") for i, v in enumerate(item)]
            if all(a is b for a, b in zip(new_items, item, strict=True)):
                return item
            return type(item)(new_items)
        if isinstance(item, Mapping):
            new_map = {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()}
            if all(new_map[k] is v for k, v in item.items()):
                return item
            return type(item)(new_map) if isinstance(item, dict) else new_map
        return item

    result: T = walk(obj, path)
    return result


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _recv_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        sock.settimeout(_left(deadline))
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise KeySourceError(
                f"the agent closed the connection after {len(buf)} of {size} bytes"
                if buf or size != 8
                else "the agent closed the connection without an answer"
            )
        buf += chunk
    return bytes(buf)


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
    return str(text) or type(exc).__name__
