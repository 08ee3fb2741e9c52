"""The ASBX file layout (asb-format.md §13, §T.7): header, entries, names and their order.

Used by the XDR backup writer (which needs the file number in the header, something the
generic Encoder protocol cannot carry) and by the ASBX restore to order files and, when no
``asbx`` codec plugin is installed, to read them. Plain functions over bytes; no I/O policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..errors import FormatError
from ..model import XdrToken
from ..streams import read_full
from ..wire.protocol import PROTO_SIZE_MAX

__all__ = [
    "ENTRY_PREFIX",
    "HEADER_SIZE",
    "SUFFIX",
    "AsbxName",
    "file_name",
    "check_number",
    "entry_prefix",
    "header",
    "iter_entries",
    "iter_tokens",
    "order_files",
    "parse_name",
    "read_header",
]

HEADER_SIZE = 44
ENTRY_PREFIX = 26  # digest (20) + payload length (6)
SUFFIX = ".asbx"
VERSION = 1
MAX_PAYLOAD = PROTO_SIZE_MAX  # backup-go's reader limit
_NS_BYTES = 31
_NAME = re.compile(r"^(?:(?P<prefix>\d+)_)?(?P<ns>.+)_(?P<n>\d+)\.asbx$")


def header(namespace: str, file_number: int) -> bytes:
    """The 44-byte header: version 1, file number (u64 BE), 4 zero bytes, namespace padded to 31."""
    ns = namespace.encode("utf-8")[:_NS_BYTES]
    return bytes([VERSION]) + file_number.to_bytes(8, "big") + b"\0" * 4 + ns.ljust(_NS_BYTES, b"\0")


def entry_prefix(digest: bytes, payload_length: int) -> bytes:
    """Digest (20 bytes) then the payload length as a 6-byte big-endian integer."""
    return digest + payload_length.to_bytes(6, "big")


def file_name(worker: int, namespace: str, number: int) -> str:
    """``<worker>_<ns>_<n>.asbx`` (backup-go's naming for XDR files)."""
    return f"{worker}_{namespace}_{number}{SUFFIX}"


class AsbxName:
    """A parsed ASBX file name: worker prefix (-1 when absent), namespace and file number."""

    __slots__ = ("name", "prefix", "namespace", "number")

    def __init__(self, name: str, prefix: int, namespace: str, number: int) -> None:
        self.name = name
        self.prefix = prefix
        self.namespace = namespace
        self.number = number

    def __repr__(self) -> str:
        return f"AsbxName({self.name!r})"


def parse_name(name: str) -> AsbxName:
    """Parse ``[<prefix>_]<ns>_<n>.asbx`` (the last ``_`` ends the namespace, so it may hold ``_``)."""
    base = name.rsplit("/", 1)[-1]
    if not base.endswith(SUFFIX):
        ext = base[base.rfind(".") :] if "." in base else ""
        raise FormatError(f"restore file {name} is in an invalid format, expected extension: {SUFFIX}, got: {ext}")
    m = _NAME.match(base)
    if m is None:
        raise FormatError(f"{name}: not an ASBX file name (<prefix>_<namespace>_<number>.asbx)")
    prefix = int(m.group("prefix")) if m.group("prefix") is not None else -1
    return AsbxName(name, prefix, m.group("ns"), int(m.group("n")))


def order_files(names: Iterable[str]) -> list[list[AsbxName]]:
    """Files grouped by prefix (ascending), each group in file-number order.

    A group holds the files of one backup writer: restoring a group in order replays that
    writer's XDR events in the order they were shipped, which is what keeps a later version
    of a record from being overwritten by an earlier one.
    """
    groups: dict[int, list[AsbxName]] = {}
    for name in names:
        parsed = parse_name(name)
        groups.setdefault(parsed.prefix, []).append(parsed)
    return [sorted(groups[p], key=lambda a: a.number) for p in sorted(groups)]


def read_header(stream: BinaryIO, *, file: str | None) -> tuple[int, str]:
    """(file number, namespace) from the header; FormatError on anything else."""
    raw = read_full(stream, HEADER_SIZE)
    if len(raw) < HEADER_SIZE:
        raise FormatError(f"failed to read header: unexpected EOF ({len(raw)} of {HEADER_SIZE} bytes)",
                          file=file, offset=len(raw))
    if raw[0] != VERSION:
        raise FormatError(f"invalid version: got {raw[0]}, want {VERSION}", file=file, offset=0)
    namespace = raw[13:HEADER_SIZE].rstrip(b"\0").decode("utf-8", "replace")
    if not namespace:
        raise FormatError("namespace is empty", file=file, offset=13)
    return int.from_bytes(raw[1:9], "big"), namespace


def iter_tokens(stream: BinaryIO, *, file: str | None, expect_number: int | None = None) -> Iterator[XdrToken]:
    """Every entry of one ASBX stream (header included), as XdrToken items.

    ``expect_number``: the number in the file name, which the header must repeat.
    """
    number, namespace = read_header(stream, file=file)
    check_number(number, expect_number, file=file)
    return iter_entries(stream, namespace, file=file)


def check_number(number: int, expect_number: int | None, *, file: str | None) -> None:
    """The header must repeat the number in the file name."""
    if expect_number is not None and number != expect_number:
        # backup-go prints the number from the name as "got"
        raise FormatError(f"file number mismatch got {expect_number}, want {number}", file=file, offset=1)


def iter_entries(stream: BinaryIO, namespace: str, *, file: str | None) -> Iterator[XdrToken]:
    """The entries after the header, each checked as backup-go's reader checks it."""
    offset = HEADER_SIZE
    while True:
        head = read_full(stream, ENTRY_PREFIX)
        if not head:
            return
        if len(head) < 20:
            raise FormatError("failed to read digest: unexpected EOF", file=file, offset=offset + len(head))
        if len(head) < ENTRY_PREFIX:
            raise FormatError("failed to read payload size: unexpected EOF", file=file, offset=offset + len(head))
        size = int.from_bytes(head[20:26], "big")
        if size > MAX_PAYLOAD:
            raise FormatError(f"max payload size reached: {size} bytes", file=file, offset=offset + 20)
        payload = read_full(stream, size)
        if len(payload) < size:
            raise FormatError("failed to read payload: unexpected EOF", file=file,
                              offset=offset + ENTRY_PREFIX + len(payload))
        yield XdrToken(namespace, head[:20], payload)
        offset += ENTRY_PREFIX + size
