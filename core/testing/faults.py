"""Fault injection for the emulator, settable while it runs.

Every fault is reached through ``server.faults`` (shared by all nodes of an
:class:`~aerobackup.testing.EmulatedCluster`)::

    srv.faults.drop_after(3, kinds={"read"})    # the 3rd read from now: connection closed, no reply
    srv.faults.delay(0.5, kinds={"read"})       # replies to reads wait half a second
    srv.faults.fail_partitions(range(0, 100))   # partitions 0-99 unavailable (result 11)
    srv.faults.error(14, kinds={"write"}, digests={d})  # writes of one record answer KEY_BUSY
    srv.faults.stop_writes = True               # every write answers 8 (stop-writes)
    srv.faults.cut_scans_after(1000)            # the next scan's connection closes after 1000 records
    srv.faults.clear()

Command kinds: ``info``, ``read``, ``write`` (deletes, touches, operate and UDF apply included),
``batch``, ``scan``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

__all__ = ["KINDS", "Faults"]

KINDS = frozenset({"info", "read", "write", "batch", "scan"})


class _ErrorRule:
    __slots__ = ("code", "kinds", "digests", "remaining")

    def __init__(
        self, code: int, kinds: frozenset[str] | None, digests: frozenset[bytes] | None, times: int | None
    ) -> None:
        self.code = code
        self.kinds = kinds
        self.digests = digests
        self.remaining = times


class Faults:
    """Faults to inject; all methods are thread-safe and take effect on the next request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drop_countdown: int | None = None
        self._drop_kinds: frozenset[str] | None = None
        self._delay = 0.0
        self._delay_kinds: frozenset[str] | None = None
        self._rules: list[_ErrorRule] = []
        #: partitions answered as unavailable (single record: result 11; scans: a
        #: PARTITION_DONE marker with result 11; batch rows: result 11)
        self.unavailable: frozenset[int] = frozenset()
        #: every write answers 8 (OUT_OF_SPACE, what a server in stop-writes answers)
        self.stop_writes = False
        #: requests seen (all kinds), for tests that count traffic
        self.requests = 0
        self._cut_after: int | None = None
        self._cut_times = 0

    def drop_after(self, n: int, kinds: Iterable[str] | None = None) -> None:
        """Close, without replying, the connection carrying the ``n``-th request from now (counting
        requests of these kinds only; all kinds when None)."""
        if n < 1:
            raise ValueError(f"drop_after: n must be at least 1 (got {n})")
        with self._lock:
            self._drop_countdown = n
            self._drop_kinds = _kinds(kinds)

    def delay(self, seconds: float, kinds: Iterable[str] | None = None) -> None:
        """Wait ``seconds`` before answering requests of the given kinds (all when None)."""
        with self._lock:
            self._delay = seconds
            self._delay_kinds = _kinds(kinds)

    def fail_partitions(self, partitions: Iterable[int]) -> None:
        """Make these partitions unavailable (replaces the previous set; empty to heal)."""
        self.unavailable = frozenset(int(p) for p in partitions)

    def error(
        self,
        code: int,
        *,
        kinds: Iterable[str] | None = None,
        digests: Iterable[bytes] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``code`` to requests of these kinds (all when None) touching these digests
        (any when None), ``times`` times (forever when None)."""
        rule = _ErrorRule(code, _kinds(kinds), frozenset(bytes(d) for d in digests) if digests else None, times)
        with self._lock:
            self._rules.append(rule)

    def cut_scans_after(self, records: int, times: int = 1) -> None:
        """Close the connection of the next ``times`` scans after ``records`` records were sent
        (the records sent stay valid; no LAST message follows), as a network failure would."""
        if records < 0 or times < 1:
            raise ValueError(f"cut_scans_after: records >= 0 and times >= 1 (got {records}, {times})")
        with self._lock:
            self._cut_after = records
            self._cut_times = times

    def scan_cut(self) -> int | None:
        """Records after which the scan starting now is cut, or None (used by the server)."""
        with self._lock:
            if self._cut_after is None:
                return None
            cut = self._cut_after
            self._cut_times -= 1
            if self._cut_times <= 0:
                self._cut_after = None
            return cut

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._cut_after = None
            self._drop_countdown = None
            self._delay = 0.0
            self._delay_kinds = None
            self._rules = []
        self.unavailable = frozenset()
        self.stop_writes = False

    # --- used by the server -------------------------------------------------------------------

    @property
    def has_rules(self) -> bool:
        """Whether any error rule is set (lets hot loops skip the per-record lookup)."""
        return bool(self._rules)

    def on_request(self, kind: str) -> bool:
        """Count a request; False when its connection must be dropped. Sleeps for delays."""
        with self._lock:
            self.requests += 1
            drop = False
            if self._drop_countdown is not None and (self._drop_kinds is None or kind in self._drop_kinds):
                self._drop_countdown -= 1
                if self._drop_countdown <= 0:
                    self._drop_countdown = None
                    drop = True
            delay = self._delay if self._delay_kinds is None or kind in self._delay_kinds else 0.0
        if delay > 0:
            time.sleep(delay)
        return not drop

    def error_for(self, kind: str, digest: bytes | None) -> int:
        """The injected error code for this request, or 0."""
        if not self._rules:
            return 0
        with self._lock:
            for rule in self._rules:
                if rule.kinds is not None and kind not in rule.kinds:
                    continue
                if rule.digests is not None and (digest is None or digest not in rule.digests):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.code
        return 0


def _kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    out = frozenset(kinds)
    unknown = out - KINDS
    if unknown:
        raise ValueError(f"unknown command kind(s) {sorted(unknown)} (known: {sorted(KINDS)})")
    return out
