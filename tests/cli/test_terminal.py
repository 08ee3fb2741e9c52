"""What a person sees: the progress bar in a pseudo-terminal, plain lines in a pipe, Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import BIN, run_cli
from tests.cli.test_commands import load, read_back

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def test_progress_bar_in_a_terminal(aerospike_client: Any, aerospike_server: Any, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    load(aerospike_client, 1500)
    args = ["backup", "-h", "127.0.0.1", "-p", str(aerospike_server.port), "-n", "test", "-d", "bk", "-L", "1000"]
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    child = pexpect.spawn(str(BIN), args, cwd=str(tmp_path), env=env, dimensions=(40, 140), timeout=60,
                          encoding="utf-8", codec_errors="replace")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    raw = child.before
    assert "\x1b[" in raw  # rendered as a live terminal display
    text = ANSI.sub("", raw)
    assert "backup" in text and "1,500 records" in text and "rec/s" in text and "ETA" in text
    assert "100%" in text
    assert "backup finished" in text and "records   1,500" in text
    for garbage in ("Traceback", "[bold]", "{task.", "\ufffd", "Error"):
        assert garbage not in text, garbage


def test_plain_progress_lines_when_not_a_terminal(aerospike_client: Any, aerospike_server: Any,
                                                  tmp_path: Path) -> None:
    load(aerospike_client, 3000)
    r = run_cli("backup", "-h", "127.0.0.1", "-p", str(aerospike_server.port), "-n", "test", "-d", "bk",
                "-L", "1000", cwd=tmp_path, env={"AEROBACKUP_PROGRESS_INTERVAL": "0.3"})
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("aerobackup: backup: ")]
    assert len(lines) >= 2, r.stderr
    assert re.fullmatch(r"aerobackup: backup: [\d,]+ records, [\d.]+ \w+, [\d,]+ rec/s, [\d,]+/3,000 records",
                        lines[0]), lines[0]
    assert "\x1b[" not in r.stderr and "\x1b[" not in r.stdout
    q = run_cli("backup", "-h", "127.0.0.1", "-p", str(aerospike_server.port), "-n", "test", "-d", "bk2",
                "--quiet", cwd=tmp_path, env={"AEROBACKUP_PROGRESS_INTERVAL": "0"})
    assert q.returncode == 0 and q.stdout == "" and q.stderr == ""


def test_ctrl_c_then_continue(aerospike_client: Any, aerospike_server: Any, tmp_path: Path) -> None:
    want = load(aerospike_client, 3000, pad=1000)  # about 3 files of 1 MiB
    host = ["-h", "127.0.0.1", "-p", str(aerospike_server.port)]
    cmd = [str(BIN), "backup", *host, "-n", "test", "-d", "bk", "-L", "800", "-F", "1", "--state-file-dst",
           "test.state"]
    env = {**os.environ, "HOME": str(tmp_path), "AEROBACKUP_PROGRESS_INTERVAL": "0.1"}
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until records are flowing
        line = p.stderr.readline()
        m = re.match(r"aerobackup: backup: ([\d,]+) records", line)
        if m and int(m.group(1).replace(",", "")) >= 1200:  # past the first file
            break
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "aerobackup: interrupted: stopping the backup cleanly..." in err
    m = re.search(r"aerobackup: resume with: (.*)", err)
    assert m, err
    resume = shlex.split(m.group(1))
    assert resume[0] == "aerobackup" and resume[-2:] == ["--continue", "test.state"]
    assert "--state-file-dst" not in resume
    assert (tmp_path / "bk" / "test.state").exists()
    r = subprocess.run([str(BIN), *resume[1:], "-L", "0"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    r = run_cli("restore", *host, "-n", "test,bar", "-d", "bk", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(aerospike_client.query("bar", None).results()) == 3000
    read_back(aerospike_client, want)


def test_bare_dash_p_asks_for_the_password(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "dumb"}
    child = pexpect.spawn(str(BIN), ["backup", "-U", "admin", "-P", "-n", "test", "-d", "bk", "--print-config"],
                          cwd=str(tmp_path), env=env, timeout=60, encoding="utf-8")
    child.expect("Password: ")
    child.sendline("hunter2")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "hunter2" not in child.before  # neither echoed nor printed
    assert '"password": "***"' in child.before and '"user": "admin"' in child.before


def test_sigterm_stops_cleanly(aerospike_client: Any, aerospike_server: Any, tmp_path: Path) -> None:
    load(aerospike_client, 2000)
    cmd = [str(BIN), "backup", "-h", "127.0.0.1", "-p", str(aerospike_server.port), "-n", "test", "-d", "bk",
           "-L", "500"]
    env = {**os.environ, "HOME": str(tmp_path), "AEROBACKUP_PROGRESS_INTERVAL": "0.1"}
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    line = p.stderr.readline()
    assert line.startswith("aerobackup: backup: "), line
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "no state file was kept (--state-file-dst); the partial files were removed" in err
    left = list((tmp_path / "bk").iterdir()) if (tmp_path / "bk").exists() else []
    assert left == []  # no partial file, no temporary file
