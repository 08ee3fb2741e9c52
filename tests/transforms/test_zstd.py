"""zstd transform: the real asbackup file, our files read back by zstandard's one-shot
decompressor, concatenated frames, and clear errors for truncated or damaged input."""

from __future__ import annotations

import io
import os

import pytest
import zstandard
from aerobackup import Runtime, TransformOptions
from aerobackup.errors import ConfigError, FormatError
from aerobackup.plugins.transforms import zstd as zstd_plugin
from aerobackup.plugins.transforms.zstd import FrameWalker, ZstdTransform

from ._helpers import Closing, masked_lines

TEXT = b"Version 3.1\n# namespace test\n" + b"".join(
    b"+ n test\n+ d %s\n- I bin %d\n" % (os.urandom(8).hex().encode(), i) for i in range(5000)
)


def compress(data: bytes, level: int | None = None, *, chunk: int = 0) -> bytes:
    sink = Closing()
    w = ZstdTransform(level).wrap_writer(sink)
    if chunk:
        for i in range(0, len(data), chunk):
            w.write(data[i : i + chunk])
    else:
        w.write(data)
    w.close()
    assert sink.closed_flag, "closing the zstd writer must close the sink"
    return sink.getvalue()


def named(data: bytes, name: str = "f.asb") -> io.BytesIO:
    b = io.BytesIO(data)
    b.name = name  # type: ignore[misc]
    return b


def read_all(data: bytes, step: int = 0) -> bytes:
    r = ZstdTransform().wrap_reader(named(data))
    if not step:
        return r.read()
    return b"".join(iter(lambda: r.read(step), b""))


def test_real_asbackup_file(corpus) -> None:  # type: ignore[no-untyped-def]
    raw = (corpus / "zstd" / "test_00000.asb").read_bytes()
    assert raw.endswith(bytes.fromhex("28b52ffd2000010000"))  # asbackup's trailing empty frame
    out = read_all(raw, step=4096)
    plain = (corpus / "plain" / "test_00000.asb").read_bytes()
    assert len(out) == 127_725
    assert masked_lines(out) == masked_lines(plain)
    assert out == zstandard.ZstdDecompressor().decompressobj().decompress(raw[:-9])  # first frame alone


@pytest.mark.parametrize("level", [None, 1, 3, 19, 22])
def test_our_files_read_by_one_shot_decompressor(level: int | None) -> None:
    data = compress(TEXT, level, chunk=10_000)
    assert data[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.ZstdDecompressor().decompress(data, max_output_size=len(TEXT)) == TEXT
    params = zstandard.get_frame_parameters(data)
    assert params.has_checksum


def test_level_changes_output_and_default_is_3() -> None:
    assert ZstdTransform().level == 3 and ZstdTransform(0).level == 3
    assert compress(TEXT, 1) != compress(TEXT, 19)
    assert compress(TEXT) == compress(TEXT, 3)


@pytest.mark.parametrize("level", [-1, 23])
def test_level_out_of_range(level: int) -> None:
    with pytest.raises(ConfigError, match=f"compression.level: must be 1 to 22 \\(got {level}\\)"):
        ZstdTransform(level)


def test_concatenated_frames_as_a_resumed_backup_writes_them() -> None:
    first, second = TEXT[:70_000], TEXT[70_000:]
    data = compress(first) + compress(second) + bytes.fromhex("28b52ffd2000010000")
    assert read_all(data) == TEXT
    assert read_all(data, step=1000) == TEXT


def test_frames_from_the_library_without_content_size_or_checksum() -> None:
    cobj = zstandard.ZstdCompressor(level=5, write_content_size=False, write_checksum=False).compressobj()
    data = cobj.compress(TEXT) + cobj.flush()
    skippable = b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"xyz"
    assert read_all(skippable + data + data) == TEXT + TEXT


def test_streams_with_bounded_reads() -> None:
    big = b"A" * (8 << 20)  # 8 MiB of one byte: compresses to almost nothing
    data = compress(big)
    r = ZstdTransform().wrap_reader(named(data))
    sizes = []
    while chunk := r.read(65_536):
        sizes.append(len(chunk))
    assert sum(sizes) == len(big) and max(sizes) <= 65_536


@pytest.mark.parametrize("cut", [1, 5, 100, -1, -4, -5])
def test_truncated_file_is_an_error(cut: int) -> None:
    data = compress(TEXT)
    cut_data = data[:cut] if cut > 0 else data[:cut]
    with pytest.raises(FormatError, match=r"^cut\.asb: zstd: truncated file"):
        ZstdTransform().wrap_reader(named(cut_data, "cut.asb")).read()


def test_truncated_real_file_is_an_error(corpus) -> None:  # type: ignore[no-untyped-def]
    raw = (corpus / "zstd" / "test_00000.asb").read_bytes()
    with pytest.raises(FormatError, match="truncated file"):
        read_all(raw[:-12], step=8192)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
def test_flipped_byte_in_a_frame_is_an_error(where: float) -> None:
    data = bytearray(compress(TEXT))
    data[int(len(data) * where)] ^= 0x40
    with pytest.raises(FormatError, match=r"^bad\.asb: zstd: "):
        ZstdTransform().wrap_reader(named(bytes(data), "bad.asb")).read()


def test_flipped_frame_header_of_real_file(corpus) -> None:  # type: ignore[no-untyped-def]
    raw = bytearray((corpus / "zstd" / "test_00000.asb").read_bytes())
    raw[2] ^= 0xFF  # damages the magic number
    with pytest.raises(FormatError, match="not a zstd frame"):
        read_all(bytes(raw))


def test_empty_input_is_an_error() -> None:
    with pytest.raises(FormatError, match="empty input"):
        read_all(b"")


def test_closing_reader_closes_source() -> None:
    src = Closing(compress(TEXT))
    r = ZstdTransform().wrap_reader(src)
    r.read(10)
    r.close()
    assert src.closed_flag


def test_frame_walker_follows_real_frames() -> None:
    data = compress(TEXT) + compress(b"")
    walker = FrameWalker()
    for i in range(0, len(data), 7):
        walker.feed(data[i : i + 7])
    assert walker.complete and walker.frames == 2 and walker.error is None


def test_registered_through_the_runtime() -> None:
    rt = Runtime.from_plugins([zstd_plugin])
    t = rt.transform("zstd", TransformOptions(level=9))
    assert t.name == "zstd" and t.level == 9  # type: ignore[attr-defined]


def test_fixed_size_reads_fill_across_frames() -> None:
    data = compress(b"x" * 1000) + compress(b"y" * 1000)
    r = ZstdTransform().wrap_reader(named(data))
    assert r.read(1500) == b"x" * 1000 + b"y" * 500
    assert r.read(1500) == b"y" * 500 and r.read(10) == b""
