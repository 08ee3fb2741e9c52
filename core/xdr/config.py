"""Configuration of an XDR backup (backup-go ``ConfigBackupXDR``), validated on construction.

An XDR backup does not scan: it asks the source cluster to *ship* its records to a TCP receiver
we run (wire-protocol.md §2.6, §10) and writes what arrives to ASBX files (asb-format.md §13).
Each field below has the meaning of its ConfigBackupXDR twin; time values are milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import CompressionPolicy, EncryptionPolicy, RetryPolicy, SecretAgentConfig, TlsConfig
from ..errors import ConfigError

__all__ = ["BackupXdrConfig", "REWIND_ALL"]

REWIND_ALL = "all"
_DC_NAME = re.compile(r"^[a-zA-Z0-9_\-$]+$")  # backup-go's rule for DC names


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"backup_xdr.{name}", message)


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupXdrConfig:
    """What to ship and how to receive it.

    ``local_address``/``local_port`` is where the receiver listens *and* what the cluster is
    told to connect to (``node-address-port``), so it must be reachable from every node;
    ``local_port`` 0 picks a free port (tests), and the port actually bound is sent.
    ``rewind`` is ``"all"`` (ship every record) or a number of seconds (records changed since).
    """

    namespace: str
    dc: str = "dc"  # name of the DC created on the source cluster (removed at the end)
    local_address: str = "127.0.0.1"
    local_port: int = 8080
    rewind: str = REWIND_ALL
    max_throughput: int = 0  # records/s per node, multiples of 100; 0: the server's default
    forward: bool = False  # also ship writes that came to the source from another XDR
    parallel_write: int = 1  # concurrent ASBX files (one per writer, records routed by partition)
    file_limit: int = 0  # bytes of file before a new one is started; 0: no limit (as backup-go)
    compression: CompressionPolicy = field(default_factory=CompressionPolicy)
    encryption: EncryptionPolicy = field(default_factory=EncryptionPolicy)
    secret_agent: SecretAgentConfig | None = None
    encoder: str = "asbx"  # the only format an XDR backup writes
    tls: TlsConfig | None = None  # receiver side: cert_file/key_file (and ca_file to require client certs)
    # TCP server. backup-go's library defaults are 100 ms deadlines; a second is kinder to a
    # busy machine and still closes idle connections quickly (XDR reconnects).
    read_timeout_ms: int = 1000
    write_timeout_ms: int = 1000
    result_queue_size: int = 256  # socket reads (each one or more records) queued per writer
    ack_queue_size: int = 256
    max_connections: int = 4096  # backup-go's default
    info_polling_period_ms: int = 1000
    start_timeout_ms: int = 30000  # fail when nothing arrives this long after the DC is set up
    info_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=3))

    def __post_init__(self) -> None:
        _check(bool(self.namespace), "namespace", "is required")
        _check(bool(self.dc), "dc", "must not be empty")
        _check(len(self.dc) < 32, "dc", f"must be shorter than 32 characters (got {len(self.dc)})")
        _check(bool(_DC_NAME.match(self.dc)), "dc", f"must match ^[a-zA-Z0-9_\\-$]+$ (got {self.dc!r})")
        _check(bool(self.local_address), "local_address", "must not be empty")
        _check(
            self.local_address not in ("0.0.0.0", "::", "[::]"),
            "local_address",
            f"is also the address the nodes are told to connect to: give one they can reach, not "
            f"{self.local_address!r}",
        )
        _check(0 <= self.local_port <= 65535, "local_port", f"must be 0 to 65535 (got {self.local_port})")
        if self.rewind != REWIND_ALL:
            ok = self.rewind.isdigit() and int(self.rewind) > 0
            _check(ok, "rewind", f"must be a positive number of seconds or 'all' (got {self.rewind!r})")
        _check(self.max_throughput >= 0, "max_throughput", f"must not be negative (got {self.max_throughput})")
        _check(
            self.max_throughput % 100 == 0, "max_throughput", f"must be a multiple of 100 (got {self.max_throughput})"
        )
        _check(1 <= self.parallel_write <= 1024, "parallel_write", f"must be 1 to 1024 (got {self.parallel_write})")
        _check(self.file_limit >= 0, "file_limit", f"must not be negative (got {self.file_limit})")
        _check(self.encoder == "asbx", "encoder", f"an XDR backup writes ASBX only (got {self.encoder!r})")
        for name in ("read_timeout_ms", "write_timeout_ms", "result_queue_size", "ack_queue_size", "start_timeout_ms"):
            value = getattr(self, name)
            _check(value >= 0, name, f"must not be negative (got {value})")
        _check(self.max_connections >= 1, "max_connections", f"must be at least 1 (got {self.max_connections})")
        _check(
            self.info_polling_period_ms >= 1,
            "info_polling_period_ms",
            f"must be at least 1 (got {self.info_polling_period_ms})",
        )
        if self.tls is not None and self.tls.enable:
            _check(bool(self.tls.cert_file), "tls.cert_file", "the receiver needs a certificate to serve TLS")

    @property
    def rewind_seconds(self) -> int | None:
        """None for ``all``, else the number of seconds."""
        return None if self.rewind == REWIND_ALL else int(self.rewind)
