"""The data path against the emulator, with the official client as the independent peer.

Records written by the official client (and raw particles the client cannot make, through the
emulator's ``put_raw``) must come back from our scan with their exact particle types and bytes;
records written by our batch writer must read back through the official client with equal
values, ordered maps/lists keeping their flags and language blobs their types.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import Any

import aerospike
import msgpack
import pytest
from aerobackup.cluster import Cluster
from aerobackup.config import ClusterConfig, RetryPolicy
from aerobackup.datapath import (
    ExistsPolicy,
    GenerationPolicy,
    PartitionCursor,
    PartitionsDone,
    ScanRequest,
    WritePolicy,
)
from aerobackup.errors import ClusterError
from aerobackup.model import CITRUSLEAF_EPOCH, ParticleType, Record, RecordBatch, RecordBatchBuilder, UserKey
from aerospike_helpers import cdt_ctx  # noqa: F401 - imported for the helpers' side effects

ALL = tuple(PartitionCursor(p) for p in range(4096))
FAST_RETRY = RetryPolicy(base_timeout_ms=1, max_retries=3)


@pytest.fixture
def cluster(aerospike_server: Any, aerospike_client: Any) -> Iterator[Cluster]:
    seed = f"{aerospike_server.host}:{aerospike_server.port}"
    c = Cluster.from_client(aerospike_client, ClusterConfig(hosts=(seed,)))
    yield c
    c.close()


def _scan(cluster: Cluster, **kw: Any) -> tuple[dict[bytes, Record], list[int]]:
    kw.setdefault("partitions", ALL)
    records: dict[bytes, Record] = {}
    done: list[int] = []
    for item in cluster.scan(ScanRequest(namespace=kw.pop("namespace", "test"), **kw)):
        if isinstance(item, RecordBatch):
            item.check()
            for rec in item.records():
                assert rec.digest not in records, "a record came back twice"
                records[rec.digest] = rec
        else:
            assert isinstance(item, PartitionsDone)
            done.extend(item.partitions)
    return records, done


def _msgpack_str(s: str) -> str:
    return "\x03" + s  # strings inside lists/maps carry the STRING particle type (§5.6)


# -- scan: every particle type, exact -----------------------------------------------------------


def test_scan_returns_every_particle_type_exactly(aerospike_server: Any, aerospike_client: Any,
                                                   cluster: Cluster) -> None:
    client = aerospike_client
    key = ("test", "types", "k1")
    client.put(key, {
        "i": -5, "f": 1.5, "s": "héllo", "b": b"\x00\x01", "t": True,
        "l": [1, "a"], "m": {"k": 1},
        "om": aerospike.KeyOrderedDict({"b": 1, "a": 2}),
        "g": aerospike.GeoJSON({"type": "Point", "coordinates": [1.5, 2.0]}),
    }, policy={"key": aerospike.POLICY_KEY_SEND, "ttl": 3600})
    # Types the client cannot write: language blobs, a string with a NUL and bad UTF-8.
    raw_bins = [(f"x{pt}", pt, b"\xac\xed" + bytes([pt])) for pt in range(7, 13)]
    raw_bins += [("nul", 3, b"a\x00b"), ("bad", 3, b"\xff\xfeok"), ("h", 18, bytes.fromhex("0108") + bytes(256)),
                 ("ol", 20, bytes.fromhex("94c70001010203"))]
    raw_digest = aerospike_server.put_raw("test", "types", 77, raw_bins, store_key=False, generation=4)

    records, done = _scan(cluster)
    assert sorted(done) == list(range(4096))
    digest = aerospike.calc_digest(*key)
    assert set(records) == {bytes(digest), raw_digest}

    rec = records[bytes(digest)]
    bins = {b.name: (b.particle_type, b.data) for b in rec.bins}
    assert bins["i"] == (ParticleType.INTEGER, struct.pack(">q", -5))
    assert bins["f"] == (ParticleType.FLOAT, struct.pack(">d", 1.5))
    assert bins["s"] == (ParticleType.STRING, "héllo".encode())
    assert bins["b"] == (ParticleType.BLOB, b"\x00\x01")
    assert bins["t"] == (ParticleType.BOOL, b"\x01")
    assert bins["l"] == (ParticleType.LIST, msgpack.packb([1, _msgpack_str("a")]))
    assert bins["m"] == (ParticleType.MAP, msgpack.packb({_msgpack_str("k"): 1}))
    assert bins["om"] == (ParticleType.MAP, bytes.fromhex("83c70001c0a2036102a2036201"))  # §5.6 example
    assert bins["g"][0] == ParticleType.GEOJSON and bins["g"][1].endswith(b'"coordinates": [1.5, 2.0]}')
    # Everything equals what the server stores, byte for byte.
    stored = aerospike_server.get_raw("test", digest=bytes(digest))
    assert sorted(bins.items()) == sorted((n, (pt, v)) for n, pt, v in stored.bins)
    assert rec.key == UserKey(ParticleType.STRING, b"k1") and rec.set == "types"
    assert rec.generation == stored.generation == 1
    expected_void = int(time.time()) - CITRUSLEAF_EPOCH + 3600
    assert abs(rec.void_time - expected_void) <= 5

    raw = records[raw_digest]
    assert raw.key is None and raw.generation == 4 and raw.void_time == 0
    assert [(b.name, b.particle_type, b.data) for b in raw.bins] == raw_bins


def test_scan_options(aerospike_server: Any, aerospike_client: Any, cluster: Cluster) -> None:
    for i in range(40):
        aerospike_client.put(("test", "a" if i % 2 else "b", i), {"x": i, "y": str(i)},
                             policy={"ttl": 1000 if i % 4 == 0 else -1})
    aerospike_client.put(("test", "c", 1), {"x": 1})
    one_set, _ = _scan(cluster, set_names=("a",))
    assert len(one_set) == 20 and {r.set for r in one_set.values()} == {"a"}
    two_sets, _ = _scan(cluster, set_names=("a", "b"))
    assert len(two_sets) == 40
    binsel, _ = _scan(cluster, set_names=("a",), bin_names=("y",))
    assert {b.name for r in binsel.values() for b in r.bins} == {"y"}
    nobins, _ = _scan(cluster, set_names=("a",), no_bins=True)
    assert len(nobins) == 20 and all(not r.bins for r in nobins.values())
    no_ttl, _ = _scan(cluster, set_names=("b",), no_ttl_only=True)
    assert len(no_ttl) == 10 and all(r.void_time == 0 for r in no_ttl.values())
    limited, done = _scan(cluster, max_records=7)
    assert len(limited) == 7
    future = (int(time.time()) + 3600) * 10**9
    assert _scan(cluster, modified_after_ns=future)[0] == {}
    assert len(_scan(cluster, modified_before_ns=future)[0]) == 41


def test_scan_resumes_after_a_digest(aerospike_server: Any, cluster: Cluster) -> None:
    # Five records in one partition: resuming after the second yields the last three.
    digests = [bytes([0x11, 0x00]) + bytes([i]) * 18 for i in (0x50, 0x40, 0x30, 0x20, 0x10)]
    for d in digests:
        aerospike_server.put_raw("test", "r", digest=d, bins=[("v", 1, bytes(8))])
    (p,) = {(d[0] | d[1] << 8) & 4095 for d in digests}
    records, done = _scan(cluster, partitions=(PartitionCursor(p, digests[1]),))
    assert sorted(records, reverse=True) == digests[2:] and done == [p]


# -- writes: raw particles in, official client values out ------------------------------------


def _batch(records: list[tuple[str, Any, list[tuple[str, int, bytes]], int]]) -> RecordBatch:
    b = RecordBatchBuilder("test")
    for set_name, key, bins, generation in records:
        digest = bytes(aerospike.calc_digest("test", set_name, bytearray(key) if isinstance(key, bytes) else key))
        user_key = None
        if key is not None and not isinstance(key, tuple):
            if isinstance(key, int):
                user_key = UserKey(1, struct.pack(">q", key))
            elif isinstance(key, str):
                user_key = UserKey(3, key.encode())
            else:
                user_key = UserKey(4, bytes(key))
        b.add_record(set_name, digest, user_key, generation, 0)
        for name, pt, data in bins:
            b.add_bin(name, pt, data)
    return b.finish()


def test_written_records_read_back_through_the_official_client(aerospike_server: Any, aerospike_client: Any,
                                                               cluster: Cluster) -> None:
    ordered_map = bytes.fromhex("83c70001c0a2036102a2036201")  # {"a": 2, "b": 1}, key-ordered
    ordered_list = bytes.fromhex("94c70001010203")  # [1, 2, 3], ordered
    geo = b"\x00\x00\x00" + b'{"type": "Point", "coordinates": [1.5, 2.0]}'
    bins = [
        ("i", 1, struct.pack(">q", -7)), ("f", 2, struct.pack(">d", -0.0)), ("s", 3, "ünï".encode()),
        ("b", 4, b"\x00\xff"), ("t", 17, b"\x00"), ("l", 20, msgpack.packb([1, _msgpack_str("z")])),
        ("m", 19, msgpack.packb({_msgpack_str("k"): [1, 2]})), ("om", 19, ordered_map),
        ("ol", 20, ordered_list), ("g", 23, geo),
    ] + [(f"x{pt}", pt, b"lang" + bytes([pt])) for pt in range(7, 13)]
    batch = _batch([("w", "k-str", bins, 1), ("w", 42, bins[:2], 1), ("w", b"\x01\x02", bins[:1], 1),
                    ("w", "no-key", bins[:3], 1)])
    batch.keys[3] = None  # a record without a stored user key: written by digest only
    codes = cluster.write(batch, [-1, 3600, 0, -1], WritePolicy())
    assert codes == [0, 0, 0, 0]

    _, meta, got = aerospike_client.get(("test", "w", "k-str"))
    assert got["i"] == -7 and got["s"] == "ünï" and got["b"] == b"\x00\xff" and got["t"] is False
    assert struct.pack(">d", got["f"]) == struct.pack(">d", -0.0)
    assert got["l"] == [1, "z"] and got["m"] == {"k": [1, 2]}
    assert isinstance(got["om"], aerospike.KeyOrderedDict) and dict(got["om"]) == {"a": 2, "b": 1}
    assert got["ol"] == [1, 2, 3]
    assert isinstance(got["g"], aerospike.GeoJSON) and got["g"].dumps().startswith('{"type": "Point"')
    assert isinstance(got["x9"], bytearray) and bytes(got["x9"]) == b"lang\x09"  # python blob stays recognisable
    assert got["x7"] == b"lang\x07"
    # The client cannot show blob subtypes or order flags; the stored particles can.
    stored = {n: (pt, v) for n, pt, v in aerospike_server.get_raw("test", "w", "k-str").bins}
    for name, pt, data in bins:
        assert stored[name][0] == pt, name
        if pt != 23:  # the server adds a cell id to GeoJSON
            assert stored[name][1] == data, name
    assert stored["ol"][1][:4] == bytes.fromhex("94c70001")

    assert meta["ttl"] in (aerospike.TTL_NEVER_EXPIRE, 0xFFFFFFFF, -1)
    assert 3590 <= aerospike_client.get(("test", "w", 42))[1]["ttl"] <= 3600
    keyed = aerospike_server.get_raw("test", "w", 42)
    assert keyed.key == (1, struct.pack(">q", 42))
    assert aerospike_server.get_raw("test", "w", b"\x01\x02").key == (4, b"\x01\x02")
    assert aerospike_server.get_raw("test", "w", "no-key").key is None
    assert aerospike_client.get(("test", "w", "no-key"))[2]["s"] == "ünï"


@pytest.mark.parametrize("use_batch", [True, False])
def test_write_policies_by_effect(aerospike_server: Any, aerospike_client: Any, cluster: Cluster,
                                  use_batch: bool) -> None:
    def put(key: str, gen: int) -> None:
        aerospike_server.put_raw("test", "p", key, [("a", 1, struct.pack(">q", 1)), ("b", 1, struct.pack(">q", 2))],
                                 generation=gen)

    for k in ("older", "newer", "ignored", "exists", "replace", "update"):
        put(k, 5)
    c_bin = [("c", 1, struct.pack(">q", 3))]
    batch = _batch([("p", "older", c_bin, 3), ("p", "newer", c_bin, 9), ("p", "fresh", c_bin, 1)])
    assert cluster.write(batch, [0] * 3, WritePolicy(use_batch=use_batch)) == [3, 0, 0]
    assert aerospike_client.get(("test", "p", "older"))[2] == {"a": 1, "b": 2}  # skipped: newer exists
    assert aerospike_client.get(("test", "p", "newer"))[2] == {"a": 1, "b": 2, "c": 3}

    ignore = WritePolicy(generation=GenerationPolicy.IGNORE, use_batch=use_batch)
    assert cluster.write(_batch([("p", "ignored", c_bin, 1)]), [0], ignore) == [0]
    assert aerospike_client.get(("test", "p", "ignored"))[2]["c"] == 3

    create = WritePolicy(exists=ExistsPolicy.CREATE_ONLY, use_batch=use_batch)
    assert cluster.write(_batch([("p", "exists", c_bin, 9), ("p", "brand-new", c_bin, 1)]), [0, 0], create) == [5, 0]
    assert aerospike_client.get(("test", "p", "exists"))[2] == {"a": 1, "b": 2}

    replace = WritePolicy(exists=ExistsPolicy.REPLACE, use_batch=use_batch)
    assert cluster.write(_batch([("p", "replace", c_bin, 9)]), [0], replace) == [0]
    assert aerospike_client.get(("test", "p", "replace"))[2] == {"c": 3}
    assert cluster.write(_batch([("p", "update", c_bin, 9)]), [0], WritePolicy(use_batch=use_batch)) == [0]
    assert aerospike_client.get(("test", "p", "update"))[2] == {"a": 1, "b": 2, "c": 3}


def test_transient_codes_are_retried_permanent_ones_not(aerospike_server: Any, aerospike_client: Any,
                                                         cluster: Cluster) -> None:
    bins = [("v", 1, struct.pack(">q", 1))]
    batch = _batch([("e", "busy", bins, 1), ("e", "long", [("sixteen-chars-xx", 1, bytes(8))], 1)])
    busy = batch.digests[0]
    aerospike_server.faults.error(14, digests=[busy], times=2)  # key busy twice, then fine
    before = aerospike_server.stats["batch"]  # (faults.requests also counts the client's tending)
    codes = cluster.write(batch, [0, 0], WritePolicy(retry=FAST_RETRY))
    assert codes == [0, 21]  # 21: bin name too long, permanent
    assert aerospike_server.stats["batch"] - before == 3
    assert aerospike_client.get(("test", "e", "busy"))[2] == {"v": 1}

    aerospike_server.faults.error(18, digests=[busy])  # device overload forever
    codes = cluster.write(_batch([("e", "busy", bins, 9)]), [0], WritePolicy(retry=FAST_RETRY))
    assert codes == [18]

    aerospike_server.faults.clear()
    aerospike_server.faults.error(13, digests=[busy])  # record too big: never retried
    before = aerospike_server.stats["batch"]
    assert cluster.write(_batch([("e", "busy", bins, 9)]), [0], WritePolicy(retry=FAST_RETRY)) == [13]
    assert aerospike_server.stats["batch"] - before == 1


def test_unknown_namespace_is_a_clear_error(cluster: Cluster) -> None:
    batch = _batch([("x", "k", [("v", 1, bytes(8))], 1)])
    batch.namespace = "nosuch"
    with pytest.raises(ClusterError, match="namespace 'nosuch' is not in the cluster"):
        cluster.write(batch, [0], WritePolicy())
    with pytest.raises(ClusterError, match="namespace 'nosuch' is not in the cluster") as info:
        _scan(cluster, namespace="nosuch")
    assert info.value.code == 20


# -- metadata ------------------------------------------------------------------------------------


def test_metadata_round_trip(aerospike_client: Any, cluster: Cluster) -> None:
    from aerobackup.model import UDF, IndexType, SIndex, SIndexDataType

    assert cluster.namespaces() == ["test", "bar"]
    assert cluster.info("build").count(".") >= 2
    index = SIndex(namespace="test", set="m", name="idx_m", index_type=IndexType.LIST, bin="l",
                   data_type=SIndexDataType.NUMERIC)
    ctx_index = SIndex(namespace="test", set="", name="idx_ctx", index_type=IndexType.DEFAULT, bin="m",
                       data_type=SIndexDataType.STRING, context="kiKiA3M=")
    cluster.create_sindex(index)
    cluster.create_sindex(ctx_index)
    got = {i.name: i for i in cluster.sindexes("test")}
    assert got["idx_m"] == index and got["idx_ctx"] == ctx_index
    udf = UDF("dp_mod.lua", b"function f(r)\n  return 1\nend\n")
    cluster.put_udf(udf)
    assert udf in cluster.udfs()
    assert "dp_mod.lua" in {u["name"] for u in aerospike_client.udf_list()}


def test_login_to_a_community_server_is_refused_clearly(aerospike_server: Any) -> None:
    seed = f"{aerospike_server.host}:{aerospike_server.port}"
    config = ClusterConfig(hosts=(seed,), user="admin", password="admin123")
    with pytest.raises(ClusterError, match=f"{seed}: login refused: security is not supported"):
        Cluster.connect(config, use_client=False)


def test_cluster_is_a_record_source_and_sink(cluster: Cluster) -> None:
    from aerobackup.datapath import RecordSink, RecordSource

    assert isinstance(cluster, RecordSource) and isinstance(cluster, RecordSink)


def test_expression_index_round_trip(aerospike_client: Any, cluster: Cluster) -> None:
    import base64

    from aerobackup.model import IndexType, SIndex, SIndexDataType
    from aerospike_helpers.expressions import arithmetic, base

    exp = aerospike_client.get_expression_base64(arithmetic.Add(base.IntBin("i"), 1).compile())
    index = SIndex(namespace="test", set="x", name="idx_exp", index_type=IndexType.DEFAULT, bin="",
                   data_type=SIndexDataType.NUMERIC, expression=exp)
    cluster.create_sindex(index)
    (got,) = [i for i in cluster.sindexes("test") if i.name == "idx_exp"]
    assert got.expression is not None and base64.b64decode(got.expression) == base64.b64decode(exp)
    assert got.context is None and got.set == "x" and got.data_type is SIndexDataType.NUMERIC
