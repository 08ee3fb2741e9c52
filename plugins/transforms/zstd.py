"""zstd compression, compatible with asbackup ``-z zstd`` and backup-go (asb-format §12.4).

Writing: one zstd frame per stream (a resumed backup appends another frame to the same file),
level 1-22 (default 3), with a content checksum so a damaged file is detected on read (the C
and Go readers verify checksums when present).

Reading: every frame to the end of the stream — asbackup ends a file with an empty frame and a
resumed backup appends frames — with memory bounded by the read size. ``zstandard``'s streaming
reader returns silently at the end of a cut-off file, so a small frame walker follows the
compressed bytes as they pass (frame and block headers only, no decoding) and turns an
unfinished frame at end of input into a clear error.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from aerobackup import hookimpl
from aerobackup.errors import ConfigError, FormatError
from aerobackup.hookspecs import RegisterTransform
from aerobackup.protocols import Transform, TransformOptions

from ._streams import ReaderBase, source_name

__all__ = ["DEFAULT_LEVEL", "ZSTD_MAGIC", "FrameWalker", "ZstdTransform", "register_transforms"]

DEFAULT_LEVEL = 3
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_SIZE = 128 * 1024


class ZstdTransform:
    """The ``zstd`` transform. ``checksum`` adds zstd's 32-bit content checksum to each frame."""

    name = "zstd"
    kind = "compression"

    def __init__(self, level: int | None = None, *, checksum: bool = True) -> None:
        level = DEFAULT_LEVEL if level is None or level == 0 else level
        if not 1 <= level <= 22:
            raise ConfigError("compression.level", f"must be 1 to 22 (got {level})")
        self.level = level
        self.checksum = checksum

    def __repr__(self) -> str:
        return f"ZstdTransform(level={self.level})"

    def wrap_writer(self, sink: BinaryIO) -> BinaryIO:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=self.level, write_checksum=self.checksum)
        # closefd: closing the writer ends the frame, then closes the sink
        return cast(BinaryIO, compressor.stream_writer(sink, closefd=True))

    def wrap_reader(self, source: BinaryIO) -> BinaryIO:
        return cast(BinaryIO, _ZstdReader(source))


class FrameWalker:
    """Follows zstd framing (RFC 8878) over bytes fed in order, without decoding.

    ``complete`` is true between frames; ``error`` names the first framing problem seen.
    Skippable frames are stepped over.
    """

    __slots__ = ("_need", "_pending", "_state", "_skip", "_checksum", "frames", "error", "offset")

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._pending = b""
        self._skip = 0
        self._checksum = False
        self.frames = 0
        self.error: str | None = None
        self.offset = 0  # compressed bytes seen

    @property
    def complete(self) -> bool:
        return self._state == "magic" and not self._pending and self._skip == 0

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return
        view = memoryview(data)
        pos, end = 0, len(view)
        self.offset += end
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            want = self._need - len(self._pending)
            chunk = bytes(view[pos : pos + want])
            pos += len(chunk)
            if len(chunk) < want:
                self._pending += chunk
                return
            head, self._pending = self._pending + chunk, b""
            self._step(head)
            if self.error is not None:
                return

    def _step(self, head: bytes) -> None:
        state = self._state
        if state == "magic":
            if head == ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif head[1:] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50:
                self._state, self._need = "skippable", 4
            else:
                self.error = f"not a zstd frame (frame {self.frames + 1} starts with {head.hex()})"
        elif state == "descriptor":
            fhd = head[0]
            single = (fhd >> 5) & 1
            fcs_flag = fhd >> 6
            fcs = (1 if single else 0, 2, 4, 8)[fcs_flag]
            did = (0, 1, 2, 4)[fhd & 3]
            self._checksum = bool((fhd >> 2) & 1)
            if fhd & 0x08:
                self.error = f"bad zstd frame header (frame {self.frames + 1}, reserved bit set)"
                return
            self._skip = (0 if single else 1) + did + fcs
            self._state, self._need = "block", 3
        elif state == "block":
            value = head[0] | head[1] << 8 | head[2] << 16
            last, btype, size = value & 1, (value >> 1) & 3, value >> 3
            if btype == 3:
                self.error = f"bad zstd block (frame {self.frames + 1}, reserved block type)"
                return
            self._skip = 1 if btype == 1 else size
            if last:
                self._end_frame()
        elif state == "skippable":
            self._skip = int.from_bytes(head, "little")
            self._state, self._need = "magic", 4
            self.frames += 1

    def _end_frame(self) -> None:
        self._skip += 4 if self._checksum else 0
        self._state, self._need = "magic", 4
        self.frames += 1


class _Tap:
    """The compressed source as zstandard reads it, shown to a FrameWalker on the way."""

    __slots__ = ("_source", "walker")

    def __init__(self, source: BinaryIO, walker: FrameWalker) -> None:
        self._source = source
        self.walker = walker

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self.walker.feed(data)
        return data

    def close(self) -> None:
        self._source.close()


class _ZstdReader(ReaderBase):
    def __init__(self, source: BinaryIO) -> None:
        import zstandard

        super().__init__()
        self.name = source_name(source)
        self._source = source
        self._walker = FrameWalker()
        self._tap = _Tap(source, self._walker)
        self._zstd_error = zstandard.ZstdError
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, self._tap), read_size=_READ_SIZE, read_across_frames=True, closefd=True
        )
        self._inner = self._reader
        self._eof = False

    def _fail(self, message: str) -> FormatError:
        return FormatError(f"zstd: {message}", file=self.name, offset=self._walker.offset)

    def _finish(self) -> bytes:
        """At end of input: the last frame must be complete, and there must be one frame."""
        self._eof = True
        walker = self._walker
        if walker.error is not None:
            raise self._fail(walker.error)
        if not walker.complete:
            raise self._fail("truncated file: the last frame ends before its end mark")
        if walker.frames == 0:
            raise self._fail("empty input (no zstd frame)")
        return b""

    def read(self, size: int | None = -1) -> bytes:
        if self._eof:
            return b""
        try:
            if size is None or size < 0:
                parts = []
                while chunk := self._reader.read(_READ_SIZE):
                    parts.append(chunk)
                self._finish()
                return b"".join(parts)
            if size == 0:
                return b""
            data: bytes = self._reader.read(size)
            if 0 < len(data) < size:  # a frame boundary: fill up, as a buffered read should
                parts = [data]
                got = len(data)
                while got < size and (more := self._reader.read(size - got)):
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
        except self._zstd_error as exc:
            raise self._fail(self._walker.error or _plain(exc)) from None
        if not data:
            return self._finish()
        return data

    def read1(self, size: int = -1) -> bytes:
        if self._eof:
            return b""
        try:
            data: bytes = self._reader.read(_READ_SIZE if size < 0 else size)
        except self._zstd_error as exc:
            raise self._fail(self._walker.error or _plain(exc)) from None
        return data if data or size == 0 else self._finish()


def _plain(exc: Exception) -> str:
    text = str(exc)
    return text.removeprefix("zstd decompress error: ") or type(exc).__name__


def _factory(options: TransformOptions) -> Transform:
    return ZstdTransform(options.level)


@hookimpl
def register_transforms(register: RegisterTransform) -> None:
    register("zstd", _factory)
