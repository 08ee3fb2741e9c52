"""AES-128/256 in CTR mode, byte-compatible with asbackup and backup-go (asb-format §12.3).

File layout: ``E_K(X) ‖ AES-CTR_K(counter = X+1)(plaintext)``. The first 16 bytes are the
initial counter block ``X`` encrypted as one ECB block; the data counter starts at ``X+1`` and
is a 128-bit big-endian integer that carries across all 16 bytes (OpenSSL's CTR does the same,
so a file past 2^32 or 2^64 blocks stays compatible). ``X`` is chosen as asbackup does: the Unix
time in bytes 0-3, random bytes 4-15.

Both directions stream: CTR needs no padding and no look-ahead, so memory is bounded by the
caller's read and write sizes. The key arrives already derived (``aerobackup.keys``); it is
never logged, put in an error or shown by ``repr``.
"""

from __future__ import annotations

import io
import os
import struct
import time
from typing import Any, BinaryIO, cast

from aerobackup import hookimpl
from aerobackup.errors import ConfigError, FormatError, KeySourceError
from aerobackup.hookspecs import RegisterTransform
from aerobackup.protocols import Transform, TransformOptions
from aerobackup.streams import read_full

from ._streams import ReaderBase, source_name

__all__ = ["HEADER_SIZE", "AesCtrTransform", "register_transforms"]

HEADER_SIZE = 16
_MASK128 = (1 << 128) - 1


class AesCtrTransform:
    """``aes128`` or ``aes256``. ``iv`` fixes X for tests (the header is then predictable)."""

    kind = "encryption"

    def __init__(self, name: str, key: bytes, *, iv: bytes | None = None) -> None:
        size = {"aes128": 16, "aes256": 32}[name]
        if len(key) != size:
            raise ConfigError("encryption.key", f"{name} needs a {size}-byte key (got {len(key)} bytes)")
        if iv is not None and len(iv) != HEADER_SIZE:
            raise ConfigError("encryption.iv", f"must be 16 bytes (got {len(iv)})")
        self.name = name
        self._key = bytes(key)
        self._iv = iv

    def __repr__(self) -> str:
        return f"AesCtrTransform({self.name!r})"

    def new_iv(self) -> bytes:
        """X as asbackup draws it: 32-bit big-endian Unix time, then 12 random bytes."""
        return struct.pack(">I", int(time.time()) & 0xFFFFFFFF) + os.urandom(12)

    def wrap_writer(self, sink: BinaryIO) -> BinaryIO:
        iv = self._iv if self._iv is not None else self.new_iv()
        return cast(BinaryIO, _AesWriter(sink, self._key, iv))

    def wrap_reader(self, source: BinaryIO) -> BinaryIO:
        return cast(BinaryIO, _AesReader(source, self._key, self.name))

    def resume_writer(self, sink: BinaryIO, iv: bytes, position: int) -> BinaryIO:
        """Continue a stream begun by ``wrap_writer`` (a resumed backup appending to its file):
        no new header, the keystream picks up at plaintext byte ``position``. ``iv`` and
        ``position`` are the ``iv`` and ``position`` attributes of the interrupted writer."""
        if len(iv) != HEADER_SIZE or position < 0:
            raise ConfigError("encryption.iv", "resume needs the 16-byte IV and a non-negative position")
        return cast(BinaryIO, _AesWriter(sink, self._key, iv, position=position))


def _cipher(key: bytes, counter: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CTR(counter))


def _ecb(key: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB())


def _plus_one(block: bytes) -> bytes:
    return ((int.from_bytes(block, "big") + 1) & _MASK128).to_bytes(16, "big")


class _AesWriter(io.BufferedIOBase):
    """Writes the header at once (as asbackup does, even for an empty stream), then CTR data.

    ``iv`` (X) and ``position`` (plaintext bytes written) are what a resumed run needs to
    continue the same keystream (asbackup saves the same two facts in its state file)."""

    def __init__(self, sink: BinaryIO, key: bytes, iv: bytes, *, position: int | None = None) -> None:
        super().__init__()
        self._sink = sink
        self.name = source_name(sink)
        self.iv = iv
        self.position = position or 0
        counter = _plus_one(iv)
        if position is None:
            header = _ecb(key).encryptor()
            sink.write(header.update(iv) + header.finalize())
        else:
            blocks, partial = divmod(position, 16)
            counter = ((int.from_bytes(counter, "big") + blocks) & _MASK128).to_bytes(16, "big")
        self._enc = _cipher(key, counter).encryptor()
        if position is not None and partial:
            self._enc.update(bytes(partial))  # skip the used part of the current keystream block
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a closed AES writer")
        self._sink.write(self._enc.update(data))
        self.position += len(data)
        return len(data)

    def flush(self) -> None:
        if not self._done:
            self._sink.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            tail = self._enc.finalize()  # CTR keeps no partial block back: always empty
            if tail:
                self._sink.write(tail)
        finally:
            self._done = True
            try:
                self._sink.close()
            finally:
                super().close()


class _AesReader(ReaderBase):
    """Reads the 16-byte header lazily (on the first read), then decrypts as it goes."""

    def __init__(self, source: BinaryIO, key: bytes, mode: str) -> None:
        super().__init__()
        self._source = self._inner = source
        self._key = key
        self._mode = mode
        self.name = source_name(source)
        self._dec: Any = None  # a cryptography CipherContext once the header is read

    def _start(self) -> None:
        header = read_full(self._source, HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            raise FormatError(
                f"too short for an {self._mode} backup: only {len(header)} bytes were found, "
                f"but the initial counter block needs {HEADER_SIZE}",
                file=self.name,
            )
        ecb = _ecb(self._key).decryptor()
        iv = ecb.update(header) + ecb.finalize()
        self._dec = _cipher(self._key, _plus_one(iv)).decryptor()

    def read(self, size: int | None = -1) -> bytes:
        if self._dec is None:
            self._start()
        if size is None or size < 0:
            return self._dec.update(self._source.read())  # type: ignore[no-any-return]
        return self._dec.update(read_full(self._source, size))  # type: ignore[no-any-return]

    def read1(self, size: int = -1) -> bytes:
        if self._dec is None:
            self._start()
        if size < 0:
            size = io.DEFAULT_BUFFER_SIZE
        read1 = getattr(self._source, "read1", self._source.read)
        return self._dec.update(read1(size))  # type: ignore[no-any-return]


def _factory(name: str):  # type: ignore[no-untyped-def]
    def factory(options: TransformOptions) -> Transform:
        if options.key is None:
            raise KeySourceError(f"{name} encryption needs a key (set a key file, variable or secret)")
        return AesCtrTransform(name, options.key)

    return factory


@hookimpl
def register_transforms(register: RegisterTransform) -> None:
    register("aes128", _factory("aes128"))
    register("aes256", _factory("aes256"))
