"""Test support shipped to users: the Aerospike server emulator (issue 4), in-memory fakes and
the contract suites plugin authors run against their own plugins."""

from __future__ import annotations

from ._store import CL_EPOCH, Clock
from ._streams import ROW_PARSER
from .cluster import EmulatedCluster
from .faults import Faults
from .process import EmulatorProcess
from .server import Emulator, RawRecord, key_digest

__all__ = [
    "CL_EPOCH",
    "ROW_PARSER",
    "Clock",
    "EmulatedCluster",
    "Emulator",
    "EmulatorProcess",
    "Faults",
    "RawRecord",
    "key_digest",
]
