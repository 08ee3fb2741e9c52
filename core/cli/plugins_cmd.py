"""``aerobackup plugins``: what is installed, where it comes from, and what failed to load."""

from __future__ import annotations

import json
import warnings

import click

from ..runtime import Runtime
from ..speedups import describe as speedups_line

__all__ = ["plugins_command"]


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: kind, name, distribution, version."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failures are listed below instead
        rt = Runtime.discover()
    rows = [
        {"kind": o.kind, "name": o.name, "distribution": o.distribution, "version": o.version,
         "plugin": o.plugin}
        for o in rt.offers()
    ]
    if as_json:
        failures = [{"plugin": f.entry_point, "value": f.value, "distribution": f.distribution,
                     "error": f.error} for f in rt.failures]
        click.echo(json.dumps(rows if not failures else rows + [{"kind": "failure", **f} for f in failures],
                              indent=2))
        return
    width = max([len(r["name"] or "") for r in rows] + [4])
    click.echo(f"{'KIND':<11} {'NAME':<{width}} DISTRIBUTION")
    for r in rows:
        click.echo(f"{r['kind']:<11} {r['name']:<{width}} {r['distribution'] or '-'} {r['version'] or ''}".rstrip())
    click.echo(speedups_line())
    for f in rt.failures:
        click.echo(f"failed to load plugin '{f.entry_point}' ({f.value}): {f.error}", err=True)
