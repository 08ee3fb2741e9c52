"""Streaming: bounded reads, big values, batches per namespace, metadata order."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO, cast

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import Bin, Record, RecordBatch, UserKey
from aerobackup.plugins.codecs import asb_decode
from aerobackup.plugins.codecs.asb import AsbDecoder, AsbEncoder
from aerobackup.protocols import DecoderOptions, EncoderOptions

from .helpers import DIGEST_B64, PREFIX, decode_all


class CountingStream(io.RawIOBase):
    """A stream that hands out ``total`` bytes of repeated records and counts what was read."""

    def __init__(self, head: bytes, body: bytes, repeat: int) -> None:
        self.parts = [head] + [body] * repeat
        self.buf = b""
        self.read_bytes = 0
        self.max_request = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        assert n is not None and n > 0, "the decoder must never read the whole stream"
        self.max_request = max(self.max_request, n)
        while len(self.buf) < n and self.parts:
            self.buf += self.parts.pop(0)
        out, self.buf = self.buf[:n], self.buf[n:]
        self.read_bytes += len(out)
        return out


def _record(i: int, blob: bytes = b"x" * 64) -> Record:
    return Record(
        "test", "s", struct.pack(">5I", i, 0, 0, 0, 0), UserKey(3, b"k%d" % i), 1, 0,
        (Bin("a", 1, struct.pack(">q", i)), Bin("b", 4, blob)),
    )


def test_first_batch_before_the_stream_is_read() -> None:
    enc = AsbEncoder()
    body = enc.encode(RecordBatch.from_records("test", [_record(i) for i in range(100)]))
    stream = CountingStream(enc.header("test", True), body, 2000)  # ~30 MB of records
    items = AsbDecoder(DecoderOptions(batch_size=50)).decode(cast(BinaryIO, stream))
    first = next(items)
    assert isinstance(first, RecordBatch) and len(first) == 50
    assert stream.read_bytes <= 3 * asb_decode.CHUNK
    total = len(first) + sum(len(b) for b in items)  # type: ignore[arg-type]
    assert total == 200_000
    assert stream.max_request <= 2 * asb_decode.CHUNK


@pytest.mark.parametrize("compact", [False, True])
def test_value_much_larger_than_the_read_chunk(compact: bool) -> None:
    big = bytes(range(256)) * (12 * 4096)  # 12 MiB, ~16 MiB in base64
    enc = AsbEncoder(EncoderOptions(compact=compact))
    recs = [_record(0), _record(1, big), _record(2)]
    data = enc.header("test", False) + enc.encode(RecordBatch.from_records("test", recs))
    for fast in (True, False):
        got, *_ = decode_all(data, fast=fast)
        assert got == recs
    with pytest.raises(FormatError, match="end of file"):
        decode_all(data[: len(data) // 2])


def test_records_of_several_namespaces_make_separate_batches() -> None:
    rec = b"+ n %s\n+ d " + DIGEST_B64 + b"\n+ g 1\n+ t 0\n+ b 1\n- I a 1\n"
    data = PREFIX + rec % b"test" + rec % b"test" + rec % b"bar" + rec % b"test"
    for fast in (True, False):
        _, _, _, batches = decode_all(data, fast=fast)
        assert [(b.namespace, len(b)) for b in batches] == [("test", 2), ("bar", 1), ("test", 1)]


def test_metadata_between_records_keeps_file_order() -> None:
    rec = b"+ n test\n+ d " + DIGEST_B64 + b"\n+ g 1\n+ t 0\n+ b 0\n"
    data = PREFIX + rec + b"* u L m.lua 1 x\n" + rec + rec
    kinds = [type(i).__name__ for i in AsbDecoder().decode(io.BytesIO(data))]
    assert kinds == ["RecordBatch", "UDF", "RecordBatch"]
