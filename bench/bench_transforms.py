"""zstd / AES throughput through the transform plugins vs the libraries called directly.

For each transform and direction, the same buffer (ASB text: the asbackup corpus file repeated)
goes through (a) the plugin's ``wrap_writer`` / ``wrap_reader`` (and the core's
``open_backup_reader`` for reads: plugin + head check), and (b) ``zstandard`` / ``cryptography``
called directly with the same chunk size. Prints MB/s of plaintext and the overhead of (a) over
(b) in the same run; best of ``--repeat`` runs. Target: overhead <= 10 %.

    .venv/bin/python bench/bench_transforms.py [--mb 32] [--chunk 65536] [--repeat 9]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

import zstandard
from aerobackup.plugins.transforms.aes import AesCtrTransform
from aerobackup.plugins.transforms.zstd import ZstdTransform
from aerobackup.transforms_chain import open_backup_reader
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY = {"aes128": bytes(range(16)), "aes256": bytes(range(32))}
IV = bytes.fromhex("00112233445566778899aabbccddeeff")


class Null(io.RawIOBase):
    """A sink that counts bytes and keeps none."""

    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        self.n += len(b)
        return len(b)


def asb_like(size: int) -> bytes:
    """ASB-shaped text with random digests and values (compresses about 2-3x, like real backups;
    a repeated file would compress to nothing and flatter zstd)."""
    import base64
    import random

    rnd = random.Random(7)
    out = [b"Version 3.1\n# namespace test\n# first-file\n"]
    total = 0
    while total < size:
        digest = base64.b64encode(rnd.randbytes(20))
        text = rnd.randbytes(12).hex().encode()
        rec = (
            b"+ k S 8 user%04d\n+ n test\n+ d %s\n+ s demo\n+ g 1\n+ t 0\n+ b 3\n"
            b"- I count %d\n- S name %d %s\n- D score %r\n"
            % (rnd.randrange(10000), digest, rnd.randrange(1 << 40), len(text), text, rnd.random())
        )
        out.append(rec)
        total += len(rec)
    return b"".join(out)[:size]


def pair(plugin: Callable[[], object], library: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best times of the two, run alternately so both see the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((plugin, times[0]), (library, times[1])):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(times[0]), min(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=64 * 1024)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--level", type=int, default=3)
    args = ap.parse_args()
    data = asb_like(args.mb * 2**20)
    chunk, n = args.chunk, len(data)
    view = memoryview(data)
    pieces = [view[i : i + chunk] for i in range(0, n, chunk)]
    rows: list[tuple[str, float, float]] = []

    # --- zstd -------------------------------------------------------------------------------
    zt = ZstdTransform(args.level)
    compressed = zstandard.ZstdCompressor(level=args.level, write_checksum=True).compress(data)

    def z_write_plugin() -> None:
        w = zt.wrap_writer(Null())  # type: ignore[arg-type]
        for p in pieces:
            w.write(p)
        w.close()

    def z_write_lib() -> None:
        c = zstandard.ZstdCompressor(level=args.level, write_checksum=True).compressobj()
        for p in pieces:
            c.compress(p)
        c.flush()

    def z_read_plugin() -> None:
        r = zt.wrap_reader(io.BytesIO(compressed))
        while r.read(chunk):
            pass

    def z_read_chain() -> None:
        r = open_backup_reader(io.BytesIO(compressed), [zt], "bench.asb")
        while r.read(chunk):
            pass

    def z_read_lib() -> None:
        r = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed), read_across_frames=True)
        while r.read(chunk):
            pass

    rows.append(("zstd write", *pair(z_write_plugin, z_write_lib, args.repeat)))
    rows.append(("zstd read", *pair(z_read_plugin, z_read_lib, args.repeat)))
    rows.append(("zstd read (chain+check)", *pair(z_read_chain, z_read_lib, args.repeat)))

    # --- AES-CTR ----------------------------------------------------------------------------
    for mode in ("aes128", "aes256"):
        key = KEY[mode]
        at = AesCtrTransform(mode, key, iv=IV)
        counter = (int.from_bytes(IV, "big") + 1).to_bytes(16, "big")
        enc_body = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor().update(data)
        encrypted = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(IV) + enc_body

        def a_write_plugin(at: AesCtrTransform = at) -> None:
            w = at.wrap_writer(Null())  # type: ignore[arg-type]
            for p in pieces:
                w.write(p)
            w.close()

        def a_write_lib(key: bytes = key, counter: bytes = counter) -> None:
            Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(IV)
            e = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
            for p in pieces:
                e.update(p)
            e.finalize()

        def a_read_plugin(at: AesCtrTransform = at, encrypted: bytes = encrypted) -> None:
            r = at.wrap_reader(io.BytesIO(encrypted))
            while r.read(chunk):
                pass

        def a_read_chain(at: AesCtrTransform = at, encrypted: bytes = encrypted) -> None:
            r = open_backup_reader(io.BytesIO(encrypted), [at], "bench.asb")
            while r.read(chunk):
                pass

        def a_read_lib(key: bytes = key, encrypted: bytes = encrypted) -> None:
            src = io.BytesIO(encrypted)
            d = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
            x = d.update(src.read(16))
            c = (int.from_bytes(x, "big") + 1).to_bytes(16, "big")
            dec = Cipher(algorithms.AES(key), modes.CTR(c)).decryptor()
            while b := src.read(chunk):
                dec.update(b)

        rows.append((f"{mode} write", *pair(a_write_plugin, a_write_lib, args.repeat)))
        rows.append((f"{mode} read", *pair(a_read_plugin, a_read_lib, args.repeat)))
        rows.append((f"{mode} read (chain+check)", *pair(a_read_chain, a_read_lib, args.repeat)))

    print(f"{n / 2**20:.0f} MiB of ASB text, chunks of {chunk} bytes, zstd level {args.level}, best of {args.repeat}")
    print(f"{'transform':28} {'plugin MB/s':>12} {'library MB/s':>13} {'overhead':>9}")
    for name, plugin, lib in rows:
        print(f"{name:28} {n / plugin / 1e6:12.1f} {n / lib / 1e6:13.1f} {(plugin / lib - 1) * 100:8.1f}%")


if __name__ == "__main__":
    main()
