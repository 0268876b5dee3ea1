"""`sfjwt emulator`: serve the Salesforce emulator in the foreground until Ctrl-C or SIGTERM.

Problems a user can cause (a bad flag, an unreadable certificate, a port in use) raise
ConfigurationError, which `sfjwt` prints as `error:`/`hint:` and exits 2; a clean stop exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import urllib.parse
import warnings
from collections.abc import Iterator, Sequence

from ..errors import ConfigurationError
from .assertion_checks import certificate_public_key
from .emulator import SalesforceEmulator, is_loopback
from .server import REQUEST_LOG

EXAMPLES = """\
examples:
  sfjwt emulator --cert app.crt                  # http://127.0.0.1:<free port>, prints the consumer key
  sfjwt emulator --tls --cert app.crt --port 8443
      # https, with a throwaway CA; prints the CA file and the variables that trust it
  sfjwt emulator --host ::1 --quiet             # IPv6 loopback, no request log

docs/emulator.md shows how to point simple-salesforce, jsforce and the Salesforce CLI at it.
"""
MAX_CERTIFICATE_BYTES = 1024 * 1024


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: a number from 0 to 65535")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid lifetime {text!r}: a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfjwt emulator",
        description="Serve an offline stand-in for Salesforce's token endpoint, identity service and a "
        "small REST API, for your code and tests to point at. Never use it with real keys you care about.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on; ::1 for IPv6 loopback; 0.0.0.0 or :: "
        "listen on every interface and are warned about (default: 127.0.0.1)")  # fmt: skip
    add("--port", type=_port, default=0, help="port to listen on (default: 0, a free port)")
    add("--tls", action="store_true", help="serve https with a throwaway CA; prints the CA file to trust")
    add("--tls-name", action="append", default=[], metavar="NAME",
        help="another host name for the TLS certificate (repeatable; with --tls)")  # fmt: skip
    add("--sandbox", action="store_true", help="a sandbox org: audience https://test.salesforce.com")
    add("--my-domain", default="https://acme.my.salesforce.com", metavar="URL",
        help="the org's My Domain, the audience External Client Apps use (default: %(default)s)")  # fmt: skip
    add("--session-lifetime", type=_seconds, default=7200.0, metavar="SECONDS",
        help="idle time after which a session expires, slid by each call (default: 7200)")  # fmt: skip
    add("--cert", metavar="FILE", help="the app's certificate (PEM): registers an app and a user")
    add("--consumer-key", help="consumer key for the app registered with --cert (default: a random one)")
    add("--username", help="user registered with --cert (default: integration@acme.com, +.uat with --sandbox)")
    add("--external", action="store_true", help="register an External Client App (audience: --my-domain)")
    add("--quiet", action="store_true", help="no request log (one line per request on stderr otherwise)")
    return parser


def read_app_certificate(path: str) -> bytes:
    """The certificate to register, or a ConfigurationError saying what the file is instead."""
    hint = "pass the certificate uploaded to the app (PEM); `sfjwt cert --key file:KEY.pem` prints one for a key"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CERTIFICATE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the certificate {path}: {exc.strerror or exc}", hint=hint) from None
    if b"PRIVATE KEY-----" in data:
        raise ConfigurationError(f"{path} holds a private key, not a certificate", hint=hint)
    try:
        certificate_public_key(data)
    except TypeError:
        message = f"{path} holds a certificate for a non-RSA key; Salesforce app certificates hold an RSA key"
        raise ConfigurationError(message, hint="make an RSA key and its certificate with `sfjwt keygen`") from None
    except ValueError:
        raise ConfigurationError(f"{path} is not a PEM certificate", hint=hint) from None
    return data


def _check_my_domain(url: str) -> str:
    split = urllib.parse.urlsplit(url)
    if split.scheme != "https" or not split.hostname or split.path not in ("", "/"):
        raise ConfigurationError(
            f"--my-domain {url!r} is not an https URL of a host",
            hint="give it as https://NAME.my.salesforce.com",
        )
    return url


@contextlib.contextmanager
def _ca_file(pem: bytes | None) -> Iterator[str | None]:
    """The throwaway CA's certificate in a temporary file for clients to trust; removed on exit."""
    if pem is None:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="sfjwt-emulator-")
    try:
        path = os.path.join(folder, "ca.pem")
        with open(path, "wb") as handle:
            handle.write(pem)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _request_log(quiet: bool) -> None:
    if quiet:
        REQUEST_LOG.disabled = True
        return
    if REQUEST_LOG.handlers:  # already set up by an earlier main() in this process
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    REQUEST_LOG.addHandler(handler)
    REQUEST_LOG.setLevel(logging.INFO)
    REQUEST_LOG.propagate = False  # once, whatever the root logger does


def _print_setup(emulator: SalesforceEmulator, args: argparse.Namespace, ca_path: str | None) -> None:
    print(f"base URL:  {emulator.base_url}")
    print(f"token URL: {emulator.token_url}")
    print(f"audience:  {emulator.my_domain if args.external else emulator.audience}")
    if emulator.apps and emulator.users:
        print(f"consumer key: {emulator.apps[0].consumer_key}")
        print(f"username:     {emulator.users[0].username}")
    if ca_path is not None:
        quoted = shlex.quote(ca_path)
        proxy = emulator.base_url.replace("https://", "http://", 1)
        print(f"CA file:   {ca_path}")
        print("trust it (each replaces the default CAs of what reads it, except NODE_EXTRA_CA_CERTS, which adds):")
        print(f"  export REQUESTS_CA_BUNDLE={quoted}   # Python requests: simple-salesforce")
        print(f"  export SSL_CERT_FILE={quoted}        # Python ssl, httpx, OpenSSL tools")
        print(f"  export NODE_EXTRA_CA_CERTS={quoted}  # node: jsforce, the Salesforce CLI")
        print("reach it as https://login.salesforce.com (or test., or a My Domain) through it as a proxy:")
        print(f"  export HTTPS_PROXY={proxy}")
    print("serving; press Ctrl-C to stop", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`sfjwt emulator [options]`; returns the exit code (0 after Ctrl-C or SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if (args.consumer_key or args.username or args.external) and not args.cert:
        parser.error("--consumer-key, --username and --external need --cert")
    if args.tls_name and not args.tls:
        parser.error("--tls-name needs --tls")
    certificate = read_app_certificate(args.cert) if args.cert else None
    emulator = SalesforceEmulator(
        sandbox=args.sandbox,
        my_domain=_check_my_domain(args.my_domain),
        session_lifetime=args.session_lifetime,
        host=args.host,
        port=args.port,
        tls=args.tls,
        tls_names=tuple(args.tls_name),
    )
    if certificate is not None:
        kind = "external" if args.external else "connected"
        emulator.add_app(certificate, consumer_key=args.consumer_key, kind=kind)
        emulator.add_user(args.username or "integration@acme.com" + (".uat" if args.sandbox else ""))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exposure warning is printed below, in the CLI's style
            emulator.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one), or stop what listens there"
            if args.port
            else "check --host: an address of this machine, such as 127.0.0.1 or ::1",
        ) from None
    if not is_loopback(args.host):
        print(f"warning: {emulator.exposure_warning()}", file=sys.stderr, flush=True)
    _request_log(args.quiet)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Containers and process managers stop with SIGTERM; treat it like Ctrl-C (from before
        # "serving" is printed, so a stop right after it is clean too).
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with emulator, _ca_file(emulator.ca_pem) as ca_path:
        _print_setup(emulator, args, ca_path)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.2):
                pass
        print("stopped", flush=True)
    return 0
