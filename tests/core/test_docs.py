"""Docs that must not drift from the code."""

from __future__ import annotations

import dataclasses

import aerobackup.config as config_module

from tests.core.config_docs import CLASSES, render
from tests.paths import REPO


def test_configuration_reference_is_current() -> None:
    current = (REPO / "docs" / "configuration.md").read_text()
    assert current == render(), (
        "docs/configuration.md is stale: python -m tests.core.config_docs > docs/configuration.md"
    )


def test_every_config_field_is_documented() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    for name in CLASSES:
        for f in dataclasses.fields(getattr(config_module, name)):
            assert f"| `{f.name}` |" in text, f"{name}.{f.name} missing from docs/configuration.md"


def test_readme_has_the_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "aerobackup demo" in readme
    ci = (REPO / ".ci" / "run").read_text()
    test_line = next(line for line in readme.splitlines() if "pytest" in line and "pip install" in line)
    assert test_line.strip().strip("`") in ci, "README's test command must be what .ci/run runs"
