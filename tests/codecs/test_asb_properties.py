"""Property tests: hostile records round-trip encode -> decode exactly; mutated files only ever
raise FormatError, and the fast path and the C-exact reader always agree."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import Bin, Record, RecordBatch, UserKey
from aerobackup.plugins.codecs.asb import AsbEncoder
from aerobackup.protocols import EncoderOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import decode_all

HOSTILE = st.sampled_from([" ", "\\", "\n", "\r", "\t", "\x00", "é", "字", "😀", "+", "-", "*", "#", "!", "%", "s"])
CHARS = st.one_of(HOSTILE, st.characters(codec="utf-8"))


def _name(max_bytes: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(CHARS, min_size=min_size, max_size=max_bytes).filter(
        lambda s: len(s.encode()) <= max_bytes
    )


def _double() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.floats(allow_nan=False).map(lambda f: struct.pack(">d", f)),
        st.sampled_from([bytes.fromhex("7ff8000000000000"), bytes.fromhex("fff8000000000000")]),
        st.integers(0, 2**64 - 1).map(lambda i: i.to_bytes(8, "big")).filter(
            lambda b: not math.isnan(struct.unpack(">d", b)[0])
        ),
    )


BLOB_TYPES = [4, 7, 8, 9, 10, 11, 12, 18, 19, 20]
PARTICLE = st.one_of(
    st.just((0, b"")),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: (1, i.to_bytes(8, "big", signed=True))),
    _double().map(lambda b: (2, b)),
    st.binary(max_size=60).map(lambda b: (3, b)),
    st.tuples(st.sampled_from(BLOB_TYPES), st.binary(max_size=60)),
    st.sampled_from([(17, b"\x00"), (17, b"\x01")]),
    st.binary(max_size=40).map(lambda b: (23, b"\x00\x00\x00" + b)),
)
KEY = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: UserKey(1, i.to_bytes(8, "big", signed=True))),
    _double().map(lambda b: UserKey(2, b)),
    st.binary(max_size=40).map(lambda b: UserKey(3, b)),
    st.binary(max_size=40).map(lambda b: UserKey(4, b)),
)
BIN = st.builds(lambda n, p: Bin(n, p[0], p[1]), _name(15), PARTICLE)
RECORD = st.builds(
    lambda s, d, k, g, t, bins: Record("", s, d, k, g, t, tuple(bins)),
    _name(63),
    st.binary(min_size=20, max_size=20),
    KEY,
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
    st.lists(BIN, max_size=8),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# a NUL or an (escaped) newline ends the C "# namespace" meta line early, which asrestore
# rejects too; server namespace names hold neither, so the namespaces here have none
@given(
    ns=_name(31, 1).filter(lambda s: "\x00" not in s and "\n" not in s),
    records=st.lists(RECORD, min_size=1, max_size=6),
    compact=st.booleans(),
)
def test_hostile_records_round_trip(ns: str, records: list[Record], compact: bool) -> None:
    records = [Record(ns, r.set, r.digest, r.key, r.generation, r.void_time, r.bins) for r in records]
    enc = AsbEncoder(EncoderOptions(compact=compact))
    data = enc.header(ns, True) + enc.encode(RecordBatch.from_records(ns, records))
    for fast in (True, False):
        got, sidx, udfs, batches = decode_all(data, fast=fast, batch_size=4)
        assert got == records
        assert (sidx, udfs) == ([], [])
        assert all(b.namespace == ns for b in batches)


def _corpus_sample(conformance_dir: Path) -> bytes:
    data = (conformance_dir / "asbackup-4.5.8/plain/test_00000.asb").read_bytes()
    # the metadata and the first ~25 records: every bin type, escapes, keys
    cut = data.index(b"\n+ k S 9 ttl_never\n") + 1
    return data[:cut]


def _same_shape_sample() -> bytes:
    """Many records of one shape (every value kind), so the shape-specialised path is hit."""
    bins = (
        Bin("n", 0, b""), Bin("i", 1, (-5).to_bytes(8, "big", signed=True)),
        Bin("d", 2, struct.pack(">d", 0.1)), Bin("z", 17, b"\x01"), Bin("s", 3, b"a b"),
        Bin("g", 23, b"\x00\x00\x00{}"), Bin("b", 4, b"\x00\x01\x02\x03"), Bin("l", 20, b"\x90"),
    )
    recs = [
        Record("test", "s", bytes([i]) * 20, UserKey(3, b"k%d" % i), 1, 0, bins) for i in range(6)
    ]
    batch = RecordBatch.from_records("test", recs)
    return (
        AsbEncoder().header("test", True)
        + AsbEncoder().encode(batch)
        + AsbEncoder(EncoderOptions(compact=True)).encode(batch)
    )


def _outcome(data: bytes, fast: bool) -> object:
    try:
        return decode_all(data, fast=fast, batch_size=5)[:3]
    except FormatError as err:
        return (err.message, err.line, err.column, err.offset)


MUTATION = st.tuples(
    st.sampled_from(["set", "insert", "delete", "cut"]),
    st.integers(0, 10**6),
    st.sampled_from(list(b" \n\\+-*#!=/0129AZaz\x00\xff") + list(range(256))),
)


def _mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, byte in edits:
        pos %= len(buf) + 1
        if op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = bytes([byte])
        elif pos < len(buf):
            if op == "set":
                buf[pos] = byte
            else:
                del buf[pos]
    return bytes(buf)


def _fuzz_one(sample: bytes, edits: list[tuple[str, int, int]]) -> None:
    data = _mutate(sample, edits)
    fast = _outcome(data, True)  # anything but FormatError propagates and fails the test
    slow = _outcome(data, False)
    assert fast == slow


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_corpus_quick(conformance_dir: Path, edits: list[tuple[str, int, int]]) -> None:
    _fuzz_one(_corpus_sample(conformance_dir), edits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_same_shape_records_quick(edits: list[tuple[str, int, int]]) -> None:
    _fuzz_one(_same_shape_sample(), edits)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_same_shape_records_fuzz(edits: list[tuple[str, int, int]]) -> None:
    _fuzz_one(_same_shape_sample(), edits)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(MUTATION, min_size=1, max_size=8))
def test_mutated_corpus_fuzz(conformance_dir: Path, edits: list[tuple[str, int, int]]) -> None:
    _fuzz_one(_corpus_sample(conformance_dir), edits)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_after_header(data: bytes) -> None:
    sample = b"Version 3.1\n# namespace test\n" + data
    assert _outcome(sample, True) == _outcome(sample, False)


def test_shape_path_is_used_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    from aerobackup.plugins.codecs import asb_decode

    made: list[int] = []
    original = asb_decode._make_shape

    def counting(*args: object) -> object:
        made.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(asb_decode, "_make_shape", counting)
    asb_decode._shape_for.cache_clear()
    monkeypatch.setattr(asb_decode, "parse_records_fast", asb_decode.parse_records_fast_py)  # the Python shapes
    data = _same_shape_sample()
    fast = decode_all(data, fast=True)[0]
    assert len(fast) == 12 and made == [1, 1]  # one shape per form (base64, compact)
    assert fast == decode_all(data, fast=False)[0]
