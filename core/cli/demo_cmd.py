"""``aerobackup demo`` and ``aerobackup serve``: the emulator for first steps.

``demo`` starts an emulator on a free loopback port, loads a sample with every value type, runs
the same code as ``aerobackup backup`` and ``aerobackup restore`` (printing the equivalent
commands), checks every restored record, and stops the emulator. ``serve`` starts an emulator
and waits, for trying the commands by hand.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from typing import Any

import click

from ..errors import AerobackupError, ExitCode
from .mapping import resolve

__all__ = ["demo_command", "serve_command"]

SOURCE_NS = "demo"
TARGET_NS = "restored"


def _step(text: str) -> None:
    click.echo(click.style(text, bold=True))


def _run_as_cli(command: str, flags: dict[str, Any], shown: list[str], quiet: bool) -> int:
    from .run import run

    if not quiet:
        _step(f"$ aerobackup {command} {shlex.join(shown)}")
    res = resolve(command, {**flags, "no_config_file": True, "quiet": quiet or None}, prompt=None)
    return run(res)


@click.command("demo")
@click.option("-d", "--directory", default="aerobackup-demo", show_default=True, metavar="DIR",
              help="Where the demo backup is written (its backup files are replaced).")
@click.option("--records", default=1000, show_default=True, metavar="N", type=click.IntRange(0, 1_000_000),
              help="Bulk records to load besides the typed sample.")
@click.option("--quiet", is_flag=True, help="Print only the final line.")
def demo_command(directory: str, records: int, quiet: bool) -> None:
    """Back up and restore a sample data set on a built-in emulator, and check every record.

    Starts the emulator, loads records with every value type, backs them up to DIR, restores
    them into another namespace, compares every record, and stops the emulator. No server needed.
    """
    import aerospike

    from ..testing import Emulator
    from .demo_data import check_restored, load_sample

    started = time.monotonic()
    with Emulator(port=0, namespaces=(SOURCE_NS, TARGET_NS)) as emu:
        if not quiet:
            _step(f"1. emulator listening on {emu.host}:{emu.port} (namespaces {SOURCE_NS}, {TARGET_NS})")
        client = aerospike.client(emu.client_config()).connect()
        try:
            sample = load_sample(client, emu, SOURCE_NS, records)
            if not quiet:
                _step(f"2. loaded {sample.records:,} records (every value type), {sample.indexes} index, "
                      f"{sample.udfs} UDF module")
            host = ["-h", emu.host, "-p", str(emu.port)]
            flags = {"host": emu.host, "port": str(emu.port), "no_progress": True}
            code = _run_as_cli("backup", {**flags, "namespace": SOURCE_NS, "directory": directory,
                                          "remove_files": True},
                               [*host, "-n", SOURCE_NS, "-d", directory, "-r"], quiet)
            if code:
                raise click.exceptions.Exit(code)
            code = _run_as_cli("restore", {**flags, "namespace": f"{SOURCE_NS},{TARGET_NS}", "directory": directory},
                               [*host, "-n", f"{SOURCE_NS},{TARGET_NS}", "-d", directory], quiet)
            if code:
                raise click.exceptions.Exit(code)
            problems = check_restored(client, emu, sample, TARGET_NS)
        finally:
            client.close()
    if problems:
        for p in problems[:10]:
            click.echo(f"aerobackup: demo: {p}", err=True)
        raise AerobackupError(f"demo: {len(problems)} difference(s) between {SOURCE_NS} and {TARGET_NS}")
    elapsed = time.monotonic() - started
    files = sorted(f for f in os.listdir(directory) if f.endswith(".asb"))
    where = os.path.join(directory, files[0]) if len(files) == 1 else directory
    click.echo(f"demo ok: {sample.records:,} records backed up to {where} and restored into '{TARGET_NS}', "
               f"every record identical ({elapsed:.1f} s)")
    if not quiet:
        click.echo("Next: `aerobackup serve` starts an emulator to try the commands above by hand.")


@click.command("serve")
@click.option("-p", "--port", default=3000, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the first node (0: any free port).")
@click.option("--namespaces", default="test,bar", show_default=True, help="Comma-separated namespaces.")
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(1, 16), help="Emulated nodes.")
@click.option("--duration", default=0.0, type=click.FloatRange(0), metavar="SECONDS",
              help="Stop after this many seconds (0: until Ctrl-C or SIGTERM).")
def serve_command(port: int, namespaces: str, nodes: int, duration: float) -> None:
    """Run the Aerospike emulator on 127.0.0.1 for trying commands by hand (Ctrl-C stops it)."""
    from ..testing import EmulatedCluster, Emulator

    names = tuple(n.strip() for n in namespaces.split(",") if n.strip())
    if not names:
        raise click.BadParameter("give at least one namespace", param_hint="--namespaces")
    server: Any
    try:
        if nodes == 1:
            server = Emulator(port=port, namespaces=names).start()
            endpoints = [(server.host, server.port)]
        else:
            cluster = EmulatedCluster(nodes, names)
            cluster.nodes[0] = Emulator("127.0.0.1", port, names, store=cluster.store, cluster=cluster,
                                        node_index=0)
            server = cluster.start()
            endpoints = [(n.host, n.port) for n in cluster.nodes]
    except OSError as exc:
        raise AerobackupError(f"serve: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; "
                              "try --port 0 for any free port") from None
    stop = threading.Event()
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host, first = endpoints[0]
    ns = names[0]
    click.echo(f"emulator serving namespaces {','.join(names)} on "
               f"{', '.join(f'{h}:{p}' for h, p in endpoints)} (Ctrl-C stops it)")
    click.echo(f"try:  aerobackup backup -h {host} -p {first} -n {ns} -d ./backup-{ns}")
    if len(names) > 1:
        click.echo(f"      aerobackup restore -h {host} -p {first} -n {ns},{names[1]} -d ./backup-{ns}")
    sys.stdout.flush()
    deadline = time.monotonic() + duration if duration else None
    try:
        while not stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        server.stop()
    click.echo("emulator stopped")
    raise click.exceptions.Exit(ExitCode.OK)
