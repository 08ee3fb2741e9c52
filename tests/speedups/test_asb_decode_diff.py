"""Differential tests of ASB decoding: C twin vs the pure-Python fast path (``parse_records_fast_py``).

Two levels:

* the function: same input, same limit and batch namespace -> the same position reached, the
  same namespace and the same appended columns (the C loop declines exactly what the Python
  fast path declines, so the C-exact reader sees the same records);
* the decoder: ``AsbDecoder.decode`` with either fast path gives identical batches and identical
  errors (message, file, line, column, byte offset) on the conformance files, generated files
  and truncated / mutated versions of them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import RecordBatch
from aerobackup.plugins.codecs import asb_decode, asb_encode
from aerobackup.plugins.codecs.asb_decode import AsbDecoder
from aerobackup.protocols import DecoderOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_asb_encode_diff import _batch, _record

_speedups = pytest.importorskip("aerobackup._speedups", reason="the C extension is not built")
native_fast = _speedups.asb_parse_records_fast

COLS = ("sets", "digests", "keys", "gens", "vts", "bin_index", "names", "types", "vals")


def compare_fast(data: bytes, p: int = 0, limit: int = 10**9, ns_raw: bytes | None = None) -> tuple[int, int]:
    """Both fast paths on data[p:] (cut after its last newline). Returns (position, records)."""
    end = data.rfind(b"\n") + 1
    data = data[:end]
    p = min(p, end)
    c1, c2 = asb_decode._Columns(), asb_decode._Columns()
    k1, k2 = asb_decode._Caches(), asb_decode._Caches()
    ref = asb_decode.parse_records_fast_py(data, p, end, c1, k1, limit, ns_raw)
    nat = native_fast(data, p, end, c2, k2, limit, ns_raw)
    assert nat == ref
    for c in COLS:
        assert getattr(c2, c) == getattr(c1, c), c
    assert k2.ns == k1.ns and k2.sets == k1.sets
    return ref[0], len(c1)


def decode_outcome(data: bytes, batch_size: int = 7) -> tuple[list[Any], Any]:
    """Batches (as comparable tuples) and the error (type, str, line, column, offset) of a decode."""
    out: list[Any] = []
    try:
        for item in AsbDecoder(DecoderOptions(file="F.asb", batch_size=batch_size)).decode(io.BytesIO(data)):
            if isinstance(item, RecordBatch):
                item.check()
                out.append((item.namespace, bytes(item.buffer), item.sets, item.digests, item.keys, item.generations,
                            item.void_times, item.bin_index, item.bin_names, item.bin_types, item.bin_starts,
                            item.bin_ends))
            else:
                out.append(item)
    except FormatError as exc:
        return out, (type(exc).__name__, str(exc), exc.line, exc.column, exc.offset)
    return out, None


def compare_decode(data: bytes, monkeypatch: pytest.MonkeyPatch, batch_size: int = 7) -> tuple[list[Any], Any]:
    with monkeypatch.context() as m:
        m.setattr(asb_decode, "parse_records_fast", asb_decode.parse_records_fast_py)
        m.setattr(asb_decode._Columns, "finish", asb_decode._columns_finish_py)
        ref = decode_outcome(data, batch_size)
    with monkeypatch.context() as m:
        m.setattr(asb_decode, "parse_records_fast", native_fast)
        m.setattr(asb_decode._Columns, "finish", lambda self, ns: _speedups.asb_columns_finish(self, ns))
        nat = decode_outcome(data, batch_size)
    assert nat == ref
    return ref


@pytest.fixture(scope="module")
def corpus(conformance_dir: Path) -> list[bytes]:
    root = conformance_dir / "asbackup-4.5.8"
    return [(root / p).read_bytes() for p in ("plain/test_00000.asb", "compact/test_00000.asb", "single.asb")]


def test_conformance_files(corpus: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    for data in corpus:
        body = data[data.index(b"\n+ ") + 1:] if b"\n+ " in data else data
        pos, n = compare_fast(body)
        assert n > 0
        items, err = compare_decode(data, monkeypatch)
        assert err is None and items


def test_every_cut_of_a_conformance_file(corpus: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut at every byte of the first records: every bounds check of the C loop is reached."""
    data = corpus[0]
    start = data.index(b"\n+ ") + 1
    body = data[start : start + 3000]
    for cut in range(len(body) + 1):
        compare_fast(body[:cut] + b"\n")
        compare_fast(body[:cut])
    errors = set()
    for cut in range(start, start + 1500, 3):
        _, err = compare_decode(data[:cut], monkeypatch)
        if err:
            errors.add(err[1].split("(")[0])
    assert any("Unexpected end of file" in e for e in errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files(corpus: list[bytes], data: st.DataObject, monkeypatch: pytest.MonkeyPatch) -> None:
    src = data.draw(st.sampled_from(corpus))
    start = src.index(b"\n+ ") + 1
    lo = data.draw(st.integers(start, max(start, len(src) - 2000)))
    text = bytearray(src[:start] + src[lo : lo + 2000])
    alphabet = b"+- \n\\=!0123456789abcdefgnkstbIDSXBLMZGN/"
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(start, len(text) - 1))
        op = data.draw(st.integers(0, 2))
        ch = data.draw(st.sampled_from(alphabet))
        if op == 0:
            text[i] = ch
        elif op == 1:
            text.insert(i, ch)
        else:
            del text[i]
    compare_fast(bytes(text[start:]))
    compare_fast(bytes(text[start:]), limit=data.draw(st.integers(0, 5)), ns_raw=data.draw(
        st.sampled_from([None, b"test", b"other"])))
    compare_decode(bytes(text), monkeypatch, batch_size=data.draw(st.sampled_from([1, 3, 1000])))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record, min_size=1, max_size=10), compact=st.booleans(), data=st.data())
def test_generated_files(records: list[Any], compact: bool, data: st.DataObject,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Files our encoder writes from generated records (every bin type, escapes, NaN, keys)."""
    body = asb_encode.encode_batch_py(_batch(records), compact)
    compare_fast(body)
    text = asb_encode.header("test", True) + body
    items, err = compare_decode(text, monkeypatch, batch_size=data.draw(st.sampled_from([1, 4, 100])))
    too_long = any(len(n.encode("utf-8", "surrogateescape")) > 15 for r in records for n, _ in r[3])
    if not too_long:  # a bin name over the C client's 15 bytes is refused (by both, compared above)
        assert err is None
        assert sum(len(b[2]) for b in items) == len(records)


def test_hand_written_edge_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    dig = b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    head = b"+ n test\n+ d " + dig + b"\n+ s s\n+ g 1\n+ t 0\n+ b %d\n"
    cases = [
        b"+ k I -9223372036854775808\n" + head % 1 + b"- I a 9223372036854775807\n",
        b"+ k I 9223372036854775808\n" + head % 0,  # out of range: declined
        b"+ k S 3 a b\n" + head % 0,
        b"+ k B 4 AAA=\n" + head % 0,
        b"+ k B 4 AA=A\n" + head % 0,  # discontinuous padding: declined
        b"+ k B! 2 \x00\n\n" + head % 0,
        head % 3 + b"- D f 1e500\n- D g -0\n- D h .5e+1\n",
        head % 1 + b"- D f 1e\n",
        head % 1 + b"- D f nan\n",
        head % 2 + b"- N n\n- N \n",
        head % 1 + b"- B!  3 a\nb\n",  # an empty name, raw value holding a newline
        head % 1 + b"- B x 4 ====\n",
        head % 1 + b"- B x 8 QR==QR==\n",
        head % 1 + b"- L x 4 QR==\n",
        head % 1 + b"- G g 2 {}\n",
        head % 1 + b"- X x 4 YWI=\n",
        head % 1 + b"- Z z T\n",
        head % 1 + b"- Z z t\n",
        head % 1 + b"- U u 1\n",
        head % 1 + b"- I name-too-long-16 1\n",
        head % 1 + b"- I a 00000000000000000000000001\n",
        head % 1 + b"- S s 99999999999999999999 x\n",
        head % 1 + b"- S s 1" + b" " * 30 + b"\n",
        (b"+ n test\n+ d " + dig + b"\n+ s " + b"x" * 64 + b"\n+ g 1\n+ t 0\n+ b 0\n"),
        (b"+ n test\n+ d " + dig + b"\n+ g 65536\n+ t 0\n+ b 0\n"),
        (b"+ n test\n+ d " + dig + b"\n+ g 1\n+ t 4294967296\n+ b 0\n"),
        (b"+ n " + b"n" * 32 + b"\n+ d " + dig + b"\n+ g 1\n+ t 0\n+ b 0\n"),
        (b"+ n a\\b\n+ d " + dig + b"\n+ g 1\n+ t 0\n+ b 0\n"),
        head % 0 + head.replace(b"test", b"othr") % 0,  # a second namespace ends the run
    ]
    for text in cases:
        compare_fast(text)
        compare_fast(text + text)
        compare_decode(b"Version 3.1\n# namespace test\n" + text, monkeypatch)


def test_many_sets_stop_at_the_cache_limit() -> None:
    dig = b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    text = b"".join(b"+ n test\n+ d " + dig + b"\n+ s s%d\n+ g 1\n+ t 0\n+ b 0\n" % i for i in range(4200))
    pos, n = compare_fast(text)
    assert 4096 < n < 4200


def test_valid_input_never_reaches_the_reference(corpus: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("delegated to the reference")

    data = corpus[0]
    body = data[data.index(b"\n+ ") + 1:]
    expected = asb_decode.parse_records_fast_py(body, 0, len(body), asb_decode._Columns(), asb_decode._Caches(),
                                                10**9, None)
    monkeypatch.setattr(asb_decode, "parse_records_fast_py", refuse)
    cols, caches = asb_decode._Columns(), asb_decode._Caches()
    pos, ns = native_fast(body, 0, len(body), cols, caches, 10**9, None)
    assert (pos, ns) == expected and ns == b"test" and len(cols) > 10  # up to the first non-canonical record


def test_columns_finish() -> None:
    def filled(vals: list[Any]) -> Any:
        c = asb_decode._Columns()
        c.sets, c.digests, c.keys, c.gens, c.vts = ["s"] * 2, [bytes(20)] * 2, [None] * 2, [1, 2], [0, 0]
        c.bin_index = [0, 1, len(vals)]
        c.names, c.types, c.vals = ["a"] * len(vals), [3] * len(vals), vals
        return c

    for vals in ([], [b""], [b"abc", b"", b"de" * 300], [b"x", bytearray(b"y")]):
        c1, c2 = filled(list(vals)), filled(list(vals))
        b1 = asb_decode._columns_finish_py(c1, "test")
        b2 = _speedups.asb_columns_finish(c2, "test")
        assert vars_of(b1) == vars_of(b2)
        assert len(c1) == len(c2) == 0 and c2.bin_index == [0] and c2.vals == []  # columns start afresh


def vars_of(b: RecordBatch) -> tuple[Any, ...]:
    return (b.namespace, bytes(b.buffer), type(b.buffer), b.sets, b.digests, b.keys, b.generations, b.void_times,
            b.bin_index, b.bin_names, b.bin_types, b.bin_starts, b.bin_ends)


_HEAD = b"+ n test\n+ d AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n+ g 1\n+ t 0\n+ b 1\n"
_HARD_FLOATS = [
    b"2.4703282292062328e-324", b"2.4703282292062327e-324", b"4.9406564584124654e-324", b"1e-400",
    b"2.2250738585072011e-308", b"2.2250738585072014e-308", b"1.7976931348623157e308", b"1.7976931348623159e308",
    b"9007199254740993", b"9007199254740992.5", b"0.1000000000000000055511151231257827021181583404541015625",
    b"123456789012345678901234567890e-10", b"0." + b"0" * 400 + b"1", b"1" + b"0" * 400, b"-0.0", b"+1", b"1.",
    b".1", b"1e+0", b"1e-0", b"00000000001.5", b"1e00000000000000000000001", b"1ee1", b"1..2", b"-", b"+-1",
    b"e5", b"5e", b"1e+", b"--1",
]


@pytest.mark.parametrize("text", _HARD_FLOATS)
def test_float_texts(text: bytes) -> None:
    try:
        float(text)
        valid = True
    except ValueError:
        valid = False
    _, n = compare_fast(_HEAD + b"- D f " + text + b"\n")
    assert n == (1 if valid else 0)  # valid texts go through the C float parse, not around it


@settings(max_examples=400, deadline=None)
@given(value=st.floats(allow_nan=False), digits=st.text(alphabet="0123456789.e+-", min_size=1, max_size=30))
def test_float_round_trips(value: float, digits: str) -> None:
    for text in (repr(value), f"{value:.17g}", f"{value:.15g}", f"{value:.25e}", digits):
        compare_fast(_HEAD + b"- D f " + text.encode() + b"\n")


def test_unusual_arguments_follow_the_reference(corpus: list[bytes]) -> None:
    body = corpus[0][corpus[0].index(b"\n+ ") + 1 :][:5000]
    body = body[: body.rfind(b"\n") + 1]
    for data, end in ((bytearray(body), len(body)), (body, len(body) - 1), (body + b"x", len(body) + 1)):
        c1, c2 = asb_decode._Columns(), asb_decode._Columns()
        ref = outcome_of(asb_decode.parse_records_fast_py, data, 0, end, c1, asb_decode._Caches(), 100, None)
        nat = outcome_of(native_fast, data, 0, end, c2, asb_decode._Caches(), 100, None)
        assert nat == ref
        assert all(getattr(c1, c) == getattr(c2, c) for c in COLS)


def outcome_of(fn: Any, *args: Any) -> Any:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001
        return "error", type(exc).__name__, str(exc)
