"""Single-record commands through the official client against the emulator (issue 4)."""

from __future__ import annotations

import math
import struct

import aerospike
import pytest
from aerobackup.testing import CL_EPOCH, Emulator, key_digest
from aerospike import exception as ex
from aerospike_helpers import HyperLogLog
from aerospike_helpers.expressions import base as exp
from aerospike_helpers.operations import expression_operations as expop
from aerospike_helpers.operations import list_operations as lop
from aerospike_helpers.operations import operations as op

KEY = ("test", "demo", "k1")


def test_put_get_every_client_type(aerospike_client, aerospike_server: Emulator) -> None:
    bins = {
        "i": -(2**63),
        "f": -0.0,
        "s": "héllo",
        "b": b"\x00\x01\xff",
        "t": True,
        "l": [1, "x", 2.5, b"\x01", [None]],
        "m": {"a": 1, "b": [1, 2]},
        "km": aerospike.KeyOrderedDict({"z": 1, "a": 2}),
        "g": aerospike.GeoJSON({"type": "Point", "coordinates": [1.5, 2.5]}),
        "h": HyperLogLog(b"\x00\x08\x00" + bytes(200)),
    }
    aerospike_client.put(KEY, bins)
    _key, meta, got = aerospike_client.get(KEY)
    assert meta["gen"] == 1
    assert got["i"] == -(2**63)
    assert struct.pack(">d", got["f"]) == struct.pack(">d", -0.0)
    assert got["s"] == "héllo" and got["b"] == b"\x00\x01\xff" and got["t"] is True
    assert got["l"] == [1, "x", 2.5, b"\x01", [None]]
    assert got["m"] == {"a": 1, "b": [1, 2]}
    assert isinstance(got["km"], aerospike.KeyOrderedDict) and dict(got["km"]) == {"a": 2, "z": 1}
    assert got["g"].unwrap() == {"type": "Point", "coordinates": [1.5, 2.5]}
    assert isinstance(got["h"], HyperLogLog) and bytes(got["h"]) == b"\x00\x08\x00" + bytes(200)
    raw = aerospike_server.get_raw("test", "demo", "k1")
    assert raw is not None
    types = {name: ptype for name, ptype, _v in raw.bins}
    assert types == {"i": 1, "f": 2, "s": 3, "b": 4, "t": 17, "l": 20, "m": 19, "km": 19, "g": 23, "h": 18}
    geo = dict((n, v) for n, _p, v in raw.bins)["g"]
    # the server adds one covering cell (S2 leaf cell of the point), as observed on CE 8.1.2.0
    assert geo[:11] == bytes.fromhex("000001101b4a5f93e10dd1")
    km = dict((n, v) for n, _p, v in raw.bins)["km"]
    assert km == bytes.fromhex("83c70001c0a2036102a2037a01")  # flag ext kept, keys sorted


def test_raw_particles_round_trip_byte_for_byte(aerospike_client, aerospike_server: Emulator) -> None:
    blobs = [(f"p{t}", t, bytes([t, 0xAA])) for t in range(7, 13)]
    digest = aerospike_server.put_raw("test", "raw", "r1", blobs + [("nan", 2, bytes.fromhex("7ff8000000000001"))])
    assert digest == bytes(aerospike.calc_digest("test", "raw", "r1"))
    _k, _m, got = aerospike_client.get(("test", "raw", "r1"))
    assert got["p7"] == b"\x07\xaa" and isinstance(got["p9"], bytearray)
    assert math.isnan(got["nan"])
    # BinType read through an expression sees the language-blob subtypes the client hides
    ops = [expop.expression_read(f"t{t}", exp.BinType(f"p{t}").compile()) for t in range(7, 13)]
    _k, _m, types = aerospike_client.operate(("test", "raw", "r1"), ops)
    assert [types[f"t{t}"] for t in range(7, 13)] == [7, 8, 9, 10, 11, 12]


def test_record_metadata_by_expression(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_server.clock.freeze(CL_EPOCH + 500_000_000.25)
    aerospike_client.put(KEY, {"a": 1}, policy={"ttl": 500})
    ops = [
        expop.expression_read("lut", exp.LastUpdateTime().compile()),
        expop.expression_read("vt", exp.VoidTime().compile()),
        expop.expression_read("ke", exp.KeyExists().compile()),
    ]
    _k, _m, got = aerospike_client.operate(KEY, ops)
    assert got["lut"] == (CL_EPOCH + 500_000_000) * 10**9 + 250_000_000
    assert got["vt"] == (CL_EPOCH + 500_000_500) * 10**9
    assert got["ke"] is False


def test_generation_policies(aerospike_client) -> None:
    aerospike_client.put(KEY, {"v": 1})
    aerospike_client.put(KEY, {"v": 2}, meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_EQ})
    with pytest.raises(ex.RecordGenerationError) as err:
        aerospike_client.put(KEY, {"v": 3}, meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_EQ})
    assert err.value.code == 3
    with pytest.raises(ex.RecordGenerationError):
        aerospike_client.put(KEY, {"v": 3}, meta={"gen": 2}, policy={"gen": aerospike.POLICY_GEN_GT})
    aerospike_client.put(KEY, {"v": 4}, meta={"gen": 9}, policy={"gen": aerospike.POLICY_GEN_GT})
    _k, meta, bins = aerospike_client.get(KEY)
    assert (meta["gen"], bins) == (3, {"v": 4})
    with pytest.raises(ex.RecordGenerationError):
        aerospike_client.remove(KEY, meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_EQ})


def test_exists_policies(aerospike_client) -> None:
    create = {"exists": aerospike.POLICY_EXISTS_CREATE}
    aerospike_client.put(KEY, {"a": 1, "b": 2}, policy=create)
    with pytest.raises(ex.RecordExistsError) as err:
        aerospike_client.put(KEY, {"a": 1}, policy=create)
    assert err.value.code == 5
    missing = ("test", "demo", "nope")
    for policy in (aerospike.POLICY_EXISTS_UPDATE, aerospike.POLICY_EXISTS_REPLACE):
        with pytest.raises(ex.RecordNotFound):
            aerospike_client.put(missing, {"a": 1}, policy={"exists": policy})
    aerospike_client.put(KEY, {"c": 3}, policy={"exists": aerospike.POLICY_EXISTS_CREATE_OR_REPLACE})
    assert aerospike_client.get(KEY)[2] == {"c": 3}
    aerospike_client.put(KEY, {"d": 4}, policy={"exists": aerospike.POLICY_EXISTS_UPDATE})
    assert aerospike_client.get(KEY)[2] == {"c": 3, "d": 4}


def test_ttl_expiry_follows_the_clock(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_client.put(KEY, {"a": 1}, policy={"ttl": 100})
    aerospike_client.put(("test", "demo", "forever"), {"a": 1}, policy={"ttl": aerospike.TTL_NEVER_EXPIRE})
    _k, meta, _b = aerospike_client.get(KEY)
    assert 98 <= meta["ttl"] <= 100
    aerospike_client.put(KEY, {"a": 2}, policy={"ttl": aerospike.TTL_DONT_UPDATE})
    assert 98 <= aerospike_client.get(KEY)[1]["ttl"] <= 100
    aerospike_server.clock.advance(101)
    with pytest.raises(ex.RecordNotFound):
        aerospike_client.get(KEY)
    assert aerospike_client.get(("test", "demo", "forever"))[1]["ttl"] == 4294967295
    rows = aerospike_client.query("test", "demo").results()
    assert [r[2] for r in rows] == [{"a": 1}]


def test_operate_and_bin_delete(aerospike_client) -> None:
    aerospike_client.put(KEY, {"i": 1, "s": "a", "l": [1]})
    _k, meta, got = aerospike_client.operate(
        KEY,
        [op.increment("i", 5), op.append("s", "bc"), op.prepend("s", "z"), lop.list_append("l", 7),
         op.read("i"), op.read("s")],
    )  # fmt: skip
    assert got == {"i": 6, "s": "zabc", "l": 2} and meta["gen"] == 2
    with pytest.raises(ex.BinIncompatibleType) as err:
        aerospike_client.increment(KEY, "s", 1)
    assert err.value.code == 12
    aerospike_client.put(KEY, {"s": None})
    assert aerospike_client.get(KEY)[2] == {"i": 6, "l": [1, 7]}
    aerospike_client.touch(KEY, 50)
    assert aerospike_client.get(KEY)[1]["gen"] == 4
    aerospike_client.remove_bin(KEY, ["i", "l"])  # last bins gone: the record is gone
    with pytest.raises(ex.RecordNotFound):
        aerospike_client.get(KEY)


def test_key_send_is_stored_and_mismatch_refused(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_client.put(("test", "demo", 42), {"a": 1}, policy={"key": aerospike.POLICY_KEY_SEND})
    raw = aerospike_server.get_raw("test", "demo", 42)
    assert raw is not None and raw.key == (1, (42).to_bytes(8, "big"))
    digest = key_digest("demo", 42)
    other = ("test", "demo", None, bytearray(digest))
    aerospike_client.put(other, {"a": 2})  # by digest only: the stored key stays
    assert aerospike_server.get_raw("test", digest=digest).key == (1, (42).to_bytes(8, "big"))


def test_truncate(aerospike_client, aerospike_server: Emulator) -> None:
    # client.truncate() itself is not used: the 19.3.0 client holds the request until its info
    # timeout expires (seen against the emulator, cause in the client), so the same info commands
    # go through the client's info path, which parses the replies.
    for i in range(20):
        aerospike_client.put(("test", "a", i), {"v": i})
        aerospike_client.put(("test", "b", i), {"v": i})
    reply = aerospike_client.info_all("truncate:namespace=test;set=a")
    assert list(reply.values()) == [(None, "ok\n")]
    assert len(aerospike_server.records("test", "a")) == 0
    assert len(aerospike_server.records("test", "b")) == 20
    aerospike_client.info_all("truncate-namespace:namespace=test")
    assert aerospike_server.records("test") == []
    aerospike_client.put(("test", "a", 1), {"v": 1})
    assert len(aerospike_client.query("test", "a").results()) == 1
    with pytest.raises(ex.InvalidRequest) as err:
        aerospike_client.info_random_node("truncate:namespace=test")
    assert err.value.code == 4 and "missing 'set'" in err.value.msg


def test_unknown_namespace_and_bin_name_limits(aerospike_client) -> None:
    with pytest.raises(ex.NamespaceNotFound) as err:
        aerospike_client.put(("nosuch", "demo", 1), {"a": 1})
    assert err.value.code == 20
    with pytest.raises(ex.BinNameError) as err2:
        aerospike_client.put(KEY, {"b" * 16: 1})
    assert err2.value.code == 21


def test_hll_operations(aerospike_client, aerospike_server: Emulator) -> None:
    from aerospike_helpers.operations import hll_operations as hll

    names = [f"user{i}" for i in range(500)]
    _k, _m, got = aerospike_client.operate(
        KEY, [hll.hll_init("h", 12, 0), hll.hll_add("h", names), hll.hll_get_count("h")]
    )
    assert 480 <= got["h"] <= 520  # HyperLogLog estimate of 500 distinct values
    raw = aerospike_server.get_raw("test", "demo", "k1")
    assert raw is not None and raw.bins[0][1] == 18 and len(raw.bins[0][2]) == 11 + 6 * 4096 // 8
    _k, _m, again = aerospike_client.operate(KEY, [hll.hll_add("h", names[:10])])
    assert again["h"] == 0  # nothing new: no register changed


def test_list_set_order_makes_an_ordered_list(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_client.operate(KEY, [op.write("l", [3, 1, 2]), lop.list_set_order("l", aerospike.LIST_ORDERED)])
    raw = aerospike_server.get_raw("test", "demo", "k1")
    assert raw is not None and raw.bins == [("l", 20, bytes.fromhex("94c70001010203"))]
    assert aerospike_client.get(KEY)[2] == {"l": [1, 2, 3]}
