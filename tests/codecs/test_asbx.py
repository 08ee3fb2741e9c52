"""ASBX: spec vector §T.7, header checks, truncation, round trip, registration."""

from __future__ import annotations

import io

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import XdrToken
from aerobackup.plugins.codecs.asbx import (
    AsbxDecoder,
    AsbxEncoder,
    file_name,
    file_number_from_name,
    validate,
)
from aerobackup.protocols import DecoderOptions
from aerobackup.runtime import Runtime
from hypothesis import given, settings
from hypothesis import strategies as st

# asb-format.md §T.7, copied from the spec text
T7 = bytes.fromhex(
    "0100000000000000010000000074657374000000000000000000000000000000"
    "000000000000000000000000ec91192d4b7f8ce35d5d78d34bca65cbaaaac960"
    "00000000001e0203000000000016160000000000000000000000000000000000"
    "00000000"
)
DIGEST = bytes.fromhex("ec91192d4b7f8ce35d5d78d34bca65cbaaaac960")
PAYLOAD = bytes.fromhex("0203000000000016") + b"\x16" + bytes(21)


def _decode(data: bytes, file: str | None = "0_test_1.asbx") -> tuple[AsbxDecoder, list[XdrToken]]:
    dec = AsbxDecoder(DecoderOptions(file=file))
    return dec, list(dec.decode(io.BytesIO(data)))


def test_t7_vector_decodes() -> None:
    assert len(T7) == 100
    dec, tokens = _decode(T7)
    assert (dec.namespace, dec.file_number) == ("test", 1)
    assert tokens == [XdrToken("test", DIGEST, PAYLOAD)]
    assert len(tokens[0].payload) == 30


def test_t7_vector_encodes() -> None:
    enc = AsbxEncoder()
    assert enc.header_for("test", 1) + enc.encode_tokens([XdrToken("test", DIGEST, PAYLOAD)]) == T7
    assert enc.header("test", True) == T7[:44]  # the counter starts at 1, like backup-go's
    assert enc.header("test", False)[1:9] == (2).to_bytes(8, "big")
    assert enc.metadata([], []) == b""


def test_file_number_must_match_name() -> None:
    with pytest.raises(FormatError, match=r"file number mismatch got 2, want 1"):
        _decode(T7, "0_test_2.asbx")
    _decode(T7, "dir/0_my_ns_1.asbx")  # Go's parser breaks on '_' in the namespace; ours does not
    _decode(T7, None)
    assert file_number_from_name("4_source-ns1_47.asbx") == 47
    assert file_name("test", 5) == "0_test_5.asbx"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02" + T7[1:], r"invalid version: got 2, want 1"),
        (T7[:13] + bytes(31) + T7[44:], r"namespace is empty"),
        (T7[:30], r"failed to read header"),
        (T7[:50], r"failed to read digest: unexpected EOF"),
        (T7[:66], r"failed to read payload size: unexpected EOF"),
        (T7[:99], r"failed to read payload: unexpected EOF"),
        (T7[:64] + (134217729).to_bytes(6, "big"), r"max payload size reached: 134217729 bytes"),
    ],
)
def test_rejects(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message) as ei:
        _decode(data)
    assert ei.value.file == "0_test_1.asbx" and ei.value.offset is not None


def test_every_cut() -> None:
    for cut in range(len(T7)):
        if cut == 44:
            assert _decode(T7[:cut])[1] == []  # header only: a valid, empty file
            continue
        with pytest.raises(FormatError):
            _decode(T7[:cut])


def test_long_namespace_truncated_to_31_bytes() -> None:
    head = AsbxEncoder().header_for("n" * 40, 7)
    assert len(head) == 44 and head[13:] == b"n" * 31


@settings(max_examples=100, deadline=None)
@given(
    tokens=st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.binary(max_size=300)), max_size=10
    ),
    number=st.integers(0, 2**64 - 1),
)
def test_round_trip(tokens: list[tuple[bytes, bytes]], number: int) -> None:
    items = [XdrToken("ns1", d, p) for d, p in tokens]
    enc = AsbxEncoder()
    data = enc.header_for("ns1", number) + enc.encode_tokens(items)
    dec, got = _decode(data, f"0_ns1_{number}.asbx")
    assert got == items and dec.file_number == number
    assert validate(io.BytesIO(data)).records == len(items)


def test_registered() -> None:
    rt = Runtime.discover()
    assert rt.codec_suffix("asbx") == ".asbx" and rt.codec_suffix("asb") == ".asb"
    assert isinstance(rt.decoder("asbx"), AsbxDecoder)
