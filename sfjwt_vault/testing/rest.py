"""The REST API subset and the identity service, over the records the emulator really holds.

Served: the version list, the resource list, `limits`, `query` and `tooling/query` (the SOQL subset in
soql.py), the global describe `sobjects` and single records, OpenID `userinfo` and the identity URL.
Every versioned resource first needs a live session (401 `INVALID_SESSION_ID` otherwise, the body
clients key their re-login on) and carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from . import soql
from .model import Session, User
from .sobjects import ORGANIZATION, TYPES, USER, Record, columns, find_type, run, with_attributes
from .wire import Reply, Request, api_error, bad_oauth_token, invalid_session, json_reply, not_found

if TYPE_CHECKING:
    from .emulator import SalesforceEmulator

API_VERSION = "65.0"
API_LABEL = "Winter '26"
OLDEST_VERSION = 20.0
DAILY_API_REQUESTS = 15000
_VERSION_PATH = re.compile(r"^/services/data/v(\d+)\.(\d)(/.*)?$")
_RECORD_PATH = re.compile(r"^(/tooling)?/sobjects/([A-Za-z]+)/([A-Za-z0-9]{15,18})$")
_IDENTITY_IDS = re.compile(r"^/id/([A-Za-z0-9]+)/([A-Za-z0-9]+)/?$")
_READ_ONLY = ("GET", "HEAD")


def access_token(request: Request, *, query_param: bool = False) -> str:
    """The token from `Authorization: Bearer` (or the older `OAuth` scheme); also `oauth_token=` where
    Salesforce takes it in the URL (the identity service)."""
    scheme, _, value = request.header("Authorization").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query.get("oauth_token", "") if query_param else ""


def _live_session(em: SalesforceEmulator, token: str) -> Session | None:
    """The session behind `token`, its expiry slid forward (each use extends a Salesforce session)."""
    if not token:
        return None
    now = em.now()
    session = em.sessions.live(token, now)
    if session is not None:
        session.expires_at = now + em.session_lifetime
    return session


# -- records ------------------------------------------------------------------------------------------


def _user_record(user: User) -> Record:
    local = user.username.split("@", 1)[0]
    return {
        "Id": user.user_id,
        "Username": user.username,
        "Name": user.display_name,
        "FirstName": user.first_name,
        "LastName": user.last_name,
        "Email": user.email,
        "Alias": re.sub(r"[^A-Za-z0-9]", "", local)[:8] or "user",
        "IsActive": user.active,
        "UserType": "Standard",
        "LanguageLocaleKey": "en_US",
        "LocaleSidKey": "en_US",
        "TimeZoneSidKey": "America/Los_Angeles",
    }


def _organization_record(em: SalesforceEmulator) -> Record:
    return {
        "Id": em.org_id,
        "Name": em.org_name,
        "IsSandbox": em.sandbox,
        "InstanceName": "EMU1",
        "OrganizationType": "Enterprise Edition",
        "NamespacePrefix": None,
        "TrialExpirationDate": None,
        "LanguageLocaleKey": "en_US",
        "DefaultLocaleSidKey": "en_US",
        "TimeZoneSidKey": "America/Los_Angeles",
    }


def _records(em: SalesforceEmulator) -> dict[str, list[Record]]:
    return {USER.name: [_user_record(u) for u in em.users], ORGANIZATION.name: [_organization_record(em)]}


# -- /services/data -------------------------------------------------------------------------------------


def _versions() -> Reply:
    # Public on Salesforce too: the version list needs no session.
    return json_reply(200, [{"label": API_LABEL, "url": f"/services/data/v{API_VERSION}", "version": API_VERSION}])


def data(em: SalesforceEmulator, request: Request) -> Reply:
    """Everything under /services/data."""
    with em.lock:
        em.rest_calls += 1
        if request.path in ("/services/data", "/services/data/"):
            return _versions()
        match = _VERSION_PATH.match(request.path)
        if match is None:
            return not_found()
        session = _live_session(em, access_token(request))
        if session is None:
            return invalid_session()
        if em.rest_block == "not_rest":
            return api_error(401, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")
        if em.rest_block == "limit":
            return api_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if not session.user.api_enabled:
            return api_error(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization.")
        em.api_requests += 1
        reply = _resource(em, request, f"{match[1]}.{match[2]}", (match[3] or "/").rstrip("/"))
        reply.headers["Sforce-Limit-Info"] = f"api-usage={em.api_requests}/{DAILY_API_REQUESTS}"
        return reply


def _resource(em: SalesforceEmulator, request: Request, version: str, resource: str) -> Reply:
    """One versioned resource; called with the lock held and the session checked."""
    if not OLDEST_VERSION <= float(version) <= float(API_VERSION):
        return not_found()
    if request.method not in _READ_ONLY:
        message = f"HTTP Method '{request.method}' not allowed. Allowed are GET,HEAD"
        return api_error(405, "METHOD_NOT_ALLOWED", message)
    base = f"/services/data/v{version}"
    if resource == "":
        return json_reply(
            200,
            {
                "limits": f"{base}/limits",
                "query": f"{base}/query",
                "sobjects": f"{base}/sobjects",
                "tooling": f"{base}/tooling",
            },
        )
    if resource == "/tooling":
        return json_reply(200, {"query": f"{base}/tooling/query", "sobjects": f"{base}/tooling/sobjects"})
    if resource == "/limits":
        remaining = max(0, DAILY_API_REQUESTS - em.api_requests)
        return json_reply(
            200,
            {
                "DailyApiRequests": {"Max": DAILY_API_REQUESTS, "Remaining": remaining},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )
    if resource in ("/query", "/tooling/query"):
        return _query(em, request, base + ("/tooling" if resource.startswith("/tooling") else ""))
    if resource in ("/sobjects", "/tooling/sobjects"):
        api = base + ("/tooling" if resource.startswith("/tooling") else "")
        payload = {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [t.describe(api) for t in TYPES]}
        return json_reply(200, payload)
    record = _RECORD_PATH.match(resource)
    if record is not None:
        return _record(em, base + (record[1] or ""), record[2], record[3])
    return not_found()


def _query(em: SalesforceEmulator, request: Request, api: str) -> Reply:
    text = request.query.get("q", "")
    if not text.strip():
        return api_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        parsed = soql.parse(text)
        if request.query.get("columns", "").lower() == "true":
            return json_reply(200, columns(parsed, _records(em)), note="columns")
        result = run(parsed, _records(em), api)
    except soql.SoqlError as refused:
        return api_error(400, refused.error_code, refused.message)
    return json_reply(200, result, note=f"{result['totalSize']} record(s)")


def _record(em: SalesforceEmulator, api: str, type_name: str, record_id: str) -> Reply:
    sobject = find_type(type_name)
    if sobject is None or sobject.name != type_name:
        return not_found()
    for record in _records(em)[sobject.name]:
        if record["Id"] == record_id or (len(record_id) == 15 and record["Id"][:15] == record_id):
            return json_reply(200, with_attributes(sobject, record, api))
    return not_found()


# -- identity ---------------------------------------------------------------------------------------------


def _identity_urls(em: SalesforceEmulator, user: User) -> dict[str, str]:
    """What the identity service advertises: only resources this emulator serves."""
    data_api = f"{em.base_url}/services/data/v{{version}}"
    return {
        "rest": f"{data_api}/",
        "sobjects": f"{data_api}/sobjects/",
        "query": f"{data_api}/query/",
        "tooling_rest": f"{data_api}/tooling/",
        "profile": em.identity_url(user),
    }


def _identity_caller(em: SalesforceEmulator, request: Request) -> Session | None:
    """Count an identity-service call and find its session (header or `oauth_token=`); lock held."""
    em.rest_calls += 1
    return _live_session(em, access_token(request, query_param=True))


def identity(em: SalesforceEmulator, request: Request) -> Reply:
    """`GET /id/<org id>/<user id>`: who a token belongs to. A bad token gets 403 `Bad_OAuth_Token`."""
    with em.lock:
        session = _identity_caller(em, request)
        if session is None:
            return bad_oauth_token()
        match = _IDENTITY_IDS.match(request.path)
        org_id, user_id = (match[1], match[2]) if match else ("", "")
        user = next((u for u in em.users if u.user_id[: len(user_id)] == user_id and len(user_id) in (15, 18)), None)
        if org_id[:15] != em.org_id[:15] or user is None:
            return Reply(404, b"Bad_Id", "text/plain;charset=UTF-8", note="Bad_Id")
        payload: dict[str, Any] = {
            "id": em.identity_url(user),
            "asserted_user": user is session.user,
            "user_id": user.user_id,
            "organization_id": em.org_id,
            "username": user.username,
            "nick_name": user.username.split("@", 1)[0],
            "display_name": user.display_name,
            "email": user.email,
            "email_verified": True,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "timezone": "America/Los_Angeles",
            "active": user.active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": -28800000,
            "last_modified_date": datetime.datetime.fromtimestamp(em.now(), datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000"
            ),
            "is_app_installed": True,
            "urls": _identity_urls(em, user),
        }
        return json_reply(200, payload)


def userinfo(em: SalesforceEmulator, request: Request) -> Reply:
    """OpenID Connect `userinfo`: the same facts in OpenID's names."""
    with em.lock:
        session = _identity_caller(em, request)
        if session is None:
            return bad_oauth_token()
        user = session.user
        return json_reply(
            200,
            {
                "sub": em.identity_url(user),
                "user_id": user.user_id,
                "organization_id": em.org_id,
                "preferred_username": user.username,
                "name": user.display_name,
                "email": user.email,
                "active": user.active,
                "urls": _identity_urls(em, user),
            },
        )
