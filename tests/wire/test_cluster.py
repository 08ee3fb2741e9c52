"""The data path on a 3-node emulated cluster: routing by the replicas map, every record once,
and exact resume when a node dies mid-stream or partitions become unavailable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import aerospike
import pytest
from aerobackup.cluster import Cluster
from aerobackup.config import ClusterConfig
from aerobackup.datapath import PartitionCursor, PartitionsDone, ScanRequest, WritePolicy
from aerobackup.errors import ClusterError
from aerobackup.model import RecordBatch, RecordBatchBuilder, partition_id

ALL = tuple(PartitionCursor(p) for p in range(4096))


@pytest.fixture
def client(aerospike_cluster: Any) -> Iterator[Any]:
    c = aerospike.client(aerospike_cluster.client_config())
    yield c
    c.close()


@pytest.fixture
def cluster(aerospike_cluster: Any, client: Any) -> Iterator[Cluster]:
    c = Cluster.from_client(client, ClusterConfig(hosts=(f"{aerospike_cluster.host}:{aerospike_cluster.port}",)))
    yield c
    c.close()


def _load(emulated: Any, n: int, size: int = 16) -> set[bytes]:
    digests = set()
    for i in range(n):
        digests.add(emulated.put_raw("test", "c", i, [("i", 1, i.to_bytes(8, "big")), ("b", 4, os.urandom(size))]))
    return digests


def _run(items: Iterator[object], on_batch: Any = None) -> tuple[list[bytes], list[int]]:
    digests: list[bytes] = []
    done: list[int] = []
    for item in items:
        if isinstance(item, RecordBatch):
            digests.extend(item.digests)
            if on_batch is not None:
                on_batch(item)
        else:
            assert isinstance(item, PartitionsDone)
            done.extend(item.partitions)
    return digests, done


def _node_name(emulated: Any, cluster: Cluster, index: int) -> str:
    return cluster.node_for_address(f"127.0.0.1:{emulated.nodes[index].port}").name


def test_nodes_and_partition_map(aerospike_cluster: Any, cluster: Cluster) -> None:
    assert len(cluster.nodes) == 3
    owners = cluster.partition_owners("test")
    names = [_node_name(aerospike_cluster, cluster, i) for i in range(3)]
    assert names == [n.node_name for n in aerospike_cluster.nodes]
    assert all(owners[p] == names[aerospike_cluster.owner_index(p)] for p in range(4096))
    with pytest.raises(ClusterError, match="no cluster node at 127.0.0.1:1"):
        cluster.node_for_address("127.0.0.1:1")


def test_every_record_once_across_nodes(aerospike_cluster: Any, cluster: Cluster) -> None:
    loaded = _load(aerospike_cluster, 3000)
    digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
    assert len(digests) == 3000 and set(digests) == loaded
    assert sorted(done) == list(range(4096))
    served = {aerospike_cluster.owner_index(partition_id(d)) for d in digests}
    assert served == {0, 1, 2}
    assert all(n.stats["scan"] == 1 for n in aerospike_cluster.nodes)


def test_node_list_scan_covers_its_own_partitions(aerospike_cluster: Any, cluster: Cluster) -> None:
    loaded = _load(aerospike_cluster, 600)
    name = _node_name(aerospike_cluster, cluster, 1)
    digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL, node=name)))
    mine = {p for p in range(4096) if aerospike_cluster.owner_index(p) == 1}
    assert set(done) == mine
    assert set(digests) == {d for d in loaded if partition_id(d) in mine}


def test_node_dying_mid_stream_resumes_on_the_new_owner(aerospike_cluster: Any, cluster: Cluster) -> None:
    # ~16 MB per node: more than loopback socket buffers and our bounded prefetch hold, so the
    # victim is still streaming when it dies (4 MB per node could arrive whole before the kill)
    loaded = _load(aerospike_cluster, 3000, size=16000)
    victim = aerospike_cluster.nodes[1]
    victim_parts = [p for p in range(4096) if aerospike_cluster.owner_index(p) == 1]
    killed = []

    def on_batch(batch: RecordBatch) -> None:
        if not killed and aerospike_cluster.owner_index(partition_id(batch.digests[0])) == 1:
            killed.append(True)
            victim.stop()  # the stream breaks mid-way
            aerospike_cluster.assign(victim_parts, 0)  # failover: node 0 now masters them

    request = ScanRequest(namespace="test", partitions=ALL, socket_timeout_ms=5000)
    digests, done = _run(cluster.scan(request), on_batch)
    assert killed
    assert len(digests) == len(set(digests)) == 3000  # each record exactly once
    assert set(digests) == loaded
    assert sorted(done) == list(range(4096))
    stats = cluster.last_scan_stats
    assert stats is not None and stats.rounds == 2 and stats.errors


def test_unavailable_partitions_are_retried_until_healed(aerospike_cluster: Any, cluster: Cluster) -> None:
    loaded = _load(aerospike_cluster, 1000)
    failing = sorted({partition_id(d) for d in loaded})[:50]
    aerospike_cluster.faults.fail_partitions(failing)
    seen_done: list[int] = []
    digests: list[bytes] = []
    request = ScanRequest(namespace="test", partitions=ALL, max_retries=3)
    for item in cluster.scan(request):
        if isinstance(item, PartitionsDone):
            seen_done.extend(item.partitions)
            aerospike_cluster.faults.fail_partitions([])  # heal after the first completions
        else:
            assert isinstance(item, RecordBatch)
            digests.extend(item.digests)
    assert len(digests) == len(set(digests)) == 1000 and set(digests) == loaded
    assert sorted(seen_done) == list(range(4096))
    assert cluster.last_scan_stats is not None and cluster.last_scan_stats.retried_partitions == len(failing)


def test_writes_are_routed_to_each_partitions_owner(aerospike_cluster: Any, client: Any, cluster: Cluster) -> None:
    b = RecordBatchBuilder("test")
    for i in range(300):
        digest = bytes(aerospike.calc_digest("test", "w", i))
        b.add_record("w", digest, None, 1, 0)
        b.add_bin("v", 1, i.to_bytes(8, "big"))
    batch = b.finish()
    before = [n.stats["misrouted"] for n in aerospike_cluster.nodes]
    assert cluster.write(batch, [0] * 300, WritePolicy()) == [0] * 300
    assert [n.stats["misrouted"] for n in aerospike_cluster.nodes] == before
    assert all(n.stats["batch"] == 1 for n in aerospike_cluster.nodes)
    assert client.get(("test", "w", 123))[2] == {"v": 123}


def test_partition_generation_change_refreshes_the_map(aerospike_cluster: Any, cluster: Cluster) -> None:
    import time

    loaded = _load(aerospike_cluster, 500)
    moved = [p for p in range(4096) if aerospike_cluster.owner_index(p) == 2]
    aerospike_cluster.assign(moved, 0)  # partition-generation changes on every node
    time.sleep(1.1)  # the map check runs at most once a second
    digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
    assert set(digests) == loaded and sorted(done) == list(range(4096))
    assert cluster.last_scan_stats is not None and cluster.last_scan_stats.rounds == 1  # no stale routing
    name0 = _node_name(aerospike_cluster, cluster, 0)
    assert all(cluster.partition_owners("test")[p] == name0 for p in moved)
    assert aerospike_cluster.nodes[2].stats["scan"] == 0


def test_connect_with_and_without_the_official_client(aerospike_cluster: Any) -> None:
    seed = f"{aerospike_cluster.host}:{aerospike_cluster.port}"
    with Cluster.connect(ClusterConfig(hosts=(seed,))) as found:  # the client discovers the peers
        assert len(found.nodes) == 3 and found.client is not None
    assert not found.client.is_connected()  # connect() owns its client and closes it
    alone = Cluster.connect(ClusterConfig(hosts=(seed,)), use_client=False)  # seeds only
    assert [n.port for n in alone.nodes] == [aerospike_cluster.port]
    alone.close()
    with pytest.raises(ClusterError, match="cannot connect to 127.0.0.1:1"):
        Cluster.connect(ClusterConfig(hosts=("127.0.0.1:1",), client_timeout_ms=500))


def test_dropped_connection_is_retried(aerospike_cluster: Any) -> None:
    loaded = _load(aerospike_cluster, 900)
    seeds = tuple(f"127.0.0.1:{n.port}" for n in aerospike_cluster.nodes)
    with Cluster.connect(ClusterConfig(hosts=seeds), use_client=False) as cluster:
        aerospike_cluster.faults.drop_after(2)  # the second node's scan request: closed, no reply
        digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
        assert len(digests) == len(set(digests)) == 900 and set(digests) == loaded
        assert sorted(done) == list(range(4096))
        stats = cluster.last_scan_stats
        assert stats is not None and stats.rounds == 2 and "closed" in stats.errors[0]


def test_nodes_stream_concurrently(aerospike_cluster: Any, cluster: Cluster) -> None:
    import time

    loaded = _load(aerospike_cluster, 300)
    aerospike_cluster.faults.delay(0.4, kinds=["scan"])  # every node takes 0.4 s to answer
    started = time.monotonic()
    digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
    elapsed = time.monotonic() - started
    assert set(digests) == loaded and len(digests) == 300 and sorted(done) == list(range(4096))
    assert elapsed < 1.0  # one after the other would take at least 1.2 s


def test_permanent_error_on_one_node_stops_the_scan(aerospike_cluster: Any, cluster: Cluster) -> None:
    _load(aerospike_cluster, 300)
    aerospike_cluster.faults.error(4, kinds=["scan"], times=1)  # one node answers PARAMETER
    with pytest.raises(ClusterError, match="failed with result 4") as info:
        _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
    assert info.value.code == 4


def test_consumer_stopping_early_releases_every_node(aerospike_cluster: Any, cluster: Cluster) -> None:
    _load(aerospike_cluster, 3000, size=2000)
    scan = cluster.scan(ScanRequest(namespace="test", partitions=ALL))
    first = next(iter(scan))
    assert isinstance(first, RecordBatch)
    scan.close()  # type: ignore[attr-defined]
    digests, done = _run(cluster.scan(ScanRequest(namespace="test", partitions=ALL)))
    assert len(digests) == 3000 and sorted(done) == list(range(4096))


def test_nodes_are_written_concurrently(aerospike_cluster: Any, client: Any, cluster: Cluster) -> None:
    import time

    b = RecordBatchBuilder("test")
    for i in range(300):
        b.add_record("cw", bytes(aerospike.calc_digest("test", "cw", i)), None, 1, 0)
        b.add_bin("v", 1, i.to_bytes(8, "big"))
    aerospike_cluster.faults.delay(0.4, kinds=["batch"])  # every node takes 0.4 s per batch
    started = time.monotonic()
    assert cluster.write(b.finish(), [0] * 300, WritePolicy()) == [0] * 300
    assert time.monotonic() - started < 1.0  # one node after the other would take 1.2 s
    assert client.get(("test", "cw", 7))[2] == {"v": 7}
