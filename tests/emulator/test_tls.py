"""TLS: the throwaway CA, the server certificate's names, the fixtures, and the test key pairs."""

from __future__ import annotations

import os
import socket
import ssl
import stat

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sfjwt_vault.testing import SalesforceEmulator, ThrowawayCA, make_test_keypair, make_tls_context
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .client import mint, post

SERVED = ["127.0.0.1", "::1", "localhost", "login.salesforce.com", "test.salesforce.com", "acme.my.salesforce.com"]


def strict_context(ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def handshake(port: int, server_name: str, ca_pem: bytes, address: str = "127.0.0.1") -> x509.Certificate:
    """Connect to the emulator and verify its certificate for `server_name`, as a client of that host would."""
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        strict_context(ca_pem).wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_tls_emulator_certificate(salesforce_tls_emulator: SalesforceEmulator) -> None:
    em = salesforce_tls_emulator
    assert em.ca_pem is not None and em.base_url.startswith("https://127.0.0.1:")
    ca = x509.load_pem_x509_certificate(em.ca_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    for name in [*SERVED, "sales--uat.sandbox.my.salesforce.com"]:
        certificate = handshake(em.port, name, em.ca_pem)
        assert certificate.issuer == ca.subject and certificate.subject != ca.subject  # issued, not self-signed
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    for name in ("example.com", "acme.lightning.force.com", "a.b.my.salesforce.com"):
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(em.port, name, em.ca_pem)


def test_tls_is_not_trusted_by_default(salesforce_tls_emulator: SalesforceEmulator) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(salesforce_tls_emulator.base_url + "/services/data/")


def test_tls_names_and_my_domain() -> None:
    with SalesforceEmulator(
        tls=True, my_domain="https://globex.my.salesforce-sites.com", tls_names=("sf.internal",)
    ) as em:
        assert em.ca_pem is not None
        for name in ("globex.my.salesforce-sites.com", "sf.internal"):
            handshake(em.port, name, em.ca_pem)


def test_tls_app_fixture_exchanges_over_https(salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    assert salesforce_tls_app.ca_file is not None
    assert salesforce_tls_app.ca_file.read_bytes() == em.ca_pem
    with httpx.Client(verify=ssl.create_default_context(cafile=str(salesforce_tls_app.ca_file))) as client:
        response = client.post(
            em.token_url,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": mint(salesforce_tls_app)},
        )
    assert response.status_code == 200
    assert response.json()["instance_url"].startswith("https://") and response.json()["id"].startswith("https://")


def test_tls_over_ipv6() -> None:
    with SalesforceEmulator(tls=True, host="::1") as em:
        assert em.ca_pem is not None and em.base_url == f"https://[::1]:{em.port}"
        assert httpx.get(em.base_url + "/services/data/", verify=strict_context(em.ca_pem)).status_code == 200


def test_make_tls_context_is_a_ca_and_a_server_certificate() -> None:
    context, ca_pem = make_tls_context(["login.salesforce.com"])
    with SalesforceEmulator(ssl_context=context) as em:
        assert em.base_url.startswith("https://127.0.0.1:") and em.ca_pem is None
        assert httpx.get(em.base_url + "/services/data/", verify=strict_context(ca_pem)).status_code == 200
        handshake(em.port, "login.salesforce.com", ca_pem)
        handshake(em.port, "::1", ca_pem)


def test_each_throwaway_ca_trusts_only_its_own() -> None:
    first, second = ThrowawayCA(), ThrowawayCA()
    with SalesforceEmulator(ssl_context=first.server_context(["127.0.0.1"])) as em:
        handshake(em.port, "127.0.0.1", first.pem)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(em.port, "127.0.0.1", second.pem)


def test_tls_and_ssl_context_are_exclusive() -> None:
    with pytest.raises(ValueError):
        SalesforceEmulator(tls=True, ssl_context=make_tls_context([])[0])


def test_make_test_keypair() -> None:
    key, cert_pem = make_test_keypair(bits=3072, common_name="rotation")
    assert key.key_size == 3072
    certificate = x509.load_pem_x509_certificate(cert_pem)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert certificate.subject.rfc4514_string() == "CN=rotation"


def test_add_app_rejects_bad_certificate(salesforce_emulator: SalesforceEmulator) -> None:
    with pytest.raises(ValueError):
        salesforce_emulator.add_app(b"not a certificate")
    with pytest.raises(ValueError):
        salesforce_emulator.add_app(make_test_keypair()[1], kind="other")
    ca = ThrowawayCA()  # an EC certificate: Salesforce app certificates hold RSA keys
    with pytest.raises(TypeError):
        salesforce_emulator.add_app(ca.pem)


def test_salesforce_app_fixture(salesforce_app: SalesforceApp) -> None:
    assert stat.S_IMODE(os.stat(salesforce_app.key_path).st_mode) == 0o600
    assert salesforce_app.key_path.read_bytes() == salesforce_app.private_key_pem
    serialization.load_pem_private_key(salesforce_app.private_key_pem, password=None)
    assert salesforce_app.token_url == salesforce_app.emulator.token_url
    assert salesforce_app.ca_file is None
    assert post(salesforce_app.emulator, mint(salesforce_app)).status_code == 200
