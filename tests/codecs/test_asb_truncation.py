"""Truncated files: cut a corpus file at every line boundary and in the middle of every line.

A cut inside a block must fail with ``FormatError`` at the end of the data (never a silently
shorter result); a cut at a block boundary is a valid file, and then re-encoding what was
decoded must give back exactly the bytes before the cut (so no record was dropped).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aerobackup.errors import FormatError
from aerobackup.plugins.codecs.asb import AsbEncoder
from aerobackup.protocols import EncoderOptions

from .helpers import decode_all


def _cuts(data: bytes) -> list[int]:
    cuts = []
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start)
        if nl < 0:
            nl = len(data) - 1
        cuts.append(nl + 1)  # at the line boundary
        if nl - start > 1:
            cuts.append(start + (nl - start) // 2)  # mid-token
        start = nl + 1
    return sorted(set(cuts))


def _check_cut(data: bytes, cut: int, compact: bool, fast: bool) -> str:
    part = data[:cut]
    enc = AsbEncoder(EncoderOptions(compact=compact))
    head = enc.header("test", True)
    assert data.startswith(head)
    try:
        records, sindexes, udfs, batches = decode_all(part, fast=fast, batch_size=16)
    except FormatError as err:
        assert err.file == "F"
        if cut > len(head):
            # inside a block: the error is at the end of the data
            assert err.offset == cut, (cut, err)
            assert "end of file" in err.message, err.message
        return "error"
    if cut < len(head):  # a header cut at a line end: "Version 3.1\n" alone is valid
        assert part in (head[:12], head[: head.index(b"# first")])
        return "ok"
    meta = enc.metadata(sindexes, udfs)
    body = b"".join(enc.encode(b) for b in batches)
    assert part == head + meta + body  # every record before the cut is there, unchanged
    return "ok"


@pytest.mark.parametrize(
    ("name", "compact"),
    [("plain/test_00000.asb", False), ("compact/test_00000.asb", True)],
)
def test_every_cut_fails_at_eof_or_keeps_every_record(
    conformance_dir: Path, name: str, compact: bool
) -> None:
    data = (conformance_dir / "asbackup-4.5.8" / name).read_bytes()
    outcomes = {"ok": 0, "error": 0}
    for cut in _cuts(data):
        outcomes[_check_cut(data, cut, compact, fast=True)] += 1
    assert outcomes["ok"] >= 74 and outcomes["error"] > 500


def test_cuts_through_the_c_exact_reader(conformance_dir: Path) -> None:
    data = (conformance_dir / "aerospike-tools-backup/test_backup_file.asb").read_bytes()
    for cut in range(1, len(data) + 1):  # every byte
        _check_cut(data, cut, False, fast=False)
        _check_cut(data, cut, False, fast=True)


def test_cut_record_is_not_dropped(conformance_dir: Path) -> None:
    data = (conformance_dir / "aerospike-tools-backup/test_backup_file.asb").read_bytes()
    with pytest.raises(FormatError, match=r"Unexpected end of file in backup block \(line 13, col 1\)"):
        decode_all(data[: data.rindex(b"- Z")])
    with pytest.raises(FormatError, match=r"\(line 13, col 10\)"):
        decode_all(data[:-1])  # the last "\n" missing
