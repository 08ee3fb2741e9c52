"""Our own wire-protocol data path (records travel here, not through the official client).

* ``protocol``    layouts and numbers both sides share (the emulator uses them too)
* ``connection``  framing, info, login/authenticate, TLS, compressed replies, per-node pools
* ``messages``    request builders: partition scans, batch writes, single writes
* ``parse``       reply parsing into RecordBatch columns (the hot path; ``parse_records``)
* ``scan``        partition scans with exact resume and retries
* ``write``       raw-particle writes with per-record results and back-off
* ``partitions``  the partition map from ``replicas``
* ``expressions`` the few filter expressions a scan adds, packed as the official client does

``aerobackup.cluster.Cluster`` ties them together (docs/datapath.md).
"""
