"""The installed ``aerobackup`` command against the emulator, checked with the official client."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import run_cli

N = 300


def load(client: Any, n: int = N, ns: str = "test", set_name: str = "s", pad: int = 0) -> dict[int, dict[str, Any]]:
    import aerospike

    want = {}
    for i in range(n):
        bins = {"i": i, "f": i / 3.0, "s": f"val-{i}-é", "b": bytes([i % 256]) * 3, "l": [i, "x", [1.5]],
                "m": {"k": i, "n": None}, "t": i % 2 == 0}
        if pad:
            bins["pad"] = "p" * pad
        client.put((ns, set_name, i), bins, policy={"key": aerospike.POLICY_KEY_SEND})
        want[i] = bins
    return want


def read_back(client: Any, want: dict[int, dict[str, Any]], ns: str = "bar", set_name: str = "s",
              bins: tuple[str, ...] | None = None) -> None:
    for i, expected in want.items():
        _, _, got = client.get((ns, set_name, i))
        exp = expected if bins is None else {k: v for k, v in expected.items() if k in bins}
        assert got == exp, i


def count(client: Any, ns: str) -> int:
    return len(client.query(ns, None).results())


@pytest.fixture
def srv(aerospike_server: Any) -> list[str]:
    return ["-h", aerospike_server.host, "-p", str(aerospike_server.port)]


def test_backup_restore_plain(aerospike_client: Any, srv: list[str], tmp_path: Path) -> None:
    want = load(aerospike_client)
    r = run_cli("backup", *srv, "-n", "test", "-d", str(tmp_path / "bk"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("backup finished\n")
    assert f"records   {N}" in r.stdout
    files = sorted(p.name for p in (tmp_path / "bk").iterdir())
    assert files == ["test_00000.asb"]
    assert (tmp_path / "bk" / "test_00000.asb").read_bytes().startswith(b"Version 3.1\n# namespace test\n")
    r = run_cli("restore", *srv, "-n", "test,bar", "-d", str(tmp_path / "bk"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"records   {N} read, {N} restored" in r.stdout
    read_back(aerospike_client, want)


def test_zstd_aes_parallel_json(aerospike_client: Any, srv: list[str], tmp_path: Path, conformance_dir: Path) -> None:
    want = load(aerospike_client)
    key = str(conformance_dir / "asbackup-4.5.8" / "key.pem")
    enc = ["-z", "zstd", "-y", "aes256", "--encryption-key-file", key]
    r = run_cli("backup", *srv, "-n", "test", "-d", "bk", "-w", "4", *enc, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["command"], report["records"], report["status"]) == ("backup", N, "ok")
    assert report["files"] == len(list((tmp_path / "bk").iterdir())) >= 1
    assert b"Version" not in (tmp_path / "bk" / "test_00000.asb").read_bytes()[:64]  # encrypted
    r = run_cli("restore", *srv, "-n", "test,bar", "-d", "bk", "-z", "zstd", cwd=tmp_path)
    assert r.returncode != 0 and r.stderr.startswith("aerobackup: error: ")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = run_cli("restore", *srv, "-n", "test,bar", "-d", "bk", *enc, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records_written"] == N
    read_back(aerospike_client, want)


def test_single_file_sets_and_bins(aerospike_client: Any, srv: list[str], tmp_path: Path) -> None:
    want = load(aerospike_client, 50, set_name="keep")
    load(aerospike_client, 30, set_name="skip")
    r = run_cli("backup", *srv, "-n", "test", "-o", "one.asb", "-s", "keep", "-B", "i,s", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "location  one.asb" in r.stdout
    r = run_cli("restore", *srv, "-n", "test,bar", "-i", "one.asb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    read_back(aerospike_client, want, set_name="keep", bins=("i", "s"))
    assert count(aerospike_client, "bar") == 50


def test_stdout_backup_keeps_report_off_stdout(aerospike_client: Any, srv: list[str], tmp_path: Path) -> None:
    load(aerospike_client, 20)
    r = run_cli("backup", *srv, "-n", "test", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Version 3.1\n# namespace test\n")
    assert "backup finished" in r.stderr and "backup finished" not in r.stdout
    assert r.stdout.count("\n+ k I ") == 20


def test_refuses_non_empty_directory(aerospike_client: Any, srv: list[str], tmp_path: Path) -> None:
    load(aerospike_client, 5)
    assert run_cli("backup", *srv, "-n", "test", "-d", "bk", cwd=tmp_path).returncode == 0
    r = run_cli("backup", *srv, "-n", "test", "-d", "bk", cwd=tmp_path)
    assert r.returncode == 1
    assert "is not empty" in r.stderr and "-r" in r.stderr
    assert run_cli("backup", *srv, "-n", "test", "-d", "bk", "-r", cwd=tmp_path).returncode == 0
    r = run_cli("backup", *srv, "-n", "test", "-d", "bk", "--remove-artifacts", cwd=tmp_path)
    assert r.returncode == 0 and "removed 1 backup file(s)" in r.stdout
    assert list((tmp_path / "bk").iterdir()) == []


def test_estimate(aerospike_client: Any, srv: list[str], tmp_path: Path) -> None:
    load(aerospike_client, 100)
    r = run_cli("estimate", *srv, "-n", "test", "--estimate-samples", "50", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)
    assert est["command"] == "estimate" and est["samples"] == 50 and est["total_bytes"] > 0
    assert list(tmp_path.iterdir()) == [tmp_path / "home"] or not any(tmp_path.glob("*.asb"))


def test_unreachable_cluster(tmp_path: Path) -> None:
    r = run_cli("backup", "-h", "127.0.0.1", "-p", "1", "-n", "test", "-d", "bk", "--client-timeout", "500",
                cwd=tmp_path)
    assert r.returncode == 11, r.stderr
    assert r.stderr.startswith("aerobackup: error: ") and "127.0.0.1:1" in r.stderr


# --- config files end to end --------------------------------------------------------------


def test_astools_conf_in_home_and_flag_precedence(aerospike_client: Any, aerospike_server: Any,
                                                  tmp_path: Path) -> None:
    load(aerospike_client, 10)
    conf = tmp_path / ".aerospike" / "astools.conf"
    conf.parent.mkdir()
    conf.write_text(f'[cluster]\nhost = "127.0.0.1"\nport = {aerospike_server.port}\n'
                    '[asbackup]\nnamespace = "bar"\ndirectory = "fromfile"\n')
    r = run_cli("backup", "--print-config", cwd=tmp_path, env={"HOME": str(tmp_path)})
    cfg = json.loads(r.stdout)
    assert cfg["backup"]["namespace"] == "bar" and cfg["storage"]["url"] == "fromfile"
    assert cfg["sources"]["namespace"].endswith("astools.conf: [asbackup] namespace")
    r = run_cli("backup", "-n", "test", cwd=tmp_path, env={"HOME": str(tmp_path)})  # the flag wins
    assert r.returncode == 0, r.stderr
    assert "records   10" in r.stdout and (tmp_path / "fromfile" / "test_00000.asb").exists()
    r = run_cli("backup", "-n", "test", "--no-config-file", "-d", "x", "-p", "1", "--client-timeout", "300",
                cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert r.returncode == 11  # the file's port is not read


def test_yaml_config_with_flag_override(aerospike_client: Any, aerospike_server: Any, tmp_path: Path) -> None:
    load(aerospike_client, 10)
    (tmp_path / "b.yaml").write_text(f"""
cluster:
  seeds:
    - host: 127.0.0.1
      port: {aerospike_server.port}
backup:
  namespace: test
  directory: ybk
  parallel: 2
""")
    r = run_cli("backup", "--config", "b.yaml", "-d", "flagdir", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "flagdir" / "test_00000.asb").exists() and not (tmp_path / "ybk").exists()


@pytest.mark.parametrize(("args", "message", "code"), [
    (["backup", "-n", "test", "-d", "x", "-w", "0"], "aerobackup: error: -w/--parallel: must be 1 to 100 (got 0)", 2),
    (["backup", "-n", "test", "--bogus"], "aerobackup: error: No such option '--bogus'", 2),
    (["backup", "-n", "test", "-h"], "aerobackup: error: Option '-h' requires an argument", 2),
    (["backup", "-d", "x"], "aerobackup: error: -n/--namespace: is required", 2),
    (["restore", "-d", "x", "-u", "-r"], "aerobackup: error: -u/--unique: cannot be combined with replace", 2),
    (["backup", "-n", "t", "-d", "x", "--config-file", "nope.conf"],
     "aerobackup: error: --config-file: no such file: nope.conf", 2),
    (["backup", "--config", "bad.yaml"], "aerobackup: error: bad.yaml: backup.paralel: unknown key", 2),
    (["backup", "--only-config-file", "bad.conf"],
     "aerobackup: error: bad.conf: [asbackup] parallel: must be an integer (got 'x')", 2),
    (["validate", "missing-dir"], "aerobackup: error: validate: no such file or directory: missing-dir", 2),
    (["frobnicate"], "aerobackup: error: No such command 'frobnicate'", 2),
])
def test_bad_input_one_line_and_exit_code(tmp_path: Path, args: list[str], message: str, code: int) -> None:
    (tmp_path / "bad.yaml").write_text("backup:\n  paralel: 2\n")
    (tmp_path / "bad.conf").write_text('[asbackup]\nparallel = "x"\n')
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(message), lines[0]


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    r = run_cli("backup", "-v", "-n", "t", "-d", "x", "-w", "0", cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback (most recent call last)" in r.stderr and "ConfigError" in r.stderr


def test_help_is_dash_z_and_python_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = run_cli("backup", "-Z", cwd=tmp_path)
    assert r.returncode == 0 and "-h, --host HOSTS" in r.stdout and "--help" in r.stdout
    for module in ("aerobackup", "aerobackup.cli"):
        p = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.startswith("aerobackup "), p.stderr


# --- validate on the reference tools' files -----------------------------------------------


def test_validate_conformance_files(conformance_dir: Path, tmp_path: Path) -> None:
    base = conformance_dir / "asbackup-4.5.8"
    key = str(base / "key.pem")
    for sub, extra in [("plain", []), ("compact", []), ("zstd", ["-z", "zstd"]),
                       ("aes256", ["-y", "aes256", "--encryption-key-file", key]),
                       ("zstd_aes128", ["-z", "zstd", "-y", "aes128", "--encryption-key-file", key])]:
        r = run_cli("validate", str(base / sub), *extra, "--json", cwd=tmp_path)
        assert r.returncode == 0, (sub, r.stderr)
        rep = json.loads(r.stdout)
        assert (rep["records_read"], rep["indexes"], rep["udfs"], rep["files"]) == (74, 15, 1, 1), sub
    r = run_cli("validate", str(base / "single.asb"), cwd=tmp_path)
    assert r.returncode == 0 and "records   74 read" in r.stdout
    r = run_cli("validate", str(base / "rotate"), "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["records_read"] == 2400 and json.loads(r.stdout)["files"] == 3


def test_validate_reports_a_damaged_file(conformance_dir: Path, tmp_path: Path) -> None:
    src = conformance_dir / "asbackup-4.5.8" / "plain" / "test_00000.asb"
    lines = src.read_bytes().split(b"\n")
    idx = next(i for i, line in enumerate(lines) if line.startswith(b"- I "))
    lines[idx] = b"- Q bad 1"
    (tmp_path / "dmg").mkdir()
    shutil.copy(src, tmp_path / "dmg" / "test_00000.asb")
    (tmp_path / "dmg" / "test_00000.asb").write_bytes(b"\n".join(lines))
    r = run_cli("validate", "dmg", cwd=tmp_path)
    assert r.returncode == 13, r.stderr
    assert r.stderr.startswith("aerobackup: error: ") and f"test_00000.asb:{idx + 1}" in r.stderr
    r = run_cli("validate", str(src.parent), "-y", "aes128", "--encryption-key-file",
                str(conformance_dir / "asbackup-4.5.8" / "key.pem"), cwd=tmp_path)
    assert r.returncode in (12, 13) and len(r.stderr.strip().splitlines()) == 1


# --- demo ---------------------------------------------------------------------------------


def test_demo_end_to_end(tmp_path: Path) -> None:
    import time

    t = time.monotonic()
    r = run_cli("demo", cwd=tmp_path, timeout=120)
    elapsed = time.monotonic() - t
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo ok:" in r.stdout and "every record identical" in r.stdout
    assert "$ aerobackup backup -h 127.0.0.1 -p " in r.stdout
    asb = tmp_path / "aerobackup-demo" / "demo_00000.asb"
    text = asb.read_bytes()
    assert text.startswith(b"Version 3.1\n# namespace demo\n# first-file\n")
    for marker in (b"\n* i demo bulk demo_bulk_n N", b"\n* u L demo_udf.lua ", b"\n- Z v ", b"\n- G v ",
                   b"\n- M v ", b"\n- L v ", b"\n- Y hll ", b"\n- J lang7 ", b"\n- D v "):
        assert marker in text, marker
    assert elapsed < 30
    r = run_cli("demo", "--quiet", "--records", "10", cwd=tmp_path, timeout=120)  # again: replaces its files
    assert r.returncode == 0 and r.stdout.startswith("demo ok: 47 records"), r.stdout + r.stderr


def test_demo_check_can_fail(aerospike_server: Any, aerospike_client: Any) -> None:
    """The record-by-record check reports a changed particle, a missing record and a wrong value."""
    from aerobackup.cli.demo_data import check_restored, load_sample

    sample = load_sample(aerospike_client, aerospike_server, "test", 5)
    for rec in aerospike_server.records("test"):
        aerospike_server.put_raw("bar", rec.set_name, digest=rec.digest, bins=rec.bins, void_time=rec.void_time,
                                 store_key=False)
    assert any("set or user key differs" in p for p in check_restored(aerospike_client, aerospike_server,
                                                                        sample, "bar"))


def test_validate_c_tool_test_files(conformance_dir: Path, tmp_path: Path) -> None:
    base = conformance_dir / "aerospike-tools-backup"
    r = run_cli("validate", str(base / "test_backup_file.asb"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records_read"] == 1
    r = run_cli("validate", str(base / "test_bad_backup_file.asb"), cwd=tmp_path)
    assert r.returncode == 13, r.stderr
    assert "test_bad_backup_file.asb:13:3" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("validate", str(conformance_dir / "asbackup-4.5.8" / "aes128"), "-y", "aes128",
                "--encryption-key-file", str(base / "bad_test_key.pem"), cwd=tmp_path)
    assert r.returncode == 12, r.stderr
    assert r.stderr.startswith("aerobackup: error: ") and "bad_test_key.pem" in r.stderr


def test_serve_then_use_it(tmp_path: Path) -> None:
    import os
    import re
    import signal
    import subprocess

    import aerospike

    from tests.cli.conftest import BIN

    p = subprocess.Popen([str(BIN), "serve", "--port", "0", "--namespaces", "test,bar"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)})
    try:
        assert p.stdout is not None
        first = p.stdout.readline()
        m = re.match(r"emulator serving namespaces test,bar on 127\.0\.0\.1:(\d+) \(Ctrl-C stops it\)", first)
        assert m, first
        port = int(m.group(1))
        assert f"aerobackup backup -h 127.0.0.1 -p {port} -n test" in p.stdout.readline()
        client = aerospike.client({"hosts": [("127.0.0.1", port)]}).connect()
        client.put(("test", "s", 1), {"a": 1})
        client.close()
        r = run_cli("backup", "-h", "127.0.0.1", "-p", str(port), "-n", "test", "-d", "bk", "--json", cwd=tmp_path)
        assert r.returncode == 0 and json.loads(r.stdout)["records"] == 1, r.stderr
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.rstrip().endswith("emulator stopped")


def test_serve_port_in_use(aerospike_server: Any, tmp_path: Path) -> None:
    r = run_cli("serve", "--port", str(aerospike_server.port), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"aerobackup: error: serve: cannot listen on 127.0.0.1:{aerospike_server.port}")
    assert "--port 0" in r.stderr


def test_plugins_lists_the_builtins(tmp_path: Path) -> None:
    r = run_cli("plugins", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = {(p["kind"], p["name"]) for p in json.loads(r.stdout)}
    assert {("storage", "local"), ("codec", "asb"), ("transform", "zstd"), ("transform", "aes256")} <= names


def test_secret_agent_values(aerospike_client: Any, aerospike_server: Any, tmp_path: Path,
                             conformance_dir: Path) -> None:
    """Namespace, port and the encryption key from a (protocol-faithful fake) Secret Agent."""
    from aerobackup.testing.secret_agent import FakeSecretAgent

    want = load(aerospike_client, 20)
    pem = (conformance_dir / "asbackup-4.5.8" / "key.pem").read_text()
    secrets = {"db:ns": "test", "db:port": str(aerospike_server.port), "db:key": pem}
    with FakeSecretAgent(secrets) as agent:
        sa = ["--sa-address", agent.host, "--sa-port", str(agent.port)]
        r = run_cli("backup", "-n", "secrets:db:ns", "-p", "secrets:db:port", "-d", "bk", "-y", "aes128",
                    "--encryption-key-file", "secrets:db:key", *sa, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "records   20" in r.stdout
        r = run_cli("backup", "-n", "secrets:db:missing", "-d", "bk2", *sa, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("aerobackup: error: -n/--namespace: ")
        assert "secrets:db:missing" in r.stderr
    r = run_cli("restore", "-p", str(aerospike_server.port), "-n", "test,bar", "-d", "bk", "-y", "aes128",
                "--encryption-key-file", str(conformance_dir / "asbackup-4.5.8" / "key.pem"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    read_back(aerospike_client, want)


def test_validate_from_stdin(conformance_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.cli.conftest import BIN

    data = (conformance_dir / "asbackup-4.5.8" / "zstd" / "test_00000.asb").read_bytes()
    r = subprocess.run([str(BIN), "validate", "-", "-z", "zstd", "--json"], input=data, capture_output=True,
                       cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records_read"] == 74
