"""Generate docs/configuration.md from the config dataclasses (their docstrings, fields, defaults
and the comment beside each field). Run ``python -m tests.core.config_docs > docs/configuration.md``;
tests/core/test_docs.py fails when the file is out of date."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize

import aerobackup.config as config_module

CLASSES = ("BackupConfig", "RestoreConfig", "ClusterConfig", "TlsConfig", "CompressionPolicy",
           "EncryptionPolicy", "SecretAgentConfig", "RestoreNamespaceConfig", "PartitionFilter", "RetryPolicy")


def _comments(source: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _default(f: dataclasses.Field) -> str:  # type: ignore[type-arg]
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return f"{type(value).__name__}()" if dataclasses.is_dataclass(value) else repr(value)
    return "required"


def render() -> str:
    source = inspect.getsource(config_module)
    comments = _comments(source)
    tree = ast.parse(source)
    lines = [
        "# Configuration reference",
        "",
        "Generated from `core/config.py` by `python -m tests.core.config_docs`; a test keeps it in sync.",
        "Keys load from YAML/TOML/dicts in snake_case or kebab-case (`parallel_read` or `parallel-read`);",
        "unknown keys are errors. Errors name the dotted field, e.g. `backup.parallel_read: must be at least 1`.",
        "",
    ]
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name not in CLASSES:
            continue
        cls = getattr(config_module, node.name)
        lines += [f"## {node.name}", "", inspect.getdoc(cls) or "", "",
                  "| field | type | default | notes |", "|---|---|---|---|"]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id in fields:
                f = fields[stmt.target.id]
                kind = ast.unparse(stmt.annotation).replace("|", "\\|")
                note = comments.get(stmt.lineno, "").replace("|", "\\|")
                lines.append(f"| `{f.name}` | `{kind}` | `{_default(f)}` | {note} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
