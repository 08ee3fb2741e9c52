"""The ``aerobackup`` command.

``main()`` returns an exit code (errors.ExitCode); only the console wrapper touches the process.
An AerobackupError prints as one line (``aerobackup: error: ...``); a traceback only with -v.
Sub-commands live in their own modules and attach themselves to ``cli`` below.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ..errors import AerobackupError, ExitCode, exit_code_for
from .plugins_cmd import plugins_command

__all__ = ["cli", "main"]

CONTEXT = {"help_option_names": ["--help", "-Z"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="aerobackup", prog_name="aerobackup", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Debug logs, and tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Back up and restore Aerospike databases (files compatible with asbackup and backup-go)."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


cli.add_command(plugins_command)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    try:
        cli.main(args=args, prog_name="aerobackup", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except click.exceptions.Abort:
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        print("aerobackup: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # a reader of our stdout quit early: end quietly
        return ExitCode.FAILED
    except AerobackupError as exc:
        if verbose:
            raise
        print(f"aerobackup: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    return ExitCode.OK


def console_main() -> None:  # pragma: no cover - process wrapper
    sys.exit(main())
