"""The plugin manager: loads entry points once and keeps one registry per plugin kind.

There is no module-level manager: ``Runtime.discover()`` builds one from installed entry points,
``Runtime.from_plugins([...])`` from objects (tests), and each caller passes its own around.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownPluginError
from .protocols import (
    Decoder,
    DecoderFactory,
    DecoderOptions,
    Encoder,
    EncoderFactory,
    EncoderOptions,
    KeySource,
    KeySourceOptions,
    StorageBackend,
    StorageFactory,
    StorageURL,
    Transform,
    TransformOptions,
)

__all__ = ["ESSENTIAL", "ENTRY_POINT_GROUP", "KINDS", "LoadFailure", "Offer", "Runtime"]

ENTRY_POINT_GROUP = "aerobackup"
#: Entry points loaded even when AEROBACKUP_PLUGINS restricts the set: without them nothing runs.
ESSENTIAL = ("local", "stdio", "asb")
KINDS = ("storage", "codec", "transform", "key_source")
#: Built-in names whose libraries come with a pip extra, for the "install ..." hint.
KNOWN_EXTRAS: Mapping[tuple[str, str], str] = {
    ("storage", "s3"): "s3",
    ("storage", "gcs"): "gcs",
    ("storage", "azure"): "azure",
}


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """An entry point that could not be imported or registered."""

    entry_point: str
    value: str
    distribution: str | None
    error: str


@dataclass(frozen=True, slots=True)
class Offer:
    """One thing a plugin registered: its kind, name, and where it came from."""

    kind: str
    name: str
    plugin: str  # entry point (or object) name
    distribution: str | None
    version: str | None
    factory: Any
    schemes: tuple[str, ...] = ()
    extra: str | None = None
    suffix: str | None = None
    decoder_factory: Any = None


class Runtime:
    """Registries of storages, codecs, transforms and key sources, built from plugins."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self.failures: list[LoadFailure] = []
        self._offers: dict[str, dict[str, Offer]] = {kind: {} for kind in KINDS}
        self._schemes: dict[str, Offer] = {}

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def discover(cls, environ: Mapping[str, str] | None = None) -> Runtime:
        """Load the ``aerobackup`` entry points (restricted by ``AEROBACKUP_PLUGINS=a,b``)."""
        env = os.environ if environ is None else environ
        wanted_raw = env.get("AEROBACKUP_PLUGINS")
        wanted = None if wanted_raw is None else {w.strip() for w in wanted_raw.split(",") if w.strip()}
        rt = cls()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted and ep.name not in ESSENTIAL:
                continue
            if rt._pm.has_plugin(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            dist_version = dist.version if dist is not None else None
            try:
                rt._register(ep.load(), ep.name, dist_name, dist_version)
            except Exception as exc:  # one broken plugin must not hide the others
                failure = LoadFailure(ep.name, ep.value, dist_name, f"{type(exc).__name__}: {exc}")
                rt.failures.append(failure)
                warnings.warn(
                    f"aerobackup plugin '{ep.name}' ({ep.value}) failed to load: {failure.error}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        rt._collect()
        return rt

    @classmethod
    def from_plugins(cls, plugins: Iterable[object], *, names: Sequence[str] | None = None) -> Runtime:
        """A runtime of the given plugin objects or modules only (reads no entry points)."""
        rt = cls()
        for i, plugin in enumerate(plugins):
            name = names[i] if names else getattr(plugin, "__name__", type(plugin).__name__)
            rt._register(plugin, name, None, None)
        rt._collect()
        return rt

    def _register(self, plugin: object, name: str, dist: str | None, version: str | None) -> None:
        self._pm.register(plugin, name=name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._pm.unregister(plugin)
            raise PluginError(f"plugin '{name}': {exc}", plugin=name) from exc
        self._dists[name] = (dist, version)

    def _collect(self) -> None:
        """Call each registration hook of each plugin, remembering which plugin offered what."""
        hooks: list[tuple[str, str, Callable[..., Offer]]] = [
            ("storage", "register_storages", self._storage_offer),
            ("codec", "register_codecs", self._codec_offer),
            ("transform", "register_transforms", self._plain_offer),
            ("key_source", "register_key_sources", self._plain_offer),
        ]
        for kind, hook_name, make in hooks:
            caller = getattr(self._pm.hook, hook_name)
            for impl in reversed(caller.get_hookimpls()):  # registration order
                register = self._registrar(kind, make, impl.plugin_name)
                impl.function(**{arg: register for arg in impl.argnames})

    def _registrar(self, kind: str, make: Callable[..., Offer], plugin: str) -> Callable[..., None]:
        """The ``register`` callable handed to one plugin's hook: tags each offer with its origin."""
        dist, version = self._dists.get(plugin, (None, None))

        def register(name: str, *args: Any, **kw: Any) -> None:
            self._add(replace(make(kind, name, plugin, *args, **kw), distribution=dist, version=version))

        return register

    @staticmethod
    def _storage_offer(
        kind: str,
        name: str,
        plugin: str,
        factory: StorageFactory,
        *,
        schemes: Sequence[str] = (),
        extra: str | None = None,
    ) -> Offer:
        return Offer(kind, name, plugin, None, None, factory, tuple(schemes), extra)

    @staticmethod
    def _codec_offer(
        kind: str,
        name: str,
        plugin: str,
        encoder_factory: EncoderFactory,
        decoder_factory: DecoderFactory,
        *,
        suffix: str,
    ) -> Offer:
        return Offer(kind, name, plugin, None, None, encoder_factory, suffix=suffix, decoder_factory=decoder_factory)

    @staticmethod
    def _plain_offer(kind: str, name: str, plugin: str, factory: Any) -> Offer:
        return Offer(kind, name, plugin, None, None, factory)

    def _add(self, offer: Offer) -> None:
        registry = self._offers[offer.kind]
        label = offer.kind.replace("_", " ")
        if offer.name in registry:
            raise PluginError(
                f"{label} '{offer.name}' is registered by both {_origin(registry[offer.name])} and {_origin(offer)}",
                plugin=offer.plugin,
            )
        for scheme in offer.schemes:
            if scheme in self._schemes:
                raise PluginError(
                    f"URL scheme '{scheme}://' is registered by both {_origin(self._schemes[scheme])} "
                    f"and {_origin(offer)}",
                    plugin=offer.plugin,
                )
        registry[offer.name] = offer
        for scheme in offer.schemes:
            self._schemes[scheme] = offer

    # --- lookup ----------------------------------------------------------------------------

    def offers(self, kind: str | None = None) -> list[Offer]:
        """Everything registered (of one kind), sorted by kind then name."""
        kinds = KINDS if kind is None else (kind,)
        return [o for k in kinds for o in sorted(self._offers[k].values(), key=lambda o: o.name)]

    def names(self, kind: str) -> list[str]:
        return sorted(self._offers[kind])

    def offer(self, kind: str, name: str) -> Offer:
        try:
            return self._offers[kind][name]
        except KeyError:
            raise self._unknown(kind, repr(name), name) from None

    def _unknown(self, kind: str, what: str, name: str) -> UnknownPluginError:
        label = kind.replace("_", " ")
        installed = ", ".join(self.names(kind)) or "none"
        message = f"unknown {label} {what} (installed: {installed})"
        extra = KNOWN_EXTRAS.get((kind, name))
        if extra:
            message += f"; install it with: pip install 'aerobackup[{extra}]'"
        failed = [f for f in self.failures if f.entry_point == name]
        if failed:
            message += f"; plugin '{name}' failed to load: {failed[0].error}"
        return UnknownPluginError(message, plugin=name)

    def storage_offer_for(self, url: StorageURL) -> Offer:
        """The storage serving a URL: by scheme, or ``local`` for a plain path."""
        if not url.scheme:
            return self.offer("storage", "local")
        try:
            return self._schemes[url.scheme]
        except KeyError:
            raise self._unknown("storage", f"for URL scheme '{url.scheme}://'", url.scheme) from None

    def storage(self, url: StorageURL | str, options: Mapping[str, str] | None = None) -> StorageBackend:
        """Open the storage for a URL (``s3://bucket/p``, ``/backups/x``, ``-``)."""
        parsed = url if isinstance(url, StorageURL) else StorageURL.parse(url, options)
        offer = self.storage_offer_for(parsed)
        return cast(StorageBackend, _call_factory(offer, parsed))

    def encoder(self, codec: str, options: EncoderOptions | None = None) -> Encoder:
        return cast(Encoder, _call_factory(self.offer("codec", codec), options or EncoderOptions()))

    def decoder(self, codec: str, options: DecoderOptions | None = None) -> Decoder:
        offer = self.offer("codec", codec)
        return cast(Decoder, offer.decoder_factory(options or DecoderOptions()))

    def codec_suffix(self, codec: str) -> str:
        return self.offer("codec", codec).suffix or ""

    def transform(self, name: str, options: TransformOptions | None = None) -> Transform:
        return cast(Transform, _call_factory(self.offer("transform", name), options or TransformOptions()))

    def key_source(self, name: str, options: KeySourceOptions | None = None) -> KeySource:
        return cast(KeySource, _call_factory(self.offer("key_source", name), options or KeySourceOptions()))


def _call_factory(offer: Offer, arg: object) -> Any:
    try:
        return offer.factory(arg)
    except ImportError as exc:
        label = offer.kind.replace("_", " ")
        module = exc.name or str(exc)
        hint = f": install the extra: pip install 'aerobackup[{offer.extra}]'" if offer.extra else ""
        raise PluginError(f"{label} '{offer.name}' needs the module '{module}'{hint}", plugin=offer.plugin) from exc


def _origin(offer: Offer) -> str:
    if offer.distribution:
        return f"'{offer.distribution}' (plugin '{offer.plugin}')"
    return f"plugin '{offer.plugin}'"
