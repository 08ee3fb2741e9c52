"""ASB, the text backup format of asbackup/asrestore (asb-format.md): the ``asb`` codec.

The encoder writes what asbackup 4.5.8 writes, byte for byte; the decoder reads what asrestore
4.5.8 reads (plus backup-go's version 3.2 and ``* e`` expression-index lines) with the C
reader's error texts. The work is in ``asb_encode`` (``encode_batch``) and ``asb_decode``
(``parse_records_fast`` and the C-exact reader).

Expression indexes (server 8.1+) cannot be put in a file C asrestore reads without breaking it,
so ``metadata`` leaves them out and ``expression_metadata`` returns them as a separate
``Version 3.2`` file in backup-go's form (asb-format.md §5.3); see docs/codecs.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import BinaryIO

from aerobackup.hookspecs import RegisterCodec, hookimpl
from aerobackup.model import UDF, RecordBatch, SIndex
from aerobackup.protocols import DecoderOptions, EncoderOptions

from .asb_decode import AsbDecoder, ValidationCounts
from .asb_decode import validate as _validate
from .asb_encode import encode_batch, encode_batch_sizes, expression_index_lines, header, sindex_line, udf_line

__all__ = [
    "AsbDecoder",
    "AsbEncoder",
    "ValidationCounts",
    "expression_metadata_name",
    "register_codecs",
    "validate",
]


class AsbEncoder:
    """Writes ASB text. ``options.compact`` writes blob-like values raw (asbackup ``--compact``)."""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()
        self.compact = self.options.compact

    def header(self, namespace: str, first_file: bool) -> bytes:
        return header(namespace, first_file)

    def metadata(self, sindexes: Iterable[SIndex], udfs: Iterable[UDF]) -> bytes:
        """Sindex lines, then UDF lines, as C writes them. Expression indexes are left out:
        write them with ``expression_metadata`` into their own file."""
        lines = [sindex_line(i) for i in sindexes if i.expression is None]
        lines += [udf_line(u) for u in udfs]
        return b"".join(lines)

    def expression_metadata(self, namespace: str, sindexes: Iterable[SIndex]) -> bytes:
        """A whole ``Version 3.2`` metadata file holding the expression indexes in backup-go's
        ``* e`` form, or ``b""`` when there are none. Name it ``expression_metadata_name``."""
        body = expression_index_lines(sindexes)
        if not body:
            return b""
        return b"Version 3.2\n" + header(namespace, False)[len(b"Version 3.1\n") :] + body

    def encode(self, batch: RecordBatch) -> bytes:
        # no cycles are made here; keep the cyclic GC from walking a big heap mid-batch
        gc_on = gc.isenabled()
        if gc_on:
            gc.disable()
        try:
            return encode_batch(batch, self.compact)
        finally:
            if gc_on:
                gc.enable()

    def encode_with_sizes(self, batch: RecordBatch) -> tuple[bytes, list[int]]:
        """``encode`` plus each record's byte length (optional capability: the backup splits
        the bytes at record boundaries to rotate files without encoding record by record)."""
        gc_on = gc.isenabled()
        if gc_on:
            gc.disable()
        try:
            return encode_batch_sizes(batch, self.compact)
        finally:
            if gc_on:
                gc.enable()


def expression_metadata_name(namespace: str, number: int = 1) -> str:
    """backup-go's metadata file name, ``metadata_<ns>_<n>.asb`` (asb-format.md §2.2)."""
    return f"metadata_{namespace}_{number}.asb"


def validate(stream: BinaryIO, options: DecoderOptions | None = None) -> ValidationCounts:
    """Decode a whole ASB stream and count records, sindexes, UDFs (``restore --validate``).

    Raises ``FormatError`` exactly where decoding would."""
    return _validate(stream, options)


@hookimpl
def register_codecs(register: RegisterCodec) -> None:
    register("asb", AsbEncoder, AsbDecoder, suffix=".asb")
