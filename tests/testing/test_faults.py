"""Injected faults, each seen as the error the official client raises (issue 4)."""

from __future__ import annotations

import time

import aerospike
import pytest
from aerobackup.testing import Emulator, key_digest
from aerospike import exception as ex

KEY = ("test", "f", 1)


def _client(srv: Emulator, **policies: object) -> aerospike.Client:
    cfg = srv.client_config()
    cfg["policies"] = {"read": {"max_retries": 0}, "write": {"max_retries": 0}, **policies}
    return aerospike.client(cfg)


def test_drop_connection_after_n_messages(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        client.put(KEY, {"a": 1})
        aerospike_server.faults.drop_after(2, kinds={"read"})  # tend traffic does not count
        client.get(KEY)  # 1st request: answered
        with pytest.raises(ex.AerospikeError) as err:
            client.get(KEY)  # 2nd: connection closed without a reply
        assert err.value.code in (-4, -10, -11)  # client-side connection/parse error
        assert client.get(KEY)[2] == {"a": 1}  # the client reconnects
    finally:
        client.close()


def test_delay_replies_gives_client_timeout(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        client.put(KEY, {"a": 1})
        aerospike_server.faults.delay(1.0, kinds={"read"})
        t = time.monotonic()
        with pytest.raises(ex.TimeoutError) as err:
            client.get(KEY, policy={"total_timeout": 200, "socket_timeout": 200})
        assert err.value.code == 9 and time.monotonic() - t < 0.9  # before the delayed reply
        client.put(KEY, {"a": 2})  # writes are not delayed
        aerospike_server.faults.clear()
        assert client.get(KEY)[2] == {"a": 2}
    finally:
        client.close()


def test_unavailable_partitions(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        client.put(KEY, {"a": 1})
        d = key_digest("f", 1)
        pid = (d[0] | d[1] << 8) & 0xFFF
        aerospike_server.faults.fail_partitions([pid])
        with pytest.raises(ex.ClusterError) as err:
            client.get(KEY)
        assert err.value.code == 11
        q = client.query("test", "f")
        with pytest.raises(ex.ClusterError) as err2:  # PARTITION_DONE marker with result 11
            q.results(policy={"partition_filter": {"begin": pid, "count": 1}, "max_retries": 0})
        assert f"Partition {pid} unavailable" in err2.value.msg
        aerospike_server.faults.fail_partitions([])
        assert client.get(KEY)[2] == {"a": 1}
    finally:
        client.close()


def test_error_code_for_given_keys_and_kinds(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        client.put(KEY, {"a": 1})
        client.put(("test", "f", 2), {"a": 2})
        aerospike_server.faults.error(14, kinds={"write"}, digests=[key_digest("f", 1)], times=1)
        with pytest.raises(ex.RecordBusy) as err:
            client.put(KEY, {"a": 3})
        assert err.value.code == 14
        client.put(("test", "f", 2), {"a": 4})  # other keys unaffected
        client.put(KEY, {"a": 5})  # times=1: used up
        aerospike_server.faults.error(18, kinds={"read"})
        with pytest.raises(ex.AerospikeError) as err2:
            client.get(KEY)
        assert err2.value.code == 18
    finally:
        client.close()


def test_records_per_second_throttles_a_scan(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        for i in range(60):
            client.put(("test", "rps", i), {"a": i})
        q = client.query("test", "rps")
        q.records_per_second = 100
        t = time.monotonic()
        assert len(q.results()) == 60
        assert 0.5 <= time.monotonic() - t < 3.0
    finally:
        client.close()


def test_stop_writes(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        client.put(KEY, {"a": 1})
        aerospike_server.faults.stop_writes = True
        with pytest.raises(ex.ServerFull) as err:
            client.put(KEY, {"a": 2})
        assert err.value.code == 8
        assert client.get(KEY)[2] == {"a": 1}  # reads still work
    finally:
        client.close()


def test_scan_connection_cut_midway(aerospike_server: Emulator) -> None:
    client = _client(aerospike_server)
    try:
        for i in range(50):
            client.put(("test", "cut", i), {"a": i})
        aerospike_server.faults.cut_scans_after(20)
        got: list[int] = []
        q = client.query("test", "cut")
        with pytest.raises(ex.AerospikeError) as err:
            q.foreach(lambda rec: got.append(rec[2]["a"]), policy={"max_retries": 0})
        assert err.value.code < 0  # a client-side connection error
        assert len(got) == 20
        assert len(client.query("test", "cut").results()) == 50  # used up: the next scan is whole
    finally:
        client.close()
