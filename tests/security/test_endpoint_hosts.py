"""Token URL and audience hosts (issue 13 item 4): Salesforce's login domains and loopback by default,
normalized before every check, another host only by the user's explicit `allowed_hosts` setting."""

from __future__ import annotations

import pytest

from sfjwt_vault import Credentials, endpoints
from sfjwt_vault.errors import ConfigurationError, UntrustedResponseError

SALESFORCE_HOSTS = [
    "https://login.salesforce.com",
    "https://test.salesforce.com",
    "https://acme.my.salesforce.com",
    "https://acme--uat.sandbox.my.salesforce.com",
    "https://acme-dev-ed.develop.my.salesforce.com",
    "https://acme.scratch.my.salesforce.com",
    "https://acme.my.site.com/partners",
    "https://acme.force.com/customers",
    "https://acme.my.salesforce.mil",
    "http://127.0.0.1:8443",
    "https://localhost:8443",
    "http://[::1]:9",
]

REFUSED = {
    "https://attacker.example.net": "not a Salesforce login domain",
    "https://salesforce.com.attacker.net": "not a Salesforce login domain",
    "https://evilsalesforce.com": "not a Salesforce login domain",
    "https://login.salesforce.com@attacker.net": "user name, a query or a fragment",
    "https://attacker.net@login.salesforce.com": "user name, a query or a fragment",
    "https://login.salesforce.com/?x=1": "user name, a query or a fragment",
    "https://acme.lightning.force.com": "Lightning domain",
    "https://acme.lightning.force.com./": "Lightning domain",
    "https://ACME.Lightning.Force.COM": "Lightning domain",
    "https://acme.lightning.force.com\u3002": "Lightning domain",  # an ideographic full stop, IDNA-mapped to "."
    "https://acme%2elightning.force.com": "not an http(s) URL",
    "https://x.my.salesforce.com; touch pwned; echo": "not an http(s) URL",
    "http://login.salesforce.com": "plain http",
    "http://10.0.0.5:8080": "plain http",
    "ftp://login.salesforce.com": "not an http(s) URL",
}


@pytest.mark.parametrize("url", SALESFORCE_HOSTS)
def test_salesforce_domains_and_loopback_are_accepted(url: str) -> None:
    creds = Credentials("3MVG9abc", "u@acme.com", "k.pem", audience=url, token_url=url)
    assert creds.token_url.endswith(endpoints.TOKEN_PATH)


@pytest.mark.parametrize(("url", "words"), REFUSED.items())
def test_other_hosts_are_refused_as_token_url_and_audience(url: str, words: str) -> None:
    for setting in ("token_url", "audience"):
        with pytest.raises(ConfigurationError) as info:
            Credentials("3MVG9abc", "u@acme.com", "k.pem", **{setting: url})
        assert words in info.value.message, info.value.message
        assert info.value.hint


def test_hosts_are_normalized_before_the_check() -> None:
    creds = Credentials(
        "3MVG9abc",
        "u@acme.com",
        "k.pem",
        audience="https://LOGIN.Salesforce.com./",
        token_url="https://ACME.my.salesforce.com.",
    )
    assert creds.audience == "https://login.salesforce.com"
    assert creds.token_url == "https://acme.my.salesforce.com/services/oauth2/token"


def test_an_explicitly_allowed_host_is_accepted() -> None:
    creds = Credentials(
        "3MVG9abc",
        "u@acme.com",
        "k.pem",
        audience="https://community.acme.com/partners",
        allowed_hosts=["Community.Acme.com.", "*.proxy.corp.example"],
        token_url="https://sf.proxy.corp.example",
    )
    assert creds.audience == "https://community.acme.com/partners"
    assert creds.token_url == "https://sf.proxy.corp.example/services/oauth2/token"
    with pytest.raises(ConfigurationError, match="not a Salesforce login domain"):
        Credentials(
            "3MVG9abc", "u@acme.com", "k.pem", token_url="https://other.example", allowed_hosts="community.acme.com"
        )


@pytest.mark.parametrize(
    ("url", "words"),
    [("http://sf.proxy.corp.example", "plain http"), ("https://acme.lightning.force.com", "Lightning domain")],
)
def test_the_allow_list_never_allows_plain_http_or_lightning(url: str, words: str) -> None:
    allowed = ["sf.proxy.corp.example", "acme.lightning.force.com"]
    with pytest.raises(ConfigurationError, match=words):
        Credentials("3MVG9abc", "u@acme.com", "k.pem", token_url=url, allowed_hosts=allowed)


@pytest.mark.parametrize("entry", ["https://sf.proxy.corp.example", "proxy.corp:443", "a b", "*.", "ex_ample.com"])
def test_allowed_hosts_take_host_names_only(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="not a host name"):
        endpoints.parse_allowed_hosts(entry)


def test_from_env_reads_the_allowed_hosts() -> None:
    env = {
        "SF_CONSUMER_KEY": "3MVG9abc",
        "SF_USERNAME": "u@acme.com",
        "SFJWT_KEY": "k.pem",
        "SF_TOKEN_URL": "https://sf-proxy.corp.example",
    }
    with pytest.raises(ConfigurationError, match=r"SF_TOKEN_URL: the token URL host sf-proxy\.corp\.example "):
        Credentials.from_env(env)
    creds = Credentials.from_env({**env, "SFJWT_ALLOWED_HOSTS": "sf-proxy.corp.example"})
    assert creds.token_url == "https://sf-proxy.corp.example/services/oauth2/token"


@pytest.mark.parametrize(
    "url",
    ["https://acme.my.salesforce.com", "https://na1.salesforce.com/", "http://127.0.0.1:5000", "https://[::1]:9"],
)
def test_instance_urls_salesforce_gives_are_accepted(url: str) -> None:
    assert endpoints.check_instance_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "https://x.my.salesforce.com; touch pwned; echo",
        "https://attacker.example.net",
        "http://acme.my.salesforce.com",
        "https://acme.lightning.force.com",
        "https://acme.my.salesforce.com/services/data",
        "https://acme.my.salesforce.com?$(id)",
        "https://u:p@acme.my.salesforce.com",
        "javascript:alert(1)",
        "",
        None,
        42,
    ],
)
def test_hostile_instance_urls_are_refused(url: object) -> None:
    with pytest.raises(UntrustedResponseError) as info:
        endpoints.check_instance_url(url)
    assert info.value.exit_code == 2 and info.value.hint and not info.value.retryable


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://login.salesforce.com", "login"),
        ("https://acme--uat.sandbox.my.salesforce.com", "sandbox-mydomain"),
        ("https://acme.my.site.com", "site"),
        ("https://na1.salesforce.com", "salesforce"),
        ("https://community.acme.com", "allowed"),
        ("https://attacker.example.net", "other"),
    ],
)
def test_host_kinds(url: str, kind: str) -> None:
    assert endpoints.host_kind(url, ("community.acme.com",)) == kind
