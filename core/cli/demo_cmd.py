"""``aerobackup demo`` and ``aerobackup serve``: the emulator for first steps (filled in below)."""

from __future__ import annotations

import click

__all__ = ["demo_command", "serve_command"]


@click.command("demo")
def demo_command() -> None:
    """Start an emulator, load sample data, back it up, restore it elsewhere, check every record."""
    raise click.ClickException("the demo is not available yet")


@click.command("serve")
def serve_command() -> None:
    """Start the Aerospike emulator on 127.0.0.1 for trying commands by hand (Ctrl-C stops it)."""
    raise click.ClickException("serve is not available yet")
