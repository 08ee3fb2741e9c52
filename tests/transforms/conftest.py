"""Fixtures: the asbackup 4.5.8 corpus and its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aerobackup.keys import derive_aes_key


@pytest.fixture(scope="session")
def corpus(conformance_dir: Path) -> Path:
    return conformance_dir / "asbackup-4.5.8"


@pytest.fixture(scope="session")
def corpus_key(corpus: Path) -> Callable[[str], bytes]:
    """The AES key of the encrypted corpus files (made with asbackup-4.5.8/key.pem)."""
    material = (corpus / "key.pem").read_bytes()
    return lambda mode: derive_aes_key(material, mode, source="key file key.pem")
