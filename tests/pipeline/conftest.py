"""Fixtures for the pipeline tests: an emulator loaded with every particle type through the
official client (and raw particles for what the client cannot write), and helpers that decode
produced backups independently of the pipeline (the codec's decoder, zstandard and
cryptography called directly)."""

from __future__ import annotations

import hashlib
import io
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aerospike
import msgpack
import pytest
from aerobackup import BackupConfig, Client, ClusterConfig, Runtime
from aerobackup.model import UDF, Record, RecordBatch, SIndex
from aerobackup.plugins.codecs.asb_decode import AsbDecoder
from aerobackup.protocols import DecoderOptions
from aerobackup.testing import Emulator
from aerospike_helpers.operations import hll_operations as hll

UDF_SOURCE = b"function hello(rec)\n  return 'hi'\nend\n"

# Language-typed blobs and other particles the official client cannot write (conformance model).
RAW_PARTICLES = [
    ("java", 7, b"\xac\xed\x00\x05t\x00\x03abc"),
    ("csharp", 8, b"\x00\x01\x02csharp"),
    ("python", 9, b"\x80\x04\x95\x05"),
    ("ruby", 10, b"\x04\x08I\"\x06a"),
    ("php", 11, b"s:1:\"a\";"),
    ("erlang", 12, b"\x83h\x02d\x00"),
    ("str_nul", 3, b"a\x00b\x00"),
    ("list_ordered", 20, bytes([0x93, 0xC7, 0x00, 0x01, 0x01, 0x02])),  # ordered-list ext header
    ("map_kordered", 19, bytes([0x82, 0xC7, 0x00, 0x01, 0xC0, 0xA2, 0x03, 0x61, 0x01])),
]


def load_every_type(srv: Emulator, client: Any, *, namespace: str = "test") -> int:
    """Write records of every particle type; returns the number of records written."""
    wp = {"key": aerospike.POLICY_KEY_SEND}
    values: list[tuple[Any, dict[str, Any]]] = [
        ("int_max", {"v": 2**63 - 1}), ("int_min", {"v": -(2**63)}), ("int_0", {"v": 0}),
        ("f_nan", {"v": math.nan}), ("f_negzero", {"v": -0.0}), ("f_inf", {"v": math.inf}),
        ("f_sub", {"v": 5e-324}), ("f_tenth", {"v": 0.1}),
        ("s_empty", {"v": ""}), ("s_utf8", {"v": "héllo 😀"}), ("s_ctrl", {"v": "a\nb\r\tc\\d"}),
        ("s_big", {"v": "x" * 20000}), ("s_spaces", {"v": "  a:b, c  "}),
        ("b_empty", {"v": bytearray(b"")}), ("b_all", {"v": bytearray(range(256))}),
        ("b_big", {"v": bytearray(b"\x00\n\\ " * 17500)}),
        ("bool_t", {"v": True}), ("bool_f", {"v": False}),
        ("list_mixed", {"v": [1, "a", None, 2.5, [1, [2]], {"k": 1}]}), ("list_empty", {"v": []}),
        ("map_str", {"v": {"a": 1, "b": [1, 2]}}), ("map_int", {"v": {1: "a", -5: "b"}}), ("map_empty", {"v": {}}),
        ("geo_point", {"v": aerospike.GeoJSON({"type": "Point", "coordinates": [1.5, 2.5]})}),
        ("multi", {"i": 1, "s": "two", "f": 3.0, "bn space": 4, "b\\slash": 5, "nl\nname": 6, "ünï": 7,
                   "fifteen_chars__": 8}),
        ("ttl_day", {"v": 1}), ("ttl_month", {"v": 2}),
        (12345, {"v": "int key"}), (-7, {"v": "negative key"}),
        (bytearray(b"\x00\x01bytes key\n"), {"v": "bytes key"}),
    ]
    n = 0
    for key, bins in values:
        ttl = 86400 if key == "ttl_day" else 30 * 86400 if key == "ttl_month" else aerospike.TTL_NEVER_EXPIRE
        client.put((namespace, "types", key), bins, policy={**wp, "ttl": ttl})
        n += 1
    for _ in range(2):
        client.put((namespace, "types", "gen3"), {"v": 3}, policy=wp)
    client.put((namespace, "types", "gen3"), {"v": 3}, policy=wp)
    n += 1
    client.put((namespace, "types2", "other"), {"v": 1}, policy=wp)
    client.put((namespace, "", "noset"), {"v": 2}, policy=wp)
    client.put((namespace, "types", "nokey"), {"v": 9})  # digest only: no stored key
    n += 3
    try:
        client.operate((namespace, "types", "hll"), [hll.hll_add("h", ["a", "b", "c"], 8)])
    except aerospike.exception.AerospikeError:  # emulator without HLL ops: store an HLL particle
        srv.put_raw(namespace, "types", "hll", [("h", 18, bytes([0, 8, 0]) + bytes(2**8 * 6 // 8))])
    n += 1
    for name, ptype, data in RAW_PARTICLES:
        srv.put_raw(namespace, "raw", f"raw_{name}", [("lb", ptype, data)])
        n += 1
    # through the info command the client's index_*_create send (without their 2 s build poll)
    for set_name, name, itype, bin_name, btype in (
        ("types", "idx_int", "default", "v", "numeric"), ("types", "idx_str", "default", "s", "string"),
        ("types", "idx_geo", "default", "v", "geo2dsphere"), ("types", "idx_list", "list", "v", "numeric"),
        ("types2", "idx_mapkeys", "mapkeys", "v", "string"),
    ):
        answer = client.info_random_node(
            f"sindex-create:ns={namespace};set={set_name};indexname={name};indextype={itype};"
            f"indexdata={bin_name},{btype}")
        assert answer.strip().endswith("ok"), answer
    return n


def put_udf(client: Any, tmp_path: Path) -> None:
    """Register the UDF with the info command ``udf-put`` (what ``udf_put`` sends, without its
    wait for propagation)."""
    import base64

    content = base64.b64encode(UDF_SOURCE).decode()
    answer = client.info_random_node(
        f"udf-put:filename=hello.lua;content={content};content-len={len(content)};udf-type=LUA;")
    assert "error" not in answer.lower(), answer


def geo_text(t: int, v: bytes) -> tuple[int, bytes]:
    """GeoJSON particles: only the JSON text is backed up (the server computes the cell ids,
    asb-format §7.3), so compare that: flags (1), cell count (2, big-endian), cells, text."""
    if t != 23:
        return t, v
    ncells = int.from_bytes(v[1:3], "big")
    return t, v[3 + 8 * ncells :]


def raw_records(srv: Emulator, namespace: str, set_name: str | None = None) -> dict[bytes, tuple[Any, ...]]:
    """digest -> (set, key, generation, void_time, bins as {name: (type, bytes)}) from the store."""
    return {
        r.digest: (r.set_name, r.key, r.generation, r.void_time, {n: geo_text(t, v) for n, t, v in r.bins})
        for r in srv.records(namespace, set_name)
    }


def as_tuple(rec: Record) -> tuple[Any, ...]:
    key = None if rec.key is None else (rec.key.particle_type, rec.key.data)
    return rec.set, key, rec.generation, rec.void_time, {b.name: geo_text(b.particle_type, b.data) for b in rec.bins}


def decode_stream(data: bytes, name: str = "F") -> tuple[list[Record], list[SIndex], list[UDF]]:
    recs: list[Record] = []
    six: list[SIndex] = []
    udfs: list[UDF] = []
    for item in AsbDecoder(DecoderOptions(file=name)).decode(io.BytesIO(data)):
        if isinstance(item, RecordBatch):
            recs.extend(item.records())
        elif isinstance(item, SIndex):
            six.append(item)
        elif isinstance(item, UDF):
            udfs.append(item)
    return recs, six, udfs


def aes_ctr_decrypt(data: bytes, key_pem: bytes, bits: int) -> bytes:
    """Independent AES-CTR reader (asb-format §12.3) with `cryptography` called directly."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key_obj = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key_obj, rsa.RSAPrivateKey)
    der = key_obj.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    key = hashlib.sha256(der).digest()[: bits // 8]
    ecb = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    iv = ecb.update(data[:16]) + ecb.finalize()
    counter = (int.from_bytes(iv, "big") + 1) % (1 << 128)
    ctr = Cipher(algorithms.AES(key), modes.CTR(counter.to_bytes(16, "big"))).decryptor()
    return ctr.update(data[16:]) + ctr.finalize()


def zstd_decompress(data: bytes) -> bytes:
    import zstandard

    out = io.BytesIO()
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as r:
        while chunk := r.read(1 << 16):
            out.write(chunk)
    return out.getvalue()


def read_backup(folder: Path, suffix: str = ".asb") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.endswith(suffix)}


def decode_backup(files: dict[str, bytes]) -> tuple[dict[bytes, Record], list[SIndex], list[UDF]]:
    """Every record of a backup by digest; fails if a digest appears twice."""
    out: dict[bytes, Record] = {}
    six: list[SIndex] = []
    udfs: list[UDF] = []
    for name, data in files.items():
        recs, s, u = decode_stream(data, name)
        six += s
        udfs += u
        for r in recs:
            assert r.digest not in out, f"record {r.digest.hex()} twice (again in {name})"
            out[r.digest] = r
    return out, six, udfs


@pytest.fixture
def server(aerospike_server: Emulator) -> Emulator:
    return aerospike_server


@pytest.fixture
def client(aerospike_server: Emulator) -> Iterator[Client]:
    c = Client(cluster=ClusterConfig(hosts=(f"{aerospike_server.host}:{aerospike_server.port}",)))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def ac(aerospike_client: Any) -> Any:
    return aerospike_client


@pytest.fixture
def loaded(server: Emulator, ac: Any, tmp_path: Path) -> int:
    n = load_every_type(server, ac)
    put_udf(ac, tmp_path)
    return n


def many(server: Emulator, n: int, *, namespace: str = "test", set_name: str = "many", bins: int = 3) -> None:
    """n raw records (keys 0..n-1) with a few small bins, fast (no client round trips)."""
    for i in range(n):
        server.put_raw(namespace, set_name, i, [(f"b{j}", 1, struct.pack(">q", i * 10 + j)) for j in range(bins)])


_ = (BackupConfig, Runtime, msgpack)
