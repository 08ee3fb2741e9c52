"""The transform chain: write order, read order, and the head check that names the file and the
likely cause instead of letting garbage reach the decoder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zstandard
from aerobackup import Runtime, TransformOptions
from aerobackup.errors import DecryptionError, FormatError
from aerobackup.plugins.transforms import aes, zstd
from aerobackup.protocols import Transform
from aerobackup.transforms_chain import is_backup_head, open_backup_reader, open_backup_writer, order_transforms

from ._helpers import Closing, masked_lines
from .test_aes import independent_decrypt

OTHER_KEY = bytes(range(16))


@pytest.fixture(scope="module")
def rt() -> Runtime:
    return Runtime.from_plugins([zstd, aes])


@pytest.fixture(scope="module")
def chains(rt: Runtime, corpus_key) -> dict[str, list[Transform]]:  # type: ignore[no-untyped-def]
    z = rt.transform("zstd", TransformOptions(level=3))
    a128 = rt.transform("aes128", TransformOptions(key=corpus_key("aes128")))
    a256 = rt.transform("aes256", TransformOptions(key=corpus_key("aes256")))
    wrong = rt.transform("aes128", TransformOptions(key=OTHER_KEY))
    return {
        "none": [],
        "zstd": [z],
        "aes128": [a128],
        "aes256": [a256],
        "zstd_aes128": [z, a128],
        "wrong": [wrong],
        "zstd_wrong": [z, wrong],
    }


def read(path: Path, chain: list[Transform]) -> bytes:
    with open_backup_reader(open(path, "rb"), chain, f"{path.parent.name}/{path.name}") as r:
        return r.read()


@pytest.mark.parametrize("folder", ["plain", "zstd", "aes128", "aes256", "zstd_aes128"])
def test_every_real_file_decodes(folder: str, corpus, chains) -> None:  # type: ignore[no-untyped-def]
    chain = chains["none" if folder == "plain" else folder]
    out = read(corpus / folder / "test_00000.asb", chain)
    plain = (corpus / "plain" / "test_00000.asb").read_bytes()
    assert out[:12] == b"Version 3.1\n"
    assert masked_lines(out) == masked_lines(plain)


# (file, transforms given, error class, message pattern)
MISMATCHES = [
    (
        "plain",
        "aes128",
        DecryptionError,
        r"wrong key or not an encrypted backup \(file plain/test_00000\.asb\); "
        r"it looks like a plain backup",
    ),
    ("plain", "zstd", FormatError, r"plain/test_00000\.asb: not zstd-compressed \(it is a plain backup\)"),
    ("plain", "zstd_aes128", DecryptionError, r"wrong key or not an encrypted backup \(file plain/"),
    ("zstd", "none", FormatError, r"zstd/test_00000\.asb: is zstd-compressed: read it with compression zstd"),
    (
        "zstd",
        "aes128",
        DecryptionError,
        r"wrong key or not an encrypted backup \(file zstd/test_00000\.asb\); "
        r"it looks like a zstd-compressed file",
    ),
    ("zstd", "zstd_aes128", DecryptionError, r"wrong key or not an encrypted backup \(file zstd/"),
    (
        "aes128",
        "none",
        DecryptionError,
        r"aes128/test_00000\.asb: not a backup file in plain text: it may be "
        r"encrypted",
    ),
    ("aes128", "zstd", DecryptionError, r"aes128/test_00000\.asb: not zstd-compressed and not a plain backup"),
    ("aes128", "wrong", DecryptionError, r"^wrong key or not an encrypted backup \(file aes128/test_00000\.asb\)$"),
    ("aes128", "aes256", DecryptionError, r"^wrong key or not an encrypted backup \(file aes128/"),
    ("aes256", "aes128", DecryptionError, r"^wrong key or not an encrypted backup \(file aes256/"),
    ("zstd_aes128", "aes128", FormatError, r"zstd_aes128/test_00000\.asb: is zstd-compressed"),
    ("zstd_aes128", "zstd_wrong", DecryptionError, r"^wrong key or not an encrypted backup \(file zstd_aes128/"),
    ("zstd_aes128", "zstd", DecryptionError, r"not zstd-compressed and not a plain backup"),
]


@pytest.mark.parametrize(("folder", "chain", "error", "pattern"), MISMATCHES)
def test_mismatch_is_named(folder: str, chain: str, error: type, pattern: str, corpus, chains) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=pattern):
        read(corpus / folder / "test_00000.asb", chains[chain])


def test_key_never_in_errors(corpus, chains, corpus_key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecryptionError) as info:
        read(corpus / "plain" / "test_00000.asb", chains["aes128"])
    assert corpus_key("aes128").hex() not in str(info.value)


@pytest.mark.parametrize("names", [["zstd"], ["aes128"], ["aes256"], ["zstd", "aes256"], ["aes256", "zstd"]])
def test_round_trip_and_independent_read(names: list[str], rt: Runtime) -> None:
    key = {"aes128": bytes(16), "aes256": bytes(range(32))}
    transforms = [rt.transform(n, TransformOptions(key=key.get(n))) for n in names]
    text = b"Version 3.1\n# namespace test\n" + b"- S bin 5 hello\n" * 20_000
    sink = Closing()
    with open_backup_writer(sink, transforms) as w:
        for i in range(0, len(text), 4096):
            w.write(text[i : i + 4096])
    data = sink.getvalue()
    assert sink.closed_flag
    # independent path: AES by hand, then the one-shot zstd decompressor
    enc = [n for n in names if n.startswith("aes")]
    if enc:
        data = independent_decrypt(key[enc[0]], data)
    if "zstd" in names:
        data = zstandard.ZstdDecompressor().decompress(data, max_output_size=len(text))
    assert data == text
    with open_backup_reader(io.BytesIO(sink.getvalue()), transforms, "rt.asb") as r:
        assert b"".join(iter(lambda: r.read(1000), b"")) == text


def test_order_is_compression_then_encryption(rt: Runtime) -> None:
    z = rt.transform("zstd")
    a = rt.transform("aes128", TransformOptions(key=bytes(16)))
    assert [t.name for t in order_transforms([a, z])] == ["zstd", "aes128"]


def test_truncated_encrypted_file_names_the_file(chains) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FormatError, match=r"^cut\.asb: too short for an aes128 backup: only 7 bytes"):
        open_backup_reader(io.BytesIO(b"1234567"), chains["aes128"], "cut.asb")


def test_truncated_compressed_encrypted_file(corpus, chains) -> None:  # type: ignore[no-untyped-def]
    data = (corpus / "zstd_aes128" / "test_00000.asb").read_bytes()[:-20]
    with pytest.raises(FormatError, match=r"^cut\.asb: zstd: truncated file"):  # one block: found at open
        open_backup_reader(io.BytesIO(data), chains["zstd_aes128"], "cut.asb").read()


def test_asbx_head_is_accepted() -> None:
    head = b"\x01" + (7).to_bytes(8, "big") + bytes(4) + b"test".ljust(31, b"\0")
    assert is_backup_head(head[:16]) and is_backup_head(b"Vers") and not is_backup_head(b"\x02" + bytes(15))
    r = open_backup_reader(io.BytesIO(head), [], "x.asbx")
    assert r.read() == head


def test_reader_gives_back_the_head_in_pieces() -> None:
    text = b"Version 3.1\n# namespace test\n"
    r = open_backup_reader(io.BytesIO(text), [], "p.asb")
    assert r.read(3) + r.read(20) + r.read1(100) + r.read() == text


class OneWay(io.RawIOBase):
    """A non-seekable stream (like a download) that records whether it was closed."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)
        self.was_closed = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def, override]
        data = self._src.read(min(len(b), 1000))  # short reads, as sockets give
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.was_closed = True
        super().close()


@pytest.mark.parametrize("names", [["aes256"], ["zstd", "aes256"]])
def test_alternative_key_for_a_c_env_backup(names: list[str], rt: Runtime, conformance_dir: Path) -> None:
    """asbackup --encryption-key-env with a PKCS#8 body hashes other bytes than backup-go: the
    restore tries both keys and needs no switch (spec §12.2, §T.8)."""
    import gc

    from aerobackup import EncryptionPolicy
    from aerobackup.keys import load_aes_keys
    from aerobackup.plugins.keys import env as env_plugin

    pem = (conformance_dir / "backup-go/pkey_test").read_bytes()
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")).decode()
    keys_rt = Runtime.from_plugins([env_plugin])
    mp = pytest.MonkeyPatch()
    mp.setenv("AEROBACKUP_TEST_KEY", body)
    try:
        keys = load_aes_keys(EncryptionPolicy(mode="aes256", key_env="AEROBACKUP_TEST_KEY"), keys_rt)
    finally:
        mp.undo()
    assert [k.hex()[:8] for k in keys] == ["8eb5ae0e", "38a301da"]  # backup-go's key, then asbackup's

    def chain(key: bytes) -> list[Transform]:
        return [rt.transform(n, TransformOptions(key=key if n.startswith("aes") else None)) for n in names]

    text = b"Version 3.1\n# namespace test\n" + b"- I x 1\n" * 50_000
    sink = Closing()
    with open_backup_writer(sink, chain(keys[1])) as w:  # written as asbackup would
        w.write(text)
    raw = OneWay(sink.getvalue())
    with pytest.raises(DecryptionError, match=r"^wrong key or not an encrypted backup \(file c\.asb\)"):
        open_backup_reader(OneWay(sink.getvalue()), chain(keys[0]), "c.asb")
    r = open_backup_reader(raw, chain(keys[0]), "c.asb", alternatives=[chain(keys[1])])
    gc.collect()  # the failed first chain is collected: it must not have closed the stream
    assert not raw.was_closed
    assert b"".join(iter(lambda: r.read(7777), b"")) == text
    r.close()
    assert raw.was_closed


def test_alternatives_all_wrong_raise_the_first_error(corpus, chains) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecryptionError, match=r"^wrong key or not an encrypted backup \(file f\)$"):
        open_backup_reader(
            open(corpus / "aes128" / "test_00000.asb", "rb"), chains["wrong"], "f", alternatives=[chains["aes256"]]
        )


@pytest.mark.parametrize("names", [["zstd"], ["zstd", "aes128"]])
def test_every_cut_of_a_compressed_file_is_an_error(names: list[str], rt: Runtime) -> None:
    """A cut anywhere (inside the AES header, a zstd header, a block, the checksum) is reported;
    no prefix of the file ever decodes as if it were whole."""
    transforms = [rt.transform(n, TransformOptions(key=bytes(16) if n.startswith("aes") else None)) for n in names]
    text = b"Version 3.1\n# namespace test\n" + bytes(range(256)) * 4
    sink = Closing()
    with open_backup_writer(sink, transforms) as w:
        w.write(text)
    data = sink.getvalue()
    for cut in range(len(data)):
        with pytest.raises((FormatError, DecryptionError)):
            open_backup_reader(io.BytesIO(data[:cut]), transforms, "cut.asb").read()
    assert open_backup_reader(io.BytesIO(data), transforms, "whole.asb").read() == text


def test_round_trip_property() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    rt = Runtime.from_plugins([zstd, aes])

    @settings(max_examples=60, deadline=None)
    @given(
        body=st.binary(max_size=5000),
        chunk=st.integers(1, 3000),
        read=st.integers(1, 3000),
        names=st.sampled_from([["zstd"], ["aes256"], ["zstd", "aes128"]]),
    )
    def check(body: bytes, chunk: int, read: int, names: list[str]) -> None:
        key = {"aes128": bytes(16), "aes256": bytes(32)}
        transforms = [rt.transform(n, TransformOptions(key=key.get(n))) for n in names]
        text = b"Version 3.1\n" + body
        sink = Closing()
        with open_backup_writer(sink, transforms) as w:
            for i in range(0, len(text), chunk):
                w.write(text[i : i + chunk])
        r = open_backup_reader(io.BytesIO(sink.getvalue()), transforms, "p.asb")
        assert b"".join(iter(lambda: r.read(read), b"")) == text

    check()
