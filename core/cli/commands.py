"""``aerobackup backup [xdr] | restore | validate | estimate``: click commands built from the option table.

The callbacks only gather what was typed, hand it to ``mapping.resolve`` (files + flags →
configs) and then to ``run`` (configs → a job with progress and a report). ``-h`` is ``--host``
as in the C tools; help is ``--help``/``-Z``/``--usage``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from ..errors import ConfigError
from .mapping import Resolved, resolve
from .options import PROMPT, Opt, options_for

__all__ = ["backup_command", "estimate_command", "restore_command", "validate_command"]

_GROUP_TITLES = {
    "connection": "Cluster", "tls": "TLS", "config": "Config files", "secret-agent": "Secret Agent",
    "transforms": "Compression and encryption", "policy": "Limits, timeouts, retries", "output": "Output",
    "what": "What", "where": "Where", "resume": "Resume", "write": "Write policy", "s3": "S3", "gcs": "GCS",
    "azure": "Azure", "xdr": "XDR", "general": "General",
}


def _help(o: Opt) -> str:
    text = o.help
    if o.default and o.kind != "flag":
        text += f" [default: {o.default}]"
    return text


class GroupedCommand(click.Command):
    """A command whose --help lists its options in sections (Cluster, TLS, What, Where, ...)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        table = {o.dest: o for name in ("backup", "restore", "backup-xdr") for o in options_for(name)}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            opt = table.get(param.name or "")
            title = _GROUP_TITLES.get(opt.group, "General") if opt is not None else "General"
            groups.setdefault(title, []).append(record)
        order = ["What", "Where", "XDR", "Cluster", "Compression and encryption", "Resume", "Write policy",
                 "Limits, timeouts, retries", "Output", "Config files", "Secret Agent", "TLS", "S3", "GCS", "Azure",
                 "General"]
        for title in sorted(groups, key=lambda t: order.index(t) if t in order else len(order)):
            with formatter.section(title):
                formatter.write_dl(groups[title])


def with_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a callback with every option of ``command`` from the table."""
    table = options_for(command)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(table):
            if o.kind == "flag":
                deco = click.option(*o.flags, o.dest, is_flag=True, default=None, help=_help(o))
            elif o.kind == "password":
                deco = click.option(*o.flags, o.dest, is_flag=False, flag_value=PROMPT, default=None,
                                    metavar=o.metavar, help=_help(o))
            else:
                deco = click.option(*o.flags, o.dest, default=None, metavar=o.metavar or "VALUE", help=_help(o))
            fn = deco(fn)
        return fn

    return decorate


def _prompt() -> Callable[[str], str] | None:
    if not sys.stdin.isatty():
        return None

    def ask(text: str) -> str:
        return str(click.prompt(text.rstrip(": "), hide_input=True, err=True))

    return ask


def _secret_resolver() -> Any:
    try:
        from .. import secrets
    except ImportError:
        return None
    def fetch(value: str, agent: Any) -> str:
        return secrets.fetch_secret(value, agent).decode("utf-8")

    return fetch


def gather(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """What the user typed: options given on the command line (None/False: not given)."""
    out = {}
    for dest, value in values.items():
        if value is None or value is False:
            continue
        out[dest] = value
    if ctx.obj and ctx.obj.get("verbose"):
        out["verbose"] = True
    return out


def build(command: str, ctx: click.Context, values: dict[str, Any]) -> Resolved:
    flags = gather(ctx, values)
    res = resolve(command, flags, prompt=_prompt(), resolver=_secret_resolver())
    if res.output.verbose and ctx.obj is not None:
        ctx.obj["verbose"] = True
    for warning in res.warnings:
        click.echo(f"aerobackup: warning: {warning}", err=True)
    if res.output.print_config:
        click.echo(json.dumps(res.to_json(), indent=2))
    return res


def _dispatch(res: Resolved) -> int:
    from . import run

    return run.run(res)


class BackupGroup(click.Group):
    """``backup`` runs a scan backup with its own options, or the ``xdr`` sub-command."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        GroupedCommand.format_options(self, ctx, formatter)  # type: ignore[arg-type]
        self.format_commands(ctx, formatter)


@click.group("backup", cls=BackupGroup, invoke_without_command=True,
             subcommand_metavar="[xdr [OPTIONS]]")
@with_options("backup")
@click.pass_context
def backup_command(ctx: click.Context, /, **values: Any) -> None:
    """Back up a namespace to a directory, one file, or cloud storage (asbackup's flags).

    `aerobackup backup xdr ...` makes the cluster ship the namespace over XDR instead
    (ASBX files; Enterprise Edition): see `aerobackup backup xdr --help`.
    """
    if ctx.invoked_subcommand is not None:
        typed = [k for k, v in values.items() if v is not None and v is not False]
        if typed:
            raise click.UsageError(f"options of 'backup xdr' go after 'xdr' (got --{typed[0].rstrip('_')} before it)")
        return
    res = build("backup", ctx, values)
    if not res.output.print_config:
        ctx.exit(_dispatch(res))


@backup_command.command("xdr", cls=GroupedCommand)
@with_options("backup-xdr")
@click.pass_context
def backup_xdr_command(ctx: click.Context, /, **values: Any) -> None:
    """XDR backup to ASBX files: the cluster ships the namespace to a receiver run here
    (the Go CLI's `asbackup xdr`; Enterprise Edition only). See docs/xdr.md."""
    res = build("backup-xdr", ctx, values)
    if not res.output.print_config:
        ctx.exit(_dispatch(res))


@click.command("restore", cls=GroupedCommand)
@with_options("restore")
@click.pass_context
def restore_command(ctx: click.Context, /, **values: Any) -> None:
    """Restore a backup into a cluster (asrestore's flags)."""
    res = build("restore", ctx, values)
    if not res.output.print_config:
        ctx.exit(_dispatch(res))


@click.command("estimate", cls=GroupedCommand)
@with_options("estimate")
@click.pass_context
def estimate_command(ctx: click.Context, /, **values: Any) -> None:
    """Estimate the size of a backup from a sample of records (asbackup -e); writes nothing."""
    res = build("estimate", ctx, values)
    if not res.output.print_config:
        ctx.exit(_dispatch(res))


@click.command("validate", cls=GroupedCommand)
@click.argument("path", metavar="[PATH]", required=False)
@with_options("validate")
@click.pass_context
def validate_command(ctx: click.Context, /, path: str | None, **values: Any) -> None:
    """Decode every record of a backup (a file or a directory) and count; no cluster needed."""
    values = dict(values)
    if path is not None:
        if values.get("directory") or values.get("input_file") or values.get("directory_list"):
            raise ConfigError("", "validate: give PATH or -d/-i/--directory-list, not both")
        values["directory"], values["input_file"] = _validate_target(path)
    res = build("validate", ctx, values)
    if not res.output.print_config:
        ctx.exit(_dispatch(res))


def _validate_target(path: str) -> tuple[str | None, str | None]:
    """A local path is a file or a directory; a URL ending in a backup suffix is a file."""
    import os

    if path == "-":
        return None, "-"
    if "://" not in path:
        if not os.path.exists(path):
            raise ConfigError("", f"validate: no such file or directory: {path}")
        return (None, path) if os.path.isfile(path) else (path, None)
    return (None, path) if path.rstrip("/").endswith((".asb", ".asbx")) else (path, None)


def commands() -> Sequence[click.Command]:
    return (backup_command, restore_command, validate_command, estimate_command)
