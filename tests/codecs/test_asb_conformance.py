"""The ASB codec against real asbackup 4.5.8 / aerospike-tools-backup files (shared/conformance).

Ground truth is independent of our code: ``expected_test.json`` holds the raw wire particles the
server returned to the official client, and the files are asbackup's own output.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import struct
from pathlib import Path

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import UDF, IndexType, RecordBatch, SIndex, SIndexDataType
from aerobackup.plugins.codecs.asb import AsbDecoder, AsbEncoder, validate
from aerobackup.protocols import DecoderOptions, EncoderOptions

from .helpers import b64, decode_all

TEST_FILES = ["plain/test_00000.asb", "compact/test_00000.asb", "single.asb"]
ROTATE = ["rotate/bar_00000.asb", "rotate/bar_00001.asb", "rotate/bar_00002.asb"]


@pytest.fixture(scope="module")
def corpus(conformance_dir: Path) -> Path:
    return conformance_dir / "asbackup-4.5.8"


@pytest.fixture(scope="module")
def expected(corpus: Path) -> dict[str, dict]:
    data = json.loads((corpus / "expected_test.json").read_text())
    return {r["digest_b64"]: r for r in data["records"]}


def _wire(bin_json: dict) -> tuple[int, bytes]:
    """The particle our decoder must produce for a bin read back from the server."""
    w = bin_json["wire"]
    raw = b64(w["raw_b64"])
    if w["particle_type"] == 23:
        # the server adds its cell covering; a file (and a client write) carries none
        ncells = int.from_bytes(raw[1:3], "big")
        raw = b"\x00\x00\x00" + raw[3 + 8 * ncells :]
    return w["particle_type"], raw


def _check_against_expected(records: list, expected: dict[str, dict], namespace: str) -> None:
    import base64

    assert len(records) == len(expected)
    seen = set()
    for rec in records:
        digest_b64 = base64.b64encode(rec.digest).decode()
        exp = expected[digest_b64]
        seen.add(digest_b64)
        assert rec.namespace == namespace
        assert rec.set == (exp["set"] or "")
        assert rec.generation == exp["generation"]
        assert {b.name for b in rec.bins} == set(exp["bins"])
        assert len(rec.bins) == len(exp["bins"])
        for b in rec.bins:
            ptype, raw = _wire(exp["bins"][b.name])
            assert (b.particle_type, b.data) == (ptype, raw), b.name
            if ptype == 2:  # float bits, authoritative for -0.0 and NaN
                bits = exp["bins"][b.name].get("bits")
                if bits:
                    assert b.data == int(bits, 16).to_bytes(8, "big")
        uk = exp["user_key"]
        if uk is None:
            assert rec.key is None
        elif uk["t"] == "str":
            assert (rec.key.particle_type, rec.key.data) == (3, uk["v"].encode())
        elif uk["t"] == "int":
            assert rec.key.particle_type == 1
            assert struct.unpack(">q", rec.key.data)[0] == uk["v"]
        else:
            assert uk["t"] == "bytes"
            assert (rec.key.particle_type, rec.key.data) == (4, b64(uk["b64"]))
        ttl = exp["ttl_at_dump"]
        if ttl == 4294967295:
            assert rec.void_time == 0
        else:
            assert rec.void_time > 0
    assert len(seen) == len(expected)


@pytest.mark.parametrize("name", TEST_FILES)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
def test_decodes_to_expected_json(corpus: Path, expected: dict, name: str, fast: bool) -> None:
    records, sindexes, udfs, _ = decode_all((corpus / name).read_bytes(), fast=fast, batch_size=10)
    _check_against_expected(records, expected, "test")
    assert len(sindexes) == 15 and len(udfs) == 1
    assert udfs[0].name == "sample_udf.lua" and len(udfs[0].content) == 252
    assert udfs[0].content.startswith(b"-- sample UDF module")
    by_name = {s.name: s for s in sindexes}
    assert by_name["si_ctx_str"] == SIndex(
        "test", "types", "si_ctx_str", IndexType.DEFAULT, "nest", SIndexDataType.STRING, "kiKiA3M="
    )
    assert by_name["si_list_num"].index_type is IndexType.LIST
    assert by_name["si_mapkeys_str"].index_type is IndexType.MAPKEYS
    assert by_name["si_mapvals_num"].index_type is IndexType.MAPVALUES
    assert by_name["si_blob"].data_type is SIndexDataType.BLOB
    assert by_name["si_geo_b"].set == "null"  # what asbackup 4.5.8 wrote for a set-less index
    assert by_name["si_num_a"].context is None


def test_header_fields(corpus: Path) -> None:
    dec = AsbDecoder(DecoderOptions(file="plain"))
    list(dec.decode(io.BytesIO((corpus / "plain/test_00000.asb").read_bytes())))
    assert (dec.version, dec.header_namespace, dec.first_file) == ("3.1", "test", True)


def test_float_edge_cases_bits(corpus: Path) -> None:
    records, *_ = decode_all((corpus / "plain/test_00000.asb").read_bytes())
    floats = {
        r.key.data.decode(): struct.unpack(">d", r.bins[0].data)[0]
        for r in records
        if r.key is not None and r.key.particle_type == 3 and r.bins and r.bins[0].particle_type == 2
    }
    assert math.isnan(floats["f_nan"])
    assert floats["f_denorm"] == 1e-308
    assert floats["f_tiny"] == 5e-324
    assert floats["f_tenth"] == 0.1
    assert floats["f_big"] == 1.7976931348623157e308
    assert floats["f_inf"] == math.inf and floats["f_ninf"] == -math.inf
    assert math.copysign(1.0, floats["f_negzero"]) == -1.0
    assert math.copysign(1.0, floats["f_zero"]) == 1.0


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
def test_rotated_backup_matches_expected(corpus: Path, fast: bool) -> None:
    exp = json.loads(gzip.decompress((corpus / "rotate/expected_bar_rot.json.gz").read_bytes()))
    expected = {r["digest_b64"]: r for r in exp["records"]}
    records: list = []
    udfs = 0
    for name in ROTATE:
        recs, sidx, u, batches = decode_all((corpus / name).read_bytes(), fast=fast, batch_size=300)
        assert all(b.namespace == "bar" for b in batches)
        records += recs
        udfs += len(u)
        assert sidx == []
    assert udfs == 1
    _check_against_expected(records, expected, "bar")


def test_validate_counts(corpus: Path, conformance_dir: Path) -> None:
    for name in TEST_FILES:
        with open(corpus / name, "rb") as f:
            c = validate(f, DecoderOptions(file=name))
        assert (c.udfs, c.sindexes, c.records) == (1, 15, 74)
    total = 0
    for name in ROTATE:
        with open(corpus / name, "rb") as f:
            total += validate(f).records
    assert total == 2400
    with open(conformance_dir / "aerospike-tools-backup/test_backup_file.asb", "rb") as f:
        c = validate(f)
    assert (c.udfs, c.sindexes, c.records, c.bins) == (0, 0, 1, 3)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
def test_tools_backup_sample(conformance_dir: Path, fast: bool) -> None:
    data = (conformance_dir / "aerospike-tools-backup/test_backup_file.asb").read_bytes()
    (rec,), sidx, udfs, _ = decode_all(data, fast=fast)
    assert rec.digest.hex() == "ec91192d4b7f8ce35d5d78d34bca65cbaaaac960"
    assert (rec.namespace, rec.set, rec.generation, rec.void_time) == ("test", "demo", 1, 428179113)
    assert (rec.key.particle_type, rec.key.data) == (3, b"key1")
    assert [(b.name, b.particle_type, b.data) for b in rec.bins] == [
        ("foo", 1, (123).to_bytes(8, "big")),
        ("bar", 3, b"abc"),
        ("baz", 17, b"\x01"),
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
def test_bad_file_fails_at_line_13(conformance_dir: Path, fast: bool) -> None:
    path = conformance_dir / "aerospike-tools-backup/test_bad_backup_file.asb"
    with pytest.raises(FormatError) as ei:
        decode_all(path.read_bytes(), fast=fast, file=str(path))
    err = ei.value
    assert (err.line, err.column) == (13, 3)
    assert err.message == 'Invalid bytes label "x" (line 13, col 3)'
    assert err.file == str(path)
    assert err.offset == 160  # 0-based offset of the "x" (Go counts 161 bytes consumed)
    assert str(err).startswith(f"{path}:13:3: ")


@pytest.mark.parametrize(("name", "compact"), [(n, "compact" in n) for n in TEST_FILES])
def test_reencode_gives_same_bytes_per_record(corpus: Path, name: str, compact: bool) -> None:
    data = (corpus / name).read_bytes()
    enc = AsbEncoder(EncoderOptions(compact=compact))
    head = enc.header("test", True)
    assert data.startswith(head)
    pos = len(head)
    sindexes: list[SIndex] = []
    udfs: list[UDF] = []
    meta_done = False
    for item in AsbDecoder(DecoderOptions(batch_size=1)).decode(io.BytesIO(data)):
        if isinstance(item, SIndex):
            sindexes.append(item)
            continue
        if isinstance(item, UDF):
            udfs.append(item)
            continue
        assert isinstance(item, RecordBatch)
        if not meta_done:
            meta = enc.metadata(sindexes, udfs)
            assert data[pos : pos + len(meta)] == meta
            pos += len(meta)
            meta_done = True
        chunk = enc.encode(item)  # one record per batch: compare record by record
        assert data[pos : pos + len(chunk)] == chunk, data[pos : pos + len(chunk) + 40]
        pos += len(chunk)
    assert pos == len(data)


def test_reencode_whole_batches(corpus: Path) -> None:
    data = (corpus / "plain/test_00000.asb").read_bytes()
    enc = AsbEncoder()
    records, sindexes, udfs, batches = decode_all(data, batch_size=1000)
    out = enc.header("test", True) + enc.metadata(sindexes, udfs)
    out += b"".join(enc.encode(b) for b in batches)
    assert out == data


def test_fast_path_takes_the_canonical_records(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conformance checks above must exercise the fast path, not only the C-exact reader:
    only records with escaped bin names (space, backslash, newline) may go the slow way."""
    from aerobackup.plugins.codecs import asb_decode

    slow: list[int] = []
    original = asb_decode._Slow.record

    def counting(self: asb_decode._Slow) -> object:
        slow.append(1)
        return original(self)

    monkeypatch.setattr(asb_decode._Slow, "record", counting)
    records, *_ = decode_all((corpus / "plain/test_00000.asb").read_bytes())
    assert len(records) == 74 and len(slow) == 2
