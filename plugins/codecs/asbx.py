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

VERSION = 1
HEADER_SIZE = 44
NS_SIZE = 31
MAX_PAYLOAD = 128 * 1024 * 1024  # backup-go's reader limit
_NUMBER = re.compile(r"_(\d+)\.asbx$")


def file_name(namespace: str, number: int, prefix: str = "0_") -> str:
    """backup-go's name: ``<prefix><namespace>_<n>.asbx`` (prefix is the worker, ``"0_"``)."""
    return f"{prefix}{namespace}_{number}.asbx"


def file_number_from_name(name: str) -> int | None:
    """The ``<n>`` of ``…_<n>.asbx``, or None when the name has none."""
    m = _NUMBER.search(os.path.basename(name))
    return int(m.group(1)) if m else None


def encode_header(namespace: str, file_number: int) -> bytes:
    ns = namespace.encode("utf-8")[:NS_SIZE]  # longer names are truncated, as Go does
    return (
        bytes([VERSION])
        + file_number.to_bytes(8, "big")
        + b"\x00" * 4
        + ns
        + b"\x00" * (NS_SIZE - len(ns))
    )


def encode_entry(token: XdrToken) -> bytes:
    if len(token.digest) != 20:
        raise FormatError(f"ASBX digest must be 20 bytes, got {len(token.digest)}")
    n = len(token.payload)
    if n > MAX_PAYLOAD:
        raise FormatError(f"max payload size reached: {n} bytes")
    return b"".join((token.digest, n.to_bytes(6, "big"), token.payload))


class AsbxEncoder:
    """Writes ASBX. ``header`` numbers files 1, 2, … per encoder (like backup-go's counter);
    ``header_for`` takes the number explicitly so it can match the name the caller chose."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()
        self.next_file_number = 1

    def header_for(self, namespace: str, file_number: int) -> bytes:
        if not 0 <= file_number < 1 << 64:
            raise FormatError(f"ASBX file number out of range: {file_number}")
        return encode_header(namespace, file_number)

    def header(self, namespace: str, first_file: bool) -> bytes:
        number = self.next_file_number
        self.next_file_number += 1
        return encode_header(namespace, number)

    def metadata(self, sindexes: Iterable[SIndex], udfs: Iterable[UDF]) -> bytes:
        return b""  # ASBX holds records only

    def encode_tokens(self, tokens: Iterable[XdrToken]) -> bytes:
        return b"".join(map(encode_entry, tokens))

    def encode(self, batch: RecordBatch) -> bytes:
        raise FormatError(
            "the asbx format stores XDR wire messages: write XdrToken items with encode_tokens"
        )


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts = []
    got = 0
    while got < n:
        piece = stream.read(n - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


class AsbxDecoder:
    """Reads ASBX; yields one ``XdrToken`` per entry. ``namespace`` and ``file_number`` are set
    after the header is read."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self.options = options or DecoderOptions()
        self.namespace: str | None = None
        self.file_number: int | None = None

    def _err(self, message: str, offset: int) -> FormatError:
        return FormatError(message, file=self.options.file, offset=offset)

    def decode(self, stream: BinaryIO) -> Iterator[XdrToken]:
        head = _read_exact(stream, HEADER_SIZE)
        if len(head) < HEADER_SIZE:
            raise self._err(
                f"failed to read header: unexpected EOF ({len(head)} of {HEADER_SIZE} bytes)",
                len(head),
            )
        if head[0] != VERSION:
            raise self._err(f"invalid version: got {head[0]}, want {VERSION}", 0)
        number = int.from_bytes(head[1:9], "big")
        ns = head[13:HEADER_SIZE].rstrip(b"\x00").decode("utf-8", "surrogateescape")
        if not ns:
            raise self._err("namespace is empty", 13)
        if self.options.file is not None:
            expected = file_number_from_name(self.options.file)
            if expected is not None and expected != number:
                # Go prints the number from the name as "got"
                raise self._err(f"file number mismatch got {expected}, want {number}", 1)
        self.namespace = ns
        self.file_number = number
        offset = HEADER_SIZE
        while True:
            digest = _read_exact(stream, 20)
            if not digest:
                return
            if len(digest) < 20:
                raise self._err("failed to read digest: unexpected EOF", offset + len(digest))
            size_raw = _read_exact(stream, 6)
            if len(size_raw) < 6:
                raise self._err(
                    "failed to read payload size: unexpected EOF", offset + 20 + len(size_raw)
                )
            size = int.from_bytes(size_raw, "big")
            if size > MAX_PAYLOAD:
                raise self._err(f"max payload size reached: {size} bytes", offset + 20)
            payload = _read_exact(stream, size)
            if len(payload) < size:
                raise self._err("failed to read payload: unexpected EOF", offset + 26 + len(payload))
            yield XdrToken(ns, digest, payload)
            offset += 26 + size


def validate(stream: BinaryIO, options: DecoderOptions | None = None) -> ValidationCounts:
    """Read a whole ASBX stream and count its entries (as ``records``)."""
    counts = ValidationCounts()
    for _ in AsbxDecoder(options).decode(stream):
        counts.records += 1
    return counts


@hookimpl
def register_codecs(register: RegisterCodec) -> None:
    register("asbx", AsbxEncoder, AsbxDecoder, suffix=".asbx")
