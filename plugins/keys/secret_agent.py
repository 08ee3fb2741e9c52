"""Key source ``secret-agent``: key material held by the Aerospike Secret Agent.

``load("secrets:resource:key")`` fetches the secret with the agent settings from
``KeySourceOptions.secret_agent`` (an ``aerobackup.config.SecretAgentConfig``; the C tools'
default agent 127.0.0.1:3005 when none is given). The protocol client lives in the core
(``aerobackup.secrets``) because every config option may be a ``secrets:`` value; this plugin only
adapts it to the KeySource interface. The value (PEM text, or base64 of key material) is turned
into an AES key by ``aerobackup.keys.derive_aes_key``.
"""

from __future__ import annotations

from aerobackup import hookimpl
from aerobackup.config import SecretAgentConfig
from aerobackup.errors import KeySourceError
from aerobackup.hookspecs import RegisterKeySource
from aerobackup.protocols import KeySource, KeySourceOptions
from aerobackup.secrets import PREFIX, SecretAgentClient

__all__ = ["SecretAgentKeySource", "register_key_sources"]


class SecretAgentKeySource:
    """Fetches one secret per ``load``; keeps no secret value."""

    def __init__(self, options: KeySourceOptions | None = None) -> None:
        config = (options or KeySourceOptions()).secret_agent
        if config is not None and not isinstance(config, SecretAgentConfig):
            raise KeySourceError(f"secret-agent key source: expected a SecretAgentConfig, got {type(config).__name__}")
        self._client = SecretAgentClient(config)

    def __repr__(self) -> str:
        return f"SecretAgentKeySource({self._client.where})"

    def load(self, spec: str) -> bytes:
        if not spec.startswith(PREFIX):
            spec = PREFIX + spec  # "resource:key" is accepted as well
        return self._client.fetch(spec)


def _factory(options: KeySourceOptions) -> KeySource:
    return SecretAgentKeySource(options)


@hookimpl
def register_key_sources(register: RegisterKeySource) -> None:
    register("secret-agent", _factory)
