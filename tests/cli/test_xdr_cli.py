"""``aerobackup backup xdr`` and ``aerobackup restore --mode asbx|auto``: the installed command as a
subprocess against emulators running in this process (the source with the XDR shipper attached,
so it ships as Enterprise Edition does), records compared through the official client."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aerospike
import pytest
import zstandard
from aerobackup.errors import ExitCode
from aerobackup.testing import Emulator
from aerobackup.testing.xdr_shipper import XdrShipper

from tests.cli.conftest import run_cli

N = 200
FAST = ("--local-port", "0", "--info-polling-period", "20")


@pytest.fixture
def source() -> Iterator[tuple[Emulator, list[Any]]]:
    with Emulator(namespaces=("test",)) as em:
        shippers = XdrShipper.attach(em)
        yield em, shippers
        XdrShipper.detach_all(shippers)


@pytest.fixture
def target() -> Iterator[Emulator]:
    with Emulator(namespaces=("test",)) as em:
        yield em


def official(em: Emulator) -> Any:
    return aerospike.client({"hosts": [(em.host, em.port)]}).connect()


def srv(em: Emulator) -> list[str]:
    return ["-h", em.host, "-p", str(em.port)]


def load(em: Emulator) -> None:
    c = official(em)
    try:
        for i in range(N):
            bins = {"i": i, "neg": -i * 1000003, "f": i / 7, "s": f"v-{i}-é", "b": bytearray([i % 256, 0, 255]),
                    "l": [i, "x", [1.5, None]], "m": {"k": i, "n": {"z": b"\x00"}}, "t": i % 2 == 0,
                    "g": aerospike.GeoJSON({"type": "Point", "coordinates": [i / 10, 1.5]})}
            c.put(("test", f"set{i % 3}", i), bins, policy={"key": aerospike.POLICY_KEY_SEND})
        c.put(("test", None, "no-set"), {"v": "x" * 5000})
    finally:
        c.close()


def everything(em: Emulator) -> dict[Any, Any]:
    """digest -> (set, key, bins) through the official client (a scan of the namespace)."""
    c = official(em)
    try:
        out = {}
        for key, _meta, bins in c.scan("test", None).results():
            # GeoJSON objects compare by identity: compare their text
            plain = {k: v.dumps() if isinstance(v, aerospike.GeoJSON) else v for k, v in bins.items()}
            out[bytes(key[3])] = (key[1], key[2], plain)
        return out
    finally:
        c.close()


def xdr_backup(em: Emulator, folder: Path, *extra: str) -> Any:
    return run_cli("backup", "xdr", *srv(em), "-n", "test", "-d", str(folder), *FAST, *extra, cwd=folder.parent,
                   timeout=120)


def test_backup_xdr_then_restore_asbx(source: tuple[Emulator, list[Any]], target: Emulator, tmp_path: Path) -> None:
    em, shippers = source
    load(em)
    want = everything(em)
    assert len(want) == N + 1
    bk = tmp_path / "bk"
    r = xdr_backup(em, bk, "--dc", "cli_dc", "--parallel-write", "2", "-z", "zstd")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("backup finished\n")
    assert f"records   {N + 1}" in r.stdout
    names = sorted(p.name for p in bk.iterdir())
    assert names == ["0_test_1.asbx", "1_test_2.asbx"]  # one file per writer, numbers from one counter
    # zstd called directly: each file holds the 44-byte ASBX header (version 1, file number, namespace)
    with open(bk / "1_test_2.asbx", "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read()
    assert raw[:13] == b"\x01" + (2).to_bytes(8, "big") + b"\0" * 4
    assert raw[13:44] == b"test".ljust(31, b"\0")
    assert not shippers[0].dcs  # the DC was removed at the end
    r = run_cli("restore", *srv(target), "--mode", "asbx", "-d", str(bk), "-z", "zstd", cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"records   {N + 1} read, {N + 1} restored" in r.stdout
    assert everything(target) == want


def test_restore_mode_auto_detects_asbx_json(source: tuple[Emulator, list[Any]], target: Emulator,
                                             tmp_path: Path) -> None:
    em, _ = source
    load(em)
    want = everything(em)
    bk = tmp_path / "bk"
    r = xdr_backup(em, bk, "--parallel-write", "1", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["command"], report["records"], report["files"], report["mode"]) == ("backup", N + 1, 1, "xdr")
    r = run_cli("restore", *srv(target), "-d", str(bk), "--json", cwd=tmp_path, timeout=120)  # --mode auto
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["records_read"], report["records_written"]) == (N + 1, N + 1)
    assert everything(target) == want
    # validate reads ASBX too, without a cluster
    r = run_cli("validate", str(bk), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records_read"] == N + 1
    # a second backup into the same directory: refused, unless -r deletes the ASBX files first
    r = xdr_backup(em, bk, "--parallel-write", "1")
    assert r.returncode != 0
    assert "is not empty: it holds 1 backup file(s), e.g. '0_test_1.asbx'; use remove-files (-r)" in r.stderr
    r = xdr_backup(em, bk, "--parallel-write", "1", "-r", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records"] == N + 1
    assert sorted(p.name for p in bk.iterdir()) == ["0_test_1.asbx"]


def test_community_edition_refuses(target: Emulator, tmp_path: Path) -> None:
    r = xdr_backup(target, tmp_path / "bk")  # no shipper: the emulator is Community Edition
    assert r.returncode == ExitCode.CLUSTER == 11
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("aerobackup: error: node ")
    assert "refused XDR (ERROR:25" in lines[0]
    assert "XDR backups need an Enterprise Edition cluster" in lines[0]
    assert not (tmp_path / "bk").exists() or not any((tmp_path / "bk").iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["-n", "test,bar"], "-n/--namespace: does not apply to ASBX (XDR) restores"),
    (["--set-list", "a"], "-s/--set-list: does not apply to ASBX (XDR) restores"),
    (["--extra-ttl", "5"], "-l/--extra-ttl: does not apply to ASBX (XDR) restores"),
    (["--batch-size", "64"], "--batch-size: does not apply to ASBX (XDR) restores: records are sent one message each"),
    (["--total-timeout", "500"], "--total-timeout: does not apply to ASBX (XDR) restores (socket_timeout_ms does)"),
])
def test_restore_asbx_refuses_options(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bk").mkdir()
    r = run_cli("restore", "-h", "127.0.0.1", "-p", "1", "--mode", "asbx", "-d", str(tmp_path / "bk"), *args,
                cwd=tmp_path)
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert r.stderr.strip() == f"aerobackup: error: {message}"


def _fake_asbx(folder: Path) -> None:
    folder.mkdir()
    (folder / "0_test_1.asbx").write_bytes(b"\x01" + struct.pack(">QI", 1, 0) + b"test".ljust(31, b"\0"))


def test_detected_asbx_refuses_options_and_mode_asb(tmp_path: Path) -> None:
    _fake_asbx(tmp_path / "bk")
    r = run_cli("restore", "-h", "127.0.0.1", "-p", "1", "-d", str(tmp_path / "bk"), "--no-udfs", cwd=tmp_path)
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert r.stderr.strip() == ("aerobackup: error: -F/--no-udfs: does not apply to ASBX (XDR) restores (the backup "
                                "holds ASBX files: --mode auto restores it as ASBX)")
    r = run_cli("restore", "-h", "127.0.0.1", "-p", "1", "--mode", "asb", "-d", str(tmp_path / "bk"), cwd=tmp_path)
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "--mode asb: the location holds only ASBX (XDR) files (*.asbx): use --mode asbx" in r.stderr


def test_stop_xdr_and_unblock_mrt(source: tuple[Emulator, list[Any]], tmp_path: Path) -> None:
    em, shippers = source
    c = official(em)
    try:
        c.info_all("set-config:context=xdr;dc=left_over;action=create")
        c.info_all("set-config:context=namespace;namespace=test;disable-mrt-writes=true")
    finally:
        c.close()
    assert "left_over" in shippers[0].dcs and "test" in shippers[0].mrt_disabled
    r = run_cli("backup", "xdr", *srv(em), "-n", "test", "--unblock-mrt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "xdr clean-up finished: MRT writes of 'test' unblocked"
    assert "test" not in shippers[0].mrt_disabled and "left_over" in shippers[0].dcs
    r = run_cli("backup", "xdr", *srv(em), "-n", "test", "--dc", "left_over", "--stop-xdr", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "left_over" not in shippers[0].dcs
    r = run_cli("backup", "xdr", *srv(em), "-n", "test", "--dc", "left_over", "--stop-xdr", cwd=tmp_path)
    assert r.returncode == ExitCode.CLUSTER, r.stdout
    assert "'set-config:context=xdr;dc=left_over;action=delete': ERROR:4:DC not found" in r.stderr


def test_flags_make_the_config(res: Any) -> None:
    r = res("backup-xdr", namespace="test", directory="bk", dc="d1", local_address="10.0.0.5", local_port="3005",
            rewind="600", max_throughput="400", forward=True, parallel_write="3", file_limit="2",
            read_timeout="50", write_timeout="60", results_queue_size="7", ack_queue_size="8",
            max_connections="9", info_polling_period="250", start_timeout="0", info_retry_interval="20",
            info_max_retries="4", compress="zstd", compression_level="5")
    x = r.backup_xdr
    assert (x.namespace, x.dc, x.local_address, x.local_port, x.rewind, x.max_throughput, x.forward) == (
        "test", "d1", "10.0.0.5", 3005, "600", 400, True)
    assert (x.parallel_write, x.file_limit, x.read_timeout_ms, x.write_timeout_ms) == (3, 2 << 20, 50, 60)
    assert (x.result_queue_size, x.ack_queue_size, x.max_connections, x.info_polling_period_ms) == (7, 8, 9, 250)
    assert (x.start_timeout_ms, x.info_retry.base_timeout_ms, x.info_retry.max_retries) == (0, 20, 4)
    assert (x.compression.mode, x.compression.level) == ("zstd", 5)
    assert str(r.storage) == "bk" and not r.stop_xdr
    d = res("backup-xdr", namespace="test", directory="bk").backup_xdr
    assert (d.dc, d.local_address, d.local_port, d.rewind, d.max_connections, d.file_limit) == (
        "dc", "127.0.0.1", 8080, "all", 100, 250 << 20)  # the Go CLI's defaults (-F in MiB as for backup)


def test_receiver_tls_flags(res: Any, tmp_path: Path) -> None:
    from aerobackup.config import TlsConfig

    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for f in files.values():
        f.write_text("x")
    x = res("backup-xdr", namespace="test", directory="bk", xdr_tls_certfile=str(files["cert"]),
            xdr_tls_keyfile=str(files["key"]), xdr_tls_cafile=str(files["ca"])).backup_xdr
    assert x.tls == TlsConfig(enable=True, cert_file=str(files["cert"]), key_file=str(files["key"]),
                              ca_file=str(files["ca"]))
    assert res("backup-xdr", namespace="test", directory="bk").backup_xdr.tls is None


def test_backup_xdr_over_tls(target: Emulator, tmp_path: Path) -> None:
    """The nodes connect with TLS (checking the receiver's name); a plain receiver gets nothing."""
    import ssl

    from tests.xdr.test_receiver import _self_signed

    cert, key = _self_signed(tmp_path)
    with Emulator(namespaces=("test",)) as em:
        shippers = XdrShipper.attach(em, tls=ssl.create_default_context(cafile=str(cert)), tls_name="xdr-receiver")
        try:
            load(em)
            want = everything(em)
            bk = tmp_path / "bk"
            r = xdr_backup(em, bk, "--xdr-tls-certfile", str(cert), "--xdr-tls-keyfile", str(key))
            assert r.returncode == 0, r.stderr
            assert f"records   {N + 1}" in r.stdout
            r = xdr_backup(em, tmp_path / "plain", "--start-timeout", "300", "--rewind", "all")
            assert r.returncode != 0 and "no record arrived" in r.stderr, r.stderr
        finally:
            XdrShipper.detach_all(shippers)
    r = run_cli("restore", *srv(target), "--mode", "asbx", "-d", str(bk), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert everything(target) == want


@pytest.mark.parametrize(("args", "message"), [
    (["-d", "bk", "--xdr-tls-keyfile", "k.pem"], "--xdr-tls-keyfile: needs --xdr-tls-certfile"),
    (["-d", "bk", "--xdr-tls-certfile", "missing.pem"], "--xdr-tls-certfile: no such file: missing.pem"),
    (["-d", "bk", "--dc", "bad name"], "--dc: must match ^[a-zA-Z0-9_\\-$]+$ (got 'bad name')"),
    (["-d", "bk", "--rewind", "yesterday"], "--rewind: must be a positive number of seconds or 'all'"),
    (["-d", "bk", "--local-address", "0.0.0.0"], "--local-address: is also the address the nodes are told"),
    (["-d", "bk", "--max-throughput", "150"], "--max-throughput: must be a multiple of 100 (got 150)"),
    ([], "give a directory (-d) for the ASBX files"),
    (["-d", "bk", "--total-timeout", "5"], "No such option '--total-timeout'"),
])
def test_bad_xdr_flags(tmp_path: Path, args: list[str], message: str) -> None:
    r = run_cli("backup", "xdr", "-n", "test", *args, cwd=tmp_path)
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert r.stderr.startswith("aerobackup: error: ") and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_options_before_xdr_are_refused(tmp_path: Path) -> None:
    r = run_cli("backup", "-n", "test", "xdr", "-d", "bk", cwd=tmp_path)
    assert r.returncode == ExitCode.USAGE
    assert "options of 'backup xdr' go after 'xdr' (got --namespace before it)" in r.stderr
