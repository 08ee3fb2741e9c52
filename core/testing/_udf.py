"""Record UDFs (wire-protocol.md §8) run with the ``lupa`` Lua runtime when it is installed.

Without lupa, ``udf-put`` accepts any module and every apply answers result 100 with the
FAILURE text "UDF: lua runtime not available in the emulator (pip install lupa)". With it,
modules are compiled on ``udf-put`` (compile errors answer as the server does) and applied to
one record: ``rec[bin]`` reads and writes bins; ``aerospike:exists/create/update/remove(rec)``
work on scalar bins (integer, float, string, bool, blob).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import msgpack

from ._msg import header, op_bytes

if TYPE_CHECKING:
    from ._msg import Msg
    from ._store import NamespaceStore, Store

__all__ = ["LuaRunner"]

_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")

_PRELUDE = """
aerospike = {}
function aerospike:exists(rec) return __as_exists() end
function aerospike:create(rec) return __as_write(rec) end
function aerospike:update(rec) return __as_write(rec) end
function aerospike:remove(rec) return __as_remove() end
"""


def _lua_module() -> Any:
    try:
        from lupa import lua54
    except ImportError:
        return None
    return lua54


def _to_python(ptype: int, val: bytes) -> Any:
    if ptype == 1:
        return _I64.unpack(val)[0]
    if ptype == 2:
        return _F64.unpack(val)[0]
    if ptype == 3:
        return val.decode("utf-8", errors="replace")
    if ptype == 17:
        return val != b"\x00"
    return val


def _to_particle(v: Any) -> tuple[int, bytes]:
    if v is None:
        return 0, b""
    if isinstance(v, bool):
        return 17, b"\x01" if v else b"\x00"
    if isinstance(v, int):
        return 1, _I64.pack(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 2**63:
            return 1, _I64.pack(int(v))  # Lua 5.4 numbers that are whole come back as integers
        return 2, _F64.pack(v)
    if isinstance(v, str):
        return 3, v.encode()
    if isinstance(v, (bytes, bytearray)):
        return 4, bytes(v)
    return 3, str(v).encode()


def _arg(v: Any) -> Any:
    if isinstance(v, bytes) and v[:1] == b"\x03":
        return v[1:].decode("utf-8", errors="replace")
    if isinstance(v, bytes) and v:
        return v[1:]
    return v


def _load(rt: Any, source: bytes, chunk: str) -> tuple[Any, Any]:
    """Lua's load(): (function, None) or (None, error message)."""
    got = rt.eval("load")(source, chunk)
    if isinstance(got, tuple):
        return got[0], got[1] if len(got) > 1 else None
    return got, None


class LuaRunner:
    """Compiles and applies record UDFs."""

    def __init__(self) -> None:
        self._lua = _lua_module()

    def compile_error(self, name: str, source: bytes) -> tuple[int, str] | None:
        """(line, message) when the module does not compile, else None."""
        if self._lua is None:
            return None
        rt = self._lua.LuaRuntime()
        ok, err = _load(rt, source, "@" + name)
        if ok is not None:
            return None
        text = str(err)
        prefix = name + ":"
        if text.startswith(prefix):
            line, _, msg = text[len(prefix) :].partition(":")
            if line.isdigit():
                return int(line), msg.strip()
        return 0, text

    def apply(self, store: Store, ns: NamespaceStore, digest: bytes, m: Msg) -> bytes:
        """Reply to a record UDF apply."""
        rec = store.get(ns, digest)
        gen = rec.gen if rec is not None else 0
        void = rec.void_time if rec is not None else 0

        def failure(text: str) -> bytes:
            return header(100, gen, void, 0, 0, 1) + op_bytes(1, 3, b"FAILURE", text.encode())

        module = m.fields.get(30, b"").decode("utf-8", errors="replace")
        fname = m.fields.get(31, b"").decode("utf-8", errors="replace")
        source = store.udfs.get(module + ".lua")
        if source is None:
            return failure("UDF: Execution Error 1")
        if self._lua is None:
            return failure("UDF: lua runtime not available in the emulator (pip install lupa)")
        try:
            args = msgpack.unpackb(m.fields.get(32, b"\x90"), raw=True, strict_map_key=False)
        except Exception:  # msgpack raises several types
            return header(4)
        rt = self._lua.LuaRuntime()
        bins = dict(rec.bins) if rec is not None else {}
        state: dict[str, Any] = {"exists": rec is not None, "write": None, "remove": False}

        def as_write(table: Any) -> int:
            state["write"] = {k: table[k] for k in table}
            return 0

        def as_remove() -> int:
            state["remove"] = True
            return 0

        g = rt.globals()
        g.__as_exists = lambda: state["exists"]
        g.__as_write = as_write
        g.__as_remove = as_remove
        rt.execute(_PRELUDE)
        ok, err = _load(rt, source, "@" + module + ".lua")
        if ok is None:
            return failure(str(err))
        try:
            ok()
            fn = g[fname]
            if fn is None:
                return failure("function not found")
            table = rt.table_from({k.decode("utf-8", errors="replace"): _to_python(*v) for k, v in bins.items()})
            result = fn(table, *[_arg(a) for a in (args if isinstance(args, list) else [])])
        except self._lua.LuaError as exc:
            return failure(str(exc).split("\nstack traceback:")[0])
        if state["remove"] and rec is not None:
            with store.lock:
                ns.remove(digest)
        elif state["write"] is not None:
            from ._store import Record

            new_bins = {k.encode(): _to_particle(v) for k, v in state["write"].items() if v is not None}
            new = Record(
                digest,
                rec.set_name if rec is not None else (m.fields.get(1) or b""),
                m.fields.get(2) if 2 in m.fields else (rec.key if rec is not None else None),
                gen + 1,
                void,
                store.clock.now_ns(),
                new_bins,
            )
            with store.lock:
                ns.note_set(new.set_name)
                ns.put(new)
            gen = new.gen
        pt, pv = _to_particle(result)
        return header(0, gen, void, 0, 0, 1) + op_bytes(1, pt, b"SUCCESS", pv)
