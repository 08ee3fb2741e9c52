"""Differential tests of ASB encoding: C twin vs the pure-Python reference (``encode_batch_py``).

Inputs: the asbackup 4.5.8 conformance files (decoded, then re-encoded: the output must also be
the file itself, an independent check), hypothesis-generated records of every bin type, and odd
batches (bad types, offsets outside the buffer, huge integers) where the error or output must be
the reference's.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pytest
from aerobackup.model import RecordBatch, RecordBatchBuilder, UserKey
from aerobackup.plugins.codecs import asb_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from ..codecs.helpers import decode_all
from .helpers import outcome

_speedups = pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")
native_encode = _speedups.asb_encode_batch


def compare_encode(batch: RecordBatch, compact: bool) -> tuple[str, Any]:
    ref = outcome(asb_encode.encode_batch_py, batch, compact)
    nat = outcome(native_encode, batch, compact)
    assert nat == ref
    sizes_py = getattr(asb_encode, "encode_batch_sizes_py", None)  # the codec's optional capability
    if sizes_py is not None:
        ref_sizes = outcome(sizes_py, batch, compact)
        assert outcome(_speedups.asb_encode_batch_sizes, batch, compact) == ref_sizes
        if ref[0] == "ok":
            data, sizes = ref_sizes[1]
            assert data == ref[1] and sum(sizes) == len(data) and len(sizes) == len(batch)
    return ref


@pytest.mark.parametrize("path", ["plain/test_00000.asb", "compact/test_00000.asb", "single.asb"])
def test_conformance_files(conformance_dir: Path, path: str) -> None:
    data = (conformance_dir / "asbackup-4.5.8" / path).read_bytes()
    compact = path.startswith("compact")
    records, _, _, batches = decode_all(data)
    assert records
    body = b"".join(compare_encode(b, compact)[1] for b in batches)
    assert body in data  # the records part of the file, byte for byte (independent of both)
    assert data.endswith(body)


_name = st.one_of(st.sampled_from(["i", "s", "f", "b", "with space", "back\\slash", "new\nline"]),
                  st.text(min_size=1, max_size=14))


def _float_bytes(v: float) -> bytes:
    return struct.pack(">d", v)


_particle = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda v: (1, v.to_bytes(8, "big", signed=True))),
    st.binary(max_size=8).map(lambda b: (1, b)),  # integers of unusual length
    st.floats().map(lambda v: (2, _float_bytes(v))),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, 1e22, 5e-324, 0.1]).map(lambda v: (2, _float_bytes(v))),
    st.sampled_from([b"\x7f\xf8\0\0\0\0\0\1", b"\xff\xf8\0\0\0\0\0\0"]).map(lambda b: (2, b)),  # NaNs
    st.text(max_size=40).map(lambda s: (3, s.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=70).map(lambda b: (3, b)),
    st.tuples(st.sampled_from([4, 7, 8, 9, 10, 11, 12, 18, 19, 20]), st.binary(max_size=70)),
    st.booleans().map(lambda v: (17, bytes([v]))),
    st.just((0, b"")),
    st.tuples(st.integers(0, 2), st.text(max_size=30)).map(
        lambda c: (23, b"\0" + c[0].to_bytes(2, "big") + b"\1" * 8 * c[0] + c[1].encode())),
)
_key = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: UserKey(1, v.to_bytes(8, "big", signed=True))),
    st.text(max_size=20).map(lambda s: UserKey(3, s.encode())),
    st.binary(max_size=20).map(lambda b: UserKey(4, b)),
    st.floats().map(lambda v: UserKey(2, _float_bytes(v))),
    st.tuples(st.sampled_from([7, 19, 20]), st.binary(max_size=9)).map(lambda t: UserKey(*t)),
)
_record = st.tuples(
    st.binary(min_size=20, max_size=20),
    st.sampled_from(["", "set-a", "set with space", "\udcff"]),
    _key,
    st.lists(st.tuples(_name, _particle), max_size=9),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
)


def _batch(records: list[Any], namespace: str = "test") -> RecordBatch:
    b = RecordBatchBuilder(namespace)
    for digest, set_name, key, bins, gen, vt in records:
        b.add_record(set_name, digest, key, gen, vt)
        for name, (pt, v) in bins:
            b.add_bin(name, pt, v)
    return b.finish()


@settings(max_examples=300, deadline=None)
@given(records=st.lists(_record, max_size=12), compact=st.booleans(), frozen=st.booleans(),
       namespace=st.sampled_from(["test", "n s", "pct%d"]))
def test_generated_records(records: list[Any], compact: bool, frozen: bool, namespace: str) -> None:
    batch = _batch(records, namespace)
    if frozen:
        batch.buffer = bytes(batch.buffer)
    kind, _ = compare_encode(batch, compact)
    assert kind == "ok"


def test_odd_batches_follow_the_reference() -> None:
    base = [(bytes(20), "s", UserKey(3, b"k"), [("a", (1, bytes(8))), ("b", (3, b"x"))], 1, 0)]

    def variant(**changes: Any) -> RecordBatch:
        b = _batch(base * 2)
        for k, v in changes.items():
            setattr(b, k, v)
        return b

    errors = []
    for batch in [
        variant(bin_types=[16, 3, 1, 3]),  # VECTOR: FormatError
        variant(bin_types=[99, 3, 1, 3]),
        variant(keys=[UserKey(16, b"x"), None]),  # bad key type
        variant(keys=[UserKey(1, bytes(9)), None]),  # 9-byte integer key
        variant(keys=[UserKey(2, b"short"), None]),  # float key of 5 bytes: struct.error
        variant(bin_types=[1, 2, 1, 3]),  # float read past the bin
        variant(bin_ends=[8, 10**6, 17, 18]),
        variant(bin_starts=[9, 8, 9, 17]),
        variant(bin_index=[0, 2, 3]),  # a bin left over
        variant(bin_index=[1, 2, 4]),
        variant(digests=[bytes(19), bytes(20)]),
        variant(generations=[2**70, 1]),
        variant(void_times=[-5, 1]),
        variant(sets=["s", 5]),
        variant(bin_names=["a", "b", "\udcff", 7]),
        variant(namespace="\udc80"),
        variant(bin_types=[1, 17, 1, 17], bin_ends=[8, 8, 17, 17]),  # empty bool bins
        variant(bin_types=[23, 3, 1, 3]),  # a GeoJSON whose cell count points past the bin
    ]:
        for compact in (False, True):
            kind, value = compare_encode(batch, compact)
            if kind == "error":
                errors.append(value)
    assert ("FormatError", "Invalid bytes type 16 in bin a") in errors
    assert ("FormatError", "Invalid key type 16") in errors


def test_valid_input_never_reaches_the_reference(conformance_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (conformance_dir / "asbackup-4.5.8" / "plain" / "test_00000.asb").read_bytes()
    _, _, _, batches = decode_all(data)
    expected = [asb_encode.encode_batch_py(b, False) for b in batches]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("delegated to the reference")

    monkeypatch.setattr(asb_encode, "encode_batch_py", refuse)
    assert [native_encode(b, False) for b in batches] == expected


def test_records_with_many_bins_and_odd_batches() -> None:
    rec = (bytes(20), "s", None, [(f"b{k}", (1, k.to_bytes(8, "big"))) for k in range(100)], 1, 0)
    batch = _batch([rec, rec])
    assert compare_encode(batch, False)[0] == "ok"
    odd = _batch([rec])
    odd.namespace = 5  # type: ignore[assignment]
    compare_encode(odd, False)
    short = _batch([rec, rec])
    short.bin_types = short.bin_types[:-1]  # columns of different lengths
    compare_encode(short, False)
