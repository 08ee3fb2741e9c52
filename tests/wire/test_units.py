"""Pieces of the data path checked against independent peers: the official client's expression
compiler, base64 bitmaps built by hand, the spec's sindex-list examples, bcrypt vectors."""

from __future__ import annotations

import base64

import pytest
from aerobackup.cluster import parse_sindex_list
from aerobackup.model import IndexType, SIndexDataType
from aerobackup.wire import expressions as ex
from aerobackup.wire.connection import hash_password
from aerobackup.wire.partitions import PartitionMap, decode_bitmap, parse_replicas


@pytest.fixture(scope="module")
def client_b64():  # type: ignore[no-untyped-def]
    """The official client's expression compiler (offline: no server needed)."""
    aerospike = pytest.importorskip("aerospike")
    client = aerospike.client({"hosts": [("127.0.0.1", 1)], "fail_if_not_connected": False, "timeout": 100})

    def compile_(expr: object) -> bytes:
        return base64.b64decode(client.get_expression_base64(expr.compile()))  # type: ignore[attr-defined]

    yield compile_
    client.close()


def test_expressions_match_the_official_client(client_b64) -> None:  # type: ignore[no-untyped-def]
    from aerospike_helpers.expressions import base as e

    lut = 1_577_836_800_000_000_000
    assert ex.ge(ex.last_update_time(), lut) == client_b64(e.GE(e.LastUpdateTime(), lut))
    assert ex.lt(ex.last_update_time(), 5) == client_b64(e.LT(e.LastUpdateTime(), 5))
    assert ex.eq(ex.void_time(), 0) == client_b64(e.Eq(e.VoidTime(), 0))
    assert ex.eq(ex.set_name(), "a" * 40) == client_b64(e.Eq(e.SetName(), "a" * 40))
    assert ex.eq(ex.set_name(), "é" * 200) == client_b64(e.Eq(e.SetName(), "é" * 200))
    combined = ex.scan_filter(set_names=["a", "bb"], modified_after_ns=7, modified_before_ns=2**40,
                              no_ttl_only=True)
    expected = client_b64(e.And(
        e.GE(e.LastUpdateTime(), 7), e.LT(e.LastUpdateTime(), 2**40), e.Eq(e.VoidTime(), -1),
        e.Or(e.Eq(e.SetName(), "a"), e.Eq(e.SetName(), "bb")),
    ))
    assert combined == expected


def test_user_filter_is_anded_first(client_b64) -> None:  # type: ignore[no-untyped-def]
    from aerospike_helpers.expressions import base as e

    user = client_b64(e.GT(e.IntBin("x"), -1))
    got = ex.scan_filter(user=user, no_ttl_only=True)
    assert got == client_b64(e.And(e.GT(e.IntBin("x"), -1), e.Eq(e.VoidTime(), -1)))
    assert ex.scan_filter(user=user) == user
    assert ex.scan_filter(set_names=["only"]) is None  # one set travels as the SET field


def _bitmap(partitions: set[int]) -> str:
    raw = bytearray(512)
    for p in partitions:
        raw[p >> 3] |= 0x80 >> (p & 7)
    return base64.b64encode(bytes(raw)).decode()


def test_bitmap_decoding() -> None:
    every = "/" * 682 + "8="  # what a real one-node server sends (wire-protocol §2.2)
    assert decode_bitmap(every) == list(range(4096))
    some = {0, 7, 8, 1975, 4095}
    assert decode_bitmap(_bitmap(some)) == sorted(some)
    with pytest.raises(ValueError, match="684"):
        decode_bitmap("AAAA")


def test_replicas_map_across_nodes() -> None:
    a = set(range(0, 4096, 2))
    b = set(range(1, 4096, 2))
    pm = PartitionMap()
    pm.add_node("A", parse_replicas(f"test:0,2,{_bitmap(a)},{_bitmap(b)};bar:0,1,{_bitmap(a | b)}"))
    pm.add_node("B", parse_replicas(f"test:0,2,{_bitmap(b)},{_bitmap(a)}"))
    assert pm.owner("test", 10) == "A" and pm.owner("test", 11) == "B"
    assert pm.owner("bar", 11) == "A" and pm.owner("nosuch", 1) is None
    # A higher regime wins over a stale claim (strong consistency).
    pm.add_node("C", parse_replicas(f"test:5,1,{_bitmap({10})}"))
    pm.add_node("A", parse_replicas(f"test:0,1,{_bitmap({10})}"))
    assert pm.owner("test", 10) == "C"


def test_sole_owner_only_when_one_node_has_every_partition() -> None:
    everything = set(range(4096))
    pm = PartitionMap()
    pm.add_node("A", parse_replicas(f"test:0,1,{_bitmap(everything)};bar:0,1,{_bitmap(everything - {7})}"))
    assert pm.sole_owner("test") == "A"
    assert pm.sole_owner("bar") is None  # partition 7 has no owner: writes route per record
    assert pm.sole_owner("nosuch") is None
    pm.add_node("B", parse_replicas(f"test:0,1,{_bitmap({5})}"))  # the answer follows the map
    assert pm.sole_owner("test") is None and pm.owner("test", 5) == "B"


def test_sindex_list_b64_answer() -> None:
    # The spec's observed answer (wire-protocol §2.3), with b64=true for the context.
    value = (
        "ns=test:indexname=idx_ps_i:set=ps:bin=i:type=numeric:indextype=default:context=null:exp=null:state=RW;"
        "ns=test:indexname=idx_l:set=null:bin=l:type=numeric:indextype=list:context=kiKiA3M=:exp=null:state=RW;"
        "ns=test:indexname=idx_e:set=s:bin=null:type=numeric:indextype=default:context=null:exp=kwGTUQKhYQU=:state=RW;"
        "ns=test:indexname=idx_set:set=s:indextype=set"
    )
    got = parse_sindex_list(value)
    assert [i.name for i in got] == ["idx_ps_i", "idx_l", "idx_e"]
    assert got[0].set == "ps" and got[0].bin == "i" and got[0].data_type is SIndexDataType.NUMERIC
    assert got[0].context is None and got[0].expression is None
    assert got[1].set == "" and got[1].index_type is IndexType.LIST and got[1].context == "kiKiA3M="
    assert got[2].expression == "kwGTUQKhYQU=" and got[2].context is None
    assert parse_sindex_list("") == []


def test_login_credential_vector() -> None:
    # wire-protocol §3.2 observed vector.
    assert hash_password("admin123") == b"$2a$10$7EqJtq98hPqEX7fNZaFWoOd5BXlkGtHsRBbBFt0GD8lpSO9FFUQWi"
