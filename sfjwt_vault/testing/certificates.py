"""X.509 for tests: an app's key pair, and a throwaway CA with a server certificate for TLS.

Built with `cryptography` directly, never with sfjwt-vault's own key and certificate code
(`LocalSigner`, `sfjwt_vault.certs`): the emulator is what tests that code, so it must not share its bugs.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# The host names users point clients at: the login hosts, and My Domain hosts (one wildcard label).
SALESFORCE_NAMES = (
    "login.salesforce.com",
    "test.salesforce.com",
    "*.my.salesforce.com",
    "*.sandbox.my.salesforce.com",
)


def _key_usage(*, digital_signature: bool = False, certificate_sign: bool = False) -> x509.KeyUsage:
    """A KeyUsage naming only signatures, or only certificate (and CRL) signing."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_sign,
        crl_sign=certificate_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_test_keypair(bits: int = 2048, common_name: str = "sfjwt-vault test") -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate PEM for it: what you upload to a test app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = _name(common_name)
    certificate = (
        _builder(name, name, key.public_key(), 365)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, _pem(certificate)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class ThrowawayCA:
    """A certificate authority for one emulator run. Its private key never leaves this object's memory,
    so trusting its certificate trusts nothing else once the process ends."""

    def __init__(self, common_name: str = "sfjwt-vault emulator throwaway CA", days: int = 30) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._days = days
        name = _name(common_name)
        self._ski = x509.SubjectKeyIdentifier.from_public_key(self._key.public_key())
        self.certificate = (
            _builder(name, name, self._key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(certificate_sign=True), critical=True)
            .add_extension(self._ski, critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.pem = _pem(self.certificate)

    def server_context(self, names: Iterable[str]) -> ssl.SSLContext:
        """A TLS server context whose certificate, issued by this CA, names `names` (DNS names or IPs)."""
        names = list(dict.fromkeys(names))
        if not names:
            raise ValueError("a server certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _builder(_name(names[0]), self.certificate.subject, key.public_key(), self._days)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _load_chain(context, _pem(certificate), key)
        return context


def _load_chain(context: ssl.SSLContext, certificate_pem: bytes, key: ec.EllipticCurvePrivateKey) -> None:
    """`ssl` loads a key from a file only: the file holds it encrypted under a one-time password that
    stays in memory, and is removed at once."""
    password = secrets.token_bytes(32)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="sfjwt-emulator-tls-") as folder:
        cert_path = os.path.join(folder, "server.crt")
        key_path = os.path.join(folder, "server.key")
        with open(cert_path, "wb") as handle:
            handle.write(certificate_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        context.load_cert_chain(cert_path, key_path, password=password)


def make_tls_context(hostnames: list[str]) -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context for `hostnames` plus localhost, 127.0.0.1 and ::1, and the PEM of the
    throwaway CA that issued it. Clients trust it with `ssl.create_default_context(cadata=pem.decode())`
    or a file holding the PEM (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`)."""
    ca = ThrowawayCA()
    return ca.server_context([*hostnames, *LOOPBACK_NAMES]), ca.pem


def name_matches(host: str, pattern: str) -> bool:
    """Whether `host` is covered by a certificate name: exact (case-insensitive) or one wildcard label."""
    host, pattern = host.lower().rstrip("."), pattern.lower()
    if pattern.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return host == pattern
