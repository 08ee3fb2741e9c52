"""Configuration files: the C tools' TOML ``astools.conf`` and the Go CLI's YAML.

Both are read into *layers*: the raw values of the options they set, keyed by option name
(``aerobackup.cli.options``), each remembering the file and key it came from so that a bad
value is reported as ``nightly.toml: [asbackup] parallel: must be 1 to 100 (got 0)``. Layers are
merged in order (later wins) and the command line is applied last, so **flags override files**
(as the C tools do; the Go CLI ignores every flag when ``--config`` is given).

TOML follows the C tools (../shared/spec/config-files.md §a): ``/etc/aerospike/astools.conf``,
then ``$HOME/.aerospike/astools.conf``, then ``--config-file``; or ``--only-config-file`` alone;
or nothing with ``--no-config-file``. Sections ``[cluster]``, ``[asbackup]``/``[asrestore]``,
``[secret-agent]``, ``[include]``; ``--instance NAME`` reads ``[cluster_NAME]`` (no fallback) and
``[asbackup_NAME]`` / ``[secret-agent_NAME]`` (falling back to the plain section). Keys are
case-insensitive, unknown keys and wrongly typed values are errors. One difference: a
``--config-file``/``--only-config-file`` that does not exist is an error here (the C tools skip
it silently); the two default files are still skipped when absent.

YAML follows the Go CLI (§b): sections ``app``, ``cluster``, ``backup``/``restore``,
``compression``, ``encryption``, ``secret-agent``, ``aws.s3``, ``gcp.storage``, ``azure.blob``,
``local.disk``; unknown keys are errors, Go keys that have no meaning here are accepted and
ignored (listed in ``IGNORED_YAML_KEYS``).

``load_config(path, command)`` turns one file into ready config objects for library users.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from .cli.mapping import Resolved
    from .cli.options import Opt

__all__ = [
    "IGNORED_YAML_KEYS",
    "Layer",
    "SYSTEM_CONFIG",
    "load_config",
    "merge",
    "read_astools",
    "read_toml_file",
    "read_yaml",
    "user_config_path",
]

SYSTEM_CONFIG = "/etc/aerospike/astools.conf"
INCLUDE_MAX_DEPTH = 3

#: Go CLI YAML keys accepted and ignored: they tune Go internals that have no twin here.
IGNORED_YAML_KEYS = frozenset({
    "app.log-level", "app.log-json", "backup.std-buffer", "restore.std-buffer", "local.disk.buffer-size",
    "restore.warm-up", "restore.info-max-retries", "restore.info-retry-multiplier",
    "restore.info-retry-interval", "backup.parallel-write",
})

#: Go YAML storage keys not in the option table: passed to the storage as options.
_STORAGE_SECTIONS = {"aws.s3": "s3", "gcp.storage": "gcp", "azure.blob": "azure"}


@dataclass
class Layer:
    """Option values from one source. ``keys[dest]`` says where each value was written."""

    source: str
    values: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def set(self, dest: str, value: Any, key: str) -> None:
        self.values[dest] = value
        self.keys[dest] = key

    def where(self, dest: str) -> str:
        """How to name the origin of ``dest`` in a message: ``file: key`` or the flag."""
        key = self.keys.get(dest, dest)
        return key if self.source == "command line" else f"{self.source}: {key}"


def merge(layers: Iterable[Layer]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values of all layers, later layers winning key by key; and where each value came from."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for layer in layers:
        for dest, value in layer.values.items():
            values[dest] = value
            origin[dest] = layer.where(dest)
    return values, origin


def user_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$HOME/.aerospike/astools.conf``, or None without HOME (as the C tools do)."""
    home = (os.environ if environ is None else environ).get("HOME")
    return Path(home) / ".aerospike" / "astools.conf" if home else None


# --- TOML (C tools) ----------------------------------------------------------------------


def _toml_keymap(options: Sequence[Opt], section: str) -> dict[str, Opt]:
    return {key.lower(): o for o in options for sec, key in o.toml if sec == section}


def _check_toml_type(opt: Opt, value: Any, where: str) -> Any:
    """The C tools want TOML strings for strings, integers for integers, booleans for flags."""
    if isinstance(value, str) and value.startswith("secrets:") and opt.kind != "flag":
        return value  # fetched from the Secret Agent, then parsed as the option's type
    kind = opt.kind
    if opt.dest == "sa_port" and isinstance(value, str):  # the C tools read sa-port as a string
        kind = "str"
    ok: bool
    if kind == "flag":
        ok = isinstance(value, bool)
        want = "true or false"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
    elif kind == "list":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, (str, int)) for v in value))
        want = "a string (comma separated) or a list of strings"
        if ok and isinstance(value, list):
            value = ",".join(str(v) for v in value)
    else:
        ok = isinstance(value, str)
        want = "a string"
    if not ok:
        raise ConfigError("", f"{where}: must be {want} (got {value!r})")
    return value


def read_toml_file(
    path: Path, tool: str, options: Sequence[Opt], *, instance: str | None = None, depth: int = 0
) -> list[Layer]:
    """One astools.conf and what it includes: a layer for the file, then one per include."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path}: not valid TOML: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError("", f"{path}: cannot read: {exc.strerror or exc}") from None
    layer = Layer(str(path))
    sections: list[tuple[str, str]] = [
        ("secret-agent", _pick(data, "secret-agent", instance, fallback=True)),
        ("cluster", _pick(data, "cluster", instance, fallback=False)),
        ("tool", _pick(data, tool, instance, fallback=True)),
    ]
    for kind, name in sections:
        table = data.get(name) if name else None
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ConfigError("", f"{path}: [{name}] must be a table")
        keymap = _toml_keymap(options, kind)
        for key, value in table.items():
            opt = keymap.get(key.lower())
            where = f"[{name}] {key}"
            if opt is None:
                raise ConfigError("", f"{path}: unknown parameter '{key}' in [{name}] section")
            layer.set(opt.dest, _check_toml_type(opt, value, f"{path}: {where}"), where)
    layers = [layer]
    include = data.get("include")
    if include is not None:
        layers += _includes(path, include, tool, options, instance, depth)
    return layers


def _pick(data: Mapping[str, Any], base: str, instance: str | None, *, fallback: bool) -> str:
    if not instance:
        return base
    name = f"{base}_{instance}"
    if name in data:
        return name
    return base if fallback else ""


def _includes(path: Path, include: Any, tool: str, options: Sequence[Opt], instance: str | None,
              depth: int) -> list[Layer]:
    if not isinstance(include, dict):
        raise ConfigError("", f"{path}: [include] must be a table")
    if depth + 1 > INCLUDE_MAX_DEPTH:
        raise ConfigError("", f"{path}: include max recursion level {INCLUDE_MAX_DEPTH} exceeded")
    layers: list[Layer] = []
    for key, value in include.items():
        if key.lower() not in ("file", "directory") or not isinstance(value, str):
            raise ConfigError("", f"{path}: unknown parameter '{key}' in [include] section"
                              if key.lower() not in ("file", "directory")
                              else f"{path}: [include] {key}: must be a string (got {value!r})")
        target = (path.parent / value) if not os.path.isabs(value) else Path(value)
        if key.lower() == "file":
            if not target.is_file():
                raise ConfigError("", f"{path}: [include] file: no such file: {target}")
            layers += read_toml_file(target, tool, options, instance=instance, depth=depth + 1)
        else:
            if not target.is_dir():
                raise ConfigError("", f"{path}: [include] directory: no such directory: {target}")
            for sub in sorted(p for p in target.rglob("*") if p.is_file()):
                try:
                    layers += read_toml_file(sub, tool, options, instance=instance, depth=depth + 1)
                except ConfigError as exc:  # as the C tools: a bad file in a directory is skipped
                    print(f"aerobackup: warning: skipped {sub}: {exc}", file=sys.stderr)
    return layers


def read_astools(
    tool: str,
    options: Sequence[Opt],
    *,
    config_file: str | None = None,
    only_config_file: str | None = None,
    no_config_file: bool = False,
    instance: str | None = None,
    environ: Mapping[str, str] | None = None,
    system_path: str | None = SYSTEM_CONFIG,
) -> list[Layer]:
    """The TOML layers the C tool ``tool`` (``asbackup``/``asrestore``) would read, in order."""
    if no_config_file and only_config_file:
        raise ConfigError("", "--no-config-file and --only-config-file cannot be used together")
    if no_config_file:
        return []
    if only_config_file:
        explicit: list[Path] = [Path(only_config_file)]
        defaults: list[Path] = []
    else:
        defaults = [p for p in (Path(system_path) if system_path else None, user_config_path(environ)) if p]
        explicit = [Path(config_file)] if config_file else []
    layers: list[Layer] = []
    for path in defaults:
        if path.is_file():
            layers += read_toml_file(path, tool, options, instance=instance)
    for path in explicit:
        if not path.is_file():
            flag = "--only-config-file" if only_config_file else "--config-file"
            raise ConfigError("", f"{flag}: no such file: {path}")
        layers += read_toml_file(path, tool, options, instance=instance)
    return layers


# --- YAML (Go CLI) -----------------------------------------------------------------------


def _yaml_keymap(options: Sequence[Opt], command: str) -> dict[str, Opt]:
    out: dict[str, Opt] = {}
    for o in options:
        for key in o.yaml:
            if command != "backup" and key.startswith("backup."):
                key = "restore." + key.removeprefix("backup.")
            out[key] = o
    return out


def _yaml_sections(command: str) -> set[str]:
    tool = "backup" if command in ("backup", "estimate") else "restore"
    sections = {"app", "cluster", "cluster.tls", tool, "compression", "encryption", "secret-agent",
                "aws", "aws.s3", "gcp", "gcp.storage", "azure", "azure.blob"}
    if tool == "backup":
        sections |= {"local", "local.disk"}
    return sections


def _yaml_value(opt: Opt, value: Any, where: str) -> Any:
    if value is None:
        return None
    if opt.kind == "list" and isinstance(value, list):
        if not all(isinstance(v, (str, int)) for v in value):
            raise ConfigError("", f"{where}: must be a list of strings (got {value!r})")
        return ",".join(str(v) for v in value)
    if opt.kind in ("str", "password", "choice", "list") and isinstance(value, (int, float, bool)):
        if isinstance(value, bool):
            raise ConfigError("", f"{where}: must be a string (got {value!r})")
        return str(value)
    if opt.kind in ("str", "password", "choice", "list") and not isinstance(value, str):
        # YAML turns 2024-01-31 into a date: keep the text the user wrote
        import datetime as dt

        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        raise ConfigError("", f"{where}: must be a string (got {value!r})")
    return _check_toml_type(opt, value, where)


def _seeds(value: Any, where: str) -> str:
    """``cluster.seeds`` (a list of {host, port, tls-name}) as a ``--host`` value."""
    if not isinstance(value, list) or not value:
        raise ConfigError("", f"{where}: must be a list of {{host, port, tls-name}} (got {value!r})")
    out = []
    for i, seed in enumerate(value):
        if not isinstance(seed, dict):
            raise ConfigError("", f"{where}[{i}]: must be a mapping with host, port, tls-name (got {seed!r})")
        unknown = set(seed) - {"host", "port", "tls-name"}
        if unknown:
            raise ConfigError("", f"{where}[{i}].{sorted(unknown)[0]}: unknown key (known: host, port, tls-name)")
        host = seed.get("host") or "127.0.0.1"
        port = seed.get("port", 3000)
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ConfigError("", f"{where}[{i}].port: must be 1 to 65535 (got {port!r})")
        host = f"[{host}]" if ":" in str(host) and not str(host).startswith("[") else str(host)
        tls = seed.get("tls-name")
        out.append(f"{host}:{tls}:{port}" if tls else f"{host}:{port}")
    return ",".join(out)


def read_yaml(path: str | Path, command: str, options: Sequence[Opt]) -> Layer:
    """A Go CLI YAML file (``--config``) as one layer; unknown keys are errors."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"--config: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("", f"{path}{at}: not valid YAML: {problem}") from None
    layer = Layer(str(path))
    if data is None:
        return layer
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: must be a mapping of sections (got {type(data).__name__})")
    keymap = _yaml_keymap(options, command)
    sections = _yaml_sections(command)
    _walk_yaml(path, data, "", keymap, sections, layer)
    return layer


def _walk_yaml(path: Path, node: Mapping[Any, Any], prefix: str, keymap: Mapping[str, Opt],
               sections: set[str], layer: Layer) -> None:
    for raw_key, value in node.items():
        key = f"{prefix}{raw_key}"
        where = f"{path}: {key}"
        if key == "cluster.seeds":
            layer.set("host", _seeds(value, where), key)
        elif key in keymap:
            converted = _yaml_value(keymap[key], value, where)
            if converted is not None:
                layer.set(keymap[key].dest, converted, key)
        elif key in sections:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError("", f"{where}: must be a mapping (got {value!r})")
            _walk_yaml(path, value, key + ".", keymap, sections, layer)
        elif key in IGNORED_YAML_KEYS:
            continue
        elif prefix.rstrip(".") in _STORAGE_SECTIONS and isinstance(value, (str, int, float, bool)):
            provider = _STORAGE_SECTIONS[prefix.rstrip(".")]
            layer.set(f"{provider}_{str(raw_key).replace('-', '_')}", value, key)
        else:
            known = sorted({k.removeprefix(prefix) for k in keymap if k.startswith(prefix)}
                           | {s.removeprefix(prefix) for s in sections if s.startswith(prefix) and s != key})
            known = [k for k in known if "." not in k]
            hint = f" (known: {', '.join(known)})" if known and prefix else (
                f" (sections: {', '.join(sorted(s for s in sections if '.' not in s))})" if not prefix else "")
            raise ConfigError("", f"{where}: unknown key{hint}")


# --- for library users -------------------------------------------------------------------


def load_config(path: str | Path, command: str = "backup") -> Resolved:
    """Read one config file (YAML by suffix ``.yaml``/``.yml``, else TOML) as ``command`` would.

    Returns the resolved configs (``.cluster``, ``.backup`` or ``.restore``, ``.storage``) exactly
    as ``aerobackup COMMAND --config PATH`` (or ``--only-config-file PATH``) would build them.
    """
    from .cli.mapping import resolve

    suffix = Path(path).suffix.lower()
    flags: dict[str, Any] = ({"config": str(path), "no_config_file": True} if suffix in (".yaml", ".yml")
                             else {"only_config_file": str(path)})
    return resolve(command, flags, prompt=None)
