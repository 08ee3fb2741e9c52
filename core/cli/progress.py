"""What the user sees while a job runs and when it ends.

On a terminal: a rich progress bar on stderr (records, rate, bytes, ETA). Otherwise: a plain log
line on stderr every ``AEROBACKUP_PROGRESS_INTERVAL`` seconds (default 10). At the end a short
report on stdout, or the same as JSON with ``--json``. ``--quiet`` shows neither progress nor
report. Stats objects are read by attribute name so backup and restore stats both fit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "human_bytes", "print_report", "report_dict"]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _get(stats: Any, name: str, default: Any = 0) -> Any:
    return getattr(stats, name, default)


def _records(stats: Any) -> int:
    """Records moved so far: written on backup, read on restore/validate."""
    if hasattr(stats, "skipped_expired"):
        return int(_get(stats, "records_read"))
    return int(_get(stats, "records_written"))


def _bytes(stats: Any) -> int:
    """Bytes so far: stored bytes once files are published, the encoder's output before that."""
    return int(_get(stats, "bytes_written") or _get(stats, "bytes_raw") or _get(stats, "bytes_read"))


def _total(stats: Any) -> tuple[int, int]:
    """(done, total) of the unit that drives the ETA: partitions on backup, files on restore."""
    if hasattr(stats, "partitions_total"):
        return int(_get(stats, "partitions_done")), int(_get(stats, "partitions_total"))
    return int(_get(stats, "files")), int(_get(stats, "files_total"))


class Progress:
    """A context manager that renders stats snapshots passed to ``update``."""

    def __init__(self, title: str, *, enabled: bool = True, stream: TextIO | None = None,
                 interval: float | None = None, force_terminal: bool | None = None,
                 total_records: int | None = None) -> None:
        self.title = title
        self.total_records = total_records  # when known, the bar and ETA follow records
        self.stream = stream or sys.stderr
        self.enabled = enabled
        tty = self.stream.isatty() if force_terminal is None else force_terminal
        self.rich = enabled and tty and os.environ.get("TERM") != "dumb"
        env_interval = os.environ.get("AEROBACKUP_PROGRESS_INTERVAL")
        self.interval = interval if interval is not None else float(env_interval or 10.0)
        self._last_line = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream)
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[records]} records"), TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[size]}"), TextColumn("ETA"), TimeRemainingColumn(),
                console=console, transient=False, refresh_per_second=4,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=None, records="0", rate="- rec/s", size="0 B")
        return self

    def update(self, stats: Any) -> None:
        if not self.enabled:
            return
        records = _records(stats)
        elapsed = float(_get(stats, "elapsed", 0.0)) or 0.0
        rate = records / elapsed if elapsed > 0 else 0.0
        done, total = _total(stats)
        if self.total_records:
            done, total = min(records, self.total_records), self.total_records
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total or None, records=f"{records:,}",
                             rate=f"{rate:,.0f} rec/s", size=human_bytes(_bytes(stats)))
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            unit = "records" if self.total_records else (
                "partitions" if hasattr(stats, "partitions_total") else "files")
            share = f", {done:,}/{total:,} {unit}" if total else ""
            print(f"aerobackup: {self.title}: {records:,} records, {human_bytes(_bytes(stats))}, "
                  f"{rate:,.0f} rec/s{share}", file=self.stream, flush=True)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(et, ev, tb)
            self._bar = None


def report_dict(command: str, stats: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The final report as plain data (what ``--json`` prints)."""
    elapsed = float(_get(stats, "elapsed", 0.0))
    records = _records(stats)
    out: dict[str, Any] = {"command": command, "status": "ok"}
    if hasattr(stats, "skipped_expired"):
        out.update(
            records_read=int(stats.records_read), records_written=int(stats.records_written),
            skipped_expired=int(stats.skipped_expired), skipped_existing=int(stats.skipped_existing),
            skipped_newer=int(stats.skipped_newer), skipped_filtered=int(stats.skipped_filtered),
            records_failed=int(stats.records_failed),
            indexes=int(_get(stats, "sindexes_created") or _get(stats, "sindexes_read")),
            udfs=int(_get(stats, "udfs_created") or _get(stats, "udfs_read")),
            bytes=int(stats.bytes_read), files=int(stats.files),
        )
        out["skipped"] = (out["skipped_expired"] + out["skipped_existing"] + out["skipped_newer"]
                          + out["skipped_filtered"] + out["records_failed"])
    else:
        out.update(
            records=int(stats.records_written), records_read=int(stats.records_read),
            skipped=int(stats.records_skipped) + int(stats.records_filtered),
            bytes=int(stats.bytes_written), bytes_raw=int(stats.bytes_raw), files=int(stats.files),
            indexes=int(stats.sindexes), udfs=int(stats.udfs),
        )
    out["elapsed"] = round(elapsed, 3)
    out["rate"] = round(records / elapsed, 1) if elapsed > 0 else 0.0
    if extra:
        out.update(extra)
    return out


def print_report(report: Mapping[str, Any], *, as_json: bool, stream: TextIO | None = None) -> None:
    """The report on stdout: JSON, or a few aligned lines for people."""
    out = stream or sys.stdout
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=False), file=out)
        return
    cmd = report.get("command", "")
    rows: list[tuple[str, str]] = []
    if "records_read" in report and "skipped_expired" in report:
        verb = "validated" if cmd == "validate" else "restored"
        rows.append(("records", f"{report['records_read']:,} read, {report['records_written']:,} {verb}"
                     if cmd != "validate" else f"{report['records_read']:,} read"))
    else:
        rows.append(("records", f"{report.get('records', 0):,}"))
    rows.append(("bytes", human_bytes(report.get("bytes", 0))))
    rows.append(("files", f"{report.get('files', 0):,}"))
    rows.append(("indexes", f"{report.get('indexes', 0):,}"))
    rows.append(("UDFs", f"{report.get('udfs', 0):,}"))
    skipped = report.get("skipped", 0)
    detail = ""
    if "skipped_expired" in report and skipped:
        parts = [f"{report[k]:,} {k.removeprefix('skipped_').replace('records_', '')}"
                 for k in ("skipped_expired", "skipped_existing", "skipped_newer", "skipped_filtered",
                           "records_failed") if report.get(k)]
        detail = f" ({', '.join(parts)})"
    rows.append(("skipped", f"{skipped:,}{detail}"))
    rows.append(("elapsed", f"{report.get('elapsed', 0):.2f} s"))
    rows.append(("rate", f"{report.get('rate', 0):,.0f} records/s"))
    for key in ("estimated_size", "location", "state_file"):
        if key in report:
            rows.append((key.replace("_", " "), str(report[key])))
    print(f"{cmd} finished", file=out)
    for name, value in rows:
        print(f"  {name:<9} {value}", file=out)
