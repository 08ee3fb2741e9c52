"""The emulator-side shipper learns of every record change, whichever store path made it."""

from __future__ import annotations

import aerospike
from aerobackup.testing import Emulator
from aerobackup.testing.xdr_shipper import _wrap_store
from aerospike_helpers.batch.records import BatchRecords, Write
from aerospike_helpers.operations import operations as ops


def test_batch_created_records_are_seen() -> None:
    with Emulator(namespaces=("test",)) as em:
        seen: list[bytes] = []
        _wrap_store(em.store.namespaces["test"], [lambda _ns, digest, _removed: seen.append(digest)])
        client = aerospike.client(em.client_config()).connect()
        try:
            rows = BatchRecords([Write(("test", "s", f"k{i}"), [ops.write("v", i)]) for i in range(10)])
            client.batch_write(rows)
            assert [r.result for r in rows.batch_records] == [0] * 10
            client.put(("test", "s", "single"), {"v": 1})
        finally:
            client.close()
        want = {bytes(aerospike.calc_digest("test", "s", f"k{i}")) for i in range(10)}
        want.add(bytes(aerospike.calc_digest("test", "s", "single")))
        assert set(seen) == want
