"""Differential tests of the wire inner loops: C twin vs the pure-Python reference.

Inputs: every AS_MSG reply recorded from a real server (conformance wire traces), scan replies
of hypothesis-generated records served by the emulator, hand-built replies (markers, keys,
odd field orders), and truncated / mutated versions of all of these (the fuzz part: every
bounds check of the C loop is reached). Required: identical return value, identical columns
and parse state, identical error type and message.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from aerobackup.model import RecordBatch, RecordBatchBuilder, UserKey
from aerobackup.wire.messages import WriteFlags
from aerobackup.wire.parse import ParseState
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import compare_parse, compare_write, msg, trace_bodies

DIGEST = bytes(range(20))


# --- scan-reply parsing -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def bodies(conformance_dir: Path) -> list[bytes]:
    out = trace_bodies(conformance_dir)
    assert len(out) > 100
    return out


def test_real_server_replies(bodies: list[bytes]) -> None:
    results = [compare_parse(b) for b in bodies]
    ok = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    assert sum(ok) > 50  # the scan traces hold records
    assert ("ValueError", "record without a 20-byte DIGEST field (got 0 bytes)") in errors  # get replies


def test_every_prefix_of_real_scan_replies(bodies: list[bytes]) -> None:
    """Truncation at every byte: each bounds check of the C loop is reached."""
    kinds: set[str] = set()
    scans = [b for b in bodies if compare_parse(b)[0] == "ok" and len(b) > 200][:6]
    assert scans
    for body in scans:
        for cut in range(len(body) + 1):
            kind, value = compare_parse(body[:cut])
            kinds.add(value[0] if kind == "error" else "ok")
    assert kinds == {"ok", "ValueError", "IndexError", "error"}  # struct.error is named "error"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_replies(bodies: list[bytes], data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from(bodies)))
    if body:
        for _ in range(data.draw(st.integers(1, 6))):
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] = data.draw(st.sampled_from([0, 1, 2, 4, 0x14, 0x15, 0xFF, data.draw(st.integers(0, 255))]))
    cut = data.draw(st.integers(0, len(body)))
    buf = bytes(body[:cut])
    start = data.draw(st.integers(0, min(len(buf), 30)))
    compare_parse(buf, start, len(buf))


def test_error_messages_cover_each_check() -> None:
    """One input per check, with the reference's exact message (independent of the C code)."""
    ns = (0, b"test")
    rec = msg([ns, (4, DIGEST), (1, b"s")], [(1, b"b", b"\0" * 8)])
    cases = {
        "short header": rec[:10],
        "short field": rec[:25],
        "field past end": rec[:40],
        "short op": rec[:-10],
        "op past end": rec[:-2],
        "no digest": msg([ns], []),
        "digest too short": msg([ns, (4, DIGEST[:19])], []),
        "op name too long": rec[:-17] + struct.pack(">IBBBB", 4, 1, 1, 0, 5) + b"bbbbb",
        "overrun": rec + b"\0",
        "marker truncated": msg([(0, b"x")], [], info3=4, result=11)[:-1],
        "key past end": msg([ns, (4, DIGEST), (2, b"")], [])[:-1] + b"",
    }
    seen = {}
    for name, buf in cases.items():
        kind, value = compare_parse(buf)
        assert kind == "error", name
        seen[name] = value
    assert seen["no digest"] == ("ValueError", "record without a 20-byte DIGEST field (got 0 bytes)")
    assert seen["digest too short"] == ("ValueError", "record without a 20-byte DIGEST field (got 19 bytes)")
    assert seen["overrun"][0] == "error"  # struct.error on the 1-byte tail
    assert seen["op name too long"] == ("ValueError", "op of 4 bytes cannot hold its 5-byte bin name")


def test_markers_keys_sets_and_state() -> None:
    ns = (0, b"test")
    parts = [
        msg([ns, (4, DIGEST), (1, b"set1"), (2, b"\x01" + (7).to_bytes(8, "big"))], [(1, b"a", b"\0" * 8)]),
        msg([ns, (4, DIGEST), (1, b"set1")], [(3, b"name", b"xyz"), (4, b"bl", b"\x01\x02")], generation=9,
            void_time=12345),
        msg([(0, b"x")], [], info3=4, result=11, generation=77),  # unavailable partition 77
        msg([(0, b"x")], [], info3=4, result=0, generation=78),  # done marker: nothing recorded
        msg([ns, (1, b"longer-set"), (4, DIGEST)], []),  # set before digest, no bins
        msg([ns, (4, DIGEST)], [(1, "é".encode(), b"\0" * 8), (1, b"\xff\xfe", b"")]),  # no set, odd names
        msg([ns, (4, DIGEST), (2, b"")], []),  # empty KEY field: reads the next byte as its type
        msg([ns, (4, b"x" * 20), (4, DIGEST)], []),  # the last DIGEST field wins
        msg([], [], info3=1),  # LAST
        b"trailing bytes after LAST are not read",
    ]
    buf = b"".join(parts)
    kind, n = compare_parse(buf)
    assert (kind, n) == ("ok", 6)  # markers are not records
    state = ParseState()
    batch = RecordBatch("test", buf)
    compare_parse(buf, batch=batch, state=state)
    # start error: non-zero result, not a marker
    assert compare_parse(msg([], [], result=4)) == ("ok", 0)


def test_appends_to_a_batch_with_records(bodies: list[bytes]) -> None:
    """A second call continues the batch's bin numbering and reuses the state's name cache."""
    body = next(b for b in bodies if compare_parse(b)[0] == "ok" and compare_parse(b)[1] > 3)
    batch, state = RecordBatch("test", body), ParseState()
    compare_parse(body, batch=batch, state=state)
    from aerobackup.wire.parse import parse_records_py

    parse_records_py(body, 0, len(body), batch, state)
    compare_parse(body, batch=batch, state=state)


def test_unusual_arguments_follow_the_reference() -> None:
    rec = msg([(0, b"test"), (4, DIGEST)], [(1, b"a", b"\0" * 8)])
    compare_parse(rec, 0, len(rec) + 5)  # end past the buffer
    compare_parse(rec, -1, len(rec))
    compare_parse(bytearray(rec))  # type: ignore[arg-type]
    compare_parse(rec, batch=RecordBatch("\udcff", rec))
    odd = ParseState()
    odd.names[b"a"] = None  # type: ignore[assignment]
    compare_parse(rec, state=odd)
    empty = RecordBatch("test", rec)
    empty.bin_index = []
    compare_parse(rec, batch=empty)


# records as a hypothesis strategy: raw particles of every common type

_names = st.one_of(st.sampled_from(["i", "s", "f", "b", "l", "m", "bin-name-14chr"]),
                   st.text(min_size=1, max_size=14).map(lambda s: s.encode()[:15].decode("utf-8", "ignore") or "x"))
_particle = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda v: (1, v.to_bytes(8, "big", signed=True))),
    st.floats(allow_nan=False).map(lambda v: (2, struct.pack(">d", v))),
    st.text(max_size=40).map(lambda s: (3, s.encode())),
    st.binary(max_size=64).map(lambda b: (4, b)),
    st.binary(min_size=1, max_size=30).map(lambda b: (20, b"\x93" + b[:2])),
    st.just((19, b"\x81\xa1k\x01")),
    st.booleans().map(lambda v: (17, bytes([v]))),
)
_record = st.tuples(
    st.binary(min_size=20, max_size=20),
    st.sampled_from(["", "set-a", "another-set"]),
    st.one_of(st.none(), st.integers(0, 2**40), st.text(max_size=10), st.binary(max_size=10)),
    st.dictionaries(_names, _particle, min_size=0, max_size=8),
    st.integers(1, 65535),
    st.one_of(st.just(0), st.integers(900_000_000, 2**32 - 1)),  # never, or after the emulator's now
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(records=st.lists(_record.filter(lambda r: bool(r[3])), min_size=1, max_size=40, unique_by=lambda r: r[0]))
def test_emulator_scan_replies(aerospike_server: Any, aerospike_client: Any, records: list[Any]) -> None:
    """Records stored raw in the emulator, scanned over the wire; each reply proto parsed by both.

    (The emulator stores no record without bins, as a server.)
    """
    from aerobackup.cluster import Cluster
    from aerobackup.config import ClusterConfig
    from aerobackup.datapath import PartitionCursor, ScanRequest

    aerospike_server.reset()
    for digest, set_name, key, bins, gen, vt in records:
        aerospike_server.put_raw("test", set_name, key, [(n, pt, v) for n, (pt, v) in bins.items()],
                                 digest=digest, generation=gen, void_time=vt, store_key=key is not None)
    cluster = Cluster.from_client(aerospike_client, ClusterConfig(hosts=(f"{aerospike_server.host}:"
                                                                          f"{aerospike_server.port}",)))
    request = ScanRequest(namespace="test", partitions=tuple(PartitionCursor(p) for p in range(4096)))
    total = 0
    for item in cluster.scan(request):
        if isinstance(item, RecordBatch):
            buf = bytes(item.buffer)
            kind, n = compare_parse(buf)
            assert kind == "ok"
            total += n
            # and every prefix of the first bytes of it
            for cut in range(0, min(len(buf), 300), 7):
                compare_parse(buf[:cut])
    assert total == len(records)


# --- batch-write requests ---------------------------------------------------------------------

def _batch(records: list[Any]) -> RecordBatch:
    b = RecordBatchBuilder("test")
    for digest, set_name, key, bins, gen, vt in records:
        uk = None if key is None else UserKey(1 if isinstance(key, int) else 3 if isinstance(key, str) else 4,
                                              key.to_bytes(8, "big") if isinstance(key, int) else
                                              key.encode() if isinstance(key, str) else key)
        b.add_record(set_name, digest, uk, gen, vt)
        for name, (pt, v) in bins.items():
            b.add_bin(name, pt, v)
    return b.finish()


@settings(max_examples=150, deadline=None)
@given(records=st.lists(_record, min_size=1, max_size=20), data=st.data())
def test_batch_write_requests(records: list[Any], data: st.DataObject) -> None:
    batch = _batch(records)
    if data.draw(st.booleans()):
        batch.buffer = bytes(batch.buffer)
    n = len(batch)
    rows = data.draw(st.lists(st.integers(0, n - 1), max_size=30))
    ttls = data.draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
    flags = WriteFlags(data.draw(st.sampled_from([1, 1 | 4, 1 | 0x80])), data.draw(st.sampled_from([0, 0x10])),
                       data.draw(st.booleans()))
    names = data.draw(st.sampled_from([None, {}, {"i": b"i"}]))
    kind, out = compare_write(batch, rows, ttls, flags, timeout_ms=data.draw(st.integers(0, 2**32 - 1)),
                              names=names)
    assert kind == "ok"


def test_batch_write_unusual_inputs() -> None:
    rec = (DIGEST, "s", 5, {"a": (1, b"\0" * 8), "b": (3, b"text")}, 3, 0)
    flags = WriteFlags(1, 0, True)
    good = _batch([rec, rec])
    assert compare_write(good, [0, 1], [0, -1], flags)[0] == "ok"
    cases: list[tuple[str, Any]] = []

    def variant(**changes: Any) -> RecordBatch:
        b = _batch([rec, rec])
        for k, v in changes.items():
            setattr(b, k, v)
        return b

    cases.append(("row out of range", (good, [2], [0, 0], flags)))
    cases.append(("negative row", (good, [-1], [0, 0], flags)))
    cases.append(("short ttls", (good, [1], [0], flags)))
    cases.append(("huge ttl", (good, [1], [0, 2**70], flags)))
    cases.append(("huge generation", (variant(generations=[2**80, 1]), [0], [0, 0], flags)))
    cases.append(("generation not used", (variant(generations=["x", 1]), [0], [0, 0], WriteFlags(1, 0, False))))
    cases.append(("short digest", (variant(digests=[DIGEST[:19], DIGEST]), [0], [0, 0], flags)))
    cases.append(("bytearray digest", (variant(digests=[bytearray(DIGEST), DIGEST]), [0], [0, 0], flags)))
    cases.append(("key type 300", (variant(keys=[UserKey(300, b"x"), None]), [0], [0, 0], flags)))
    cases.append(("long bin name", (variant(bin_names=["n" * 256, "b", "a", "b"]), [0], [0, 0], flags)))
    cases.append(("surrogate names", (variant(bin_names=["\udcff", "b", "a", "b"], sets=["\udc80", "s"]), [0, 1],
                                      [0, 0], flags)))
    cases.append(("bin type 256", (variant(bin_types=[256, 3, 1, 3]), [0], [0, 0], flags)))
    cases.append(("start after end", (variant(bin_starts=[5, 8, 12, 20]), [0], [0, 0], flags)))
    cases.append(("end past buffer", (variant(bin_ends=[8, 10**6, 20, 24]), [0], [0, 0], flags)))
    cases.append(("bin index backwards", (variant(bin_index=[0, 2, 1]), [1], [0, 0], flags)))
    cases.append(("info2 300", (good, [0], [0, 0], WriteFlags(300, 0, True))))
    cases.append(("namespace surrogate", (variant(namespace="\udcff"), [0], [0, 0], flags)))
    cases.append(("rows range", (good, range(2), [0, 0], flags)))
    cases.append(("ttls tuple", (good, [1, 0], (5, 6), flags)))
    cases.append(("empty", (good, [], [0, 0], flags)))
    compare_write(good, [0], [0, 0], flags, timeout_ms=-1)
    compare_write(good, [0], [0, 0], flags, names={"a": "not bytes"})
    compare_write(good, [0], [0, 0], flags, names={"a": b"renamed"})
    errors = [compare_write(*args) for _, args in cases]
    assert ("error", ("error", "ubyte format requires 0 <= number <= 255")) in errors


def test_valid_input_never_reaches_the_reference(bodies: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loops handle well-formed input themselves (delegation is for errors and oddities)."""
    from aerobackup.wire import messages, parse

    from .helpers import native_batch_write, native_parse

    valid = [b for b in bodies if compare_parse(b)[0] == "ok"]
    expected = []
    for b in valid:
        batch = RecordBatch("test", b)
        parse.parse_records_py(b, 0, len(b), batch, ParseState())
        expected.append(batch)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("delegated to the reference")

    monkeypatch.setattr(parse, "parse_records_py", refuse)
    monkeypatch.setattr(messages, "batch_write_request_py", refuse)
    for b, ref in zip(valid, expected, strict=True):
        batch = RecordBatch("test", b)
        native_parse(b, 0, len(b), batch, ParseState())
        assert batch.digests == ref.digests and batch.bin_ends == ref.bin_ends
        if len(batch):
            native_batch_write(batch, list(range(len(batch))), [0] * len(batch), WriteFlags(1, 0, True))
    with pytest.raises(AssertionError, match="delegated"):
        native_parse(b"\0", 0, 1, RecordBatch("test", b"\0"), ParseState())


def test_records_with_many_bins() -> None:
    """More bins than the C name cache has slots (64): names looked up without a slot."""
    ops = [(1, b"b%d" % k, k.to_bytes(8, "big")) for k in range(100)]
    rec = msg([(0, b"test"), (4, DIGEST), (1, b"s")], ops)
    assert compare_parse(rec + rec) == ("ok", 2)
    batch = RecordBatch("test", rec + rec)
    from aerobackup.wire.parse import parse_records_py

    parse_records_py(batch.buffer, 0, len(batch.buffer), batch, ParseState())
    assert compare_write(batch, [0, 1], [0, 0], WriteFlags(1, 0, True))[0] == "ok"
