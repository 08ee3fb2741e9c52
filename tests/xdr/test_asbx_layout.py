"""The ASBX layout against asb-format.md §13 and the §T.7 vector (bytes written by hand from the
spec), read back by the ``asbx`` codec plugin as an independent reader."""

from __future__ import annotations

import io

import pytest
from aerobackup.errors import FormatError
from aerobackup.plugins.codecs.asbx import AsbxDecoder
from aerobackup.protocols import DecoderOptions
from aerobackup.xdr import asbx_io

T7_HEX = (
    "0100000000000000010000000074657374000000000000000000000000000000"
    "000000000000000000000000ec91192d4b7f8ce35d5d78d34bca65cbaaaac960"
    "00000000001e0203000000000016160000000000000000000000000000000000"
    "00000000"
)
T7_DIGEST = bytes.fromhex("ec91192d4b7f8ce35d5d78d34bca65cbaaaac960")
T7_PAYLOAD = bytes.fromhex("0203000000000016") + b"\x16" + bytes(21)


def test_t7_vector_written() -> None:
    data = asbx_io.header("test", 1) + asbx_io.entry_prefix(T7_DIGEST, len(T7_PAYLOAD)) + T7_PAYLOAD
    assert len(data) == 100
    assert data.hex() == T7_HEX


def test_t7_vector_read_by_core_and_codec() -> None:
    raw = bytes.fromhex(T7_HEX)
    ours = list(asbx_io.iter_tokens(io.BytesIO(raw), file="0_test_1.asbx", expect_number=1))
    theirs = list(AsbxDecoder(DecoderOptions(file="0_test_1.asbx")).decode(io.BytesIO(raw)))
    for tokens in (ours, theirs):
        assert [(t.namespace, t.digest, t.payload) for t in tokens] == [("test", T7_DIGEST, T7_PAYLOAD)]


def test_header_namespace_truncated_to_31_bytes() -> None:
    head = asbx_io.header("n" * 40, 7)
    assert len(head) == 44 and head[13:] == b"n" * 31 and head[1:9] == (7).to_bytes(8, "big")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02" + bytes(43), "invalid version: got 2, want 1"),
        (bytes.fromhex(T7_HEX)[:13] + bytes(31), "namespace is empty"),
        (bytes.fromhex(T7_HEX)[:60], "failed to read digest: unexpected EOF"),
        (bytes.fromhex(T7_HEX)[:66], "failed to read payload size: unexpected EOF"),
        (bytes.fromhex(T7_HEX)[:99], "failed to read payload: unexpected EOF"),
        (bytes.fromhex(T7_HEX)[:64] + b"\x00\x00\x08\x00\x00\x01", "max payload size reached: 134217729 bytes"),
    ],
)
def test_reader_errors(data: bytes, message: str) -> None:
    with pytest.raises(FormatError) as info:
        list(asbx_io.iter_tokens(io.BytesIO(data), file="0_test_1.asbx"))
    assert info.value.message == message
    assert str(info.value).startswith("0_test_1.asbx: ")


def test_file_number_mismatch_names_the_number_from_the_name() -> None:
    with pytest.raises(FormatError, match="file number mismatch got 5, want 1"):
        list(asbx_io.iter_tokens(io.BytesIO(bytes.fromhex(T7_HEX)), file="0_test_5.asbx", expect_number=5))


def test_names_and_order() -> None:
    assert asbx_io.file_name(3, "my_ns", 12) == "3_my_ns_12.asbx"
    parsed = asbx_io.parse_name("dir/3_my_ns_12.asbx")
    assert (parsed.prefix, parsed.namespace, parsed.number) == (3, "my_ns", 12)
    names = ["1_test_2.asbx", "0_test_10.asbx", "0_test_3.asbx", "1_test_4.asbx", "0_test_1.asbx"]
    groups = asbx_io.order_files(names)
    assert [[a.name for a in g] for g in groups] == [
        ["0_test_1.asbx", "0_test_3.asbx", "0_test_10.asbx"],  # numbers, not text order
        ["1_test_2.asbx", "1_test_4.asbx"],
    ]
    with pytest.raises(FormatError, match="expected extension: .asbx, got: .asb$"):
        asbx_io.parse_name("0_test_1.asb")
