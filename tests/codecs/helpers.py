"""Helpers for the codec tests: decode a file or bytes into flat records."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from aerobackup.model import UDF, Record, RecordBatch, SIndex
from aerobackup.plugins.codecs.asb_decode import AsbDecoder
from aerobackup.protocols import DecoderOptions

PREFIX = b"Version 3.1\n# namespace test\n"
DIGEST_B64 = b"7JEZLUt/jONdXXjTS8ply6qqyWA="


def R(n: int) -> bytes:  # noqa: N802 - the spec's name (asb-format.md §T)
    return b"+ n test\n+ d " + DIGEST_B64 + b"\n+ g 1\n+ t 0\n+ b %d\n" % n


def decode_all(
    data: bytes, *, fast: bool = True, batch_size: int = 1024, file: str = "F"
) -> tuple[list[Record], list[SIndex], list[UDF], list[RecordBatch]]:
    records: list[Record] = []
    sindexes: list[SIndex] = []
    udfs: list[UDF] = []
    batches: list[RecordBatch] = []
    dec = AsbDecoder(DecoderOptions(file=file, batch_size=batch_size), fast=fast)
    for item in dec.decode(io.BytesIO(data)):
        if isinstance(item, RecordBatch):
            item.check()
            assert 0 < len(item) <= batch_size
            batches.append(item)
            records.extend(item.records())
        elif isinstance(item, SIndex):
            sindexes.append(item)
        else:
            assert isinstance(item, UDF)
            udfs.append(item)
    return records, sindexes, udfs, batches


def read(path: Path) -> bytes:
    return path.read_bytes()


def b64(s: str) -> bytes:
    return base64.b64decode(s)
