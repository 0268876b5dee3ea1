"""Logging in (AppRole, wrapped secret id, JWT, Kubernetes, AWS IAM) and keeping the token alive."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sfjwt_vault_hashicorp import errors
from sfjwt_vault_hashicorp.session import VaultSession, get_session
from sfjwt_vault_hashicorp.settings import DEFAULT_K8S_TOKEN_FILE, VaultSettings

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyRef
from sfjwt_vault.plugins import PluginHost

from .conftest import ROLE_MAX_TTL, Bao
from .test_kv import put_v2, signs_with


class FakeClock:
    """Session time that a test moves forward (the server's TTLs still run in real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def read_ok(session: VaultSession, bao: Bao, path: str) -> bool:
    body = session.request("GET", f"secret/data/{path}", what="read", capability="read")
    return bool(body["data"]["data"])


def test_approle_login_reads_key(approle_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    put_v2(approle_env, f"{approle_env.prefix}/approle", private_key=rsa_pem.decode())
    assert signs_with(host, f"vault:secret/{approle_env.prefix}/approle", rsa_pem)
    assert signs_with(host, f"vault:secret/{approle_env.prefix}/approle", rsa_pem)
    session = get_session()
    assert session is get_session()  # one client per process and configuration
    assert session.logins == 1


def test_policy_limited_token_detects_kv1(approle_env: Bao, host: PluginHost, rsa_pem: bytes) -> None:
    """The mount lookup needs no policy of its own: the role's token (KV paths only) still finds KV v1."""
    approle_env.admin().secrets.kv.v1.create_or_update_secret(
        path=f"{approle_env.prefix}/limited", secret={"private_key": rsa_pem.decode()}, mount_point="kv1"
    )
    assert signs_with(host, f"vault:kv1/{approle_env.prefix}/limited", rsa_pem)
    assert get_session().mount_info[f"kv1/{approle_env.prefix}/limited"] == ("kv1", 1)


def test_secret_id_file(
    bao: Bao, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_pem: bytes, host: PluginHost
) -> None:
    put_v2(bao, f"{bao.prefix}/sidfile", private_key=rsa_pem.decode())
    (tmp_path / "sid").write_text(bao.secret_id() + "\n")
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_ROLE_ID", bao.role_id)  # approle is implied by a role id
    monkeypatch.setenv("SFJWT_VAULT_SECRET_ID_FILE", str(tmp_path / "sid"))
    assert signs_with(host, f"vault:secret/{bao.prefix}/sidfile", rsa_pem)
    assert get_session().settings.auth == "approle"


def test_renewal_at_two_thirds_of_ttl(approle_env: Bao) -> None:
    put_v2(approle_env, f"{approle_env.prefix}/renew", private_key="x")
    clock = FakeClock()
    session = VaultSession(VaultSettings.from_env(), clock=clock)
    assert read_ok(session, approle_env, f"{approle_env.prefix}/renew")
    assert (session.logins, session.renewals) == (1, 0)
    clock.now += 1.5  # < 2/3 of the 3 s TTL: nothing to do
    assert read_ok(session, approle_env, f"{approle_env.prefix}/renew")
    assert (session.logins, session.renewals) == (1, 0)
    clock.now += 0.6  # past 2/3: renewed, not a new login
    assert read_ok(session, approle_env, f"{approle_env.prefix}/renew")
    assert (session.logins, session.renewals) == (1, 1)


def test_expired_by_clock_logs_in_again(approle_env: Bao) -> None:
    clock = FakeClock()
    session = VaultSession(VaultSettings.from_env(), clock=clock)
    session.client()
    clock.now += 10  # past the TTL: renewing is pointless
    session.client()
    assert (session.logins, session.renewals) == (2, 0)


def test_failed_renewal_logs_in_again(approle_env: Bao) -> None:
    clock = FakeClock()
    session = VaultSession(VaultSettings.from_env(), clock=clock)
    client = session.client()
    approle_env.admin().auth.token.revoke(client.token)
    clock.now += 2.1
    put_v2(approle_env, f"{approle_env.prefix}/failrenew", private_key="x")
    assert read_ok(session, approle_env, f"{approle_env.prefix}/failrenew")
    assert (session.logins, session.failed_renewals) == (2, 1)


def test_revoked_token_is_replaced_on_403(approle_env: Bao) -> None:
    put_v2(approle_env, f"{approle_env.prefix}/revoked", private_key="x")
    session = VaultSession(VaultSettings.from_env())
    approle_env.admin().auth.token.revoke(session.client().token)
    assert read_ok(session, approle_env, f"{approle_env.prefix}/revoked")
    assert session.logins == 2


def test_max_ttl_forces_a_new_login(approle_env: Bao) -> None:
    """Real time: keep using the session past the role's 8 s max TTL; renewals, then a fresh login."""
    path = f"{approle_env.prefix}/maxttl"
    put_v2(approle_env, path, private_key="x")
    session = VaultSession(VaultSettings.from_env())
    reads = []
    deadline = time.monotonic() + ROLE_MAX_TTL + 2.5
    while time.monotonic() < deadline:
        reads.append(read_ok(session, approle_env, path))
        time.sleep(0.25)
    assert all(reads)
    assert session.renewals >= 2
    assert session.logins >= 2


def test_wrapped_secret_id(bao: Bao, monkeypatch: pytest.MonkeyPatch, rsa_pem: bytes, host: PluginHost) -> None:
    put_v2(bao, f"{bao.prefix}/wrapped", private_key=rsa_pem.decode())
    wrapped = bao.wrapped_secret_id()
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "approle")
    monkeypatch.setenv("SFJWT_VAULT_ROLE_ID", bao.role_id)
    monkeypatch.setenv("SFJWT_VAULT_WRAPPED_SECRET_ID", wrapped)
    assert signs_with(host, f"vault:secret/{bao.prefix}/wrapped", rsa_pem)
    session = get_session()
    session.invalidate()  # a re-login uses the kept, unwrapped secret id
    assert signs_with(host, f"vault:secret/{bao.prefix}/wrapped", rsa_pem)
    assert session.logins == 2
    fresh = VaultSession(VaultSettings.from_env())  # a second process would find it already unwrapped
    with pytest.raises(KeyBackendError, match="could not unwrap") as info:
        fresh.client()
    assert wrapped not in str(info.value)


def test_bad_secret_id(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "approle")
    monkeypatch.setenv("SFJWT_VAULT_ROLE_ID", bao.role_id)
    monkeypatch.setenv("SFJWT_VAULT_SECRET_ID", "11111111-2222-3333-4444-555555555555")
    with pytest.raises(KeyBackendError, match="approle login at 'auth/approle/login' failed") as info:
        get_session().client()
    assert "11111111" not in str(info.value)


def test_jwt_login(bao: Bao, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_pem: bytes, host: PluginHost) -> None:
    put_v2(bao, f"{bao.prefix}/jwt", private_key=rsa_pem.decode())
    (tmp_path / "jwt").write_text(bao.sign_jwt())
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "jwt")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "worker")
    monkeypatch.setenv("SFJWT_VAULT_JWT_FILE", str(tmp_path / "jwt"))
    assert signs_with(host, f"vault:secret/{bao.prefix}/jwt", rsa_pem)
    assert get_session().logins == 1


def test_jwt_wrong_audience(bao: Bao, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(bao.sign_jwt(aud="someone-else"))
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "jwt")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "worker")
    monkeypatch.setenv("SFJWT_VAULT_JWT_FILE", str(tmp_path / "jwt"))
    with pytest.raises(KeyBackendError, match="jwt login") as info:
        get_session().client()
    assert "bound_" in (info.value.hint or "")


def test_kubernetes_defaults_and_missing_method(bao: Bao, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "kubernetes")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "worker")
    assert VaultSettings.from_env().jwt_file == DEFAULT_K8S_TOKEN_FILE
    (tmp_path / "sa").write_text(bao.sign_jwt())
    monkeypatch.setenv("SFJWT_VAULT_JWT_FILE", str(tmp_path / "sa"))
    with pytest.raises(errors.VaultAuthMethodMissingError, match="auth/kubernetes") as info:
        get_session().client()
    assert "auth list" in (info.value.hint or "")


def test_unknown_auth_method(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "ldap")
    with pytest.raises(ConfigurationError, match="not a supported Vault auth method"):
        VaultSettings.from_env()


def test_aws_iam_missing_on_openbao(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "aws")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "lambda")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-access-key")
    with pytest.raises(errors.VaultAuthMethodMissingError) as info:
        get_session().client()
    assert "OpenBao has no AWS auth method" in (info.value.hint or "")
    assert "example-secret" not in str(info.value)


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in Vault login endpoint that records the request the client built."""

    requests: list[tuple[str, dict[str, Any]]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.path, body))
        reply = json.dumps({"auth": {"client_token": "tok", "lease_duration": 60, "renewable": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_aws_iam_login_request(recorder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed sts:GetCallerIdentity request that Vault's aws method checks, as hvac builds it."""
    monkeypatch.setenv("VAULT_ADDR", recorder)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "aws")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "lambda-role")
    monkeypatch.setenv("SFJWT_VAULT_AWS_HEADER_VALUE", "vault.example.com")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the Lambda's region does not change the STS scope
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-access-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "example-session-token")
    session = get_session()
    assert session.client().token == "tok"
    assert session.logins == 1
    path, body = _Recorder.requests[0]
    assert path == "/v1/auth/aws/login"
    assert body["role"] == "lambda-role"
    assert body["iam_http_request_method"] == "POST"
    assert base64.b64decode(body["iam_request_url"]).decode() == "https://sts.amazonaws.com/"
    assert base64.b64decode(body["iam_request_body"]).decode() == "Action=GetCallerIdentity&Version=2011-06-15"
    headers = json.loads(base64.b64decode(body["iam_request_headers"]))
    flat = {k: v[0] if isinstance(v, list) else v for k, v in headers.items()}
    assert flat["X-Vault-AWS-IAM-Server-ID"] == "vault.example.com"
    assert flat["X-Amz-Security-Token"] == "example-session-token"
    assert "Credential=AKIAEXAMPLEEXAMPLE00/" in flat["Authorization"]
    assert "/us-east-1/sts/aws4_request" in flat["Authorization"]
    assert "example-secret-access-key" not in json.dumps(body)


def test_aws_iam_login_logs_no_credentials(
    recorder: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The session token and the request signature never reach a log, even with every SDK at DEBUG.

    A guard, not a regression test: hvac signs with its own SigV4 code, which does not log today (botocore's
    signer would log the canonical request, token included); the login also runs in the SDK-logging window."""
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "urllib3", "hvac", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    monkeypatch.setenv("VAULT_ADDR", recorder)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "aws")
    monkeypatch.setenv("SFJWT_VAULT_ROLE", "lambda-role")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-access-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "example-session-token-0123456789")
    assert get_session().client().token == "tok"
    headers = json.loads(base64.b64decode(_Recorder.requests[0][1]["iam_request_headers"]))
    authorization = (
        headers["Authorization"][0] if isinstance(headers["Authorization"], list) else headers["Authorization"]
    )
    signature = authorization.rsplit("Signature=", 1)[1]
    assert "example-session-token-0123456789" not in caplog.text
    assert signature not in caplog.text


def test_threads_share_one_login(approle_env: Bao, rsa_pem: bytes, host: PluginHost) -> None:
    put_v2(approle_env, f"{approle_env.prefix}/threads", private_key=rsa_pem.decode())
    results: list[bool] = []

    def work() -> None:
        results.append(signs_with(host, f"vault:secret/{approle_env.prefix}/threads", rsa_pem))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert get_session().logins == 1


def test_settings_hold_no_secret(approle_env: Bao) -> None:
    settings = VaultSettings.from_env()
    session = get_session()
    session.client()
    assert approle_env.role_id in repr(settings)  # a role id is an identifier...
    import os

    secret = os.environ["SFJWT_VAULT_SECRET_ID"]
    assert secret not in repr(settings) and secret not in repr(session)  # ...a secret id is not kept
    assert session.client().token not in repr(session)
    _ = KeyRef


def test_threads_survive_a_revoked_token(approle_env: Bao) -> None:
    """Threads reading while the token is revoked under them: each read succeeds after a fresh login."""
    path = f"{approle_env.prefix}/revoke-threads"
    put_v2(approle_env, path, private_key="x")
    session = VaultSession(VaultSettings.from_env())
    first_token = session.client().token
    results: list[bool] = []
    start = threading.Barrier(5)

    revoked = threading.Event()

    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            for _ in range(500):  # bounded: reads until the revocation, then two more
                results.append(read_ok(session, approle_env, path))
                if revoked.is_set():
                    break
            results.append(read_ok(session, approle_env, path))
        except BaseException as exc:  # noqa: BLE001 - a thread's failure must fail the test, not just warn
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait()
    approle_env.admin().auth.token.revoke(first_token)
    revoked.set()
    for t in threads:
        t.join()
    assert errors == []
    assert results and all(results)
    assert session.client().token != first_token
