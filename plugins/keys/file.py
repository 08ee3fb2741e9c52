"""Key source ``file``: a PEM RSA private key file (``--encryption-key-file``).

``load(path)`` returns the file's bytes after checking that they hold an RSA private key (PKCS#1
``BEGIN RSA PRIVATE KEY`` or PKCS#8 ``BEGIN PRIVATE KEY``, no passphrase), so a bad key fails at
start with the file named, not later as an unreadable backup. A ``secrets:resource:key`` value
is fetched from the Secret Agent and its content is the PEM text (the C tools' rule).
The AES key itself is derived by ``aerobackup.keys.derive_aes_key``.
"""

from __future__ import annotations

from pathlib import Path

from aerobackup import hookimpl
from aerobackup.errors import KeySourceError
from aerobackup.hookspecs import RegisterKeySource
from aerobackup.keys import pkcs1_der_from_pem
from aerobackup.protocols import KeySource, KeySourceOptions

__all__ = ["FileKeySource", "register_key_sources"]


class FileKeySource:
    """Reads PEM key files. Holds no key material between calls."""

    def __init__(self, options: KeySourceOptions | None = None) -> None:
        self._options = options or KeySourceOptions()

    def load(self, spec: str) -> bytes:
        if spec.startswith("secrets:"):
            from aerobackup.secrets import fetch_secret

            data = fetch_secret(spec, self._options.secret_agent)
            pkcs1_der_from_pem(data, source=f"secret {spec}")
            return data
        path = Path(spec).expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeySourceError(f"key file {spec}: not found") from None
        except IsADirectoryError:
            raise KeySourceError(f"key file {spec}: is a directory") from None
        except OSError as exc:
            raise KeySourceError(f"key file {spec}: cannot be read ({exc.strerror})") from None
        pkcs1_der_from_pem(data, source=f"key file {spec}")
        return data

    def __repr__(self) -> str:
        return "FileKeySource()"


def _factory(options: KeySourceOptions) -> KeySource:
    return FileKeySource(options)


@hookimpl
def register_key_sources(register: RegisterKeySource) -> None:
    register("file", _factory)
