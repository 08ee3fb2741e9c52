"""The cluster view: nodes, the partition map, info commands and metadata; scans and writes.

``Cluster`` implements ``RecordSource`` and ``RecordSink`` (datapath.py). Records travel over
our own wire code (``aerobackup.wire``) because the official client loses particle types
(../shared/spec/python-client.md). The official ``aerospike`` client, when given or created,
is used for what it does well: discovering the nodes (``get_nodes``). The partition map comes
from each node's ``replicas`` answer and is re-read when a node fails or its
``partition-generation`` changes.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .config import ClusterConfig
from .datapath import ScanItem, ScanRequest, WritePolicy
from .errors import ClusterError
from .model import UDF, IndexType, RecordBatch, SIndex, SIndexDataType
from .wire.connection import ConnectionPool, Credentials
from .wire.partitions import PartitionMap, parse_replicas
from .wire.scan import ScanStats, run_scan
from .wire.write import write_records

__all__ = ["Cluster", "Node", "parse_sindex_list"]

_REFRESH_CHECK_S = 1.0  # at most one partition-generation check per second


@dataclass(eq=False)
class Node:
    """One server node: its id (``node`` info), address and connection pool."""

    name: str
    host: str
    port: int
    pool: ConnectionPool
    partition_generation: int = -1

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Cluster:
    """A connected cluster. Build with ``Cluster.connect(config)`` or ``Cluster.from_client(client)``."""

    def __init__(self, config: ClusterConfig, client: Any = None, *, pool_size: int = 64) -> None:
        self.config = config
        self.client = client
        self.pool_size = pool_size
        self.credentials = (
            Credentials(config.user, config.password or "", external=config.auth_mode.upper() != "INTERNAL")
            if config.user else None
        )
        self._nodes: dict[str, Node] = {}
        self._pools: dict[tuple[str, int], ConnectionPool] = {}
        self._map = PartitionMap()
        self._lock = threading.RLock()
        self._checked = 0.0
        self.last_scan_stats: ScanStats | None = None
        self._owns_client = True

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def connect(cls, config: ClusterConfig, *, use_client: bool = True, pool_size: int = 64) -> Cluster:
        """Connect to the seeds of ``config``; with ``use_client`` the official client discovers nodes."""
        client = None
        if use_client:
            import aerospike

            cfg: dict[str, Any] = {
                "hosts": config.seeds(),
                "timeout": config.client_timeout_ms,
                "policies": {"login_timeout_ms": config.login_timeout_ms},
            }
            if config.user:
                cfg["user"], cfg["password"] = config.user, config.password or ""
            if config.tls is not None and config.tls.enable:
                cfg["tls"] = {k: v for k, v in (("enable", True), ("cafile", config.tls.ca_file),
                              ("capath", config.tls.ca_path), ("certfile", config.tls.cert_file),
                              ("keyfile", config.tls.key_file)) if v is not None}
            try:
                client = aerospike.client(cfg)
            except Exception as exc:  # the client's own exception classes
                hosts = ",".join(f"{h}:{p}" for h, p in config.seeds())
                why = getattr(exc, "msg", None) or str(exc)
                raise ClusterError(f"cannot connect to {hosts}: {why}", code=getattr(exc, "code", None)) from None
        cluster = cls(config, client, pool_size=pool_size)
        try:
            cluster.refresh()
        except BaseException:
            cluster.close()
            raise
        return cluster

    @classmethod
    def from_client(cls, client: Any, config: ClusterConfig | None = None, *, pool_size: int = 64) -> Cluster:
        """Wrap an already connected official client (its nodes become ours)."""
        hosts = tuple(f"{h}:{p}" for h, p in client.get_nodes()) or ("127.0.0.1:3000",)
        cluster = cls(config or ClusterConfig(hosts=hosts), client, pool_size=pool_size)
        cluster._owns_client = False  # the caller closes its own client
        cluster.refresh()
        return cluster

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
        if self.client is not None and self._owns_client:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- nodes and the partition map ----------------------------------------------------------

    def _pool(self, host: str, port: int) -> ConnectionPool:
        key = (host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = ConnectionPool(
                host, port, size=self.pool_size, connect_timeout=self.config.client_timeout_ms / 1000,
                tls=self.config.tls if self.config.tls is not None and self.config.tls.enable else None,
                credentials=self.credentials, idle_timeout=self.config.idle_timeout_ms / 1000,
            )
        return pool

    def _addresses(self) -> list[tuple[str, int]]:
        if self.client is not None:
            try:
                found = [(str(h), int(p)) for h, p in self.client.get_nodes()]
                if found:
                    return found
            except Exception:  # noqa: BLE001 - fall back to the seeds
                pass
        return self.config.seeds()

    def refresh(self) -> None:
        """Re-read the node list and every node's ``replicas`` answer."""
        with self._lock:
            nodes: dict[str, Node] = {}
            new_map = PartitionMap()
            errors = []
            for host, port in self._addresses():
                pool = self._pool(host, port)
                try:
                    answer = self._info_on(pool, ["node", "partition-generation", "replicas"])
                    replicas = parse_replicas(answer.get("replicas", ""))
                except (ClusterError, ValueError) as exc:
                    errors.append(f"{host}:{port}: {exc}")
                    continue
                name = answer.get("node", "").strip()
                if not name:
                    errors.append(f"{host}:{port}: no node id in the info answer")
                    continue
                gen = int(answer.get("partition-generation", "-1") or -1)
                nodes[name] = Node(name, host, port, pool, gen)
                new_map.add_node(name, replicas)
            if not nodes:
                raise ClusterError("no cluster node answered: " + "; ".join(errors))
            self._nodes, self._map = nodes, new_map
            self._checked = time.monotonic()

    def check(self) -> None:
        """Refresh the map if a node's partition generation changed (at most once a second)."""
        if time.monotonic() - self._checked < _REFRESH_CHECK_S:
            return
        self._checked = time.monotonic()
        for node in list(self._nodes.values()):
            try:
                gen = int(self._info_on(node.pool, ["partition-generation"]).get("partition-generation", "-1"))
            except (ClusterError, ValueError):
                gen = -2
            if gen != node.partition_generation:
                self.refresh()
                return

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ClusterError(f"no node {name!r} in the cluster (nodes: {', '.join(self._nodes)})") from None

    def node_for_address(self, address: str) -> Node:
        """The node listening on ``addr:port`` (as in ``--node-list``; a missing port is 3000)."""
        host, _, port = address.strip().rpartition(":") if ":" in address else (address, "", "3000")
        host = host.strip("[]")
        for node in self._nodes.values():
            if node.host == host and node.port == int(port or 3000):
                return node
        known = ", ".join(n.address for n in self._nodes.values())
        raise ClusterError(f"no cluster node at {address} (nodes: {known})")

    def owner_node(self, namespace: str, partition: int) -> Node | None:
        name = self._map.owner(namespace, partition)
        return self._nodes.get(name) if name is not None else None

    def sole_owner(self, namespace: str) -> Node | None:
        name = self._map.sole_owner(namespace)
        return self._nodes.get(name) if name is not None else None

    def _require_namespace(self, namespace: str) -> None:
        if namespace not in self._map.owners:
            self.refresh()
            if namespace not in self._map.owners:
                known = ", ".join(self._map.namespaces()) or "none"
                raise ClusterError(f"namespace {namespace!r} is not in the cluster (namespaces: {known})",
                                   code=20)

    def partition_owners(self, namespace: str) -> list[str | None]:
        """Master node name of each of the 4096 partitions (None: not served now)."""
        owners = self._map.owners.get(namespace)
        if owners is None:
            raise ClusterError(f"namespace {namespace!r} is not in the cluster's partition map")
        return list(owners)

    # -- info ---------------------------------------------------------------------------------

    def _info_on(self, pool: ConnectionPool, commands: Sequence[str]) -> dict[str, str]:
        conn = pool.get(self.config.client_timeout_ms / 1000 or None)
        try:
            answer = conn.info(commands)
        except BaseException:
            conn.close()
            raise
        pool.put(conn)
        return answer

    def info(self, command: str, node: str | None = None) -> str:
        """The value of one info command on ``node`` (a node name or ``addr:port``), or any node."""
        if node is None:
            target = next(iter(self._nodes.values()), None)
            if target is None:
                raise ClusterError("the cluster has no node")
        elif node in self._nodes:
            target = self._nodes[node]
        else:
            target = self.node_for_address(node)
        answer = self._info_on(target.pool, [command])
        value = answer.get(command)
        if value is None:
            value = next(iter(answer.values()), "")
        return value

    def namespaces(self) -> list[str]:
        return [ns for ns in self.info("namespaces").strip().split(";") if ns]

    # -- RecordSource -------------------------------------------------------------------------

    def scan(self, request: ScanRequest) -> Iterator[ScanItem]:
        """Partition scan with raw particles (see ``aerobackup.wire.scan``)."""
        self.check()
        self._require_namespace(request.namespace)
        stats = ScanStats()
        self.last_scan_stats = stats
        return run_scan(self, request, stats)

    def sindexes(self, namespace: str) -> list[SIndex]:
        value = self.info(f"sindex-list:namespace={namespace};b64=true")
        if value.startswith("ERROR"):  # servers before 8.1 know only ns=
            value = self.info(f"sindex-list:ns={namespace};b64=true")
        if value.startswith(("ERROR", "FAIL")):
            raise ClusterError(f"sindex-list of {namespace!r} failed: {value}")
        return parse_sindex_list(value)

    def udfs(self) -> list[UDF]:
        listing = self.info("udf-list")
        out = []
        for entry in listing.strip().split(";"):
            if not entry:
                continue
            attrs = dict(item.partition("=")[::2] for item in entry.split(","))
            name = attrs.get("filename", "")
            value = self.info(f"udf-get:filename={name};")
            props = dict(item.partition("=")[::2] for item in value.strip().split(";") if item)
            if "content" not in props:
                raise ClusterError(f"udf-get of {name!r} failed: {value}")
            out.append(UDF(name, base64.b64decode(props["content"]), props.get("type", attrs.get("type", "LUA"))))
        return out

    # -- RecordSink ---------------------------------------------------------------------------

    def write(self, batch: RecordBatch, ttls: Sequence[int], policy: WritePolicy) -> list[int]:
        """Write ``batch`` with raw particles; result code per record (see ``aerobackup.wire.write``)."""
        self.check()
        self._require_namespace(batch.namespace)
        return write_records(self, batch, ttls, policy)

    def create_sindex(self, index: SIndex) -> None:
        parts = [f"namespace={index.namespace}"]
        if index.set:
            parts.append(f"set={index.set}")
        parts.append(f"indexname={index.name}")
        if index.index_type is not IndexType.DEFAULT:
            parts.append(f"indextype={_INDEX_TYPE_NAMES[index.index_type]}")
        parts.append(f"type={_DATA_TYPE_NAMES[index.data_type]}")
        if index.expression:
            parts.append(f"exp={index.expression}")
        else:
            parts.append(f"bin={index.bin}")
            if index.context:
                parts.append(f"context={index.context}")
        value = self.info("sindex-create:" + ";".join(parts))
        if value.strip().lower() != "ok":
            raise ClusterError(f"creating index {index.name!r} in {index.namespace!r} failed: {value}")

    def put_udf(self, udf: UDF) -> None:
        content = base64.b64encode(udf.content).decode("ascii")
        value = self.info(f"udf-put:filename={udf.name};content={content};content-len={len(content)};"
                          f"udf-type={udf.language};")
        if value.strip().lower() != "ok":
            raise ClusterError(f"registering UDF {udf.name!r} failed: {value}")


_INDEX_TYPES = {"default": IndexType.DEFAULT, "none": IndexType.DEFAULT, "list": IndexType.LIST,
                "mapkeys": IndexType.MAPKEYS, "mapvalues": IndexType.MAPVALUES}
_DATA_TYPES = {"string": SIndexDataType.STRING, "text": SIndexDataType.STRING,
               "numeric": SIndexDataType.NUMERIC, "int signed": SIndexDataType.NUMERIC,
               "geo2dsphere": SIndexDataType.GEO2DSPHERE, "geojson": SIndexDataType.GEO2DSPHERE,
               "blob": SIndexDataType.BLOB}
_INDEX_TYPE_NAMES = {IndexType.LIST: "list", IndexType.MAPKEYS: "mapkeys", IndexType.MAPVALUES: "mapvalues"}
_DATA_TYPE_NAMES = {SIndexDataType.STRING: "string", SIndexDataType.NUMERIC: "numeric",
                    SIndexDataType.GEO2DSPHERE: "geo2dsphere", SIndexDataType.BLOB: "blob"}


def parse_sindex_list(value: str) -> list[SIndex]:
    """Parse a ``sindex-list ...;b64=true`` answer (asb-format.md §5.1 field mapping).

    Set indexes (``indextype=set``) have no bin and are skipped: the backup formats cannot
    hold them yet.
    """
    out = []
    for entry in value.strip().split(";"):
        if not entry:
            continue
        attrs = dict(item.partition("=")[::2] for item in entry.split(":"))
        itype = attrs.get("indextype", "default").lower()
        if itype == "set":
            continue
        try:
            index_type = _INDEX_TYPES[itype]
            data_type = _DATA_TYPES[attrs.get("type", "").lower()]
        except KeyError:
            raise ClusterError(f"unsupported index in sindex-list: {entry}") from None
        set_name = attrs.get("set", "")
        context = attrs.get("context")
        expression = attrs.get("exp")
        out.append(SIndex(
            namespace=attrs.get("ns", ""),
            set="" if set_name.upper() == "NULL" else set_name,
            name=attrs.get("indexname", ""),
            index_type=index_type,
            bin=attrs.get("bin", ""),
            data_type=data_type,
            context=None if not context or context.upper() == "NULL" else context,
            expression=None if not expression or expression.upper() == "NULL" else expression,
        ))
    return out
