"""Malformed replies: the parsers raise only MALFORMED errors (turned into connection errors,
so the scan retries), and whatever parses leaves consistent columns inside the buffer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aerobackup.model import RecordBatch
from aerobackup.wire.parse import MALFORMED, ParseState, parse_records, parse_write_results
from hypothesis import given, settings
from hypothesis import strategies as st


def _bodies(conformance_dir: Path) -> list[bytes]:
    out = []
    with open(conformance_dir / "wire-traces" / "traces.jsonl", encoding="utf-8") as f:
        for rec in map(json.loads, f):
            if rec["id"] in ("scan-range", "scan-key-blob", "scan-types", "bt-write"):
                reply = bytes.fromhex(rec["reply_hex"])
                out.append(reply[8 : 8 + int.from_bytes(reply[2:8], "big")])
    return out


@pytest.fixture(scope="module")
def bodies(conformance_dir: Path) -> list[bytes]:
    return _bodies(conformance_dir)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_replies_fail_cleanly(bodies: list[bytes], data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from(bodies)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    buf = bytes(body[:cut])
    batch = RecordBatch("test", buf)
    try:
        parse_records(buf, 0, len(buf), batch, ParseState())
    except MALFORMED:
        pass
    else:
        batch.check()
        assert all(0 <= s <= e <= len(buf) for s, e in zip(batch.bin_starts, batch.bin_ends, strict=True))
    try:
        parse_write_results(buf, 0, len(buf), [0] * 16)
    except MALFORMED:
        pass
