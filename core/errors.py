"""Every error aerobackup raises on purpose. Catch AerobackupError to catch them all.

AerobackupError
├── ConfigError (ValueError)              a setting is wrong; .field is its dotted path
├── PluginError                           missing, broken or misbehaving plugin; .plugin
│   └── UnknownPluginError (LookupError)  no plugin serves that name, scheme or kind
├── StorageError (OSError)
│   ├── BackupNotFoundError (FileNotFoundError)
│   └── TransientStorageError             worth retrying; only the retry wrapper retries
├── FormatError                           bytes that are not a valid backup; .where = file:line:col
├── KeySourceError                        a key could not be found or read
├── DecryptionError                       wrong key, or not an encrypted backup
├── ClusterError                          the cluster refused or failed an operation; .code
│   └── RecordError                       one record failed with a server result code
└── JobCancelled                          a job was cancelled by its caller

Each error is a one-line message meant for the user; the CLI prints it without a traceback and
exits with the code its class maps to (see ExitCode).
"""

from __future__ import annotations

import enum

__all__ = [
    "AerobackupError",
    "BackupNotFoundError",
    "ClusterError",
    "ConfigError",
    "DecryptionError",
    "ExitCode",
    "FormatError",
    "JobCancelled",
    "KeySourceError",
    "PluginError",
    "RecordError",
    "StorageError",
    "TransientStorageError",
    "UnknownPluginError",
    "exit_code_for",
]


class ExitCode(enum.IntEnum):
    """Process exit codes: a contract for scripts. Codes are added, never repurposed."""

    OK = 0
    FAILED = 1  # an aerobackup error with no finer code
    USAGE = 2  # bad flags, config or plugin name
    PARTIAL = 3  # finished, but some records were skipped by the error policy
    NOT_FOUND = 10  # no backup at that location
    CLUSTER = 11  # the cluster was unreachable or refused the job
    BAD_KEY = 12  # the key does not decrypt this backup, or cannot be read
    FORMAT = 13  # a backup file is corrupt or truncated
    INTERRUPTED = 130


class AerobackupError(Exception):
    """Base of every error aerobackup raises on purpose."""


class ConfigError(AerobackupError, ValueError):
    """A setting is wrong. ``field`` is its dotted path, e.g. ``backup.parallel_read``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class PluginError(AerobackupError):
    """A plugin is missing, broken or misbehaving. ``plugin`` names it."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)


class UnknownPluginError(PluginError, LookupError):
    """No installed plugin offers that name or scheme."""


class StorageError(AerobackupError, OSError):
    """Reading, writing or listing backup files failed."""


class BackupNotFoundError(StorageError, FileNotFoundError):
    """There is no backup (or no such file) at the location given."""


class TransientStorageError(StorageError):
    """A storage failure that may pass (throttling, timeouts): the retry layer may retry it."""


class FormatError(AerobackupError):
    """Bytes that are not a valid backup.

    ``where`` is filled by whoever knows the position (``file:line:col``), so parsers can raise
    a bare message and the reader adds the context.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.offset = offset
        super().__init__(message)

    @property
    def where(self) -> str:
        parts = [self.file or "<stream>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        if self.file is None and self.line is None:
            return self.message
        tail = f" (byte offset {self.offset})" if self.offset is not None else ""
        return f"{self.where}: {self.message}{tail}"


class KeySourceError(AerobackupError):
    """An encryption key could not be found or read. Never carries key material."""


class DecryptionError(AerobackupError):
    """Wrong key, or the file is not an encrypted backup."""


class ClusterError(AerobackupError):
    """The cluster refused or failed an operation. ``code`` is the server result code, if any."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class RecordError(ClusterError):
    """One record failed with a server result code."""


class JobCancelled(AerobackupError):
    """The job was cancelled by its caller (or by Ctrl-C)."""


_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ConfigError, ExitCode.USAGE),
    (UnknownPluginError, ExitCode.USAGE),
    (BackupNotFoundError, ExitCode.NOT_FOUND),
    (DecryptionError, ExitCode.BAD_KEY),
    (KeySourceError, ExitCode.BAD_KEY),
    (FormatError, ExitCode.FORMAT),
    (ClusterError, ExitCode.CLUSTER),
    (JobCancelled, ExitCode.INTERRUPTED),
)


def exit_code_for(error: BaseException) -> ExitCode:
    """The documented exit code for an error (FAILED when no finer code applies)."""
    return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), ExitCode.FAILED)
