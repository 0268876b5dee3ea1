"""`.`/`..` path segments never reach a secret store: not in the path, not percent-encoded, not through
a path-like option (Vault's `?mount=`), and not through the reference a backend derives for rotation."""

from __future__ import annotations

import pytest
import sfjwt_vault_aws
import sfjwt_vault_hashicorp
from sfjwt_vault_aws.ref import parse_kms_ref, previous_version
from sfjwt_vault_hashicorp import kv, transit

from sfjwt_vault import ConfigurationError, KeyRef
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost

BAD_REFS = [
    "aws-sm:prod/../other/sf",
    "aws-sm:prod/%2E%2E/sf#private_key",
    "aws-kms:alias/../other",
    "vault:secret/../sys/sf",
    "vault:secret/sf/%2e",
    "vault-transit:transit/..\\keys",
    # a path-like option: the mount is part of the API path Vault is called on
    "vault:secret/sf/jwt?mount=secret/..",
    "vault-transit:sf-jwt?mount=..",
    "vault-transit:sf-jwt?mount=%2e%2e%2Ftransit",
    "vault:secret/sf/jwt?kv=2&mount=./secret",
]


@pytest.fixture
def host() -> PluginHost:
    plugin_host = PluginHost(load_entry_points=False)
    plugin_host.register(sfjwt_vault_aws, "aws")
    plugin_host.register(sfjwt_vault_hashicorp, "vault")
    return plugin_host


@pytest.mark.parametrize("ref", BAD_REFS)
def test_dot_segments_are_refused_before_any_request(
    ref: str, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens here: a refusal that came from a request would be a connection error instead.
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "unused")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(ConfigurationError, match=r"'\.' or '\.\.'"):
        with open_signer(ref, host):
            pass


def test_the_plugins_parsers_refuse_a_dot_mount_themselves() -> None:
    """The check sits in the plugin too, so a KeyRef built without KeyRef.parse cannot slip past."""
    built = KeyRef(scheme="vault-transit", path="sf-jwt", options={"mount": "a/../transit"}, fragment=None, raw="x")
    with pytest.raises(ConfigurationError):
        transit.TransitKey.parse(built)
    with pytest.raises(ConfigurationError):
        kv.mount_option(KeyRef(scheme="vault", path="secret/sf", options={"mount": ".."}, fragment=None, raw="y"))


def test_derived_references_keep_the_path_as_parsed() -> None:
    """AWS builds the AWSPREVIOUS reference from the parsed path, which has no dot segment to carry."""
    previous = previous_version(KeyRef.parse("aws-sm:prod/sf#k"))
    assert previous is not None and previous.path == "prod/sf" and KeyRef.parse(str(previous)).path == "prod/sf"
    assert parse_kms_ref(KeyRef.parse("aws-kms:alias/sf")).key_id == "alias/sf"


def test_good_mounts_still_parse() -> None:
    assert transit.TransitKey.parse(KeyRef.parse("vault-transit:team/transit/sf?mount=team/transit")).name == "sf"
    assert kv.mount_option(KeyRef.parse("vault:team/kv/sf/jwt?mount=team/kv")) == "team/kv"
