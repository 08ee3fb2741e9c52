"""ASBX restore details: file order, the §10.5 bit rewrites, validation and damaged files."""

from __future__ import annotations

import io

import pytest
from aerobackup import Runtime
from aerobackup.errors import FormatError
from aerobackup.testing import Emulator
from aerobackup.testing._store import Record
from aerobackup.testing.server import key_digest
from aerobackup.testing.storage_contract import MemoryStorage
from aerobackup.testing.xdr_shipper import ship_message
from aerobackup.xdr import asbx_io
from aerobackup.xdr.restore_asbx import PayloadPolicy, rewrite_payload

from tests.xdr.conftest import run_restore


def version(i: int, digest: bytes, gen: int) -> bytes:
    rec = Record(digest, b"s", b"\x01" + (1).to_bytes(8, "big"), gen, 0, 0, {b"v": (1, i.to_bytes(8, "big"))})
    return ship_message(b"test", digest, rec, now_cl=0)


def asbx_file(number: int, entries: list[tuple[bytes, bytes]]) -> bytes:
    out = io.BytesIO()
    out.write(asbx_io.header("test", number))
    for digest, payload in entries:
        out.write(asbx_io.entry_prefix(digest, len(payload)) + payload)
    return out.getvalue()


def test_files_restored_in_number_order(target: Emulator, runtime: Runtime) -> None:
    digest = key_digest("s", 1)
    # version k of the record in file k; text order would restore _10 before _2
    storage = MemoryStorage({f"0_test_{k}.asbx": asbx_file(k, [(digest, version(k, digest, k))]) for k in range(1, 11)})
    stats = run_restore(target, storage, runtime)
    assert stats.records_read == 10 and stats.records_written == 10 and stats.files == 10
    assert target.get_raw("test", digest=digest).bins == [("v", 1, (10).to_bytes(8, "big"))]  # type: ignore[union-attr]


def test_payload_sent_is_the_stored_one_with_policy_bits() -> None:
    digest = key_digest("s", 1)
    stored = version(1, digest, 3)  # as shipped: info1 XDR, info2 WRITE, info3 CREATE_OR_REPLACE
    assert (stored[9], stored[10], stored[11]) == (0x10, 0x01, 0x10)
    default = rewrite_payload(stored, PayloadPolicy())  # generation GT, exists update
    assert (default[9], default[10], default[11]) == (0x00, 0x01 | 0x08, 0x00)
    assert default[12:] == stored[12:]  # TTL, generation, fields, ops as stored
    unique = rewrite_payload(stored, PayloadPolicy(generation="none", exists="create_only"))
    assert (unique[10], unique[11]) == (0x01 | 0x20, 0x00)
    replace = rewrite_payload(stored, PayloadPolicy(generation="eq", exists="replace"))
    assert (replace[10], replace[11]) == (0x01 | 0x04, 0x10)
    assert rewrite_payload(stored, PayloadPolicy(exists="replace_only"))[11] == 0x20
    assert rewrite_payload(stored, PayloadPolicy(exists="update_only"))[11] == 0x08


def test_validate_only_writes_nothing(target: Emulator, runtime: Runtime) -> None:
    digest = key_digest("s", 1)
    storage = MemoryStorage({"0_test_1.asbx": asbx_file(1, [(digest, version(1, digest, 1))] * 3)})
    stats = run_restore(target, storage, runtime, validate_only=True)
    assert (stats.records_read, stats.records_written, stats.files) == (3, 0, 1)
    assert target.records("test") == []


def test_damaged_file_names_the_file(target: Emulator, runtime: Runtime) -> None:
    digest = key_digest("s", 1)
    good = asbx_file(1, [(digest, version(1, digest, 1))])
    storage = MemoryStorage({"0_test_1.asbx": good[:-5]})
    with pytest.raises(FormatError, match=r"^0_test_1\.asbx: failed to read payload: unexpected EOF"):
        run_restore(target, storage, runtime)


def test_header_number_must_match_the_name(target: Emulator, runtime: Runtime) -> None:
    digest = key_digest("s", 1)
    storage = MemoryStorage({"0_test_2.asbx": asbx_file(1, [(digest, version(1, digest, 1))])})
    with pytest.raises(FormatError, match="file number mismatch got 2, want 1"):
        run_restore(target, storage, runtime)


def test_unknown_namespace(runtime: Runtime) -> None:
    from aerobackup import ClusterError

    digest = key_digest("s", 1)
    raw = asbx_io.header("nope", 1) + asbx_io.entry_prefix(digest, 10) + bytes(10)
    with Emulator(namespaces=("test",)) as em:
        with pytest.raises(ClusterError, match="namespace 'nope'"):
            run_restore(em, MemoryStorage({"0_nope_1.asbx": raw}), runtime)


def test_restore_into_two_nodes_goes_to_the_owners(runtime: Runtime) -> None:
    from aerobackup.testing import EmulatedCluster

    entries = []
    for i in range(200):
        digest = key_digest("s", i)
        entries.append((digest, version(i, digest, 1)))
    storage = MemoryStorage(
        {"0_test_1.asbx": asbx_file(1, entries[:100]), "1_test_2.asbx": asbx_file(2, entries[100:])}
    )
    with EmulatedCluster(nodes=2, namespaces=("test",)) as cluster:
        stats = run_restore(cluster.nodes[0], storage, runtime, parallel=2)
        assert stats.records_written == 200 and stats.files == 2
        assert sum(n.stats["write"] for n in cluster.nodes) == 200
        assert all(n.stats["write"] > 0 and n.stats["misrouted"] == 0 for n in cluster.nodes)
        assert len(cluster.nodes[0].records("test")) == 200


def test_a_failing_group_stops_the_restore_with_its_own_error(target: Emulator, runtime: Runtime) -> None:
    entries = [(key_digest("s", i), version(i, key_digest("s", i), 1)) for i in range(3000)]
    good = {f"0_test_{k}.asbx": asbx_file(k, entries[(k - 1) * 300 : k * 300]) for k in range(1, 11)}
    bad = asbx_file(11, entries[:1])[:-3]
    storage = MemoryStorage({**good, "1_test_11.asbx": bad})
    with pytest.raises(FormatError, match=r"^1_test_11\.asbx: failed to read payload"):
        run_restore(target, storage, runtime, parallel=2)


def test_transient_failure_retried_in_order(target: Emulator, runtime: Runtime) -> None:
    from aerobackup import RetryPolicy

    digest = key_digest("s", 1)
    storage = MemoryStorage(
        {"0_test_1.asbx": asbx_file(1, [(digest, version(1, digest, 1)), (digest, version(2, digest, 2))])}
    )
    target.faults.error(14, kinds={"write"}, digests={digest}, times=1)  # the first write: key busy
    stats = run_restore(target, storage, runtime, no_generation=True, retry=RetryPolicy(base_timeout_ms=10))
    assert stats.records_written == 2 and stats.records_failed == 0
    # version 2 was written by the server, but version 1 is retried: version 2 must go again after it
    assert target.get_raw("test", digest=digest).bins == [("v", 1, (2).to_bytes(8, "big"))]  # type: ignore[union-attr]


def test_transient_failure_exhausted(target: Emulator, runtime: Runtime) -> None:
    from aerobackup import RecordError, RetryPolicy

    digest = key_digest("s", 1)
    storage = MemoryStorage({"0_test_1.asbx": asbx_file(1, [(digest, version(1, digest, 1))])})
    target.faults.error(14, kinds={"write"}, digests={digest})
    expected = r"record [0-9a-f]{40} in namespace test: the server answered result 14 \(still, after 3 attempts\)"
    with pytest.raises(RecordError, match=expected):
        run_restore(target, storage, runtime, retry=RetryPolicy(base_timeout_ms=1, max_retries=2))
    stats = run_restore(
        target, storage, runtime, ignore_record_error=True, retry=RetryPolicy(base_timeout_ms=1, max_retries=2)
    )
    assert (stats.records_written, stats.records_failed) == (0, 1)


def test_records_per_second_limit_holds(target: Emulator, runtime: Runtime) -> None:
    import time

    entries = [(key_digest("s", i), version(i, key_digest("s", i), 1)) for i in range(100)]
    storage = MemoryStorage({"0_test_1.asbx": asbx_file(1, entries)})
    t = time.monotonic()
    stats = run_restore(target, storage, runtime, records_per_second=250)
    assert stats.records_written == 100
    assert time.monotonic() - t >= 0.35  # 100 records at 250/s: 0.4 s at least
