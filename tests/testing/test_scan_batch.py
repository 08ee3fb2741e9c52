"""Partition queries and batch commands through the official client (issue 4, §6, §7)."""

from __future__ import annotations

import aerospike
import pytest
from aerobackup.testing import Emulator, key_digest
from aerospike import exception as ex
from aerospike_helpers.batch import records as br
from aerospike_helpers.expressions import base as exp
from aerospike_helpers.operations import operations as op


def _pid(set_name: str, key: int) -> int:
    d = key_digest(set_name, key)
    return (d[0] | d[1] << 8) & 0xFFF


@pytest.fixture
def hundred(aerospike_client) -> list[int]:
    for i in range(100):
        aerospike_client.put(("test", "s", i), {"i": i, "s": f"v{i}"}, policy={"key": aerospike.POLICY_KEY_SEND})
    aerospike_client.put(("test", "other", 1), {"i": 1})
    return list(range(100))


def test_query_partition_filter_returns_exactly_those_partitions(aerospike_client, hundred) -> None:
    pids = sorted({_pid("s", i) for i in hundred})
    begin = pids[0]
    q = aerospike_client.query("test", "s")
    got = q.results(policy={"partition_filter": {"begin": begin, "count": 1}})
    assert sorted(r[0][2] for r in got) == sorted(i for i in hundred if _pid("s", i) == begin)
    everything = aerospike_client.query("test", "s").results()
    assert sorted(r[0][2] for r in everything) == hundred
    assert aerospike_client.query("test", "nosuchset").results() == []


def test_records_of_a_partition_come_in_descending_digest_order(aerospike_server: Emulator) -> None:
    for k in range(3000):
        aerospike_server.put_raw("test", "o", k, [("v", 1, k.to_bytes(8, "big"))])
    by_pid: dict[int, list[bytes]] = {}
    for rec in aerospike_server.records("test", "o"):
        by_pid.setdefault((rec.digest[0] | rec.digest[1] << 8) & 0xFFF, []).append(rec.digest)
    assert any(len(v) > 2 for v in by_pid.values())
    for digests in by_pid.values():
        assert digests == sorted(digests, reverse=True)


def test_paginate_and_resume_from_partition_status(aerospike_client, hundred) -> None:
    q = aerospike_client.query("test", "s")
    q.max_records = 30
    q.paginate()
    seen: list[int] = []
    pages = 0
    while not q.is_done():
        page = q.results(policy={"partition_filter": {"begin": 0, "count": 4096}})
        seen += [r[0][2] for r in page]
        pages += 1
        assert pages < 10
    assert sorted(seen) == hundred and pages >= 4
    first = aerospike_client.query("test", "s")
    first.max_records = 40
    first.paginate()
    part1 = [r[0][2] for r in first.results(policy={"partition_filter": {"begin": 0, "count": 4096}})]
    status = first.get_partitions_status()
    assert len(part1) == 40 and status["done"] is False
    second = aerospike_client.query("test", "s")
    second.paginate()
    part2 = [
        r[0][2]
        for r in second.results(policy={"partition_filter": {"begin": 0, "count": 4096, "partition_status": status}})
    ]
    assert sorted(part1 + part2) == hundred and not set(part1) & set(part2)


def test_query_with_filter_expression_nobins_and_bin_selection(aerospike_client, hundred) -> None:
    q = aerospike_client.query("test", "s")
    policy = {"expressions": exp.GE(exp.IntBin("i"), 90).compile()}
    assert sorted(r[2]["i"] for r in q.results(policy)) == list(range(90, 100))
    q = aerospike_client.query("test", "s")
    policy = {"expressions": exp.And(exp.GT(exp.LastUpdateTime(), 0), exp.BinExists("s")).compile()}
    assert len(q.results(policy)) == 100
    q = aerospike_client.query("test", "s")
    q.select("s")
    assert {tuple(r[2]) for r in q.results()} == {("s",)}
    q = aerospike_client.query("test", "s")
    rows = q.results(options={"nobins": True})
    assert len(rows) == 100 and all(r[2] == {} for r in rows)


def test_batch_read_all_some_header(aerospike_client, hundred) -> None:
    keys = [("test", "s", i) for i in (1, 2, 3)] + [("test", "s", 999)]
    res = aerospike_client.batch_read(keys)
    assert [r.result for r in res.batch_records] == [0, 0, 0, 2]
    assert res.batch_records[1].record[2] == {"i": 2, "s": "v2"}
    res = aerospike_client.batch_read(keys, ["s"])
    assert res.batch_records[0].record[2] == {"s": "v1"}
    res = aerospike_client.batch_read(keys, [])
    assert res.batch_records[2].record[1]["gen"] == 1 and len(res.batch_records[2].record) == 2


def test_batch_write_with_per_row_policies(aerospike_client, aerospike_server: Emulator) -> None:
    aerospike_client.put(("test", "bw", "old"), {"a": 1})
    rows = br.BatchRecords(
        [
            br.Write(("test", "bw", "new"), [op.write("a", 1)], policy={"exists": aerospike.POLICY_EXISTS_CREATE}),
            br.Write(("test", "bw", "old"), [op.write("a", 2)], policy={"exists": aerospike.POLICY_EXISTS_CREATE}),
            br.Write(
                ("test", "bw", "old"), [op.write("a", 3)], meta={"gen": 7}, policy={"gen": aerospike.POLICY_GEN_EQ}
            ),
            br.Write(("test", "bw", "gone"), [op.write("a", 4)], policy={"exists": aerospike.POLICY_EXISTS_UPDATE}),
            br.Write(
                ("test", "bw", "ttl"), [op.write("a", 5)], meta={"ttl": 500}, policy={"key": aerospike.POLICY_KEY_SEND}
            ),
            br.Write(
                ("test", "bw", "old"), [op.write("b", 6)], meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_GT}
            ),
            br.Write(
                ("test", "bw", "old"), [op.write("c", 7)], policy={"exists": aerospike.POLICY_EXISTS_REPLACE}
            ),
            br.Write(
                ("test", "bw", "rep"), [op.write("c", 8)],
                policy={"exists": aerospike.POLICY_EXISTS_CREATE_OR_REPLACE},
            ),
            br.Read(("test", "bw", "old"), [op.read("a"), op.read("c")]),
            br.Remove(("test", "bw", "old")),
            br.Read(("test", "bw", "new"), [op.read("a")]),
        ]
    )  # fmt: skip
    out = aerospike_client.batch_write(rows)
    assert [r.result for r in out.batch_records] == [0, 5, 3, 2, 0, 3, 0, 0, 0, 0, 0]
    assert out.batch_records[8].record[2] == {"c": 7}  # replace dropped bin a
    assert out.batch_records[10].record[2] == {"a": 1}
    ttl_rec = aerospike_server.get_raw("test", "bw", "ttl")
    assert ttl_rec is not None and ttl_rec.key == (3, b"ttl") and ttl_rec.void_time > 0
    assert aerospike_server.get_raw("test", "bw", "old") is None
    removed = aerospike_client.batch_remove([("test", "bw", "new"), ("test", "bw", "none")])
    assert [r.result for r in removed.batch_records] == [0, 2]


def test_batch_row_in_unknown_namespace(aerospike_client, hundred) -> None:
    # the client resolves namespaces from the partition map: the bad row never reaches the
    # server (the server-side answer, LAST with result 4, is covered by the wire traces)
    res = aerospike_client.batch_read([("test", "s", 1), ("nosuch", "s", 2)])
    assert [r.result for r in res.batch_records] == [0, 20]
    assert res.batch_records[0].record[2] == {"i": 1, "s": "v1"}


def test_secondary_index_query(aerospike_client, hundred) -> None:
    from aerospike import predicates as p

    q = aerospike_client.query("test", "s")
    q.where(p.between("i", 3, 7))
    with pytest.raises(ex.AerospikeError) as err:  # no index on i yet
        q.results()
    assert err.value.code == 201
    aerospike_client.index_integer_create("test", "s", "i", "idx_s_i")
    q = aerospike_client.query("test", "s")
    q.where(p.between("i", 3, 7))
    assert sorted(r[2]["i"] for r in q.results()) == [3, 4, 5, 6, 7]
    q = aerospike_client.query("test", "s")
    q.where(p.between("i", 0, 99))
    q.max_records = 30
    q.paginate()
    seen = []
    while not q.is_done():  # resumes from digest + index value (BVAL_ARRAY)
        seen += [r[2]["i"] for r in q.results()]
    assert sorted(seen) == list(range(100))
    # the same info command index_string_create sends, without its 2-second readiness poll
    aerospike_client.info_all("sindex-create:namespace=test;indexname=idx_s_s;bin=s;type=STRING")
    q = aerospike_client.query("test", "s")
    q.where(p.equals("s", "v42"))
    assert [r[2]["i"] for r in q.results()] == [42]


def test_filter_on_void_time_and_set_name(aerospike_client, hundred) -> None:
    for i in range(5):
        aerospike_client.put(("test", "exp", i), {"i": i}, policy={"ttl": 1000})
    q = aerospike_client.query("test", None)  # the whole namespace: sets s, other, exp
    policy = {"expressions": exp.GT(exp.VoidTime(), 0).compile()}
    assert sorted(r[2]["i"] for r in q.results(policy)) == [0, 1, 2, 3, 4]
    q = aerospike_client.query("test", None)
    policy = {"expressions": exp.Eq(exp.SetName(), "other").compile()}
    assert [r[0][1] for r in q.results(policy)] == ["other"]
    q = aerospike_client.query("test", None)
    policy = {"expressions": exp.Not(exp.Or(exp.Eq(exp.SetName(), "s"), exp.Eq(exp.SetName(), "exp"))).compile()}
    assert len(q.results(policy)) == 1
