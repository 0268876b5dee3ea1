"""No key, assertion or access token in any output, on every error path.

Each case runs with a known key; every assertion minted and every access token issued is recorded.
Then stdout, stderr, every log record at DEBUG (httpx and httpcore included, formatted with their
tracebacks), the exception's str and repr, its `__cause__`/`__context__` chain and its formatted
traceback are searched for the key (the PEM body or any 32-character run of it), the assertions (or
their signatures) and the tokens. The CLI `token` command is run with --debug on the same cases.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sfjwt_vault import Credentials, SfjwtError, cli, errors, plugins
from sfjwt_vault.retry import NO_RETRY
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from sfjwt_vault.token import AccessToken
from tests.conftest import pem_of, write_key
from tests.helpers import FAST_RETRY
from tests.hygiene.conftest import use_stores
from tests.hygiene.needles import RUN, Secrets


@pytest.fixture
def recorded(salesforce_app: SalesforceApp, monkeypatch: pytest.MonkeyPatch) -> Secrets:
    seen = Secrets([salesforce_app.private_key_pem])
    mint = Credentials.mint_assertion
    from_response = AccessToken.from_response.__func__  # type: ignore[attr-defined]

    def spy_mint(self: Credentials, key: Any = None) -> str:
        assertion = mint(self, key)
        seen.assertions.append(assertion)
        return assertion

    def spy_token(cls: type[AccessToken], data: dict[str, Any]) -> AccessToken:
        token: AccessToken = from_response(cls, data)
        seen.tokens.append(token.access_token)
        return token

    monkeypatch.setattr(Credentials, "mint_assertion", spy_mint)
    monkeypatch.setattr(AccessToken, "from_response", classmethod(spy_token))
    return seen


# -- the cases: (setup on the emulator/app -> Credentials overrides, expected error) ----------------

Setup = Callable[[SalesforceApp, Path], dict[str, Any]]


def _key_file(content: bytes) -> Setup:
    return lambda sf, tmp: {"key": f"file:{write_key(tmp / 'case.pem', content)}"}


def _pkcs8(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _inject(fault: str, times: int = 1, **overrides: Any) -> Setup:
    def setup(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
        sf.emulator.inject(fault, times=times, seconds=1.0)
        return overrides

    return setup


def _user(**flags: bool) -> Setup:
    return lambda sf, tmp: {"username": sf.emulator.add_user(f"u{len(sf.emulator.users)}@acme.com", **flags).username}


def _encrypted(passphrase: str | None) -> Setup:
    def setup(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
        key = serialization.load_pem_private_key(sf.private_key_pem, None)
        path = write_key(tmp / "enc.pem", pem_of(key, password=b"right passphrase"))  # type: ignore[arg-type]
        return {"key": f"file:{path}" + ("?passphrase_env=SFJWT_TEST_PW" if passphrase is not None else "")}

    return setup


def _clock_ahead(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
    sf.emulator.clock_skew = 600.0
    return {}


def _external(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
    return {"consumer_key": sf.emulator.add_app(sf.certificate_pem, kind="external").consumer_key}


def _other_key(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
    return {
        "key": f"file:{write_key(tmp / 'other.pem', pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)))}"
    }


def _truncated(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
    return _key_file(sf.private_key_pem[: len(sf.private_key_pem) // 2])(sf, tmp)


def _escaped(sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
    """The key with `\\n` literals (env-var mangling): accepted; the mint then fails on purpose."""
    sf.emulator.inject("500", times=4)
    return _key_file(sf.private_key_pem.replace(b"\n", b"\\n"))(sf, tmp)


# -- secret-store and remote-signer backends: the app's key is put where the backend reads it ------------


class BackendSetup:
    """A case that needs the moto/OpenBao servers (the `stores` fixture): `fn(sf, tmp, request)`.

    It points the AWS/Vault settings at those servers, registers the AWS and Vault plugins on the test's
    host, and returns the overrides (a `key` reference) like any other setup."""

    def __init__(self, fn: Callable[[SalesforceApp, Path, Any], dict[str, Any]]) -> None:
        self.fn = fn

    def __call__(self, sf: SalesforceApp, tmp: Path) -> dict[str, Any]:
        raise TypeError("a backend case needs the pytest request: see _prepare")

    def run(self, sf: SalesforceApp, tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
        stores = request.getfixturevalue("stores")
        use_stores(stores.env, request.getfixturevalue("monkeypatch"), request, request.getfixturevalue("host"))
        # The arranging calls below send the key on purpose (botocore logs request bodies at DEBUG):
        # they are not the code under test, so they run with logging off.
        logging.disable(logging.CRITICAL)
        try:
            return self.fn(sf, tmp, stores)
        finally:
            logging.disable(logging.NOTSET)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _body(pem: bytes) -> str:
    """The key's base64 body without the PEM lines: the key itself, just not as a PEM."""
    return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))


def _aws(kind: str) -> BackendSetup:
    def fn(sf: SalesforceApp, tmp: Path, stores: Any) -> dict[str, Any]:
        import boto3

        name = f"hygiene/out/{_tag()}"
        if kind == "not_found":
            return {"key": f"aws-sm:{name}"}
        if kind in ("kms_not_found", "kms_wrong_spec"):
            if kind == "kms_not_found":
                return {"key": f"aws-kms:{uuid.uuid4()}"}
            key = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
            return {"key": f"aws-kms:{key['KeyId']}"}
        pem = sf.private_key_pem.decode()
        value = {
            "wrong_field": json.dumps({"jwt_key": pem, "note": pem}),
            "not_pem": _body(sf.private_key_pem),
            "field_not_pem": json.dumps({"private_key": _body(sf.private_key_pem)}),
            "bad_json": '{"private_key": "' + pem.replace("\n", "\\n") + '", ',
            "deleted": pem,
        }[kind]
        sm = boto3.client("secretsmanager")
        sm.create_secret(Name=name, SecretString=value)
        if kind == "deleted":
            sm.delete_secret(SecretId=name)
        return {"key": f"aws-sm:{name}" + ("#other" if kind == "wrong_field" else "")}

    return BackendSetup(fn)


def _vault(kind: str) -> BackendSetup:
    def fn(sf: SalesforceApp, tmp: Path, stores: Any) -> dict[str, Any]:
        import hvac

        admin = hvac.Client(url=stores.env["VAULT_ADDR"], token=stores.env["VAULT_TOKEN"])
        path = f"hygiene/out/{_tag()}"
        pem = sf.private_key_pem.decode()
        if kind == "not_found":
            return {"key": f"vault:secret/{path}"}
        if kind in ("transit_not_found", "transit_wrong_type"):
            name = f"out-{_tag()}"
            if kind == "transit_wrong_type":
                admin.write(f"transit/keys/{name}", type="ed25519")
            return {"key": f"vault-transit:transit/{name}"}
        if kind == "unreachable":
            os.environ["VAULT_ADDR"] = f"http://127.0.0.1:{_closed_port()}"
            return {"key": f"vault:secret/{path}"}
        data = {
            "wrong_field": {"jwt_key": pem, "note": pem},
            "not_pem": {"private_key": _body(sf.private_key_pem)},
            "not_a_string": {"private_key": [pem]},
            "denied": {"private_key": pem},
            "sealed": {"private_key": pem},
        }[kind]
        admin.secrets.kv.v2.create_or_update_secret(path, data, mount_point="secret")
        if kind == "denied":
            admin.sys.create_or_update_policy("hygiene-nothing", 'path "sys/nothing" { capabilities = ["deny"] }')
            os.environ["VAULT_TOKEN"] = admin.auth.token.create(policies=["hygiene-nothing"], ttl="5m")["auth"][
                "client_token"
            ]
        if kind == "sealed":
            from tests.servers import start_dev_server

            server = start_dev_server(tmp)
            _cleanups.append(server.stop)
            sealed = hvac.Client(url=server.addr, token=server.token)
            sealed.secrets.kv.v2.create_or_update_secret(path, data, mount_point="secret")
            sealed.sys.seal()
            os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"] = server.addr, server.token
        return {"key": f"vault:secret/{path}" + ("#other" if kind == "wrong_field" else "")}

    return BackendSetup(fn)


_cleanups: list[Callable[[], None]] = []


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CASES: dict[str, tuple[Setup, type[SfjwtError]]] = {
    # Salesforce's answers
    "invalid_client_id": (lambda sf, tmp: {"consumer_key": "3MVG9unknown"}, errors.InvalidClientIdError),
    "unknown_user": (lambda sf, tmp: {"username": "nobody@acme.com"}, errors.UserNotApprovedError),
    "inactive_user": (_user(active=False), errors.InactiveUserError),
    "not_preauthorized": (_user(preauthorized=False), errors.UserNotApprovedError),
    "not_admin_approved": (_user(admin_approved=False), errors.InvalidAppAccessError),
    "ip_restricted": (_user(ip_restricted=True), errors.IpRestrictedError),
    "wrong_key": (_other_key, errors.InvalidAssertionError),
    "audience_invalid": (lambda sf, tmp: {"audience": "https://test.salesforce.com"}, errors.AudienceInvalidError),
    "app_not_found": (_external, errors.AppNotFoundError),
    "expired": (_clock_ahead, errors.AssertionExpiredError),
    "rate_limited": (_inject("rate"), errors.LoginRateExceededError),
    "unknown_error": (_inject("unknown_error", 4), errors.SalesforceAuthError),
    # broken answers
    "503_html": (_inject("503", 4), errors.TransientError),
    "500_empty": (_inject("500", 4), errors.TransientError),
    "html_200": (_inject("html", 4), errors.TransientError),
    "empty_200": (_inject("empty", 4), errors.TransientError),
    "redirect": (_inject("redirect"), errors.ConfigurationError),
    "huge": (_inject("huge", 1, retry=NO_RETRY), errors.TransientError),
    "stall": (_inject("stall", 1, retry=NO_RETRY, timeout=0.3), errors.TransientError),
    # the file backend and bad keys
    "missing_file": (lambda sf, tmp: {"key": f"file:{tmp / 'nope.pem'}"}, errors.KeyBackendError),
    "directory": (lambda sf, tmp: {"key": f"file:{tmp}"}, errors.KeyBackendError),
    "ten_megabytes": (_key_file(b"A" * (10 * 1024 * 1024)), errors.KeyBackendError),
    "empty_key": (_key_file(b""), errors.KeyFormatError),
    "garbage": (_key_file(b"not a key"), errors.KeyFormatError),
    "non_utf8": (_key_file(b"\xff\xfe\x00\x81\x80"), errors.KeyFormatError),
    "truncated": (_truncated, errors.KeyFormatError),
    "newline_literals": (_escaped, errors.TransientError),
    "encrypted_no_passphrase": (_encrypted(None), errors.KeyFormatError),
    "encrypted_wrong_passphrase": (_encrypted("wrong"), errors.KeyFormatError),
    "passphrase_var_unset": (_encrypted(""), errors.ConfigurationError),
    "ec": (lambda sf, tmp: _key_file(_pkcs8(ec.generate_private_key(ec.SECP256R1())))(sf, tmp), errors.KeyFormatError),
    "ed25519": (
        lambda sf, tmp: _key_file(_pkcs8(ed25519.Ed25519PrivateKey.generate()))(sf, tmp),
        errors.KeyFormatError,
    ),
    "rsa1024": (
        lambda sf, tmp: _key_file(_pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=1024)))(sf, tmp),
        errors.KeyFormatError,
    ),
    "certificate": (lambda sf, tmp: _key_file(sf.certificate_pem)(sf, tmp), errors.KeyFormatError),
    # AWS Secrets Manager and KMS (moto). moto does not enforce IAM, so access denied is covered by
    # tests/aws/test_errors.py's translation tests, not here.
    "aws_sm_not_found": (_aws("not_found"), errors.KeyBackendError),
    "aws_sm_deleted": (_aws("deleted"), errors.KeyBackendError),
    "aws_sm_wrong_field": (_aws("wrong_field"), errors.KeyBackendError),
    "aws_sm_not_pem": (_aws("not_pem"), errors.KeyFormatError),
    "aws_sm_field_not_pem": (_aws("field_not_pem"), errors.KeyFormatError),
    "aws_sm_bad_json": (_aws("bad_json"), errors.KeyFormatError),
    "aws_kms_not_found": (_aws("kms_not_found"), errors.KeyBackendError),
    "aws_kms_wrong_spec": (_aws("kms_wrong_spec"), errors.KeyBackendError),
    # Vault KV v2 and Transit (OpenBao)
    "vault_not_found": (_vault("not_found"), errors.KeyBackendError),
    "vault_permission_denied": (_vault("denied"), errors.KeyBackendError),
    "vault_wrong_field": (_vault("wrong_field"), errors.KeyBackendError),
    "vault_not_pem": (_vault("not_pem"), errors.KeyFormatError),
    "vault_not_a_string": (_vault("not_a_string"), errors.KeyFormatError),
    "vault_sealed": (_vault("sealed"), errors.TransientError),
    "vault_unreachable": (_vault("unreachable"), errors.TransientError),
    "vault_transit_not_found": (_vault("transit_not_found"), errors.KeyBackendError),
    "vault_transit_wrong_type": (_vault("transit_wrong_type"), errors.KeyBackendError),
}


def _prepare(
    name: str, sf: SalesforceApp, tmp: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> dict[str, Any]:
    if name == "passphrase_var_unset":
        monkeypatch.delenv("SFJWT_TEST_PW", raising=False)
    else:
        monkeypatch.setenv("SFJWT_TEST_PW", "wrong" if name == "encrypted_wrong_passphrase" else "right passphrase")
    setup = CASES[name][0]
    if isinstance(setup, BackendSetup):
        request.addfinalizer(_run_cleanups)
        return setup.run(sf, tmp, request)
    return setup(sf, tmp)


def _run_cleanups() -> None:
    while _cleanups:
        _cleanups.pop()()


def _exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    yield "traceback", "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield "str", str(current)
        yield "repr", repr(current)
        yield "args", repr(current.args)
        yield "attributes", repr(vars(current))
        current = current.__cause__ or current.__context__


@pytest.mark.parametrize("name", list(CASES))
def test_library_error_paths_leak_nothing(
    name: str,
    salesforce_app: SalesforceApp,
    host: plugins.PluginHost,
    recorded: Secrets,
    debug_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings: dict[str, Any] = {"audience": salesforce_app.audience, "token_url": salesforce_app.token_url}
    settings |= {"retry": FAST_RETRY, "plugin_host": host, "key": f"file:{salesforce_app.key_path}"}
    settings |= _prepare(name, salesforce_app, tmp_path, monkeypatch, request)
    consumer_key = settings.pop("consumer_key", salesforce_app.consumer_key)
    username = settings.pop("username", salesforce_app.username)
    key = settings.pop("key")
    from sfjwt_vault.cache import TokenCache

    creds = Credentials(consumer_key, username, key, cache=TokenCache(), **settings)
    with pytest.raises(CASES[name][1]) as info:
        creds.get_token()
    if name in ("newline_literals", "wrong_key", "expired", "invalid_client_id"):
        assert recorded.assertions, "the case should have minted: the check would be vacuous"
    logging.getLogger("sfjwt_vault").exception("failed")  # as an application would log it
    out, err = capsys.readouterr()
    for where, text in _exception_texts(info.value):
        recorded.check(where, text)
    recorded.check("stdout", out)
    recorded.check("stderr", err)
    recorded.check("log handler", debug_log.getvalue())
    recorded.check("caplog", caplog.text + repr([r.__dict__ for r in caplog.records]))
    recorded.check("repr(credentials)", repr(creds))


CLI_CASES = [
    "invalid_client_id",
    "wrong_key",
    "expired",
    "503_html",
    "redirect",
    "missing_file",
    "truncated",
    "encrypted_wrong_passphrase",
    "newline_literals",
    "rsa1024",
    "certificate",
    "ten_megabytes",
    "aws_sm_wrong_field",
    "aws_sm_not_pem",
    "aws_kms_wrong_spec",
    "vault_wrong_field",
    "vault_not_pem",
    "vault_permission_denied",
    "vault_transit_wrong_type",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_debug_error_paths_leak_nothing(
    name: str,
    salesforce_app: SalesforceApp,
    host: plugins.PluginHost,
    recorded: Secrets,
    debug_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    overrides = _prepare(name, salesforce_app, tmp_path, monkeypatch, request)
    env = {
        "SF_CONSUMER_KEY": overrides.get("consumer_key", salesforce_app.consumer_key),
        "SF_USERNAME": overrides.get("username", salesforce_app.username),
        "SFJWT_KEY": overrides.get("key", f"file:{salesforce_app.key_path}"),
        "SF_AUDIENCE": overrides.get("audience", salesforce_app.audience),
        "SF_TOKEN_URL": salesforce_app.token_url,
        "SFJWT_TIMEOUT": str(overrides.get("timeout", 5)),
    }
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(plugins, "_host", host)
    code = cli.main(["--debug", "token"])
    out, err = capsys.readouterr()
    assert code == CASES[name][1].exit_code
    assert "error:" in err
    recorded.check("stdout", out)
    recorded.check("stderr", err)
    recorded.check("log handler", debug_log.getvalue())
    recorded.check("caplog", caplog.text)


def test_cli_token_output_is_the_only_place_the_token_appears(
    salesforce_app: SalesforceApp,
    host: plugins.PluginHost,
    recorded: Secrets,
    debug_log: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var, value in {
        "SF_CONSUMER_KEY": salesforce_app.consumer_key,
        "SF_USERNAME": salesforce_app.username,
        "SFJWT_KEY": f"file:{salesforce_app.key_path}",
        "SF_AUDIENCE": salesforce_app.audience,
        "SF_TOKEN_URL": salesforce_app.token_url,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(plugins, "_host", host)
    assert cli.main(["--debug", "token", "--format", "env"]) == 0
    out, err = capsys.readouterr()
    assert recorded.tokens and f"export SF_ACCESS_TOKEN={shlex.quote(recorded.tokens[0])}" in out
    recorded.tokens.clear()  # the token is the command's output; the key and assertion never are
    recorded.check("stdout", out)
    recorded.check("stderr", err)
    assert debug_log.getvalue(), "debug logging was on: the check would be vacuous"
    recorded.tokens.append(shlex.split(out.split("SF_ACCESS_TOKEN=")[1])[0])
    recorded.check("log handler", debug_log.getvalue())


def test_the_check_catches_each_kind_of_secret(salesforce_app: SalesforceApp) -> None:
    """The searches above would fail on a leak: a run of the key, an assertion's signature, a token."""
    seen = Secrets([salesforce_app.private_key_pem])
    body = salesforce_app.private_key_pem.decode().splitlines()[8]  # DER bytes 336-384: inside d, past the modulus
    with pytest.raises(AssertionError, match="a secret appears"):
        seen.check("text", f"error: bad key near {body[13 : 13 + RUN]}!")
    seen.assertions.append("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0." + "s" * 342)
    with pytest.raises(AssertionError):
        seen.check("text", "sig=" + "s" * RUN)
    seen.tokens.append("00Dxx!AQ0AQtoken")
    with pytest.raises(AssertionError):
        seen.check("text", "Bearer 00Dxx!AQ0AQtoken")
