"""aerobackup.storage: restore listing, file-limit check, sizes, and the retry wrapper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

import pytest
from aerobackup.errors import BackupNotFoundError, ConfigError, StorageError, TransientStorageError
from aerobackup.protocols import ObjectInfo, StorageBackend, StorageInfo
from aerobackup.storage import (
    RetryingStorage,
    check_file_limit,
    exists,
    list_backup_files,
    parse_size,
    read_bytes,
    write_bytes,
)
from aerobackup.testing.storage_contract import MemoryStorage, StorageContract

MiB = 1 << 20


def test_list_backup_files_order_and_filter() -> None:
    storage = MemoryStorage(
        {
            "ns_10.asb": b"10",
            "ns_2.asb": b"2",
            "ns_1.ASB": b"1",
            "ns_3.asbx": b"3",
            ".hidden.asb": b"",
            "state.json": b"{}",
            "readme.txt": b"",
            "sub/ns_0.asb": b"deeper",
        }
    )
    names = [o.name for o in list_backup_files(storage)]
    assert names == ["ns_1.ASB", "ns_10.asb", "ns_2.asb", "ns_3.asbx"]
    assert [o.size for o in list_backup_files(storage, suffixes=(".asbx",))] == [1]


def test_list_backup_files_directory_list_and_parent() -> None:
    storage = MemoryStorage(
        {
            "p/b/2.asb": b"",
            "p/b/1.asb": b"",
            "p/a/9.asb": b"",
            "p/a/x/8.asb": b"",
            "p/c/0.asb": b"",
            "q/a/7.asb": b"",
        }
    )
    got = [o.name for o in list_backup_files(storage, directories=["b", "a"], parent="p")]
    assert got == ["p/b/1.asb", "p/b/2.asb", "p/a/9.asb"]  # directory order kept, names sorted within
    got = [o.name for o in list_backup_files(storage, directories=["q/a/", "p/c"])]
    assert got == ["q/a/7.asb", "p/c/0.asb"]
    assert [o.name for o in list_backup_files(storage, parent="p/a")] == ["p/a/9.asb"]


def test_list_backup_files_none_found() -> None:
    storage = MemoryStorage({"notes.txt": b""})
    with pytest.raises(BackupNotFoundError, match=r"no backup files \(.asb, .asbx\) in s3://b/x: directories \(root\)"):
        list_backup_files(storage, location="s3://b/x")


def test_exists_read_write_bytes() -> None:
    storage = MemoryStorage()
    write_bytes(storage, "a/state.json", b'{"n": 1}')
    assert exists(storage, "a/state.json")
    assert not exists(storage, "a/state")
    assert read_bytes(storage, "a/state.json") == b'{"n": 1}'


@pytest.mark.parametrize(
    ("text", "value"),
    [("5242880", 5 * MiB), ("5MiB", 5 * MiB), ("5M", 5 * MiB), ("5 mb", 5 * MiB), ("1G", 1 << 30), ("64k", 65536)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text, option="part-size") == value


def test_parse_size_error() -> None:
    with pytest.raises(ConfigError, match=r"^part-size: not a size: 'five'"):
        parse_size("five", option="part-size")


S3_LIKE = StorageInfo(part_size=5 * MiB, max_parts=10_000, max_object_size=5 << 40)


def test_file_limit_that_fits() -> None:
    check_file_limit(S3_LIKE, 50_000 * MiB)  # exactly 10,000 parts
    check_file_limit(S3_LIKE, 0)  # no limit: checked by the writer
    check_file_limit(StorageInfo(), 10 << 40)  # no part limit at all


def test_file_limit_needing_too_many_parts() -> None:
    with pytest.raises(ConfigError) as err:
        check_file_limit(S3_LIKE, 50_001 * MiB, location="s3://bucket/p")
    assert str(err.value) == (
        "file-limit: file limit of 50001 MiB needs 10001 parts of 5 MiB on s3://bucket/p, but one object "
        "may have at most 10000 parts: set the part size (part-size) to at least 6 MiB or lower the file limit"
    )


def test_file_limit_over_max_object() -> None:
    with pytest.raises(ConfigError, match=r"exceeds the largest object this storage can hold \(5242880 MiB\)"):
        check_file_limit(StorageInfo(max_object_size=5 << 40), (5 << 40) + 1)


class Flaky:
    """Wraps a storage; each method fails with ``error`` the first ``failures`` times it runs."""

    def __init__(self, inner: StorageBackend, failures: int, error: Exception) -> None:
        self.inner, self.failures, self.error = inner, failures, error
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.calls[method] <= self.failures:
            raise self.error

    def info(self) -> StorageInfo:
        self._maybe_fail("info")
        return self.inner.info()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._maybe_fail("list")
        return self.inner.list(prefix)

    def open_read(self, name: str) -> BinaryIO:
        self._maybe_fail("open_read")
        return self.inner.open_read(name)

    def open_write(self, name: str) -> AbstractContextManager[BinaryIO]:
        self._maybe_fail("open_write")
        return self.inner.open_write(name)

    def remove(self, name: str) -> None:
        self._maybe_fail("remove")
        self.inner.remove(name)


def _retrying(inner: StorageBackend, attempts: int = 4) -> tuple[RetryingStorage, list[float]]:
    delays: list[float] = []
    return RetryingStorage(inner, attempts=attempts, base_delay=1.0, max_delay=3.0, sleep=delays.append), delays


def test_retry_transient_then_success() -> None:
    flaky = Flaky(MemoryStorage({"a.asb": b"A"}), 2, TransientStorageError("throttled"))
    storage, delays = _retrying(flaky)
    assert [o.name for o in storage.list()] == ["a.asb"]
    assert flaky.calls["list"] == 3
    assert len(delays) == 2 and 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    with storage.open_write("b.asb") as f:
        f.write(b"B")
    assert flaky.calls["open_write"] == 3
    assert read_bytes(storage, "b.asb") == b"B"
    storage.remove("a.asb")
    assert flaky.calls["remove"] == 3


def test_retry_gives_up_after_attempts() -> None:
    flaky = Flaky(MemoryStorage(), 10, TransientStorageError("endpoint timed out"))
    storage, delays = _retrying(flaky, attempts=3)
    with pytest.raises(TransientStorageError, match="endpoint timed out"):
        storage.info()
    assert flaky.calls["info"] == 3
    assert max(delays) <= 3.0


def test_final_errors_are_not_retried() -> None:
    flaky = Flaky(MemoryStorage(), 10, StorageError("access denied"))
    storage, delays = _retrying(flaky)
    with pytest.raises(StorageError, match="access denied"):
        storage.open_read("x")
    assert flaky.calls["open_read"] == 1 and delays == []


def test_retrying_write_failure_in_block_is_not_retried_nor_published() -> None:
    inner = MemoryStorage()
    storage, _ = _retrying(inner)
    with pytest.raises(ZeroDivisionError), storage.open_write("x.asb") as f:
        f.write(b"partial")
        1 / 0  # noqa: B018
    assert inner.objects == {}


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="^retries: attempts must be at least 1"):
        RetryingStorage(MemoryStorage(), attempts=0)


class TestRetryingStorageContract(StorageContract):
    """The wrapper is itself a storage: it passes the whole contract."""

    @pytest.fixture
    def storage(self) -> StorageBackend:
        return RetryingStorage(Flaky(MemoryStorage(), 1, TransientStorageError("once")), sleep=_no_sleep)


_no_sleep: Callable[[float], None] = lambda _s: None  # noqa: E731
