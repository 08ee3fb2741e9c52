"""The plugin manager: discovery through entry points, lookup, and each error users meet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aerobackup import PluginError, Runtime, StorageURL, UnknownPluginError, hookimpl
from aerobackup.runtime import ESSENTIAL

from tests.core.conftest import MakeDist

STORAGE_MODULE = """
from aerobackup import hookimpl

class Dummy:
    def __init__(self, url):
        self.url = url

@hookimpl
def register_storages(register):
    register("{name}", Dummy, schemes=("{scheme}",))
"""


class OneScheme:
    @hookimpl
    def register_storages(self, register):  # type: ignore[no-untyped-def]
        register("mem", lambda url: ("mem-storage", url.path), schemes=("mem",))


class OptionalS3:
    """Stands for the s3 plugin whose factory needs a library that is not installed."""

    @hookimpl
    def register_storages(self, register):  # type: ignore[no-untyped-def]
        def factory(url: StorageURL) -> object:
            import aerobackup_no_such_module  # noqa: F401

            raise AssertionError("unreachable")

        register("s3", factory, schemes=("s3",), extra="s3")


def test_lookup_by_name_and_scheme() -> None:
    rt = Runtime.from_plugins([OneScheme()], names=["one"])
    assert rt.storage("mem://bucket/x") == ("mem-storage", "bucket/x")
    offer = rt.offer("storage", "mem")
    assert (offer.kind, offer.name, offer.plugin) == ("storage", "mem", "one")


def test_unknown_scheme_lists_installed_ones() -> None:
    rt = Runtime.from_plugins([OneScheme()])
    with pytest.raises(UnknownPluginError, match=r"unknown storage for URL scheme 'sftp://' \(installed: mem\)"):
        rt.storage("sftp://host/x")


def test_unknown_name_lists_installed_ones() -> None:
    rt = Runtime.from_plugins([OneScheme()])
    with pytest.raises(UnknownPluginError, match=r"^unknown codec 'asb' \(installed: none\)$"):
        rt.encoder("asb")


def test_known_optional_plugin_names_its_extra() -> None:
    rt = Runtime.from_plugins([OneScheme()])
    with pytest.raises(UnknownPluginError, match=r"install it with: pip install 'aerobackup\[s3\]'"):
        rt.storage("s3://bucket/prefix")


def test_missing_library_names_the_extra() -> None:
    rt = Runtime.from_plugins([OptionalS3()], names=["s3"])
    with pytest.raises(PluginError) as info:
        rt.storage("s3://bucket/prefix")
    assert str(info.value) == (
        "storage 's3' needs the module 'aerobackup_no_such_module': install the extra: pip install 'aerobackup[s3]'"
    )


def test_misspelt_hook_is_refused() -> None:
    class Misspelt:
        @hookimpl
        def register_storage(self, register):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(PluginError, match=r"plugin 'typo': .*register_storage"):
        Runtime.from_plugins([Misspelt()], names=["typo"])


def test_same_name_from_two_distributions_names_both(make_dist: MakeDist) -> None:
    make_dist("aerobackup-fast-s3", "fast_s3", STORAGE_MODULE.format(name="s3x", scheme="s3x"), {"fast": "fast_s3"})
    make_dist("aerobackup-other-s3", "other_s3", STORAGE_MODULE.format(name="s3x", scheme="s3y"), {"other": "other_s3"})
    with pytest.raises(PluginError) as info:
        Runtime.discover({"AEROBACKUP_PLUGINS": "fast,other"})
    message = str(info.value)
    assert message.startswith("storage 's3x' is registered by both ")
    assert "'aerobackup-fast-s3' (plugin 'fast')" in message
    assert "'aerobackup-other-s3' (plugin 'other')" in message


def test_same_scheme_from_two_distributions_names_both(make_dist: MakeDist) -> None:
    make_dist("aerobackup-a", "plug_a", STORAGE_MODULE.format(name="a", scheme="dup"), {"a": "plug_a"})
    make_dist("aerobackup-b", "plug_b", STORAGE_MODULE.format(name="b", scheme="dup"), {"b": "plug_b"})
    with pytest.raises(
        PluginError, match=r"URL scheme 'dup://' is registered by both 'aerobackup-.' .* and 'aerobackup-.'"
    ):
        Runtime.discover({"AEROBACKUP_PLUGINS": "a,b"})


def test_broken_plugin_warns_and_others_keep_working(make_dist: MakeDist) -> None:
    make_dist(
        "aerobackup-broken", "broken_plugin", "raise RuntimeError('kaboom at import')\n", {"broken": "broken_plugin"}
    )
    make_dist(
        "aerobackup-fine", "fine_plugin", STORAGE_MODULE.format(name="fine", scheme="fine"), {"fine": "fine_plugin"}
    )
    with pytest.warns(
        RuntimeWarning, match=r"aerobackup plugin 'broken' \(broken_plugin\) failed to load: RuntimeError: kaboom"
    ):
        rt = Runtime.discover({"AEROBACKUP_PLUGINS": "broken,fine"})
    assert [f.entry_point for f in rt.failures] == ["broken"]
    assert rt.failures[0].distribution == "aerobackup-broken"
    assert rt.storage("fine://x").url.path == "x"  # type: ignore[attr-defined]
    with pytest.raises(UnknownPluginError, match=r"plugin 'broken' failed to load: RuntimeError: kaboom"):
        rt.offer("storage", "broken")


def test_environment_restricts_entry_points(make_dist: MakeDist) -> None:
    make_dist("aerobackup-x", "plug_x", STORAGE_MODULE.format(name="x", scheme="x"), {"x": "plug_x"})
    make_dist("aerobackup-y", "plug_y", STORAGE_MODULE.format(name="y", scheme="y"), {"y": "plug_y"})
    rt = Runtime.discover({"AEROBACKUP_PLUGINS": "y"})
    storages = rt.names("storage")
    assert "y" in storages and "x" not in storages
    everything = Runtime.discover({})
    assert {"x", "y"} <= set(everything.names("storage"))


def test_essential_plugins_always_load() -> None:
    assert ESSENTIAL == ("local", "stdio", "asb")


def test_third_party_package_is_found_and_used(mem2_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.syspath_prepend(str(mem2_site))
    importlib.invalidate_caches()
    rt = Runtime.discover({"AEROBACKUP_PLUGINS": "mem2"})
    offer = rt.offer("storage", "mem2")
    assert (offer.distribution, offer.version, offer.plugin) == ("aerobackup-mem2", "0.3.1", "mem2")
    storage = rt.storage("mem2://bucket/nightly")
    with storage.open_write("test_00000.asb") as out:
        out.write(b"Version 3.1\n")
    with pytest.raises(RuntimeError), storage.open_write("partial.asb") as out:
        out.write(b"half")
        raise RuntimeError("crash mid-file")
    assert [(o.name, o.size) for o in storage.list()] == [("test_00000.asb", 12)]
    assert storage.open_read("test_00000.asb").read() == b"Version 3.1\n"


def test_cli_lists_third_party_plugin(mem2_site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(mem2_site)}
    done = subprocess.run(
        [sys.executable, "-m", "aerobackup.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    mem2 = [r for r in rows if r["name"] == "mem2"]
    assert mem2 == [
        {"kind": "storage", "name": "mem2", "distribution": "aerobackup-mem2", "version": "0.3.1", "plugin": "mem2"}
    ]
