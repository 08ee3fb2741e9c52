"""The partition map: which node masters each of the 4096 partitions of each namespace.

Built from every node's ``replicas`` info answer (wire-protocol.md §2.2): per namespace a
regime, a replica count and one base64 bitmap per replica column; column 0 (the master) is
what scans and writes route by.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

__all__ = ["PARTITIONS", "PartitionMap", "decode_bitmap", "parse_replicas"]

PARTITIONS = 4096


def decode_bitmap(text: str) -> list[int]:
    """Partition ids set in a 684-character base64 bitmap (bit ``0x80 >> (p & 7)`` of byte ``p >> 3``)."""
    if len(text) != 684:
        raise ValueError(f"replicas bitmap is {len(text)} characters, expected 684")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"replicas bitmap is not base64: {exc}") from None
    out: list[int] = []
    for byte_index, value in enumerate(raw):
        if value:
            base = byte_index << 3
            out.extend(base + bit for bit in range(8) if value & (0x80 >> bit))
    return out


def parse_replicas(value: str) -> dict[str, tuple[int, list[list[int]]]]:
    """``ns:regime,n,b64,...;ns2:...`` → {namespace: (regime, [partitions of column 0, column 1, ...])}."""
    out: dict[str, tuple[int, list[list[int]]]] = {}
    for entry in value.strip().split(";"):
        if not entry:
            continue
        ns, sep, rest = entry.partition(":")
        if not sep:
            raise ValueError(f"bad replicas entry {entry[:40]!r}")
        items = rest.split(",")
        if len(items) >= 3 and len(items[1]) < 4 and len(items[0]) < 11:  # regime, n, bitmaps…
            regime, count, maps = int(items[0]), int(items[1]), items[2:]
        else:  # replicas-all form without a regime
            regime, count, maps = 0, int(items[0]), items[1:]
        if len(maps) != count:
            raise ValueError(f"replicas for {ns!r} lists {len(maps)} bitmaps, expected {count}")
        out[ns] = (regime, [decode_bitmap(m) for m in maps])
    return out


class PartitionMap:
    """Master node name per partition, per namespace. Higher regimes win (SC namespaces)."""

    def __init__(self) -> None:
        self.owners: dict[str, list[str | None]] = {}
        self._regimes: dict[str, list[int]] = {}
        self._sole: dict[str, str | None] = {}

    def add_node(self, node: str, replicas: Mapping[str, tuple[int, list[list[int]]]]) -> None:
        self._sole.clear()
        for ns, (regime, columns) in replicas.items():
            owners = self.owners.setdefault(ns, [None] * PARTITIONS)
            regimes = self._regimes.setdefault(ns, [-1] * PARTITIONS)
            if not columns:
                continue
            for p in columns[0]:
                if regime >= regimes[p]:
                    owners[p] = node
                    regimes[p] = regime

    def owner(self, namespace: str, partition: int) -> str | None:
        owners = self.owners.get(namespace)
        return owners[partition] if owners is not None else None

    def sole_owner(self, namespace: str) -> str | None:
        """The node owning every partition of the namespace (a one-node cluster), else None."""
        if namespace not in self._sole:
            owners = set(self.owners.get(namespace, (None,)))
            self._sole[namespace] = owners.pop() if len(owners) == 1 else None
        return self._sole[namespace]

    def namespaces(self) -> list[str]:
        return list(self.owners)
