"""Flags → configs: every conversion by its value, every bad flag by its message."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from aerobackup.cli.mapping import parse_hosts, parse_partition_list, parse_time
from aerobackup.cli.options import PROMPT, options_for
from aerobackup.errors import ConfigError

MIB = 1024 * 1024


def digest_b64(partition: int) -> str:
    """A 20-byte digest in the given partition (partition id = first 12 bits, little end)."""
    for i in range(100000):
        d = hashlib.sha1(str(i).encode()).digest()
        if (d[0] | (d[1] << 8)) & 0xFFF == partition:
            return base64.b64encode(d).decode()
    raise AssertionError


# --- backup -------------------------------------------------------------------------------


def test_backup_basic_flags(res: Any) -> None:
    r = res("backup", namespace="test", directory="/srv/bk", parallel="4", file_limit="10", nice="5",
            set="a, b", bin_list="x,y", records_per_second="100", max_records="7", compact=True,
            no_indexes=True, no_udfs=True, no_bins=True, socket_timeout="99", total_timeout="88",
            max_retries="2", sleep_between_retries="3", output_file_prefix="pre")
    b = r.backup
    assert b.namespace == "test"
    assert (b.parallel_read, b.parallel_write) == (4, 4)
    assert b.file_limit == 10 * MIB
    assert b.bandwidth == 5 * MIB
    assert b.set_list == ("a", "b") and b.bin_list == ("x", "y")
    assert (b.records_per_second, b.max_records) == (100, 7)
    assert b.compact and b.no_indexes and b.no_udfs and b.no_bins and not b.no_records
    assert (b.socket_timeout_ms, b.total_timeout_ms, b.max_retries, b.sleep_between_retries_ms) == (99, 88, 2, 3)
    assert b.output_file_prefix == "pre"
    assert str(r.storage) == "/srv/bk" and r.storage.scheme == ""
    assert r.cluster.hosts == ("127.0.0.1:3000",)


def test_backup_defaults_mirror_asbackup(res: Any) -> None:
    b = res("backup", namespace="ns", directory="d").backup
    got = (b.parallel_read, b.file_limit, b.bandwidth, b.max_retries, b.socket_timeout_ms)
    assert got == (1, 250 * MIB, 0, 5, 10000)
    assert b.compression.mode == "none" and b.encryption.mode == "none" and b.estimate_samples == 10000


def test_node_list_makes_parallel_16(res: Any) -> None:
    b = res("backup", namespace="ns", directory="d", node_list="1.2.3.4:3000,5.6.7.8:3000").backup
    assert b.node_list == ("1.2.3.4:3000", "5.6.7.8:3000")
    assert b.parallel_read == 16
    assert res("backup", namespace="ns", directory="d", node_list="a:1", parallel="3").backup.parallel_read == 3


def test_output_file_is_one_writer_in_its_folder(res: Any) -> None:
    r = res("backup", namespace="ns", output_file="/data/x/full.asb", parallel="8")
    assert r.backup.output_file == "full.asb"
    assert str(r.storage) == "/data/x"
    assert (r.backup.parallel_read, r.backup.parallel_write, r.backup.file_limit) == (8, 1, 0)
    r = res("backup", namespace="ns", output_file="-")
    assert r.storage.scheme == "stdio" and r.backup.output_file == "-"
    r = res("backup", namespace="ns", output_file="s3://bucket/k/full.asb", s3_region="eu-west-1")
    assert (r.storage.scheme, r.storage.path, r.backup.output_file) == ("s3", "bucket/k", "full.asb")
    assert dict(r.storage.options) == {"region": "eu-west-1"}
    assert res("backup", namespace="ns", output_file="full.asb").storage.path == "."


def test_compression_and_encryption(res: Any, tmp_path: Path) -> None:
    b = res("backup", namespace="ns", directory="d", compress="ZSTD", compression_level="9", encrypt="AES256",
            encryption_key_file="key.pem").backup
    assert (b.compression.mode, b.compression.level) == ("zstd", 9)
    assert (b.encryption.mode, b.encryption.key_file) == ("aes256", "key.pem")
    b = res("backup", namespace="ns", directory="d", encrypt="aes128", encryption_key_env="K").backup
    assert (b.encryption.mode, b.encryption.key_env) == ("aes128", "K")
    b = res("backup", namespace="ns", directory="d", compress="zstd").backup
    assert b.compression.level is None  # 0 / not given: zstd's default


def test_partition_list_forms() -> None:
    d = digest_b64(77)
    filters = parse_partition_list(["5", "100-20", d])
    assert [(f.begin, f.count, f.digest) for f in filters] == [(5, 1, None), (100, 20, None), (77, 1, d)]
    with pytest.raises(ConfigError, match="partition 4096 out of range 0 to 4095"):
        parse_partition_list(["4096"])
    with pytest.raises(ConfigError, match=r"partition range '4000-200': begin 0 to 4095, count 1 to 96"):
        parse_partition_list(["4000-200"])
    with pytest.raises(ConfigError, match="'zz' is not a partition id, BEGIN-COUNT range or base64 digest"):
        parse_partition_list(["zz"])


def test_partition_list_and_after_digest_flags(res: Any) -> None:
    b = res("backup", namespace="ns", directory="d", partition_list="0-2048,3000").backup
    assert [(f.begin, f.count) for f in b.partition_filters] == [(0, 2048), (3000, 1)]
    d = digest_b64(9)
    assert res("backup", namespace="ns", directory="d", after_digest=d).backup.after_digest == d


def test_modified_times_are_local_time() -> None:
    t = parse_time("2024-01-31_12:30:05")
    assert t == dt.datetime(2024, 1, 31, 12, 30, 5).astimezone()
    assert parse_time("2024-01-31") == dt.datetime(2024, 1, 31).astimezone()
    today = dt.date.today()
    assert parse_time("01:02:03") == dt.datetime.combine(today, dt.time(1, 2, 3)).astimezone()
    with pytest.raises(ConfigError, match=r"must be a time like 2024-01-31_12:00:00 \(got 'yesterday'\)"):
        parse_time("yesterday")


def test_state_file_and_continue(res: Any) -> None:
    b = res("backup", namespace="ns", directory="d", state_file_dst="s.state").backup
    assert b.state_file == "s.state" and b.continue_from is None
    b = res("backup", namespace="ns", directory="d", continue_="d/ns.asb.state").backup
    assert b.continue_from == "ns.asb.state" and b.state_file == "ns.asb.state"  # relative to the directory
    assert res("backup", namespace="ns", directory="/b", state_file_dst="/b/").backup.state_file == "ns.asb.state"
    assert res("backup", namespace="ns", directory="/b", state_file_dst="/b/x/s").backup.state_file == "x/s"
    b = res("backup", namespace="ns", directory="s3://bk/p", continue_="s3://bk/p/ns.asb.state").backup
    assert b.continue_from == "ns.asb.state"
    r = res("backup", namespace="ns", continue_="/b/dir/ns.asb.state")  # asbackup -c alone: -d from its path
    assert (str(r.storage), r.backup.continue_from) == ("/b/dir", "ns.asb.state")
    with pytest.raises(ConfigError, match=r"--state-file-dst: must be in the backup directory /b \(got '/srv/s'\)"):
        res("backup", namespace="ns", directory="/b", state_file_dst="/srv/s")


def test_estimate_needs_no_directory(res: Any) -> None:
    r = res("estimate", namespace="ns", estimate_samples="500")
    assert r.backup.estimate and r.backup.estimate_samples == 500 and r.storage is None
    assert res("backup", namespace="ns", estimate=True).backup.estimate


# --- hosts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "port", "tls", "want"), [
    ("a", 3000, None, ("a:3000",)),
    ("a,b:3001", 4000, None, ("a:4000", "b:3001")),
    ("a:tls1", 3000, None, ("a:tls1:3000",)),
    ("a:tls1:4333", 3000, None, ("a:tls1:4333",)),
    ("a", 4333, "srv", ("a:srv:4333",)),
    ("[::1]:3100", 3000, None, ("[::1]:3100",)),
    ("[::1]", 3000, None, ("[::1]:3000",)),
    ("[fe80::1]:t:3101", 3000, None, ("[fe80::1]:t:3101",)),
])
def test_hosts(text: str, port: int, tls: str | None, want: tuple[str, ...]) -> None:
    assert parse_hosts(text, port, tls) == want


def test_host_and_port_flags(res: Any) -> None:
    c = res("backup", namespace="ns", directory="d", host="h1,h2:3100", port="3200").cluster
    assert c.hosts == ("h1:3200", "h2:3100")
    assert c.seeds() == [("h1", 3200), ("h2", 3100)]


# --- passwords ----------------------------------------------------------------------------


def test_password_forms(res: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW_PLAIN", "s3cret")
    monkeypatch.setenv("PW_B64", base64.b64encode(b"fromb64env").decode())
    pwfile = tmp_path / "pw"
    pwfile.write_text("filepw\nsecond line\n")
    cases = {"lit": "lit", "env:PW_PLAIN": "s3cret", "env-b64:PW_B64": "fromb64env",
             f"b64:{base64.b64encode(b'xyz').decode()}": "xyz", f"file:{pwfile}": "filepw"}
    for given, want in cases.items():
        c = res("backup", namespace="ns", directory="d", user="u", password=given).cluster
        assert c.password == want, given
    with pytest.raises(ConfigError, match="-P/--password: environment variable 'NOPE_X' is not set"):
        res("backup", namespace="ns", directory="d", user="u", password="env:NOPE_X")


def test_bare_password_prompts(res: Any) -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    c = res("backup", prompt=prompt, namespace="ns", directory="d", user="u", password=PROMPT).cluster
    assert c.password == "typed" and asked == ["Password: "]
    c = res("backup", prompt=prompt, namespace="ns", directory="d", user="u").cluster  # -U alone asks too
    assert c.password == "typed"
    with pytest.raises(ConfigError, match="-P/--password: given without a value and there is no terminal"):
        res("backup", namespace="ns", directory="d", user="u", password=PROMPT)
    with pytest.raises(ConfigError, match="-U/--user: needs a password"):
        res("backup", namespace="ns", directory="d", user="u")


def test_password_is_hidden_in_print_config(res: Any) -> None:
    r = res("backup", namespace="ns", directory="d", user="u", password="topsecret")
    assert "topsecret" not in repr(r.to_json())
    assert r.to_json()["cluster"]["password"] == "***"


# --- restore ------------------------------------------------------------------------------


def test_restore_flags(res: Any) -> None:
    r = res("restore", namespace="src,dst", directory="/b", parallel="6", unique=True, no_generation=True,
            extra_ttl="60", nice="10,500", batch_size="64", max_async_batches="8", timeout="2000",
            retry_scale_factor="300000", max_retries="9", set_list="s1,s2", bin_list="b", wait=True,
            ignore_record_error=True)
    c = r.restore
    assert (c.namespace.source, c.namespace.destination) == ("src", "dst")
    assert c.parallel == 6 and c.unique and c.no_generation and c.extra_ttl == 60
    assert (c.bandwidth, c.records_per_second) == (10 * MIB, 500)
    assert (c.batch_size, c.max_async_batches) == (64, 8)
    assert (c.info_timeout_ms, c.total_timeout_ms) == (2000, 2000)  # asrestore: total 0 means --timeout
    assert (c.retry.base_timeout_ms, c.retry.max_retries) == (300, 9)
    assert c.set_list == ("s1", "s2") and c.bin_list == ("b",) and c.wait_for_indexes and c.ignore_record_error
    assert r.inputs == ("/b",)


def test_restore_defaults(res: Any) -> None:
    c = res("restore", directory="d").restore
    assert c.namespace is None and c.batch_size == 128 and c.max_async_batches == 32 and c.indexes_last
    assert res("restore", directory="d", disable_batch_writes=True).restore.batch_size == 16
    assert res("restore", namespace="ns", directory="d").restore.namespace.destination == "ns"


def test_restore_inputs(res: Any) -> None:
    r = res("restore", input_file="/b/one.asb")
    assert (str(r.storage), r.input_file, r.inputs) == ("/b", "one.asb", ("/b/one.asb",))
    r = res("restore", directory_list="a,b", parent_directory="/p")
    assert r.inputs == ("/p/a", "/p/b")
    r = res("restore", input_file="-")
    assert r.storage.scheme == "stdio"


def test_go_bucket_options_build_urls(res: Any) -> None:
    r = res("backup", namespace="ns", directory="nightly/2024", s3_bucket_name="bk", s3_endpoint_override="http://x")
    assert str(r.storage) == "s3://bk/nightly/2024"
    assert dict(r.storage.options) == {"endpoint": "http://x"}
    r = res("restore", directory="p", azure_container_name="c", azure_account_name="acct")
    assert str(r.storage) == "az://c/p" and dict(r.storage.options) == {"account-name": "acct"}
    with pytest.raises(ConfigError, match="--gcp-bucket-name: only one cloud provider can be configured"):
        res("backup", namespace="ns", directory="p", s3_bucket_name="a", gcp_bucket_name="b")


def test_storage_options_in_the_storage_plugins_units(res: Any) -> None:
    r = res("backup", namespace="ns", directory="s3://b/p", s3_connect_timeout="1500", s3_min_part_size="8",
            s3_max_async_uploads="6", s3_request_timeout="60000", s3_log_level="debug", gcp_key_path="k.json")
    assert dict(r.storage.options) == {"connect-timeout": "2", "part-size": "8MiB", "upload-concurrency": "6",
                                       "request-timeout": "60"}
    assert r.warnings == ["--s3-log-level has no effect here"]
    r = res("restore", directory="/local/dir", s3_region="x")
    assert dict(r.storage.options) == {} and r.warnings == []  # options of another provider are not passed


# --- bad flags, by message ----------------------------------------------------------------


BAD_BACKUP: list[tuple[dict[str, Any], str]] = [
    ({"parallel": "0"}, r"-w/--parallel: must be 1 to 100 \(got 0\)"),
    ({"parallel": "many"}, r"-w/--parallel: must be an integer \(got 'many'\)"),
    ({"port": "70000"}, r"-p/--port: must be 1 to 65535 \(got 70000\)"),
    ({"host": "a:b:c:d"}, r"-h/--host: bad host 'a:b:c:d'"),
    ({"host": "a:99999"}, r"-h/--host: bad port in 'a:99999': must be 1 to 65535"),
    ({"compress": "gzip"}, r"-z/--compress: must be one of zstd, none \(got 'gzip'\)"),
    ({"compression_level": "5"}, r"--compression-level: needs -z/--compress zstd"),
    ({"compress": "zstd", "compression_level": "23"}, r"--compression-level: must be 0 to 22 \(got 23\)"),
    ({"encrypt": "aes256"}, r"-y/--encrypt: needs a key: --encryption-key-file"),
    ({"encrypt": "aes512", "encryption_key_file": "k"}, r"-y/--encrypt: must be one of aes128, aes256, none"),
    ({"encrypt": "aes128", "encryption_key_file": "k", "encryption_key_env": "E"},
     r"--encryption-key-env: cannot be combined with --encryption-key-file: give one key"),
    ({"encryption_key_file": "k"}, r"--encryption-key-file: given without -y/--encrypt"),
    ({"output_file": "x.asb"}, r"-o/--output-file: cannot be combined with -d/--directory"),
    ({"file_limit": "0"}, r"-F/--file-limit: must be at least 1 \(got 0\)"),
    ({"partition_list": "1,zz"}, r"-X/--partition-list: 'zz' is not a partition id"),
    ({"partition_list": "1", "after_digest": "AAAA"},
     r"-D/--after-digest: cannot be combined with -X/--partition-list"),
    ({"after_digest": "%%%"}, r"-D/--after-digest: not valid base64"),
    ({"filter_exp": "kwGT", "modified_after": "2024-01-01"},
     r"-f/--filter-exp: cannot be combined with --modified"),
    ({"filter_exp": "not base64!"}, r"-f/--filter-exp: must be a base64 encoded expression"),
    ({"modified_after": "soon"}, r"-a/--modified-after: must be a time like"),
    ({"modified_after": "2024-02-01", "modified_before": "2024-01-01"},
     r"-b/--modified-before: must be later than modified_after"),
    ({"node_list": "a:1", "partition_list": "5"}, r"-l/--node-list: cannot be combined with partition_filters"),
    ({"auth": "KERBEROS"}, r"-A/--auth: must be one of INTERNAL, EXTERNAL, EXTERNAL_INSECURE, PKI"),
    ({"tls_cipher_suite": "ALL"}, r"--tls-cipher-suite: not supported by aerobackup"),
    ({"machine": "/srv/m"}, r"-m/--machine: not supported by aerobackup; use --json"),
    ({"prefer_racks": "1,x"}, r"--prefer-racks: rack ids are integers \(got 'x'\)"),
    ({"state_file_dst": "s", "node_list": "a:1"}, r"--state-file-dst: cannot be used with node_list"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_BACKUP, ids=[m[:40] for _, m in BAD_BACKUP])
def test_bad_backup_flag(res: Any, flags: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        res("backup", **{"namespace": "ns", "directory": "d", **flags})


def test_backup_needs_namespace_and_location(res: Any) -> None:
    with pytest.raises(ConfigError, match=r"^-n/--namespace: is required"):
        res("backup", directory="d")
    with pytest.raises(ConfigError, match=r"give a directory \(-d\), an output file \(-o\), or make an estimate"):
        res("backup", namespace="ns")


BAD_RESTORE: list[tuple[dict[str, Any], str]] = [
    ({"unique": True, "replace": True}, r"-u/--unique: cannot be combined with replace"),
    ({"namespace": "a,b,c"}, r"-n/--namespace: must be SRC or SRC,DST \(got 'a,b,c'\)"),
    ({"namespace": "a,"}, r"-n/--namespace: must be SRC or SRC,DST"),
    ({"nice": "fast"}, r"-N/--nice: must be MIB_S or MIB_S,TPS"),
    ({"parallel": "5000"}, r"-t/--parallel: must be 1 to 4096 \(got 5000\)"),
    ({"extra_ttl": "-1"}, r"-l/--extra-ttl: must be 0 to 2147483647 \(got -1\)"),
    ({"batch_size": "0"}, r"--batch-size: must be at least 1 \(got 0\)"),
    ({"input_file": "x.asb"}, r"-i/--input-file: cannot be combined with -d/--directory"),
    ({"parent_directory": "/p"}, r"--parent-directory: needs --directory-list"),
    ({"mode": "xml"}, r"--mode: must be one of asb, asbx, auto"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_RESTORE, ids=[m[:40] for _, m in BAD_RESTORE])
def test_bad_restore_flag(res: Any, flags: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        res("restore", **{"directory": "d", **flags})


def test_restore_needs_a_location(res: Any) -> None:
    with pytest.raises(ConfigError, match=r"give a directory \(-d\), an input file \(-i\) or a --directory-list"):
        res("restore", namespace="ns")


def test_deprecated_restore_flags_warn(res: Any) -> None:
    r = res("restore", directory="d", sleep_between_retries="5", event_loops="2")
    assert any("--sleep-between-retries is deprecated and has no effect" in w for w in r.warnings)
    assert any("--event-loops has no effect" in w for w in r.warnings)


# --- secrets ------------------------------------------------------------------------------


def test_secret_values_are_fetched(res: Any) -> None:
    seen: list[tuple[str, Any]] = []

    def resolver(value: str, agent: Any) -> str:
        seen.append((value, agent))
        return {"secrets:r:ns": "fromagent", "secrets:r:port": "3456"}[value]

    r = res("backup", resolver=resolver, namespace="secrets:r:ns", port="secrets:r:port", directory="d",
            encrypt="aes128", encryption_key_file="secrets:r:pem", sa_address="10.0.0.9:4000")
    assert r.backup.namespace == "fromagent" and r.cluster.hosts == ("127.0.0.1:3456",)
    assert r.backup.encryption.key_file == "secrets:r:pem"  # the key source fetches the PEM itself
    assert [v for v, _ in seen] == ["secrets:r:ns", "secrets:r:port"]
    agent = seen[0][1]
    assert (agent.address, agent.port) == ("10.0.0.9", 4000)
    assert r.backup.secret_agent == agent


def test_secret_without_agent_support_is_an_error(res: Any) -> None:
    with pytest.raises(ConfigError, match="-n/--namespace: secrets: values need the Secret Agent"):
        res("backup", namespace="secrets:r:ns", directory="d")

    def failing(value: str, agent: Any) -> str:
        raise OSError("connection refused")

    with pytest.raises(ConfigError, match="-n/--namespace: failed to fetch secrets:r:ns: connection refused"):
        res("backup", resolver=failing, namespace="secrets:r:ns", directory="d")


# --- the option table ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["backup", "restore", "estimate", "validate", "backup-xdr"])
def test_flags_are_unique(command: str) -> None:
    seen: dict[str, str] = {}
    for o in options_for(command):
        for flag in o.flags:
            assert flag not in seen, f"{flag} used by {seen.get(flag)} and {o.dest}"
            seen[flag] = o.dest
    assert seen.get("-h", "host") == "host"
    assert "-Z" not in seen  # help


def test_c_short_flags_match_the_spec() -> None:
    """The short forms of asb-format.md §15 with their meaning (C tools win where Go differs)."""
    backup = {f: o.dest for o in options_for("backup") for f in o.flags}
    restore = {f: o.dest for o in options_for("restore") for f in o.flags}
    assert {k: backup[k] for k in ("-s", "-L", "-N", "-w", "-l", "-u", "-F", "-r", "-c", "-e", "-q", "-x")} == {
        "-s": "set", "-L": "records_per_second", "-N": "nice", "-w": "parallel", "-l": "node_list",
        "-u": "no_udfs", "-F": "file_limit", "-r": "remove_files", "-c": "continue_", "-e": "estimate",
        "-q": "output_file_prefix", "-x": "no_bins"}
    assert {k: restore[k] for k in ("-t", "-L", "-w", "-u", "-F", "-r", "-g", "-T", "-N", "-i", "-s")} == {
        "-t": "parallel", "-L": "indexes_last", "-w": "wait", "-u": "unique", "-F": "no_udfs", "-r": "replace",
        "-g": "no_generation", "-T": "timeout", "-N": "nice", "-i": "input_file", "-s": "set_list"}


def test_docs_list_every_flag() -> None:
    """docs/cli.md's flag tables are generated from the option table and kept in sync."""
    from tests.cli.cli_docs import DOC, render

    current = DOC.read_text()
    assert current == render(current), "docs/cli.md is stale: run python -m tests.cli.cli_docs --write"
    for command in ("backup", "restore", "backup-xdr"):
        for o in options_for(command):
            assert f"`{o.long}`" in current, o.long
