"""The REST subset, identity service and revocation over real HTTP: Salesforce's shapes, never a 404
for what the version resource advertises, and 401 INVALID_SESSION_ID for every dead session."""

from __future__ import annotations

import re

import httpx
import pytest

from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .client import CLIENT, bearer, limits, mint, post, rest_get, token_for

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
V = "/services/data/v65.0"


def query(em: SalesforceEmulator, token: str | None, q: str, *, api: str = V) -> httpx.Response:
    return rest_get(em, f"{api}/query", token, q=q)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"message", "errorCode"}
    code: str = body[0]["errorCode"]
    return code


# -- versions, resources, limits ------------------------------------------------------------------------


def test_versions_list_is_public(salesforce_emulator: SalesforceEmulator) -> None:
    response = CLIENT.get(salesforce_emulator.base_url + "/services/data/")
    assert response.status_code == 200
    assert response.json() == [{"label": "Winter '26", "url": "/services/data/v65.0", "version": "65.0"}]


def test_every_advertised_resource_is_served(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    resources = rest_get(em, V + "/", token)
    assert resources.status_code == 200
    assert set(resources.json()) == {"limits", "query", "sobjects", "tooling"}  # no "search": not served
    for path in [*resources.json().values(), *rest_get(em, V + "/tooling", token).json().values()]:
        params = {"q": "SELECT Id FROM Organization"} if path.endswith("/query") else {}
        response = rest_get(em, path, token, **params)
        assert response.status_code == 200, (path, response.text)


def test_limits_and_usage_header(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    first = limits(em, token)
    second = limits(em, token)
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/15000"
    assert second.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14998}
    assert em.api_requests == 2


def test_unknown_resource_and_version(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    for path in (V + "/nope", "/services/data/v99.0/limits", "/services/data/v19.0/limits", V + "/search"):
        response = rest_get(em, path, token)
        assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert em.rest_calls == 4


def test_method_not_allowed(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    response = CLIENT.post(em.base_url + V + "/query", headers=bearer(token_for(salesforce_app)), json={})
    assert response.status_code == 405 and error_code(response) == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer"])
@pytest.mark.parametrize(
    "path", [V + "/limits", V + "/", V + "/query?q=SELECT+Id+FROM+User", V + "/tooling/query", V + "/sobjects"]
)
def test_every_resource_needs_a_live_session(
    salesforce_emulator: SalesforceEmulator, authorization: str | None, path: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = CLIENT.get(salesforce_emulator.base_url + path, headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_SESSION
    assert "Sforce-Limit-Info" not in response.headers


def test_oauth_scheme_is_accepted(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    response = CLIENT.get(em.base_url + V + "/limits", headers={"Authorization": f"OAuth {token_for(salesforce_app)}"})
    assert response.status_code == 200


# -- query ------------------------------------------------------------------------------------------------


def test_query_users(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    other = em.add_user("other@acme.com", active=False)
    token = token_for(salesforce_app)
    response = query(em, token, "select id, USERNAME, IsActive from user")
    assert response.status_code == 200
    body = response.json()
    assert body["totalSize"] == 2 and body["done"] is True
    first = body["records"][0]
    assert list(first) == ["attributes", "Id", "Username", "IsActive"]  # API names, in SELECT order
    assert first["attributes"] == {"type": "User", "url": f"{V}/sobjects/User/{salesforce_app.user.user_id}"}
    assert [r["Username"] for r in body["records"]] == [salesforce_app.username, other.username]
    assert body["records"][1]["IsActive"] is False
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_query_where_and_limit(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.add_user("o'brien@acme.com")
    token = token_for(salesforce_app)
    found = query(em, token, f"SELECT Id FROM User WHERE Username = '{salesforce_app.username.upper()}'").json()  # noqa: S608
    assert found["totalSize"] == 1 and found["records"][0]["Id"] == salesforce_app.user.user_id  # case-insensitive
    escaped = query(em, token, "SELECT Username FROM User WHERE Username = 'o\\'brien@acme.com' AND IsActive = true")
    assert [r["Username"] for r in escaped.json()["records"]] == ["o'brien@acme.com"]
    assert query(em, token, "SELECT Id FROM User WHERE IsActive = false").json()["totalSize"] == 0
    assert query(em, token, "SELECT Id FROM User LIMIT 1").json()["totalSize"] == 1
    by_id = query(em, token, f"SELECT Name FROM User WHERE Id = '{salesforce_app.user.user_id[:15]}'").json()  # noqa: S608
    assert by_id["totalSize"] == 1
    count = query(em, token, "SELECT COUNT() FROM User").json()
    assert count == {"totalSize": 2, "done": True, "records": []}


def test_query_organization(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    body = query(em, token, "SELECT Id, Name, IsSandbox, InstanceName, TrialExpirationDate FROM Organization").json()
    assert body["totalSize"] == 1
    record = body["records"][0]
    assert record["Id"] == em.org_id and record["IsSandbox"] is False and record["TrialExpirationDate"] is None


def test_tooling_query(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    response = query(em, token_for(salesforce_app), "SELECT Id FROM User", api=V + "/tooling")
    assert response.status_code == 200
    record = response.json()["records"][0]
    assert record["attributes"]["url"] == f"{V}/tooling/sobjects/User/{salesforce_app.user.user_id}"


@pytest.mark.parametrize(
    ("q", "code", "pointer"),
    [
        ("SELECT FROM User", "MALFORMED_QUERY", "unexpected token: FROM"),
        ("SELECT Id User", "MALFORMED_QUERY", "unexpected token: User"),
        ("SELECT Id FROM User WHERE", "MALFORMED_QUERY", "unexpected end of query"),
        ("SELECT Id FROM User WHERE Username != 'x'", "MALFORMED_QUERY", "unexpected token: !="),
        ("SELECT Id FROM User WHERE IsActive = true OR IsActive = false", "MALFORMED_QUERY", "unexpected token: OR"),
        ("SELECT Id FROM User ORDER BY Username", "MALFORMED_QUERY", "unexpected token: ORDER"),
        ("SELECT Id FROM User LIMIT many", "MALFORMED_QUERY", "unexpected token: many"),
        ("DELETE FROM User", "MALFORMED_QUERY", "unexpected token: DELETE"),
        ("SELECT Id FROM Account", "INVALID_TYPE", "sObject type 'Account' is not supported."),
        ("SELECT Id FROM ScratchOrgInfo", "INVALID_TYPE", "sObject type 'ScratchOrgInfo' is not supported."),
        ("SELECT Bogus FROM User", "INVALID_FIELD", "No such column 'Bogus' on entity 'User'."),
        ("SELECT Profile.Name FROM User", "INVALID_FIELD", "Didn't understand relationship 'Profile'"),
        ("SELECT Id FROM User WHERE Bogus = 'x'", "INVALID_FIELD", "No such column 'Bogus' on entity 'User'."),
        ("SELECT Id FROM User WHERE IsActive = 'true'", "INVALID_FIELD", "must be of type boolean"),
        ("SELECT Id FROM User WHERE Username = true", "INVALID_FIELD", "must be of type string"),
        ("SELECT Id FROM User WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
    ],
)
def test_query_errors(salesforce_app: SalesforceApp, q: str, code: str, pointer: str) -> None:
    response = query(salesforce_app.emulator, token_for(salesforce_app), q)
    assert response.status_code == 400
    assert error_code(response) == code
    message = response.json()[0]["message"]
    assert pointer in message
    assert re.search(r"ERROR at Row:1:Column:\d+", message) and f"\n{q}\n" in message


def test_query_without_q(salesforce_app: SalesforceApp) -> None:
    response = rest_get(salesforce_app.emulator, V + "/query", token_for(salesforce_app))
    assert response.status_code == 400
    assert response.json() == [{"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}]


# -- sobjects ---------------------------------------------------------------------------------------------


def test_global_describe_lists_what_is_served(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    body = rest_get(em, V + "/sobjects", token).json()
    assert {s["name"] for s in body["sobjects"]} == {"User", "Organization"}
    for sobject in body["sobjects"]:
        assert sobject["queryable"] is True and set(sobject["urls"]) == {"rowTemplate"}
        record_id = em.org_id if sobject["name"] == "Organization" else salesforce_app.user.user_id
        record = rest_get(em, sobject["urls"]["rowTemplate"].replace("{ID}", record_id), token)
        assert record.status_code == 200 and record.json()["Id"] == record_id


def test_record_urls_from_a_query_are_served(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    record = query(em, token, "SELECT Id FROM User").json()["records"][0]
    full = rest_get(em, record["attributes"]["url"], token).json()
    assert full["Username"] == salesforce_app.username and full["attributes"]["type"] == "User"
    assert rest_get(em, V + "/sobjects/User/005000000000000AAA", token).status_code == 404
    assert rest_get(em, V + "/sobjects/Account/001000000000000AAA", token).status_code == 404


# -- identity and userinfo ----------------------------------------------------------------------------------


def test_identity_url_is_served(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    response = post(em, mint(salesforce_app))
    token_body = response.json()
    assert response.status_code == 200 and token_body["id"].startswith(em.base_url + "/id/")
    by_header = CLIENT.get(token_body["id"], headers=bearer(token_body["access_token"]))
    by_param = CLIENT.get(token_body["id"], params={"format": "json", "oauth_token": token_body["access_token"]})
    for identity in (by_header, by_param):
        assert identity.status_code == 200
        body = identity.json()
        assert body["id"] == token_body["id"]
        assert body["user_id"] == salesforce_app.user.user_id and body["organization_id"] == em.org_id
        assert body["username"] == salesforce_app.username and body["active"] is True
        assert body["display_name"] and body["user_type"] == "STANDARD"
        assert body["urls"]["rest"] == f"{em.base_url}/services/data/v{{version}}/"
    # Every advertised URL is served (with a version filled in).
    for name, url in by_header.json()["urls"].items():
        url = url.replace("{version}", "65.0")
        params = {"q": "SELECT Id FROM User"} if name == "query" else {}
        assert CLIENT.get(url, headers=bearer(token_body["access_token"]), params=params).status_code == 200, name


@pytest.mark.parametrize("token", [None, "nope", "00Dxx!expired"])
def test_identity_refuses_a_bad_token(salesforce_app: SalesforceApp, token: str | None) -> None:
    em = salesforce_app.emulator
    url = em.identity_url(salesforce_app.user)
    response = CLIENT.get(url, headers=bearer(token) if token else {})
    assert response.status_code == 403 and response.text == "Bad_OAuth_Token"
    assert CLIENT.get(url, params={"oauth_token": token or ""}).status_code == 403


def test_identity_of_an_unknown_id(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    response = CLIENT.get(f"{em.base_url}/id/{em.org_id}/005000000000000AAA", headers=bearer(token))
    assert response.status_code == 404 and response.text == "Bad_Id"


def test_userinfo(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    response = CLIENT.get(em.base_url + "/services/oauth2/userinfo", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == em.identity_url(salesforce_app.user)
    assert body["user_id"] == salesforce_app.user.user_id
    assert body["organization_id"] == em.org_id
    assert body["preferred_username"] == salesforce_app.username
    assert CLIENT.get(em.base_url + "/services/oauth2/userinfo").status_code == 403


# -- sessions: sliding, expiry, revocation ------------------------------------------------------------------


def test_sliding_session(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.session_lifetime = 100.0
    token = token_for(salesforce_app)
    for _ in range(4):  # 4 x 60 s > 100 s lifetime, but each call slides it
        em.clock_skew += 60
        assert limits(em, token).status_code == 200
    em.clock_skew += 101
    response = limits(em, token)
    assert response.status_code == 401 and response.json() == INVALID_SESSION


def test_short_session_lifetime_expires(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.session_lifetime = 30.0
    token = token_for(salesforce_app)
    assert em.live_sessions() == 1
    em.clock_skew += 31  # the emulator's clock, not a sleep
    assert em.live_sessions() == 0
    assert limits(em, token).json() == INVALID_SESSION
    assert CLIENT.get(em.identity_url(salesforce_app.user), headers=bearer(token)).status_code == 403


def test_expire_all_tokens(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    assert limits(em, token).status_code == 200
    em.expire_all_tokens()
    assert limits(em, token).json() == INVALID_SESSION
    assert limits(em, token_for(salesforce_app)).status_code == 200


def revoke(em: SalesforceEmulator, **form: str) -> httpx.Response:
    return CLIENT.post(em.base_url + "/services/oauth2/revoke", data=form)


def test_revoke_endpoint(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token, other = token_for(salesforce_app), token_for(salesforce_app)
    response = revoke(em, token=token)
    assert response.status_code == 200 and response.content == b""
    for path in (V + "/limits", V + "/query?q=SELECT+Id+FROM+User", V + "/sobjects"):
        assert CLIENT.get(em.base_url + path, headers=bearer(token)).json() == INVALID_SESSION
    assert CLIENT.get(em.identity_url(salesforce_app.user), headers=bearer(token)).status_code == 403
    assert limits(em, other).status_code == 200  # only that session ended
    again = revoke(em, token=token)
    assert again.status_code == 400 and again.json() == {"error": "invalid_token", "error_description": "invalid token"}
    assert em.revoke_requests == 2


@pytest.mark.parametrize("form", [{}, {"token": ""}, {"token_type_hint": "access_token"}])
def test_revoke_without_a_token(salesforce_emulator: SalesforceEmulator, form: dict[str, str]) -> None:
    response = revoke(salesforce_emulator, **form)
    assert response.status_code == 400 and response.json()["error"] == "unsupported_token_type"


def test_revoke_unknown_token(salesforce_emulator: SalesforceEmulator) -> None:
    response = revoke(salesforce_emulator, token="00Dxx!nope")
    assert response.status_code == 400 and response.json()["error"] == "invalid_token"


def test_revoke_from_test_code(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    assert em.revoke(token) is True
    assert em.revoke(token) is False
    assert limits(em, token).json() == INVALID_SESSION
    assert em.revoke_requests == 0  # no request was made


# -- policy blocks ------------------------------------------------------------------------------------------


def test_rest_blocks(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    em.set_rest_block("not_rest")
    response = limits(em, token)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "This session is not valid for use with the REST API", "errorCode": "INVALID_SESSION_ID"}
    ]
    em.set_rest_block("limit")
    response = limits(em, token)
    assert response.status_code == 403
    assert response.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    em.set_rest_block(None)
    assert limits(em, token).status_code == 200
    with pytest.raises(ValueError):
        em.set_rest_block("bogus")


def test_api_disabled_user(salesforce_app: SalesforceApp) -> None:
    salesforce_app.user.api_enabled = False
    response = limits(salesforce_app.emulator, token_for(salesforce_app))
    assert response.status_code == 403 and error_code(response) == "API_DISABLED_FOR_ORG"
