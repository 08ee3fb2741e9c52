"""The emulator's C batch-row parser against its pure-Python reference (``_parse_rows_py``).

The C function may decline any input (None: the Python parser decides), but whatever it returns
must equal the reference's rows. Inputs: batch-write requests our restore builds (every particle
type), the official client's requests recorded from a real server (conformance wire traces),
hand-made rows for each reason to decline, every prefix of these and random mutations. The rows
of a restore must take the C path (else the emulator would be slow, not wrong: checked too).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aerobackup.model import RecordBatchBuilder, UserKey
from aerobackup.testing import _streams
from aerobackup.testing._msg import PlainWrites, parse_msg
from aerobackup.wire.messages import WriteFlags, batch_write_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

native = pytest.importorskip("aerobackup.testing._emulator_speedups", reason="the C extension is not built")

#: values a restore writes, as (particle type, raw bytes): each kind the fast path accepts
PLAIN_VALUES = [
    (1, (-7).to_bytes(8, "big", signed=True)),
    (2, struct.pack(">d", 2.5)),
    (3, b"text"),
    (4, b"\x00\x01\x02"),
    (17, b"\x01"),
    (20, b"\x93\x01\xa4\x03red\x02"),  # a list without order flags
    (19, b"\x82\xa3\x03ab\x01\xa3\x03cd\xcb" + struct.pack(">d", 0.5)),  # a sorted map of scalars
    (19, b"\x81\xa2\x03k\xa4\x03abc"),
    (19, b"\x83\xa2\x03a\xcc\xff\xa2\x03b\xd1\x80\x00\xa2\x03c\xc3"),  # 1- and 2-byte ints, true
]


def normal(rows: list[Any] | None) -> list[Any] | None:
    """Rows with each PlainWrites as (wire, names) (the class has no __eq__)."""
    if rows is None:
        return None
    return [r[:8] + (("plain", r[8].wire, r[8].names) if isinstance(r[8], PlainWrites) else r[8],) for r in rows]


def compare(data: bytes, n_rows: int) -> bool:
    """Both parsers on the same field; True when C took it (and agreed)."""
    ref = _streams._parse_rows_py(data, n_rows)
    nat = native.parse_plain_rows(data, n_rows, PlainWrites)
    if nat is not None:
        assert normal(nat) == normal(ref)
        assert ref is not None  # C never accepts what the reference calls malformed
    assert normal(_streams._parse_rows(data, n_rows)) == normal(ref)  # what run_batch uses
    return nat is not None


def batch_field(bins: list[list[tuple[str, int, bytes]]], *, set_name: str = "s", key: bool = True,
                flags: WriteFlags | None = None) -> tuple[bytes, int]:
    """The BATCH_INDEX field of a restore's batch write of records with these bins."""
    b = RecordBatchBuilder("test")
    for i, record in enumerate(bins):
        b.add_record(set_name, bytes([i % 256, i // 256]) + bytes(18),
                     UserKey(3, f"k{i}".encode()) if key else None, 1, 0)
        for name, ptype, value in record:
            b.add_bin(name, ptype, value)
    batch = b.finish()
    flags = flags or WriteFlags(1, 0, False)
    body = batch_write_request(batch, list(range(len(batch))), [-1] * len(batch), flags)[8:]
    m = parse_msg(body)
    assert m is not None
    return m.fields[41], len(batch)


def test_restore_batches_take_the_c_path() -> None:
    records = [[(f"b{j}", t, v) for j, (t, v) in enumerate(PLAIN_VALUES[: 3 + i % 7])] for i in range(50)]
    for kw in ({}, {"key": False}, {"set_name": ""}, {"flags": WriteFlags(0x01 | 0x20, 0, False)},
               {"flags": WriteFlags(0x01 | 0x08, 0x10, True)}):
        data, n = batch_field(records, **kw)  # type: ignore[arg-type]
        assert compare(data, n), kw
    rows = native.parse_plain_rows(*batch_field(records), PlainWrites)
    assert rows[0][7] is rows[1][7] or rows[0][7][2] != rows[1][7][2]  # dicts shared only when equal


def _with_value(ptype: int, value: bytes, name: bytes = b"x", op: int = 2) -> tuple[bytes, int]:
    data, n = batch_field([[("a", 3, b"v")]])
    # replace the only op: header size, op, particle type, flags 0, name length
    head = data.rindex(b"\x00\x00\x00\x06\x02\x03\x00\x01a")
    new_op = struct.pack(">IBBBB", 4 + len(name) + len(value), op, ptype, 0, len(name)) + name + value
    return data[:head] + new_op, n


@pytest.mark.parametrize(
    "ptype, value, name, op",
    [
        (1, b"\x00\x00\x00\x07", b"x", 2),  # a 4-byte integer (the server widens it)
        (20, b"\x92\xc7\x00\x01\x01", b"x", 2),  # an ordered list
        (19, b"\x82\xa2\x03b\x01\xa2\x03a\x02", b"x", 2),  # a map not in key order
        (19, b"\x81\x01\x02", b"x", 2),  # a map with an integer key
        (19, b"\x81\xa2\x03a\x91\x01", b"x", 2),  # a map with a list value
        (23, b'\x00\x00\x00{"type":"Point","coordinates":[1,2]}', b"x", 2),  # GeoJSON
        (3, b"v", b"a-name-of-16-bytes", 2),  # a name too long for the fast path
        (3, b"v", b"x", 1),  # a read
        (3, b"v", b"x", 5),  # an increment
    ],
)
def test_rows_the_c_path_declines(ptype: int, value: bytes, name: bytes, op: int) -> None:
    data, n = _with_value(ptype, value, name, op)
    assert not compare(data, n)


def test_declined_row_kinds() -> None:
    data, n = batch_field([[("a", 3, b"v")], [("a", 3, b"w")]])
    assert compare(data, n)
    second = data.index(b"\x00\x00\x00\x01", 5 + 38)  # row index 1
    repeat = data[:second] + struct.pack(">I", 1) + bytes(20) + b"\x01"  # a "same as before" row
    assert not compare(repeat, 2)
    info1 = bytearray(data)
    info1[5 + 25] = 1  # a read flag
    assert not compare(bytes(info1), n)
    assert not compare(data, 3)  # more rows than sent: malformed, for Python to say
    assert compare(data, 1)  # fewer: the rest is ignored, as by the reference


def _client_requests(conformance_dir: Path) -> list[tuple[bytes, int]]:
    out = []
    with open(conformance_dir / "wire-traces" / "traces.jsonl", encoding="utf-8") as f:
        for rec in map(json.loads, f):
            req = bytes.fromhex(rec.get("request_hex") or "")
            if len(req) > 30 and req[1] == 3 and req[9] & 0x08:
                m = parse_msg(req[8:])
                if m is not None and 41 in m.fields and len(m.fields[41]) >= 5:
                    out.append((m.fields[41], int.from_bytes(m.fields[41][:4], "big")))
    return out


@pytest.fixture(scope="module")
def inputs(conformance_dir: Path) -> list[tuple[bytes, int]]:
    records = [[(f"b{j}", t, v) for j, (t, v) in enumerate(PLAIN_VALUES[i % 4 : 4 + i % 5])] for i in range(6)]
    client = _client_requests(conformance_dir)
    assert any(compare(d, n) for d, n in client)  # the official client's bt-write takes the C path
    return client + [batch_field(records), batch_field(records[:2], key=False)]


def test_every_prefix(inputs: list[tuple[bytes, int]]) -> None:
    whole = cuts = 0
    for data, n in inputs:
        whole += compare(data, n)
        for cut in range(len(data)):
            cuts += compare(data[:cut], n) and n > 0  # zero rows parse from any bytes, in both
    assert whole >= 3 and cuts == 0  # the writes are taken whole; a cut row is for Python to judge


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_fields(inputs: list[tuple[bytes, int]], data: st.DataObject) -> None:
    field, n = data.draw(st.sampled_from(inputs))
    buf = bytearray(field)
    for _ in range(data.draw(st.integers(1, 3))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    compare(bytes(buf), data.draw(st.sampled_from([n, n - 1, n + 1])))


def test_many_ops_and_names_cache() -> None:
    wide = [[(f"n{j}", 3, b"v") for j in range(300)]]  # more ops than the C path takes
    assert not compare(*batch_field(wide))
    shapes = [[(f"s{i % 11}-{j}", 3, b"v") for j in range(1 + i % 4)] for i in range(40)]  # > 8 name sets
    assert compare(*batch_field(shapes))


def test_wrong_arguments_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="parse_plain_rows"):
        native.parse_plain_rows(bytearray(b"\x00\x00\x00\x00\x00"), 0, PlainWrites)
    with pytest.raises(TypeError):
        native.parse_plain_rows(b"", 0)


def test_the_emulator_says_which_row_parser_it_uses() -> None:
    import aerobackup.testing

    assert aerobackup.testing.ROW_PARSER == "native"  # this module is skipped when C is not built
    code = "import aerobackup.testing as t, aerobackup.testing._streams as s; print(t.ROW_PARSER, s.ROW_PARSER_REASON)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "AEROBACKUP_PURE_PYTHON": "1"}, check=True)
    assert out.stdout.strip() == "python AEROBACKUP_PURE_PYTHON=1"
