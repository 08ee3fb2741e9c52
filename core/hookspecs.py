"""Hook specifications: the plugin author's manual.

A plugin is a module (or object) with functions marked ``@hookimpl``, published under the
entry-point group ``aerobackup``. Each hook receives a ``register`` callable and calls it once
per thing it offers. Hooks are called with keywords; parameters are only ever added, never
renamed, and an implementation may declare fewer parameters than its spec.

    from aerobackup import hookimpl

    @hookimpl
    def register_storages(register):
        register("mem", MemoryStorage, schemes=("mem",))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pluggy

from .protocols import DecoderFactory, EncoderFactory, KeySourceFactory, StorageFactory, TransformFactory

__all__ = [
    "RegisterCodec",
    "RegisterKeySource",
    "RegisterStorage",
    "RegisterTransform",
    "hookimpl",
    "hookspec",
    "register_codecs",
    "register_key_sources",
    "register_storages",
    "register_transforms",
]

PROJECT = "aerobackup"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterStorage(Protocol):
    def __call__(
        self, name: str, factory: StorageFactory, *, schemes: Sequence[str] = (), extra: str | None = None
    ) -> None: ...


class RegisterCodec(Protocol):
    def __call__(
        self, name: str, encoder_factory: EncoderFactory, decoder_factory: DecoderFactory, *, suffix: str
    ) -> None: ...


class RegisterTransform(Protocol):
    def __call__(self, name: str, factory: TransformFactory) -> None: ...


class RegisterKeySource(Protocol):
    def __call__(self, name: str, factory: KeySourceFactory) -> None: ...


# --- registration hooks: called once per Runtime, before any run ---------------------------


@hookspec
def register_storages(register: RegisterStorage) -> None:
    """Offer storage back-ends.

    Call ``register(name, factory, schemes=("s3",), extra="s3")`` once per back-end.
    ``factory(url: StorageURL) -> StorageBackend`` runs only when a run uses it: import client
    libraries inside it, so listing plugins works without optional extras; raise ImportError and
    the core names ``extra`` (``pip install 'aerobackup[s3]'``). ``schemes`` are the URL schemes
    it serves. A name or scheme registered twice is an error naming both plugins.
    """


@hookspec
def register_codecs(register: RegisterCodec) -> None:
    """Offer file formats.

    Call ``register(name, encoder_factory, decoder_factory, suffix=".asb")``.
    ``encoder_factory(EncoderOptions) -> Encoder``; ``decoder_factory(DecoderOptions) -> Decoder``.
    ``suffix`` is the file-name ending of files in this format.
    """


@hookspec
def register_transforms(register: RegisterTransform) -> None:
    """Offer byte-stream transforms (compression, encryption).

    Call ``register(name, factory)``; ``factory(TransformOptions) -> Transform`` gets the level
    and key material. The core orders transforms (compression before encryption on write).
    """


@hookspec
def register_key_sources(register: RegisterKeySource) -> None:
    """Offer places to load encryption keys from.

    Call ``register(name, factory)``; ``factory(KeySourceOptions) -> KeySource``.
    """
