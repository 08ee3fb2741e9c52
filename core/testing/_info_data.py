"""Fixed text of the emulator's info answers (observed on CE 8.1.2.0)."""

from __future__ import annotations

__all__ = ["NS_CONFIG"]

# Configuration part of namespace/<ns> and get-config:context=namespace (observed, CE 8.1.2.0);
# {default_ttl} is filled in per namespace.
NS_CONFIG = (
    "active-rack=0;allow-ttl-without-nsup=false;apply-ttl-reductions=true;auto-revive=false;"
    "background-query-max-rps=10000;conflict-resolution-policy=generation;"
    "conflict-resolve-writes=false;default-read-touch-ttl-pct=0;default-ttl={default_ttl};"
    "disable-cold-start-eviction=false;disable-mrt-writes=false;disable-write-dup-res=false;"
    "disallow-expunge=false;disallow-null-setname=false;enable-benchmarks-batch-sub=false;"
    "enable-benchmarks-ops-sub=false;enable-benchmarks-read=false;enable-benchmarks-udf=false;"
    "enable-benchmarks-udf-sub=false;enable-benchmarks-write=false;enable-hist-proxy=false;"
    "evict-hist-buckets=10000;evict-indexes-memory-pct=0;evict-tenths-pct=5;"
    "force-long-queries=false;ignore-migrate-fill-delay=false;index-stage-size=1073741824;"
    "indexes-memory-budget=0;inline-short-queries=false;max-record-size=1048576;migrate-order=5;"
    "migrate-retransmit-ms=5000;migrate-skip-unreadable=false;migrate-sleep=1;mrt-duration=0;"
    "nsup-hist-period=3600;nsup-period=10;nsup-threads=1;partition-tree-sprigs=256;"
    "prefer-uniform-balance=false;rack-id=0;read-consistency-level-override=off;"
    "reject-non-xdr-writes=false;reject-xdr-writes=false;replication-factor=1;"
    "sindex-stage-size=1073741824;single-query-threads=4;stop-writes-sys-memory-pct=90;"
    "strong-consistency=false;strong-consistency-allow-expunge=false;"
    "tomb-raider-eligible-age=86400;tomb-raider-period=86400;tomb-raider-unmark-threads=0;"
    "transaction-pending-limit=20;truncate-threads=4;write-commit-level-override=off;"
    "xdr-bin-tombstone-ttl=86400;xdr-tomb-raider-period=120;xdr-tomb-raider-threads=1;"
    "geo2dsphere-within.strict=true;geo2dsphere-within.min-level=1;"
    "geo2dsphere-within.max-level=20;geo2dsphere-within.max-cells=12;"
    "geo2dsphere-within.level-mod=1;geo2dsphere-within.earth-radius-meters=6371000;"
    "index-type=mem;sindex-type=mem;storage-engine=memory;"
    + "".join(f"storage-engine.stripe[{i}]=stripe-{i};" for i in range(8))
    + "storage-engine.commit-to-device=false;storage-engine.compression=none;"
    "storage-engine.compression-acceleration=0;storage-engine.compression-level=0;"
    "storage-engine.data-size=2147483648;storage-engine.defrag-lwm-pct=50;"
    "storage-engine.defrag-queue-min=0;storage-engine.defrag-sleep=1000;"
    "storage-engine.defrag-startup-minimum=0;storage-engine.direct-files=false;"
    "storage-engine.disable-odsync=false;storage-engine.enable-benchmarks-storage=false;"
    "storage-engine.encryption-key-file=null;storage-engine.encryption-old-key-file=null;"
    "storage-engine.evict-used-pct=0;storage-engine.filesize=0;storage-engine.flush-max-ms=1000;"
    "storage-engine.max-write-cache=67108864;storage-engine.stop-writes-avail-pct=5;"
    "storage-engine.stop-writes-used-pct=70;storage-engine.tomb-raider-sleep=1000"
)
