"""Several emulated nodes sharing one data store, each owning a share of the 4096 partitions.

Ownership is advertised through ``peers-clear-std`` and ``replicas`` exactly as a real cluster
does (§2.2), so the official client routes each key to its owner. A request that reaches a node
that does not own the partition is still served (a real server proxies it; ``proxy=False``
answers 11 instead) and counted in ``node.stats["misrouted"]``; scans answer such partitions
with a PARTITION_DONE marker and result 11, as a real node does for partitions it cannot serve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._store import N_PARTITIONS, Clock, Store
from .faults import Faults
from .server import Emulator

__all__ = ["EmulatedCluster"]


class EmulatedCluster:
    """``with EmulatedCluster(nodes=3) as c: aerospike.client(c.client_config())``"""

    def __init__(
        self,
        nodes: int = 3,
        namespaces: Sequence[str] = ("test", "bar"),
        *,
        host: str = "127.0.0.1",
        default_ttl: int = 0,
        proxy: bool = True,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1 (got {nodes})")
        self.store = Store(tuple(namespaces), default_ttl=default_ttl)
        self.faults = Faults()
        #: True: a node serves records of partitions it does not own (a real server proxies them);
        #: False: it answers 11, as a node that cannot reach the owner does
        self.proxy = proxy
        self.partition_generation = 1
        self.peers_generation = 1
        #: partition id -> index of the owning node (contiguous ranges by default)
        self._owner = [p * nodes // N_PARTITIONS for p in range(N_PARTITIONS)]
        self.nodes = [Emulator(host, 0, namespaces, store=self.store, cluster=self, node_index=i) for i in range(nodes)]

    def start(self) -> EmulatedCluster:
        for n in self.nodes:
            n.start()
        return self

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def __enter__(self) -> EmulatedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.nodes[0].host

    @property
    def port(self) -> int:
        """The seed node's port."""
        return self.nodes[0].port

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def client_config(self) -> dict[str, Any]:
        return {"hosts": [(self.host, self.port)]}

    def owner_index(self, pid: int) -> int:
        return self._owner[pid]

    def owner(self, pid: int) -> Emulator:
        """The node owning a partition."""
        return self.nodes[self._owner[pid]]

    def assign(self, partitions: Iterable[int], node: int) -> None:
        """Move partitions to node ``node``; clients see it at their next tend (~1 s)."""
        if not 0 <= node < len(self.nodes):
            raise ValueError(f"no node {node} (cluster of {len(self.nodes)})")
        for p in partitions:
            self._owner[p] = node
        self.partition_generation += 1

    # the data helpers act on the shared store, whichever node is asked
    def __getattr__(self, name: str) -> Any:
        if name in ("put_raw", "get_raw", "records", "truncate"):
            return getattr(self.nodes[0], name)
        raise AttributeError(name)
