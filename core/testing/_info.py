"""Info protocol of the emulator (wire-protocol.md §2): one answer per request line.

Answers are shaped like a CE 8.1.2.0 server's (the wire traces are the reference): values that
depend on a run (node id, statistics) are plausible rather than real; everything the traces
compare byte for byte is reproduced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._info_data import NS_CONFIG
from ._store import CL_EPOCH, N_PARTITIONS, NamespaceStore

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["BUILD", "EDITION", "answer_info", "replicas_bitmap"]

BUILD = "8.1.2.0"
EDITION = "Aerospike Community Edition"
_SHA = "05b91c64f5fa7836a36e52e3797da34dc0325649"
_FEATURES = (
    "batch-any;batch-index;blob-bits;cdt-index;cdt-list;cdt-map;cluster-stable;float;geo;"
    "sindex-exists;peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;replicas-all;"
    "replicas-master;replicas-max;truncate-namespace;udf"
)
_EE_ONLY = frozenset(
    {
        "alumni-tls-alt", "alumni-tls-std", "feature-key", "masking", "masking-show",
        "peers-tls-alt", "peers-tls-std", "quiesce", "quiesce-undo", "rack-ids", "racks",
        "revive", "roster", "roster-set", "service-tls-alt", "service-tls-std", "xdr-dc-state",
        "xdr-get-filter", "xdr-set-filter",
    }
)  # fmt: skip
_UNRECOGNIZED = "ERROR:4:unrecognized command"
_SINDEX_TYPES = ("numeric", "string", "blob", "geo2dsphere")
_CTX_NAMES = {
    0x10: "list_index", 0x11: "list_rank", 0x13: "list_value",
    0x20: "map_index", 0x21: "map_rank", 0x22: "map_key", 0x23: "map_value",
}  # fmt: skip


def replicas_bitmap(owned: list[bool]) -> str:
    """Base64 (with padding) of the 4096-bit ownership map, MSB first (§2.2)."""
    bits = bytearray(N_PARTITIONS // 8)
    for p, mine in enumerate(owned):
        if mine:
            bits[p >> 3] |= 0x80 >> (p & 7)
    return base64.b64encode(bytes(bits)).decode()


def _params(args: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in args.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def _set_usage(em: Emulator, ns: NamespaceStore) -> dict[bytes, tuple[int, int]]:
    """Objects and stored bytes per set of this node's records, in one pass."""
    usage: dict[bytes, list[int]] = {}
    for rec in em.store_records(ns):
        u = usage.get(rec.set_name)
        if u is None:
            u = usage[rec.set_name] = [0, 0]
        u[0] += 1
        u[1] += rec.storage_size()
    return {k: (v[0], v[1]) for k, v in usage.items()}


def _set_props(ns: NamespaceStore, set_name: bytes, em: Emulator, usage: tuple[int, int]) -> str:
    objects, used = usage
    info = ns.sets.get(set_name)
    tlut = info.truncate_lut // 1_000_000 - CL_EPOCH * 1000 if info and info.truncate_lut else 0
    nidx = sum(
        1 for (n, _i), d in em.store.sindexes.items() if n == ns.name and d["set"] == set_name.decode(errors="replace")
    )
    return (
        f"objects={objects}:tombstones=0:data_used_bytes={used}:truncate_lut={tlut}:"
        f"sindexes={nidx}:index_populating=false:truncating=false:default-read-touch-ttl-pct=0:"
        f"default-ttl={ns.default_ttl}:disable-eviction=false:enable-index=false:"
        "stop-writes-count=0:stop-writes-size=0;"
    )


def _sets(em: Emulator, args: list[str]) -> str:
    store = em.store
    names = [args[0]] if args else list(store.namespaces)
    out = []
    for name in names:
        ns = store.namespaces.get(name)
        if ns is None:
            return "ns_type=unknown"
        usage = _set_usage(em, ns)
        if len(args) > 1:
            s = args[1].encode()
            return _set_props(ns, s, em, usage.get(s, (0, 0))) if s in ns.sets else ""
        for s in list(ns.sets):
            props = _set_props(ns, s, em, usage.get(s, (0, 0)))
            out.append(f"ns={ns.name}:set={s.decode(errors='replace')}:" + props)
    return "".join(out)


def _ctx_text(ctx_b64: str) -> str:
    import msgpack

    try:
        items = msgpack.unpackb(base64.b64decode(ctx_b64), raw=True)
        parts = []
        for i in range(0, len(items) - 1, 2):
            v = items[i + 1]
            shown = f"<string#{len(v) - 1}>" if isinstance(v, bytes) else str(v)
            parts.append(f"[{_CTX_NAMES.get(items[i] & 0x3F, 'ctx')}({shown})]")
        return "[" + "".join(parts)
    except Exception:  # a context we cannot render is still listed
        return ctx_b64


def _sindex_entry(d: dict[str, str], b64: bool) -> str:
    ctx = d.get("context") or ""
    exp = d.get("exp") or ""
    if d["indextype"] == "set":
        return f"ns={d['ns']}:indexname={d['name']}:set={d['set'] or 'null'}:indextype=set"
    return (
        f"ns={d['ns']}:indexname={d['name']}:set={d['set'] or 'null'}:"
        f"bin={d['bin'] or 'null'}:type={d['type']}:indextype={d['indextype']}:"
        f"context={(ctx if b64 else _ctx_text(ctx)) if ctx else 'null'}:"
        f"exp={exp if exp else 'null'}:state=RW"
    )


def _sindex_create(em: Emulator, p: dict[str, str]) -> str:
    ns_name = p.get("namespace", p.get("ns"))
    if ns_name is None:
        return "ERROR:4:missing 'namespace'"
    name = p.get("indexname")
    if not name:
        return "ERROR:4:missing 'indexname'"
    indextype = p.get("indextype", "default").lower()
    d = {"ns": ns_name, "name": name, "set": p.get("set", ""), "indextype": indextype}
    if indextype != "set":
        if "indexdata" in p and "type" in p:
            return "ERROR:4:both 'indexdata' and 'type' are present"
        if "indexdata" in p:
            parts = p["indexdata"].split(",")
            if len(parts) != 2:
                return "ERROR:4:bad 'indexdata'"
            d["bin"], d["type"] = parts[0], parts[1].lower()
        elif "type" in p:
            d["type"] = p["type"].lower()
            d["bin"] = p.get("bin", "")
        else:
            return "ERROR:4:both 'indexdata' and 'type' are missing"
        if d["type"] not in _SINDEX_TYPES:
            return "ERROR:4:bad 'type' - must be one of 'numeric', 'string', 'blob', 'geo2dsphere'"
        if "exp" in p and "context" in p:
            return "ERROR:4:both 'context' and 'exp' are present"
        if not d["bin"] and "exp" not in p:
            return "ERROR:4:missing 'bin'"
        d["context"] = p.get("context", "")
        d["exp"] = p.get("exp", "")
    ns = em.store.namespaces.get(ns_name)
    if ns is None:
        return "ok"  # observed: the real server accepts and ignores it
    with em.store.lock:
        old = em.store.sindexes.get((ns_name, name))
        if old is not None and old != d:
            return "ERROR:200:'indexname' already exists with different definition"
        em.store.sindexes[(ns_name, name)] = d
        ns.note_set(d["set"].encode())
    return "ok"


def _udf_put(em: Emulator, p: dict[str, str]) -> str:
    name = p.get("filename", "")
    if not name or "." not in name:
        return "error=invalid_filename"
    content = p.get("content")
    if content is None or "content-len" not in p:
        return "error=invalid_content_len"
    try:
        clen = int(p["content-len"])
    except ValueError:
        return "error=invalid_content_len"
    if clen % 4:
        return "error=invalid_content_len"
    if clen != len(content):
        return "error=invalid_content"
    if p.get("udf-type", "LUA") != "LUA":
        return "error=invalid_udf_type"
    try:
        source = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return "error=invalid_base64_content"
    if len(source) > 1024 * 1024:
        return "error=invalid_udf_content_len,>1M"
    problem = em.lua_compile_error(name, source)
    if problem is not None:
        line, message = problem
        b64 = base64.b64encode(message.encode()).decode()
        return f"error=compile_error;file={name};line={line};message={b64}"
    with em.store.lock:
        em.store.udfs[name] = source
    return "ok"


def _parse_lut(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _truncate(em: Emulator, p: dict[str, str], whole_ns: bool) -> str:
    ns_name = p.get("namespace")
    if ns_name is None:
        return "ERROR:20:missing 'namespace'"
    set_name = p.get("set")
    if whole_ns and set_name is not None:
        return "ERROR:4:unexpected set name"
    if not whole_ns and not set_name:
        return "ERROR:4:missing 'set'"
    now_ns = em.store.clock.now_ns()
    lut = now_ns
    if "lut" in p:
        got = _parse_lut(p["lut"])
        if got is None:
            return "ERROR:4:bad 'lut'"
        if got < CL_EPOCH * 1_000_000_000 + 1_000_000:
            return "ERROR:4:would truncate to 0"
        if got > now_ns:
            return "ERROR:4:would truncate in the future"
        lut = got
    ns = em.store.namespaces.get(ns_name)
    if ns is not None:
        em.store.truncate(ns, None if whole_ns else set_name.encode() if set_name else None, lut)
    return "ok"


def _statistics(em: Emulator) -> str:
    objects = sum(1 for ns in em.store.namespaces.values() for _ in em.store_records(ns))
    return (
        f"failed_best_practices=false;cluster_size={em.cluster_size};"
        f"cluster_key={em.cluster_key};cluster_generation=1;cluster_principal={em.node_name};"
        "cluster_min_compatibility_id=15;cluster_max_compatibility_id=15;cluster_integrity=true;"
        f"cluster_is_member=true;uptime={int(em.uptime())};objects={objects};tombstones=0;"
        f"client_connections={em.connection_count()};batch_index_initiate=0;"
        "migrate_allowed=true;migrate_partitions_remaining=0"
    )


def _namespace_stats(em: Emulator, ns: NamespaceStore) -> str:
    objects = sum(1 for _ in em.store_records(ns))
    tlut = ns.truncate_lut // 1_000_000 - CL_EPOCH * 1000 if ns.truncate_lut else 0
    return (
        f"ns_cluster_size={em.cluster_size};effective_replication_factor=1;objects={objects};"
        f"tombstones=0;xdr_tombstones=0;master_objects={objects};stop_writes="
        f"{'true' if em.faults.stop_writes else 'false'};current_time={em.store.clock.cl_seconds()};"
        f"truncate_lut={tlut};" + NS_CONFIG.format(default_ttl=ns.default_ttl)
    )


def _summary(em: Emulator) -> str:
    rows = [
        ("features", _FEATURES), ("node", em.node_name), ("compatibility-id", "15"),
        ("edition", EDITION), ("build_ee_sha", ""), ("build_sha", _SHA), ("build_arch", "x86_64"),
        ("build_time", "Tue Dec  1 22:21:00 UTC 2026"), ("build_os", "debian12"),
        ("build", BUILD), ("version", f"{EDITION} build {BUILD}"),
        ("statistics", _statistics(em)), ("services-alumni", ""), ("services", em.services()),
        ("partition-generation", str(em.partition_generation)),
    ]  # fmt: skip
    return "".join(f"{k}\t{v}\n" for k, v in rows)


def _one(em: Emulator, line: str) -> str:
    """The value answered for one request line."""
    cut = len(line)
    for sep in "/:;":
        i = line.find(sep)
        if i != -1:
            cut = min(cut, i)
    name = line[:cut]
    if not 1 <= len(name) < 32:
        return _UNRECOGNIZED
    rest = line[cut + 1 :] if cut < len(line) else ""
    args = rest.split("/") if cut < len(line) and line[cut] == "/" else []
    p = _params(rest) if cut < len(line) and line[cut] in ":;" else {}
    store = em.store
    simple: dict[str, Callable[[], str]] = {
        "node": lambda: em.node_name,
        "build": lambda: BUILD,
        "edition": lambda: EDITION,
        "version": lambda: f"{EDITION} build {BUILD}",
        "release": lambda: f"edition={EDITION};version={BUILD};os=debian12;arch=x86_64;sha={_SHA}",
        "status": lambda: "ok",
        "features": lambda: _FEATURES,
        "partitions": lambda: str(N_PARTITIONS),
        "compatibility-id": lambda: "15",
        "partition-generation": lambda: str(em.partition_generation),
        "peers-generation": lambda: str(em.peers_generation),
        "rebalance-generation": lambda: str(em.partition_generation),
        "services": em.services,
        "services-alumni": lambda: "",
        "services-alternate": lambda: "",
        "peers-clear-std": em.peers_text,
        "peers-clear-alt": em.peers_text,
        "alumni-clear-std": lambda: f"{em.peers_generation},3000,[]",
        "alumni-clear-alt": lambda: f"{em.peers_generation},3000,[]",
        "service-clear-std": lambda: f"{em.host}:{em.port}",
        "service-clear-alt": lambda: f"{em.host}:{em.port}",
        "namespaces": lambda: ";".join(store.namespaces),
        "statistics": lambda: _statistics(em),
        "cluster-name": lambda: em.cluster_name or "null",
        "user-agent-set": lambda: "ok",
        "udf-list": lambda: "".join(
            f"filename={n},hash={hashlib.sha1(s).hexdigest()},type=LUA;" for n, s in store.udfs.items()
        ),
        "query-show": lambda: "",
        "jobs": lambda: "",
        "get-sl": lambda: "",
        "smd-show": lambda: "",
        "health-outliers": lambda: "",
        "best-practices": lambda: "",
        "latencies": lambda: "",
    }
    fn = simple.get(name)
    if fn is not None:
        return fn()
    if name in _EE_ONLY:
        return "ERROR:25:enterprise only"
    if name in ("replicas", "replicas-all", "replicas-master"):
        return em.replicas_text(name)
    if name == "namespace":
        ns = store.namespaces.get(args[0]) if args else None
        return "type=unknown" if ns is None else _namespace_stats(em, ns)
    if name == "sets":
        return _sets(em, args)
    if name == "get-config":
        ctx = p.get("context", "")
        if ctx == "namespace":
            ns = store.namespaces.get(p.get("id", p.get("namespace", "")))
            if ns is None:
                return "ERROR:4:namespace not found"
            return NS_CONFIG.format(default_ttl=ns.default_ttl)
        if ctx in ("xdr", "security"):
            return ""
        if ctx == "service":
            return "batch-index-threads=2;batch-max-requests=0;proto-fd-max=15000;service-threads=2"
        return ""
    if name == "get-stats":
        return ""
    if name == "set-config":
        ctx = p.get("context", "")
        if ctx in ("xdr", "security"):
            return "ERROR:25:enterprise only"
        return "ERROR:4:invalid set-config parameter"
    if name == "cluster-stable":
        if "size" in p and not p["size"].isdigit():
            return "ERROR:4:bad size"
        if "size" in p and int(p["size"]) != em.cluster_size:
            return "ERROR:7:cluster not specified size"
        if p.get("ignore-migrations", "false") not in ("true", "false"):
            return "ERROR:4:bad ignore migrations"
        if "namespace" in p and p["namespace"] not in store.namespaces:
            return "ERROR:20:namespace not found on node"
        return em.cluster_key
    if name == "sindex-list":
        b64 = p.get("b64", "false")
        if b64 not in ("true", "false"):
            return "ERROR:4:bad b64"
        want = p.get("namespace", p.get("ns"))
        return ";".join(
            _sindex_entry(d, b64 == "true") for (n, _i), d in list(store.sindexes.items()) if want is None or n == want
        )
    if name == "sindex-create":
        return _sindex_create(em, p)
    if name == "sindex-delete":
        with store.lock:
            store.sindexes.pop((p.get("namespace", p.get("ns", "")), p.get("indexname", "")), None)
        return "ok"
    if name in ("sindex-stat", "sindex"):
        key = (p.get("namespace", args[0] if args else ""), p.get("indexname", args[1] if len(args) > 1 else ""))
        if key not in store.sindexes:
            return "ERROR:201:no index"
        return "entries=0;used_bytes=0;entries_per_bval=0;entries_per_rec=0;load_pct=100;load_time=0;stat_gc_recs=0"
    if name == "udf-put":
        return _udf_put(em, p)
    if name == "udf-get":
        fname = p.get("filename", "")
        if not fname:
            return "error=invalid_filename"
        src = store.udfs.get(fname)
        if src is None:
            return "error=not_found"
        return f"type=LUA;content={base64.b64encode(src).decode()};"
    if name == "udf-remove":
        fname = p.get("filename", "")
        if not fname:
            return "error=invalid_filename"
        with store.lock:
            store.udfs.pop(fname, None)
        return "ok"
    if name == "truncate":
        return _truncate(em, p, whole_ns=False)
    if name == "truncate-namespace":
        return _truncate(em, p, whole_ns=True)
    if name in ("truncate-undo", "truncate-namespace-undo"):
        return "ok" if "namespace" in p else "ERROR:20:missing 'namespace'"
    return _UNRECOGNIZED


def answer_info(em: Emulator, body: bytes) -> bytes:
    """Reply body for an info request body."""
    if not body:
        return _summary(em).encode()
    text = body.decode("utf-8", errors="replace")
    last = text.rfind("\n")
    if last == -1:
        return b""
    out = []
    for line in text[:last].split("\n"):
        out.append(f"{line}\t{_one(em, line)}\n")
    return "".join(out).encode("utf-8", errors="replace")
