"""Reference counting of the C functions: repeated calls keep memory and refcounts flat.

Every path is run many times (success, decline, delegation to the reference with and without an
error); traced memory after the loop must not grow with the number of calls, and the inputs'
reference counts must be back where they were.
"""

from __future__ import annotations

import gc
import io
import struct
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aerobackup.model import RecordBatch, RecordBatchBuilder, UserKey
from aerobackup.plugins.codecs import asb_decode
from aerobackup.plugins.codecs.asb_decode import AsbDecoder
from aerobackup.protocols import DecoderOptions
from aerobackup.wire.messages import WriteFlags
from aerobackup.wire.parse import ParseState

from .helpers import msg, trace_bodies

_speedups = pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")


def growth(fn: Callable[[], Any], calls: int) -> int:
    """Traced bytes still allocated after ``calls`` more calls (after a warm-up)."""
    for _ in range(50):
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def flat(fn: Callable[[], Any]) -> None:
    small, large = growth(fn, 200), growth(fn, 2000)
    # a leak of even one small object per call would add > 2000 * 32 bytes
    assert large < 20_000 and large - small < 20_000, (small, large)


def test_parse_records(conformance_dir: Path) -> None:
    bodies = [b for b in trace_bodies(conformance_dir, ("scan-range", "scan-types", "scan-key-blob")) if len(b) > 100]
    assert bodies
    body = bodies[0]
    bad = body[:-3]
    marker = msg([(0, b"x")], [], info3=4, result=11, generation=7)

    def ok() -> None:
        for b in bodies:
            _speedups.parse_records(b, 0, len(b), RecordBatch("test", b), ParseState())

    def error() -> None:
        try:
            _speedups.parse_records(bad, 0, len(bad), RecordBatch("test", bad), ParseState())
        except ValueError:
            pass
        except Exception:  # noqa: BLE001 - struct.error
            pass

    def markers() -> None:
        _speedups.parse_records(marker, 0, len(marker), RecordBatch("test", marker), ParseState())

    for fn in (ok, error, markers):
        fn()
    refs = sys.getrefcount(body), sys.getrefcount(bad)
    for fn in (ok, error, markers):
        flat(fn)
    assert (sys.getrefcount(body), sys.getrefcount(bad)) == refs


def _batch() -> RecordBatch:
    from aerobackup.model import RecordBatchBuilder

    b = RecordBatchBuilder("test")
    for i in range(20):
        b.add_record("set", bytes([i]) * 20, UserKey(3, b"key%d" % i) if i % 2 else None, i + 1, 0)
        b.add_bin("i", 1, i.to_bytes(8, "big"))
        b.add_bin("s", 3, b"text %d" % i)
        b.add_bin("f", 2, b"\x40\x09\x21\xfb\x54\x44\x2d\x18")
        b.add_bin("b", 4, bytes(64))
        b.add_bin("z", 17, b"\x01")
        b.add_bin("g", 23, b"\0\0\0{}")
    batch = b.finish()
    batch.buffer = bytes(batch.buffer)
    return batch


def test_batch_write_and_encode() -> None:
    batch = _batch()
    flags = WriteFlags(1, 0, True)
    names: dict[str, bytes] = {}
    rows = list(range(len(batch)))
    bad = _batch()
    bad.bin_types[3] = 300  # delegation ending in struct.error / FormatError

    def write() -> None:
        _speedups.batch_write_request(batch, rows, batch.void_times, flags, names=names)

    def write_bad() -> None:
        try:
            _speedups.batch_write_request(bad, rows, bad.void_times, flags)
        except Exception:  # noqa: BLE001
            pass

    def encode() -> None:
        _speedups.asb_encode_batch(batch, False)
        _speedups.asb_encode_batch(batch, True)
        _speedups.asb_encode_batch_sizes(batch, False)

    def encode_bad() -> None:
        for fn in (_speedups.asb_encode_batch, _speedups.asb_encode_batch_sizes):
            try:
                fn(bad, False)
            except Exception:  # noqa: BLE001
                pass

    for fn in (write, write_bad, encode, encode_bad):
        fn()
    refs = sys.getrefcount(batch.buffer), sys.getrefcount(bad.buffer), sys.getrefcount(batch.bin_names[0])
    for fn in (write, write_bad, encode, encode_bad):
        flat(fn)
    assert (sys.getrefcount(batch.buffer), sys.getrefcount(bad.buffer), sys.getrefcount(batch.bin_names[0])) == refs


def test_decode(conformance_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (conformance_dir / "asbackup-4.5.8" / "plain" / "test_00000.asb").read_bytes()
    body = data[data.index(b"\n+ ") + 1:]
    monkeypatch.setattr(asb_decode, "parse_records_fast", _speedups.asb_parse_records_fast)

    def fast() -> None:
        cols, caches = asb_decode._Columns(), asb_decode._Caches()
        _speedups.asb_parse_records_fast(body, 0, len(body), cols, caches, 10**9, None)
        _speedups.asb_parse_records_fast(body, 0, len(body), cols, caches, 3, b"other")

    def whole() -> None:
        for _ in AsbDecoder(DecoderOptions(file="F", batch_size=50)).decode(io.BytesIO(data)):
            pass

    flat(fast)
    small, large = growth(whole, 5), growth(whole, 40)
    assert large < 50_000, (small, large)


def test_write_results_and_emulator_rows() -> None:
    hdr = struct.Struct(">BBBBBBIIIHH")
    reply = b"".join(hdr.pack(22, 0, 0, 0, 0, i % 3, 1, 0, i, 0, 0) for i in range(50)) + hdr.pack(22, 0, 0, 1, 0, 0, 0,
                                                                                                    0, 0, 0, 0)
    bad = reply[:-3]  # delegated: the reference raises struct.error
    codes = [0] * 50

    def results() -> None:
        _speedups.parse_write_results(reply, 0, len(reply), codes)
        try:
            _speedups.parse_write_results(bad, 0, len(bad), codes)
        except Exception:  # noqa: BLE001
            pass

    emulator = pytest.importorskip("aerobackup.testing._emulator_speedups")
    from aerobackup.testing._msg import PlainWrites, parse_msg

    b = RecordBatchBuilder("test")
    for i in range(20):
        b.add_record("s", bytes([i]) * 20, UserKey(3, b"k%d" % i), 1, 0)
        b.add_bin("i", 1, i.to_bytes(8, "big"))
        b.add_bin("s", 3, b"text")
        b.add_bin("l", 20, b"\x92\x01\x02")
    batch = b.finish()
    body = _speedups.batch_write_request(batch, list(range(len(batch))), [-1] * len(batch), WriteFlags(1, 0, False))
    m = parse_msg(body[8:])
    assert m is not None
    field = m.fields[41]
    n = int.from_bytes(field[:4], "big")

    def rows() -> None:
        assert emulator.parse_plain_rows(field, n, PlainWrites) is not None
        assert emulator.parse_plain_rows(field[:-1], n, PlainWrites) is None  # declined midway

    for fn in (results, rows):
        fn()
    refs = sys.getrefcount(reply), sys.getrefcount(field), sys.getrefcount(PlainWrites)
    for fn in (results, rows):
        flat(fn)
    assert (sys.getrefcount(reply), sys.getrefcount(field), sys.getrefcount(PlainWrites)) == refs


def test_user_keys_are_left_out_of_the_cyclic_gc(conformance_dir: Path) -> None:
    """C-made keys hold an int and a bytes: never part of a cycle, so the GC need not walk them."""
    data = (conformance_dir / "asbackup-4.5.8" / "plain" / "test_00000.asb").read_bytes()
    batches = [b for b in AsbDecoder(DecoderOptions(file="t")).decode(io.BytesIO(data)) if isinstance(b, RecordBatch)]
    keys = [k for b in batches for k in b.keys if k is not None]
    assert keys and all(type(k) is UserKey for k in keys)
    untracked = [k for k in keys if not gc.is_tracked(k)]
    assert len(untracked) >= len(keys) - 2  # two records have bin names the C loop hands to Python
    assert UserKey(keys[0].particle_type, keys[0].data) == keys[0]
