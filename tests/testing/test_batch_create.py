"""Records created by batch writes keep their bins in wire form (the emulator's fast path).

Each record is written twice, once by a single put and once by a batch write of the official
client; both must read back (get, batch read, query) as the values written, and be stored alike.
Rows the fast path must refuse (a repeated bin name, a 4-byte integer) are sent raw.
"""

from __future__ import annotations

import socket
import struct

import aerospike
from aerobackup.testing import Emulator, key_digest
from aerospike import exception as ex
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import list_operations as lo
from aerospike_helpers.operations import operations as op

BINS: dict[str, object] = {
    "i": -7,
    "s": "text",
    "f": 2.5,
    "b": bytearray(b"\x00\x01"),
    "l": [3, 1, 2],
    "m": {"z": 1, "a": 2},  # an unordered map is stored sorted: not stored as sent
    "km": aerospike.KeyOrderedDict({"b": 1, "a": 2}),
    "t": True,
    "g": aerospike.GeoJSON({"type": "Point", "coordinates": [1.5, 2.5]}),
}


def _expected(value: object) -> object:
    return {"z": 1, "a": 2} if value == {"z": 1, "a": 2} else value


def test_batch_created_records_read_back_like_put_ones(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_client.put(("test", "fast", "p"), BINS)
    writes = [br.Write(("test", "fast", f"b{i}"), [op.write(k, v) for k, v in BINS.items()]) for i in range(3)]
    res = aerospike_client.batch_write(br.BatchRecords(writes))
    assert [r.result for r in res.batch_records] == [0, 0, 0]
    _, meta, bins = aerospike_client.get(("test", "fast", "b1"))
    assert meta["gen"] == 1
    assert bins["i"] == -7 and bins["s"] == "text" and bins["f"] == 2.5 and bins["b"] == b"\x00\x01"
    assert bins["l"] == [3, 1, 2] and bins["m"] == {"a": 2, "z": 1} and bins["t"] is True
    assert bins["g"].unwrap() == {"type": "Point", "coordinates": [1.5, 2.5]}
    put = aerospike_server.get_raw("test", "fast", "p")
    batch = aerospike_server.get_raw("test", "fast", "b0")
    assert put is not None and batch is not None
    assert sorted(batch.bins) == sorted(put.bins)
    # a scan reply carries the same bins as a get, for both kinds of record
    seen = {bytes(rec[0][3]): rec[2] for rec in aerospike_client.query("test", "fast").results()}
    assert len(seen) == 4
    for b in seen.values():
        assert set(b) == set(BINS) and b["s"] == "text" and b["l"] == [3, 1, 2] and b["i"] == -7
    # a named-bin read and an update of a batch-created record
    _, _, some = aerospike_client.select(("test", "fast", "b2"), ["s", "l"])
    assert some == {"s": "text", "l": [3, 1, 2]}
    aerospike_client.operate(("test", "fast", "b2"), [lo.list_append("l", 9), op.write("s", "x")])
    _, meta, bins = aerospike_client.get(("test", "fast", "b2"))
    assert meta["gen"] == 2 and bins["l"] == [3, 1, 2, 9] and bins["s"] == "x" and bins["i"] == -7
    # creating again fails as for any existing record
    again = aerospike_client.batch_write(
        br.BatchRecords(
            [br.Write(("test", "fast", "b0"), [op.write("i", 1)], policy={"exists": aerospike.POLICY_EXISTS_CREATE})]
        )
    )
    assert again.batch_records[0].result == 5
    try:
        aerospike_client.put(("test", "fast", "b0"), {"i": 1}, policy={"exists": aerospike.POLICY_EXISTS_CREATE})
        raise AssertionError("create of an existing record succeeded")
    except ex.RecordExistsError:
        pass


_HDR = struct.Struct(">BBBBBBIIIHH")


def _op(name: bytes, ptype: int, value: bytes) -> bytes:
    return struct.pack(">IBBBB", 4 + len(name) + len(value), 2, ptype, 0, len(name)) + name + value


def _raw_batch(rows: list[tuple[bytes, bytes, int]]) -> bytes:
    """Batch-index request of write rows (digest, ops bytes, op count), RESPOND_ALL_OPS."""
    fields = struct.pack(">IB", 5, 0) + b"test" + struct.pack(">IB", 4, 1) + b"raw"
    body = b""
    for i, (digest, ops, n_ops) in enumerate(rows):
        body += struct.pack(">I", i) + digest + b"\x0e\x00\x81\x00\x00\x00\x00\x00\x00\x00"
        body += struct.pack(">HH", 2, n_ops) + fields + ops
    data = struct.pack(">IB", len(rows), 0x0D) + body
    msg = _HDR.pack(22, 0x08, 0, 0, 0, 0, 0, 0, 1000, 1, 0) + struct.pack(">IB", len(data) + 1, 41) + data
    return (0x0203 << 48 | len(msg)).to_bytes(8, "big") + msg


def _read_replies(s: socket.socket) -> list[bytes]:
    msgs: list[bytes] = []
    buf = b""
    while True:
        while len(buf) < 8 or len(buf) < 8 + int.from_bytes(buf[2:8], "big"):
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
        size = int.from_bytes(buf[2:8], "big")
        body, buf = buf[8 : 8 + size], buf[8 + size :]
        p = 0
        while p < len(body):
            n_fields, n_ops = struct.unpack_from(">HH", body, p + 18)
            q = p + 22
            for _ in range(n_fields + n_ops):
                q += 4 + int.from_bytes(body[q : q + 4], "big")
            msgs.append(body[p:q])
            p = q
        if msgs and msgs[-1][3] & 1:
            return msgs


def test_rows_the_fast_path_refuses_are_written_by_the_general_one(
    aerospike_client, aerospike_server: Emulator
) -> None:
    dup, short, plain = key_digest("raw", "dup"), key_digest("raw", "short"), key_digest("raw", "plain")
    rows = [
        (dup, _op(b"a", 3, b"one") + _op(b"a", 3, b"two"), 2),  # a repeated bin name: last one wins
        (short, _op(b"n", 1, (5).to_bytes(4, "big")) + _op(b"x", 3, b"y"), 2),  # a 4-byte integer
        (plain, _op(b"n", 1, (5).to_bytes(8, "big")) + _op(b"x", 3, b"y"), 2),  # the fast path
    ]
    with socket.create_connection((aerospike_server.host, aerospike_server.port), timeout=10) as s:
        s.sendall(_raw_batch(rows))
        replies = _read_replies(s)
    assert [m[5] for m in replies] == [0, 0, 0, 0]  # three rows and the LAST message
    assert [struct.unpack_from(">H", m, 20)[0] for m in replies[:3]] == [2, 2, 2]  # one result per op
    _, meta, bins = aerospike_client.get(("test", "raw", "dup"))
    assert bins == {"a": "two"} and meta["gen"] == 1
    _, _, bins = aerospike_client.get(("test", "raw", "short"))
    assert bins == {"n": 5, "x": "y"}
    raw = aerospike_server.get_raw("test", digest=short)
    assert raw is not None and raw.bins == [("n", 1, (5).to_bytes(8, "big")), ("x", 3, b"y")]
    assert aerospike_client.get(("test", "raw", "plain"))[2] == {"n": 5, "x": "y"}
    # a scan answers the fast-path record with READ ops (op byte 1), as a real server does
    pid = (plain[0] | plain[1] << 8) & 0xFFF
    fields = (
        struct.pack(">IB", 5, 0) + b"test" + struct.pack(">IB", 4, 1) + b"raw"
        + struct.pack(">IB", 3, 11) + pid.to_bytes(2, "little")
    )  # fmt: skip
    msg = _HDR.pack(22, 0x01, 0, 0x04, 0, 0, 0, 0, 0, 3, 0) + fields
    with socket.create_connection((aerospike_server.host, aerospike_server.port), timeout=10) as s:
        s.sendall((0x0203 << 48 | len(msg)).to_bytes(8, "big") + msg)
        scanned = [m for m in _read_replies(s) if len(m) > 22 and m[18:20] != b"\x00\x00"]
    read_ops = b"".join(
        struct.pack(">IBBBB", 4 + len(name) + len(value), 1, ptype, 0, len(name)) + name + value
        for name, ptype, value in [(b"n", 1, (5).to_bytes(8, "big")), (b"x", 3, b"y")]
    )
    assert len(scanned) == 1 and scanned[0].endswith(read_ops)


def _s(text: bytes) -> bytes:
    return bytes([0xA0 | (len(text) + 1), 3]) + text


MAPS = [
    b"\x82" + _s(b"ab") + b"\x01" + _s(b"cd") + b"\xcb" + struct.pack(">d", 0.5),  # sorted: as sent
    b"\x82" + _s(b"cd") + b"\x01" + _s(b"ab") + b"\x02",  # unsorted: the server sorts it
    b"\x82" + _s(b"ab") + b"\x01" + _s(b"ab") + b"\x02",  # equal keys
    b"\x83" + _s(b"a") + b"\xcd\x01\x00" + _s(b"b") + b"\xd2\xff\xff\xff\xfe" + _s(b"c") + _s(b"v"),
    b"\x82" + _s(b"a") + b"\x91\x01" + _s(b"b") + b"\x01",  # a list value
    b"\x82\x01\x01\x02\x02",  # integer keys
    b"\x82" + _s(b"b") + b"\x01\x01\x02",  # an integer key after a string one
    b"\x82" + _s(b"a") + b"\x01" + _s(b"b"),  # truncated
    b"\x81" + _s(b"a") + b"\x01\x00",  # a byte left over
    b"\x80",
]


def test_plain_write_maps_are_stored_as_sent_only_when_check_particle_would() -> None:
    from aerobackup.testing._msg import check_particle, parse_plain_writes

    for value in MAPS:
        ops = struct.pack(">IBBBB", 5 + len(value), 2, 19, 0, 1) + b"m" + value
        buf = b"\xff" + ops + b"\xff"  # bytes either side: the checks must stay within the op
        got = parse_plain_writes(buf, 1, len(buf) - 1, 1)
        rc, _pt, stored = check_particle(19, value)
        assert (got is not None) == (rc == 0 and stored == value), value
        if got is not None:
            assert got[0].wire == ops[:4] + b"\x01" + ops[5:] and got[1] == len(buf) - 1


def test_batch_rows_with_different_user_keys_keep_each_key(aerospike_client, aerospike_server: Emulator) -> None:
    # rows sharing namespace and set but not the key field take the emulator's field-sharing path
    writes = [br.Write(("test", "keys", f"k{i}"), [op.write("i", i)], policy={"key": aerospike.POLICY_KEY_SEND})
              for i in range(5)]
    writes.append(br.Write(("test", "keys2", "k9"), [op.write("i", 9)], policy={"key": aerospike.POLICY_KEY_SEND}))
    writes.append(br.Write(("test", "keys2", 12), [op.write("i", 12)], policy={"key": aerospike.POLICY_KEY_SEND}))
    res = aerospike_client.batch_write(br.BatchRecords(writes))
    assert [r.result for r in res.batch_records] == [0] * 7
    got = {(rec[0][1], rec[0][2]): rec[2]["i"] for rec in aerospike_client.query("test", "keys").results()}
    got.update({(rec[0][1], rec[0][2]): rec[2]["i"] for rec in aerospike_client.query("test", "keys2").results()})
    assert got == {**{("keys", f"k{i}"): i for i in range(5)}, ("keys2", "k9"): 9, ("keys2", 12): 12}
