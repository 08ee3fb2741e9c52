"""Local storage beyond the contract: missing/unreadable/non-empty directories, a full disk,
single-file locations, remove-files, and the factory as the runtime finds it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

import pytest
from aerobackup.errors import BackupNotFoundError, ConfigError, StorageError
from aerobackup.plugins.storage.local import TEMP_MARK, LocalStorage
from aerobackup.plugins.storage.stdio import StdioStorage
from aerobackup.protocols import ObjectInfo
from aerobackup.runtime import Runtime
from aerobackup.storage import list_backup_files, prepare_backup_location


def put(storage: LocalStorage, name: str, data: bytes) -> None:
    with storage.open_write(name) as f:
        f.write(data)


def test_missing_directory_is_not_found(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "nope")
    with pytest.raises(BackupNotFoundError, match=r"nope: no such directory"):
        list(storage.list())
    with pytest.raises(BackupNotFoundError, match=r"nope: no such directory"):
        list_backup_files(storage)


def test_path_through_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x")
    storage = LocalStorage(tmp_path / "plain" / "sub")
    with pytest.raises(StorageError, match=r"plain/sub: cannot read: a part of the path is not a directory"):
        list(storage.list())
    with pytest.raises(
        StorageError, match=r"plain/sub: cannot create directory: a part of the path is not a directory"
    ):
        put(storage, "a.asb", b"1")


def test_unreadable_directory(tmp_path: Path) -> None:
    # root ignores permission bits: as root, the listing runs in a child process whose
    # capability bounding set lacks DAC override (setpriv), so the bits apply to it.
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.asb").write_bytes(b"1")
    os.chmod(locked, 0o000)
    code = (
        "from aerobackup.plugins.storage.local import LocalStorage\n"
        "from aerobackup.errors import StorageError\n"
        "try:\n"
        f"    list(LocalStorage({str(locked)!r}).list())\n"
        "except StorageError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot be tested")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        out = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(locked, 0o755)
    assert out.stdout.strip() == f"StorageError {locked}: cannot read directory: permission denied", out.stderr


def test_non_empty_directory_needs_remove_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    put(storage, "test_0.asb", b"old")
    put(storage, "test_1.asb", b"old")
    put(storage, "notes.txt", b"keep me")
    put(storage, "sub/test_9.asb", b"other directory")
    with pytest.raises(StorageError, match=r"holds 2 backup file\(s\), e.g. 'test_0.asb'; use remove-files"):
        prepare_backup_location(storage, remove_files=False, location=str(tmp_path))
    removed = prepare_backup_location(storage, remove_files=True, extra_names=["state.json"])
    assert removed == ["test_0.asb", "test_1.asb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]
    # now empty of backup files: passes without remove-files
    assert prepare_backup_location(storage, remove_files=False) == []


def test_missing_directory_is_fine_for_a_backup(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "new" / "dir")
    assert prepare_backup_location(storage, remove_files=False) == []
    put(storage, "a.asb", b"1")
    assert (tmp_path / "new" / "dir" / "a.asb").read_bytes() == b"1"


def test_single_file_location(tmp_path: Path) -> None:
    target = tmp_path / "one" / "backup.asb"
    storage = LocalStorage(target)
    put(storage, "", b"Version 3.1\n")
    assert target.read_bytes() == b"Version 3.1\n"
    assert list(storage.list()) == [ObjectInfo("", 12)]
    with storage.open_read("") as f:
        assert f.read() == b"Version 3.1\n"


def test_no_temporary_file_left_or_listed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with storage.open_write("a.asb") as f:
        f.write(b"half")
        temps = [p.name for p in tmp_path.iterdir()]
        assert len(temps) == 1 and TEMP_MARK in temps[0] and temps[0].startswith(".a.asb")
        assert list(storage.list()) == []  # in-flight file is invisible
    assert [p.name for p in tmp_path.iterdir()] == ["a.asb"]
    with pytest.raises(KeyError), storage.open_write("b.asb") as f:
        f.write(b"half")
        raise KeyError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["a.asb"]


def test_invalid_names(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for bad in ["../escape.asb", "/abs.asb", "a//b.asb", "./x.asb"]:
        with pytest.raises(StorageError, match="invalid backup file name"):
            storage.open_read(bad)


class _FullDisk:
    """A file object that fails like a full disk after ``room`` bytes."""

    def __init__(self, real: BinaryIO, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: memoryview) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, attr: str) -> object:
        return getattr(self.real, attr)


def test_full_disk_injected(tmp_path: Path) -> None:
    # Always runs: the OS error is injected at the file-object seam (_open_temp).
    class Tiny(LocalStorage):
        def _open_temp(self, final: Path) -> tuple[Path, BinaryIO]:
            temp, fh = super()._open_temp(final)
            return temp, _FullDisk(fh, 1000)  # type: ignore[return-value]

    storage = Tiny(tmp_path)
    with pytest.raises(StorageError, match=r"x.asb: write failed after 512 bytes: no space left on device"):
        with storage.open_write("x.asb") as f:
            f.write(b"1" * 512)
            f.write(b"2" * 512)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_real_tmpfs() -> None:
    # A real 1 MiB tmpfs when the machine lets us mount one (root in a VM or CI); else skipped,
    # the injected test above covers the same path.
    mount = Path(tempfile.mkdtemp(prefix="aerobackup-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, timeout=30
    )
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip("cannot mount a tmpfs here: " + done.stderr.decode(errors="replace").strip())
    try:
        storage = LocalStorage(mount, buffer_size=64 * 1024)
        with pytest.raises(StorageError, match=r"big.asb: .*no space left on device"):
            with storage.open_write("big.asb") as f:
                for _ in range(40):
                    f.write(b"\xab" * 64 * 1024)
        assert list(mount.iterdir()) == []  # the temporary file is gone too
        put(storage, "small.asb", b"fits")  # and the disk is usable again
        assert (mount / "small.asb").read_bytes() == b"fits"
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)
        mount.rmdir()


def test_runtime_finds_local_and_stdio(tmp_path: Path) -> None:
    rt = Runtime.discover()
    assert isinstance(rt.storage(str(tmp_path)), LocalStorage)
    local = rt.storage(f"file://{tmp_path}/sub")
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "sub"
    assert isinstance(rt.storage("-"), StdioStorage)
    with pytest.raises(ConfigError, match=r"^region: unknown option for storage 'local' \(known: buffer-size"):
        rt.storage(str(tmp_path), {"region": "eu-west-1"})
    assert rt.storage(str(tmp_path), {"buffer_size": "4MiB"}).buffer_size == 4 << 20  # type: ignore[attr-defined]
