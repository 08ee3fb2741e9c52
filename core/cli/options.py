"""Every option of ``aerobackup backup`` / ``backup xdr`` / ``restore``: one table, the single source of truth.

Each ``Opt`` names its flags (the C tools' short and long forms first, then Go CLI aliases),
how its value converts, its documented default, the C flag it mirrors, and its keys in the C
tools' TOML ``astools.conf`` and in the Go CLI's YAML. The click options, the TOML and YAML
loaders (``aerobackup.config_files``) and docs/cli.md are all checked against this table, so a
flag cannot exist in one place and be missing in another.

Values stay raw (strings from the command line, typed values from files) until
``aerobackup.cli.mapping`` converts them, so a ``secrets:`` reference can stand for any value.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BACKUP_OPTIONS",
    "COMMON_OPTIONS",
    "ESTIMATE_EXCLUDED",
    "Opt",
    "PROMPT",
    "RESTORE_OPTIONS",
    "VALIDATE_OPTIONS",
    "XDR_FROM_BACKUP",
    "XDR_OPTIONS",
    "options_for",
]

#: Value of ``-P``/``--password`` given without a value: ask on the terminal.
PROMPT = "\0prompt"


@dataclass(frozen=True, slots=True)
class Opt:
    """One command-line option.

    kind: ``str``, ``int``, ``float``, ``flag``, ``list`` (comma separated), ``password``
    (optional value: prompts when given bare), ``choice`` (one of ``choices``, case-insensitive).
    toml: ``(section, key)`` pairs; section ``cluster``, ``tool`` (``[asbackup]`` or
    ``[asrestore]``) or ``secret-agent``. yaml: dotted Go CLI YAML keys (``backup.`` becomes
    ``restore.`` for restore, see ``yaml_keys``).
    """

    dest: str
    flags: tuple[str, ...]
    kind: str
    help: str
    default: str = ""
    c: str = ""  # C asbackup/asrestore flag mirrored; "" = ours or the Go CLI's only
    toml: tuple[tuple[str, str], ...] = ()
    yaml: tuple[str, ...] = ()
    metavar: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    group: str = "general"
    note: str = ""  # shown in docs: differences from the reference tools

    @property
    def long(self) -> str:
        """The canonical long flag (the first one), e.g. ``--host``."""
        return next(f for f in self.flags if f.startswith("--"))

    @property
    def display(self) -> str:
        return ", ".join(self.flags)


def _o(dest: str, flags: str, kind: str, help: str, **kw: object) -> Opt:
    return Opt(dest, tuple(flags.split()), kind, help, **kw)  # type: ignore[arg-type]


# --- shared by backup, restore, estimate (and partly validate) ----------------------------

CONNECTION = "connection"
COMMON_OPTIONS: tuple[Opt, ...] = (
    # connection
    _o("host", "-h --host", "str", "Seed hosts: host[:tls-name][:port][,...].", default="127.0.0.1",
       c="-h, --host", toml=(("cluster", "host"),), yaml=("cluster.seeds",), metavar="HOSTS", group=CONNECTION),
    _o("port", "-p --port", "int", "Port of seeds given without one.", default="3000", c="-p, --port",
       toml=(("cluster", "port"),), minimum=1, maximum=65535, metavar="PORT", group=CONNECTION),
    _o("user", "-U --user", "str", "User name.", c="-U, --user", toml=(("cluster", "user"),),
       yaml=("cluster.user",), metavar="USER", group=CONNECTION),
    _o("password", "-P --password", "password",
       "Password; -P alone asks on the terminal. env:VAR, file:PATH, b64:TEXT and env-b64:VAR are read.",
       c="-P, --password", toml=(("cluster", "password"),), yaml=("cluster.password",), metavar="[PASS]",
       group=CONNECTION),
    _o("auth", "-A --auth", "choice", "Authentication mode.", default="INTERNAL", c="-A, --auth",
       toml=(("cluster", "auth"),), yaml=("cluster.auth",),
       choices=("INTERNAL", "EXTERNAL", "EXTERNAL_INSECURE", "PKI"), metavar="MODE", group=CONNECTION),
    _o("services_alternate", "-S --services-alternate", "flag", "Use alternate-access-address.",
       default="off", c="-S, --services-alternate", toml=(("cluster", "use-services-alternate"),),
       yaml=("cluster.services-alternate",), group=CONNECTION),
    _o("client_timeout", "--client-timeout", "int", "Connect/tend timeout in ms (Go CLI).", default="30000",
       yaml=("cluster.client-timeout",), minimum=0, metavar="MS", group=CONNECTION),
    _o("client_idle_timeout", "--client-idle-timeout", "int", "Idle connection timeout in ms (Go CLI).",
       default="0", yaml=("cluster.client-idle-timeout",), minimum=0, metavar="MS", group=CONNECTION),
    _o("client_login_timeout", "--client-login-timeout", "int", "Login timeout in ms (Go CLI).",
       default="10000", yaml=("cluster.client-login-timeout",), minimum=0, metavar="MS", group=CONNECTION),
    # TLS
    _o("tls_enable", "--tls-enable --tlsEnable", "flag", "Connect with TLS.", default="off", c="--tls-enable",
       toml=(("cluster", "tls-enable"),), yaml=("cluster.tls.enable",), group="tls"),
    _o("tls_name", "--tls-name --tlsName", "str", "TLS name of seeds given without one.", c="--tls-name",
       toml=(("cluster", "tls-name"),), metavar="NAME", group="tls"),
    _o("tls_cafile", "--tls-cafile --tlsCaFile", "str", "CA certificate file (PEM).", c="--tls-cafile",
       toml=(("cluster", "tls-cafile"),), yaml=("cluster.tls.cafile",), metavar="PATH", group="tls"),
    _o("tls_capath", "--tls-capath --tlsCaPath", "str", "Directory of CA certificates.", c="--tls-capath",
       toml=(("cluster", "tls-capath"),), yaml=("cluster.tls.capath",), metavar="DIR", group="tls"),
    _o("tls_protocols", "--tls-protocols --tlsProtocols", "str", "TLS protocols, e.g. 'TLSv1.2 TLSv1.3'.",
       c="--tls-protocols", toml=(("cluster", "tls-protocols"),), yaml=("cluster.tls.protocols",),
       metavar="SPEC", group="tls"),
    _o("tls_keyfile", "--tls-keyfile --tlsKeyFile", "str", "Client key file (mutual TLS).", c="--tls-keyfile",
       toml=(("cluster", "tls-keyfile"),), yaml=("cluster.tls.keyfile",), metavar="PATH", group="tls"),
    _o("tls_keyfile_password", "--tls-keyfile-password --tlsKeyFilePassword", "password",
       "Password of the key file; bare asks on the terminal; env:VAR and file:PATH are read.",
       c="--tls-keyfile-password", toml=(("cluster", "tls-keyfile-password"),),
       yaml=("cluster.tls.keyfile-password",), metavar="[PASS]", group="tls"),
    _o("tls_certfile", "--tls-certfile --tlsCertFile", "str", "Client certificate file (mutual TLS).",
       c="--tls-certfile", toml=(("cluster", "tls-certfile"),), yaml=("cluster.tls.certfile",),
       metavar="PATH", group="tls"),
    _o("tls_cipher_suite", "--tls-cipher-suite --tlsCipherSuite", "str", "Not supported yet (an error).",
       c="--tls-cipher-suite", toml=(("cluster", "tls-cipher-suite"),), metavar="SPEC", group="tls",
       note="rejected with a clear error: not supported yet"),
    _o("tls_crl_check", "--tls-crl-check --tlsCrlCheck", "flag", "Not supported yet (an error).",
       c="--tls-crl-check", toml=(("cluster", "tls-crl-check"),), group="tls",
       note="rejected with a clear error: not supported yet"),
    _o("tls_crl_check_all", "--tls-crl-check-all --tlsCrlCheckAll", "flag", "Not supported yet (an error).",
       c="--tls-crl-check-all", toml=(("cluster", "tls-crl-check-all"),), group="tls",
       note="rejected with a clear error: not supported yet"),
    _o("tls_cert_blacklist", "--tls-cert-blacklist --tls-cert-blackList --tlsCertBlackList", "str",
       "Deprecated in the C tools; not supported (an error).", c="--tls-cert-blacklist",
       toml=(("cluster", "tls-cert-blacklist"),), metavar="PATH", group="tls",
       note="rejected with a clear error; use a CRL"),
    _o("tls_log_session_info", "--tls-log-session-info", "flag", "Accepted and ignored.",
       c="--tls-log-session-info", group="tls", note="accepted, no effect"),
    # config files
    _o("config_file", "--config-file", "str", "Extra TOML file (astools.conf format), read after the defaults.",
       c="--config-file", metavar="PATH", group="config"),
    _o("instance", "--instance", "str", "Read [cluster_NAME], [asbackup_NAME]/[asrestore_NAME] sections.",
       c="--instance", metavar="NAME", group="config"),
    _o("no_config_file", "--no-config-file", "flag", "Read no TOML file at all.", c="--no-config-file",
       group="config"),
    _o("only_config_file", "--only-config-file", "str", "Read only this TOML file.", c="--only-config-file",
       metavar="PATH", group="config"),
    _o("config", "--config", "str", "YAML file with the Go CLI's keys; flags given too override it.",
       metavar="PATH", group="config", note="the Go CLI ignores every other flag when --config is given"),
    # secret agent
    _o("sa_address", "--sa-address", "str", "Secret Agent address: host[:port] or a UNIX socket path.",
       default="127.0.0.1", c="--sa-address", toml=(("secret-agent", "sa-address"),),
       yaml=("secret-agent.address",), metavar="ADDR", group="secret-agent"),
    _o("sa_port", "--sa-port", "int", "Secret Agent port.", default="3005", c="--sa-port",
       toml=(("secret-agent", "sa-port"),), yaml=("secret-agent.port",), minimum=1, maximum=65535,
       metavar="PORT", group="secret-agent"),
    _o("sa_timeout", "--sa-timeout", "int", "Secret Agent timeout in ms.", default="1000", c="--sa-timeout",
       toml=(("secret-agent", "sa-timeout"),), yaml=("secret-agent.timeout",), minimum=0, metavar="MS",
       group="secret-agent"),
    _o("sa_cafile", "--sa-cafile --sa-ca-file", "str", "CA file: talk TLS to the Secret Agent.",
       c="--sa-cafile", toml=(("secret-agent", "sa-cafile"),), yaml=("secret-agent.ca-file",), metavar="PATH",
       group="secret-agent"),
    _o("sa_connection_type", "--sa-connection-type", "choice", "tcp or unix (Go CLI).", default="tcp",
       yaml=("secret-agent.connection-type",), choices=("tcp", "unix"), metavar="TYPE", group="secret-agent"),
    _o("sa_tls_name", "--sa-tls-name", "str", "TLS name of the Secret Agent (Go CLI).",
       yaml=("secret-agent.tls-name",), metavar="NAME", group="secret-agent"),
    _o("sa_cert_file", "--sa-cert-file", "str", "Client certificate for the Secret Agent (Go CLI).",
       yaml=("secret-agent.cert-file",), metavar="PATH", group="secret-agent"),
    _o("sa_key_file", "--sa-key-file", "str", "Client key for the Secret Agent (Go CLI).",
       yaml=("secret-agent.key-file",), metavar="PATH", group="secret-agent"),
    _o("sa_is_base64", "--sa-is-base64", "flag", "Secrets are base64 encoded (Go CLI).", default="off",
       yaml=("secret-agent.is-base64",), group="secret-agent"),
    # compression and encryption (both directions)
    _o("compress", "-z --compress", "choice", "Compression: zstd (or none).", default="none", c="-z, --compress",
       toml=(("tool", "compress"),), yaml=("compression.compress",), choices=("zstd", "none"),
       metavar="ALGO", group="transforms"),
    _o("encrypt", "-y --encrypt", "choice", "Encryption: aes128 or aes256 (or none).", default="none",
       c="-y, --encrypt", toml=(("tool", "encrypt"),), yaml=("encryption.encrypt",),
       choices=("aes128", "aes256", "none"), metavar="ALGO", group="transforms"),
    _o("encryption_key_file", "--encryption-key-file", "str",
       "PEM private key file (or secrets:RESOURCE:KEY holding the PEM).", c="--encryption-key-file",
       toml=(("tool", "encryption-key-file"),), yaml=("encryption.key-file",), metavar="PATH",
       group="transforms"),
    _o("encryption_key_env", "--encryption-key-env", "str", "Environment variable holding the base64 key.",
       c="--encryption-key-env", toml=(("tool", "encryption-key-env"),), yaml=("encryption.key-env",),
       metavar="VAR", group="transforms"),
    _o("encryption_key_secret", "--encryption-key-secret", "str", "secrets:RESOURCE:KEY of the key (Go CLI).",
       yaml=("encryption.key-secret",), metavar="SECRET", group="transforms"),
    # timeouts and retries shared by both
    _o("socket_timeout", "--socket-timeout", "int", "Socket idle timeout in ms.", default="10000",
       c="--socket-timeout", toml=(("tool", "socket-timeout"),), yaml=("backup.socket-timeout",), minimum=0,
       metavar="MS", group="policy"),
    _o("total_timeout", "--total-timeout", "int", "Total timeout of one scan/write in ms; 0: none.",
       default="0", c="--total-timeout", toml=(("tool", "total-timeout"),), yaml=("backup.total-timeout",),
       minimum=0, metavar="MS", group="policy"),
    _o("machine", "-m --machine", "str", "Not supported: use --json for a machine-readable report.",
       c="-m, --machine", toml=(("tool", "machine"),), metavar="PATH", group="output",
       note="rejected with a clear error; --json prints the final report"),
    # S3 (C tools and Go CLI)
    _o("s3_region", "--s3-region", "str", "S3 region.", c="--s3-region", toml=(("tool", "s3-region"),),
       yaml=("aws.s3.region",), metavar="REGION", group="s3"),
    _o("s3_profile", "--s3-profile", "str", "AWS profile.", c="--s3-profile", toml=(("tool", "s3-profile"),),
       yaml=("aws.s3.profile",), metavar="NAME", group="s3"),
    _o("s3_endpoint_override", "--s3-endpoint-override", "str", "S3 endpoint URL (MinIO, moto, ...).",
       c="--s3-endpoint-override", toml=(("tool", "s3-endpoint-override"),), yaml=("aws.s3.endpoint-override",),
       metavar="URL", group="s3"),
    _o("s3_bucket_name", "--s3-bucket-name", "str", "Bucket; -d/-o/-i are then paths in it (Go CLI).",
       yaml=("aws.s3.bucket-name",), metavar="BUCKET", group="s3"),
    _o("s3_access_key_id", "--s3-access-key-id", "str", "Static access key id (Go CLI).",
       yaml=("aws.s3.access-key-id",), metavar="ID", group="s3"),
    _o("s3_secret_access_key", "--s3-secret-access-key", "str", "Static secret key (Go CLI).",
       yaml=("aws.s3.secret-access-key",), metavar="KEY", group="s3"),
    _o("s3_connect_timeout", "--s3-connect-timeout", "int", "S3 connect timeout in ms.", default="1000",
       c="--s3-connect-timeout", toml=(("tool", "s3-connect-timeout"),), minimum=0, metavar="MS", group="s3"),
    _o("s3_max_async_downloads", "--s3-max-async-downloads", "int", "Concurrent S3 downloads.", default="32",
       c="--s3-max-async-downloads", toml=(("tool", "s3-max-async-downloads"),), minimum=1, metavar="N",
       group="s3"),
    _o("s3_log_level", "--s3-log-level", "choice", "S3 SDK log level.", default="Fatal", c="--s3-log-level",
       toml=(("tool", "s3-log-level"),), choices=("Off", "Fatal", "Error", "Warn", "Info", "Debug", "Trace"),
       metavar="LEVEL", group="s3"),
    _o("s3_allow_system_proxy", "--s3-allow-system-proxy", "flag", "Honour http(s)_proxy for S3.",
       default="off", c="--s3-allow-system-proxy", toml=(("tool", "s3-allow-system-proxy"),), group="s3"),
    _o("s3_retry_max_attempts", "--s3-retry-max-attempts", "int", "S3 request retries (Go CLI).",
       default="10", yaml=("aws.s3.retry-max-attempts",), minimum=0, metavar="N", group="s3"),
    _o("s3_request_timeout", "--s3-request-timeout", "int", "Whole-request timeout in ms (Go CLI).",
       default="600000", yaml=("aws.s3.request-timeout",), minimum=0, metavar="MS", group="s3"),
    # GCS and Azure (Go CLI)
    _o("gcp_key_path", "--gcp-key-path", "str", "Service-account JSON file.", yaml=("gcp.storage.key-path",),
       metavar="PATH", group="gcs"),
    _o("gcp_bucket_name", "--gcp-bucket-name", "str", "GCS bucket; -d/-o/-i are then paths in it.",
       yaml=("gcp.storage.bucket-name",), metavar="BUCKET", group="gcs"),
    _o("gcp_endpoint_override", "--gcp-endpoint-override", "str", "GCS endpoint URL (emulators).",
       yaml=("gcp.storage.endpoint-override",), metavar="URL", group="gcs"),
    _o("azure_account_name", "--azure-account-name", "str", "Azure account name.",
       yaml=("azure.blob.account-name",), metavar="NAME", group="azure"),
    _o("azure_account_key", "--azure-account-key", "str", "Azure account key.", yaml=("azure.blob.account-key",),
       metavar="KEY", group="azure"),
    _o("azure_tenant_id", "--azure-tenant-id", "str", "AAD tenant id.", yaml=("azure.blob.tenant-id",),
       metavar="ID", group="azure"),
    _o("azure_client_id", "--azure-client-id", "str", "AAD client id.", yaml=("azure.blob.client-id",),
       metavar="ID", group="azure"),
    _o("azure_client_secret", "--azure-client-secret", "str", "AAD client secret.",
       yaml=("azure.blob.client-secret",), metavar="SECRET", group="azure"),
    _o("azure_endpoint", "--azure-endpoint", "str", "Blob service URL (Azurite, ...).",
       yaml=("azure.blob.endpoint",), metavar="URL", group="azure"),
    _o("azure_container_name", "--azure-container-name", "str", "Container; -d/-o/-i are then paths in it.",
       yaml=("azure.blob.container-name",), metavar="NAME", group="azure"),
    _o("azure_access_tier", "--azure-access-tier", "str", "Cold, Cool or Hot.", yaml=("azure.blob.access-tier",),
       metavar="TIER", group="azure"),
    # what the user sees
    _o("verbose", "-v --verbose", "flag", "Debug logs, and a traceback on errors.", default="off",
       c="-v, --verbose", toml=(("tool", "verbose"),), yaml=("app.verbose",), group="output"),
    _o("json", "--json", "flag", "Print the final report as JSON on stdout.", default="off", group="output"),
    _o("quiet", "--quiet", "flag", "No progress and no report; errors only.", default="off", group="output"),
    _o("no_progress", "--no-progress", "flag", "No progress bar (plain log lines when -v).", default="off",
       group="output"),
    _o("print_config", "--print-config", "flag",
       "Print the resolved configuration as JSON and exit (secrets hidden); contacts nothing.",
       default="off", group="output"),
    _o("executor", "--executor", "choice", "Run tasks on threads, processes, or a Dask or Ray cluster.",
       default="threads", choices=("threads", "processes", "dask", "ray"), metavar="KIND", group="policy",
       toml=(("tool", "executor"),), yaml=("app.executor",), note="aerobackup only: no C or Go equivalent"),
    _o("scheduler", "--scheduler", "str", "Dask scheduler (tcp://host:8786) or Ray address, for --executor dask/ray.",
       metavar="ADDR", group="policy", toml=(("tool", "scheduler"),), yaml=("app.scheduler",),
       note="aerobackup only"),
)

# --- backup only -------------------------------------------------------------------------

BACKUP_OPTIONS: tuple[Opt, ...] = (
    _o("namespace", "-n --namespace", "str", "Namespace to back up (required).", c="-n, --namespace",
       toml=(("tool", "namespace"),), yaml=("backup.namespace",), metavar="NS", group="what"),
    _o("set", "-s --set --set-list", "list", "Sets to back up (all when not given).", default="all",
       c="-s, --set", toml=(("tool", "set"),), yaml=("backup.set-list",), metavar="SETS", group="what",
       note="--set-list is the Go CLI's name, accepted too"),
    _o("bin_list", "-B --bin-list", "list", "Bins to back up (all when not given).", default="all",
       c="-B, --bin-list", toml=(("tool", "bin-list"),), yaml=("backup.bin-list",), metavar="BINS", group="what"),
    _o("directory", "-d --directory", "str", "Directory (or s3://, gs://, az:// URL) to write files to.",
       c="-d, --directory", toml=(("tool", "directory"),), yaml=("backup.directory",), metavar="DIR",
       group="where"),
    _o("output_file", "-o --output-file", "str", "Write one file ('-' for stdout).", c="-o, --output-file",
       toml=(("tool", "output-file"),), yaml=("backup.output-file",), metavar="FILE", group="where"),
    _o("output_file_prefix", "-q --output-file-prefix", "str", "File name prefix (default: the namespace).",
       c="-q, --output-file-prefix", toml=(("tool", "output-file-prefix"),), yaml=("backup.output-file-prefix",),
       metavar="PREFIX", group="where"),
    _o("remove_files", "-r --remove-files", "flag", "Delete an existing backup in the directory first.",
       default="off", c="-r, --remove-files", toml=(("tool", "remove-files"),), yaml=("backup.remove-files",),
       group="where"),
    _o("remove_artifacts", "--remove-artifacts", "flag", "Only delete an existing backup, then exit.",
       default="off", c="--remove-artifacts", toml=(("tool", "remove-artifacts"),),
       yaml=("backup.remove-artifacts",), group="where"),
    _o("file_limit", "-F --file-limit", "int", "Start a new file after this many MiB.", default="250",
       c="-F, --file-limit", toml=(("tool", "file-limit"),), yaml=("backup.file-limit",), minimum=1,
       metavar="MIB", group="where"),
    _o("continue_", "-c --continue", "str", "Resume the backup whose state file this is.", c="-c, --continue",
       toml=(("tool", "continue"),), yaml=("backup.continue",), metavar="STATE_FILE", group="resume"),
    _o("state_file_dst", "--state-file-dst", "str", "Keep a state file here so Ctrl-C can be resumed.",
       c="--state-file-dst", toml=(("tool", "state-file-dst"),), yaml=("backup.state-file-dst",), metavar="PATH",
       group="resume"),
    _o("scan_page_size", "--scan-page-size", "int", "Records per page with a state file (Go CLI).",
       default="10000", yaml=("backup.scan-page-size",), minimum=1, metavar="N", group="resume"),
    _o("parallel", "-w --parallel", "int", "Partition scans at once (1 to 100).", default="1 (16 with -l)",
       c="-w, --parallel", toml=(("tool", "parallel"),), yaml=("backup.parallel",), minimum=1, maximum=100,
       metavar="N", group="policy"),
    _o("compression_level", "--compression-level", "int", "zstd level 1 to 22 (0: zstd's default 3).",
       default="0", c="--compression-level", toml=(("tool", "compression-level"),), yaml=("compression.level",),
       minimum=0, maximum=22, metavar="N", group="transforms"),
    _o("no_bins", "-x --no-bins", "flag", "Back up record metadata only.", default="off", c="-x, --no-bins",
       toml=(("tool", "no-bins"),), yaml=("backup.no-bins",), group="what"),
    _o("no_records", "-R --no-records", "flag", "No records (indexes and UDFs only).", default="off",
       c="-R, --no-records", toml=(("tool", "no-records"),), yaml=("backup.no-records",), group="what"),
    _o("no_indexes", "-I --no-indexes", "flag", "No secondary indexes.", default="off", c="-I, --no-indexes",
       toml=(("tool", "no-indexes"),), yaml=("backup.no-indexes",), group="what"),
    _o("no_udfs", "-u --no-udfs", "flag", "No UDF modules.", default="off", c="-u, --no-udfs",
       toml=(("tool", "no-udfs"),), yaml=("backup.no-udfs",), group="what"),
    _o("compact", "-C --compact", "flag", "Write blobs raw instead of base64.", default="off", c="-C, --compact",
       toml=(("tool", "compact"),), yaml=("backup.compact",), group="what"),
    _o("node_list", "-l --node-list", "list", "Back up only these nodes (addr:port,...).", default="all",
       c="-l, --node-list", toml=(("tool", "node-list"),), yaml=("backup.node-list",), metavar="NODES",
       group="what"),
    _o("partition_list", "-X --partition-list", "list",
       "Partitions: ID, BEGIN-COUNT, or base64 digests, comma separated.", default="all",
       c="-X, --partition-list", toml=(("tool", "partition-list"),), yaml=("backup.partition-list",),
       metavar="FILTERS", group="what"),
    _o("after_digest", "-D --after-digest", "str", "Start after this record (base64 digest).",
       c="-D, --after-digest", toml=(("tool", "after-digest"),), yaml=("backup.after-digest",), metavar="DIGEST",
       group="what"),
    _o("filter_exp", "-f --filter-exp", "str", "Filter expression (base64, as asbackup takes it).",
       c="-f, --filter-exp", toml=(("tool", "filter-exp"),), yaml=("backup.filter-exp",), metavar="EXPR",
       group="what"),
    _o("modified_after", "-a --modified-after", "str", "Only records changed after YYYY-MM-DD_HH:MM:SS (local).",
       c="-a, --modified-after", toml=(("tool", "modified-after"),), yaml=("backup.modified-after",),
       metavar="TIME", group="what"),
    _o("modified_before", "-b --modified-before", "str", "Only records changed before YYYY-MM-DD_HH:MM:SS.",
       c="-b, --modified-before", toml=(("tool", "modified-before"),), yaml=("backup.modified-before",),
       metavar="TIME", group="what"),
    _o("no_ttl_only", "--no-ttl-only", "flag", "Only records that never expire.", default="off",
       c="--no-ttl-only", toml=(("tool", "no-ttl-only"),), yaml=("backup.no-ttl-only",), group="what"),
    _o("max_records", "-M --max-records", "int", "Stop after about this many records (0: all).", default="0",
       c="-M, --max-records", toml=(("tool", "max-records"),), yaml=("backup.max-records",), minimum=0,
       metavar="N", group="what"),
    _o("records_per_second", "-L --records-per-second", "int", "Read at most this many records/s (0: no limit).",
       default="0", c="-L, --records-per-second", toml=(("tool", "records-per-second"),),
       yaml=("backup.records-per-second",), minimum=0, metavar="N", group="policy"),
    _o("nice", "-N --nice --bandwidth", "int", "Write at most this many MiB/s (0: no limit).", default="0",
       c="-N, --nice", toml=(("tool", "nice"),), yaml=("backup.bandwidth",), minimum=0, metavar="MIB_S",
       group="policy", note="--bandwidth is the Go CLI's name, accepted too"),
    _o("estimate", "-e --estimate", "flag", "Estimate the backup size from a sample, write nothing.",
       default="off", c="-e, --estimate", toml=(("tool", "estimate"),), yaml=("backup.estimate",), group="what"),
    _o("estimate_samples", "--estimate-samples", "int", "Records sampled by --estimate.", default="10000",
       c="--estimate-samples", toml=(("tool", "estimate-samples"),), yaml=("backup.estimate-samples",),
       minimum=1, metavar="N", group="what"),
    _o("max_retries", "--max-retries", "int", "Retries of a failed scan.", default="5", c="--max-retries",
       toml=(("tool", "max-retries"),), yaml=("backup.max-retries",), minimum=0, metavar="N", group="policy"),
    _o("sleep_between_retries", "--sleep-between-retries --retry-delay", "int", "Wait between retries in ms.",
       default="0", c="--sleep-between-retries",
       toml=(("tool", "sleep-between-retries"), ("tool", "retry-delay")), yaml=("backup.sleep-between-retries",),
       minimum=0, metavar="MS", group="policy"),
    _o("prefer_racks", "--prefer-racks --rack-list", "list", "Read from these rack ids.",
       c="--prefer-racks", toml=(("tool", "prefer-racks"),), yaml=("backup.prefer-racks", "backup.rack-list"),
       metavar="IDS", group="policy", note="--rack-list (Go CLI) is taken as the same thing"),
    _o("info_timeout", "-T --info-timeout", "int", "Info command timeout in ms (Go CLI).", default="10000",
       yaml=("backup.info-timeout",), minimum=0, metavar="MS", group="policy"),
    _o("info_max_retries", "--info-max-retries", "int", "Info command retries (Go CLI).", default="3",
       yaml=("backup.info-max-retries",), minimum=0, metavar="N", group="policy"),
    _o("info_retry_interval", "--info-retry-interval --info-retry-timeout", "int",
       "First wait between info retries, ms (Go CLI).",
       default="1000", yaml=("backup.info-retry-interval",), minimum=0, metavar="MS", group="policy"),
    _o("info_retry_multiplier", "--info-retry-multiplier", "float", "Back-off multiplier of info retries.",
       default="1.0", yaml=("backup.info-retry-multiplier",), minimum=1.0, metavar="X", group="policy"),
    _o("s3_min_part_size", "--s3-min-part-size", "int", "S3 part size in MiB (5 to 5120).", default="computed",
       c="--s3-min-part-size", toml=(("tool", "s3-min-part-size"),), yaml=("aws.s3.chunk-size",), minimum=5,
       maximum=5120, metavar="MIB", group="s3", note="--s3-chunk-size (Go CLI) is not an alias: use this"),
    _o("s3_max_async_uploads", "--s3-max-async-uploads --s3-upload-concurrency", "int",
       "Concurrent S3 part uploads.", default="16", c="--s3-max-async-uploads",
       toml=(("tool", "s3-max-async-uploads"),), yaml=("aws.s3.upload-concurrency",), minimum=1, metavar="N",
       group="s3"),
    _o("s3_storage_class", "--s3-storage-class", "str", "Storage class of new objects (Go CLI).",
       yaml=("aws.s3.storage-class",), metavar="CLASS", group="s3"),
)

# --- restore only ------------------------------------------------------------------------

RESTORE_OPTIONS: tuple[Opt, ...] = (
    _o("namespace", "-n --namespace", "str", "SRC or SRC,DST: check / map the namespace.",
       default="from the backup", c="-n, --namespace", toml=(("tool", "namespace"),), yaml=("restore.namespace",),
       metavar="NS[,NS]", group="what"),
    _o("directory", "-d --directory", "str", "Directory (or URL) holding the backup.", c="-d, --directory",
       toml=(("tool", "directory"),), yaml=("restore.directory",), metavar="DIR", group="where"),
    _o("directory_list", "--directory-list", "list", "Several backup directories.", c="--directory-list",
       toml=(("tool", "directory-list"),), yaml=("restore.directory-list",), metavar="DIRS", group="where"),
    _o("parent_directory", "--parent-directory", "str", "Prefix of each --directory-list entry.",
       c="--parent-directory", toml=(("tool", "parent-directory"),), yaml=("restore.parent-directory",),
       metavar="DIR", group="where"),
    _o("input_file", "-i --input-file", "str", "Restore one file ('-' for stdin).", c="-i, --input-file",
       toml=(("tool", "input-file"),), yaml=("restore.input-file",), metavar="FILE", group="where"),
    _o("parallel", "-t --parallel --threads", "int", "Files read at once (1 to 4096).", default="4",
       c="-t, --parallel", toml=(("tool", "parallel"), ("tool", "threads")), yaml=("restore.parallel",),
       minimum=1, maximum=4096, metavar="N", group="policy",
       note="C default is 20 threads; ours is the library's 4 readers. --threads is deprecated in C"),
    _o("bin_list", "-B --bin-list", "list", "Restore only these bins.", default="all", c="-B, --bin-list",
       toml=(("tool", "bin-list"),), yaml=("restore.bin-list",), metavar="BINS", group="what"),
    _o("set_list", "-s --set-list", "list", "Restore only these sets.", default="all", c="-s, --set-list",
       toml=(("tool", "set-list"),), yaml=("restore.set-list",), metavar="SETS", group="what"),
    _o("unique", "-u --unique", "flag", "Create only: never touch existing records.", default="off",
       c="-u, --unique", toml=(("tool", "unique"),), yaml=("restore.unique",), group="write"),
    _o("replace", "-r --replace", "flag", "Replace whole records instead of updating bins.", default="off",
       c="-r, --replace", toml=(("tool", "replace"),), yaml=("restore.replace",), group="write"),
    _o("no_generation", "-g --no-generation", "flag", "Write regardless of generation.", default="off",
       c="-g, --no-generation", toml=(("tool", "no-generation"),), yaml=("restore.no-generation",), group="write"),
    _o("ignore_record_error", "--ignore-record-error", "flag", "Skip and count records the server refuses.",
       default="off", c="--ignore-record-error", toml=(("tool", "ignore-record-error"),),
       yaml=("restore.ignore-record-error",), group="write"),
    _o("extra_ttl", "-l --extra-ttl", "int", "Seconds added to the TTL of expirable records.", default="0",
       c="--extra-ttl", toml=(("tool", "extra-ttl"),), yaml=("restore.extra-ttl",), minimum=0,
       maximum=2147483647, metavar="SECONDS", group="write",
       note="-l is in asrestore's help but its parser rejects it; we accept it"),
    _o("nice", "-N --nice", "str", "MIB_S[,TPS]: bandwidth and records/s limits (0: none).", default="0,0",
       c="-N, --nice", toml=(("tool", "nice"),), metavar="MIB_S,TPS", group="policy"),
    _o("bandwidth", "--bandwidth", "int", "Read at most this many MiB/s (TOML bandwidth, Go CLI -N).",
       default="0", toml=(("tool", "bandwidth"),), yaml=("restore.bandwidth",), minimum=0, metavar="MIB_S",
       group="policy"),
    _o("records_per_second", "--records-per-second", "int", "Write at most this many records/s.",
       default="0", toml=(("tool", "tps"),), yaml=("restore.records-per-second",), minimum=0, metavar="N",
       group="policy", note="the Go CLI's -L; in asrestore -L is --indexes-last"),
    _o("validate", "--validate", "flag", "Only decode and count the backup; no cluster needed.", default="off",
       c="--validate", toml=(("tool", "validate"),), yaml=("restore.validate",), group="what"),
    _o("no_records", "-R --no-records", "flag", "No records (indexes and UDFs only).", default="off",
       c="-R, --no-records", toml=(("tool", "no-records"),), yaml=("restore.no-records",), group="what"),
    _o("no_indexes", "-I --no-indexes", "flag", "No secondary indexes.", default="off", c="-I, --no-indexes",
       toml=(("tool", "no-indexes"),), yaml=("restore.no-indexes",), group="what"),
    _o("no_udfs", "-F --no-udfs", "flag", "No UDF modules.", default="off", c="-F, --no-udfs",
       toml=(("tool", "no-udfs"),), yaml=("restore.no-udfs",), group="what"),
    _o("indexes_last", "-L --indexes-last --apply-metadata-last", "flag",
       "Create indexes after the records (always the case here).", default="on", c="-L, --indexes-last",
       toml=(("tool", "indexes-last"),), yaml=("restore.apply-metadata-last",), group="what",
       note="our default: indexes are always created after the records"),
    _o("wait", "-w --wait", "flag", "Wait for index builds and UDF propagation.", default="off", c="-w, --wait",
       toml=(("tool", "wait"),), group="what"),
    _o("timeout", "-T --timeout --info-timeout", "int", "Info command timeout in ms.", default="10000",
       c="-T, --timeout", toml=(("tool", "timeout"),), yaml=("restore.info-timeout",), minimum=0, metavar="MS",
       group="policy"),
    _o("max_retries", "--max-retries --retry-max-attempts", "int", "Retries of a failed write.", default="5",
       c="--max-retries", toml=(("tool", "max-retries"),), yaml=("restore.retry-max-attempts",), minimum=0,
       metavar="N", group="policy"),
    _o("retry_scale_factor", "--retry-scale-factor", "int", "Back-off unit of retries in µs.", default="150000",
       c="--retry-scale-factor", toml=(("tool", "retry-scale-factor"),), minimum=0, metavar="US", group="policy"),
    _o("retry_base_interval", "--retry-base-interval", "int", "First wait between retries in ms (Go CLI).",
       yaml=("restore.retry-base-interval",), minimum=0, metavar="MS", group="policy"),
    _o("retry_multiplier", "--retry-multiplier", "float", "Back-off multiplier (Go CLI).", default="1.0",
       yaml=("restore.retry-multiplier",), minimum=1.0, metavar="X", group="policy"),
    _o("sleep_between_retries", "--sleep-between-retries --retry-delay", "int",
       "Deprecated in asrestore: ignored with a warning.", toml=(("tool", "sleep-between-retries"),
                                                                 ("tool", "retry-delay")),
       c="--sleep-between-retries", minimum=0, metavar="MS", group="policy", note="ignored, as asrestore does"),
    _o("disable_batch_writes", "--disable-batch-writes", "flag", "Write records one by one.", default="off",
       c="--disable-batch-writes", toml=(("tool", "disable-batch-writes"),), yaml=("restore.disable-batch-writes",),
       group="write"),
    _o("batch_size", "--batch-size", "int", "Records per batch write (16 without batch writes).",
       default="128", c="--batch-size", toml=(("tool", "batch-size"),), yaml=("restore.batch-size",), minimum=1,
       metavar="N", group="write"),
    _o("max_async_batches", "--max-async-batches", "int", "Batches in flight.", default="32",
       c="--max-async-batches", toml=(("tool", "max-async-batches"),), yaml=("restore.max-async-batches",),
       minimum=1, metavar="N", group="write"),
    _o("event_loops", "--event-loops", "int", "Accepted for compatibility; no effect.", default="1",
       c="--event-loops", toml=(("tool", "event-loops"),), minimum=1, metavar="N", group="policy",
       note="accepted, no effect"),
    _o("mode", "--mode", "choice", "Backup format: asb, asbx or auto (from the file names).", default="auto",
       choices=("asb", "asbx", "auto"), metavar="MODE", group="what"),
)

# --- backup xdr only (the Go CLI's ``asbackup xdr``) ---------------------------------------

XDR = "xdr"
XDR_OPTIONS: tuple[Opt, ...] = (
    _o("parallel_write", "--parallel-write", "int", "ASBX files written at once (1 to 1024).",
       default="number of CPUs", minimum=1, maximum=1024, metavar="N", group="policy"),
    _o("dc", "--dc", "str", "Name of the XDR DC created on the source for the backup (removed at the end).",
       default="dc", metavar="NAME", group=XDR),
    _o("local_address", "--local-address", "str",
       "Address the receiver listens on, and that the nodes are told to connect to.", default="127.0.0.1",
       metavar="ADDR", group=XDR),
    _o("local_port", "--local-port", "int", "Port the receiver listens on (0: a free one).", default="8080",
       minimum=0, maximum=65535, metavar="PORT", group=XDR),
    _o("rewind", "--rewind", "str", "'all' (every record) or SECONDS (records changed that recently).",
       default="all", metavar="SECONDS", group=XDR),
    _o("max_throughput", "--max-throughput", "int", "Records/s per node, a multiple of 100 (0: the server's).",
       default="0", minimum=0, metavar="N", group=XDR, note="ours; backup-go's library option"),
    _o("forward", "--forward", "flag", "Also ship writes that came to the source from another XDR.",
       default="off", group=XDR, note="ours; backup-go's library option"),
    _o("read_timeout", "--read-timeout", "int", "Receiver: read deadline per connection in ms.", default="1000",
       minimum=0, metavar="MS", group=XDR),
    _o("write_timeout", "--write-timeout", "int", "Receiver: write (ack) deadline per connection in ms.",
       default="1000", minimum=0, metavar="MS", group=XDR),
    _o("results_queue_size", "--results-queue-size", "int", "Receiver: socket reads queued per writer.",
       default="256", minimum=0, metavar="N", group=XDR),
    _o("ack_queue_size", "--ack-queue-size", "int", "Receiver: unacknowledged messages per connection.",
       default="256", minimum=0, metavar="N", group=XDR),
    _o("max_connections", "--max-connections", "int", "Receiver: connections at once; more are closed.",
       default="100", minimum=1, metavar="N", group=XDR),
    _o("info_polling_period", "--info-polling-period --info-poling-period", "int",
       "How often the nodes' XDR stats (rewind progress, lag) are read, in ms.", default="1000", minimum=1,
       metavar="MS", group=XDR, note="--info-poling-period is the Go CLI's spelling, accepted too"),
    _o("start_timeout", "--start-timeout", "int",
       "Fail when no record arrives this long after XDR is set up, in ms (0: wait forever).", default="30000",
       minimum=0, metavar="MS", group=XDR),
    _o("xdr_tls_certfile", "--xdr-tls-certfile", "str",
       "Receiver: TLS certificate (PEM) served to the nodes; giving it turns TLS on.", metavar="PATH",
       group=XDR, note="ours; backup-go's library option TLSConfig"),
    _o("xdr_tls_keyfile", "--xdr-tls-keyfile", "str",
       "Receiver: private key of that certificate (default: read from the certificate file).", metavar="PATH",
       group=XDR, note="ours"),
    _o("xdr_tls_cafile", "--xdr-tls-cafile", "str",
       "Receiver: CA of the nodes' client certificates; giving it requires them (mutual TLS).", metavar="PATH",
       group=XDR, note="ours"),
    _o("stop_xdr", "--stop-xdr", "flag",
       "Only remove the DC from every node (after an interrupted XDR backup), then exit.", default="off",
       group=XDR),
    _o("unblock_mrt", "--unblock-mrt", "flag",
       "Only lift the MRT write fence of the namespace (after an interrupted XDR backup), then exit.",
       default="off", group=XDR),
)

#: Options of ``backup`` that ``backup xdr`` takes too (the same meaning and units; -F is MiB).
XDR_FROM_BACKUP: tuple[str, ...] = (
    "namespace", "directory", "remove_files", "file_limit", "compression_level", "info_max_retries",
    "info_retry_interval", "info_retry_multiplier", "s3_min_part_size", "s3_max_async_uploads", "s3_storage_class",
)

#: Options of both backup and restore that mean nothing for ``backup xdr`` (it neither scans nor writes records).
XDR_EXCLUDED: tuple[str, ...] = ("socket_timeout", "total_timeout", "executor", "scheduler")

#: Options of ``validate``: the decoding side of restore, no cluster.
VALIDATE_OPTIONS: tuple[str, ...] = (
    "compress", "encrypt", "encryption_key_file", "encryption_key_env", "encryption_key_secret",
    "sa_address", "sa_port", "sa_timeout", "sa_cafile", "sa_connection_type", "sa_tls_name", "sa_cert_file",
    "sa_key_file", "sa_is_base64", "namespace", "mode", "verbose", "json", "quiet", "no_progress",
    "print_config", "config_file", "instance", "no_config_file", "only_config_file", "config", "directory",
    "input_file", "directory_list", "parent_directory",
)

#: Backup options that make no sense for ``estimate`` (it writes nothing).
ESTIMATE_EXCLUDED: tuple[str, ...] = (
    "directory", "output_file", "output_file_prefix", "remove_files", "remove_artifacts", "file_limit",
    "continue_", "state_file_dst", "scan_page_size", "estimate", "compact", "s3_min_part_size",
    "s3_max_async_uploads", "s3_storage_class",
)


def options_for(command: str) -> tuple[Opt, ...]:
    """The options of ``backup``, ``backup-xdr`` (``backup xdr``), ``restore``, ``estimate`` or
    ``validate``, in table order."""
    if command == "backup":
        return COMMON_OPTIONS + BACKUP_OPTIONS
    if command == "estimate":
        return tuple(o for o in COMMON_OPTIONS + BACKUP_OPTIONS if o.dest not in ESTIMATE_EXCLUDED)
    if command == "restore":
        return COMMON_OPTIONS + RESTORE_OPTIONS
    if command == "backup-xdr":
        backup = {o.dest: o for o in BACKUP_OPTIONS}
        return (tuple(o for o in COMMON_OPTIONS if o.dest not in XDR_EXCLUDED)
                + tuple(backup[d] for d in XDR_FROM_BACKUP) + XDR_OPTIONS)
    if command == "validate":
        table = {o.dest: o for o in COMMON_OPTIONS + RESTORE_OPTIONS}
        return tuple(table[d] for d in VALIDATE_OPTIONS)
    raise ValueError(f"unknown command {command!r}")
