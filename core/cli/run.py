"""Run a resolved command: connect, start the job, show progress, print the report.

Ctrl-C cancels the job and waits for it to stop cleanly (files are published whole or not at
all); with a state file the backup can be resumed, and the message says how. The report goes to
stdout, except when the backup itself is written to stdout (``-o -``): then it goes to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..client import Client
from ..distributed import is_distributed
from ..errors import ConfigError, ExitCode, JobCancelled
from ..jobs import Job
from ..protocols import StorageBackend
from ..runtime import Runtime
from ..storage import BACKUP_SUFFIXES, exists, is_backup_file, prepare_backup_location
from .build import asbx_refusal
from .mapping import Resolved
from .progress import Progress, human_bytes, print_report, report_dict

__all__ = ["resume_command", "run"]

log = logging.getLogger("aerobackup.cli")

#: How long a cancelled job may take to stop after Ctrl-C before we give up waiting.
CANCEL_GRACE = 30.0
POLL = 0.2


def run(res: Resolved) -> int:
    if res.command == "backup-xdr":
        return _backup_xdr(res)
    if res.command == "validate":
        return _restore(res, validate=True)
    if res.command == "restore":
        return _restore(res, validate=res.restore is not None and res.restore.validate_only)
    if res.remove_artifacts:
        return _remove_artifacts(res)
    assert res.backup is not None
    if res.command == "estimate" or res.backup.estimate:
        return _estimate(res)
    return _backup(res)


def _runtime() -> Runtime:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a broken optional plugin is reported when it is needed
        return Runtime.discover()


def _report_stream(res: Resolved) -> Any:
    to_stdout = res.backup is not None and res.backup.output_file == "-"
    return sys.stderr if to_stdout else sys.stdout


def _watch(job: Job[Any], res: Resolved, title: str, total_records: int | None = None) -> Any:
    """Show progress until the job ends; on Ctrl-C cancel it and wait for a clean stop."""
    out = res.output
    with _sigterm_as_interrupt(), Progress(title, enabled=out.progress and not out.quiet,
                                           total_records=total_records) as bar:
        try:
            while not job.done:
                bar.update(job.stats)
                time.sleep(POLL)
            bar.update(job.stats)
        except KeyboardInterrupt:
            job.cancel()
            print(f"\naerobackup: interrupted: stopping the {title} cleanly...", file=sys.stderr, flush=True)
            deadline = time.monotonic() + CANCEL_GRACE
            while not job.done and time.monotonic() < deadline:
                try:
                    time.sleep(POLL)
                except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                    break
            raise JobCancelled(f"{title} interrupted") from None
    return job.wait()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemd, kill, timeout) stops a job as cleanly as Ctrl-C does."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (a library caller): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _backup(res: Resolved) -> int:
    assert res.backup is not None and res.cluster is not None and res.storage is not None
    rt = _runtime()
    storage = rt.storage(res.storage)
    config = res.backup
    with Client(cluster=res.cluster, runtime=rt) as client:
        total = _expected_records(client, config) if res.output.progress and not res.output.quiet else None
        # a distributed job's workers open the storage by its location (with its options)
        job = client.backup(config, res.storage if is_distributed(config.executor) else storage)
        try:
            stats = _watch(job, res, "backup", total)
        except JobCancelled:
            state = config.state_file or config.continue_from
            stats = job.stats
            print(f"aerobackup: backup interrupted after {stats.records_written:,} records in "
                  f"{stats.files} file(s).", file=sys.stderr)
            if state and exists(storage, state):
                print(f"aerobackup: resume with: {resume_command(sys.argv[1:], state)}", file=sys.stderr)
            elif state:
                print("aerobackup: no file was complete yet, so there is nothing to resume: run the backup again.",
                      file=sys.stderr)
            else:
                print("aerobackup: no state file was kept (--state-file-dst); the partial files were removed.",
                      file=sys.stderr)
            return ExitCode.INTERRUPTED
    if not res.output.quiet:
        extra: dict[str, Any] = {"location": str(res.storage) if config.output_file is None
                                 else _join(str(res.storage), config.output_file)}
        if config.state_file:
            extra["state_file"] = config.state_file
        print_report(report_dict("backup", stats, extra), as_json=res.output.json, stream=_report_stream(res))
    return ExitCode.OK


def _expected_records(client: Client, config: Any) -> int | None:
    """Records the backup should hold, for the bar and the ETA; None when filters make it unknowable."""
    if config.modified_after or config.modified_before or config.no_ttl_only or config.filter_expression \
            or config.node_list or config.after_digest or config.no_records:
        return None
    try:
        from ..estimate import record_count

        total = record_count(client._connection(), config)
    except Exception:  # noqa: BLE001 - only a progress hint
        log.debug("cannot count the records to back up", exc_info=True)
        return None
    if total is None:
        return None
    if config.partition_filters:
        total = total * sum(f.count for f in config.partition_filters) // 4096
    if config.max_records:
        total = min(total, config.max_records)
    return total or None


def _join(folder: str, name: str) -> str:
    if name == "-":
        return "-"
    return f"{folder.rstrip('/')}/{name}" if folder not in ("", ".") else name


def resume_command(argv: Sequence[str], state: str) -> str:
    """The command line that resumes: the same flags without -r/--state-file-dst, plus --continue."""
    out: list[str] = ["aerobackup"]
    skip = False
    drop_with_value = {"--state-file-dst", "-c", "--continue"}
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in drop_with_value:
            skip = True
            continue
        if any(arg.startswith(f"{flag}=") for flag in drop_with_value) or arg in ("-r", "--remove-files"):
            continue
        out.append(arg)
    out += ["--continue", state]
    return shlex.join(out)


def _estimate(res: Resolved) -> int:
    assert res.backup is not None and res.cluster is not None
    rt = _runtime()
    with Client(cluster=res.cluster, runtime=rt) as client:
        est = client.estimate(dataclasses.replace(res.backup, estimate=True))
    report = {"command": "estimate", "status": "ok", **dataclasses.asdict(est)}
    if not res.output.quiet:
        if res.output.json:
            print_report(report, as_json=True)
        else:
            total = ("unknown" if est.total_bytes is None
                     else f"{human_bytes(est.total_bytes)} ({est.total_bytes:,} bytes)")
            records = "unknown" if est.records is None else f"{est.records:,}"
            print("estimate finished")
            print(f"  records   {records}")
            print(f"  sampled   {est.samples:,}")
            print(f"  per record {est.mean_record_size:,.1f} bytes (upper bound {est.record_size_upper:,})")
            print(f"  backup    at most {total}, {est.confidence:.1%} confidence")
    return ExitCode.OK


def _remove_artifacts(res: Resolved) -> int:
    assert res.storage is not None and res.backup is not None
    rt = _runtime()
    storage = rt.storage(res.storage)
    if res.backup.output_file is not None:
        names = [res.backup.output_file]
    else:
        names = [o.name for o in storage.list("") if "/" not in o.name and is_backup_file(o.name, BACKUP_SUFFIXES)]
        if res.backup.state_file:
            names.append(res.backup.state_file)
    removed = 0
    for name in names:
        try:
            storage.remove(name)
            removed += 1
        except FileNotFoundError:
            continue
    if not res.output.quiet:
        report = {"command": "remove-artifacts", "status": "ok", "files_removed": removed,
                  "location": str(res.storage)}
        if res.output.json:
            print_report(report, as_json=True)
        else:
            print(f"removed {removed} backup file(s) from {res.storage}")
    return ExitCode.OK


def _restore_inputs(res: Resolved, rt: Runtime) -> Any:
    """Strings where no storage option is needed (the pipeline lists them), else storages."""
    if res.input_file is not None:
        return res.inputs[0]
    urls = res.locations or ((res.storage,) if res.storage is not None else ())
    made: list[str | StorageBackend] = [rt.storage(u) if u.options else str(u) for u in urls]
    return made[0] if len(made) == 1 else made


def _only_asbx(res: Resolved, rt: Runtime) -> bool:
    """``--mode auto``: the backup is ASBX when its files are all ``.asbx`` (C tools write ASB only)."""
    if res.input_file is not None:
        return res.input_file.endswith(".asbx")
    try:
        names = [o.name for u in (res.locations or ((res.storage,) if res.storage else ()))
                 for o in rt.storage(u).list("")]
    except Exception:  # noqa: BLE001 - the restore itself reports an unreadable location
        return False
    backups = [n for n in names if is_backup_file(n, BACKUP_SUFFIXES)]
    return bool(backups) and all(n.endswith(".asbx") for n in backups)


def _detected(exc: ConfigError) -> ConfigError:
    return ConfigError(exc.field, f"{exc.message} (the backup holds ASBX files: --mode auto restores it as ASBX)")


def _backup_xdr(res: Resolved) -> int:
    """``backup xdr``: an XDR backup to ASBX files, or only the clean-up of --stop-xdr / --unblock-mrt."""
    assert res.backup_xdr is not None and res.cluster is not None
    config = res.backup_xdr
    rt = _runtime()
    with Client(cluster=res.cluster, runtime=rt) as client:
        if res.stop_xdr or res.unblock_mrt:
            return _xdr_clean_up(client, res)
        assert res.storage is not None
        storage = rt.storage(res.storage)
        prepare_backup_location(storage, remove_files=res.remove_files, suffixes=(".asbx",),
                                location=str(res.storage))
        job = client.backup_xdr(config, storage)
        try:
            stats = _watch(job, res, "backup")
        except JobCancelled:
            stats = job.stats
            print(f"aerobackup: XDR backup interrupted after {stats.records_written:,} records in {stats.files} "
                  f"file(s); DC {config.dc!r} was removed from the nodes it was set up on.", file=sys.stderr)
            return ExitCode.INTERRUPTED
    if not res.output.quiet:
        extra = {"location": str(res.storage), "mode": "xdr", "dc": config.dc}
        print_report(report_dict("backup", stats, extra), as_json=res.output.json)
    return ExitCode.OK


def _xdr_clean_up(client: Client, res: Resolved) -> int:
    """--stop-xdr removes the DC (and with --unblock-mrt lifts the MRT fence); --unblock-mrt alone only lifts it."""
    assert res.backup_xdr is not None
    config = res.backup_xdr
    if res.stop_xdr:
        problems = client.stop_xdr(config.dc, config.namespace, unblock_mrt=res.unblock_mrt)
    else:
        from ..xdr.backup_xdr import node_names

        cluster = client._connection()
        command = f"set-config:context=namespace;namespace={config.namespace};disable-mrt-writes=false"
        problems = []
        for node in node_names(cluster):
            try:
                answer = cluster.info(command, node)
            except Exception as exc:  # noqa: BLE001 - reported per node below
                problems.append(f"node {node}: '{command}': {exc}")
                continue
            if "ERROR" in answer.upper():
                problems.append(f"node {node}: '{command}': {answer.strip()}")
    done = " and ".join(w for w, on in ((f"DC {config.dc!r} removed", res.stop_xdr),
                                        (f"MRT writes of {config.namespace!r} unblocked", res.unblock_mrt)) if on)
    for problem in problems:
        print(f"aerobackup: error: {problem}", file=sys.stderr)
    if not res.output.quiet:
        report = {"command": "backup-xdr", "status": "failed" if problems else "ok", "done": done,
                  "problems": problems}
        if res.output.json:
            print_report(report, as_json=True)
        elif not problems:
            print(f"xdr clean-up finished: {done}")
    return ExitCode.CLUSTER if problems else ExitCode.OK


def _restore(res: Resolved, *, validate: bool) -> int:
    assert res.restore is not None
    rt = _runtime()
    config = res.restore if res.restore.validate_only == validate else dataclasses.replace(
        res.restore, validate_only=validate)
    command = "validate" if validate else "restore"
    if res.detect_format and config.decoder == "asb" and _only_asbx(res, rt):
        # an ASBX restore has no batch deadline: the default --total-timeout (--timeout's value) is dropped
        timeout = config.total_timeout_ms if "total_timeout" in res.origin else 0
        try:
            config = dataclasses.replace(config, decoder="asbx", total_timeout_ms=timeout)
            from ..xdr.restore_asbx import check_config

            check_config(config)
        except ConfigError as exc:
            raise _detected(asbx_refusal(exc, res.origin)) from None
    elif res.mode == "asb" and _only_asbx(res, rt):
        raise ConfigError("", "--mode asb: the location holds only ASBX (XDR) files (*.asbx): use --mode asbx "
                              "(or auto)")
    inputs = _restore_inputs(res, rt)
    client_factory: Callable[[], Client] = (
        (lambda: Client(cluster=res.cluster, runtime=rt)) if res.cluster is not None else (lambda: Client(runtime=rt)))
    with client_factory() as client:
        job = client.restore(config, inputs)
        try:
            stats = _watch(job, res, command)
        except JobCancelled:
            stats = job.stats
            print(f"aerobackup: {command} interrupted after {stats.records_read:,} records read.", file=sys.stderr)
            return ExitCode.INTERRUPTED
    if not res.output.quiet:
        print_report(report_dict(command, stats, {"location": ",".join(res.inputs)}), as_json=res.output.json)
    if stats.records_failed:
        print(f"aerobackup: warning: {stats.records_failed:,} record(s) were refused by the server and skipped "
              "(--ignore-record-error)", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK
