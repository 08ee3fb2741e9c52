"""Turning key material into an AES key (asb-format §12.2): the one place that does it.

Key sources (``file``, ``env``, ``secret-agent`` plugins) return the material *as stored*: the
bytes of a PEM file, the text of an environment variable, the value of a secret. This module
decides what that material is and derives the AES key from it, so every source follows the same
rules and the pipeline needs no plugin to do it:

1. text containing ``-----BEGIN`` is PEM: an RSA private key (PKCS#1 or PKCS#8, no passphrase)
   is re-encoded as PKCS#1 DER — both reference tools hash that form, so a PKCS#1 and a PKCS#8
   file of one key give one AES key;
2. otherwise the material is base64 text (the C tools' ``--encryption-key-env`` rule); the
   decoded bytes are PEM (backup-go accepts base64 of PEM), or base64 again (backup-go's double
   base64), or DER;
3. DER of an RSA key in PKCS#8 form is re-encoded as PKCS#1 (backup-go's rule, the default).
   ``c_compat=True`` hashes the decoded bytes as they are, which is what asbackup does with
   ``--encryption-key-env`` (keys differ for a PKCS#8 body; asb-format §T.8);
4. decoded bytes that are no key at all are hashed as they are (the C rule; backup-go refuses).

Key = SHA-256(material); AES-128 takes the first 16 bytes, AES-256 all 32.

Key material never appears in an error, a log line or a repr: errors name only the source.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from typing import TYPE_CHECKING

from .errors import KeySourceError

if TYPE_CHECKING:
    from .config import EncryptionPolicy, SecretAgentConfig
    from .runtime import Runtime

__all__ = [
    "KEY_SIZES",
    "aes_key_candidates",
    "derive_aes_key",
    "key_size",
    "load_aes_key",
    "load_aes_keys",
    "pkcs1_der_from_pem",
]

KEY_SIZES = {"aes128": 16, "aes256": 32}

_PEM_BEGIN = b"-----BEGIN"
_B64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


def key_size(mode: str) -> int:
    """Bytes of AES key for an encryption mode (``aes128`` → 16, ``aes256`` → 32)."""
    try:
        return KEY_SIZES[mode.lower().replace("-", "")]
    except KeyError:
        raise KeySourceError(f"unknown encryption mode {mode!r} (use aes128 or aes256)") from None


def derive_aes_key(material: bytes, mode: str, *, source: str, c_compat: bool = False) -> bytes:
    """The AES key for ``mode`` from key material as a key source returned it.

    ``source`` names where the material came from (``key file k.pem``), for errors.
    ``c_compat`` hashes base64-decoded material exactly as asbackup's ``--encryption-key-env``
    does instead of re-encoding an RSA key found in it (see the module docstring).
    """
    size = key_size(mode)
    der = _key_der(material, source=source, c_compat=c_compat)
    return hashlib.sha256(der).digest()[:size]


def load_aes_key(
    policy: EncryptionPolicy,
    runtime: Runtime,
    *,
    secret_agent: SecretAgentConfig | None = None,
    c_compat: bool = False,
) -> bytes | None:
    """The AES key an encryption policy asks for, or None when it does not encrypt.

    Loads the material through the key-source plugin the policy names (``key_file`` → ``file``,
    ``key_env`` → ``env``, ``key_secret`` → ``secret-agent``) and derives the key. A
    ``key_file`` value ``secrets:…`` is fetched from the agent as PEM content (the C rule).
    ``c_compat`` applies to ``key_env`` only (see ``derive_aes_key``).
    """
    loaded = _load_material(policy, runtime, secret_agent)
    if loaded is None:
        return None
    material, what, source = loaded
    return derive_aes_key(material, policy.mode, source=what, c_compat=c_compat and source == "env")


def load_aes_keys(
    policy: EncryptionPolicy, runtime: Runtime, *, secret_agent: SecretAgentConfig | None = None
) -> list[bytes]:
    """Every AES key the policy's material may mean, the default first ([] when not encrypting).

    For a restore: build the reader with the first key and pass the others as
    ``open_backup_reader(..., alternatives=...)``, so a backup asbackup encrypted from an
    environment variable holding a PKCS#8 body reads without a C-compatibility switch.
    """
    loaded = _load_material(policy, runtime, secret_agent)
    if loaded is None:
        return []
    material, what, _ = loaded
    return aes_key_candidates(material, policy.mode, source=what)


def aes_key_candidates(material: bytes, mode: str, *, source: str) -> list[bytes]:
    """``derive_aes_key`` by backup-go's rule, then by asbackup's env rule when that differs."""
    keys = [derive_aes_key(material, mode, source=source)]
    if _PEM_BEGIN not in material:
        other = derive_aes_key(material, mode, source=source, c_compat=True)
        if other != keys[0]:
            keys.append(other)
    return keys


def _load_material(
    policy: EncryptionPolicy, runtime: Runtime, secret_agent: SecretAgentConfig | None
) -> tuple[bytes, str, str] | None:
    from .protocols import KeySourceOptions

    if not policy.enabled:
        return None
    if policy.key_file:
        source, spec, what = "file", policy.key_file, f"key file {policy.key_file}"
    elif policy.key_env:
        source, spec, what = "env", policy.key_env, f'environment variable "{policy.key_env}"'
    elif policy.key_secret:
        source, spec, what = "secret-agent", policy.key_secret, f"secret {policy.key_secret}"
    else:  # EncryptionPolicy refuses this; kept for policies built by other means
        raise KeySourceError(f"encryption mode {policy.mode} needs a key source")
    if spec.startswith("secrets:") and source == "file":
        options = KeySourceOptions(secret_agent=secret_agent)
        return runtime.key_source("file", options).load(spec), f"secret {spec}", "secret-agent"
    options = KeySourceOptions(secret_agent=secret_agent)
    return runtime.key_source(source, options).load(spec), what, source


def pkcs1_der_from_pem(pem: bytes, *, source: str) -> bytes:
    """PKCS#1 DER of the RSA private key in ``pem``; a one-line KeySourceError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    block = _first_pem_block(pem)
    if block is None:
        raise KeySourceError(f"{source}: no PEM block found (expected an RSA private key in PEM format)")
    label = block[0]
    if b"PUBLIC KEY" in label or b"CERTIFICATE" in label:
        raise KeySourceError(f"{source}: holds a {label.decode('ascii', 'replace').lower()}, not an RSA private key")
    if b"ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in pem:
        raise KeySourceError(f"{source}: the private key is protected by a passphrase (not supported)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeySourceError(
            f"{source}: unable to parse the private key, make sure it is an RSA key in PEM format"
        ) from None
    except Exception:  # the parser's own errors (unsupported algorithm, ...) carry no secret
        raise KeySourceError(f"{source}: unable to parse the private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeySourceError(f"{source}: holds {_kind(key)} private key; only RSA keys are supported")
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _kind(key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519

    for cls, name in (
        (ec.EllipticCurvePrivateKey, "an EC"),
        (dsa.DSAPrivateKey, "a DSA"),
        (ed25519.Ed25519PrivateKey, "an Ed25519"),
        (ed448.Ed448PrivateKey, "an Ed448"),
    ):
        if isinstance(key, cls):
            return name
    return "a non-RSA"


def _first_pem_block(data: bytes) -> tuple[bytes, bytes] | None:
    """(label, whole block) of the first ``-----BEGIN X-----`` … ``-----END X-----`` block."""
    m = re.search(rb"-----BEGIN ([^\r\n-]*)-----", data)
    if m is None:
        return None
    return m.group(1), data[m.start() :]


def _key_der(material: bytes, *, source: str, c_compat: bool) -> bytes:
    text = material.strip()
    if not text:
        raise KeySourceError(f"{source}: is empty")
    if _PEM_BEGIN in text:
        return pkcs1_der_from_pem(_normalise_pem(text), source=source)
    decoded = _b64decode(text)
    if decoded is None:
        raise KeySourceError(f"{source}: is neither PEM text nor base64 of a key")
    if c_compat:
        return decoded
    if _PEM_BEGIN in decoded:
        return pkcs1_der_from_pem(_normalise_pem(decoded.strip()), source=source)
    again = _b64decode(decoded.strip()) if _B64.fullmatch(decoded.strip()) else None
    if again is not None:
        decoded = again
    return _rsa_der_as_pkcs1(decoded)


def _b64decode(text: bytes) -> bytes | None:
    """Strict standard base64 (newlines inside are allowed, as in a PEM body)."""
    compact = b"".join(text.split())
    if not compact or not _B64.fullmatch(compact) or len(compact) % 4:
        return None
    try:
        return binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _rsa_der_as_pkcs1(der: bytes) -> bytes:
    """PKCS#1 DER if ``der`` is an RSA private key (PKCS#1 or PKCS#8); else ``der`` unchanged."""
    if not der.startswith(b"\x30"):  # not a DER SEQUENCE: raw key material (C rule)
        return der
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_der_private_key(der, password=None)
    except Exception:  # not a key: hash the bytes as the C tools do
        return der
    if not isinstance(key, rsa.RSAPrivateKey):
        return der
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _normalise_pem(text: bytes) -> bytes:
    """Restore line breaks around the armour lines (backup-go does this for values that lost them
    in an environment variable or a secret) and inside the base64 body."""
    m = re.search(rb"(-----BEGIN [^-]*-----)\s*(.*?)\s*(-----END [^-]*-----)", text, re.S)
    if m is None:
        return text
    head, body, tail = m.groups()
    if b"\n" in body or b":" in body:  # already laid out (or has PEM headers): leave as is
        return text
    body = b"".join(body.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return head + b"\n" + b"\n".join(lines) + b"\n" + tail + b"\n"
