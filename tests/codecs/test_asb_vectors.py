"""Every accept/reject vector of asb-format.md §T.1–§T.6 and the observed rows of §3 and §10.

Expected texts are asrestore 4.5.8's first error line (observed with ``--validate``), the file
being named ``F``. Each vector runs through the fast path and through the C-exact reader alone;
both must agree.
"""

from __future__ import annotations

import io
import struct

import pytest
from aerobackup.errors import FormatError
from aerobackup.model import UDF, IndexType, SIndex, SIndexDataType
from aerobackup.plugins.codecs.asb_decode import AsbDecoder
from aerobackup.protocols import DecoderOptions

from .helpers import DIGEST_B64, PREFIX, R, decode_all

P = PREFIX
P30 = b"Version 3.0\n# namespace test\n"
D = b"+ d " + DIGEST_B64 + b"\n"


def _outcome(data: bytes, fast: bool) -> tuple[int, int, int] | str:
    try:
        records, sindexes, udfs, _ = decode_all(data, fast=fast)
    except FormatError as err:
        assert err.file == "F"
        return err.message
    return (len(udfs), len(sindexes), len(records))


# (id, input, expected: (udfs, sindexes, records) or the C error text)
VECTORS: list[tuple[str, bytes, tuple[int, int, int] | str]] = [
    # §T.1
    ("1.1", b"Version 3.1\n# namespace test\n# first-file\n", (0, 0, 0)),
    ("1.3", b"Version 3.1 \n", "Invalid version line in backup file F"),
    ("1.4", b"Version 3.1\n# bogus\n", 'Invalid meta data line "# bogus" in backup file F:2 [2]'),
    ("1.5", b"Version 3.1\n# namespace my\\ ns\n", (0, 0, 0)),
    ("1.6", P + R(1) + b"- I a\\ b 1\n", (0, 0, 1)),
    ("1.7", P + R(1) + b"- I a\\\\b 1\n", (0, 0, 1)),
    ("1.8", P + R(1) + b"- I a\\qb 1\n", (0, 0, 1)),
    ("1.9", P + R(1) + b"- I n 1\\2\n", (0, 0, 1)),
    ("1.10", P + b"+ n test\n" + D + b"+ s my\\ set\n+ g 1\n+ t 0\n+ b 0\n", (0, 0, 1)),
    # §T.2
    ("2.1", P + R(1) + b"- N b\n", (0, 0, 1)),
    ("2.2T", P + R(1) + b"- Z b T\n", (0, 0, 1)),
    ("2.2F", P + R(1) + b"- Z b F\n", (0, 0, 1)),
    ("2.3", P + R(1) + b"- I b -9223372036854775808\n", (0, 0, 1)),
    ("2.4", P + R(1) + b"- I b 9223372036854775808\n",
     "Integer overflow with number 9223372036854775808 in backup block (line 8, col 26)"),
    ("2.5", P + R(1) + b"- D b 0.10000000000000001\n", (0, 0, 1)),
    ("2.6", P + R(1) + b"- D b 1E5\n",
     'Invalid character "E" in backup block (line 8, col 8), expected floating point notation'),
    ("2.7", P + R(1) + b"- S b 5 a b\nc\n", (0, 0, 1)),
    ("2.8", P + R(1) + b"- X b 4 YWI=\n", (0, 0, 1)),
    ("2.9", P + R(1) + b"- G b 2 {}\n", (0, 0, 1)),
    ("2.10", P + R(1) + b"- B b 4 AAEC\n", (0, 0, 1)),
    ("2.11", P + R(1) + b"- B! b 3 \x00\x01\x02\n", (0, 0, 1)),
    ("2.12", P + R(1) + b"- J b 4 AAEC\n", (0, 0, 1)),
    ("2.13", P + R(1) + b"- Y! b 3 \x00\x01\x02\n", (0, 0, 1)),
    ("2.14", P + R(1) + b"- M b 8 gaFhAQ==\n", (0, 0, 1)),
    ("2.15", P + R(1) + b"- L b 8 kwECAw==\n", (0, 0, 1)),
    ("2.16", P + R(1) + b"- I! b 5\n", (0, 0, 1)),
    ("2.17", P + R(1) + b"- Z b X\n", 'Unknown boolean value encoding: "X" (line 8, col 8)'),
    ("2.18", P + R(1) + b"- U b 3 abc\n",
     "The backup contains LDTs - please use an older version of this tool to restore the backup "
     "(line 8, col 6)"),
    ("2.19", P + R(1) + b"- B b 3 AAE\n", "Invalid encoded data size 3 (line 8, col 8)"),
    # §T.3 (key line is line 3)
    ("3.1", P + b"+ k I 42\n" + R(0), (0, 0, 1)),
    ("3.2", P + b"+ k D 1.5\n" + R(0), (0, 0, 1)),
    ("3.3", P + b"+ k S 4 key1\n" + R(0), (0, 0, 1)),
    ("3.4", P + b"+ k X 8 a2V5MQ==\n" + R(0), (0, 0, 1)),
    ("3.5", P + b"+ k B 4 AAEC\n" + R(0), (0, 0, 1)),
    ("3.6", P + b"+ k B! 3 \x00\x01\x02\n" + R(0), (0, 0, 1)),
    ("3.7", P + b"+ k S! 4 key1\n" + R(0),
     'Unexpected character "!" in backup block (line 3, col 6), expected " "'),
    ("3.7I", P + b"+ k I! 4\n" + R(0),
     'Unexpected character "!" in backup block (line 3, col 6), expected " "'),
    ("3.8", P + b"+ k Q 1\n" + R(0), 'Invalid key type character "Q" in block (line 3, col 5)'),
    ("3.9", P + b"+ n test\n" + D + b"+ g 65536\n+ t 0\n+ b 0\n",
     "Invalid generation count 65536 (line 5, col 10)"),
    ("3.k1E5", P + b"+ k D 1E5\n" + R(0),
     'Invalid character "E" in backup block (line 3, col 8), expected floating point notation'),
    # §T.4 (line 3)
    ("4.1", P + b"* i test demo idx N 1 bin S\n", (0, 1, 0)),
    ("4.2", P + b"* i test  idx L 1 bin N\n", (0, 1, 0)),
    ("4.3", P + b"* i test demo my\\ idx K 1 m\\ k S kgGR\n", (0, 1, 0)),
    ("4.4", P + b"* i test demo idx N 1 bin S \n", (0, 1, 0)),
    ("4.5", P + b"* i test demo idx X 1 bin S\n",
     'Invalid index type character "X" in block (line 3, col 19)'),
    ("4.6", P + b"* i test demo idx N 0 bin S\n", "Missing path(s) in index block (line 3, col 22)"),
    ("4.8", P + b"* i test demo idx N 2 a S b N\n",
     'Unexpected character "b" in backup block (line 3, col 27), expected " "'),
    ("4.8b", P + b"* i test demo idx N 2 a S  b N\n", (0, 1, 0)),
    ("4.9", P + b"* x foo\n", 'Invalid global type character "x" in block (line 3, col 3)'),
    ("4.pQ", P + b"* i test demo idx N 1 bin Q\n",
     'Invalid path type character "Q" in block (line 3, col 27)'),
    # §T.5
    ("5.1", P + b"* u L my\\ mod.lua 8 return 1\n", (1, 0, 0)),
    ("5.2", P + b"* u L m.lua 9 return 1\n\n", (1, 0, 0)),
    ("5.3", P + b"* u P m.py 1 x\n", 'Invalid UDF type character "P" in block (line 3, col 5)'),
    # §T.6 legacy 3.0
    ("6.1", P30 + b"* i test demo idx N 1 bin S\n",
     'Invalid start character "*" in block (line 3, col 1)'),
    ("6.2", P30 + R(1) + b"- I a\\ b 1\n",
     'Invalid character "b" in backup block (line 8, col 8), expected digit'),
    ("6.3", P30 + R(1) + b"- I a 1\n", (0, 0, 1)),
    # §10.1 summary table
    ("10.start", P + b"x\n", 'Invalid start character "x" in block (line 3, col 1)'),
    ("10.no-n", P + D + b"+ g 1\n+ t 0\n+ b 0\n",
     'Unexpected character "d" in backup block (line 3, col 3), expected "k"'),
    ("10.key-no-n", P + b"+ k I 1\n" + D + b"+ g 1\n+ t 0\n+ b 0\n",
     'Unexpected character "d" in backup block (line 4, col 3), expected "n"'),
    ("10.no-d", P + b"+ n test\n+ g 1\n+ t 0\n+ b 0\n",
     'Unexpected character "g" in backup block (line 4, col 3), expected "d"'),
    ("10.no-g", P + b"+ n test\n" + D + b"+ t 0\n+ b 0\n",
     'Unexpected character "t" in backup block (line 5, col 3), expected "s"'),
    ("10.no-t", P + b"+ n test\n" + D + b"+ g 1\n+ b 0\n",
     'Unexpected character "b" in backup block (line 6, col 3), expected "t"'),
    ("10.x-for-b", P + b"+ n test\n" + D + b"+ g 1\n+ t 0\n+ x 0\n",
     'Unexpected character "x" in backup block (line 7, col 3), expected "b"'),
    ("10.no-b", P + b"+ n test\n" + D + b"+ g 1\n+ t 0\n- I a 1\n",
     'Unexpected character "-" in backup block (line 7, col 1), expected "+"'),
    ("10.digest24", P + b"+ n test\n+ d 7JEZLUt/jONdXXjTS8ply6qq\n+ g 1\n+ t 0\n+ b 0\n",
     'Invalid base-64 character (\\x0a, "+", " ", or "g" at or before line 5, col 3)'),
    ("10.digest32", P + b"+ n test\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=AAAA\n+ g 1\n+ t 0\n+ b 0\n",
     'Unexpected character "A" in backup block (line 4, col 33), expected \\x0a'),
    ("10.gen-neg", P + b"+ n test\n" + D + b"+ g -1\n+ t 0\n+ b 0\n",
     "Invalid generation count -1 (line 5, col 7)"),
    ("10.gen-empty", P + b"+ n test\n" + D + b"+ g \n+ t 0\n+ b 0\n", (0, 0, 1)),
    ("10.bins65536", P + b"+ n test\n" + D + b"+ g 1\n+ t 0\n+ b 65536\n",
     "Invalid bin count 65536 (line 7, col 10)"),
    ("10.fewer-eof", P + R(2) + b"- I a 1\n", "Unexpected end of file in backup block (line 9, col 1)"),
    ("10.fewer-next", P + R(2) + b"- I a 1\n" + R(0),
     'Unexpected character "+" in backup block (line 9, col 1), expected "-"'),
    ("10.more", P + R(1) + b"- I a 1\n- I b 2\n",
     'Invalid start character "-" in block (line 9, col 1)'),
    ("10.int-empty", P + R(1) + b"- I a \n", (0, 0, 1)),
    ("10.int-minus", P + R(1) + b"- I a -\n", (0, 0, 1)),
    ("10.int-plus", P + R(1) + b"- I a +1\n",
     'Invalid character "+" in backup block (line 8, col 7), expected digit'),
    ("10.S-no-nl", P + R(1) + b"- S b 3 abcd\n",
     'Unexpected character "d" in backup block (line 8, col 12), expected \\x0a'),
    ("10.udf-no-nl", P + b"* u L m.lua 3 abcd\n",
     'Unexpected character "d" in backup block (line 3, col 18), expected \\x0a'),
    ("10.v30", b"Version 3.0\n# namespace test\n", (0, 0, 0)),
    ("10.v33", b"Version 3.3\n# namespace test\n", "Invalid backup file version 3.3 in backup file F"),
    ("10.v40", b"Version 4.0\n", "Invalid backup file version 4.0 in backup file F"),
    ("10.v29", b"Version 2.9\n", "Invalid backup file version 2.9 in backup file F"),
    # §3 observed rows
    ("3.1.tab", P + R(1) + b"- I\ta 1\n",
     'Unexpected character \\x09 in backup block (line 8, col 4), expected " "'),
    ("3.1.crlf-version", b"Version 3.1\r\n", "Invalid version line in backup file F"),
    ("3.1.crlf-bin", P + R(1) + b"- I a 1\r\n",
     "Invalid character \\x0d in backup block (line 8, col 8), expected digit"),
    ("3.1.eof-after-d", P + b"+ n test\n" + D,
     "Unexpected end of file in backup block (line 5, col 1)"),
    ("3.1.eof-in-bin", P + R(1) + b"- I a 1", "Unexpected end of file in backup block (line 8, col 8)"),
    ("3.1.empty", b"", "Error while reading version from backup file F"),
    ("3.1.version-only", b"Version 3.1\n", (0, 0, 0)),
    ("3.1.no-ns-line", b"Version 3.1\n" + R(1) + b"- I a 1\n", (0, 0, 1)),
    ("3.1.first-file-first", b"Version 3.1\n# first-file\n# namespace test\n", (0, 0, 0)),
    ("3.1.meta-after-block", P + R(1) + b"- I a 1\n# namespace test\n",
     'Invalid start character "#" in block (line 9, col 1)'),
    ("3.5.ns31", P + b"+ n " + b"n" * 31 + b"\n" + D + b"+ g 1\n+ t 0\n+ b 0\n", (0, 0, 1)),
    ("3.5.ns32", P + b"+ n " + b"n" * 32 + b"\n" + D + b"+ g 1\n+ t 0\n+ b 0\n",
     "Buffer overflow while reading token in backup block (line 3, col 36)"),
    ("3.5.set63", P + b"+ n test\n" + D + b"+ s " + b"s" * 63 + b"\n+ g 1\n+ t 0\n+ b 0\n", (0, 0, 1)),
    ("3.5.set64", P + b"+ n test\n" + D + b"+ s " + b"s" * 64 + b"\n+ g 1\n+ t 0\n+ b 0\n",
     "Buffer overflow while reading token in backup block (line 5, col 68)"),
    ("3.5.bin1000", P + R(1) + b"- I " + b"b" * 1000 + b" 1\n",
     "Buffer overflow while reading token in backup block (line 8, col 1004)"),
    ("3.5.sindex-set1000", P + b"* i test " + b"s" * 1000 + b" idx N 1 bin S\n",
     "Buffer overflow while reading token in backup block (line 3, col 1009)"),
    ("3.5.bin15", P + R(1) + b"- I " + b"b" * 15 + b" 1\n", (0, 0, 1)),
    ("3.5.bin16", P + R(1) + b"- I " + b"b" * 16 + b" 1\n",
     "Error while setting integer bin " + "b" * 16 + " to 1 (line 8, col 23)"),
    ("3.5.size", P + R(1) + b"- S b 1125899906842625 x\n",
     "Size overflow with number 1125899906842625 in backup block (line 8, col 23)"),
    ("3.7.midpad", P + R(1) + b"- B b 8 AA==AAEC\n", (0, 0, 1)),
    ("3.7.allpad", P + R(1) + b"- B b 4 ====\n", (0, 0, 1)),
    ("3.7.badchar", P + R(1) + b"- B b 4 AA*C\n",
     'Invalid base-64 character ("A", "A", "*", or "C" at or before line 8, col 12)'),
    ("4.2.meta-nospace", b"Version 3.1\n#namespace test\n",
     'Invalid meta data line "#namespace test" in backup file F:2 [1]'),
    ("2.3.mixed-order", P + R(1) + b"- I a 1\n* i test demo idx N 1 bin S\n* u L m.lua 1 x\n"
     + R(1) + b"- I a 1\n", (1, 1, 2)),
    ("9.t-max", P + b"+ n test\n" + D + b"+ g 1\n+ t 4294967295\n+ b 0\n", (0, 0, 1)),
    ("9.t-over", P + b"+ n test\n" + D + b"+ g 1\n+ t 4294967296\n+ b 0\n",
     "Invalid expiration time 4294967296 (line 6, col 15)"),
    ("9.t-neg", P + b"+ n test\n" + D + b"+ g 1\n+ t -1\n+ b 0\n",
     "Invalid expiration time 18446744073709551615 (line 6, col 7)"),
    ("7.4.nan", P + R(1) + b"- D b nan\n", (0, 0, 1)),
    ("7.4.-inf", P + R(1) + b"- D b -inf\n", (0, 0, 1)),
    ("7.4.INF", P + R(1) + b"- D b INF\n", (0, 0, 1)),
    ("7.4.1e5", P + R(1) + b"- D b 1e5\n", (0, 0, 1)),
    ("7.4.empty", P + R(1) + b"- D b \n", (0, 0, 1)),
    ("7.4.hex", P + R(1) + b"- D b 0x1p3\n",
     'Invalid character "x" in backup block (line 8, col 8), expected floating point notation'),
    ("7.4.dots", P + R(1) + b"- D b 1.2.3\n",
     'Invalid character "." in backup block (line 8, col 10), expected floating point notation'),
    ("7.3.bang-N", P + R(1) + b"- N! b\n", (0, 0, 1)),
    ("7.3.bang-D", P + R(1) + b"- D! b 1.5\n", (0, 0, 1)),
    ("7.3.bang-S", P + R(1) + b"- S! b 1 x\n", (0, 0, 1)),
]


@pytest.mark.parametrize(("vid", "data", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
def test_vector(vid: str, data: bytes, expected: tuple[int, int, int] | str, fast: bool) -> None:
    assert _outcome(data, fast) == expected


def test_meta_line_too_long() -> None:
    data = b"Version 3.1\n# namespace " + b"n" * 1100 + b"\n"
    msg = _outcome(data, True)
    assert isinstance(msg, str)
    assert msg.startswith("Meta data line  namespace nnn") and msg.endswith(" too long in backup file F:2")


# --- our extensions beyond C (asb-format.md §1.1, §5.3; issue 6) ----------------------------


def test_version_32_accepted_unlike_c() -> None:
    # C: "Invalid backup file version 3.2 in backup file F" (§T.1.2); backup-go writes it
    assert _outcome(b"Version 3.2\n# namespace test\n", True) == (0, 0, 0)


def test_expression_index_line() -> None:
    # C rejects `* e` (§T.4.7); Go reads it as an expression index
    _, (idx,), _, _ = decode_all(P + b"* e test demo idx N 1 bin N AAEC\n")
    assert idx == SIndex("test", "demo", "idx", IndexType.DEFAULT, "bin", SIndexDataType.NUMERIC,
                         None, "AAEC")
    # Go's writer puts "<ctx> <exp>" when both exist: split on the last space (§5.3 point 3)
    _, (idx,), _, _ = decode_all(b"Version 3.2\n" + b"* e test demo idx N 1 bin N kgGR AAEC\n")
    assert (idx.context, idx.expression) == ("kgGR", "AAEC")


# --- decoded values of the accepted vectors -------------------------------------------------


def _bin(line: bytes, fast: bool = True) -> tuple[str, int, bytes]:
    (rec,), *_ = decode_all(P + R(1) + line, fast=fast)
    (b,) = rec.bins
    return b.name, b.particle_type, b.data


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"- I a\\ b 1\n", ("a b", 1, (1).to_bytes(8, "big"))),
        (b"- I a\\\\b 1\n", ("a\\b", 1, (1).to_bytes(8, "big"))),
        (b"- I a\\qb 1\n", ("aqb", 1, (1).to_bytes(8, "big"))),
        (b"- I n 1\\2\n", ("n", 1, (12).to_bytes(8, "big"))),
        (b"- I nl\\\nx 7\n", ("nl\nx", 1, (7).to_bytes(8, "big"))),
        (b"- N b\n", ("b", 0, b"")),
        (b"- Z b T\n", ("b", 17, b"\x01")),
        (b"- Z b F\n", ("b", 17, b"\x00")),
        (b"- I b -9223372036854775808\n", ("b", 1, (-(2**63)).to_bytes(8, "big", signed=True))),
        (b"- I b 007\n", ("b", 1, (7).to_bytes(8, "big"))),
        (b"- I a \n", ("a", 1, bytes(8))),
        (b"- I a -\n", ("a", 1, bytes(8))),
        (b"- D b 0.10000000000000001\n", ("b", 2, struct.pack(">d", 0.1))),
        (b"- D b -0\n", ("b", 2, struct.pack(">d", -0.0))),
        (b"- D b nan\n", ("b", 2, bytes.fromhex("7ff8000000000000"))),
        (b"- D b -nan\n", ("b", 2, bytes.fromhex("fff8000000000000"))),
        (b"- D b INF\n", ("b", 2, struct.pack(">d", float("inf")))),
        (b"- D b +1.5\n", ("b", 2, struct.pack(">d", 1.5))),
        (b"- D b \n", ("b", 2, struct.pack(">d", 0.0))),
        (b"- S b 5 a b\nc\n", ("b", 3, b"a b\nc")),
        (b"- S b 0 \n", ("b", 3, b"")),
        (b"- X b 4 YWI=\n", ("b", 3, b"ab")),
        (b"- G b 2 {}\n", ("b", 23, b"\x00\x00\x00{}")),
        (b"- B b 4 AAEC\n", ("b", 4, b"\x00\x01\x02")),
        (b"- B b 0 \n", ("b", 4, b"")),
        (b"- B! b 3 \x00\x01\x02\n", ("b", 4, b"\x00\x01\x02")),
        (b"- J b 4 AAEC\n", ("b", 7, b"\x00\x01\x02")),
        (b"- C b 4 AAEC\n", ("b", 8, b"\x00\x01\x02")),
        (b"- P b 4 AAEC\n", ("b", 9, b"\x00\x01\x02")),
        (b"- R b 4 AAEC\n", ("b", 10, b"\x00\x01\x02")),
        (b"- H b 4 AAEC\n", ("b", 11, b"\x00\x01\x02")),
        (b"- E b 4 AAEC\n", ("b", 12, b"\x00\x01\x02")),
        (b"- Y! b 3 \x00\x01\x02\n", ("b", 18, b"\x00\x01\x02")),
        (b"- M b 8 gaFhAQ==\n", ("b", 19, b"\x81\xa1\x61\x01")),
        (b"- L b 8 kwECAw==\n", ("b", 20, b"\x93\x01\x02\x03")),
        (b"- I! b 5\n", ("b", 1, (5).to_bytes(8, "big"))),
        # C's lenient base64: '=' counts as 0, the last group decides the length (§3.7)
        (b"- B b 8 AA==AAEC\n", ("b", 4, b"\x00\x00\x00\x00")),
        (b"- B b 4 ====\n", ("b", 4, b"\x00")),
    ],
)
def test_decoded_bin_values(line: bytes, expected: tuple[str, int, bytes], fast: bool) -> None:
    assert _bin(line, fast) == expected


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "c-exact"])
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"+ k I 42\n", (1, (42).to_bytes(8, "big"))),
        (b"+ k I -7\n", (1, (-7).to_bytes(8, "big", signed=True))),
        (b"+ k D 1.5\n", (2, struct.pack(">d", 1.5))),
        (b"+ k S 4 key1\n", (3, b"key1")),
        (b"+ k S 0 \n", (3, b"")),
        (b"+ k S 3 a\nb\n", (3, b"a\nb")),
        (b"+ k X 8 a2V5MQ==\n", (3, b"key1")),
        (b"+ k B 4 AAEC\n", (4, b"\x00\x01\x02")),
        (b"+ k B! 3 \x00\x01\x02\n", (4, b"\x00\x01\x02")),
    ],
)
def test_decoded_keys(line: bytes, expected: tuple[int, bytes], fast: bool) -> None:
    (rec,), *_ = decode_all(P + line + R(0), fast=fast)
    assert (rec.key.particle_type, rec.key.data) == expected


def test_set_and_header_values() -> None:
    (rec,), *_ = decode_all(P + b"+ n test\n" + D + b"+ s my\\ set\n+ g 1\n+ t 0\n+ b 0\n")
    assert rec.set == "my set" and rec.bins == ()
    dec = AsbDecoder(DecoderOptions(file="F"))
    list(dec.decode(io.BytesIO(b"Version 3.1\n# namespace my\\ ns\n")))
    assert dec.header_namespace == "my ns"


def test_sindex_and_udf_values() -> None:
    _, sidx, udfs, _ = decode_all(
        P + b"* i test  idx L 1 bin N\n* i test demo my\\ idx K 1 m\\ k S kgGR\n"
        b"* i test demo idx N 1 bin S \n* u L my\\ mod.lua 8 return 1\n* u L m.lua 9 return 1\n\n"
    )
    assert sidx == [
        SIndex("test", "", "idx", IndexType.LIST, "bin", SIndexDataType.NUMERIC),
        SIndex("test", "demo", "my idx", IndexType.MAPKEYS, "m k", SIndexDataType.STRING, "kgGR"),
        SIndex("test", "demo", "idx", IndexType.DEFAULT, "bin", SIndexDataType.STRING),
    ]
    assert udfs == [UDF("my mod.lua", b"return 1"), UDF("m.lua", b"return 1\n")]
