"""A protocol-faithful fake Aerospike Secret Agent, for tests and for trying a configuration.

The real agent cannot be installed everywhere; this one speaks the same frames
(secret-agent.md §3-§5): per connection it reads one request frame, looks up
``(Resource, SecretKey)`` in a dictionary, answers ``{"SecretValue": …}`` or ``{"Error": …}``
and closes. It listens on 127.0.0.1 (port 0 = a free port) and/or a UNIX socket, optionally
with TLS (``make_test_certificates`` makes a throw-away CA and certificates), records every raw
request, can base64-encode values (the agent's ``convert-to-base64``), and plays faults chosen
per secret key (``faults={"k": "delay:3"}``; key ``"*"`` for every request; see FAULTS). It
stops when the ``with`` block ends, on ``stop()``, or by itself after ``lifetime`` seconds.
Nothing binds outside loopback.

    with FakeSecretAgent({"res:key": "value"}, convert_to_base64=True) as agent:
        cfg = SecretAgentConfig(address=agent.host, port=agent.port, is_base64=True)

From a shell: ``python -m aerobackup.testing.secret_agent --secret res:key=value``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAULTS", "FakeSecretAgent", "TestCertificates", "main", "make_test_certificates"]

MAGIC = 0x51DEC1CC
_HEADER = struct.Struct(">II")

FAULTS = (
    "bad_magic",  # reply with magic 0x12345678
    "truncate",  # header announces more bytes than sent, then close
    "header_only",  # header, then close
    "too_big",  # header announcing 200 KiB (over the C client's 100 KiB limit)
    "bad_json",  # a body that is not JSON
    "error_and_value",  # both Error and SecretValue
    "empty_error",  # "Error": "" with a SecretValue
    "empty_value",  # "SecretValue": ""
    "trailing_newline",  # the value followed by "\n"
    "unpadded",  # base64 without its "=" padding
    "dribble",  # the reply one byte per write (dribble:<seconds> between bytes; default 1 ms)
    "never_read",  # accept and never read (until the client gives up)
    "close",  # close right after accept
    "delay:<seconds>",  # wait before replying
)


@dataclass(frozen=True, slots=True)
class TestCertificates:
    """Files made by ``make_test_certificates``: a CA, a server pair, a client pair."""

    __test__ = False  # not a pytest test class

    ca_file: str
    cert_file: str
    key_file: str
    client_cert_file: str
    client_key_file: str


def make_test_certificates(directory: str | os.PathLike[str], *, hostname: str = "localhost") -> TestCertificates:
    """A throw-away CA and a server and client certificate it signed (valid one day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("aerobackup test CA"))
        .issuer_name(name("aerobackup test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        cn: str, usage: x509.ObjectIdentifier, sans: Sequence[x509.GeneralName]
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key

    import ipaddress

    server_pem, server_key = leaf(
        hostname,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_pem, client_key = leaf("aerobackup test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    files = TestCertificates(
        ca_file=str(out / "ca.pem"),
        cert_file=str(out / "agent.pem"),
        key_file=str(out / "agent.key"),
        client_cert_file=str(out / "client.pem"),
        client_key_file=str(out / "client.key"),
    )
    Path(files.ca_file).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    Path(files.cert_file).write_bytes(server_pem)
    write_key(server_key, Path(files.key_file))
    Path(files.client_cert_file).write_bytes(client_pem)
    write_key(client_key, Path(files.client_key_file))
    return files


class FakeSecretAgent:
    """The fake agent. ``secrets`` maps ``"resource:key"`` (or ``(resource, key)``; resource None
    for requests without one) to a value (str or bytes)."""

    def __init__(
        self,
        secrets: Mapping[str | tuple[str | None, str], str | bytes],
        *,
        convert_to_base64: bool = False,
        tcp: bool = True,
        unix_path: str | os.PathLike[str] | None = None,
        tls: TestCertificates | None = None,
        require_client_cert: bool = False,
        faults: Mapping[str, str] | None = None,
        lifetime: float = 300.0,
        io_timeout: float = 10.0,
    ) -> None:
        self._secrets: dict[tuple[str | None, str], bytes] = {}
        for ref, value in secrets.items():
            if isinstance(ref, str):
                res, sep, key = ref.rpartition(":")
                ref = (res if sep else None, key)
            self._secrets[ref] = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        self.convert_to_base64 = convert_to_base64
        self.faults = dict(faults or {})
        self.requests: list[bytes] = []  # raw request frames, in arrival order
        self.host = "127.0.0.1"
        self.port = 0
        self.unix_path = str(unix_path) if unix_path is not None else None
        self._tcp = tcp
        self._tls = tls
        self._require_client_cert = require_client_cert
        self._lifetime = lifetime
        self._stopped = threading.Event()
        self._io_timeout = io_timeout
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"FakeSecretAgent({self.host}:{self.port}, unix={self.unix_path!r}, secrets={len(self._secrets)})"

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> FakeSecretAgent:
        if self._tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self._tls.cert_file, self._tls.key_file)
            if self._require_client_cert:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self._tls.ca_file)
            self._context = ctx
        if self._tcp:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(16)
            self.port = sock.getsockname()[1]
            self._listeners.append(sock)
        if self.unix_path is not None:
            if os.path.exists(self.unix_path):  # a stale socket file, as the real agent does
                os.unlink(self.unix_path)
            usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            usock.bind(self.unix_path)
            os.chmod(self.unix_path, 0o660)
            usock.listen(16)
            self._listeners.append(usock)
        for listener in self._listeners:
            listener.settimeout(0.1)
            thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="fake-secret-agent")
            thread.start()
            self._threads.append(thread)
        timer = threading.Timer(self._lifetime, self.stop)
        timer.daemon = True
        timer.start()
        self._timer = timer
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        if self.unix_path is not None and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
        self._stopped.set()

    def wait_stopped(self, timeout: float) -> bool:
        """Wait until the agent has closed its listeners (after ``stop()`` or its lifetime)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> FakeSecretAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ---------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        is_tcp = listener.family != socket.AF_UNIX
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(conn, is_tcp), daemon=True, name="fake-secret-agent-conn"
            ).start()

    def _serve(self, conn: socket.socket, is_tcp: bool) -> None:
        conn.settimeout(self._io_timeout)
        try:
            if is_tcp and self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            self._exchange(conn)
        except (OSError, ValueError):
            pass  # a client that went away or spoke nonsense: nothing to answer
        finally:
            conn.close()

    def _exchange(self, conn: socket.socket) -> None:
        early = self.faults.get("*", "")  # faults that strike before the request is read
        if early == "close":
            return
        if early == "never_read":
            self._stop.wait(self._io_timeout)
            return
        header = _recv(conn, 8)
        magic, length = _HEADER.unpack(header)
        if magic != MAGIC or length > 1024 * 1024:
            self._reply(conn, {"Error": "bad request frame"})
            return
        body = _recv(conn, length)
        with self._lock:
            self.requests.append(header + body)
        try:
            request = json.loads(body)
            resource = request.get("Resource")
            key = request["SecretKey"]
        except (ValueError, KeyError, AttributeError):
            self._reply(conn, {"Error": "invalid request"})
            return
        fault = self.faults.get(key, self.faults.get("*", ""))
        if fault == "close":
            return
        if fault == "never_read":
            self._stop.wait(self._io_timeout)
            return
        if fault.startswith("delay:"):
            if self._stop.wait(float(fault.partition(":")[2])):
                return
        value = self._secrets.get((resource if resource is not None else None, key))
        if value is None:
            self._reply(conn, {"Error": "secret not found"}, fault)
            return
        text = base64.b64encode(value).decode("ascii") if self.convert_to_base64 else value.decode("utf-8", "replace")
        if fault == "unpadded":
            text = text.rstrip("=")
        elif fault == "trailing_newline":
            text += "\n"
        elif fault == "empty_value":
            text = ""
        reply: dict[str, str] = {"SecretValue": text}
        if fault == "error_and_value":
            reply["Error"] = "boom"
        elif fault == "empty_error":
            reply["Error"] = ""
        self._reply(conn, reply, fault)

    def _reply(self, conn: socket.socket, reply: Mapping[str, str], fault: str = "") -> None:
        body = json.dumps(reply, separators=(",", ":")).encode("utf-8")
        if fault == "bad_json":
            body = body[:-3]
        frame = _HEADER.pack(0x12345678 if fault == "bad_magic" else MAGIC, len(body)) + body
        if fault == "truncate":
            frame = _HEADER.pack(MAGIC, len(body) + 10) + body
        elif fault == "header_only":
            frame = frame[:8]
        elif fault == "too_big":
            frame = _HEADER.pack(MAGIC, 200 * 1024) + body
        if fault.startswith("dribble"):
            pause = float(fault.partition(":")[2] or 0.001)
            for i in range(len(frame)):
                conn.sendall(frame[i : i + 1])
                if self._stop.wait(pause):
                    return
        else:
            conn.sendall(frame)


def _recv(conn: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve secrets from the command line until the lifetime ends or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m aerobackup.testing.secret_agent", description="A fake Aerospike Secret Agent on 127.0.0.1."
    )
    parser.add_argument("--secret", action="append", default=[], metavar="RESOURCE:KEY=VALUE")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--unix", metavar="PATH")
    parser.add_argument("--base64", action="store_true", help="base64-encode values (convert-to-base64)")
    parser.add_argument("--lifetime", type=float, default=600.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    secrets: dict[str | tuple[str | None, str], str | bytes] = {}
    for item in args.secret:
        ref, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--secret {item!r}: expected RESOURCE:KEY=VALUE")
        secrets[ref] = value
    agent = FakeSecretAgent(secrets, convert_to_base64=args.base64, unix_path=args.unix, lifetime=args.lifetime)
    agent.port = args.port
    agent.start()
    print(
        f"fake secret agent on {agent.host}:{agent.port}" + (f" and {agent.unix_path}" if agent.unix_path else ""),
        flush=True,
    )
    try:
        agent._stop.wait(args.lifetime)
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
