"""AES-CTR transform: §T.8 vectors, the real asbackup files, and files we write read back by an
independent path (``cryptography`` called directly, counter computed here)."""

from __future__ import annotations

import io
import os

import pytest
from aerobackup import Runtime, TransformOptions
from aerobackup.errors import ConfigError, FormatError, KeySourceError
from aerobackup.plugins.transforms import aes
from aerobackup.plugins.transforms.aes import AesCtrTransform
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._helpers import Closing, masked_lines

KEY128 = bytes.fromhex("84a1baf3fe4111b646cf2e688b158501")
KEY256 = bytes.fromhex("84a1baf3fe4111b646cf2e688b1585018989ad61973ed302a56be2fe8cadb6a2")
P = bytes.fromhex("56657273696f6e20332e310a23206e616d65737061636520746573740a")
X1 = bytes.fromhex("00112233445566778899aabbccddeeff")
X2 = bytes.fromhex("0102030405060708ffffffffffffffff")

# asb-format §T.8: (key, X, header E_K(X), body CTR(X+1, P))
VECTORS = [
    (KEY128, X1, "51f97769273998f10bfbca7d5ad14f5f", "1f9d1bb287364dbc78e1158af93c80345da76af2e01f260fa8b67b7529"),
    (KEY128, X2, "cd27fae9991e89a56e0c2c42b57b1259", "fcbe89ca1f48c7371617e7b4ce7aeb25f2d423f144d2da1d8bb4d8aead"),
    (KEY256, X1, "db5c8d23f3b7003128ee2b89f5c35948", "544b58d7d71daa114803e06f5b9db427e9794c0fcc58463b07db337a41"),
    (KEY256, X2, "8c08dd613aa0cff4beaaf20fd1fe51dd", "f11657eda57b5da5aa4de300086e87644937a824052e6456661d99fa32"),
]


def _mode(key: bytes) -> str:
    return "aes128" if len(key) == 16 else "aes256"


def encrypt(key: bytes, iv: bytes, plain: bytes, *, chunk: int = 0) -> bytes:
    sink = Closing()
    writer = AesCtrTransform(_mode(key), key, iv=iv).wrap_writer(sink)
    if chunk:
        for i in range(0, len(plain), chunk):
            writer.write(plain[i : i + chunk])
    else:
        writer.write(plain)
    writer.close()
    assert sink.closed_flag, "closing the AES writer must close the sink"
    return sink.getvalue()


def independent_decrypt(key: bytes, data: bytes) -> bytes:
    """§12.3 by hand: X = D_K(header); then per block E_K(X+1+i) xor data, counter mod 2^128."""
    ecb = Cipher(algorithms.AES(key), modes.ECB())
    dec = ecb.decryptor()
    x = int.from_bytes(dec.update(data[:16]) + dec.finalize(), "big")
    body = data[16:]
    n_blocks = (len(body) + 15) // 16
    counters = b"".join(((x + 1 + i) % (1 << 128)).to_bytes(16, "big") for i in range(n_blocks))
    enc = ecb.encryptor()
    stream = enc.update(counters) + enc.finalize()
    return bytes(a ^ b for a, b in zip(body, stream, strict=False))


@pytest.mark.parametrize(("key", "iv", "header", "body"), VECTORS)
def test_t8_vectors_write(key: bytes, iv: bytes, header: str, body: str) -> None:
    assert encrypt(key, iv, P).hex() == header + body


@pytest.mark.parametrize(("key", "iv", "header", "body"), VECTORS)
def test_t8_vectors_read(key: bytes, iv: bytes, header: str, body: str) -> None:
    reader = AesCtrTransform(_mode(key), key).wrap_reader(io.BytesIO(bytes.fromhex(header + body)))
    assert reader.read() == P


@pytest.mark.parametrize("mode", ["aes128", "aes256"])
def test_real_asbackup_files_decrypt(mode: str, corpus, corpus_key) -> None:  # type: ignore[no-untyped-def]
    key = corpus_key(mode)
    with open(corpus / mode / "test_00000.asb", "rb") as raw:
        out = AesCtrTransform(mode, key).wrap_reader(raw).read()
    plain = (corpus / "plain" / "test_00000.asb").read_bytes()
    assert len(out) == 127_725 == len(plain)
    # separate asbackup runs: same records, other order and `+ t` (corpus README)
    assert masked_lines(out) == masked_lines(plain)


def test_real_file_initial_block_is_the_backup_time(corpus, corpus_key) -> None:  # type: ignore[no-untyped-def]
    key = corpus_key("aes128")
    header = (corpus / "aes128" / "test_00000.asb").read_bytes()[:16]
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    assert (dec.update(header) + dec.finalize()).hex() == "6b0f4c9e3c518b31dece9bb514d74bac"


@pytest.mark.parametrize(
    ("size", "chunk"),
    [
        (size, chunk)
        for size in (0, 1, 15, 16, 17, 1000, 65_537)
        for chunk in (0, 1, 7, 4096)
        if not (chunk == 1 and size > 1000)  # byte-at-a-time over 64 KiB adds nothing
    ],
)
def test_our_files_read_by_independent_path(size: int, chunk: int) -> None:
    plain = os.urandom(size)
    for key in (KEY128, KEY256):
        data = encrypt(key, X1, plain, chunk=chunk)
        assert len(data) == size + 16
        assert independent_decrypt(key, data) == plain


def test_default_iv_starts_with_unix_time() -> None:
    import time

    sink = Closing()
    before = int(time.time())
    w = AesCtrTransform("aes128", KEY128).wrap_writer(sink)
    w.close()
    dec = Cipher(algorithms.AES(KEY128), modes.ECB()).decryptor()
    x = dec.update(sink.getvalue()) + dec.finalize()
    assert before <= int.from_bytes(x[:4], "big") <= int(time.time())


@pytest.mark.parametrize(
    "iv",
    [
        "0102030405060708fffffffffffffff0",  # carry from the low into the high 64 bits mid-stream
        "000000000000000000000000fffffff8",  # past 2^32 blocks of a 32-bit counter
        "fffffffffffffffffffffffffffffff8",  # wrap at 2^128
    ],
)
def test_counter_carries_over_128_bits(iv: str) -> None:
    plain = os.urandom(16 * 40 + 5)
    data = encrypt(KEY256, bytes.fromhex(iv), plain, chunk=100)
    assert independent_decrypt(KEY256, data) == plain
    reader = AesCtrTransform("aes256", KEY256).wrap_reader(io.BytesIO(data))
    assert b"".join(iter(lambda: reader.read(33), b"")) == plain


def test_reader_streams_in_small_reads_and_read1() -> None:
    plain = os.urandom(10_000)
    data = encrypt(KEY128, X2, plain)
    r = AesCtrTransform("aes128", KEY128).wrap_reader(io.BytesIO(data))
    got = r.read(5) + r.read1(100)
    buf = bytearray(1000)
    n = r.readinto(buf)
    got += bytes(buf[:n]) + r.read()
    assert got == plain


def test_closing_reader_closes_source() -> None:
    src = Closing(encrypt(KEY128, X1, P))
    r = AesCtrTransform("aes128", KEY128).wrap_reader(src)
    r.read(3)
    r.close()
    assert src.closed_flag


def test_short_file_is_a_clear_error() -> None:
    src = io.BytesIO(b"0123456789")
    src.name = "short.asb"  # type: ignore[misc]
    with pytest.raises(FormatError, match=r"short\.asb: too short for an aes128 backup: only 10 bytes"):
        AesCtrTransform("aes128", KEY128).wrap_reader(src).read()


def test_key_size_must_match_mode() -> None:
    with pytest.raises(ConfigError, match="aes256 needs a 32-byte key"):
        AesCtrTransform("aes256", KEY128)


def test_key_never_in_repr() -> None:
    t = AesCtrTransform("aes128", KEY128)
    assert KEY128.hex() not in repr(t) and "84a1" not in repr(t)
    assert repr(TransformOptions(key=KEY128)).find("84") == -1


def test_registered_through_the_runtime() -> None:
    rt = Runtime.from_plugins([aes])
    t = rt.transform("aes256", TransformOptions(key=KEY256))
    assert t.name == "aes256"
    with pytest.raises(KeySourceError, match="aes128 encryption needs a key"):
        rt.transform("aes128", TransformOptions())


@pytest.mark.parametrize("cut", [0, 5, 16, 33, 999])
def test_resumed_writer_continues_the_keystream(cut: int) -> None:
    plain = os.urandom(1000)
    t = AesCtrTransform("aes128", KEY128, iv=X2)
    sink = Closing()
    w = t.wrap_writer(sink)
    w.write(plain[:cut])
    iv, position = w.iv, w.position  # type: ignore[attr-defined]
    w.close()
    sink2 = Closing()
    w2 = t.resume_writer(sink2, iv, position)
    w2.write(plain[cut:])
    w2.close()
    assert position == cut
    assert sink.getvalue() + sink2.getvalue() == encrypt(KEY128, X2, plain)
