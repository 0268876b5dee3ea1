"""KV v1 and v2 reads, versions, writes and rotation lookups against a real OpenBao dev server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sfjwt_vault_hashicorp import errors
from sfjwt_vault_hashicorp.session import get_session

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyFormatError, KeyRef, SecretBuffer
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from tests.servers import DevServer, find_bao, free_port

from .conftest import Bao


def new_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_of(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


def signs_with(host: PluginHost, ref: str, pem: bytes) -> bool:
    """True when the key fetched for `ref` is the private half of `pem` (checked by a signature)."""
    with open_signer(ref, host) as signer:
        signature = signer.sign(b"message")
    try:
        public_of(pem).verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001
        return False
    return True


def put_v2(bao: Bao, path: str, **data: str) -> int:
    response = bao.admin().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")
    return int(response["data"]["version"])


def test_kv2_default_field(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    put_v2(root_env, f"{root_env.prefix}/a", private_key=rsa_pem.decode(), other="x")
    assert signs_with(host, f"vault:secret/{root_env.prefix}/a", rsa_pem)
    assert signs_with(host, f"vault:secret/data/{root_env.prefix}/a", rsa_pem)  # the policy path, tolerated


def test_kv2_named_field_and_returns_secret_buffer(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    put_v2(root_env, f"{root_env.prefix}/b", pem=rsa_pem.decode())
    buffer = host.fetch_key(KeyRef.parse(f"vault:secret/{root_env.prefix}/b#pem"))
    assert isinstance(buffer, SecretBuffer)
    assert bytes(buffer.view()) == rsa_pem
    buffer.wipe()
    assert len(buffer) == 0


def test_kv1_detected_and_forced(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    root_env.admin().secrets.kv.v1.create_or_update_secret(
        path=f"{root_env.prefix}/k", secret={"private_key": rsa_pem.decode()}, mount_point="kv1"
    )
    assert signs_with(host, f"vault:kv1/{root_env.prefix}/k", rsa_pem)
    assert signs_with(host, f"vault:kv1/{root_env.prefix}/k?kv=1", rsa_pem)
    assert get_session().mount_info[f"kv1/{root_env.prefix}/k"] == ("kv1", 1)


def test_mount_with_slashes(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    root_env.admin().secrets.kv.v2.create_or_update_secret(
        path=f"{root_env.prefix}/n", secret={"private_key": rsa_pem.decode()}, mount_point="team/kv"
    )
    assert signs_with(host, f"vault:team/kv/{root_env.prefix}/n", rsa_pem)  # detected
    assert signs_with(host, f"vault:team/kv/{root_env.prefix}/n?mount=team/kv&kv=2", rsa_pem)


def test_pinned_version(root_env: Bao, host: PluginHost) -> None:
    first, second = new_pem(), new_pem()
    path = f"{root_env.prefix}/pinned"
    put_v2(root_env, path, private_key=first.decode())
    put_v2(root_env, path, private_key=second.decode())
    assert signs_with(host, f"vault:secret/{path}", second)
    assert signs_with(host, f"vault:secret/{path}?version=1", first)
    assert signs_with(host, f"vault:secret/{path}?version=2", second)


def test_store_kv2_new_versions_keep_other_fields(root_env: Bao, host: PluginHost) -> None:
    path = f"{root_env.prefix}/stored"
    put_v2(root_env, path, consumer_key="3MVG-not-secret")
    ref = KeyRef.parse(f"vault:secret/{path}")
    pem = new_pem()
    result = host.store_key(ref, SecretBuffer.from_buffer(pem), overwrite=False)
    assert result == f"new version 2 at secret/data/{path}"
    assert "BEGIN" not in result
    again = host.store_key(ref, SecretBuffer.from_buffer(new_pem()), overwrite=False)
    assert again == f"new version 3 at secret/data/{path}"
    stored = root_env.admin().secrets.kv.v2.read_secret_version(
        path=path, version=2, mount_point="secret", raise_on_deleted_version=True
    )
    assert stored["data"]["data"] == {"consumer_key": "3MVG-not-secret", "private_key": pem.decode()}


def test_store_kv1_refuses_overwrite(root_env: Bao, host: PluginHost) -> None:
    ref = KeyRef.parse(f"vault:kv1/{root_env.prefix}/stored")
    first, second = new_pem(), new_pem()
    assert "kv1/" in host.store_key(ref, SecretBuffer.from_buffer(first), overwrite=False)
    with pytest.raises(KeyBackendError, match="--overwrite"):
        host.store_key(ref, SecretBuffer.from_buffer(second), overwrite=False)
    assert signs_with(host, str(ref), first)
    host.store_key(ref, SecretBuffer.from_buffer(second), overwrite=True)
    assert signs_with(host, str(ref), second)


def test_previous_key_ref(root_env: Bao, host: PluginHost) -> None:
    path = f"{root_env.prefix}/rotating"
    first, second = new_pem(), new_pem()
    put_v2(root_env, path, private_key=first.decode())
    ref = KeyRef.parse(f"vault:secret/{path}")
    assert host.previous_key_ref(ref) is None  # only version 1
    put_v2(root_env, path, private_key=second.decode())
    previous = host.previous_key_ref(ref)
    assert previous is not None and previous.options["version"] == "1"
    assert signs_with(host, str(previous), first)
    assert host.previous_key_ref(KeyRef.parse(f"vault:secret/{path}?version=2")) is None  # pinned
    root_env.admin().secrets.kv.v1.create_or_update_secret(
        path=f"{root_env.prefix}/v1", secret={"private_key": "x"}, mount_point="kv1"
    )
    assert host.previous_key_ref(KeyRef.parse(f"vault:kv1/{root_env.prefix}/v1")) is None  # KV v1


def test_previous_skips_deleted_version(root_env: Bao, host: PluginHost) -> None:
    path = f"{root_env.prefix}/deleted"
    for _ in range(3):
        put_v2(root_env, path, private_key=new_pem().decode())
    root_env.admin().secrets.kv.v2.delete_secret_versions(path=path, versions=[2], mount_point="secret")
    previous = host.previous_key_ref(KeyRef.parse(f"vault:secret/{path}"))
    assert previous is not None and previous.options["version"] == "1"


# --- errors ---------------------------------------------------------------------------------------


def test_missing_path(root_env: Bao, host: PluginHost) -> None:
    with pytest.raises(errors.VaultNotFoundError, match=f"secret/data/{root_env.prefix}/absent"):
        host.fetch_key(KeyRef.parse(f"vault:secret/{root_env.prefix}/absent"))


def test_missing_mount(root_env: Bao, host: PluginHost) -> None:
    with pytest.raises(errors.VaultNotFoundError, match="no secrets engine is mounted") as info:
        host.fetch_key(KeyRef.parse("vault:no-such-mount/sf/jwt"))
    assert "secrets list" in (info.value.hint or "")


def test_missing_field_lists_names_not_values(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    put_v2(root_env, f"{root_env.prefix}/fields", pem=rsa_pem.decode(), consumer_key="value-not-shown")
    with pytest.raises(KeyBackendError) as info:
        host.fetch_key(KeyRef.parse(f"vault:secret/{root_env.prefix}/fields"))
    text = str(info.value)
    assert "'private_key'" in text and "consumer_key, pem" in text
    assert "value-not-shown" not in text and "BEGIN" not in text


def test_not_a_pem(root_env: Bao, host: PluginHost) -> None:
    put_v2(root_env, f"{root_env.prefix}/notpem", private_key="c2VjcmV0LXZhbHVl")
    with pytest.raises(KeyFormatError, match="does not hold a PEM") as info:
        host.fetch_key(KeyRef.parse(f"vault:secret/{root_env.prefix}/notpem"))
    assert "c2VjcmV0" not in str(info.value)


def test_wrong_kv_version_forced_v1_on_v2(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    put_v2(root_env, f"{root_env.prefix}/wrongv", private_key=rsa_pem.decode())
    with pytest.raises(KeyBackendError, match="wrong KV version"):
        host.fetch_key(KeyRef.parse(f"vault:secret/{root_env.prefix}/wrongv?kv=1"))


def test_wrong_kv_version_forced_v2_on_v1(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    root_env.admin().secrets.kv.v1.create_or_update_secret(
        path=f"{root_env.prefix}/w1", secret={"private_key": rsa_pem.decode()}, mount_point="kv1"
    )
    with pytest.raises(errors.VaultNotFoundError) as info:
        host.fetch_key(KeyRef.parse(f"vault:kv1/{root_env.prefix}/w1?kv=2"))
    assert "?kv=1" in (info.value.hint or "")


def test_version_on_kv1_is_a_configuration_error(root_env: Bao, host: PluginHost) -> None:
    with pytest.raises(ConfigurationError, match="KV version 2"):
        host.fetch_key(KeyRef.parse(f"vault:kv1/{root_env.prefix}/x?version=2"))


def test_permission_denied_names_the_kv2_data_path(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.policy_token(["nothing"]))
    with pytest.raises(errors.VaultPermissionDeniedError) as info:
        host.fetch_key(KeyRef.parse("vault:secret/elsewhere/key"))
    assert 'path "secret/data/elsewhere/key"' in (info.value.hint or "")
    assert "secret/data/elsewhere/key" in info.value.message


def test_invalid_token(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", "s.not-a-real-token")
    with pytest.raises(errors.VaultTokenInvalidError) as info:
        host.fetch_key(KeyRef.parse(f"vault:secret/{bao.prefix}/a"))
    assert "not-a-real-token" not in str(info.value)


def test_expired_token(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    token = bao.policy_token(["sfjwt"])
    bao.admin().auth.token.revoke(token)  # as good as expired
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", token)
    with pytest.raises(errors.VaultTokenInvalidError, match="expired, revoked or invalid"):
        host.fetch_key(KeyRef.parse(f"vault:secret/{bao.prefix}/a"))


def test_unreachable(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("VAULT_TOKEN", "whatever")
    with pytest.raises(errors.VaultUnreachableError) as info:
        host.fetch_key(KeyRef.parse("vault:secret/x?kv=2"))
    assert info.value.retryable and "VAULT_ADDR" in (info.value.hint or "")


def test_sealed(throwaway_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"VAULT_ADDR": throwaway_bao.addr, "VAULT_TOKEN": throwaway_bao.token, "HOME": str(throwaway_bao.home)}
    subprocess.run([find_bao(), "operator", "seal"], env=env, check=True, capture_output=True)
    monkeypatch.setenv("VAULT_ADDR", throwaway_bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", throwaway_bao.token)
    with pytest.raises(errors.VaultSealedError, match="sealed") as info:
        host.fetch_key(KeyRef.parse("vault:secret/anything"))
    assert "unseal" in (info.value.hint or "")


def test_not_a_kv_mount(root_env: Bao, host: PluginHost) -> None:
    with pytest.raises(KeyBackendError, match="'transit' secrets engine, not KV"):
        host.fetch_key(KeyRef.parse("vault:transit/keys/sfjwt-rsa"))


# --- connection conventions -----------------------------------------------------------------------


def test_bao_addr_and_token(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch, rsa_pem: bytes) -> None:
    put_v2(bao, f"{bao.prefix}/bao", private_key=rsa_pem.decode())
    monkeypatch.setenv("BAO_ADDR", bao.addr)
    monkeypatch.setenv("BAO_TOKEN", bao.root_token)
    assert signs_with(host, f"vault:secret/{bao.prefix}/bao", rsa_pem)


def test_vault_vars_win_over_bao(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch, rsa_pem: bytes) -> None:
    put_v2(bao, f"{bao.prefix}/win", private_key=rsa_pem.decode())
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    monkeypatch.setenv("BAO_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("BAO_TOKEN", "wrong")
    assert signs_with(host, f"vault:secret/{bao.prefix}/win", rsa_pem)


def test_token_from_home_file(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch, rsa_pem: bytes) -> None:
    put_v2(bao, f"{bao.prefix}/home", private_key=rsa_pem.decode())
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    (Path.home() / ".vault-token").write_text(bao.root_token + "\n")
    assert signs_with(host, f"vault:secret/{bao.prefix}/home", rsa_pem)


def test_token_file_is_reread(
    bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_pem: bytes
) -> None:
    """An Agent sink rotates the token in its file; each use reads the file again."""
    put_v2(bao, f"{bao.prefix}/sink", private_key=rsa_pem.decode())
    sink = tmp_path / "sink"
    sink.write_text("not-valid")
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_TOKEN_FILE", str(sink))
    with pytest.raises(errors.VaultTokenInvalidError):
        host.fetch_key(KeyRef.parse(f"vault:secret/{bao.prefix}/sink"))
    sink.write_text(bao.policy_token(["sfjwt"]))
    assert signs_with(host, f"vault:secret/{bao.prefix}/sink", rsa_pem)


@pytest.mark.parametrize(
    "ref",
    [
        "vault:secret/sf/jwt?kvv=2",  # a typo of kv
        "vault:secret/sf/jwt?verison=3",  # a typo of version: would read the latest key instead
        "vault:secret/sf/jwt?pasphrase_env=PW",  # a typo of passphrase_env
        "vault:secret/sf/jwt?region=eu-west-1",  # another backend's option
    ],
)
def test_unknown_options_are_refused_before_any_request(
    ref: str, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused as a configuration error (exit 2) by every hook, with nothing sent: Vault is not even up."""
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("VAULT_TOKEN", "unused")
    key_ref = KeyRef.parse(ref)
    for attempt in (
        lambda: host.fetch_key(key_ref),
        lambda: host.previous_key_ref(key_ref),
        lambda: host.store_key(key_ref, SecretBuffer.from_buffer(b"-----BEGIN PRIVATE KEY-----"), overwrite=False),
    ):
        with pytest.raises(ConfigurationError, match="unknown option") as info:
            attempt()
        assert info.value.exit_code == 2 and "kv" in (info.value.hint or "")


def test_known_options_are_accepted(root_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    version = put_v2(root_env, f"{root_env.prefix}/opts", private_key=rsa_pem.decode())
    ref = f"vault:secret/{root_env.prefix}/opts?kv=2&version={version}&mount=secret&passphrase_env=UNUSED_PW"
    with host.fetch_key(KeyRef.parse(ref)) as buffer:
        assert bytes(buffer.view()).startswith(b"-----BEGIN")
