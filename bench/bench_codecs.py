"""Benchmark of the ASB codec on one core: encode and decode records/s and MB/s.

Records are shaped like production data: a string user key, a set, 7 bins (two integers, two
strings, a float, a 64-byte blob, a msgpack list and a msgpack map). The baselines, measured in
the same run on the same file, are merely splitting it into lines (``bytes.split`` and
iterating a ``BytesIO``), so the ratios say how far the codec is from "touching every line once".

    python bench/bench_codecs.py                 # 1,000,000 records
    python bench/bench_codecs.py --records 200000 --profile
    AEROBACKUP_PURE_PYTHON=1 python bench/bench_codecs.py   # without the C accelerator
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import struct
import sys
import time

from aerobackup import speedups
from aerobackup.model import RecordBatch, UserKey
from aerobackup.plugins.codecs.asb import AsbDecoder, AsbEncoder
from aerobackup.protocols import DecoderOptions, EncoderOptions

BATCH = 1024


def make_batches(n: int, seed: int = 1) -> list[RecordBatch]:
    rnd = random.Random(seed)
    batches = []
    names = ["id", "count", "name", "email", "score", "blob", "tags", "attrs"]
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        vals: list[bytes] = []
        b = RecordBatch("prod")
        for i in range(start, start + m):
            b.sets.append("users")
            b.digests.append(rnd.randbytes(20))
            b.keys.append(UserKey(3, b"user:%d" % i))
            b.generations.append(rnd.randint(1, 20))
            b.void_times.append(rnd.choice((0, 536452710 + i)))
            name = b"user-%08d" % i
            email = b"someone.%d@example.com" % rnd.randint(0, 10**9)
            tags = b"\x93\xa4\x03red\xa5\x03blue\xcd" + struct.pack(">H", i & 0xFFFF)
            attrs = b"\x82\xa3\x03ab\x01\xa3\x03cd\xcb" + struct.pack(">d", rnd.random())
            row = [
                (1, struct.pack(">q", i)),
                (1, struct.pack(">q", rnd.randint(-(10**6), 10**9))),
                (3, name),
                (3, email),
                (2, struct.pack(">d", rnd.random() * 1000)),
                (4, rnd.randbytes(64)),
                (20, tags),
                (19, attrs),
            ][: 6 + (i % 3)]  # 6 to 8 bins
            for (ptype, data), bname in zip(row, names, strict=False):
                b.bin_names.append(bname)
                b.bin_types.append(ptype)
                vals.append(data)
            b.bin_index.append(len(b.bin_names))
        pos = 0
        for v in vals:
            b.bin_starts.append(pos)
            pos += len(v)
            b.bin_ends.append(pos)
        b.buffer = b"".join(vals)
        batches.append(b)
    return batches


def best_interleaved(fns: list, repeat: int) -> list[float]:  # type: ignore[type-arg]
    """Best CPU time of each function (``process_time``: this process's CPU seconds, so other
    jobs on a shared machine do not count), the runs interleaved."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings")
    ap.add_argument("--compact", action="store_true")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of encode and decode")
    args = ap.parse_args()

    n = args.records
    batches = make_batches(n)
    # a pipeline holds one batch at a time, not a million records: keep the bench's input out
    # of the cyclic GC's way so that it does not tax both sides of the comparison
    gc.freeze()
    enc = AsbEncoder(EncoderOptions(compact=args.compact))
    head = enc.header("prod", True)

    def encode() -> bytes:
        return head + b"".join(enc.encode(b) for b in batches)

    data = encode()
    mb = len(data) / 1e6

    def decode() -> int:
        count = 0
        for item in AsbDecoder(DecoderOptions(batch_size=BATCH)).decode(io.BytesIO(data)):
            count += len(item)  # type: ignore[arg-type]
        return count

    assert decode() == n

    def split_lines() -> int:
        return len(data.split(b"\n"))

    def iterate_lines() -> int:
        count = 0
        for _line in io.BytesIO(data):
            count += 1
        return count

    t_enc, t_dec, t_split, t_iter = best_interleaved([encode, decode, split_lines, iterate_lines], args.repeat)

    print(f"implementation: {speedups.describe()} (AEROBACKUP_PURE_PYTHON=1 for pure Python)")
    print(
        f"python {sys.version.split()[0]}, {n:,} records, {len(data):,} bytes "
        f"({len(data) / n:.0f} B/record), compact={args.compact}, best of {args.repeat}, "
        "per CPU second of one core"
    )
    rows = [
        ("encode", t_enc),
        ("decode", t_dec),
        ("baseline: bytes.split lines", t_split),
        ("baseline: iterate BytesIO lines", t_iter),
    ]
    for label, t in rows:
        print(f"  {label:34s} {n / t:>12,.0f} rec/s {mb / t:>9.1f} MB/s")
    print(
        f"  decode / iterate-lines ratio: {t_dec / t_iter:.1f}x the time; encode / iterate-lines: {t_enc / t_iter:.1f}x"
    )

    if args.profile:
        for label, fn in (("encode", encode), ("decode", decode)):
            prof = cProfile.Profile()
            prof.enable()
            fn()
            prof.disable()
            print(f"\n--- profile: {label}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
