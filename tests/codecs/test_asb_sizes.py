"""``encode_with_sizes``: the ASB encoder's bytes plus each record's byte length, checked on the
files the C asbackup 4.5.8 wrote (conformance corpus): the bytes are the file's records and
cutting them at the sizes gives one record per piece, in order. Both the installed function
and the pure-Python reference are checked (the C twin of the sizes is optional)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aerobackup.backup import slice_batch
from aerobackup.model import RecordBatch
from aerobackup.plugins.codecs import asb_encode
from aerobackup.plugins.codecs.asb import AsbEncoder
from aerobackup.protocols import EncoderOptions

from .helpers import decode_all

FILES = ["plain/test_00000.asb", "compact/test_00000.asb", "single.asb", "rotate/bar_00001.asb"]

SizedFn = Callable[[RecordBatch, bool], tuple[bytes, list[int]]]


@pytest.mark.parametrize("impl", ["installed", "python"])
@pytest.mark.parametrize("name", FILES)
def test_sizes_cut_the_c_file_at_record_boundaries(conformance_dir: Path, name: str, impl: str) -> None:
    fn: SizedFn = asb_encode.encode_batch_sizes if impl == "installed" else asb_encode.encode_batch_sizes_py
    data = (conformance_dir / "asbackup-4.5.8" / name).read_bytes()
    compact = "compact" in name
    records, sindexes, udfs, batches = decode_all(data, batch_size=97)
    enc = AsbEncoder(EncoderOptions(compact=compact))
    ns = batches[0].namespace
    pos = len(enc.header(ns, b"# first-file\n" in data[:80])) + len(enc.metadata(sindexes, udfs))
    seen = 0
    for batch in batches:
        out, sizes = fn(batch, compact)
        assert out == enc.encode(batch) == data[pos : pos + len(out)]
        assert len(sizes) == len(batch) and sum(sizes) == len(out) and min(sizes) > 0
        start = pos
        for k, size in enumerate(sizes):  # each piece is one whole record, the k-th
            piece = data[start : start + size]
            assert piece.startswith((b"+ k ", b"+ n ")), piece[:40]
            one = decode_all(enc.header(ns, False) + piece)[0]
            assert [r.digest for r in one] == [records[seen + k].digest]
            start += size
        pos += len(out)
        seen += len(batch)
    assert pos == len(data) and seen == len(records) > 10


def test_encoder_capability_matches_encode(conformance_dir: Path) -> None:
    data = (conformance_dir / "asbackup-4.5.8" / "plain/test_00000.asb").read_bytes()
    batches = decode_all(data, batch_size=1000)[3]
    enc = AsbEncoder()
    for batch in batches:
        out, sizes = enc.encode_with_sizes(batch)
        assert out == enc.encode(batch)
        assert sizes == [len(enc.encode(slice_batch(batch, i, i + 1))) for i in range(len(batch))]
