"""Converting option values: each by its kind, with errors that name where the value came from.

``Values`` holds the merged raw values (strings typed on the command line, typed values from
files) and converts one on demand, so an error reads ``-w/--parallel: must be 1 to 100 (got 0)``
or ``nightly.conf: [asbackup] parallel: ...``. The parsers of structured values (hosts, times,
partition lists) live here too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import PartitionFilter
from ..errors import ConfigError
from .options import PROMPT, Opt

__all__ = ["Prompt", "Values", "flag_name", "parse_hosts", "parse_partition_list", "parse_time"]

Prompt = Callable[[str], str]

class Values:
    """Merged raw values, converted on demand with errors that name their origin."""

    def __init__(self, table: Mapping[str, Opt], raw: Mapping[str, Any], origin: Mapping[str, str],
                 prompt: Prompt | None) -> None:
        self.table = table
        self.raw = dict(raw)
        self.origin = dict(origin)
        self.prompt = prompt

    def where(self, dest: str) -> str:
        if dest in self.origin:
            return self.origin[dest]
        opt = self.table.get(dest)
        return flag_name(opt) if opt else dest

    def fail(self, dest: str, message: str) -> ConfigError:
        return ConfigError("", f"{self.where(dest)}: {message}")

    def given(self, dest: str) -> bool:
        return self.raw.get(dest) is not None

    def get(self, dest: str, default: Any = None) -> Any:
        value = self.raw.get(dest)
        if value is None:
            return default
        opt = self.table[dest]
        return _convert(opt, value, lambda m: self.fail(dest, m), self.prompt)


def flag_name(opt: Opt) -> str:
    short = [f for f in opt.flags if not f.startswith("--")]
    return f"{short[0]}/{opt.long}" if short else opt.long


def _convert(opt: Opt, value: Any, fail: Callable[[str], ConfigError], prompt: Prompt | None) -> Any:
    kind = opt.kind
    if kind == "flag":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise fail(f"must be true or false (got {value!r})")
    if kind in ("int", "float"):
        number: float
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if kind == "int" else float(value)
        except (TypeError, ValueError):
            raise fail(f"must be {'an integer' if kind == 'int' else 'a number'} (got {value!r})") from None
        lo, hi = opt.minimum, opt.maximum
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            if hi is None:
                raise fail(f"must be at least {_num(lo)} (got {value})")
            raise fail(f"must be {_num(lo)} to {_num(hi)} (got {value})")
        return number
    if kind == "list":
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        return tuple(s for s in (str(i).strip().strip('"').strip("'") for i in items) if s)
    if kind == "choice":
        text = str(value)
        for choice in opt.choices:
            if text.lower() == choice.lower():
                return choice
        raise fail(f"must be one of {', '.join(opt.choices)} (got {text!r})")
    if kind == "password":
        return _password(str(value), fail, prompt, opt)
    return str(value)


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def _password(value: str, fail: Callable[[str], ConfigError], prompt: Prompt | None, opt: Opt) -> str:
    """``-P`` alone prompts; ``env:``, ``env-b64:``, ``b64:``, ``file:`` are read (Go CLI forms)."""
    if value == PROMPT:
        if prompt is None:
            raise fail("given without a value and there is no terminal to ask on: pass the value, "
                       "or env:VAR / file:PATH")
        return prompt("Password: " if opt.dest == "password" else "TLS key file password: ")
    kind, sep, rest = value.partition(":")
    if not sep or kind not in ("env", "env-b64", "b64", "file"):
        return value
    if kind in ("env", "env-b64"):
        if rest not in os.environ:
            raise fail(f"environment variable {rest!r} is not set")
        text = os.environ[rest]
        return _b64(text, fail) if kind == "env-b64" else text
    if kind == "b64":
        return _b64(rest, fail)
    try:
        with open(rest, encoding="utf-8") as fh:
            line = fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise fail(f"cannot read password file {rest!r}: {exc.strerror or exc}") from None
    if not line:
        raise fail(f"password file {rest!r} is empty")
    return line


def _b64(text: str, fail: Callable[[str], ConfigError]) -> str:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise fail("is not valid base64") from None


def parse_hosts(hosts: str, default_port: int, tls_name: str | None = None) -> tuple[str, ...]:
    """``host[:tls-name][:port],...`` as ClusterConfig seeds (``host[:tls-name]:port`` each)."""
    out = []
    for entry in (e.strip() for e in hosts.split(",")):
        if not entry:
            raise ConfigError("", f"empty host in {hosts!r}")
        if entry.startswith("["):  # [v6]:tls:port
            addr, sep, rest = entry[1:].partition("]")
            if not sep:
                raise ConfigError("", f"missing ']' in {entry!r}")
            host = f"[{addr}]"
            parts = [p for p in rest.split(":") if p] if rest else []
        else:
            host, *parts = entry.split(":")
        if len(parts) > 2:
            raise ConfigError("", f"bad host {entry!r}: use host[:tls-name][:port]")
        tls, port_text = None, None
        if len(parts) == 2:
            tls, port_text = parts
        elif len(parts) == 1:
            if parts[0].isdigit():
                port_text = parts[0]
            else:
                tls = parts[0]
        port = default_port
        if port_text is not None:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ConfigError("", f"bad port in {entry!r}: must be 1 to 65535")
            port = int(port_text)
        tls = tls or tls_name
        out.append(f"{host}:{tls}:{port}" if tls else f"{host}:{port}")
    return tuple(out)


def parse_time(text: str) -> dt.datetime:
    """asbackup's ``YYYY-MM-DD_HH:MM:SS`` (also date only, time only, or ISO 8601), local time."""
    text = text.strip()
    now = dt.datetime.now()
    for fmt in ("%Y-%m-%d_%H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).astimezone()
        except ValueError:
            pass
    try:
        t = dt.datetime.strptime(text, "%H:%M:%S").time()
        return dt.datetime.combine(now.date(), t).astimezone()
    except ValueError:
        pass
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError("", f"must be a time like 2024-01-31_12:00:00 (got {text!r})") from None
    return value if value.tzinfo else value.astimezone()


_DIGITS = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_partition_list(items: Sequence[str]) -> tuple[PartitionFilter, ...]:
    """``-X``: partition ``ID``, ``BEGIN-COUNT`` or a base64 digest, comma separated."""
    out = []
    for item in items:
        if _DIGITS.match(item):
            pid = int(item)
            if not 0 <= pid <= 4095:
                raise ConfigError("", f"partition {pid} out of range 0 to 4095")
            out.append(PartitionFilter.id(pid))
        elif m := _RANGE.match(item):
            begin, count = int(m.group(1)), int(m.group(2))
            if not 0 <= begin <= 4095 or not 1 <= count <= 4096 - begin:
                limit = 4096 - min(begin, 4095)
                raise ConfigError("", f"partition range {item!r}: begin 0 to 4095, count 1 to {limit}")
            out.append(PartitionFilter.range(begin, count))
        else:
            try:
                out.append(PartitionFilter.by_digest(item))
            except ConfigError as exc:
                raise ConfigError("", f"{item!r} is not a partition id, BEGIN-COUNT range or base64 digest "
                                      f"({exc.message})") from None
    return tuple(out)
