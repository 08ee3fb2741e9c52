"""The demo's sample data set: every value type, written the way real data gets written.

Most records go through the official ``aerospike`` client (so they are what a real application
stores); what the client cannot write (language-typed blobs, an HLL particle) is stored as raw
particles in the emulator. ``check_restored`` compares two namespaces record by record: set,
user key, every bin's particle type and bytes, and expiry; and reads the typed records back
through the official client to compare them with the values first written.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sample", "check_restored", "load_sample"]

TYPED_SET = "types"
BULK_SET = "bulk"
RAW_SET = "raw"

_UDF = b"""-- demo UDF module, carried by the backup
function hello(rec, name)
  return "hello " .. name
end
"""


@dataclass
class Sample:
    """What was loaded: the typed records (key -> bins as written) and the counts."""

    namespace: str
    typed: dict[Any, dict[str, Any]] = field(default_factory=dict)
    records: int = 0
    indexes: int = 0
    udfs: int = 0


def _typed_values(aerospike: Any) -> dict[Any, dict[str, Any]]:
    geo = aerospike.GeoJSON({"type": "Point", "coordinates": [-122.41, 37.77]})
    poly = aerospike.GeoJSON({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]})
    ordered = aerospike.KeyOrderedDict({"b": 2, "a": 1, "c": [3]})
    return {
        "int_zero": {"v": 0}, "int_neg": {"v": -1}, "int_max": {"v": 2**63 - 1}, "int_min": {"v": -(2**63)},
        "float_half": {"v": 1.5}, "float_negzero": {"v": -0.0}, "float_inf": {"v": math.inf},
        "float_nan": {"v": math.nan}, "float_tiny": {"v": 5e-324},
        "str_empty": {"v": ""}, "str_utf8": {"v": "héllo wörld ✓ 🎉"}, "str_ctrl": {"v": "line\nbreak\ttab\\"},
        "str_punct": {"v": "a:b, c \"q\""}, "str_long": {"v": "x" * 20000},
        "bytes_empty": {"v": b""}, "bytes_all": {"v": bytes(range(256))}, "bytes_big": {"v": os.urandom(70000)},
        "bool_true": {"v": True}, "bool_false": {"v": False},
        "list_mixed": {"v": [1, "two", 3.0, None, [4, [5]], {"k": b"\x00"}]}, "list_empty": {"v": []},
        "map_str": {"v": {"name": "ada", "langs": ["en", "fr"], "n": 7}}, "map_int": {"v": {1: "one", -2: "neg"}},
        "map_empty": {"v": {}}, "map_ordered": {"v": ordered},
        "geo_point": {"v": geo}, "geo_polygon": {"v": poly},
        "many_bins": {f"b{i}": i for i in range(20)},
        "odd bin names": {"with space": 1, "back\\slash": 2, "new\nline": 3, "ümlaut": 4, "fifteen_chars15": 5},
        12345: {"v": "an integer user key"}, -7: {"v": "a negative integer key"},
        b"\x00\x01bytes key\n": {"v": "a bytes user key"},
    }


def load_sample(client: Any, emulator: Any, namespace: str, records: int) -> Sample:
    """Write the sample into ``namespace``: typed records, ``records`` bulk records, raw
    particles, one secondary index and one UDF module."""
    import aerospike

    sample = Sample(namespace)
    for key, bins in _typed_values(aerospike).items():
        client.put((namespace, TYPED_SET, key), bins, policy={"key": aerospike.POLICY_KEY_SEND})
        sample.typed[key] = bins
    client.put((namespace, TYPED_SET, "ttl_1h"), {"v": "expires in an hour"},
               policy={"key": aerospike.POLICY_KEY_SEND, "ttl": 3600})
    sample.typed["ttl_1h"] = {"v": "expires in an hour"}
    client.put((namespace, TYPED_SET, "no_stored_key"), {"v": "digest only"})
    sample.typed["no_stored_key"] = {"v": "digest only"}
    client.put((namespace, None, "no_set"), {"v": "a record in no set"}, policy={"key": aerospike.POLICY_KEY_SEND})
    n_typed = len(sample.typed) + 1
    bulk_policy = {"key": aerospike.POLICY_KEY_SEND}
    for i in range(records):
        client.put((namespace, BULK_SET, i), {"n": i, "name": f"user-{i}", "score": i / 7.0,
                                              "tags": ["a", "b", i % 5], "blob": i.to_bytes(4, "big")},
                   policy=bulk_policy)
    # what the official client cannot write: language blobs (types 7-12) and an HLL particle
    raw = [(f"lang{t}", t, f"blob of particle type {t}".encode()) for t in (7, 8, 9, 10, 11, 12)]
    emulator.put_raw(namespace, RAW_SET, "language_blobs", raw)
    emulator.put_raw(namespace, RAW_SET, "hll", [("hll", 18, bytes([8, 0]) + bytes(range(64)))])
    sample.records = n_typed + records + 2
    # through the info command: the client's index_*_create polls for the build to finish
    client.info_random_node(f"sindex-create:ns={namespace};set={BULK_SET};indexname=demo_bulk_n;"
                            "indextype=default;indexdata=n,numeric")
    sample.indexes = 1
    # through the info command too: the client's udf_put waits for a propagation check
    content = base64.b64encode(_UDF).decode()
    client.info_random_node(f"udf-put:filename=demo_udf.lua;content={content};content-len={len(content)};"
                            "udf-type=LUA;")
    sample.udfs = 1
    return sample


def _geo(value: Any) -> Any:
    import json

    return json.loads(value.dumps()) if hasattr(value, "dumps") else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "dumps") or hasattr(b, "dumps"):  # aerospike.GeoJSON (class name Geospatial)
        return bool(_geo(a) == _geo(b))
    return bool(a == b)


def check_restored(client: Any, emulator: Any, sample: Sample, destination: str) -> list[str]:
    """Differences between the sample's namespace and ``destination`` (empty: identical)."""
    problems: list[str] = []
    src = {r.digest: r for r in emulator.records(sample.namespace)}
    dst = {r.digest: r for r in emulator.records(destination)}
    if len(src) != len(dst):
        problems.append(f"{len(src)} records in {sample.namespace} but {len(dst)} in {destination}")
    for digest, a in src.items():
        b = dst.get(digest)
        name = f"{a.set_name}/{digest.hex()}"
        if b is None:
            problems.append(f"{name}: missing from {destination}")
            continue
        if (a.set_name, a.key) != (b.set_name, b.key):
            problems.append(f"{name}: set or user key differs")
        if sorted(a.bins) != sorted(b.bins):
            problems.append(f"{name}: bins differ (names, particle types or bytes)")
        if (a.void_time == 0) != (b.void_time == 0) or abs(a.void_time - b.void_time) > 5:
            problems.append(f"{name}: expiry differs ({a.void_time} vs {b.void_time})")
    for key, bins in sample.typed.items():  # read back by an independent peer: the official client
        try:
            _, _, got = client.get((destination, TYPED_SET, key))
        except Exception as exc:  # noqa: BLE001 - reported as a difference
            problems.append(f"{TYPED_SET}/{key!r}: the official client cannot read it back: {exc}")
            continue
        if not _same(dict(bins), dict(got)):
            problems.append(f"{TYPED_SET}/{key!r}: the official client reads back different values")
    return problems
