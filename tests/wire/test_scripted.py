"""Connection-level behaviour against a scripted peer serving real-server reply bytes:
compressed replies, unavailable partitions, a connection dropped mid-stream, start errors,
write retries, login."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aerobackup.config import RetryPolicy
from aerobackup.datapath import PartitionCursor, PartitionsDone, ScanRequest, WritePolicy
from aerobackup.errors import ClusterError
from aerobackup.model import RecordBatch, UserKey
from aerobackup.wire.connection import Credentials
from aerobackup.wire.scan import run_scan
from aerobackup.wire.write import write_records

from .scripted import OneNode, ScriptedServer

HDR = struct.Struct(">BBBBBBIIIHH")


class CloseAfter(bytes):
    """Reply bytes after which the scripted server closes the connection."""


def _proto(body: bytes, msg_type: int = 3) -> bytes:
    return ((2 << 56) | (msg_type << 48) | len(body)).to_bytes(8, "big") + body


def _last(result: int = 0) -> bytes:
    return _proto(HDR.pack(22, 0, 0, 0x01, 0, result, 0, 0, 0, 0, 0))


def _marker(partition: int, result: int = 11) -> bytes:
    return HDR.pack(22, 0, 0, 0x04, 0, result, partition, 0, 0, 0, 0)


def _split_msgs(body: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(body):
        n_fields, n_ops = struct.unpack_from(">HH", body, pos + 18)
        end = pos + 22
        for _ in range(n_fields + n_ops):
            end += 4 + int.from_bytes(body[end : end + 4], "big")
        out.append(body[pos:end])
        pos = end
    return out


@pytest.fixture(scope="module")
def p1003(conformance_dir: Path) -> list[bytes]:
    """The five record AS_MSGs of partition 1003 (descending digests), as a real server sent them."""
    with open(conformance_dir / "wire-traces" / "traces.jsonl", encoding="utf-8") as f:
        rec = next(r for r in map(json.loads, f) if r["id"] == "scan-p1003")
    reply = bytes.fromhex(rec["reply_hex"])
    size = int.from_bytes(reply[2:8], "big")
    msgs = _split_msgs(reply[8 : 8 + size])
    assert len(msgs) == 5
    return msgs


def _digest(msg: bytes) -> bytes:
    pos = 22
    while True:
        size, ftype = struct.unpack_from(">IB", msg, pos)
        if ftype == 4:
            return msg[pos + 5 : pos + 25]
        pos += 4 + size


def _fields(request: bytes) -> dict[int, bytes]:
    body = request[8:]
    pos, out = 22, {}
    for _ in range(struct.unpack_from(">H", body, 18)[0]):
        size, ftype = struct.unpack_from(">IB", body, pos)
        out[ftype] = body[pos + 5 : pos + 4 + size]
        pos += 4 + size
    return out


@pytest.fixture
def serve() -> Iterator[list[ScriptedServer]]:
    servers: list[ScriptedServer] = []
    yield servers
    for s in servers:
        s.close()


def _start(serve: list[ScriptedServer], handler) -> tuple[ScriptedServer, OneNode]:  # type: ignore[no-untyped-def]
    server = ScriptedServer(handler)
    serve.append(server)
    return server, OneNode(server.port)


def _req(*partitions: int, **kw: object) -> ScanRequest:
    kw.setdefault("socket_timeout_ms", 3000)
    return ScanRequest(namespace="test", partitions=tuple(PartitionCursor(p) for p in partitions),
                       set_names=("scan",), **kw)  # type: ignore[arg-type]


def _collect(items: Iterator[object]) -> tuple[list[bytes], list[tuple[int, ...]]]:
    digests: list[bytes] = []
    done: list[tuple[int, ...]] = []
    for item in items:
        if isinstance(item, RecordBatch):
            item.check()
            digests.extend(item.digests)
        else:
            assert isinstance(item, PartitionsDone)
            done.append(item.partitions)
    return digests, done


def test_compressed_replies_are_inflated(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    def compress(message: bytes) -> bytes:
        packed = zlib.compress(message, 1)
        return _proto(len(message).to_bytes(8, "big") + packed, msg_type=4)

    _, node = _start(serve, lambda n, req: compress(_proto(b"".join(p1003))) + compress(_last()))
    digests, done = _collect(run_scan(node, _req(1003)))
    assert digests == [_digest(m) for m in p1003]
    assert done == [(1003,)]


def test_unavailable_partition_is_retried_alone(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    calls: list[dict[int, bytes]] = []

    def handler(n: int, req: bytes) -> bytes:
        calls.append(_fields(req))
        if len(calls) == 1:  # 1003 unavailable, 1000 empty and complete
            return _proto(_marker(1003)) + _last()
        return _proto(b"".join(p1003)) + _last()

    _, node = _start(serve, handler)
    digests, done = _collect(run_scan(node, _req(1000, 1003)))
    assert digests == [_digest(m) for m in p1003]
    assert done == [(1000,), (1003,)]
    assert calls[0][11] == struct.pack("<HH", 1000, 1003)
    assert calls[1][11] == struct.pack("<H", 1003) and 12 not in calls[1]
    assert node.refreshes == 1


def test_drop_mid_stream_resumes_after_the_last_digest(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    calls: list[dict[int, bytes]] = []

    def handler(n: int, req: bytes) -> bytes:
        fields = _fields(req)
        calls.append(fields)
        if len(calls) == 1:  # two records, then the node goes away
            return CloseAfter(_proto(b"".join(p1003[:2])))
        after = fields[12]
        rest = [m for m in p1003 if _digest(m) < after]  # the server returns strictly smaller digests
        return _proto(b"".join(rest)) + _last()

    class Dropping(ScriptedServer):
        def _client(self, conn, number):  # type: ignore[no-untyped-def]
            import socket as _s

            from .scripted import read_proto
            with conn:
                request = read_proto(conn)
                if request is None:
                    return
                reply = self.handler(number, request)
                assert reply is not None
                conn.sendall(reply)
                if isinstance(reply, CloseAfter):
                    conn.shutdown(_s.SHUT_RDWR)
                    return
                super()._client(conn, number)

    server = Dropping(handler)
    serve.append(server)
    node = OneNode(server.port)
    digests, done = _collect(run_scan(node, _req(1003)))
    assert digests == [_digest(m) for m in p1003]  # each record exactly once
    assert done == [(1003,)]
    assert calls[1][12] == _digest(p1003[1]) and 11 not in calls[1]


def test_start_error_is_permanent(serve) -> None:  # type: ignore[no-untyped-def]
    bare = _proto(HDR.pack(22, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0))  # unknown namespace: no LAST bit
    server, node = _start(serve, lambda n, req: bare)
    with pytest.raises(ClusterError, match="result 20") as info:
        _collect(run_scan(node, _req(5)))
    assert info.value.code == 20 and len(server.requests) == 1


def test_retries_are_bounded(serve) -> None:  # type: ignore[no-untyped-def]
    server, node = _start(serve, lambda n, req: _proto(_marker(5)) + _last())
    with pytest.raises(ClusterError, match="gave up after 2 retries"):
        _collect(run_scan(node, _req(5, max_retries=2)))
    assert len(server.requests) == 3


def test_max_records_is_a_total_and_claims_nothing_done(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    calls: list[dict[int, bytes]] = []

    def handler(n: int, req: bytes) -> bytes:
        calls.append(_fields(req))
        return _proto(b"".join(p1003[:2])) + _last()

    _, node = _start(serve, handler)
    digests, done = _collect(run_scan(node, _req(1003, max_records=2)))
    assert len(digests) == 2 and done == []
    assert calls[0][13] == (2).to_bytes(8, "big")


def _write_batch() -> RecordBatch:
    batch = RecordBatch.from_records("test", [])
    from aerobackup.model import RecordBatchBuilder

    b = RecordBatchBuilder("test")
    for i in range(3):
        b.add_record("s", bytes([i]) * 20, UserKey(3, b"k%d" % i) if i != 1 else None, 7 + i, 0)
        b.add_bin("i", 1, i.to_bytes(8, "big"))
        b.add_bin("l", 20, b"\x92\x01\x02")
    batch = b.finish()
    return batch


def _rows(request: bytes) -> list[dict[str, object]]:
    """Decode the BATCH_INDEX rows of a request (wire-protocol §7.2)."""
    data = _fields(request)[41]
    n, pos, rows = int.from_bytes(data[:4], "big"), 5, []
    for _ in range(n):
        index, digest, flags, info1, info2, info3, gen, ttl, nf, nops = struct.unpack_from(
            ">I20sBBBBHIHH", data, pos)
        pos += 4 + 20 + 1 + 3 + 2 + 4 + 4
        fields = {}
        for _ in range(nf):
            size, ftype = struct.unpack_from(">IB", data, pos)
            fields[ftype] = data[pos + 5 : pos + 4 + size]
            pos += 4 + size
        ops = []
        for _ in range(nops):
            size, op, ptype, _flags, nlen = struct.unpack_from(">IBBBB", data, pos)
            ops.append((op, ptype, data[pos + 8 : pos + 8 + nlen], data[pos + 8 + nlen : pos + 4 + size]))
            pos += 4 + size
        rows.append(dict(index=index, digest=digest, flags=flags, info2=info2, info3=info3, gen=gen,
                         ttl=ttl, fields=fields, ops=ops))
    assert pos == len(data)
    return rows


def _row_reply(index: int, result: int) -> bytes:
    return HDR.pack(22, 0, 0, 0, 0, result, 0, 0, index, 0, 0)


def test_batch_write_rows_and_transient_retry(serve) -> None:  # type: ignore[no-untyped-def]
    seen: list[list[dict[str, object]]] = []

    def handler(n: int, req: bytes) -> bytes:
        rows = _rows(req)
        seen.append(rows)
        if len(seen) == 1:  # 0 ok, 1 key busy (transient), 2 record too big (permanent)
            return _proto(_row_reply(0, 0) + _row_reply(1, 14) + _row_reply(2, 13)) + _last()
        return _proto(b"".join(_row_reply(r["index"], 0) for r in rows)) + _last()  # type: ignore[arg-type]

    _, node = _start(serve, handler)
    policy = WritePolicy(retry=RetryPolicy(base_timeout_ms=1, max_retries=3))
    codes = write_records(node, _write_batch(), [-1, 0, 3600], policy)
    assert codes == [0, 0, 13]
    first, second = seen
    assert [r["digest"] for r in second] == [bytes([1]) * 20]  # only the transient row again
    r0, r1, r2 = first
    assert r0["flags"] == 0x0E and r0["info2"] == 0x01 | 0x08 and r0["gen"] == 7  # WRITE | GEN_GT
    assert r0["ttl"] == 0xFFFFFFFF and r2["ttl"] == 3600
    assert r0["fields"] == {0: b"test", 1: b"s", 2: b"\x03k0"}
    assert 2 not in r1["fields"]  # type: ignore[operator]  # no user key: digest only
    assert r0["ops"] == [(2, 1, b"i", (0).to_bytes(8, "big")), (2, 20, b"l", b"\x92\x01\x02")]


def test_write_policies_set_their_bits(serve) -> None:  # type: ignore[no-untyped-def]
    from aerobackup.datapath import ExistsPolicy, GenerationPolicy

    seen: list[list[dict[str, object]]] = []

    def handler(n: int, req: bytes) -> bytes:
        rows = _rows(req)
        seen.append(rows)
        return _proto(b"".join(_row_reply(r["index"], 0) for r in rows)) + _last()  # type: ignore[arg-type]

    _, node = _start(serve, handler)
    batch = _write_batch()
    write_records(node, batch, [0, 0, 0], WritePolicy(exists=ExistsPolicy.CREATE_ONLY,
                                                       generation=GenerationPolicy.IGNORE))
    write_records(node, batch, [0, 0, 0], WritePolicy(exists=ExistsPolicy.REPLACE))
    create, replace = seen[0][0], seen[1][0]
    assert create["info2"] == 0x01 | 0x20 and create["gen"] == 0 and create["info3"] == 0
    assert replace["info2"] == 0x01 | 0x08 and replace["info3"] == 0x10


def test_permanent_batch_error_raises(serve) -> None:  # type: ignore[no-untyped-def]
    _, node = _start(serve, lambda n, req: _last(4))
    with pytest.raises(ClusterError, match="result 4"):
        write_records(node, _write_batch(), [0, 0, 0], WritePolicy())


def test_single_writes(serve) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict[int, bytes]] = []

    def handler(n: int, req: bytes) -> bytes:
        seen.append(_fields(req))
        return _proto(HDR.pack(22, 0, 0, 0, 0, 3 if len(seen) == 2 else 0, 1, 0, 0, 0, 0))

    _, node = _start(serve, handler)
    codes = write_records(node, _write_batch(), [0, 0, 0], WritePolicy(use_batch=False))
    assert codes == [0, 3, 0]
    assert seen[0][4] == bytes([0]) * 20 and seen[0][2] == b"\x03k0" and 2 not in seen[1]


def test_login_then_authenticate(serve) -> None:  # type: ignore[no-untyped-def]
    token = b"session-token-1"
    events: list[tuple[int, int]] = []

    def handler(n: int, req: bytes) -> bytes:
        if req[1] == 2:
            command = req[8 + 2]
            events.append((n, command))
            if command == 20:  # LOGIN: check the bcrypt credential, hand out a token
                assert b"$2a$10$7EqJtq98hPqEX7fNZaFWoO" in req and b"admin" in req
                field_ = struct.pack(">IB", len(token) + 1, 5) + token
                return _proto(bytes([0, 0, 0, 1]) + bytes(12) + field_, msg_type=2)
            assert token in req  # AUTHENTICATE with the session token
            return _proto(bytes(16), msg_type=2)
        return _proto(b"namespaces\ttest\n", msg_type=1)

    from aerobackup.wire.connection import ConnectionPool

    server, node = _start(serve, handler)
    pool = ConnectionPool("127.0.0.1", server.port, credentials=Credentials("admin", "admin123"))
    a, b = pool.get(2.0), pool.get(2.0)
    assert a.info(["namespaces"]) == {"namespaces": "test"}
    assert b.info(["namespaces"]) == {"namespaces": "test"}
    assert [c for _, c in events] == [20, 0]
    a.close()
    b.close()


def test_silent_node_times_out_and_is_retried(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    import time

    calls: list[int] = []

    def handler(n: int, req: bytes) -> bytes | None:
        calls.append(n)
        if len(calls) == 1:
            time.sleep(1.5)  # longer than the socket timeout: no reply in time
            return None
        return _proto(b"".join(p1003)) + _last()

    _, node = _start(serve, handler)
    started = time.monotonic()
    digests, done = _collect(run_scan(node, _req(1003, socket_timeout_ms=300)))
    assert len(digests) == 5 and done == [(1003,)]
    assert len(calls) == 2 and calls[0] != calls[1]  # the timed-out connection was not reused
    assert time.monotonic() - started < 1.4  # the retry did not wait for the silent reply


def test_tls_connection(tmp_path: Path) -> None:
    """Our TLS client against a loopback TLS peer with a self-signed certificate (cryptography)."""
    import datetime as dt
    import socket
    import ssl
    import threading

    from aerobackup.config import TlsConfig
    from aerobackup.wire.connection import Connection, WireConnectionError
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aero-node")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("aero-node")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "node.pem", tmp_path / "node.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with server_ctx.wrap_socket(raw, server_side=True) as conn:
                    from .scripted import read_proto

                    if read_proto(conn) is not None:
                        conn.sendall(_proto(b"build\t8.1.2.0\n", msg_type=1))
            except (ssl.SSLError, OSError):
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    good = Connection("127.0.0.1", port, connect_timeout=2, socket_timeout=2,
                      tls=TlsConfig(ca_file=str(cert_file), name="aero-node"))
    assert good.info(["build"]) == {"build": "8.1.2.0"}
    good.close()
    with pytest.raises(WireConnectionError, match="TLS handshake failed \\(tls name 'other'\\)"):
        Connection("127.0.0.1", port, connect_timeout=2, socket_timeout=2,
                   tls=TlsConfig(ca_file=str(cert_file), name="other"))
    thread.join(timeout=5)
    listener.close()


def test_unreachable_node_for_writes_names_the_address(serve) -> None:  # type: ignore[no-untyped-def]
    server, node = _start(serve, lambda n, req: None)  # accepts, then closes without a reply
    with pytest.raises(ClusterError, match=rf"unreachable \(last error: 127.0.0.1:{server.port}: "):
        write_records(node, _write_batch(), [0, 0, 0], WritePolicy(retry=RetryPolicy(base_timeout_ms=1,
                                                                                       max_retries=2)))
    assert len(server.requests) == 3


def test_rate_and_filter_fields(serve, p1003) -> None:  # type: ignore[no-untyped-def]
    calls: list[dict[int, bytes]] = []

    def handler(n: int, req: bytes) -> bytes:
        calls.append(_fields(req))
        return _proto(b"".join(p1003)) + _last()

    _, node = _start(serve, handler)
    user = bytes.fromhex("9301935102a16105")  # Eq(IntBin("a"), 5), python-client.md §4
    _collect(run_scan(node, _req(1003, records_per_second=250, filter_expression=user, no_ttl_only=True,
                                 modified_after_ns=7)))
    fields = calls[0]
    assert fields[10] == (250).to_bytes(4, "big")
    assert fields[43] == bytes.fromhex("9410") + user + bytes.fromhex("9304914207") + bytes.fromhex("93019144ff")
    assert fields[1] == b"scan"  # one set name: the SET field, not an expression
