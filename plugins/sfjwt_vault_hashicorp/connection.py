"""The HTTP side of the Vault client: which CAs it trusts, which proxy it uses, and quiet SDK logging.

TLS trust is set by the Vault CLI's own variables and by nothing else (`VaultSettings` reads them):

- VAULT_CACERT / BAO_CACERT: a PEM file; only its certificates are trusted;
- VAULT_CAPATH / BAO_CAPATH: a directory; every certificate in its files is trusted, and only those
  (when VAULT_CACERT is set too, it wins, as in the Vault CLI);
- VAULT_SKIP_VERIFY / BAO_SKIP_VERIFY: no verification at all, with a WARNING;
- none of them: the Mozilla CA bundle that requests ships (certifi).

requests would also take REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE as the trust store, and ~/.netrc as
credentials. The session does not read its environment (`trust_env` off), so neither changes anything
here; SSL_CERT_FILE and SSL_CERT_DIR are not read either (the default store is certifi's file, not
OpenSSL's default paths). Proxies come from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY, read when
the client is made, and never for a Vault on loopback: a local Vault Agent must not be reached through
a proxy, in clear text.

Every request through the client runs inside `quiet_sdk_logs()` (the adapter below): hvac, requests
and urllib3 log request lines at DEBUG, and the bodies of these requests are keys, signing inputs and
tokens. hvac is imported by this module: the session imports it on first use only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hvac
import requests
import requests.adapters
import requests.utils

from sfjwt_vault.plugin_api import ConfigurationError, is_loopback, quiet_sdk_logs

from .settings import VaultSettings

log = logging.getLogger("sfjwt_vault.vault")

MAX_CA_FILE = 1024 * 1024
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


class QuietAdapter(hvac.adapters.JSONAdapter):  # type: ignore[misc]
    """hvac's JSON adapter with every request made inside `quiet_sdk_logs()`."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        with quiet_sdk_logs():
            return super().request(*args, **kwargs)


class _CaDataAdapter(requests.adapters.HTTPAdapter):
    """Verifies servers against the given PEM certificates only (the files of VAULT_CAPATH)."""

    def __init__(self, ca_data: str) -> None:
        self._ca_data = ca_data
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ca_cert_data"] = self._ca_data
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]  # untyped in types-requests
        conn.ca_certs = conn.ca_cert_dir = None  # requests puts its default bundle here: trust ours only


def new_client(settings: VaultSettings) -> Any:
    """An hvac client for `settings`, with exactly the trust and proxies described above."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verify_setting(settings)
    session.proxies = proxies_for(settings.addr)
    if session.verify is True and settings.capath:
        session.mount("https://", _CaDataAdapter(ca_directory_pem(settings.capath)))
    return hvac.Client(
        url=settings.addr,
        namespace=settings.namespace,
        verify=session.verify,
        proxies=session.proxies,
        session=session,
        adapter=QuietAdapter,
    )


def verify_setting(settings: VaultSettings) -> bool | str:
    """requests' `verify`: False (VAULT_SKIP_VERIFY), the VAULT_CACERT file, or True (certifi, or the
    VAULT_CAPATH adapter)."""
    if settings.skip_verify:
        return False
    if settings.cacert:
        if not os.path.isfile(settings.cacert):
            raise ConfigurationError(
                f"VAULT_CACERT (or BAO_CACERT) {settings.cacert!r} is not a file",
                hint="point it at the PEM file of the CA that signed Vault's certificate",
            )
        return settings.cacert
    return True


def ca_directory_pem(directory: str) -> str:
    """Every certificate in the files of a VAULT_CAPATH directory, as one PEM text (the Vault CLI reads
    every file there too; a directory hashed by `openssl rehash` works as well)."""
    path = Path(directory)
    if not path.is_dir():
        raise ConfigurationError(
            f"VAULT_CAPATH (or BAO_CAPATH) {directory!r} is not a directory",
            hint="point it at a directory of PEM CA certificates, or use VAULT_CACERT for one file",
        )
    texts = []
    for entry in sorted(path.iterdir()):
        if not entry.is_file() or entry.stat().st_size > MAX_CA_FILE:
            continue
        text = entry.read_text(encoding="ascii", errors="replace")
        if _PEM_CERTIFICATE in text:
            texts.append(text)
    if not texts:
        raise ConfigurationError(
            f"VAULT_CAPATH (or BAO_CAPATH) {directory!r} holds no PEM certificate",
            hint="put the CA certificates ('-----BEGIN CERTIFICATE-----' files) there",
        )
    return "\n".join(texts)


def proxies_for(addr: str) -> dict[str, str]:
    """The proxies from the environment for `addr` (NO_PROXY honoured); none for a loopback Vault."""
    host = urlsplit(addr).hostname or ""
    if is_loopback(host):
        return {}
    return dict(requests.utils.get_environ_proxies(addr))


def warn_if_insecure(settings: VaultSettings) -> None:
    """One WARNING per client when the connection to Vault can be read or changed on the network."""
    parts = urlsplit(settings.addr)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        log.warning(
            "Vault at %s is plain http to a host that is not loopback: the Vault token, keys, signatures "
            "and cached tokens cross the network unencrypted; use https",
            settings.addr,
        )
    elif settings.skip_verify and parts.scheme == "https":
        log.warning(
            "TLS verification for Vault at %s is off (VAULT_SKIP_VERIFY/BAO_SKIP_VERIFY): anyone on the "
            "network path can pose as Vault and read the token, keys and signatures; set VAULT_CACERT instead",
            settings.addr,
        )
