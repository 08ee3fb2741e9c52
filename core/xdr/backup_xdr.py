"""The XDR backup job: make the cluster ship a namespace to us and write it to ASBX files.

Steps (wire-protocol.md §2.6, backup-go's XDR reader): start the receiver; on every node create
the DC in connector mode pointing at the receiver and add the namespace with the rewind; poll
``get-stats`` until every node has finished its rewind (``recoveries_pending`` 0), then fence
transaction (MRT) writes while the lag drains to 0; then remove the DC (which drops its
namespaces), lift the fence, close the files. A Community Edition cluster refuses the very first
command with ``ERROR:25``, and the job stops there with a clear message.

Files are ``<worker>_<ns>_<n>.asbx`` (asb-format §13.3): ``parallel_write`` writers, records
routed by partition (so every version of a record lands in the same writer's files, in the order
shipped), file numbers from one counter starting at 1, a new file past ``file_limit`` bytes
(counted before compression and encryption), transforms as for any backup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol, cast

from ..config import CompressionPolicy, EncryptionPolicy, SecretAgentConfig
from ..errors import AerobackupError, BackupNotFoundError, ClusterError, ConfigError, JobCancelled, StorageError
from ..jobs import BackupStats, Counters, Job, JobControl, ProgressCallback
from ..keys import load_aes_key
from ..model import XdrToken, partition_id
from ..protocols import StorageBackend, Transform, TransformOptions
from ..runtime import Runtime
from ..storage import check_file_limit
from . import asbx_io
from .config import BackupXdrConfig
from .receiver import AckSlot, XdrReceiver
from .writer import Files, Writer

__all__ = [
    "InfoCluster",
    "XdrStats",
    "backup_xdr",
    "build_transforms",
    "node_names",
    "parse_stats",
    "start_xdr_commands",
    "stop_xdr",
]

log = logging.getLogger("aerobackup.xdr")

_GET_STATS_ATTEMPTS = 5
_PARTITIONS = 4096


class InfoCluster(Protocol):
    """What the XDR job needs of a cluster: info commands by node, and ``nodes`` (a sequence, or a
    method returning one, of objects with ``.name``) as ``aerobackup.cluster.Cluster`` has."""

    def info(self, command: str, node: str | None = None) -> str: ...


def node_names(cluster: InfoCluster) -> list[str]:
    """Names of the cluster's nodes, whether ``nodes`` is a property or a method."""
    nodes = getattr(cluster, "nodes", ())
    if callable(nodes):
        nodes = nodes()
    return [str(n.name) for n in cast(Sequence[Any], nodes)]


class XdrStats:
    """The three ``get-stats:context=xdr`` values the job steers by."""

    __slots__ = ("lag", "recoveries", "recoveries_pending")

    def __init__(self, lag: int, recoveries: int, recoveries_pending: int) -> None:
        self.lag = lag
        self.recoveries = recoveries
        self.recoveries_pending = recoveries_pending

    def __repr__(self) -> str:
        return f"XdrStats(lag={self.lag}, recoveries={self.recoveries}, pending={self.recoveries_pending})"


def parse_stats(answer: str) -> XdrStats:
    """``key=value;...`` → XdrStats (missing keys count as 0)."""
    values: dict[str, int] = {}
    for item in answer.strip().split(";"):
        key, sep, value = item.partition("=")
        if sep and key.strip() in ("lag", "recoveries", "recoveries_pending"):
            try:
                values[key.strip()] = int(value)
            except ValueError:
                raise ClusterError(f"XDR stats: {key.strip()} is not a number: {value!r}") from None
    return XdrStats(values.get("lag", 0), values.get("recoveries", 0), values.get("recoveries_pending", 0))


def start_xdr_commands(config: BackupXdrConfig, host_port: str) -> list[str]:
    """The info commands that set up shipping on one node, in order (§2.6 steps 1-6)."""
    dc, ns = config.dc, config.namespace
    cmds = [
        f"set-config:context=xdr;dc={dc};action=create",
        f"set-config:context=xdr;dc={dc};connector=true",
        f"set-config:context=xdr;dc={dc};node-address-port={host_port};action=add",
    ]
    if config.max_throughput:
        cmds.append(f"set-config:context=xdr;dc={dc};namespace={ns};max-throughput={config.max_throughput}")
    cmds.append(f"set-config:context=xdr;dc={dc};namespace={ns};action=add;rewind={config.rewind}")
    if config.forward:
        cmds.append(f"set-config:context=xdr;dc={dc};namespace={ns};forward=true")
    return cmds


def _check_answer(node: str, command: str, answer: str) -> None:
    if "ERROR" not in answer.upper():
        return
    if "ERROR:25" in answer or "enterprise" in answer.lower():
        raise ClusterError(
            f"node {node} refused XDR ({answer.strip()}): XDR backups need an Enterprise Edition cluster; "
            "use a scan backup on Community Edition",
            code=25,
        )
    raise ClusterError(f"node {node}: '{command}' failed: {answer.strip()}")


def stop_xdr(cluster: InfoCluster, dc: str, namespace: str | None = None, *, unblock_mrt: bool = True) -> list[str]:
    """Remove the DC on every node (and lift the MRT fence); returns the errors met, if any.

    Also the clean-up after an interrupted XDR backup (the Go CLI's ``--stop-xdr``/``--unblock-mrt``).
    """
    errors = []
    for node in node_names(cluster):
        commands = [f"set-config:context=xdr;dc={dc};action=delete"]
        if unblock_mrt and namespace:
            commands.append(f"set-config:context=namespace;namespace={namespace};disable-mrt-writes=false")
        for command in commands:
            try:
                answer = cluster.info(command, node)
                if "ERROR" in answer.upper() and "disable-mrt-writes" not in command:
                    errors.append(f"node {node}: '{command}': {answer.strip()}")
            except AerobackupError as exc:
                errors.append(f"node {node}: '{command}': {exc}")
    return errors


# --- the job ------------------------------------------------------------------------------------


def build_transforms(
    runtime: Runtime,
    compression: CompressionPolicy,
    encryption: EncryptionPolicy,
    secret_agent: SecretAgentConfig | None,
) -> list[Transform]:
    """The transforms of a policy pair, in write order (zstd, then AES with the derived key)."""
    out: list[Transform] = []
    if compression.enabled:
        out.append(runtime.transform(compression.mode, TransformOptions(level=compression.level)))
    key = load_aes_key(encryption, runtime, secret_agent=secret_agent)
    if key is not None:
        out.append(runtime.transform(encryption.mode, TransformOptions(key=key)))
    return out


def _check_destination(storage: StorageBackend, namespace: str) -> None:
    try:
        clash = [o.name for o in storage.list("") if o.name.endswith(asbx_io.SUFFIX)]
    except BackupNotFoundError:
        return  # a directory that does not exist yet is empty; writing creates it
    if clash:
        raise StorageError(
            f"the backup location already holds ASBX files ({', '.join(sorted(clash)[:3])}"
            f"{', …' if len(clash) > 3 else ''}): choose an empty directory"
        )


def backup_xdr(
    config: BackupXdrConfig,
    storage: StorageBackend,
    cluster: InfoCluster,
    *,
    runtime: Runtime | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 1.0,
    stats_delay: float = 3.0,
) -> Job[BackupStats]:
    """Start an XDR backup of ``config.namespace`` into ``storage``; returns its job handle.

    ``cluster`` is an ``aerobackup.cluster.Cluster`` (anything with ``nodes()`` and
    ``info(command, node)``). ``stats_delay`` is how long after setting up XDR the first stats
    are trusted (a node may not report its rewind at once; backup-go waits 3 s).
    ``job.wait()`` returns BackupStats (``files_written`` lists the ASBX files).
    """
    counters = Counters(BackupStats)
    rt = runtime if runtime is not None else Runtime.discover()

    def run(control: JobControl) -> None:
        _Run(config, storage, cluster, rt, control, counters, stats_delay).run()

    return Job("backup-xdr", run, counters, progress=progress, progress_interval=progress_interval)


class _Run:
    def __init__(
        self,
        config: BackupXdrConfig,
        storage: StorageBackend,
        cluster: InfoCluster,
        rt: Runtime,
        control: JobControl,
        counters: Counters,
        stats_delay: float,
    ) -> None:
        self.config = config
        self.storage = storage
        self.cluster = cluster
        self.rt = rt
        self.control = control
        self.counters = counters
        self.stats_delay = stats_delay
        self.writers: list[Writer] = []
        self.receiver: XdrReceiver | None = None
        self.started_nodes: list[str] = []
        self.host_port = ""
        self.mrt_blocked: list[str] = []

    def run(self) -> None:
        config = self.config
        transforms = build_transforms(self.rt, config.compression, config.encryption, config.secret_agent)
        check_file_limit(self.storage, config.file_limit)
        if self.storage.info().single_stream and (config.parallel_write > 1 or config.file_limit):
            raise ConfigError(
                "backup_xdr.parallel_write",
                "a single output stream takes one file: set parallel_write 1 and file_limit 0",
            )
        _check_destination(self.storage, config.namespace)
        files = Files(config, self.storage, transforms, self.counters)
        receiver = XdrReceiver(
            self._deliver,
            host=config.local_address,
            port=config.local_port,
            tls=config.tls,
            max_connections=config.max_connections,
            read_timeout=config.read_timeout_ms / 1000,
            write_timeout=config.write_timeout_ms / 1000,
            ack_queue_size=config.ack_queue_size,
        )
        self.writers = [
            Writer(i, files, receiver.mark_done, config.result_queue_size) for i in range(config.parallel_write)
        ]
        self.receiver = receiver
        failed: BaseException | None = None
        try:
            host, port = receiver.start()
            self._start_nodes(f"{config.local_address}:{port}")
            self._wait_shipped()
        except BaseException as exc:
            failed = exc
        finally:
            self._clean_up(failed)
        if failed is not None:
            raise failed

    def _deliver(self, items: list[tuple[XdrToken, AckSlot]]) -> None:
        writers = self.writers
        n = len(writers)
        if n == 1:
            writers[0].put(items)
            return
        # backup-go's split: partition ranges of equal size per writer
        share = 4096 // n
        parts: list[list[tuple[XdrToken, AckSlot]]] = [[] for _ in writers]
        for item in items:
            parts[min(partition_id(item[0].digest) // share, n - 1)].append(item)
        for writer, part in zip(writers, parts, strict=True):
            if part:
                writer.put(part)

    def _info(self, node: str, command: str) -> str:
        policy = self.config.info_retry
        for attempt in range(policy.max_retries + 1):
            try:
                return self.cluster.info(command, node)
            except ClusterError as exc:
                if exc.code is not None or attempt >= policy.max_retries:
                    raise
                time.sleep(policy.delay(attempt))
        raise AssertionError("unreachable")

    def _start_nodes(self, host_port: str) -> None:
        nodes = node_names(self.cluster)
        if not nodes:
            raise ClusterError("the cluster has no node to set up XDR on")
        self._check_coverage(nodes)
        self.host_port = host_port
        for node in nodes:
            self.control.check()
            self._start_node(node)

    def _start_node(self, node: str) -> None:
        for i, command in enumerate(start_xdr_commands(self.config, self.host_port)):
            answer = self._info(node, command)
            _check_answer(node, command, answer)
            if i == 0 and node not in self.started_nodes:
                self.started_nodes.append(node)
        log.info(
            "XDR: node %s ships namespace %s to %s (dc %s, rewind %s)",
            node,
            self.config.namespace,
            self.host_port,
            self.config.dc,
            self.config.rewind,
        )

    def _check_coverage(self, nodes: list[str]) -> None:
        """Every partition must be mastered by a node we set up: a node we do not know of would
        not ship its records, and the backup would silently miss them."""
        owners_of = getattr(self.cluster, "partition_owners", None)
        if owners_of is None:
            return
        owners = owners_of(self.config.namespace)
        missing = [p for p, owner in enumerate(owners) if owner not in nodes]
        if missing:
            raise ClusterError(
                f"namespace {self.config.namespace}: {len(missing)} partitions (first {missing[0]}) have no known "
                f"master node (nodes: {', '.join(nodes)}); the backup would miss their records"
            )

    def _stats(self, node: str) -> XdrStats:
        command = f"get-stats:context=xdr;dc={self.config.dc};namespace={self.config.namespace}"
        last: BaseException | None = None
        for attempt in range(_GET_STATS_ATTEMPTS):
            if attempt:
                time.sleep(min(attempt * 0.5, 2.0))
            try:
                answer = self._info(node, command)
                if "DC not found" in answer:
                    # the node lost its XDR set-up (restarted?): set it up again, as backup-go does
                    log.warning("XDR: node %s has no dc %s any more; setting it up again", node, self.config.dc)
                    self._start_node(node)
                    return XdrStats(lag=1, recoveries=0, recoveries_pending=1)
                if "ERROR" in answer.upper():
                    raise ClusterError(f"node {node}: '{command}' failed: {answer.strip()}")
                return parse_stats(answer)
            except ClusterError as exc:
                last = exc
        raise ClusterError(f"node {node}: cannot read XDR stats after {_GET_STATS_ATTEMPTS} attempts: {last}")

    def _wait_shipped(self) -> None:
        config, receiver, control = self.config, self.receiver, self.control
        assert receiver is not None
        period = config.info_polling_period_ms / 1000
        start = time.monotonic()
        deadline = start + config.start_timeout_ms / 1000 if config.start_timeout_ms else None
        trusted = start + self.stats_delay
        nodes = list(self.started_nodes)
        recovered: set[str] = set()
        finished: set[str] = set()
        pending: dict[str, int] = {}  # recoveries (partition rewinds) still to do, per node
        fenced = False
        while True:
            if control.cancel_event.wait(min(period, max(0.0, trusted - time.monotonic())) or period):
                raise JobCancelled("XDR backup cancelled")
            self._check_writers()
            now = time.monotonic()
            if now < trusted:
                continue
            for node in self._joined(nodes):  # a node that joined ships its partitions too
                self._start_node(node)
                nodes.append(node)
                if fenced:
                    self._block_mrt([node])
            for node in nodes:
                if node in finished:
                    continue
                stats = self._stats(node)
                log.debug("XDR stats of %s: %r", node, stats)
                pending[node] = stats.recoveries_pending
                if stats.recoveries_pending:
                    continue
                recovered.add(node)
                if len(recovered) < len(nodes):
                    continue  # the fence goes up only when every node has finished its rewind
                if not fenced:
                    self._block_mrt(nodes)
                    fenced = True
                if stats.lag == 0:
                    self._stop_node(node)
                    finished.add(node)
            if len(pending) == len(nodes):  # progress: partitions whose rewind is shipped
                left = min(_PARTITIONS, sum(0 if n in finished else p for n, p in pending.items()))
                self.counters.set(partitions_total=_PARTITIONS, partitions_done=_PARTITIONS - left)
            if len(finished) == len(nodes):
                return
            if deadline is not None and not receiver.first_message.is_set() and now > deadline:
                raise ClusterError(
                    f"no record arrived from the cluster within {config.start_timeout_ms} ms: check that "
                    f"{config.local_address}:{receiver.port} is reachable from the nodes (local_address)"
                )

    def _joined(self, known: list[str]) -> list[str]:
        """Nodes the cluster view has now and we have not set up (the view is re-read when the
        cluster object can: ``check()`` refreshes ``aerobackup.cluster.Cluster`` when a node's
        partition generation changed)."""
        check = getattr(self.cluster, "check", None)
        if callable(check):
            try:
                check()
            except AerobackupError as exc:  # a node going away shows in its stats; go on
                log.debug("XDR: cluster check failed: %s", exc)
        return [n for n in node_names(self.cluster) if n not in known]

    def _block_mrt(self, nodes: list[str]) -> None:
        for node in nodes:
            command = f"set-config:context=namespace;namespace={self.config.namespace};disable-mrt-writes=true"
            try:
                answer = self._info(node, command)
            except ClusterError as exc:
                answer = f"ERROR: {exc}"
            if "ERROR" in answer.upper():  # backup-go logs and goes on
                log.warning("XDR: node %s: cannot fence MRT writes: %s", node, answer.strip())
            self.mrt_blocked.append(node)

    def _stop_node(self, node: str) -> None:
        ns, dc = self.config.namespace, self.config.dc
        if node in self.mrt_blocked:
            self._info(node, f"set-config:context=namespace;namespace={ns};disable-mrt-writes=false")
            self.mrt_blocked.remove(node)
        answer = self._info(node, f"set-config:context=xdr;dc={dc};action=delete")
        _check_answer(node, "remove dc", answer)
        self.started_nodes.remove(node)

    def _check_writers(self) -> None:
        for w in self.writers:
            if w.error is not None:
                raise w.error

    def _clean_up(self, failed: BaseException | None) -> None:
        for node in list(self.started_nodes):
            try:
                self.cluster.info(f"set-config:context=xdr;dc={self.config.dc};action=delete", node)
            except AerobackupError as exc:
                log.warning("XDR: could not remove dc %s from node %s: %s", self.config.dc, node, exc)
        for node in list(self.mrt_blocked):
            try:
                self.cluster.info(
                    f"set-config:context=namespace;namespace={self.config.namespace};disable-mrt-writes=false", node
                )
            except AerobackupError as exc:
                log.warning("XDR: could not lift the MRT fence on node %s: %s", node, exc)
        if self.receiver is not None:
            self.receiver.stop()
            rs = self.receiver.stats()
            self.counters.add(records_skipped=rs.duplicates + rs.skipped)
        if failed is None:
            for w in self.writers:
                w.finish()
            errors = [w.error for w in self.writers if w.error is not None]
            if errors:
                raise errors[0]
        else:
            for w in self.writers:
                w.abort()
            for w in self.writers:
                w.thread.join(5.0)
