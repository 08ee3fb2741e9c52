"""Independent peers on the command line: the ``zstd`` tool and ``openssl`` read what we write,
and write what we read (skipped where the tools are not installed)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from aerobackup.keys import derive_aes_key
from aerobackup.plugins.transforms.aes import AesCtrTransform
from aerobackup.plugins.transforms.zstd import ZstdTransform

from ._helpers import Closing

TEXT = b"Version 3.1\n# namespace test\n" + os.urandom(3000).hex().encode() + b"\n"

needs_zstd = pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd command not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


def run(*cmd: str, data: bytes = b"") -> bytes:
    return subprocess.run(cmd, input=data, capture_output=True, check=True, timeout=30).stdout


@needs_zstd
def test_zstd_tool_reads_our_frames_and_we_read_its() -> None:
    sink = Closing()
    w = ZstdTransform(19).wrap_writer(sink)
    w.write(TEXT)
    w.close()
    ours = sink.getvalue()
    assert run("zstd", "-d", "-c", data=ours + ours) == TEXT + TEXT  # concatenated frames, checksummed
    theirs = run("zstd", "-c", "-3", "--no-check", data=TEXT) + run("zstd", "-c", "--check", data=TEXT)
    assert ZstdTransform().wrap_reader(Closing(theirs)).read() == TEXT + TEXT


@needs_openssl
@pytest.mark.parametrize("mode", ["aes128", "aes256"])
def test_openssl_decrypts_our_files(mode: str) -> None:
    key = os.urandom(16 if mode == "aes128" else 32)
    x = bytes.fromhex("0102030405060708ffffffffffffffff")  # the +1 carries into the high half
    sink = Closing()
    w = AesCtrTransform(mode, key, iv=x).wrap_writer(sink)
    w.write(TEXT)
    w.close()
    data = sink.getvalue()
    bits = len(key) * 8
    header = run("openssl", "enc", f"-aes-{bits}-ecb", "-nopad", "-K", key.hex(), data=x)
    assert data[:16] == header
    counter = (int.from_bytes(x, "big") + 1).to_bytes(16, "big").hex()
    plain = run("openssl", "enc", "-d", f"-aes-{bits}-ctr", "-K", key.hex(), "-iv", counter, data=data[16:])
    assert plain == TEXT


@needs_openssl
@pytest.mark.parametrize(
    "rel", ["backup-go/pkey_test", "aerospike-tools-backup/test_key.pem", "asbackup-4.5.8/key.pem"]
)
def test_openssl_derives_the_same_key(rel: str, conformance_dir: Path) -> None:
    """PKCS#1 DER as OpenSSL writes it (``openssl rsa -traditional``), hashed: the C tools' key."""
    path = conformance_dir / rel
    der = run("openssl", "rsa", "-in", str(path), "-traditional", "-outform", "DER")
    assert derive_aes_key(path.read_bytes(), "aes256", source=rel) == hashlib.sha256(der).digest()
