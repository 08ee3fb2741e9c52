"""The data path against bytes recorded from a real CE 8.1.2.0 server (conformance/wire-traces).

Requests we build must equal the recorded requests byte for byte (the task id is taken from
the recording); recorded replies must parse into the records the trace descriptions name.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from aerobackup.model import ParticleType, RecordBatch, partition_id
from aerobackup.wire import expressions as ex
from aerobackup.wire.messages import scan_request
from aerobackup.wire.parse import ParseState, parse_records, parse_write_results


@pytest.fixture(scope="module")
def traces(conformance_dir: Path) -> dict[str, dict[str, object]]:
    out = {}
    with open(conformance_dir / "wire-traces" / "traces.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            out[rec["id"]] = rec
    return out


def _request(traces: dict[str, dict[str, object]], name: str) -> bytes:
    return bytes.fromhex(str(traces[name]["request_hex"]))


def _task_id(request: bytes) -> int:
    """The TASK_ID field (type 7) of a recorded scan request."""
    pos, n_fields = 8 + 22, struct.unpack_from(">H", request, 8 + 18)[0]
    for _ in range(n_fields):
        size, ftype = struct.unpack_from(">IB", request, pos)
        if ftype == 7:
            return int.from_bytes(request[pos + 5 : pos + 4 + size], "big")
        pos += 4 + size
    raise AssertionError("no task id")


def _protos(reply: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(reply):
        size = int.from_bytes(reply[pos + 2 : pos + 8], "big")
        assert reply[pos] == 2 and reply[pos + 1] == 3
        out.append(reply[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return out


def _scan(traces: dict[str, dict[str, object]], name: str) -> tuple[list[RecordBatch], ParseState]:
    state = ParseState()
    batches = []
    for body in _protos(bytes.fromhex(str(traces[name]["reply_hex"]))):
        batch = RecordBatch("test", body)
        parse_records(body, 0, len(body), batch, state)
        batch.check()
        batches.append(batch)
        if state.last:
            break
    return batches, state


def _records(batches: list[RecordBatch]) -> list[object]:
    return [r for b in batches for r in b.records()]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("scan-p1000", {"partitions": [1000]}),
        ("scan-maxrec", {"partitions": [1003], "max_records": 2}),
        ("scan-nobins", {"partitions": [1001], "no_bins": True}),
        ("scan-binsel", {"partitions": [1002], "bin_names": ["s"]}),
        ("scan-range", {"partitions": [1000, 1001, 1002, 1003]}),
        ("scan-filter-lut-all", {"partitions": [1003],
                                 "filter_expression": ex.gt(ex.last_update_time(), 1577836800 * 10**9)}),
        ("scan-filter-lut-none", {"partitions": [1003],
                                  "filter_expression": ex.lt(ex.last_update_time(), 1577836800 * 10**9)}),
    ],
)
def test_scan_request_bytes_equal_the_recorded_request(
    traces: dict[str, dict[str, object]], name: str, kwargs: dict[str, object]
) -> None:
    recorded = _request(traces, name)
    partitions = kwargs.pop("partitions")
    built = scan_request("test", partitions, [], set_name="scan", socket_timeout_ms=10000,  # type: ignore[arg-type]
                         task_id=_task_id(recorded), **kwargs)  # type: ignore[arg-type]
    assert built.hex() == recorded.hex()


def test_resume_request_uses_the_digest_array(traces: dict[str, dict[str, object]]) -> None:
    recorded = _request(traces, "scan-resume")
    digest = bytes.fromhex("eb73c6624b3616e4946e604e35cd707def7d579f")
    built = scan_request("test", [], [digest], set_name="scan", socket_timeout_ms=10000,
                         task_id=_task_id(recorded))
    assert built.hex() == recorded.hex()


def test_single_partition_scan_parses_every_record(traces: dict[str, dict[str, object]]) -> None:
    batches, state = _scan(traces, "scan-p1003")
    assert state.last and state.result == 0 and state.unavailable == []
    recs = _records(batches)
    assert len(recs) == 5
    digests = [r.digest for r in recs]  # type: ignore[attr-defined]
    assert digests == sorted(digests, reverse=True)  # descending digest order within a partition
    assert {partition_id(d) for d in digests} == {1003}
    first = recs[0]
    assert first.set == "scan" and first.generation == 1 and first.void_time == 0  # type: ignore[attr-defined]
    assert first.key.particle_type == ParticleType.INTEGER  # type: ignore[attr-defined]
    bins = {b.name: b for b in first.bins}  # type: ignore[attr-defined]
    assert bins["v"].particle_type == ParticleType.INTEGER
    assert bins["v"].data == first.key.data  # type: ignore[attr-defined]  # v = the key
    assert bins["s"].particle_type == ParticleType.STRING
    assert bins["s"].data == b"s%d" % int.from_bytes(first.key.data, "big")  # type: ignore[attr-defined]


def test_zero_copy_offsets_point_into_the_reply(traces: dict[str, dict[str, object]]) -> None:
    batches, _ = _scan(traces, "scan-p1000")
    batch = batches[0]
    assert len(batch) == 2
    j = batch.bin_names.index("s")
    assert bytes(batch.buffer[batch.bin_starts[j] : batch.bin_ends[j]]) in (b"s908", b"s16872")


def test_max_records_and_resume_replies(traces: dict[str, dict[str, object]]) -> None:
    limited = _records(_scan(traces, "scan-maxrec")[0])
    full = _records(_scan(traces, "scan-p1003")[0])
    resumed = _records(_scan(traces, "scan-resume")[0])
    assert [r.digest for r in limited] == [r.digest for r in full[:2]]  # type: ignore[attr-defined]
    assert [r.digest for r in resumed] == [r.digest for r in full[2:]]  # type: ignore[attr-defined]


def test_no_bins_and_bin_selection(traces: dict[str, dict[str, object]]) -> None:
    nobins = _scan(traces, "scan-nobins")[0]
    assert sum(len(b) for b in nobins) == 3 and all(not b.bin_names for b in nobins)
    binsel = _scan(traces, "scan-binsel")[0]
    assert sum(len(b) for b in binsel) == 4
    assert {n for b in binsel for n in b.bin_names} == {"s"}


@pytest.mark.parametrize(
    ("name", "ptype", "data"),
    [
        ("scan-key-int", ParticleType.INTEGER, None),
        ("scan-key-str", ParticleType.STRING, None),
        ("scan-key-blob", ParticleType.BLOB, b"\x00\x01"),
    ],
)
def test_stored_keys_keep_their_particle_type(
    traces: dict[str, dict[str, object]], name: str, ptype: int, data: bytes | None
) -> None:
    (rec,) = _records(_scan(traces, name)[0])
    assert rec.key is not None and rec.key.particle_type == ptype  # type: ignore[attr-defined]
    if data is not None:
        assert rec.key.data == data  # type: ignore[attr-defined]


def test_record_without_key(traces: dict[str, dict[str, object]]) -> None:
    # scan-nokey's record got its key stored by a later write (generation 2); scan-types has none.
    (rec,) = _records(_scan(traces, "scan-types")[0])
    assert rec.key is None and rec.set == "wt"  # type: ignore[attr-defined]
    assert {b.particle_type for b in rec.bins} == {ParticleType.FLOAT}  # type: ignore[attr-defined]


def test_start_error_stops_without_last(traces: dict[str, dict[str, object]]) -> None:
    batches, state = _scan(traces, "scan-unknown-ns")
    assert state.last and state.result == 20 and sum(len(b) for b in batches) == 0
    _, state = _scan(traces, "scan-no-partition-done")
    assert state.result == 16


def test_empty_set_is_just_last(traces: dict[str, dict[str, object]]) -> None:
    batches, state = _scan(traces, "scan-unknown-set")
    assert state.last and state.result == 0 and sum(len(b) for b in batches) == 0


def test_batch_write_reply_codes(traces: dict[str, dict[str, object]]) -> None:
    # Rows per the trace: 0 ok, 1 exists (5), 2 generation (3), 3 not found (2), 4 ok, 5 ok, 6 parameter (4).
    codes = [-2] * 7
    last = False
    for body in _protos(bytes.fromhex(str(traces["bt-write"]["reply_hex"]))):
        last, status = parse_write_results(body, 0, len(body), codes)
    assert last and status == 0
    assert codes == [0, 5, 3, 2, 0, 0, 4]


def test_batch_level_error_reply(traces: dict[str, dict[str, object]]) -> None:
    codes = [-2] * 3
    for body in _protos(bytes.fromhex(str(traces["bt-read-mixed-ns"]["reply_hex"]))):
        last, status = parse_write_results(body, 0, len(body), codes)
    assert last and status == 4 and codes == [-2, -2, -2]
