"""Differential tests of batch-write reply parsing: C twin vs the pure-Python reference.

Inputs: every AS_MSG reply recorded from a real server (conformance wire traces, the batch-write
ones among them), hand-built replies (fields and ops in a row reply, a row outside the batch with
and without a result code, a LAST message), every prefix of these and random mutations. Required:
identical return value or error, and identical result codes written.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from aerobackup.wire import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import outcome, trace_bodies

_speedups = pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")
HDR = struct.Struct(">BBBBBBIIIHH")


def row(idx: int, result: int = 0, *, last: bool = False, fields: tuple[bytes, ...] = (),
        ops: tuple[bytes, ...] = ()) -> bytes:
    head = HDR.pack(22, 0, 0, 1 if last else 0, 0, result, 1, 0, idx, len(fields), len(ops))
    return head + b"".join(struct.pack(">I", len(x)) + x for x in fields + ops)


def compare(buf: bytes, n_rows: int = 8, pos: int = 0, end: int | None = None) -> tuple[str, Any]:
    end = len(buf) if end is None else end
    codes_py, codes_c = [-2] * n_rows, [-2] * n_rows
    ref = outcome(parse.parse_write_results_py, buf, pos, end, codes_py)
    nat = outcome(_speedups.parse_write_results, buf, pos, end, codes_c)
    assert nat == ref
    assert codes_c == codes_py
    return ref


HAND_BUILT = [
    row(0) + row(1, 5) + row(2, 3) + row(0, last=True),
    row(3, fields=(b"\x04" + bytes(20),), ops=(b"\x01\x01\x00\x01a",)) + row(1, 2),
    row(9, 0) + row(1),  # a row outside the batch with result 0: an error
    row(9, 11) + row(1),  # ... with a code: the batch-level end
    row(0, 4, last=True) + row(1),  # nothing after LAST is read
    b"",
]


@pytest.fixture(scope="module")
def bodies(conformance_dir: Path) -> list[bytes]:
    return trace_bodies(conformance_dir) + HAND_BUILT


def test_real_server_and_hand_built_replies(bodies: list[bytes]) -> None:
    kinds = {compare(b)[0] for b in bodies}
    assert kinds == {"ok", "error"}
    assert compare(HAND_BUILT[0]) == ("ok", (True, 0))
    assert compare(HAND_BUILT[3]) == ("ok", (True, 11))
    assert compare(HAND_BUILT[2]) == ("error", ("ValueError", "batch reply names row 9 of 8"))


def test_every_prefix(bodies: list[bytes]) -> None:
    errors: set[str] = set()
    for body in HAND_BUILT + [b for b in bodies if len(b) < 400][:40]:
        for cut in range(len(body) + 1):
            kind, value = compare(body[:cut])
            if kind == "error":
                errors.add(value[0])
            compare(body, end=cut)  # the same cut given as ``end`` over the whole buffer
    assert {"ValueError", "error"} <= errors  # overrun, and a header past the buffer (struct.error)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_replies(bodies: list[bytes], data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from([b for b in bodies if b])))
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    compare(bytes(body), n_rows=data.draw(st.integers(0, 12)))


def test_unusual_arguments_follow_the_reference() -> None:
    buf = row(0) + row(1)
    assert compare(buf, pos=22) == ("ok", (False, 0))
    for args in [(buf, 0, len(buf), (0, 0)), (bytearray(buf), 0, len(buf), [0, 0]), (buf, -1, len(buf), [0]),
                 (buf, 0, len(buf) + 5, [0, 0]), (buf, "0", len(buf), [0])]:
        codes_py, codes_c = list(args[3]) if isinstance(args[3], list) else args[3], args[3]
        ref = outcome(parse.parse_write_results_py, *args[:3], codes_py)
        nat = outcome(_speedups.parse_write_results, *args[:3], codes_c)
        assert nat == ref, args


def test_usual_replies_never_reach_the_reference(bodies: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("delegated")

    monkeypatch.setattr(parse, "parse_write_results_py", refuse)
    codes = [-2] * 8
    assert _speedups.parse_write_results(HAND_BUILT[0], 0, len(HAND_BUILT[0]), codes) == (True, 0)
    assert codes[:3] == [0, 5, 3]
    buf = HAND_BUILT[1]
    assert _speedups.parse_write_results(buf, 0, len(buf), codes) == (False, 0)
    with pytest.raises(AssertionError, match="delegated"):
        _speedups.parse_write_results(HAND_BUILT[2], 0, len(HAND_BUILT[2]), codes)
