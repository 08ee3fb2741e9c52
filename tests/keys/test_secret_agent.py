"""Secret Agent client, ``secrets:`` resolution and the key source, against the fake agent over
TCP, a UNIX socket and TLS; the request bytes are checked against secret-agent.md §T."""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

import pytest
from aerobackup import ClusterConfig, EncryptionPolicy, Runtime, SecretAgentConfig
from aerobackup.errors import ConfigError, KeySourceError
from aerobackup.keys import load_aes_key
from aerobackup.plugins.keys import file, secret_agent
from aerobackup.secrets import SecretAgentClient, SecretRef, parse_secret_ref, resolve_secrets
from aerobackup.testing.secret_agent import FakeSecretAgent, make_test_certificates

T1 = "51dec1cc000000237b225265736f75726365223a22726573222c225365637265744b6579223a226f6b227d"
T2 = "51dec1cc000000127b225365637265744b6579223a226f6b227d"
T3 = "51dec1cc000000237b225265736f75726365223a22613a62222c225365637265744b6579223a226f6b227d"
T4 = "51dec1cc000000207b225265736f75726365223a22222c225365637265744b6579223a226f6b227d"

SECRETS = {
    "res:ok": "secret",
    "ok": "no-resource",
    "a:b:ok": "colons",
    ":ok": "empty-resource",
    "res:password": "admin123",
}


@pytest.fixture
def agent():  # type: ignore[no-untyped-def]
    with FakeSecretAgent(SECRETS, convert_to_base64=True, lifetime=60) as a:
        yield a


def tcp(agent: FakeSecretAgent, **kw: object) -> SecretAgentConfig:
    return SecretAgentConfig(address=agent.host, port=agent.port, is_base64=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("secrets:res:key", SecretRef("res", "key")),
        ("secrets:key", SecretRef(None, "key")),
        ("secrets:a:b:key", SecretRef("a:b", "key")),
        ("secrets:res:", SecretRef("res", "")),
        ("secrets::key", SecretRef("", "key")),
    ],
)
def test_reference_syntax_follows_the_c_tools(value: str, ref: SecretRef) -> None:
    assert parse_secret_ref(value) == ref


def test_empty_reference_fails_before_connecting() -> None:
    with pytest.raises(KeySourceError, match="empty secret reference 'secrets:'"):
        parse_secret_ref("secrets:")


@pytest.mark.parametrize(
    ("ref", "frame", "value"),
    [
        ("secrets:res:ok", T1, b"secret"),
        ("secrets:ok", T2, b"no-resource"),
        ("secrets:a:b:ok", T3, b"colons"),
        ("secrets::ok", T4, b"empty-resource"),
    ],
)
def test_tcp_request_bytes_match_the_spec(ref: str, frame: str, value: bytes, agent: FakeSecretAgent) -> None:
    assert SecretAgentClient(tcp(agent)).fetch(ref) == value
    assert agent.requests[-1].hex() == frame


def test_json_is_escaped() -> None:
    with FakeSecretAgent({('r"x', "k\\y"): "v"}, lifetime=30) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port)
        assert SecretAgentClient(cfg).fetch('secrets:r"x:k\\y') == b"v"
        assert a.requests[-1][8:] == b'{"Resource":"r\\"x","SecretKey":"k\\\\y"}'


def test_verbatim_values_without_is_base64() -> None:
    with FakeSecretAgent(SECRETS, lifetime=30) as a:  # agent without convert-to-base64
        cfg = SecretAgentConfig(address=f"{a.host}:{a.port}")  # host:port form of the address
        assert SecretAgentClient(cfg).fetch("secrets:res:ok") == b"secret"


def test_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "agent.sock"
    path.write_text("stale")  # a stale file is replaced, as the real agent does
    with FakeSecretAgent(SECRETS, convert_to_base64=True, tcp=False, unix_path=path, lifetime=30) as a:
        cfg = SecretAgentConfig(connection_type="unix", address=str(path), is_base64=True)
        assert SecretAgentClient(cfg).fetch("secrets:res:password") == b"admin123"
        assert a.requests[-1][8:] == b'{"Resource":"res","SecretKey":"password"}'
    assert not path.exists()


def test_unix_socket_missing(tmp_path: Path) -> None:
    cfg = SecretAgentConfig(connection_type="unix", address=str(tmp_path / "none.sock"))
    with pytest.raises(KeySourceError, match=r"at unix:.*none\.sock: no socket at"):
        SecretAgentClient(cfg).fetch("secrets:res:ok")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_test_certificates(tmp_path_factory.mktemp("certs"))


def test_tls(certs) -> None:  # type: ignore[no-untyped-def]
    with FakeSecretAgent(SECRETS, convert_to_base64=True, tls=certs, lifetime=30) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port, ca_file=certs.ca_file, is_base64=True)
        assert SecretAgentClient(cfg).fetch("secrets:res:ok") == b"secret"
        assert a.requests[-1].hex() == T1


def test_tls_mutual(certs) -> None:  # type: ignore[no-untyped-def]
    with FakeSecretAgent(SECRETS, tls=certs, require_client_cert=True, lifetime=30) as a:
        cfg = SecretAgentConfig(
            address=a.host,
            port=a.port,
            ca_file=certs.ca_file,
            tls_name="localhost",
            cert_file=certs.client_cert_file,
            key_file=certs.client_key_file,
        )
        assert SecretAgentClient(cfg).fetch("secrets:res:ok") == b"secret"
        no_cert = SecretAgentConfig(address=a.host, port=a.port, ca_file=certs.ca_file, timeout_ms=2000)
        with pytest.raises(KeySourceError, match=r"secret secrets:res:ok from the Secret Agent at 127\.0\.0\.1:\d+"):
            SecretAgentClient(no_cert).fetch("secrets:res:ok")


def test_tls_untrusted_agent_is_refused(certs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = make_test_certificates(tmp_path / "other")
    with FakeSecretAgent(SECRETS, tls=certs, lifetime=30) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port, ca_file=other.ca_file)
        with pytest.raises(KeySourceError, match="TLS certificate not trusted"):
            SecretAgentClient(cfg).fetch("secrets:res:ok")


def test_tls_over_unix_is_refused(certs) -> None:  # type: ignore[no-untyped-def]
    cfg = SecretAgentConfig(connection_type="unix", address="/x.sock", ca_file=certs.ca_file)
    with pytest.raises(ConfigError, match="secret_agent.ca_file: TLS over a UNIX socket is not supported"):
        SecretAgentClient(cfg).fetch("secrets:res:ok")


def test_agent_down_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = SecretAgentConfig(address="127.0.0.1", port=port)
    t0 = time.monotonic()
    with pytest.raises(
        KeySourceError,
        match=rf"^secret secrets:res:ok from the Secret Agent at 127\.0\.0\.1:{port}: "
        r"connection refused \(is the agent running\?\)$",
    ):
        SecretAgentClient(cfg).fetch("secrets:res:ok")
    assert time.monotonic() - t0 < 2


@pytest.mark.parametrize("fault", ["delay:5", "never_read", "dribble:0.1"])
def test_slow_agent_times_out_within_the_bound(fault: str) -> None:
    # dribble:0.1 keeps every single read short: only one deadline for the exchange bounds it
    faults = {"*": "never_read"} if fault == "never_read" else {"ok": fault}
    with FakeSecretAgent(SECRETS, faults=faults, lifetime=30, io_timeout=5) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port, timeout_ms=300)
        t0 = time.monotonic()
        with pytest.raises(KeySourceError, match=r"Secret Agent at 127\.0\.0\.1:\d+: no answer within 0\.3 s$"):
            SecretAgentClient(cfg).fetch("secrets:res:ok")
        assert time.monotonic() - t0 < 1.5


@pytest.mark.parametrize(
    ("fault", "pattern"),
    [
        ("bad_magic", r"invalid magic number 12345678 \(expected 51dec1cc\)"),
        ("truncate", r"the agent closed the connection after \d+ of \d+ bytes"),
        ("header_only", r"the agent closed the connection after 0 of \d+ bytes"),
        ("too_big", r"response too big \(204800 bytes, limit 102400\)"),
        ("bad_json", r"the agent's reply is not valid JSON"),
        ("error_and_value", r"the agent says: boom"),
        ("empty_value", r"the secret is empty"),
        ("unpadded", r"the value is not base64 \(is_base64 is set\)"),
        ("close", r"the agent closed the connection without an answer"),
    ],
)
def test_faults_are_clear_errors(fault: str, pattern: str) -> None:
    with FakeSecretAgent({"res:ok": "secret1"}, convert_to_base64=True, faults={"ok": fault}, lifetime=30) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port, is_base64=True, timeout_ms=3000)
        with pytest.raises(KeySourceError, match=r"^secret secrets:res:ok from the Secret Agent at .*: " + pattern):
            SecretAgentClient(cfg).fetch("secrets:res:ok")


@pytest.mark.parametrize("fault", ["trailing_newline", "dribble", "empty_error"])
def test_tolerated_replies(fault: str) -> None:
    with FakeSecretAgent({"res:ok": "secret"}, convert_to_base64=True, faults={"ok": fault}, lifetime=30) as a:
        cfg = SecretAgentConfig(address=a.host, port=a.port, is_base64=True, timeout_ms=3000)
        assert SecretAgentClient(cfg).fetch("secrets:res:ok") == b"secret"


def test_unknown_secret(agent: FakeSecretAgent) -> None:
    with pytest.raises(KeySourceError, match="the agent says: secret not found"):
        SecretAgentClient(tcp(agent)).fetch("secrets:res:nope")


def test_resolve_secrets_in_a_config_once(agent: FakeSecretAgent) -> None:
    cfg = ClusterConfig(hosts=("127.0.0.1:3000",), user="admin", password="secrets:res:password")
    resolved = resolve_secrets(cfg, tcp(agent))
    assert resolved.password == "admin123" and resolved.user == "admin"
    assert "admin123" not in repr(resolved)
    before = len(agent.requests)
    both = resolve_secrets({"a": "secrets:res:ok", "b": ["secrets:res:ok", "plain"]}, tcp(agent))
    assert both == {"a": "secret", "b": ["secret", "plain"]}
    assert len(agent.requests) == before + 1  # one fetch per distinct reference


def test_resolve_secrets_failure_names_the_field(agent: FakeSecretAgent) -> None:
    cfg = ClusterConfig(user="admin", password="secrets:res:missing")
    with pytest.raises(ConfigError, match=r"^password: secret secrets:res:missing from the Secret Agent"):
        resolve_secrets(cfg, tcp(agent))


def test_agent_settings_are_never_resolved(agent: FakeSecretAgent) -> None:
    sa = SecretAgentConfig(address="secrets:res:ok")
    assert resolve_secrets({"sa": sa}, tcp(agent))["sa"] is sa


def test_encryption_key_from_the_agent(conformance_dir: Path) -> None:
    pem = (conformance_dir / "asbackup-4.5.8/key.pem").read_bytes()
    expected = "b006a5fb41b3508cd24e608d7bfde222"
    rt = Runtime.from_plugins([file, secret_agent])
    # C style: the agent returns base64 (convert-to-base64) and the client decodes it
    with FakeSecretAgent({"keys:backup": pem}, convert_to_base64=True, lifetime=30) as a:
        sa = SecretAgentConfig(address=a.host, port=a.port, is_base64=True)
        for policy in (
            EncryptionPolicy(mode="aes128", key_secret="secrets:keys:backup"),
            EncryptionPolicy(mode="aes128", key_file="secrets:keys:backup"),
        ):
            key = load_aes_key(policy, rt, secret_agent=sa)
            assert key is not None and key.hex() == expected
    # Go style: value verbatim; backup-go accepts base64 of the PEM there
    with FakeSecretAgent({"keys:backup": base64.b64encode(pem)}, lifetime=30) as a:
        sa = SecretAgentConfig(address=a.host, port=a.port)
        key = load_aes_key(EncryptionPolicy(mode="aes128", key_secret="secrets:keys:backup"), rt, secret_agent=sa)
        assert key is not None and key.hex() == expected
        assert "secret" not in repr(rt.key_source("secret-agent")).replace("SecretAgent", "")


def test_fake_agent_stops_by_itself() -> None:
    a = FakeSecretAgent(SECRETS, lifetime=0.3).start()
    port = a.port
    assert a.wait_stopped(5), "the agent did not stop within 5 s of its 0.3 s lifetime"
    with pytest.raises(KeySourceError, match="connection refused"):
        SecretAgentClient(SecretAgentConfig(address="127.0.0.1", port=port)).fetch("secrets:res:ok")


def test_fake_agent_command_line() -> None:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aerobackup.testing.secret_agent",
            "--secret",
            "res:k=hello",
            "--base64",
            "--lifetime",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        cfg = SecretAgentConfig(address="127.0.0.1", port=port, is_base64=True)
        assert SecretAgentClient(cfg).fetch("secrets:res:k") == b"hello"
        assert proc.wait(timeout=10) == 0  # stops by itself
    finally:
        if proc.poll() is None:
            proc.kill()


def test_resolve_a_backup_config_keeping_the_key_file_for_its_source(agent: FakeSecretAgent) -> None:
    from aerobackup import BackupConfig

    cfg = BackupConfig(
        namespace="secrets:res:ok",
        set_list=("plain", "secrets:a:b:ok"),
        encryption=EncryptionPolicy(mode="aes128", key_file="secrets:res:password"),
    )
    out = resolve_secrets(cfg, tcp(agent), keep=lambda path: path == "encryption.key_file")
    assert out.namespace == "secret" and out.set_list == ("plain", "colons")
    assert out.encryption.key_file == "secrets:res:password"  # PEM content, fetched by the key source
    assert cfg.namespace == "secrets:res:ok"  # the original is untouched
