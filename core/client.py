"""The library entry point: ``Client`` starts backups, restores and estimates.

    client = aerobackup.Client(cluster=ClusterConfig(hosts=("127.0.0.1:3000",)))
    job = client.backup(BackupConfig(namespace="test"), "backups/nightly", progress=print)
    stats = job.wait()

A client is built from a cluster config (it connects on first use through
``aerobackup.cluster.Cluster``), from any object implementing RecordSource/RecordSink, or from an
official ``aerospike`` client (its seed nodes). It is thread-safe: several jobs may run at once.
No CLI and no config file are needed.

XDR: ``backup_xdr`` makes the cluster ship a namespace to an ASBX backup (docs/xdr.md), and
``restore`` sends ASBX backups back (``RestoreConfig(decoder="asbx")``, or on its own when the
location holds only ``.asbx`` files and the decoder is left at ``asb``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from .backup import make_backup_runner
from .config import BackupConfig, ClusterConfig, RestoreConfig
from .datapath import RecordSink, RecordSource
from .errors import BackupNotFoundError, ConfigError
from .estimate import BackupEstimate, estimate
from .jobs import BackupStats, Counters, Job, ProgressCallback, RestoreStats
from .protocols import StorageBackend, StorageURL
from .restore import RestoreInput, make_restore_runner
from .runtime import Runtime

if TYPE_CHECKING:
    from .xdr import BackupXdrConfig

__all__ = ["BackupJob", "Client", "RestoreJob"]

BackupJob = Job[BackupStats]
RestoreJob = Job[RestoreStats]


class Client:
    """Backs up and restores one cluster. ``source`` may be any RecordSource/RecordSink object."""

    def __init__(
        self,
        source: RecordSource | RecordSink | None = None,
        *,
        cluster: ClusterConfig | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        if source is None and cluster is None:
            cluster = ClusterConfig()
        if source is not None and cluster is not None:
            raise ConfigError("cluster", "give either a record source object or a cluster config, not both")
        self._source = source
        self._cluster_config = cluster
        self._runtime = runtime
        self._lock = threading.Lock()
        self._owned = False

    @classmethod
    def from_aerospike(cls, client: Any, *, runtime: Runtime | None = None, **cluster: Any) -> Client:
        """A client for the cluster an official ``aerospike`` client is connected to (its nodes
        become the seeds; ``cluster`` keywords add credentials, TLS, timeouts)."""
        from .cluster import Cluster

        hosts = tuple(f"{h}:{p}" for h, p, *_ in client.get_nodes())
        if not hosts:
            raise ConfigError("cluster.hosts", "the aerospike client is not connected to any node")
        config = ClusterConfig(hosts=hosts, **cluster)
        made = cls(cluster=config, runtime=runtime)
        made._source = cast(RecordSource, Cluster.from_client(client, config))
        made._owned = False  # the caller's client stays the caller's to close
        return made

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = Runtime.discover()
            return self._runtime

    def _connection(self) -> Any:
        with self._lock:
            if self._source is None:
                from .cluster import Cluster  # the wire data path; imported when first needed

                assert self._cluster_config is not None
                self._source = cast(RecordSource, Cluster.connect(self._cluster_config))
                self._owned = True
            return self._source

    def _source_spec(self) -> Any:
        """What a worker process needs to reach the cluster: the config, or the object itself."""
        return self._cluster_config if self._cluster_config is not None else self._source

    def _storage(self, target: str | StorageURL | StorageBackend) -> tuple[StorageBackend, str]:
        if isinstance(target, str):
            return self.runtime.storage(StorageURL.parse(target)), target
        if isinstance(target, StorageURL):  # a location with its storage options (the CLI's)
            return self.runtime.storage(target), str(target)
        return target, type(target).__name__

    def close(self) -> None:
        """Close the cluster connection this client opened (objects passed in are left alone)."""
        with self._lock:
            if self._owned and self._source is not None:
                close = getattr(self._source, "close", None)
                if close is not None:
                    close()
                self._source = None
                self._owned = False

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- jobs -------------------------------------------------------------------------------

    def backup(
        self,
        config: BackupConfig,
        storage: str | StorageURL | StorageBackend | None = None,
        *,
        progress: ProgressCallback | None = None,
        progress_interval: float = 1.0,
    ) -> BackupJob:
        """Start a backup into ``storage`` (a directory, URL or StorageBackend). With
        ``config.output_file`` the storage may be omitted: the file's folder is used (``-``: stdout)."""
        if storage is None:
            if config.output_file is None:
                raise ConfigError("backup.directory", "give a storage (directory or URL) or an output_file")
            storage, config = self._single_file_target(config)
        st, where = self._storage(storage)
        source = cast(RecordSource, self._connection())
        run = make_backup_runner(rt=self.runtime, source=source, source_spec=self._source_spec(), storage=st,
                                 where=where, config=config,
                                 storage_spec=storage if isinstance(storage, (str, StorageURL)) else None)
        return Job("backup", run, Counters(BackupStats), progress=progress, progress_interval=progress_interval)

    def _single_file_target(self, config: BackupConfig) -> tuple[str, BackupConfig]:
        import dataclasses
        import os

        out = cast(str, config.output_file)
        if out == "-":
            return "-", config
        url = StorageURL.parse(out)
        if url.scheme:
            head, _, base = url.path.rpartition("/")
            return f"{url.scheme}://{head}", dataclasses.replace(config, output_file=base)
        folder, base = os.path.split(os.path.abspath(out))
        return folder, dataclasses.replace(config, output_file=base)

    def restore(
        self,
        config: RestoreConfig,
        source: RestoreInput,
        *,
        parent: str | None = None,
        progress: ProgressCallback | None = None,
        progress_interval: float = 1.0,
    ) -> RestoreJob:
        """Start a restore from a directory, a list of directories (under ``parent``), a file,
        ``-`` (stdin) or a StorageBackend. ``config.validate_only`` decodes without writing.

        An ASBX (XDR) backup is restored by ``aerobackup.xdr.restore_asbx``: with
        ``decoder="asbx"``, or when the decoder is left at ``asb`` and the location holds ``.asbx``
        files and no ``.asb`` ones (options that do not apply are then refused by name)."""
        if config.decoder == "asb" and self._holds_only_asbx(source, parent):
            config = dataclasses.replace(config, decoder="asbx")
        if config.decoder == "asbx":
            return self._restore_asbx(config, source, parent, progress, progress_interval)
        sink = None if config.validate_only else cast(RecordSink, self._connection())
        run = make_restore_runner(rt=self.runtime, sink=sink, inputs=source, config=config, parent=parent,
                                  sink_spec=None if sink is None else self._source_spec())
        return Job("restore", run, Counters(RestoreStats), progress=progress, progress_interval=progress_interval)

    def backup_xdr(
        self,
        config: BackupXdrConfig,
        storage: str | StorageBackend,
        *,
        progress: ProgressCallback | None = None,
        progress_interval: float = 1.0,
        stats_delay: float = 3.0,
    ) -> BackupJob:
        """Start an XDR backup (the cluster ships ``config.namespace`` to our receiver, written to
        ASBX files in ``storage``); see docs/xdr.md. Needs an Enterprise Edition cluster: a
        Community Edition one refuses at once (ClusterError)."""
        from .xdr import backup_xdr

        st, _ = self._storage(storage)
        cluster = self._connection()
        if not callable(getattr(cluster, "info", None)) or not hasattr(cluster, "nodes"):
            raise ConfigError("cluster", "an XDR backup needs a cluster connection (info commands to every node), "
                                         f"not a {type(cluster).__name__}")
        return backup_xdr(config, st, cluster, runtime=self.runtime, progress=progress,
                          progress_interval=progress_interval, stats_delay=stats_delay)

    def stop_xdr(self, dc: str, namespace: str | None = None, *, unblock_mrt: bool = True) -> list[str]:
        """Remove the XDR DC ``dc`` from every node (and lift the MRT write fence of
        ``namespace``) after an interrupted XDR backup; returns the problems met ([] when fine)."""
        from .xdr import stop_xdr

        return stop_xdr(self._connection(), dc, namespace, unblock_mrt=unblock_mrt)

    # --- ASBX restores ------------------------------------------------------------------------

    def _asbx_location(self, source: RestoreInput, parent: str | None) -> tuple[StorageBackend, list[str] | None]:
        """The one storage an ASBX restore reads, and the file to read when a file was named."""
        if isinstance(source, str) or not isinstance(source, Sequence):
            entry: str | StorageBackend = source
        elif len(source) == 1:
            entry = source[0]
        else:
            raise ConfigError("restore.input", "an ASBX (XDR) restore reads one location at a time "
                                               f"(got {len(source)}): restore each directory in turn")
        if not isinstance(entry, str):
            return entry, None
        if entry == "-":
            raise ConfigError("restore.input", "an ASBX (XDR) restore cannot read stdin (its files are read in "
                                               "file-number order): give a directory or a file")
        if parent:
            loc = (parent.rstrip("/") + "/" + entry.lstrip("/") if StorageURL.parse(parent).scheme
                   else os.path.join(parent, entry))
        else:
            loc = entry
        url = StorageURL.parse(loc)
        if not url.scheme and os.path.isfile(loc):
            folder, base = os.path.split(os.path.abspath(loc))
            return self.runtime.storage(StorageURL.parse(folder)), [base]
        if not url.scheme and not os.path.exists(loc):
            raise BackupNotFoundError(f"{loc}: no such file or directory")
        return self.runtime.storage(url), None

    def _holds_only_asbx(self, source: RestoreInput, parent: str | None) -> bool:
        """Auto-detection: one location holding ``.asbx`` files and no ``.asb`` file (a listing,
        nothing is read). Anything else (several locations, stdin, an unreadable place) keeps
        the ASB path, which reports its own errors."""
        try:
            entries = [source] if isinstance(source, str) or not isinstance(source, Sequence) else list(source)
            if len(entries) != 1 or entries[0] == "-":
                return False
            storage, files = self._asbx_location(source, parent)
            names = files if files is not None else [o.name for o in storage.list("") if "/" not in o.name]
        except Exception:  # noqa: BLE001 - detection only; the restore itself reports the problem
            return False
        return any(n.endswith(".asbx") for n in names) and not any(n.endswith(".asb") for n in names)

    def _restore_asbx(self, config: RestoreConfig, source: RestoreInput, parent: str | None,
                      progress: ProgressCallback | None, progress_interval: float) -> RestoreJob:
        from .xdr.restore_asbx import check_config, restore_asbx

        check_config(config)  # refuse what does not apply before connecting
        storage, files = self._asbx_location(source, parent)
        cluster = None if config.validate_only else self._connection()
        if cluster is not None and not callable(getattr(cluster, "owner_node", None)):
            raise ConfigError("restore.decoder", "an ASBX (XDR) restore sends each record to the node owning it: it "
                                                 f"needs a cluster connection, not a {type(cluster).__name__}")
        return restore_asbx(config, storage, cluster, runtime=self.runtime, files=files, progress=progress,
                            progress_interval=progress_interval)

    def estimate(self, config: BackupConfig) -> BackupEstimate:
        """Sample ``config.estimate_samples`` records and predict the backup's size."""
        return estimate(cast(RecordSource, self._connection()), self.runtime, config)
