"""Real local cloud-storage emulators for tests: moto's S3 server, gcp-storage-emulator, Azurite.

Each runs in its own process on 127.0.0.1 with a port the OS picked (port 0), announces the
port on its first line, and is stopped with bounded waits. Tests talk to them over real HTTP
with the real client libraries (s3fs/botocore, gcsfs, adlfs/azure-storage-blob): no mocks.

``python -m aerobackup.testing.storage_emulators s3|gcs`` runs one server in the foreground
(it prints ``LISTENING <port>`` and stops when its standard input closes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "Emulator",
    "EmulatorError",
    "azurite_path",
    "start_azurite",
    "start_gcs",
    "start_moto",
]

#: Azurite's well-known development account and key (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


class EmulatorError(RuntimeError):
    """An emulator could not be started."""


@dataclass
class Emulator:
    """A running emulator process: ``endpoint`` is its base URL."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    endpoint: str
    workdir: str | None = None
    log: list[str] = field(default_factory=list)
    stop_wait: float = _STOP_TIMEOUT  # how long SIGTERM gets before SIGKILL

    def stop(self) -> None:
        """Stop the process: close its input, then terminate, then kill; each wait bounded."""
        proc = self.process
        if proc.poll() is None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(2 if self.name != "Azurite" else 0.1)
            except (subprocess.TimeoutExpired, OSError):
                proc.terminate()
                try:
                    proc.wait(self.stop_wait)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(_STOP_TIMEOUT)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _launch(
    name: str, argv: list[str], ready: re.Pattern[str], *, env: dict[str, str] | None = None, cwd: str | None = None
) -> Emulator:
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ) if env is None else env,
        cwd=cwd,
    )
    log: list[str] = []
    found: list[int] = []
    got = threading.Event()

    def pump() -> None:  # reads all output so the pipe never fills; notes the port
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            log.append(line)
            match = ready.search(line)
            if match and not found:
                found.append(int(match.group(1)))
                got.set()
        got.set()

    threading.Thread(target=pump, name=f"{name}-output", daemon=True).start()
    if not got.wait(_START_TIMEOUT) or not found:
        proc.kill()
        proc.wait(_STOP_TIMEOUT)
        tail = "\n".join(log[-15:])
        raise EmulatorError(f"{name} did not start within {_START_TIMEOUT:.0f}s; its output:\n{tail}")
    port = found[0]
    return Emulator(name, proc, port, f"http://127.0.0.1:{port}", cwd, log)


_LISTENING = re.compile(r"^LISTENING (\d+)$")


def start_moto(*, auth: bool = False) -> Emulator:
    """moto's S3 server. ``auth=True`` makes it check access keys (then unknown keys fail)."""
    env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    return _launch("moto S3 server", [sys.executable, "-m", __name__, "s3"], _LISTENING, env=env)


def start_gcs() -> Emulator:
    """gcp-storage-emulator, in memory."""
    return _launch("gcp-storage-emulator", [sys.executable, "-m", __name__, "gcs"], _LISTENING)


def azurite_path(repo: Path) -> Path:
    return repo / "node_modules" / ".bin" / "azurite-blob"


def start_azurite(repo: Path) -> Emulator:
    """Azurite's blob service from ``<repo>/node_modules`` (installed by ``npm ci``), in memory."""
    exe = azurite_path(repo.resolve())
    if not exe.exists():
        raise EmulatorError(
            f"Azurite is not installed ({exe} is missing): run `npm ci` in {repo} "
            "(package.json and package-lock.json pin it); Node.js and npm are needed"
        )
    workdir = tempfile.mkdtemp(prefix="aerobackup-azurite-")
    argv = [
        str(exe),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableProductStyleUrl",
    ]
    ready = re.compile(r"successfully listens on http://127\.0\.0\.1:(\d+)")
    emulator = _launch("Azurite", argv, ready, cwd=workdir)
    emulator.stop_wait = 2.0  # it closes its server on SIGTERM but lingers; in memory, nothing to save
    return emulator


# --- foreground servers (run in the child process) -----------------------------------------


def _serve_s3() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _announce_and_wait(server.get_host_and_port()[1])
    server.stop()


def _serve_gcs() -> None:
    import logging

    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    _announce_and_wait(server._api._httpd.server_port)  # the emulator keeps its socket private
    server.stop()


def _announce_and_wait(port: int) -> None:
    print(f"LISTENING {port}", flush=True)
    sys.stdin.read()  # until the parent closes our input (or dies)


def main(argv: list[str]) -> int:
    servers = {"s3": _serve_s3, "gcs": _serve_gcs}
    if len(argv) != 1 or argv[0] not in servers:
        print(f"usage: python -m {__name__} s3|gcs", file=sys.stderr)
        return 2
    servers[argv[0]]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
