"""The XDR receiver on a real socket, driven byte by byte as XDR would (wire-protocol.md §10)."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aerobackup.config import TlsConfig
from aerobackup.model import XdrToken
from aerobackup.xdr.receiver import AckSlot, XdrReceiver

ACK_OK_HEX = "0203000000000016" + "00" * 22
ACK_RETRY_HEX = "0203000000000016" + "0000000000" + "0b" + "00" * 16


def field(ftype: int, data: bytes) -> bytes:
    return struct.pack(">IB", len(data) + 1, ftype) + data


def sample_message(set_name: bytes = b"set1", key: int = 777, value: bytes = b"z" * 15) -> bytes:
    """backup-go's test message as decoded in wire-protocol.md §10.2 (built from that description)."""
    key_particle = b"\x01" + key.to_bytes(8, "big")
    digest = hashlib.new("ripemd160", set_name + key_particle).digest()
    fields = [
        field(0, b"source-ns1"),
        field(4, digest),
        field(1, set_name),
        field(2, key_particle),
        field(14, bytes.fromhex("0000006dc9dd6998")),
    ]
    op = struct.pack(">IBBBB", 4 + 1 + len(value), 2, 3, 0, 1) + b"a" + value
    header = struct.pack(">BBBBBBIIIHH", 22, 0x10, 0x01, 0x10, 0, 0, 2, 2592000, 0, len(fields), 1)
    body = header + b"".join(fields) + op
    return (2 << 56 | 3 << 48 | len(body)).to_bytes(8, "big") + body


class Recorder:
    def __init__(self) -> None:
        self.items: list[tuple[XdrToken, AckSlot]] = []
        self.lock = threading.Lock()

    def __call__(self, items: list[tuple[XdrToken, AckSlot]]) -> None:
        with self.lock:
            self.items.extend(items)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def receiver(rec: Recorder) -> Iterator[XdrReceiver]:
    r = XdrReceiver(rec, port=0, read_timeout=5.0, write_timeout=5.0)
    r.start()
    yield r
    r.stop()


def dial(r: XdrReceiver) -> socket.socket:
    s = socket.create_connection((r.host, r.port), timeout=5)
    s.settimeout(2.0)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def wait_for(cond: object, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_sample_digest_matches_spec() -> None:
    msg = sample_message()
    assert bytes.fromhex("ffe3edca38f4eb05bdcf1d009f13a6ab8e71273b") in msg


def test_ack_only_after_the_writer_has_it(receiver: XdrReceiver, rec: Recorder) -> None:
    s = dial(receiver)
    msg = sample_message()
    s.sendall(msg)
    wait_for(lambda: len(rec.items) == 1)
    token, slot = rec.items[0]
    s.settimeout(0.3)
    with pytest.raises(TimeoutError):
        s.recv(30)  # nothing before mark_done
    receiver.mark_done([slot])
    s.settimeout(2.0)
    assert recv_exact(s, 30).hex() == ACK_OK_HEX
    # §10.4: XDR bit of info1 cleared; the rest byte for byte, with the same proto header
    assert token.namespace == "source-ns1"
    assert token.digest.hex() == "ffe3edca38f4eb05bdcf1d009f13a6ab8e71273b"
    assert token.payload[9] == 0x00 and msg[9] == 0x10
    assert token.payload[:9] == msg[:9] and token.payload[10:] == msg[10:]
    s.close()


def test_acks_keep_arrival_order(receiver: XdrReceiver, rec: Recorder) -> None:
    s = dial(receiver)
    s.sendall(b"".join(sample_message(key=k) for k in (1, 2, 3)))
    wait_for(lambda: len(rec.items) == 3)
    receiver.mark_done([rec.items[1][1], rec.items[2][1]])
    s.settimeout(0.3)
    with pytest.raises(TimeoutError):
        s.recv(30)  # the first is not written yet: no ack may overtake it
    receiver.mark_done([rec.items[0][1]])
    s.settimeout(2.0)
    assert recv_exact(s, 90).hex() == ACK_OK_HEX * 3
    s.close()


def test_transaction_monitor_records_are_acked_not_written(receiver: XdrReceiver, rec: Recorder) -> None:
    s = dial(receiver)
    s.sendall(sample_message(set_name=b"<ERO~MRT"))
    assert recv_exact(s, 30).hex() == ACK_OK_HEX
    assert rec.items == []
    assert receiver.stats().skipped == 1
    s.close()


def test_short_message_gets_retry_then_close(receiver: XdrReceiver, rec: Recorder) -> None:
    s = dial(receiver)
    s.sendall((2 << 56 | 3 << 48 | 10).to_bytes(8, "big") + bytes(10))
    assert recv_exact(s, 30).hex() == ACK_RETRY_HEX
    assert s.recv(1) == b""  # closed
    assert rec.items == []


def test_bad_key_type_gets_retry(receiver: XdrReceiver) -> None:
    msg = bytearray(sample_message())
    at = msg.index(b"\x02\x01\x00\x00\x00\x00\x00\x00\x03\x09")  # KEY field type 2, particle 1
    msg[at + 1] = 2  # particle type FLOAT: not a key type
    s = dial(receiver)
    s.sendall(bytes(msg))
    assert recv_exact(s, 30).hex() == ACK_RETRY_HEX


def test_bad_proto_header_drops_the_connection(receiver: XdrReceiver, rec: Recorder) -> None:
    s = dial(receiver)
    s.sendall((2 << 56 | 1 << 48 | 4).to_bytes(8, "big") + b"node")  # an info request
    assert s.recv(30) == b""
    assert rec.items == []


def test_max_connections(rec: Recorder) -> None:
    with XdrReceiver(rec, port=0, max_connections=1, read_timeout=5.0) as r:
        first = dial(r)
        first.sendall(sample_message())
        wait_for(lambda: len(rec.items) == 1)
        second = dial(r)
        assert second.recv(1) == b""  # refused: closed at once
        assert r.stats().refused == 1
        r.mark_done([rec.items[0][1]])
        assert recv_exact(first, 30).hex() == ACK_OK_HEX


def test_resend_on_a_new_connection_is_not_written_twice(receiver: XdrReceiver, rec: Recorder) -> None:
    msg = sample_message()
    a = dial(receiver)
    a.sendall(msg)
    wait_for(lambda: len(rec.items) == 1)
    a.close()  # the connection breaks before the ack: XDR ships the record again
    b = dial(receiver)
    b.sendall(msg)
    wait_for(lambda: receiver.stats().duplicates == 1)
    assert len(rec.items) == 1
    receiver.mark_done([rec.items[0][1]])
    assert recv_exact(b, 30).hex() == ACK_OK_HEX
    # a new version of the record is written
    b.sendall(sample_message(value=b"new"))
    wait_for(lambda: len(rec.items) == 2)
    b.close()


def test_idle_connection_closed_after_read_timeout(rec: Recorder) -> None:
    with XdrReceiver(rec, port=0, read_timeout=0.2) as r:
        s = dial(r)
        t = time.monotonic()
        assert s.recv(1) == b""
        assert time.monotonic() - t < 2.0


def test_stop_closes_connections_and_frees_the_port(rec: Recorder) -> None:
    r = XdrReceiver(rec, port=0, read_timeout=30.0)
    host, port = r.start()
    s = dial(r)
    s.sendall(sample_message())
    wait_for(lambda: len(rec.items) == 1)
    t = time.monotonic()
    r.stop()
    assert time.monotonic() - t < 3.0
    assert s.recv(30) == b""  # closed; the unwritten message stays unacked
    with socket.create_server((host, port)):
        pass


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xdr-receiver")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("xdr-receiver")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls(rec: Recorder, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = TlsConfig(cert_file=str(cert), key_file=str(key))
    with XdrReceiver(rec, port=0, tls=tls, read_timeout=5.0) as r:
        ctx = ssl.create_default_context(cafile=str(cert))
        raw = socket.create_connection((r.host, r.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="xdr-receiver") as s:
            s.sendall(sample_message())
            wait_for(lambda: len(rec.items) == 1)
            r.mark_done([rec.items[0][1]])
            assert recv_exact(s, 30).hex() == ACK_OK_HEX  # type: ignore[arg-type]


def test_tls_many_messages_and_idle_timeout(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    holder: list[XdrReceiver] = []

    def auto(items: list[tuple[XdrToken, AckSlot]]) -> None:
        holder[0].mark_done([slot for _t, slot in items])

    with XdrReceiver(auto, port=0, tls=TlsConfig(cert_file=str(cert), key_file=str(key)), read_timeout=0.5) as r:
        holder.append(r)
        ctx = ssl.create_default_context(cafile=str(cert))
        raw = socket.create_connection((r.host, r.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="xdr-receiver") as s:
            s.sendall(b"".join(sample_message(key=k) for k in range(300)))
            assert recv_exact(s, 30 * 300).hex() == ACK_OK_HEX * 300  # type: ignore[arg-type]
            t = time.monotonic()
            assert s.recv(1) == b""  # idle past the read timeout: closed
            assert time.monotonic() - t < 3.0
        assert r.stats().messages == 300


def test_port_in_use_is_a_config_error(rec: Recorder) -> None:
    from aerobackup import ConfigError

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^backup_xdr.local_port: cannot listen on 127\.0\.0\.1:{port}: "):
            XdrReceiver(rec, port=port).start()
