"""astools.conf (TOML) and Go CLI YAML: layering, precedence, instance, include, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aerobackup.cli.mapping import resolve
from aerobackup.cli.options import options_for
from aerobackup.config_files import load_config, read_astools
from aerobackup.errors import ConfigError

MIB = 1024 * 1024


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    system = write(tmp_path / "etc" / "astools.conf", """
[cluster]
host = "sys-host"
port = 3100
[asbackup]
namespace = "sysns"
parallel = 2
file-limit = 11
""")
    home = tmp_path / "home"
    write(home / ".aerospike" / "astools.conf", """
[asbackup]
parallel = 3
compress = "zstd"
""")
    extra = write(tmp_path / "extra.conf", """
[asbackup]
parallel = 4
directory = "/from/extra"
""")
    return {"system": system, "home": home, "extra": extra}


def resolve_with(files: dict[str, Path], command: str = "backup", **flags: Any) -> Any:
    return resolve(command, flags, environ={"HOME": str(files["home"])}, system_path=str(files["system"]))


def test_layers_apply_in_c_order_and_flags_win(files: dict[str, Path]) -> None:
    r = resolve_with(files, config_file=str(files["extra"]))
    b = r.backup
    assert b.namespace == "sysns"  # only the system file sets it
    assert b.file_limit == 11 * MIB
    assert b.compression.mode == "zstd"  # from the user file
    assert b.parallel_read == 4  # --config-file is read last
    assert r.cluster.hosts == ("sys-host:3100",)
    assert r.origin["parallel"] == f"{files['extra']}: [asbackup] parallel"
    r = resolve_with(files, config_file=str(files["extra"]), parallel="9", namespace="cli")
    assert (r.backup.parallel_read, r.backup.namespace) == (9, "cli")
    assert r.origin["parallel"] == "-w/--parallel"


def test_only_and_no_config_file(files: dict[str, Path]) -> None:
    r = resolve_with(files, only_config_file=str(files["extra"]), namespace="n")
    assert r.backup.parallel_read == 4 and r.backup.compression.mode == "none"
    assert r.cluster.hosts == ("127.0.0.1:3000",)
    r = resolve_with(files, no_config_file=True, namespace="n", directory="d")
    assert r.backup.parallel_read == 1 and r.backup.file_limit == 250 * MIB
    with pytest.raises(ConfigError, match="--no-config-file and --only-config-file cannot be used together"):
        resolve_with(files, no_config_file=True, only_config_file=str(files["extra"]))


def test_missing_explicit_file_is_an_error_default_files_are_optional(tmp_path: Path) -> None:
    r = resolve("backup", {"namespace": "n", "directory": "d"}, environ={"HOME": str(tmp_path / "nohome")},
                system_path=str(tmp_path / "none.conf"))
    assert r.backup.namespace == "n"
    with pytest.raises(ConfigError, match=r"^--config-file: no such file: .*typo.conf$"):
        resolve("backup", {"config_file": str(tmp_path / "typo.conf")}, environ={}, system_path=None)
    with pytest.raises(ConfigError, match=r"^--only-config-file: no such file"):
        resolve("backup", {"only_config_file": str(tmp_path / "typo.conf")}, environ={}, system_path=None)


def test_instance_sections(tmp_path: Path) -> None:
    conf = write(tmp_path / "a.conf", """
[cluster]
host = "plain"
[cluster_prod]
host = "prod-host"
[asbackup]
namespace = "plainns"
directory = "/d"
[asbackup_prod]
namespace = "prodns"
directory = "/prod"
[cluster_nobackup]
port = 3333
""")
    def run(instance: str | None) -> Any:
        flags = {"only_config_file": str(conf)}
        if instance:
            flags["instance"] = instance
        return resolve("backup", flags, environ={}, system_path=None)

    r = run(None)
    assert (r.cluster.hosts, r.backup.namespace) == (("plain:3000",), "plainns")
    r = run("prod")
    assert (r.cluster.hosts, r.backup.namespace, str(r.storage)) == (("prod-host:3000",), "prodns", "/prod")
    # [asbackup_nobackup] is absent: falls back to [asbackup]; [cluster_nobackup] replaces [cluster]
    r = run("nobackup")
    assert (r.cluster.hosts, r.backup.namespace) == (("127.0.0.1:3333",), "plainns")
    # [cluster_other] is absent: [cluster] is NOT read (no fallback, as in the C tools)
    r = run("other")
    assert r.cluster.hosts == ("127.0.0.1:3000",)


def test_keys_are_case_insensitive_and_typed(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.conf", """
[asbackup]
NameSpace = "ns"
Directory = "/d"
REMOVE-FILES = true
retry-delay = 7
""")
    b = resolve("backup", {"only_config_file": str(conf)}, environ={}, system_path=None).backup
    assert b.namespace == "ns" and b.remove_files and b.sleep_between_retries_ms == 7


@pytest.mark.parametrize(("body", "message"), [
    ('[asbackup]\nparalel = 3\n', r"c.conf: unknown parameter 'paralel' in \[asbackup\] section"),
    ('[asbackup]\nparallel = "3"\n', r"c.conf: \[asbackup\] parallel: must be an integer \(got '3'\)"),
    ('[asbackup]\ncompact = "yes"\n', r"c.conf: \[asbackup\] compact: must be true or false"),
    ('[asbackup]\nnamespace = 5\n', r"c.conf: \[asbackup\] namespace: must be a string \(got 5\)"),
    ('[asbackup]\nparallel = 0\nnamespace="n"\ndirectory="d"\n', r"c.conf: \[asbackup\] parallel: must be 1 to 100"),
    ('[cluster]\nport = 0\n', r"c.conf: \[cluster\] port: must be 1 to 65535 \(got 0\)"),
    ('[cluster]\nhostname = "x"\n', r"c.conf: unknown parameter 'hostname' in \[cluster\] section"),
    ('[asbackup\nx=1', r"c.conf: not valid TOML"),
    ('[secret-agent]\nsa-port = "x"\n', r"c.conf: \[secret-agent\] sa-port: must be an integer"),
    ('[include]\nfiles = "x"\n', r"c.conf: unknown parameter 'files' in \[include\] section"),
    ('[include]\nfile = "missing.conf"\n', r"c.conf: \[include\] file: no such file"),
])
def test_bad_toml(tmp_path: Path, body: str, message: str) -> None:
    conf = write(tmp_path / "c.conf", body)
    with pytest.raises(ConfigError, match=message):
        resolve("backup", {"only_config_file": str(conf), "namespace": "n", "directory": "d"}, environ={},
                system_path=None) if "namespace" not in body else resolve(
            "backup", {"only_config_file": str(conf)}, environ={}, system_path=None)


def test_other_tools_sections_are_ignored_and_restore_reads_asrestore(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.conf", """
[aql]
whatever = 1
[asbackup]
parallel = 100
[asrestore]
parallel = 12
namespace = "a,b"
directory = "/r"
nice = "3,40"
""")
    r = resolve("restore", {"only_config_file": str(conf)}, environ={}, system_path=None)
    assert r.restore.parallel == 12 and r.restore.namespace.destination == "b"
    assert (r.restore.bandwidth, r.restore.records_per_second) == (3 * MIB, 40)


def test_include_file_and_directory(tmp_path: Path) -> None:
    write(tmp_path / "inc" / "a.conf", '[asbackup]\nparallel = 5\n')
    write(tmp_path / "inc" / "sub" / "b.conf", '[asbackup]\nnamespace = "fromdir"\n')
    write(tmp_path / "one.conf", '[asbackup]\ndirectory = "/inc"\n')
    main = write(tmp_path / "main.conf", f"""
[asbackup]
parallel = 2
namespace = "main"
[include]
file = "one.conf"
directory = "{tmp_path / 'inc'}"
""")
    b = resolve("backup", {"only_config_file": str(main)}, environ={}, system_path=None).backup
    assert (b.parallel_read, b.namespace) == (5, "fromdir")  # included files override the includer


def test_include_depth_is_limited(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path / f"{i}.conf", f'[include]\nfile = "{i + 1}.conf"\n')
    write(tmp_path / "5.conf", "")
    with pytest.raises(ConfigError, match="include max recursion level 3 exceeded"):
        read_astools("asbackup", options_for("backup"), only_config_file=str(tmp_path / "0.conf"))


def test_toml_secrets_are_fetched(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.conf", """
[secret-agent]
sa-address = "127.0.0.1"
sa-port = "3999"
[asbackup]
namespace = "secrets:r:ns"
directory = "/d"
""")
    got: list[Any] = []

    def resolver(value: str, agent: Any) -> str:
        got.append((value, agent.port))
        return "secretns"

    r = resolve("backup", {"only_config_file": str(conf)}, environ={}, system_path=None, resolver=resolver)
    assert r.backup.namespace == "secretns" and got == [("secrets:r:ns", 3999)]


# --- YAML ---------------------------------------------------------------------------------


YAML_BACKUP = """
app:
  verbose: false
  log-level: info
cluster:
  seeds:
    - host: 10.0.0.1
      port: 3100
    - host: 10.0.0.2
      tls-name: t2
      port: 4333
  user: admin
  password: pw
  client-timeout: 5000
backup:
  namespace: yns
  directory: /ydir
  set-list: [s1, s2]
  parallel: 3
  file-limit: 64
  bandwidth: 2
  std-buffer: 4
  modified-after: "2024-01-31_10:00:00"
compression:
  compress: ZSTD
  level: 7
encryption:
  encrypt: AES128
  key-env: KEYVAR
aws:
  s3:
    region: eu-west-3
    chunk-size: 8
local:
  disk:
    buffer-size: 5
"""


def test_yaml_backup(tmp_path: Path) -> None:
    path = write(tmp_path / "b.yaml", YAML_BACKUP)
    r = resolve("backup", {"config": str(path)}, environ={}, system_path=None)
    b, c = r.backup, r.cluster
    assert c.hosts == ("10.0.0.1:3100", "10.0.0.2:t2:4333")
    assert (c.user, c.password, c.client_timeout_ms) == ("admin", "pw", 5000)
    assert (b.namespace, b.set_list, b.parallel_read, b.file_limit, b.bandwidth) == (
        "yns", ("s1", "s2"), 3, 64 * MIB, 2 * MIB)
    assert (b.compression.mode, b.compression.level) == ("zstd", 7)
    assert (b.encryption.mode, b.encryption.key_env) == ("aes128", "KEYVAR")
    assert b.modified_after is not None and b.modified_after.hour == 10
    assert str(r.storage) == "/ydir"
    assert r.origin["parallel"] == f"{path}: backup.parallel"


def test_flags_override_yaml(tmp_path: Path) -> None:
    """Unlike the Go CLI (which ignores flags when --config is given), flags win."""
    path = write(tmp_path / "b.yaml", YAML_BACKUP)
    r = resolve("backup", {"config": str(path), "parallel": "7", "host": "cli-host"}, environ={},
                system_path=None)
    assert r.backup.parallel_read == 7 and r.cluster.hosts == ("cli-host:3000",)
    assert r.backup.namespace == "yns"


def test_yaml_restore(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", """
restore:
  namespace: a,b
  directory: /rdir
  parallel: 5
  retry-max-attempts: 4
  retry-base-interval: 250
  apply-metadata-last: true
  total-timeout: 1234
  socket-timeout: 999
  warm-up: 3
""")
    r = resolve("restore", {"config": str(path)}, environ={}, system_path=None).restore
    assert (r.namespace.source, r.namespace.destination, r.parallel) == ("a", "b", 5)
    assert (r.retry.max_retries, r.retry.base_timeout_ms) == (4, 250)
    assert (r.total_timeout_ms, r.socket_timeout_ms) == (1234, 999)


@pytest.mark.parametrize(("body", "message"), [
    ("backup:\n  paralel: 3\n", r"b.yaml: backup.paralel: unknown key \(known: .*parallel"),
    ("bakup:\n  parallel: 3\n", r"b.yaml: bakup: unknown key \(sections: "),
    ("backup:\n  parallel: three\n", r"b.yaml: backup.parallel: must be an integer \(got 'three'\)"),
    ("backup:\n  parallel: 0\n  namespace: n\n  directory: d\n", r"b.yaml: backup.parallel: must be 1 to 100"),
    ("backup:\n  no-records: maybe\n", r"b.yaml: backup.no-records: must be true or false"),
    ("cluster:\n  seeds: 10.0.0.1\n", r"b.yaml: cluster.seeds: must be a list"),
    ("cluster:\n  seeds:\n    - host: a\n      port: 0\n", r"b.yaml: cluster.seeds\[0\].port: must be 1 to 65535"),
    ("backup: [1, 2\n", r"b.yaml:\d+:\d+: not valid YAML"),
    ("- a\n- b\n", r"b.yaml: must be a mapping of sections"),
    ("restore:\n  parallel: 3\n", r"b.yaml: restore: unknown key"),
])
def test_bad_yaml(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "b.yaml", body)
    with pytest.raises(ConfigError, match=message):
        resolve("backup", {"config": str(path), "namespace": "n", "directory": "d"} if "namespace" not in body
                else {"config": str(path)}, environ={}, system_path=None)


def test_missing_yaml() -> None:
    with pytest.raises(ConfigError, match=r"^--config: no such file: /nope.yaml$"):
        resolve("backup", {"config": "/nope.yaml"}, environ={}, system_path=None)


def test_load_config_for_library_users(tmp_path: Path) -> None:
    path = write(tmp_path / "b.yaml", YAML_BACKUP)
    r = load_config(path, "backup")
    assert r.backup.namespace == "yns" and r.cluster.user == "admin"
    toml = write(tmp_path / "b.conf", '[asbackup]\nnamespace = "t"\ndirectory = "/x"\n')
    assert load_config(toml).backup.namespace == "t"


def test_executor_from_config_files(tmp_path: Path) -> None:
    yaml_path = write(tmp_path / "b.yaml", "app:\n  executor: processes\nbackup:\n  namespace: n\n  directory: d\n")
    r = resolve("backup", {"config": str(yaml_path)}, environ={}, system_path=None)
    assert r.backup.executor == "processes"
    toml_path = write(tmp_path / "r.conf", '[asrestore]\nexecutor = "processes"\ndirectory = "d"\n')
    r = resolve("restore", {"config_file": str(toml_path)}, environ={}, system_path=None)
    assert r.restore.executor == "processes"
    r = resolve("restore", {"config_file": str(toml_path), "executor": "threads"}, environ={}, system_path=None)
    assert r.restore.executor == "threads"  # the flag wins
