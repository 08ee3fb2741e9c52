"""Info answers as the client parses them, connect/tend, and a 3-node cluster (issue 4, §2)."""

from __future__ import annotations

import re
import socket
import struct
import time

import aerospike
import pytest
from aerobackup.testing import EmulatedCluster, Emulator, key_digest
from aerospike import exception as ex


def test_connect_and_tend_without_client_errors(aerospike_server: Emulator) -> None:
    logs: list[tuple[int, str]] = []
    aerospike.set_log_level(aerospike.LOG_LEVEL_WARN)
    aerospike.set_log_handler(lambda level, func, path, line, msg: logs.append((level, msg)))
    try:
        client = aerospike.client(aerospike_server.client_config())
        time.sleep(1.3)  # at least one tend round (every 1000 ms)
        assert client.is_connected()
        assert client.get_nodes() == [(aerospike_server.host, aerospike_server.port)]
        names = client.get_node_names()
        assert names[0]["node_name"] == aerospike_server.node_name
        client.close()
    finally:
        aerospike.set_log_level(aerospike.LOG_LEVEL_OFF)
    assert logs == []
    assert aerospike_server.stats["info"] >= 5


def test_info_answers_through_client_helpers(aerospike_client, aerospike_server: Emulator, tmp_path) -> None:
    assert list(aerospike_client.info_all("namespaces").values()) == [(None, "test;bar\n")]
    assert aerospike_client.info_random_node("build") == "build\t8.1.2.0\n"
    assert aerospike_client.info_random_node("edition") == "edition\tAerospike Community Edition\n"
    with pytest.raises(ex.AerospikeError) as err:
        aerospike_client.info_random_node("roster")
    assert err.value.code == 25
    aerospike_client.put(("test", "pol", 1), {"v": 1})
    sets = aerospike_client.info_random_node("sets/test/pol")
    assert sets.startswith("sets/test/pol\tobjects=1:tombstones=0:data_used_bytes=64:truncate_lut=0:")
    stats = aerospike_client.info_random_node("namespace/test")
    assert "objects=1;" in stats and "replication-factor=1" in stats


def test_sindex_create_list_remove(aerospike_client) -> None:
    aerospike_client.index_integer_create("test", "demo", "i", "idx_i")  # polls sindex-stat
    aerospike_client.index_string_create("test", None, "s", "idx_s")
    listing = aerospike_client.info_random_node("sindex-list:namespace=test;b64=true")
    assert listing == (
        "sindex-list:namespace=test;b64=true\t"
        "ns=test:indexname=idx_i:set=demo:bin=i:type=numeric:indextype=default:context=null:exp=null:state=RW;"
        "ns=test:indexname=idx_s:set=null:bin=s:type=string:indextype=default:context=null:exp=null:state=RW\n"
    )
    aerospike_client.index_remove("test", "idx_i")
    assert "idx_i" not in aerospike_client.info_random_node("sindex-list")


def test_udf_put_list_get_apply_remove(emulator_process, tmp_path, monkeypatch) -> None:
    # udf_put/udf_remove keep the GIL while polling: the emulator runs in its own process
    monkeypatch.chdir(tmp_path)  # the client copies the module into the working directory
    src = b"function add(rec, a)\n  return a + 1\nend\nfunction bad(rec)\n  error('boom', 0)\nend\n"
    path = tmp_path / "m1.lua"
    path.write_bytes(src)
    client = aerospike.client(emulator_process.client_config())
    try:
        client.udf_put(str(path))  # polls udf-list until the module shows
        assert [u["name"] for u in client.udf_list()] == ["m1.lua"]
        assert client.udf_get("m1.lua") == src.decode()
        client.put(("test", "demo", 1), {"a": 1})
        assert client.apply(("test", "demo", 1), "m1", "add", [41]) == 42
        with pytest.raises(ex.UDFError) as err:
            client.apply(("test", "demo", 1), "m1", "bad", [])
        assert err.value.code == 100 and "boom" in err.value.msg
        client.udf_remove("m1.lua")
        assert client.udf_list() == []
    finally:
        client.close()


def test_client_truncate(emulator_process) -> None:
    client = aerospike.client(emulator_process.client_config())
    try:
        for i in range(10):
            client.put(("test", "t1", i), {"v": i})
            client.put(("test", "t2", i), {"v": i})
        assert client.truncate("test", "t1", 0) == 0
        assert client.query("test", "t1").results() == []
        assert len(client.query("test", "t2").results()) == 10
        assert client.truncate("test", None, 0) == 0
        assert client.query("test", None).results() == []
    finally:
        client.close()


def test_three_node_cluster_routes_each_key_to_its_owner(aerospike_cluster: EmulatedCluster) -> None:
    client = aerospike.client(aerospike_cluster.client_config())
    try:
        assert sorted(client.get_nodes()) == sorted((n.host, n.port) for n in aerospike_cluster.nodes)
        for i in range(300):
            client.put(("test", "c", i), {"i": i})
        for i in range(300):
            assert client.get(("test", "c", i))[2] == {"i": i}
        writes = [n.stats["write"] for n in aerospike_cluster.nodes]
        assert sum(writes) == 300 and min(writes) > 50
        assert [n.stats["misrouted"] for n in aerospike_cluster.nodes] == [0, 0, 0]
        pid = (lambda d: (d[0] | d[1] << 8) & 0xFFF)(key_digest("c", 7))
        assert aerospike_cluster.owner(pid).stats["read"] >= 1
        rows = client.query("test", "c").results()
        assert sorted(r[2]["i"] for r in rows) == list(range(300))
        assert all(n.stats["scan"] == 1 for n in aerospike_cluster.nodes)
    finally:
        client.close()


def test_cluster_partition_move_is_followed_by_the_client(aerospike_cluster: EmulatedCluster) -> None:
    client = aerospike.client(aerospike_cluster.client_config())
    try:
        key = ("test", "c", "moved")
        d = key_digest("c", "moved")
        pid = (d[0] | d[1] << 8) & 0xFFF
        old = aerospike_cluster.owner_index(pid)
        new = (old + 1) % 3
        aerospike_cluster.assign([pid], new)
        deadline = time.monotonic() + 8  # the next tend (every second) re-reads the replicas
        while aerospike_cluster.nodes[new].stats["read"] == 0:
            assert time.monotonic() < deadline, "the client never routed to the new owner"
            client.exists(key)
            time.sleep(0.1)
        writes_before = [n.stats["write"] for n in aerospike_cluster.nodes]
        client.put(key, {"a": 1})
        assert [n.stats["write"] - w for n, w in zip(aerospike_cluster.nodes, writes_before, strict=True)] == [
            1 if i == new else 0 for i in range(3)
        ]
    finally:
        client.close()


def test_command_line_cluster_and_clean_sigterm_stop() -> None:
    from aerobackup.testing import EmulatorProcess

    srv = EmulatorProcess(namespaces=("test",), nodes=2).start()
    try:
        client = aerospike.client(srv.client_config())
        assert len(client.get_nodes()) == 2
        client.put(("test", "cli", 1), {"a": 1})
        assert client.scan("test", "cli").results()[0][2] == {"a": 1}  # the deprecated Scan API
        client.close()
    finally:
        srv.stop()
    assert srv.returncode == 0


def test_not_owned_partition_without_proxy_answers_11() -> None:
    with EmulatedCluster(nodes=2, namespaces=("test",), proxy=False) as cluster:
        d = key_digest("np", 1)
        pid = (d[0] | d[1] << 8) & 0xFFF
        wrong = cluster.nodes[1 - cluster.owner_index(pid)]
        client = aerospike.client({"hosts": [(wrong.host, wrong.port)], "policies": {"write": {"max_retries": 0}}})
        try:
            client.put(("test", "np", 1), {"a": 1})  # routed by the map: the owner answers
            assert cluster.owner(pid).stats["write"] == 1
        finally:
            client.close()
        with socket.create_connection((wrong.host, wrong.port), timeout=3) as s:
            ns, digest = b"test", d
            fields = (
                struct.pack(">IB", 5, 0) + ns + struct.pack(">IB", 3, 1) + b"np" + struct.pack(">IB", 21, 4) + digest
            )
            body = struct.pack(">BBBBBBIIIHH", 22, 3, 0, 0, 0, 0, 0, 0, 1000, 3, 0) + fields
            s.sendall((0x0203 << 48 | len(body)).to_bytes(8, "big") + body)
            reply = s.recv(30, socket.MSG_WAITALL)
        assert reply[13] == 11 and wrong.stats["misrouted"] == 1


def test_each_node_counts_its_own_share(aerospike_cluster: EmulatedCluster) -> None:
    client = aerospike.client(aerospike_cluster.client_config())
    try:
        for i in range(90):
            client.put(("test", "share", i), {"i": i})
        counts = []
        for node in aerospike_cluster.nodes:
            text = client.info_single_node("sets/test/share", node.node_name)
            counts.append(int(re.search(r"objects=(\d+)", text).group(1)))
        assert sum(counts) == 90 and all(c > 0 for c in counts)
    finally:
        client.close()
