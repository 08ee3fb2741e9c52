"""Backup size estimate: sample N records, predict the size with a confidence bound.

As asbackup ``--estimate`` does (source: aerospike/aerospike-tools-backup src/backup.c
``estimate_total_backup_size``, ``show_estimate``; src/utils.c ``confidence_z``): the records
of a scan capped at ``estimate_samples`` are encoded one by one; the mean and sample variance of
their sizes give an upper bound of the mean record size at 99.9999 % confidence, and the total
is ``header + records * (ratio * mean + z * sqrt(variance / n))`` with z for 99.9 % confidence
spread over the record count, ``ratio`` being what the transforms (compression) make of the
sampled bytes.
"""

from __future__ import annotations

import io
import math
import statistics
from dataclasses import dataclass
from typing import BinaryIO, cast

from .backup import list_nodes as _list_nodes
from .backup import scan_request, slice_batch
from .config import BackupConfig
from .datapath import PartitionCursor, RecordSource
from .protocols import EncoderOptions
from .runtime import Runtime
from .tasks import build_transforms, wrap_writer

__all__ = ["BackupEstimate", "confidence_z", "estimate", "record_count"]

#: asbackup's confidence for the total (BACKUP_FILE_ESTIMATE_CONFIDENCE_LEVEL).
TOTAL_CONFIDENCE = 0.999
#: asbackup's confidence for the mean record size.
RECORD_CONFIDENCE = 0.999999


def confidence_z(p: float, n_records: int) -> float:
    """z of the upper bound that holds for all ``n_records`` at once with probability ``p``."""
    q = (1.0 - p) / max(1, n_records)
    return -statistics.NormalDist().inv_cdf(q)


@dataclass(frozen=True, slots=True)
class BackupEstimate:
    """What a backup would write. Sizes are bytes after the configured transforms."""

    samples: int
    records: int | None  # records to back up (None: the source cannot count them)
    mean_record_size: float  # encoded, before transforms
    record_size_upper: int  # upper bound of the mean record size (99.9999 %)
    header_size: int
    compression_ratio: float  # stored bytes / encoded bytes of the sample
    total_bytes: int | None  # upper bound of the backup size (99.9 %)
    confidence: float = TOTAL_CONFIDENCE


def _info_field(answer: str, name: str) -> int | None:
    for part in answer.replace(":", ";").split(";"):
        key, _, value = part.partition("=")
        if key.strip() == name and value.strip().isdigit():
            return int(value)
    return None


def record_count(source: RecordSource, config: BackupConfig) -> int | None:
    """Records in the namespace (or its listed sets): the source's own count if it has one,
    else the sum over nodes of ``master_objects`` (``objects`` of each set) from info."""
    counter = getattr(source, "record_count", None)
    if counter is not None:
        return int(counter(config.namespace))
    info = getattr(source, "info", None)
    nodes = _list_nodes(source)
    if info is None or nodes is None:
        return None
    total = 0
    for node in nodes:
        name = str(getattr(node, "name", node))
        if config.set_list:
            for set_name in config.set_list:
                total += _info_field(info(f"sets/{config.namespace}/{set_name}", node=name), "objects") or 0
        else:
            value = _info_field(info(f"namespace/{config.namespace}", node=name), "master_objects")
            if value is None:
                return None
            total += value
    return total


def estimate(source: RecordSource, rt: Runtime, config: BackupConfig) -> BackupEstimate:
    """Sample ``config.estimate_samples`` records of the namespace and predict the backup size."""
    encoder = rt.encoder(config.encoder, EncoderOptions(compact=config.compact))
    transforms = build_transforms(rt, config.compression, config.encryption, config.secret_agent, "backup")
    want = config.estimate_samples or 10000
    header = encoder.header(config.namespace, True)
    header += encoder.metadata(
        [] if config.no_indexes else source.sindexes(config.namespace), [] if config.no_udfs else source.udfs()
    )
    request = scan_request(config, tuple(PartitionCursor(p) for p in range(4096)), None)
    sizes: list[int] = []
    encoded = bytearray()
    exhausted = True
    for item in source.scan(request):
        if not hasattr(item, "digests"):
            continue
        batch = item
        for i in range(len(batch)):  # type: ignore[arg-type]
            data = encoder.encode(slice_batch(batch, i, i + 1))  # type: ignore[arg-type]
            sizes.append(len(data))
            encoded += data
            if len(sizes) >= want:
                break
        if len(sizes) >= want:
            exhausted = False
            break
    n = len(sizes)
    ratio = 1.0
    if transforms and n:
        sink = io.BytesIO()

        class _Keep(io.BytesIO):
            def close(self) -> None:
                sink.write(self.getvalue())
                super().close()

        keep = _Keep()
        out = wrap_writer(cast(BinaryIO, keep), transforms)
        out.write(header + bytes(encoded))
        out.close()
        ratio = len(sink.getvalue()) / (len(header) + len(encoded))
    if exhausted:
        records: int | None = n
    else:
        records = record_count(source, config)
    mean = statistics.fmean(sizes) if n else 0.0
    variance = statistics.variance(sizes) if n > 1 else 0.0
    upper = math.ceil(mean + confidence_z(RECORD_CONFIDENCE, 1) * math.sqrt(variance / n)) if n > 1 else int(mean)
    total: int | None = None
    if records is not None:
        z = confidence_z(TOTAL_CONFIDENCE, records)
        spread = z * math.sqrt(variance / n) if n else 0.0
        total = len(header) + math.ceil(records * (ratio * mean + spread))
    return BackupEstimate(samples=n, records=records, mean_record_size=mean, record_size_upper=upper,
                          header_size=len(header), compression_ratio=ratio, total_bytes=total)
