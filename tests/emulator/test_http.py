"""The emulator's HTTP layer, byte by byte on raw sockets: chunked bodies, refusals that close the
connection instead of desynchronising it, the request log, IPv6 and exposed binds, the proxy tunnel."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import urllib.parse
import warnings
from collections.abc import Iterator

import httpx
import pytest

from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.emulator import JWT_BEARER_GRANT
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from sfjwt_vault.testing.server import MAX_BODY

from .client import CLIENT, bearer, mint, post, token_for

FORM = "Content-Type: application/x-www-form-urlencoded\r\n"


@pytest.fixture
def connection(salesforce_app: SalesforceApp) -> Iterator[socket.socket]:
    em = salesforce_app.emulator
    sock = socket.create_connection((em.host, em.port), timeout=10)
    yield sock
    sock.close()


def send(sock: socket.socket, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Write raw bytes, read exactly one response off the same connection."""
    sock.sendall(raw)
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def chunked(data: bytes, size: int = 97, *, extension: bytes = b"") -> bytes:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in parts) + b"0\r\n"


def token_form(app: SalesforceApp) -> bytes:
    return urllib.parse.urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": mint(app)}).encode()


VERSIONS = b"GET /services/data/ HTTP/1.1\r\nHost: emulator\r\n\r\n"


# -- chunked bodies ------------------------------------------------------------------------------------


def test_chunked_token_request_then_keep_alive(salesforce_app: SalesforceApp, connection: socket.socket) -> None:
    """What jsforce and the Salesforce CLI send: no Content-Length, the form in chunks."""
    head = f"POST /services/oauth2/token HTTP/1.1\r\nHost: emulator\r\n{FORM}Transfer-Encoding: chunked\r\n\r\n"
    status, headers, body = send(connection, head.encode() + chunked(token_form(salesforce_app)) + b"\r\n")
    assert status == 200, body
    assert json.loads(body)["access_token"]
    assert headers.get("connection") != "close"
    # The same connection carries on in step: the next request gets its own answer.
    status, _, body = send(connection, VERSIONS)
    assert status == 200 and json.loads(body)[0]["version"] == "65.0"
    assert salesforce_app.emulator.chunked_requests == 1 and salesforce_app.emulator.tokens_issued == 1


def test_chunk_extensions_trailers_and_case(salesforce_app: SalesforceApp, connection: socket.socket) -> None:
    form = token_form(salesforce_app)
    head = f"POST /services/oauth2/token HTTP/1.1\r\nHost: e\r\n{FORM}Transfer-Encoding: Chunked\r\n\r\n"
    body = b"%X;name=value\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (len(form), form)  # upper-case hex size
    assert b"%X" % len(form) != b"%x" % len(form)
    assert send(connection, head.encode() + body)[0] == 200
    assert send(connection, VERSIONS)[0] == 200


def test_expect_continue_with_chunked_body(salesforce_app: SalesforceApp, connection: socket.socket) -> None:
    head = f"POST /services/oauth2/token HTTP/1.1\r\nHost: e\r\n{FORM}Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    connection.sendall(head.encode())
    interim = connection.recv(100)
    assert interim.startswith(b"HTTP/1.1 100")
    status, _, _ = send(connection, chunked(token_form(salesforce_app)) + b"\r\n")
    assert status == 200


SMUGGLED = b"GET /services/data/ HTTP/1.1\r\nHost: e\r\n\r\n"
MALFORMED = {
    "size not hex": b"zz\r\nabc\r\n0\r\n\r\n",
    "size with a sign": b"+3\r\nabc\r\n0\r\n\r\n",
    "size with spaces": b" 3\r\nabc\r\n0\r\n\r\n",
    "bare LF line ends": b"3\nabc\n0\n\n",
    "chunk longer than its size": b"3\r\nabcdef\r\n0\r\n\r\n" + SMUGGLED,
    "chunk shorter than its size": b"9\r\nabc\r\n0\r\n\r\n" + SMUGGLED,
    "over the body limit": b"%x\r\n" % (MAX_BODY + 1),
    "size that overflows": b"f" * 40 + b"\r\n",
    "size line too long": b"3;" + b"x" * 10_000 + b"\r\nabc\r\n0\r\n\r\n",
    "endless trailers": b"0\r\n" + b"X: y\r\n" * 100 + b"\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_chunked_body_closes_the_connection(connection: socket.socket, name: str) -> None:
    head = f"POST /services/oauth2/token HTTP/1.1\r\nHost: e\r\n{FORM}Transfer-Encoding: chunked\r\n\r\n"
    status, headers, body = send(connection, head.encode() + MALFORMED[name])
    assert status == 400
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == "invalid_request"
    # Nothing left in the connection is ever read as a request of its own.
    assert closed_by_server(connection)


@pytest.mark.parametrize(
    "framing",
    [
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: identity",
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: 5\r\nContent-Length: 6",
        f"Content-Length: {MAX_BODY + 1}",
    ],
)
def test_ambiguous_framing_is_refused(connection: socket.socket, framing: str) -> None:
    raw = f"POST /services/oauth2/token HTTP/1.1\r\nHost: e\r\n{FORM}{framing}\r\n\r\n0\r\n\r\n".encode() + SMUGGLED
    status, headers, _ = send(connection, raw)
    assert status == 400 and headers["connection"] == "close"
    assert closed_by_server(connection)


def test_body_on_a_get_is_read_not_parsed_as_a_request(
    salesforce_app: SalesforceApp, connection: socket.socket
) -> None:
    token = token_for(salesforce_app)
    body = SMUGGLED
    raw = (
        f"GET /services/data/v65.0/limits HTTP/1.1\r\nHost: e\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    assert send(connection, raw)[0] == 200
    connection.sendall(VERSIONS)
    connection.settimeout(5)
    data = connection.recv(65536)
    assert data.count(b"HTTP/1.1 ") == 1  # one request sent, one answer: the body was not run


def test_content_length_body_then_keep_alive(salesforce_app: SalesforceApp, connection: socket.socket) -> None:
    form = token_form(salesforce_app)
    head = f"POST /services/oauth2/token HTTP/1.1\r\nHost: e\r\n{FORM}Content-Length: {len(form)}\r\n\r\n"
    assert send(connection, head.encode() + form)[0] == 200
    assert send(connection, VERSIONS)[0] == 200
    assert salesforce_app.emulator.chunked_requests == 0


# -- the request log -------------------------------------------------------------------------------------


def test_one_log_line_per_request_and_no_secret(
    salesforce_app: SalesforceApp, caplog: pytest.LogCaptureFixture
) -> None:
    em = salesforce_app.emulator
    assertion = mint(salesforce_app)
    caplog.set_level(logging.DEBUG)  # every logger, as an app with DEBUG root logging would have
    response = post(em, assertion)
    token = response.json()["access_token"]
    CLIENT.get(em.base_url + "/services/data/v65.0/query", params={"q": "SELECT Id FROM User"}, headers=bearer(token))
    CLIENT.get(response.json()["id"], params={"format": "json", "oauth_token": token})
    CLIENT.post(em.base_url + "/services/oauth2/revoke", data={"token": token})
    CLIENT.get(em.base_url + "/services/data/v65.0/limits", headers=bearer(token))
    post(em, assertion.replace(".", "x", 1))
    lines = [r.getMessage() for r in caplog.records if r.name == "sfjwt_vault.testing.emulator"]
    assert lines == [
        f"POST /services/oauth2/token 200 token issued to {salesforce_app.username}",
        "GET /services/data/v65.0/query?q=… 200 1 record(s)",
        f"GET /id/{em.org_id}/{salesforce_app.user.user_id}?format=…&oauth_token=… 200",
        "POST /services/oauth2/revoke 200 session revoked",
        "GET /services/data/v65.0/limits 401 INVALID_SESSION_ID",
        "POST /services/oauth2/token 400 invalid_grant: invalid assertion",
    ]
    # Everything the emulator's side logged (the test's own httpx client logs URLs; that is not ours).
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("sfjwt_vault"))
    for secret in (token, token.split("!")[1], assertion, *assertion.split(".")):
        assert secret not in everything


def test_log_line_of_a_hostile_path(salesforce_emulator: SalesforceEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sfjwt_vault.testing.emulator")
    with socket.create_connection((salesforce_emulator.host, salesforce_emulator.port), timeout=10) as sock:
        send(sock, b"GET /x%0a\x1b[31m/y?token=abc HTTP/1.1\r\nHost: e\r\n\r\n")
        sock.sendall(b"BROKEN\r\n\r\n")
        sock.recv(1000)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "GET /x%0a\\x1b[31m/y?token=… 404 NOT_FOUND"
    assert messages[1] == "- (unreadable request) 400"


# -- binds --------------------------------------------------------------------------------------------------


def test_ipv6_loopback(salesforce_app: SalesforceApp) -> None:
    with SalesforceEmulator(host="::1") as em:
        app = em.add_app(salesforce_app.certificate_pem)
        em.add_user(salesforce_app.username)
        assert em.base_url == f"http://[::1]:{em.port}"
        ipv6_app = SalesforceApp(**{**salesforce_app.__dict__, "emulator": em, "consumer_key": app.consumer_key})
        response = post(em, mint(ipv6_app))
        assert response.status_code == 200 and response.json()["instance_url"] == em.base_url


@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "127.0.0.1"), ("::", "[::1]")])  # noqa: S104
def test_every_interface_bind_warns_and_serves(host: str, loopback: str) -> None:
    with pytest.warns(UserWarning, match="every network interface.*plain HTTP"):
        em = SalesforceEmulator(host=host).start()
    try:
        assert em.base_url == f"http://{loopback}:{em.port}"
        assert CLIENT.get(em.base_url + "/services/data/").status_code == 200
    finally:
        em.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_bind_is_quiet(host: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SalesforceEmulator(host=host).start().stop()


# -- TLS port: https, and the proxy tunnel -------------------------------------------------------------------


def test_proxy_tunnel_reaches_the_emulator_as_login_host(salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    proxy = em.base_url.replace("https://", "http://")
    verify = ssl.create_default_context(cafile=str(salesforce_tls_app.ca_file))
    with httpx.Client(proxy=proxy, verify=verify) as client:
        for host in ("login.salesforce.com", "acme.my.salesforce.com", "127.0.0.1"):
            url = f"https://{host}/services/oauth2/token"
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": mint(salesforce_tls_app)}
            response = client.post(url, data=form)
            assert response.status_code == 200, host
    assert em.tokens_issued == 3


@pytest.mark.parametrize(
    "target", ["example.com:443", "evil.salesforce.com.example.net:443", "10.0.0.1:443", "login.salesforce.com"]
)
def test_proxy_never_tunnels_elsewhere(salesforce_tls_emulator: SalesforceEmulator, target: str) -> None:
    em = salesforce_tls_emulator
    with socket.create_connection(("127.0.0.1", em.port), timeout=10) as sock:
        status, headers, _ = send(sock, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        assert status == 403 and headers["connection"] == "close"


def test_no_tunnel_without_tls(salesforce_emulator: SalesforceEmulator) -> None:
    with socket.create_connection(("127.0.0.1", salesforce_emulator.port), timeout=10) as sock:
        status, _, _ = send(sock, b"CONNECT login.salesforce.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 403


def test_plain_http_on_the_tls_port(salesforce_tls_emulator: SalesforceEmulator) -> None:
    with socket.create_connection(("127.0.0.1", salesforce_tls_emulator.port), timeout=10) as sock:
        status, headers, body = send(sock, VERSIONS)
        assert status == 400 and headers["connection"] == "close" and b"https" in body


def test_stop_with_open_keepalive_connection() -> None:
    em = SalesforceEmulator().start()
    with httpx.Client() as client:
        assert client.get(em.base_url + "/services/data/").status_code == 200
        # stop() must not wait for the idle keep-alive connection to close: a hang, not a duration.
        stopper = threading.Thread(target=em.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=30)
        assert not stopper.is_alive(), "stop() hung on an open keep-alive connection"
    em.stop()  # idempotent
