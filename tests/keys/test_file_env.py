"""Key derivation (§12.2, §T.8) and the ``file`` and ``env`` key sources."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from aerobackup import EncryptionPolicy, Runtime
from aerobackup.errors import KeySourceError
from aerobackup.keys import derive_aes_key, load_aes_key
from aerobackup.plugins.keys import env, file
from aerobackup.plugins.keys.env import EnvKeySource
from aerobackup.plugins.keys.file import FileKeySource
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

T8 = {
    "aerospike-tools-backup/test_key.pem": "84a1baf3fe4111b646cf2e688b1585018989ad61973ed302a56be2fe8cadb6a2",
    "aerospike-tools-backup/test_key2.pem": "cb1d11829f7916144ed60ebf5eab2793ac51f0bc9231e03c83b7ba61b491294e",
    "backup-go/pkey_test": "8eb5ae0e21dd639146e9e0315b1e7772996884d80488b5f4b2642de845633de8",
    "asbackup-4.5.8/key.pem": "b006a5fb41b3508cd24e608d7bfde2223359b2a36148aa3df6b0992bdaaa4d2b",
}
C_ENV_PKEY = "38a301da90ef9440025afb4b2d58d6dfac23530f66a59edc2de37a986af3adc5"
C_ENV_TEST_KEY_PKCS8 = "2a5ddb43d31769a683517955f041617dd406a53dad088175eeca02c6dea5b7f3"


def pem_body(pem: bytes) -> bytes:
    return b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))


def to_pkcs8(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("rel", sorted(T8))
def test_t8_vectors_through_the_file_source(rel: str, conformance_dir: Path) -> None:
    spec = str(conformance_dir / rel)
    material = FileKeySource().load(spec)
    assert derive_aes_key(material, "aes256", source=spec).hex() == T8[rel]
    assert derive_aes_key(material, "aes128", source=spec).hex() == T8[rel][:32]


def test_test_key_der_starts_as_the_c_unit_test_says(conformance_dir: Path) -> None:
    from aerobackup.keys import pkcs1_der_from_pem

    der = pkcs1_der_from_pem((conformance_dir / "aerospike-tools-backup/test_key.pem").read_bytes(), source="k")
    assert len(der) == 1190 and der[:16].hex() == "308204a2020100028201010" + "0bc519d1d"


@pytest.mark.parametrize("rel", ["aerospike-tools-backup/test_key.pem", "asbackup-4.5.8/key.pem"])
def test_pkcs8_and_pkcs1_give_the_same_key(rel: str, conformance_dir: Path, tmp_path: Path) -> None:
    pem = (conformance_dir / rel).read_bytes()
    assert b"BEGIN RSA PRIVATE KEY" in pem
    p8 = tmp_path / "k8.pem"
    p8.write_bytes(to_pkcs8(pem))
    assert b"BEGIN PRIVATE KEY" in p8.read_bytes()
    key8 = derive_aes_key(FileKeySource().load(str(p8)), "aes256", source="p8")
    assert key8.hex() == T8[rel]


def _ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem() -> bytes:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _encrypted_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pass")
    )


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("bad_test_key.pem", r"unable to parse the private key, make sure it is an RSA key in PEM format"),
        ("cert_test.pem", r"unable to parse the private key"),
        (_ec_pem, r"holds an EC private key; only RSA keys are supported"),
        (_public_pem, r"holds a public key, not an RSA private key"),
        (_encrypted_pem, r"the private key is protected by a passphrase \(not supported\)"),
        (lambda: b"hello\n", r"no PEM block found"),
        (lambda: b"", r"no PEM block found"),
    ],
)
def test_bad_key_files(content, pattern: str, conformance_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if isinstance(content, str):
        folder = "aerospike-tools-backup" if content.startswith("bad") else "backup-go"
        path = conformance_dir / folder / content
    else:
        path = tmp_path / "k.pem"
        path.write_bytes(content())
    with pytest.raises(KeySourceError, match=f"^key file {path}: {pattern}"):
        FileKeySource().load(str(path))


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match=f"^key file {tmp_path}/nope.pem: not found$"):
        FileKeySource().load(str(tmp_path / "nope.pem"))
    with pytest.raises(KeySourceError, match="is a directory"):
        FileKeySource().load(str(tmp_path))


# --- env -------------------------------------------------------------------------------------


def env_key(value: str, mode: str = "aes256", **kw: bool) -> str:
    material = EnvKeySource({"K": value}).load("K")
    return derive_aes_key(material, mode, source='environment variable "K"', **kw).hex()


def test_env_forms_of_one_key_agree(conformance_dir: Path) -> None:
    pem = (conformance_dir / "backup-go/pkey_test").read_bytes()
    expected = T8["backup-go/pkey_test"]
    assert env_key(pem.decode()) == expected  # PEM text (backup-go)
    assert env_key(pem.decode().replace("\n", " ")) == expected  # PEM that lost its newlines
    assert env_key(base64.b64encode(pem).decode()) == expected  # base64 of PEM (backup-go)
    assert env_key(pem_body(pem).decode()) == expected  # base64 of PKCS#8 DER: backup-go's rule wins
    assert env_key(base64.b64encode(pem_body(pem)).decode()) == expected  # double base64 (backup-go)


def test_env_c_compat_hashes_the_decoded_bytes(conformance_dir: Path) -> None:
    body = pem_body((conformance_dir / "backup-go/pkey_test").read_bytes()).decode()
    assert env_key(body, c_compat=True) == C_ENV_PKEY  # observed with asrestore 4.5.8 (§T.8)
    p8 = pem_body(to_pkcs8((conformance_dir / "aerospike-tools-backup/test_key.pem").read_bytes())).decode()
    assert env_key(p8, c_compat=True) == C_ENV_TEST_KEY_PKCS8
    assert env_key(p8) == T8["aerospike-tools-backup/test_key.pem"]


def test_env_pkcs1_body_agrees_in_both_rules(conformance_dir: Path) -> None:
    body = pem_body((conformance_dir / "aerospike-tools-backup/test_key.pem").read_bytes()).decode()
    assert env_key(body) == env_key(body, c_compat=True) == T8["aerospike-tools-backup/test_key.pem"]


def test_env_raw_material_is_hashed_as_the_c_tools_do() -> None:
    import hashlib

    raw = b"not a key, just 32 bytes of data"
    assert env_key(base64.b64encode(raw).decode(), "aes128") == hashlib.sha256(raw).hexdigest()[:32]


@pytest.mark.parametrize(
    ("environ", "pattern"),
    [
        ({}, r'^environment variable "K" not found$'),
        ({"K": "  "}, r'^environment variable "K" is empty$'),
    ],
)
def test_env_missing_or_empty(environ: dict[str, str], pattern: str) -> None:
    with pytest.raises(KeySourceError, match=pattern):
        EnvKeySource(environ).load("K")


def test_env_not_base64() -> None:
    with pytest.raises(KeySourceError, match=r'^environment variable "K": is neither PEM text nor base64 of a key$'):
        env_key("not base64!")


def test_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROBACKUP_TEST_KEY", base64.b64encode(b"x" * 10).decode())
    assert EnvKeySource().load("AEROBACKUP_TEST_KEY") == base64.b64encode(b"x" * 10)


# --- the policy front door -------------------------------------------------------------------


def test_load_aes_key_from_policy(conformance_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = Runtime.from_plugins([file, env])
    path = str(conformance_dir / "asbackup-4.5.8/key.pem")
    key = load_aes_key(EncryptionPolicy(mode="aes128", key_file=path), rt)
    assert key is not None and key.hex() == T8["asbackup-4.5.8/key.pem"][:32]
    monkeypatch.setenv("AEROBACKUP_TEST_KEY", (conformance_dir / "backup-go/pkey_test").read_text())
    key = load_aes_key(EncryptionPolicy(mode="aes256", key_env="AEROBACKUP_TEST_KEY"), rt)
    assert key is not None and key.hex() == T8["backup-go/pkey_test"]
    assert load_aes_key(EncryptionPolicy(), rt) is None


def test_sources_never_show_material(conformance_dir: Path) -> None:
    src = FileKeySource()
    src.load(str(conformance_dir / "asbackup-4.5.8/key.pem"))
    assert repr(src) == "FileKeySource()" and repr(EnvKeySource({"K": "secret"})) == "EnvKeySource()"
