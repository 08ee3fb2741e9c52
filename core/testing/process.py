"""The emulator in a child process, for client calls that keep Python's GIL while they wait.

Some calls of the official client 19.x do not release the GIL during their network wait:
``truncate()``, ``udf_put()`` and ``udf_remove()`` (observed: an in-process emulator gets the
request only when the client's timeout expires). Against an emulator running in the same
process those calls time out or hang; run the emulator in its own process for them::

    with EmulatorProcess(namespaces=("test",)) as srv:
        client = aerospike.client({"hosts": [(srv.host, srv.port)]})
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["EmulatorProcess"]

_READY = re.compile(r" on (\S+):(\d+)")


class EmulatorProcess:
    """``python -m aerobackup.testing`` as a context manager; ``.host``/``.port`` of node 0."""

    def __init__(
        self, namespaces: Sequence[str] = ("test", "bar"), *, nodes: int = 1, start_timeout: float = 20.0
    ) -> None:
        self._args = [
            sys.executable, "-m", "aerobackup.testing", "--port", "0",
            "--namespaces", ",".join(namespaces), "--nodes", str(nodes),
        ]  # fmt: skip
        self._timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> EmulatorProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # the child prints one line once it listens
        m = _READY.search(line)
        if m is None:
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self.stop()
            raise RuntimeError(f"emulator process did not start: {line.strip() or err.strip()}")
        self.host, self.port = m.group(1), int(m.group(2))
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def pid(self) -> int | None:
        """The child's process id (benchmarks read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status of the child once stopped (0 after a clean SIGTERM stop)."""
        return self._proc.returncode if self._proc is not None else None

    def client_config(self) -> dict[str, Any]:
        return {"hosts": [(self.host, self.port)]}

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
