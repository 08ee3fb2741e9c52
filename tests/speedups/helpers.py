"""Run the C twin and the pure-Python reference on the same input; compare everything observable."""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from aerobackup.model import RecordBatch
from aerobackup.wire import messages, parse
from aerobackup.wire.parse import ParseState

_speedups = pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")
native_parse = _speedups.parse_records
native_batch_write = _speedups.batch_write_request

COLUMNS = ("sets", "digests", "keys", "generations", "void_times", "bin_index", "bin_names", "bin_types",
           "bin_starts", "bin_ends")


def outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", value) or ("error", (type name, message)) — what a caller can observe."""
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every error must match, whatever it is
        return "error", (type(exc).__name__, str(exc))


def batch_state(batch: RecordBatch) -> dict[str, Any]:
    return {c: list(getattr(batch, c)) for c in COLUMNS}


def parse_state(state: ParseState) -> dict[str, Any]:
    return {"last": state.last, "result": state.result, "unavailable": list(state.unavailable),
            "names": dict(state.names), "set_len": state.set_len}


def compare_parse(buf: bytes, pos: int = 0, end: int | None = None, namespace: str = "test",
                  batch: RecordBatch | None = None, state: ParseState | None = None) -> tuple[str, Any]:
    """Parse with both; assert identical return/error, columns and state. Returns the outcome."""
    end = len(buf) if end is None else end
    b1 = batch if batch is not None else RecordBatch(namespace, buf)
    s1 = state if state is not None else ParseState()
    b2, s2 = copy.deepcopy(b1), copy.deepcopy(s1)
    b2.buffer = b1.buffer
    ref = outcome(parse.parse_records_py, buf, pos, end, b1, s1)
    nat = outcome(native_parse, buf, pos, end, b2, s2)
    assert nat == ref
    assert batch_state(b2) == batch_state(b1)
    assert parse_state(s2) == parse_state(s1)
    # str identity is not observable, but types are: every name is a str, every digest bytes.
    assert all(type(x) is type(y) for x, y in zip(b1.keys, b2.keys, strict=True))
    return ref


def compare_write(batch: RecordBatch, rows: Any, ttls: Any, flags: Any, **kwargs: Any) -> tuple[str, Any]:
    names1 = kwargs.pop("names", None)
    names2 = copy.copy(names1)
    ref = outcome(messages.batch_write_request_py, batch, rows, ttls, flags, names=names1, **kwargs)
    nat = outcome(native_batch_write, batch, rows, ttls, flags, names=names2, **kwargs)
    assert nat == ref
    assert names1 == names2
    return ref


def trace_bodies(conformance_dir: Path, ids: tuple[str, ...] | None = None) -> list[bytes]:
    """Reply proto bodies recorded from a real server (conformance wire traces)."""
    out = []
    with open(conformance_dir / "wire-traces" / "traces.jsonl", encoding="utf-8") as f:
        for rec in map(json.loads, f):
            if ids is not None and rec["id"] not in ids:
                continue
            reply = bytes.fromhex(rec.get("reply_hex") or "")
            pos = 0
            while pos + 8 <= len(reply):
                size = int.from_bytes(reply[pos + 2 : pos + 8], "big")
                if reply[pos + 1] == 3:  # AS_MSG protos only
                    out.append(reply[pos + 8 : pos + 8 + size])
                pos += 8 + size
    return out


# --- building AS_MSG replies by hand ----------------------------------------------------------

_HDR = struct.Struct(">BBBBBBIIIHH")


def msg(fields: list[tuple[int, bytes]], ops: list[tuple[int, bytes, bytes]], *, info3: int = 0, result: int = 0,
        generation: int = 1, void_time: int = 0) -> bytes:
    """One AS_MSG: fields (type, data) and ops (particle type, name, value)."""
    out = bytearray(_HDR.pack(22, 0, 0, info3, 0, result, generation, void_time, 0, len(fields), len(ops)))
    for ftype, data in fields:
        out += struct.pack(">IB", len(data) + 1, ftype) + data
    for ptype, name, value in ops:
        out += struct.pack(">IBBBB", 4 + len(name) + len(value), 1, ptype, 0, len(name)) + name + value
    return bytes(out)
