"""From flags and config files to config objects: a pure function, ``resolve``.

Layers (default TOML files, ``--config-file``, the YAML ``--config``, then the command line) are
merged key by key, later winning; ``secrets:`` values are fetched; each value is converted by its
option's kind; then ``ClusterConfig``, ``BackupConfig``/``RestoreConfig`` and the storage location
are built. Every error is a ConfigError naming where the bad value came from: the flag
(``-w/--parallel: must be 1 to 100 (got 0)``) or the file and key
(``/etc/aerospike/astools.conf: [asbackup] parallel: ...``).

Nothing here touches the network or the terminal except through the ``prompt`` and ``resolver``
callables the caller passes, so it is unit-tested without either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import BackupConfig, ClusterConfig, RestoreConfig, SecretAgentConfig
from ..config_files import Layer, merge, read_astools, read_yaml
from ..errors import ConfigError
from ..protocols import StorageURL
from ..xdr.config import BackupXdrConfig
from .build import backup_configs, build, cluster_config, restore_configs, xdr_configs
from .options import Opt, options_for
from .values import Prompt, Values, flag_name, parse_hosts, parse_partition_list, parse_time

__all__ = ["Output", "Resolved", "parse_hosts", "parse_partition_list", "parse_time", "resolve"]

SecretResolver = Callable[[str, SecretAgentConfig], str]

#: Options used as given, never fetched from the Secret Agent (as in the C tools), and the
#: key-file options whose ``secrets:`` value is the key itself (the key source fetches it).
_NO_SECRET = frozenset({"config_file", "only_config_file", "instance", "config", "sa_address", "sa_port",
                        "sa_timeout", "sa_cafile", "sa_connection_type", "sa_tls_name", "sa_cert_file",
                        "sa_key_file", "encryption_key_file", "encryption_key_secret"})


@dataclass(frozen=True, slots=True)
class Output:
    """How the command talks to the user."""

    verbose: bool = False
    json: bool = False
    quiet: bool = False
    progress: bool = True
    print_config: bool = False


@dataclass(slots=True)
class Resolved:
    """Everything a command needs to run, built from flags and files."""

    command: str
    cluster: ClusterConfig | None = None
    backup: BackupConfig | None = None
    restore: RestoreConfig | None = None
    storage: StorageURL | None = None  # the backup's location (a directory, or a file's folder)
    locations: tuple[StorageURL, ...] = ()  # restore: every directory of --directory-list
    input_file: str | None = None  # restore/validate of one file: its name in ``storage``
    inputs: tuple[str, ...] = ()  # restore/validate: the locations as typed (parent joined)
    detect_format: bool = False  # restore --mode auto: ASBX when the location holds only .asbx files
    mode: str = "auto"  # restore --mode as given (asb, asbx or auto)
    backup_xdr: BackupXdrConfig | None = None  # backup xdr
    stop_xdr: bool = False  # backup xdr --stop-xdr: only remove the DC
    unblock_mrt: bool = False  # backup xdr --unblock-mrt: only lift the MRT write fence
    remove_files: bool = False  # backup xdr -r: delete the ASBX files already there first
    remove_artifacts: bool = False
    output: Output = field(default_factory=Output)
    warnings: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``--print-config``; passwords and keys are hidden."""
        def conv(obj: Any) -> Any:
            if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                out = {}
                for f in dataclasses.fields(obj):
                    value = getattr(obj, f.name)
                    hide = not f.repr and value is not None
                    out[f.name] = "***" if hide else conv(value)
                return out
            if isinstance(obj, (list, tuple)):
                return [conv(v) for v in obj]
            if isinstance(obj, dt.datetime):
                return obj.isoformat()
            if isinstance(obj, Mapping):
                return {k: ("***" if _secretish(k) else conv(v)) for k, v in obj.items()}
            return obj

        body: dict[str, Any] = {"command": self.command}
        if self.cluster is not None:
            body["cluster"] = conv(self.cluster)
        if self.backup is not None:
            body["backup"] = conv(self.backup)
        if self.restore is not None:
            body["restore"] = conv(self.restore)
        if self.backup_xdr is not None:
            body["backup_xdr"] = conv(self.backup_xdr)
            body["stop_xdr"], body["unblock_mrt"] = self.stop_xdr, self.unblock_mrt
        if self.storage is not None:
            body["storage"] = {"url": str(self.storage), "options": conv(dict(self.storage.options))}
        if self.locations:
            body["locations"] = [str(u) for u in self.locations]
        if self.input_file is not None:
            body["input_file"] = self.input_file
        if self.inputs:
            body["inputs"] = list(self.inputs)
        if self.remove_artifacts:
            body["remove_artifacts"] = True
        body["sources"] = dict(sorted(self.origin.items()))
        return body


def _secretish(key: str) -> bool:
    return any(word in key for word in ("secret", "password", "key"))


# --- resolve -----------------------------------------------------------------------------


def _layers(command: str, table: Sequence[Opt], flags: Mapping[str, Any],
            environ: Mapping[str, str] | None, system_path: str | None) -> list[Layer]:
    tool = "asbackup" if command in ("backup", "estimate", "backup-xdr") else "asrestore"
    layers = read_astools(
        tool, table,
        config_file=flags.get("config_file"), only_config_file=flags.get("only_config_file"),
        no_config_file=bool(flags.get("no_config_file")), instance=flags.get("instance"),
        environ=environ, system_path=system_path,
    )
    if flags.get("config"):
        layers.append(read_yaml(flags["config"], "backup" if command == "backup-xdr" else command, table))
    cli = Layer("command line")
    by_dest = {o.dest: o for o in table}
    for dest, value in flags.items():
        if value is None or value is False or value == ():
            continue
        opt = by_dest.get(dest)
        cli.set(dest, value, flag_name(opt) if opt else dest)
    layers.append(cli)
    return layers


def resolve(
    command: str,
    flags: Mapping[str, Any],
    *,
    prompt: Prompt | None = None,
    resolver: SecretResolver | None = None,
    environ: Mapping[str, str] | None = None,
    system_path: str | None = "/etc/aerospike/astools.conf",
    interactive_user_prompt: bool = True,
) -> Resolved:
    """Build the configs of ``command`` from command-line values (``flags``: option name →
    value, None or absent when not given) and the config files those values select."""
    table = options_for(command)
    by_dest = {o.dest: o for o in table}
    for dest in flags:
        if dest not in by_dest:
            raise ConfigError("", f"option {dest!r} does not apply to '{command}'")
    raw, origin = merge(_layers(command, table, flags, environ, system_path))
    storage_extra = {k: v for k, v in raw.items() if k not in by_dest}
    raw = {k: v for k, v in raw.items() if k in by_dest}
    v = Values(by_dest, raw, origin, prompt)
    res = Resolved(command, origin=dict(origin))
    res.output = Output(verbose=v.get("verbose", False), json=v.get("json", False), quiet=v.get("quiet", False),
                        progress=not v.get("no_progress", False), print_config=v.get("print_config", False))
    for dest in ("tls_cipher_suite", "tls_crl_check", "tls_crl_check_all", "tls_cert_blacklist", "machine"):
        if dest in by_dest and v.get(dest):
            hint = "; use --json for a machine-readable report" if dest == "machine" else ""
            raise v.fail(dest, f"not supported by aerobackup{hint}")
    sa = _secret_agent(v)
    _fetch_secrets(v, sa, resolver)
    if command != "validate" and not v.get("validate", False):
        res.cluster = cluster_config(v, prompt if interactive_user_prompt else None)
    if command == "backup-xdr":
        xdr_configs(v, res, sa, storage_extra)
    elif command in ("backup", "estimate"):
        backup_configs(v, res, sa, storage_extra, estimate=command == "estimate")
    else:
        restore_configs(v, res, sa, storage_extra, validate=command == "validate")
    return res


def _secret_agent(v: Values) -> SecretAgentConfig | None:
    if not any(v.given(d) for d in v.table if d.startswith("sa_")):
        return None
    address = v.get("sa_address", "127.0.0.1")
    port = v.get("sa_port")
    ctype = v.get("sa_connection_type", "tcp")
    if ctype == "tcp" and address.startswith("/"):
        ctype = "unix"
    if ctype == "tcp" and ":" in address and not address.endswith("]"):  # host:port sets the port too
        host, _, tail = address.rpartition(":")
        if tail.isdigit():
            address = host.strip("[]")
            port = port if v.given("sa_port") else int(tail)
    agent: SecretAgentConfig = build(v, SecretAgentConfig, {"secret_agent": "sa_address"},
                  connection_type=ctype, address=address,
                  port=port if port is not None else (3005 if ctype == "tcp" else None),
                  timeout_ms=v.get("sa_timeout", 1000), ca_file=v.get("sa_cafile"), tls_name=v.get("sa_tls_name"),
                  cert_file=v.get("sa_cert_file"), key_file=v.get("sa_key_file"),
                  is_base64=v.get("sa_is_base64", False))
    return agent


def _fetch_secrets(v: Values, sa: SecretAgentConfig | None, resolver: SecretResolver | None) -> None:
    for dest, value in list(v.raw.items()):
        if dest in _NO_SECRET or not isinstance(value, str) or not value.startswith("secrets:"):
            continue
        if resolver is None:
            raise v.fail(dest, "secrets: values need the Secret Agent, which is not available")
        try:
            v.raw[dest] = resolver(value, sa or SecretAgentConfig(address="127.0.0.1", port=3005))
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - the agent's failure, named with the option
            raise v.fail(dest, f"failed to fetch {value}: {exc}") from None
