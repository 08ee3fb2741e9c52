"""stdio storage: '-' writes one backup to stdout and reads one from stdin, in real pipelines."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from aerobackup.errors import StorageError
from aerobackup.plugins.storage.stdio import StdioStorage
from aerobackup.protocols import StorageURL
from aerobackup.testing.storage_contract import pattern_bytes

WRITE_STDOUT = """
import sys
from aerobackup.runtime import Runtime
from aerobackup.errors import AerobackupError
storage = Runtime.discover().storage("-")
try:
    with storage.open_write("ignored.asb") as f:
        for i in range(int(sys.argv[1])):
            f.write(bytes([i % 256]) * 65536)
except AerobackupError as exc:
    print("aerobackup: error:", exc, file=sys.stderr)
    sys.exit(1)
"""

READ_STDIN = """
import hashlib
from aerobackup.runtime import Runtime
with Runtime.discover().storage("-").open_read("") as f:
    print(hashlib.sha256(f.read()).hexdigest())
"""


def test_parse_dash() -> None:
    assert StorageURL.parse("-") == StorageURL("stdio", "-", {})


def test_backup_to_stdout_through_a_pipe() -> None:
    out = subprocess.run([sys.executable, "-c", WRITE_STDOUT, "16"], capture_output=True, timeout=60, check=True)
    assert out.stdout == b"".join(bytes([i]) * 65536 for i in range(16))
    assert out.stderr == b""


def test_restore_from_stdin() -> None:
    data = pattern_bytes(3_000_000, seed=5)
    import hashlib

    out = subprocess.run([sys.executable, "-c", READ_STDIN], input=data, capture_output=True, timeout=60, check=True)
    assert out.stdout.decode().strip() == hashlib.sha256(data).hexdigest()


def test_reader_going_away_is_quiet() -> None:
    # `... | head -c 100`: the writer gets EPIPE; one line, no traceback, no 'Exception ignored'.
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE_STDOUT, "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stderr is not None
    head = writer.stdout.read(100)
    writer.stdout.close()
    err = writer.stderr.read().decode()
    assert writer.wait(60) == 1
    assert len(head) == 100
    assert err == "aerobackup: error: standard output was closed by its reader (broken pipe)\n"


def test_one_file_only_and_no_listing() -> None:
    out = io.BytesIO()
    storage = StdioStorage(stdin=io.BytesIO(b"in"), stdout=out)
    assert storage.info().single_stream
    assert list(storage.list()) == []
    with storage.open_write("a.asb") as f:
        f.write(b"one")
    assert out.getvalue() == b"one"
    with pytest.raises(StorageError, match="standard output takes one backup file only"):
        with storage.open_write("b.asb"):
            pass
    assert storage.open_read("").read() == b"in"
    with pytest.raises(StorageError, match="already read"):
        storage.open_read("")
    with pytest.raises(StorageError, match="cannot remove"):
        storage.remove("a.asb")
