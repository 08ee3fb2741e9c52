"""Key source ``env``: key material in an environment variable (``--encryption-key-env``).

``load(name)`` returns the variable's text. What the text may be (base64 of key material as the
C tools require, or PEM / base64 of PEM / base64 of DER / double base64 as backup-go accepts)
is decided in one place, ``aerobackup.keys.derive_aes_key``; where the two reference tools
derive different keys from one value (base64 of a PKCS#8 body), backup-go's rule wins unless
``c_compat`` is asked for (docs/encryption.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aerobackup import hookimpl
from aerobackup.errors import KeySourceError
from aerobackup.hookspecs import RegisterKeySource
from aerobackup.protocols import KeySource, KeySourceOptions

__all__ = ["EnvKeySource", "register_key_sources"]


class EnvKeySource:
    """Reads one environment variable per ``load``; ``environ`` is for tests and embedding."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def load(self, spec: str) -> bytes:
        environ = os.environ if self._environ is None else self._environ
        if not spec:
            raise KeySourceError("encryption key environment variable: no name given")
        value = environ.get(spec)
        if value is None:
            raise KeySourceError(f'environment variable "{spec}" not found')
        if not value.strip():
            raise KeySourceError(f'environment variable "{spec}" is empty')
        return value.encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return "EnvKeySource()"


def _factory(options: KeySourceOptions) -> KeySource:
    return EnvKeySource()


@hookimpl
def register_key_sources(register: RegisterKeySource) -> None:
    register("env", _factory)
