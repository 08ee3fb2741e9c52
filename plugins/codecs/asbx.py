"""ASBX, backup-go's binary XDR backup format (asb-format.md §13): the ``asbx`` codec.

A file is a 44-byte header (format version 1, the file number, 4 reserved bytes, the namespace
NUL-padded to 31 bytes) and then entries of (20-byte digest, 6-byte big-endian length, the wire
message as XDR shipped it). Entries are ``XdrToken`` items; there is no metadata.

The header's file number must equal the number in the file name (``<prefix><ns>_<n>.asbx``).
backup-go takes the third ``_``-separated field of the name, which breaks for namespaces with
``_`` (§11 item 15); we take the digits after the last ``_`` instead, which gives the same
number for every name Go can read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from aerobackup.errors import FormatError
from aerobackup.hookspecs import RegisterCodec, hookimpl
from aerobackup.model import UDF, RecordBatch, SIndex, XdrToken
from aerobackup.protocols import DecoderOptions, EncoderOptions
from aerobackup.xdr import asbx_io

from .asb_decode import ValidationCounts

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "VERSION",
    "AsbxDecoder",
    "AsbxEncoder",
    "file_name",
    "file_number_from_name",
    "register_codecs",
    "validate",
]

VERSION = asbx_io.VERSION
HEADER_SIZE = asbx_io.HEADER_SIZE
MAX_PAYLOAD = asbx_io.MAX_PAYLOAD
_NUMBER = re.compile(r"_(\d+)\.asbx$")


def file_name(namespace: str, number: int, prefix: str = "0_") -> str:
    """``<prefix><ns>_<n>.asbx``; backup-go's prefix is the writer's number and ``_``."""
    return f"{prefix}{namespace}_{number}.asbx"


def file_number_from_name(name: str) -> int | None:
    """The number after the last ``_`` of an ``.asbx`` name, or None when there is none."""
    m = _NUMBER.search(os.path.basename(name))
    return int(m.group(1)) if m else None


def encode_entry(token: XdrToken) -> bytes:
    if len(token.digest) != 20:
        raise FormatError(f"ASBX digest must be 20 bytes, got {len(token.digest)}")
    n = len(token.payload)
    if n > MAX_PAYLOAD:
        raise FormatError(f"max payload size reached: {n} bytes")
    return asbx_io.entry_prefix(token.digest, n) + token.payload


class AsbxEncoder:
    """Writes ASBX. ``header`` numbers files 1, 2, … per encoder (like backup-go's counter);
    ``header_for`` takes the number explicitly so it can match the name the caller chose."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()
        self.next_file_number = 1

    def header_for(self, namespace: str, file_number: int) -> bytes:
        if not 0 <= file_number < 1 << 64:
            raise FormatError(f"ASBX file number out of range: {file_number}")
        return asbx_io.header(namespace, file_number)

    def header(self, namespace: str, first_file: bool) -> bytes:
        number = self.next_file_number
        self.next_file_number += 1
        return asbx_io.header(namespace, number)

    def metadata(self, sindexes: Iterable[SIndex], udfs: Iterable[UDF]) -> bytes:
        return b""  # ASBX holds records only

    def encode_tokens(self, tokens: Iterable[XdrToken]) -> bytes:
        return b"".join(map(encode_entry, tokens))

    def encode(self, batch: RecordBatch) -> bytes:
        raise FormatError(
            "the asbx format stores XDR wire messages: write XdrToken items with encode_tokens"
        )


class AsbxDecoder:
    """Reads ASBX; yields one ``XdrToken`` per entry. ``namespace`` and ``file_number`` are set
    after the header is read."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self.options = options or DecoderOptions()
        self.namespace: str | None = None
        self.file_number: int | None = None

    def decode(self, stream: BinaryIO) -> Iterator[XdrToken]:
        file = self.options.file
        number, ns = asbx_io.read_header(stream, file=file)
        if file is not None:
            asbx_io.check_number(number, file_number_from_name(file), file=file)
        self.namespace = ns
        self.file_number = number
        yield from asbx_io.iter_entries(stream, ns, file=file)


def validate(stream: BinaryIO, options: DecoderOptions | None = None) -> ValidationCounts:
    """Read a whole ASBX stream and count its entries (as ``records``)."""
    counts = ValidationCounts()
    for _ in AsbxDecoder(options).decode(stream):
        counts.records += 1
    return counts


@hookimpl
def register_codecs(register: RegisterCodec) -> None:
    register("asbx", AsbxEncoder, AsbxDecoder, suffix=".asbx")
