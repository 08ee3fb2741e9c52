"""``python -m aerobackup.testing --port 3000 --namespaces test,bar --nodes 3``: run the emulator.

Serves until interrupted (Ctrl-C) or sent SIGTERM, then stops cleanly.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Sequence

from .cluster import EmulatedCluster
from .server import Emulator

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m aerobackup.testing",
        description="Run an emulated Aerospike server (wire protocol of CE 8.1.2.0) on loopback.",
    )
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=3000, help="port of the first node (0: any free)")
    ap.add_argument("--namespaces", default="test,bar", help="comma-separated (default test,bar)")
    ap.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    ap.add_argument("--default-ttl", type=int, default=0, help="namespace default TTL in seconds")
    args = ap.parse_args(argv)
    namespaces = tuple(n for n in args.namespaces.split(",") if n)
    if not namespaces:
        ap.error("--namespaces: give at least one namespace")
    if args.nodes < 1:
        ap.error(f"--nodes: must be at least 1 (got {args.nodes})")
    # The store holds millions of small objects and none of them forms a cycle: a young-generation
    # threshold this high keeps the cyclic collector from rescanning it (measured: batch-write CPU
    # per record 16 us -> 9 us in bench/bench_emulator.py).
    gc.set_threshold(200_000, 50, 1000)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.nodes == 1:
            server: Emulator | EmulatedCluster = Emulator(
                args.host, args.port, namespaces, default_ttl=args.default_ttl
            ).start()
            endpoints = [(server.host, server.port)]
        else:
            cluster = EmulatedCluster(args.nodes, namespaces, host=args.host, default_ttl=args.default_ttl)
            cluster.nodes[0] = Emulator(
                args.host, args.port, namespaces, store=cluster.store, cluster=cluster, node_index=0
            )
            server = cluster.start()
            endpoints = [(n.host, n.port) for n in cluster.nodes]
    except OSError as exc:
        print(f"aerobackup.testing: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    endpoints = (
        [(n.host, n.port) for n in server.nodes]
        if isinstance(server, EmulatedCluster)
        else [(server.host, server.port)]
    )
    hosts = ", ".join(f"{h}:{p}" for h, p in endpoints)
    print(f"aerobackup emulator serving namespaces {','.join(namespaces)} on {hosts}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
